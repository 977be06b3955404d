//! Which commands may run: the repository's only once approved, as they read; the user's own
//! always; nothing that arrives with a record, ever.

use super::*;

#[test]
fn setup_runs_once_approved_and_not_before() {
    let repo = repo_with("");
    let marker = repo.root().join("setup-ran");
    set_pm_toml(&repo, &setup_writing(&marker));

    // Not approved: the launch goes on, the command does not run, one line says how to approve.
    let (doc, run) = launch(&repo, "feature/before", &[]);
    assert!(
        !marker.exists(),
        "the setup command ran before it was approved"
    );
    let warnings = warnings_of(&doc);
    let line = warnings
        .iter()
        .find(|w| w.contains("not approved"))
        .unwrap_or_else(|| panic!("no warning about approval: {warnings:?}"));
    assert!(line.contains("`pm hooks approve`"), "{line}");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.contains("not approved"))
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(doc["status"], "active");
    let first = id_of(&doc);
    let shown = repo.pm_json(&["agent", "show", &first]);
    assert_eq!(shown["setup"]["state"], "skipped", "{shown}");
    assert_eq!(shown["setup"]["commands"][0]["detail"], "not approved");
    let listed = repo.pm_json(&["hooks"]);
    assert_eq!(listed["commands"][0]["hook"], "setup");
    assert_eq!(listed["commands"][0]["source"], "repository");
    assert_eq!(listed["commands"][0]["approval"], "not_approved");
    assert!(
        repo.pm_ok(&["hooks"]).contains("not approved"),
        "the table names the state"
    );

    // A dry run approves nothing.
    let would = repo.pm_json(&["hooks", "approve", "--dry-run"]);
    assert_eq!(would["dry_run"], true);
    assert_eq!(would["approved"].as_array().unwrap().len(), 1);
    assert!(!approvals_file(&repo).exists());

    let approved = repo.pm_json(&["hooks", "approve"]);
    let command = setup_writing(&marker);
    let command = command
        .split_once("setup = [\"")
        .and_then(|(_, rest)| rest.strip_suffix("\"]\n"))
        .unwrap()
        .to_string();
    assert_eq!(approved["approved"], serde_json::json!([command]));
    let kept: toml::Table =
        toml::from_str(&std::fs::read_to_string(approvals_file(&repo)).unwrap())
            .expect("the approvals file is TOML");
    let entry = &kept["approved"].as_array().unwrap()[0];
    assert_eq!(entry["repository"].as_str(), repo.path().to_str());
    assert_eq!(entry["command"].as_str(), Some(command.as_str()));
    assert_eq!(
        repo.pm_json(&["hooks"])["commands"][0]["approval"],
        "approved"
    );

    // Approved: the next worktree gets it, once.
    let (doc, _) = launch(&repo, "feature/after", &[]);
    let second = id_of(&doc);
    assert_eq!(lines_of(&marker), [second.as_str()]);
    assert!(warnings_of(&doc).is_empty(), "{doc}");
    let shown = repo.pm_json(&["agent", "show", &second]);
    assert_eq!(shown["setup"]["state"], "succeeded", "{shown}");
    let again = repo.pm_json(&["hooks", "approve"]);
    assert_eq!(again["approved"], serde_json::json!([]));
    assert_eq!(again["already_approved"], serde_json::json!([command]));
}

#[test]
fn a_changed_command_needs_approval_again() {
    let repo = repo_with("");
    let old = repo.root().join("old-ran");
    let new = repo.root().join("new-ran");
    set_pm_toml(&repo, &setup_writing(&old));
    repo.pm_ok(&["hooks", "approve"]);
    let (doc, _) = launch(&repo, "one", &[]);
    assert_eq!(lines_of(&old), [id_of(&doc)]);

    set_pm_toml(&repo, &setup_writing(&new));
    let (doc, _) = launch(&repo, "two", &[]);
    assert!(!new.exists(), "the changed command ran without approval");
    assert_eq!(
        lines_of(&old).len(),
        1,
        "the old command ran although it is gone"
    );
    assert!(
        warnings_of(&doc).iter().any(|w| w.contains("not approved")),
        "{doc}"
    );
    assert_eq!(
        repo.pm_json(&["hooks"])["commands"][0]["approval"],
        "not_approved"
    );

    repo.pm_ok(&["hooks", "approve"]);
    let (doc, _) = launch(&repo, "three", &[]);
    assert_eq!(lines_of(&new), [id_of(&doc)]);
}

