//! Record contents: unknown fields kept, dry runs, identities, subfolders and worktrees.

use super::*;

// ---- 7. forward compatibility ----------------------------------------------------------

#[test]
fn unknown_toml_fields_survive_a_rewrite() {
    let repo = Repo::new();
    let text = record_toml(
        CRAFTED_ID,
        "\"Old title\"",
        "estimate = 3\n\n[future]\nnote = \"kept\"\nlevels = [1, 2]\n",
    );
    let first = repo.craft_record(Kind::Issue, CRAFTED_ID, &text, "crafted by hand");

    let doc = repo.pm_json(&["issue", "show", CRAFTED_ID]);
    assert_eq!(doc["issue"]["title"], "Old title");

    let out = repo.pm_ok(&["issue", "update", CRAFTED_ID, "--title", "New"]);
    assert_eq!(out, format!("Issue {CRAFTED_ID} update: title\n"));
    assert_eq!(repo.commit_count(CRAFTED_ID), 2);
    assert_eq!(
        repo.git(&["rev-parse", &format!("refs/pm/issues/{CRAFTED_ID}^")])
            .trim(),
        first
    );

    let raw = repo.record_text(CRAFTED_ID);
    assert!(raw.contains("estimate = 3"), "{raw}");
    assert!(raw.contains("[future]"), "{raw}");
    let record = repo.record(CRAFTED_ID);
    assert_eq!(record["title"].as_str(), Some("New"));
    assert_eq!(record["estimate"].as_integer(), Some(3));
    assert_eq!(record["future"]["note"].as_str(), Some("kept"));
    assert_eq!(
        record["future"]["levels"],
        toml::Value::Array(vec![1.into(), 2.into()])
    );
    assert_eq!(record["tags"], toml::Value::Array(vec!["crafted".into()]));
    assert_eq!(record["created"].as_str(), Some("2020-01-02T03:04:05Z"));

    // And through a status change too.
    repo.pm_ok(&["issue", "close", CRAFTED_ID]);
    let record = repo.record(CRAFTED_ID);
    assert_eq!(record["estimate"].as_integer(), Some(3));
    assert_eq!(record["future"]["note"].as_str(), Some("kept"));
    repo.assert_fsck_clean();
}

// ---- 8. dry run ------------------------------------------------------------------------

#[test]
fn dry_run_writes_nothing_but_reports_the_change() {
    let repo = Repo::new();
    let open = repo.add("Open one", &[]);
    let closed = repo.add("Closed one", &[]);
    repo.pm_ok(&["issue", "close", &closed]);
    let refs = repo.refs();
    let objects = repo.object_counts();
    let unchanged = |what: &str| {
        assert_eq!(repo.refs(), refs, "{what} changed refs/pm/");
        assert_eq!(repo.object_counts(), objects, "{what} wrote objects");
    };

    // add
    let out = repo.pm_ok(&[
        "--dry-run",
        "issue",
        "add",
        "--title",
        "Dry add",
        "--tag",
        "t",
    ]);
    assert!(out.starts_with("Would create issue "), "{out}");
    assert!(out.trim_end().ends_with(" Dry add"), "{out}");
    unchanged("dry-run add");
    let doc = repo.pm_json(&["-n", "issue", "add", "--title", "Dry add"]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["message"], "create: Dry add");
    assert_eq!(doc["issue"]["title"], "Dry add");
    assert_eq!(doc["issue"]["status"], "open");
    unchanged("dry-run add --json");

    // update
    let out = repo.pm_ok(&[
        "issue",
        "update",
        &open,
        "-n",
        "--title",
        "Renamed",
        "--priority",
        "high",
    ]);
    assert_eq!(
        out,
        format!("Would change issue {open}: update: title, priority medium -> high\n")
    );
    unchanged("dry-run update");
    let doc = repo.pm_json(&["-n", "issue", "update", &open, "--title", "Renamed"]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["message"], "update: title");
    assert_eq!(doc["issue"]["title"], "Renamed");
    unchanged("dry-run update --json");
    assert_eq!(repo.record(&open)["title"].as_str(), Some("Open one"));

    // close
    let out = repo.pm_ok(&["-n", "issue", "close", &open]);
    assert_eq!(
        out,
        format!("Would change issue {open}: close: open -> closed\n")
    );
    let doc = repo.pm_json(&["--dry-run", "issue", "close", &open]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["message"], "close: open -> closed");
    assert_eq!(doc["issue"]["status"], "closed");
    unchanged("dry-run close");

    // reopen
    let out = repo.pm_ok(&["-n", "issue", "reopen", &closed]);
    assert_eq!(
        out,
        format!("Would change issue {closed}: reopen: closed -> open\n")
    );
    let doc = repo.pm_json(&["-n", "issue", "reopen", &closed]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["message"], "reopen: closed -> open");
    assert_eq!(doc["issue"]["status"], "open");
    assert_eq!(doc["issue"]["closed"], Value::Null);
    unchanged("dry-run reopen");

    // A dry run that would change nothing says so; one that would be refused is refused.
    let doc = repo.pm_json(&["-n", "issue", "update", &open, "--title", "Open one"]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["message"], Value::Null);
    refused(&repo, &["-n", "issue", "close", &closed], 1);
    unchanged("refused dry runs");

    // Real writes still work afterwards (no lock or stray state left behind).
    repo.pm_ok(&["issue", "close", &open]);
    assert_eq!(repo.commit_count(&open), 2);
}

// ---- 9. identity -----------------------------------------------------------------------

fn author_and_committer(repo: &Repo, id: &str) -> String {
    repo.git(&[
        "log",
        "-1",
        "--format=%an <%ae> / %cn <%ce>",
        &format!("refs/pm/issues/{id}"),
    ])
    .trim_end()
    .to_string()
}

#[test]
fn add_works_without_any_configured_identity() {
    let repo = Repo::new();
    let probe = repo.git_run(repo.path(), &["config", "--get", "user.name"], None);
    assert!(!probe.success(), "precondition: no user.name anywhere");

    // HOME is empty, GIT_CONFIG_NOSYSTEM=1, and no GIT_AUTHOR_*/GIT_COMMITTER_* at all.
    let output = repo
        .pm_command(repo.path(), false)
        .args(["--json", "issue", "add", "--title", "Anonymous"])
        .output()
        .unwrap();
    let run = common::Run::new("pm issue add (no identity)".into(), output).ok();
    let id = id_of(&run.json());
    assert_eq!(
        author_and_committer(&repo, &id),
        "pm <pm@localhost> / pm <pm@localhost>"
    );
    let output = repo
        .pm_command(repo.path(), false)
        .args(["issue", "close", &id])
        .output()
        .unwrap();
    common::Run::new("pm issue close (no identity)".into(), output).ok();
    assert_eq!(repo.commit_count(&id), 2);
    repo.assert_fsck_clean();
}

#[test]
fn commits_carry_the_configured_identity() {
    let repo = Repo::new();
    let add = |env: &[(&str, &str)]| {
        let output = repo
            .pm_command(repo.path(), false)
            .envs(env.iter().copied())
            .args(["--json", "issue", "add", "--title", "Who am I"])
            .output()
            .unwrap();
        id_of(&common::Run::new("pm issue add".into(), output).ok().json())
    };

    // Global configuration in $HOME.
    std::fs::write(
        repo.home().join(".gitconfig"),
        "[user]\n\tname = Global Person\n\temail = global@example.com\n",
    )
    .unwrap();
    let id = add(&[]);
    assert_eq!(
        author_and_committer(&repo, &id),
        "Global Person <global@example.com> / Global Person <global@example.com>"
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an", &format!("refs/pm/issues/{id}")]),
        "Global Person\n"
    );

    // Repository configuration wins over global.
    repo.git(&["config", "user.name", "Local Person"]);
    repo.git(&["config", "user.email", "local@example.com"]);
    let id = add(&[]);
    assert_eq!(
        author_and_committer(&repo, &id),
        "Local Person <local@example.com> / Local Person <local@example.com>"
    );

    // The environment wins over configuration.
    let id = add(&[
        ("GIT_AUTHOR_NAME", "Env Person"),
        ("GIT_AUTHOR_EMAIL", "env@example.com"),
        ("GIT_COMMITTER_NAME", "Env Person"),
        ("GIT_COMMITTER_EMAIL", "env@example.com"),
    ]);
    assert_eq!(
        author_and_committer(&repo, &id),
        "Env Person <env@example.com> / Env Person <env@example.com>"
    );

    // The fixture's own identity reaches the events.
    let id = repo.add("Fixture identity", &[]);
    assert_eq!(
        author_and_committer(&repo, &id),
        format!("{NAME} <{EMAIL}> / {NAME} <{EMAIL}>")
    );
}