#[test]
fn one_unapproved_command_holds_back_the_repositorys_others() {
    let repo = repo_with("");
    let first = repo.root().join("first-ran");
    let second = repo.root().join("second-ran");
    set_pm_toml(
        &repo,
        &format!("[worktree]\nsetup = [\"touch '{}'\"]\n", first.display()),
    );
    repo.pm_ok(&["hooks", "approve"]);
    set_pm_toml(
        &repo,
        &format!(
            "[worktree]\nsetup = [\"touch '{}'\", \"touch '{}'\"]\n",
            first.display(),
            second.display()
        ),
    );
    let (doc, _) = launch(&repo, "partly", &[]);
    assert!(
        !first.exists() && !second.exists(),
        "a sequence ran in part"
    );
    let shown = repo.pm_json(&["agent", "show", &id_of(&doc)]);
    let commands = shown["setup"]["commands"].as_array().unwrap();
    assert_eq!(
        commands[0]["detail"],
        "another command of the repository is not approved"
    );
    assert_eq!(commands[1]["detail"], "not approved");
}

#[test]
fn the_users_own_commands_need_no_approval() {
    let repo = repo_with("");
    let marker = repo.root().join("user-setup-ran");
    set_user_config(&repo, &setup_writing(&marker));
    let (doc, _) = launch(&repo, "mine", &[]);
    assert_eq!(lines_of(&marker), [id_of(&doc)]);
    assert!(warnings_of(&doc).is_empty(), "{doc}");
    let listed = repo.pm_json(&["hooks"]);
    assert_eq!(listed["commands"][0]["source"], "user");
    assert_eq!(listed["commands"][0]["approval"], "not_needed");
    // Nothing of the repository's to approve.
    let approved = repo.pm_json(&["hooks", "approve"]);
    assert_eq!(approved["approved"], serde_json::json!([]));
    assert!(!approvals_file(&repo).exists());
}

#[test]
fn an_unknown_worktree_key_is_named_with_the_closest_one() {
    let repo = repo_with("[worktree]\nteardwon = [\"true\"]\n");
    let run = repo.pm(&["hooks"]).ok();
    assert!(
        run.stderr
            .contains("unknown key \"teardwon\" in [worktree] in ")
            && run.stderr.contains("did you mean \"teardown\"?"),
        "{}",
        run.stderr
    );
    let bad = repo_with("[worktree]\nsetup = [\"echo a\\necho b\"]\n");
    let line = bad.pm(&["hooks"]).fails_with(1);
    assert!(line.contains("line break"), "{line}");
}