/// Like git, pm takes the author from `GIT_AUTHOR_*` (or `author.*`) and the
/// committer from `GIT_COMMITTER_*` (or `committer.*`), each falling back to `user.*`.
#[test]
fn author_identity_is_taken_from_the_author_settings() {
    let repo = Repo::new();
    let output = repo
        .pm_command(repo.path(), false)
        .envs([
            ("GIT_AUTHOR_NAME", "Alice Author"),
            ("GIT_AUTHOR_EMAIL", "alice@example.com"),
        ])
        .args(["--json", "issue", "add", "--title", "Authored"])
        .output()
        .unwrap();
    let id = id_of(&common::Run::new("pm issue add".into(), output).ok().json());
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%an <%ae>",
            &format!("refs/pm/issues/{id}")
        ]),
        "Alice Author <alice@example.com>\n"
    );

    let output = repo
        .pm_command(repo.path(), false)
        .envs([
            ("GIT_AUTHOR_NAME", "Alice Author"),
            ("GIT_AUTHOR_EMAIL", "alice@example.com"),
            ("GIT_COMMITTER_NAME", "Bob Committer"),
            ("GIT_COMMITTER_EMAIL", "bob@example.com"),
        ])
        .args(["--json", "issue", "add", "--title", "Committed"])
        .output()
        .unwrap();
    let id = id_of(&common::Run::new("pm issue add".into(), output).ok().json());
    assert_eq!(
        author_and_committer(&repo, &id),
        "Alice Author <alice@example.com> / Bob Committer <bob@example.com>"
    );
}

// ---- 10. subdirectories and worktrees --------------------------------------------------

#[test]
fn subdirectories_and_linked_worktrees_share_one_store() {
    let repo = Repo::new();
    let first = repo.add("Made in the main worktree", &[]);

    let wt = repo.root().join("linked");
    repo.git(&["worktree", "add", "-q", "--detach", wt.to_str().unwrap()]);
    let sub = wt.join("sub").join("deeper");
    std::fs::create_dir_all(&sub).unwrap();
    let main_sub = repo.path().join("src");
    std::fs::create_dir_all(&main_sub).unwrap();

    let only_first = vec![first.clone()];
    let list_from = |dir: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["issue", "list"]);
        listed_ids(&repo.pm_in(dir, &all).ok().json())
    };
    assert_eq!(list_from(&sub, &[]), only_first);
    assert_eq!(list_from(&wt, &["-C", "sub"]), only_first);
    assert_eq!(list_from(&wt, &["-C", "sub", "-C", "deeper"]), only_first);
    assert_eq!(list_from(repo.root(), &["-C", "linked/sub"]), only_first);
    assert_eq!(list_from(&main_sub, &[]), only_first);
    assert_eq!(list_from(repo.path(), &["-C", "src"]), only_first);

    // Written from the linked worktree, seen in the main one (by pm and by git).
    let run = repo
        .pm_in(
            &sub,
            &[
                "--json",
                "issue",
                "add",
                "--title",
                "Made in the linked worktree",
            ],
        )
        .ok();
    let second = id_of(&run.json());
    assert!(repo.ref_ids().contains(&second));
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    let mut seen = list_from(repo.path(), &[]);
    seen.sort();
    assert_eq!(seen, both);
    assert_eq!(
        repo.git(&["rev-parse", "--git-common-dir"]).trim(),
        ".git",
        "main worktree layout"
    );
    assert!(
        repo.path()
            .join(".git/refs/pm/issues")
            .join(&second)
            .is_file(),
        "the record ref lives in the common git directory"
    );

    // Updates in either place are seen in the other.
    repo.pm_ok(&["issue", "update", &second, "--tag", "from-main"]);
    let doc = repo
        .pm_in(&sub, &["--json", "issue", "show", &second])
        .ok()
        .json();
    assert_eq!(doc["issue"]["tags"], serde_json::json!(["from-main"]));
    repo.pm_in(&wt, &["issue", "close", &first]).ok();
    assert_eq!(repo.record(&first)["status"].as_str(), Some("closed"));
    repo.assert_fsck_clean();
}