/// Clone 0 approves its `.pm.toml` and crafts hook-like fields into a session record; clone 1
/// gets both (the file with `git pull`, the record with `pm sync`) and takes the session over.
/// What runs in clone 1 is only what clone 1's user approved for clone 1: nothing.
#[test]
fn a_synced_record_cannot_trigger_any_command() {
    let repo = repo_with("");
    let root = repo.root().to_path_buf();
    let pm_toml_ran = root.join("pm-toml-ran");
    let record_ran = root.join("record-ran");
    set_pm_toml(
        &repo,
        &format!(
            "[worktree]\nsetup = [\"echo $PM_SESSION_ID >> '{}'\"]\nteardown = [\"echo down >> '{}'\"]\n",
            pm_toml_ran.display(),
            pm_toml_ran.display()
        ),
    );
    let remote = root.join("remote.git");
    let remote_s = remote.to_str().unwrap();
    repo.git_in(&root, &["init", "-q", "--bare", "-b", "main", remote_s]);
    repo.git(&["push", "-q", remote_s, "main"]);
    let url = format!("file://{remote_s}");
    let c0 = root.join("c0");
    let c1 = root.join("c1");
    repo.git_in(&root, &["clone", "-q", &url, c0.to_str().unwrap()]);
    repo.git_in(&root, &["clone", "-q", &url, c1.to_str().unwrap()]);

    // Clone 0: approved there, so its own launch runs the command.
    repo.pm_in(&c0, &["hooks", "approve"]).ok();
    let launched = repo
        .pm_in(&c0, &["--json", "agent", "launch", "--branch", "shared"])
        .ok()
        .json();
    let id = id_of(&launched);
    assert_eq!(lines_of(&pm_toml_ran), [id.as_str()]);
    let wt0 = worktree_of(&launched);
    repo.git_in(&wt0, &["push", "-q", "origin", "shared"]);
    repo.pm_in(&c0, &["agent", "close", &id]).ok();

    // A record carrying commands in every shape a hook could take.
    let name = format!("refs/pm/sessions/{id}");
    let text = repo.git_in(&c0, &["show", &format!("{name}:session.toml")]);
    let touch = format!("touch '{}'", record_ran.display());
    let crafted = format!(
        "setup = [\"{touch}\"]\nteardown = [\"{touch}\"]\ncopy = [\"/\"]\n{text}\
         [worktree]\nsetup = [\"{touch}\"]\nteardown = [\"{touch}\"]\n\
         [agents.x]\nprogram = \"sh\"\nargs = [\"-c\", \"{touch}\"]\n"
    );
    let blob = repo
        .git_run(
            &c0,
            &["hash-object", "-w", "--stdin"],
            Some(crafted.as_bytes()),
        )
        .ok()
        .stdout;
    let listing = format!("100644 blob {}\tsession.toml\n", blob.trim());
    let tree = repo
        .git_run(&c0, &["mktree"], Some(listing.as_bytes()))
        .ok()
        .stdout;
    let tip = repo.git_in(&c0, &["rev-parse", &name]);
    let commit = repo.git_in(
        &c0,
        &[
            "commit-tree",
            tree.trim(),
            "-p",
            tip.trim(),
            "-m",
            "crafted: hooks",
        ],
    );
    repo.git_in(&c0, &["update-ref", &name, commit.trim(), tip.trim()]);
    repo.pm_in(&c0, &["sync"]).ok();

    // Clone 1: the same .pm.toml, the crafted record, no approval of its own.
    repo.pm_in(&c1, &["sync"]).ok();
    let stored = repo.git_in(&c1, &["show", &format!("{name}:session.toml")]);
    assert!(stored.contains(&touch), "the crafted record did not arrive");
    let taken = repo.pm_in(&c1, &["--json", "agent", "resume", &id]).ok();
    let doc = taken.json();
    let wt1 = worktree_of(&doc);
    assert!(wt1.is_dir(), "{doc}");
    assert!(!record_ran.exists(), "a command from a record ran");
    assert_eq!(
        lines_of(&pm_toml_ran),
        [id.as_str()],
        "clone 0's approval counted in clone 1"
    );
    assert!(
        warnings_of(&doc).iter().any(|w| w.contains("not approved")),
        "{doc}"
    );
    // Nor does anything from the record run when the worktree goes.
    repo.pm_in(&c1, &["agent", "close", &id]).ok();
    repo.pm_in(&c1, &["agent", "purge", &id, "--delete-files"])
        .ok();
    assert!(!wt1.exists());
    assert!(
        !record_ran.exists(),
        "a command from a record ran at teardown"
    );
    assert_eq!(lines_of(&pm_toml_ran), [id], "an unapproved teardown ran");
}
