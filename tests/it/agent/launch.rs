//! `pm agent launch`: worktrees, branches, records, resuming an idle session.

use super::*;

// ---- launch ----------------------------------------------------------------------------

#[test]
fn launch_from_an_issue_makes_a_real_worktree_on_the_derived_branch() {
    let repo = repo_with_file();
    let issue = repo.add("Add user login", &[]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");
    let base = repo.git(&["rev-parse", "main"]).trim().to_string();

    let doc = launch(
        &repo,
        &[
            "--issue",
            &issue[..8],
            "--agent",
            "codex",
            "--prompt",
            "Do it",
        ],
    );
    let branch = "feature/add-user-login";
    let wt = default_worktree(&repo, branch);
    assert_eq!(doc["json_version"], 1);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["resumed"], false);
    assert_eq!(doc["recreated_worktree"], false);
    assert_eq!(doc["branch"], branch);
    assert_eq!(doc["status"], "active");
    assert_eq!(doc["issue"], issue.as_str());
    assert_eq!(doc["worktree"], wt.to_str().unwrap());
    let id = str_of(&doc["id"]);

    // One record ref, one root commit, one file, readable with git.
    assert_eq!(repo.record_ids(Kind::Session), [id.as_str()]);
    assert_eq!(repo.commit_count_of(Kind::Session, &id), 1);
    let tip = repo.tip_of(Kind::Session, &id);
    assert_eq!(repo.subject(&tip), format!("launch: active on {branch}"));
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", &tip]),
        "session.toml\n"
    );
    let record = repo.record_of(Kind::Session, &id);
    assert_eq!(record["id"].as_str(), Some(id.as_str()));
    assert_eq!(record["issue"].as_str(), Some(issue.as_str()));
    assert_eq!(record["branch"].as_str(), Some(branch));
    assert_eq!(record["base"].as_str(), Some(base.as_str()));
    assert_eq!(record["base_ref"].as_str(), Some("main"));
    assert_eq!(record["status"].as_str(), Some("active"));
    assert_eq!(record["agent"].as_str(), Some("codex"));
    assert_eq!(record["prompt"].as_str(), Some("Do it"));
    assert_eq!(
        record["actor"].as_str(),
        Some(format!("{NAME} <{EMAIL}>").as_str())
    );
    assert_eq!(record["owner"].as_str(), Some(clone_id(&repo).as_str()));
    assert!(!record.contains_key("ended"), "a live session has no end");

    // The issue is in progress.
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");

    // The worktree is real: git lists it on the branch, it is clean, it has the base's files.
    let entry = worktree_at(&repo, &wt).expect("git lists the worktree");
    assert_eq!(
        entry.branch.as_deref(),
        Some(format!("refs/heads/{branch}").as_str())
    );
    assert!(!entry.prunable);
    assert_eq!(status_porcelain(&repo, &wt), "");
    assert_eq!(
        std::fs::read_to_string(wt.join("README.txt")).unwrap(),
        "hello from the base commit\n"
    );
    assert_eq!(
        repo.git_in(&wt, &["rev-parse", "HEAD"]).trim(),
        base,
        "a new branch starts at the main worktree's HEAD"
    );
    assert_eq!(
        repo.git_in(&wt, &["symbolic-ref", "HEAD"]).trim(),
        format!("refs/heads/{branch}")
    );
    // The main worktree is untouched.
    assert_eq!(status_porcelain(&repo, repo.path()), "");
    assert_eq!(
        repo.git(&["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    repo.assert_fsck_clean();
}

#[test]
fn branch_names_derive_from_issue_titles() {
    let repo = Repo::new();
    for (title, branch) in [
        ("Fix BUG #123!", "feature/fix-bug-123"),
        ("  Multiple   Spaces  ", "feature/multiple-spaces"),
    ] {
        let issue = repo.add(title, &[]);
        let doc = launch(&repo, &["--issue", &issue]);
        assert_eq!(doc["branch"], branch, "title {title:?}");
        assert!(repo.branch_exists(branch));
        assert!(worktree_at(&repo, &default_worktree(&repo, branch)).is_some());
    }
}

#[test]
fn launch_works_without_a_configured_identity() {
    let repo = repo_with_file();
    let probe = repo.git_run(repo.path(), &["config", "--get", "user.name"], None);
    assert!(!probe.success(), "precondition: no user.name anywhere");
    let issue = repo.add("Anonymous work", &[]);

    let output = repo
        .pm_command(repo.path(), false)
        .args(["--json", "agent", "launch", "--issue", &issue])
        .output()
        .unwrap();
    let doc = Run::new("pm agent launch (no identity)".into(), output)
        .ok()
        .json();
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));
    assert_eq!(repo.record_ids(Kind::Session), [id.as_str()]);
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    assert!(worktree_at(&repo, &wt).is_some());
    assert_eq!(status_porcelain(&repo, &wt), "");
    assert!(wt.join("README.txt").is_file());

    let output = repo
        .pm_command(&wt, false)
        .args(["agent", "close", "--done"])
        .output()
        .unwrap();
    Run::new("pm agent close --done (no identity)".into(), output).ok();
    assert_eq!(repo.status_of(Kind::Session, &id), "completed");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    repo.assert_fsck_clean();
}

#[test]
fn the_session_record_holds_no_path_and_no_host_name() {
    let repo = repo_with_file();
    let issue = repo.add("Keep it portable", &[]);
    let doc = launch(&repo, &["--issue", &issue]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));
    close(&repo, &[&id]);

    // pm knows the path and host locally …
    let show = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(show["session"]["worktree"], wt.to_str().unwrap());
    let host = show["host"].as_str().unwrap_or("").to_string();

    // … but no version of the shared record mentions them.
    let root = repo.root().to_str().unwrap().to_string();
    for commit in repo
        .git(&["rev-list", &Kind::Session.ref_name(&id)])
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>()
    {
        let text = repo.git(&["show", &format!("{commit}:session.toml")]);
        assert!(!text.contains(&root), "the record holds a path:\n{text}");
        assert!(!text.contains("repo.worktrees"), "worktree folder:\n{text}");
        let table: toml::Table = text.parse().unwrap();
        for key in ["worktree", "path", "host", "hostname", "pid"] {
            assert!(!table.contains_key(key), "key {key} in:\n{text}");
        }
        for (key, value) in &table {
            if let Some(s) = value.as_str() {
                assert!(!s.starts_with('/'), "{key} is an absolute path: {s}");
            }
        }
        if !host.is_empty() {
            let tokens: Vec<&str> = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
                .collect();
            assert!(
                !tokens.iter().any(|t| t.eq_ignore_ascii_case(&host)),
                "the record names the host {host:?}:\n{text}"
            );
            if host.len() >= 6 {
                assert!(!text.contains(&host), "host {host:?} in:\n{text}");
            }
        }
    }
    // The commits that carry it do not either.
    let log = repo.git(&[
        "log",
        "--format=%B%n%an %ae %cn %ce",
        &Kind::Session.ref_name(&id),
    ]);
    assert!(
        !log.contains(&root),
        "a commit message holds a path:\n{log}"
    );
}

#[test]
fn worktree_dir_from_pm_toml_is_used() {
    let repo = Repo::new();
    std::fs::write(
        repo.path().join(".pm.toml"),
        "worktree_dir = \"trees/{repo}/{branch}\"\nbranch_prefix = \"agent/\"\n",
    )
    .unwrap();
    repo.git(&["add", ".pm.toml"]);
    repo.git(&["commit", "-q", "-m", "config"]);
    let issue = repo.add("Configured", &[]);
    let doc = launch(&repo, &["--issue", &issue]);
    let wt = repo.root().join("trees/repo/agent-configured");
    assert_eq!(doc["branch"], "agent/configured");
    assert_eq!(doc["worktree"], wt.to_str().unwrap());
    let entry = worktree_at(&repo, &wt).expect("git lists the configured folder");
    assert_eq!(entry.branch.as_deref(), Some("refs/heads/agent/configured"));
    assert_eq!(status_porcelain(&repo, &wt), "");
    assert!(!repo.root().join("repo.worktrees").exists());
}

#[test]
fn two_branches_never_share_a_worktree_folder() {
    let repo = Repo::new();
    let (_, first) = launch_branch(&repo, "a/b");
    let (_, second) = launch_branch(&repo, "a-b");
    assert_eq!(first, default_worktree(&repo, "a/b"));
    assert_ne!(first, second);
    assert_eq!(
        worktree_at(&repo, &first).unwrap().branch.as_deref(),
        Some("refs/heads/a/b")
    );
    assert_eq!(
        worktree_at(&repo, &second).unwrap().branch.as_deref(),
        Some("refs/heads/a-b")
    );
}

#[test]
fn launch_dry_run_changes_nothing() {
    let repo = Repo::new();
    let issue = repo.add("Just looking", &[]);
    let before = snapshot(&repo);
    let issue_tip = repo.tip(&issue);
    let doc = repo.pm_json(&["--dry-run", "agent", "launch", "--issue", &issue]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["branch"], "feature/just-looking");
    assert_eq!(snapshot(&repo), before);
    assert_eq!(repo.tip(&issue), issue_tip);
    assert!(repo.record_ids(Kind::Session).is_empty());
}

/// Nothing of a refused launch on `branch` is left: no branch, no worktree in git's list nor
/// its folder, no record ref, no local note of the clone; and git finds the repository sound.
#[track_caller]
fn assert_launch_left_nothing(repo: &Repo, branch: &str) {
    assert!(!repo.branch_exists(branch));
    assert_eq!(worktrees(repo).len(), 1, "only the main worktree");
    assert!(!default_worktree(repo, branch).exists());
    assert!(!repo.root().join("repo.worktrees").exists());
    assert!(repo.record_ids(Kind::Session).is_empty());
    let notes = repo.path().join(".git/pm/sessions");
    assert!(
        std::fs::read_dir(&notes).map_or(true, |mut d| d.next().is_none()),
        "a local note was written in {}",
        notes.display()
    );
    repo.assert_fsck_clean();
}

#[test]
fn a_prompt_too_large_for_a_record_is_refused_before_anything_is_made() {
    let repo = Repo::new();
    let issue = repo.add("Huge prompt", &[]);
    let branch = "feature/huge-prompt";
    // About as large as one command-line argument may be (MCP takes larger ones).
    let prompt = "p".repeat(100 * 1024);
    let line = refused(
        &repo,
        &["agent", "launch", "--issue", &issue, "--prompt", &prompt],
        2,
    );
    assert_eq!(
        line,
        "error: the prompt is 102400 bytes; a session holds at most 64 KiB of prompt"
    );
    assert_launch_left_nothing(&repo, branch);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");

    // The same for a dry run, a role and an agent name beyond theirs.
    let long_name = "r".repeat(201);
    for args in [
        vec![
            "--dry-run",
            "agent",
            "launch",
            "--issue",
            &issue,
            "--prompt",
            &prompt,
        ],
        vec!["agent", "launch", "--issue", &issue, "--role", &long_name],
        vec!["agent", "launch", "--issue", &issue, "--agent", &long_name],
        vec![
            "agent",
            "launch",
            "--issue",
            &issue,
            "--prompt",
            "ring \u{7} bell",
        ],
    ] {
        let line = refused(&repo, &args, 2);
        assert!(line.starts_with("error: the "), "{line}");
    }
    assert_launch_left_nothing(&repo, branch);

    // The largest prompt kept is stored whole.
    let prompt = "p".repeat(64 * 1024);
    let doc = launch(&repo, &["--issue", &issue, "--prompt", &prompt]);
    let id = str_of(&doc["id"]);
    assert_eq!(
        repo.record_of(Kind::Session, &id)["prompt"].as_str(),
        Some(prompt.as_str())
    );
    repo.assert_fsck_clean();
}

#[test]
fn a_branch_lock_left_behind_fails_a_launch_with_one_line_and_changes_nothing() {
    let repo = Repo::new();
    let lock = repo.path().join(".git/refs/heads/feature/locked.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let line = refused(&repo, &["agent", "launch", "--branch", "feature/locked"], 1);
    assert_eq!(
        line,
        format!(
            "error: could not create branch feature/locked: refs/heads/feature/locked is locked: \
             {} exists (a git or pm process is writing it, or one that crashed left it behind); \
             remove that file if no git or pm process is running",
            lock.display()
        )
    );
    assert!(
        lock.exists(),
        "a lock pm did not take is not pm's to remove"
    );
    assert_launch_left_nothing(&repo, "feature/locked");

    std::fs::remove_file(&lock).unwrap();
    launch_branch(&repo, "feature/locked");
    assert!(repo.branch_exists("feature/locked"));
}

/// Creating a ref needs no `packed-refs.lock` (git takes none either), so one left behind by a
/// crashed process does not stop a launch; pm leaves the file alone. (Deleting a packed
/// branch does need it: tests/it/safety.rs has purge meet one.)
#[test]
fn a_packed_refs_lock_left_behind_does_not_stop_a_launch() {
    let repo = Repo::new();
    repo.add("Something packed", &[]);
    repo.git(&["pack-refs", "--all"]);
    let lock = repo.path().join(".git/packed-refs.lock");
    std::fs::write(&lock, "").unwrap();
    let (id, worktree) = launch_branch(&repo, "fresh");
    assert!(repo.branch_exists("fresh"));
    assert!(worktree.exists());
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    assert!(
        lock.exists(),
        "a lock pm did not take is not pm's to remove"
    );
    assert_eq!(std::fs::read(&lock).unwrap(), b"");
}

#[test]
fn launch_on_a_branch_with_an_active_session_fails() {
    let repo = Repo::new();
    let issue = repo.add("Busy", &[]);
    let id = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    let tip = repo.tip_of(Kind::Session, &id);
    for args in [
        vec!["agent", "launch", "--issue", &issue],
        vec!["agent", "launch", "--branch", "feature/busy"],
    ] {
        let line = refused(&repo, &args, 1);
        assert!(line.contains("already has an active session"), "{line}");
        assert!(line.contains(&id), "{line}");
    }
    assert_eq!(repo.record_ids(Kind::Session), [id.as_str()]);
    assert_eq!(repo.tip_of(Kind::Session, &id), tip);
}

#[test]
fn launch_on_a_branch_with_an_idle_session_resumes_it() {
    let repo = repo_with_file();
    let issue = repo.add("Come back later", &[]);
    let first = launch(&repo, &["--issue", &issue]);
    let id = str_of(&first["id"]);
    let wt = PathBuf::from(str_of(&first["worktree"]));
    // Work left in the worktree survives the pause.
    std::fs::write(wt.join("notes.txt"), "half done\n").unwrap();
    close(&repo, &[&id]);
    assert_eq!(repo.status_of(Kind::Session, &id), "idle");

    let again = launch(&repo, &["--issue", &issue]);
    assert_eq!(again["id"], id.as_str(), "the same session");
    assert_eq!(again["resumed"], true);
    assert_eq!(again["recreated_worktree"], false);
    assert_eq!(again["worktree"], wt.to_str().unwrap());
    assert_eq!(again["status"], "active");
    assert_eq!(
        repo.record_ids(Kind::Session),
        [id.as_str()],
        "no second record"
    );
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    assert_eq!(
        repo.subject(&Kind::Session.ref_name(&id)),
        "resume: idle -> active"
    );
    assert_eq!(repo.commit_count_of(Kind::Session, &id), 3);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    assert_eq!(
        std::fs::read_to_string(wt.join("notes.txt")).unwrap(),
        "half done\n"
    );
    assert_eq!(worktrees(&repo).len(), 2, "still one linked worktree");

    // Resuming by branch name works the same way.
    close(&repo, &[&id]);
    let by_branch = launch(&repo, &["--branch", "feature/come-back-later"]);
    assert_eq!(by_branch["id"], id.as_str());
    assert_eq!(by_branch["resumed"], true);
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
}

#[test]
fn launch_recreates_the_missing_worktree_of_an_idle_session() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/vanishing");
    let head = commit_file(&repo, &wt, "work.txt", "work\n", "work");
    close(&repo, &[&id]);
    std::fs::remove_dir_all(&wt).unwrap();
    repo.git(&["worktree", "prune"]);
    assert!(worktree_at(&repo, &wt).is_none());

    let doc = launch(&repo, &["--branch", "feature/vanishing"]);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["resumed"], true);
    assert_eq!(doc["recreated_worktree"], true);
    assert_eq!(doc["worktree"], wt.to_str().unwrap());
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    let entry = worktree_at(&repo, &wt).expect("the worktree is back");
    assert_eq!(
        entry.branch.as_deref(),
        Some("refs/heads/feature/vanishing")
    );
    assert_eq!(status_porcelain(&repo, &wt), "");
    assert_eq!(repo.git_in(&wt, &["rev-parse", "HEAD"]).trim(), head);
    assert!(wt.join("work.txt").is_file() && wt.join("README.txt").is_file());
    repo.assert_fsck_clean();
}

#[test]
fn launch_recreates_a_worktree_deleted_without_telling_git() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/deleted");
    close(&repo, &[&id]);
    // `rm -rf` of the folder: git's entry stays behind (prunable).
    std::fs::remove_dir_all(&wt).unwrap();
    assert!(worktree_at(&repo, &wt).unwrap().prunable);

    let doc = launch(&repo, &["--branch", "feature/deleted"]);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["recreated_worktree"], true);
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    let entry = worktree_at(&repo, &wt).expect("the worktree is back");
    assert!(!entry.prunable);
    assert_eq!(status_porcelain(&repo, &wt), "");
}

#[test]
fn launching_the_branch_of_a_finished_session_says_how_to_go_on() {
    let repo = Repo::new();
    let (id, _) = launch_branch(&repo, "feature/again");
    close(&repo, &["--done", &id]);
    let line = refused(&repo, &["agent", "launch", "--branch", "feature/again"], 1);
    assert!(line.contains("already checked out"), "{line}");
    assert!(
        line.contains(&format!("`pm agent reactivate {id}`")),
        "{line}"
    );
    // Which is what it says: reactivated, the session is launched (resumed) again.
    repo.pm_ok(&["agent", "reactivate", &id]);
    let doc = launch(&repo, &["--branch", "feature/again"]);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["resumed"], true);
}

#[test]
fn reactivate_recreates_a_worktree_deleted_without_telling_git() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/rm-rf");
    close(&repo, &["--done", &id]);
    std::fs::remove_dir_all(&wt).unwrap();
    assert!(worktree_at(&repo, &wt).unwrap().prunable);

    let out = repo.pm_json(&["agent", "reactivate", &id]);
    assert_eq!(out["status"], "idle");
    let entry = worktree_at(&repo, &wt).expect("the worktree is back");
    assert!(!entry.prunable);
    assert_eq!(status_porcelain(&repo, &wt), "");
}

#[test]
fn launch_from_inside_a_worktree_uses_the_main_worktree() {
    let repo = repo_with_file();
    let (_, first) = launch_branch(&repo, "feature/first");
    commit_file(&repo, &first, "first.txt", "1\n", "first work");
    let main_head = repo.git(&["rev-parse", "main"]).trim().to_string();
    let deep = first.join("d");
    std::fs::create_dir(&deep).unwrap();

    let doc = repo
        .pm_in(
            &deep,
            &["--json", "agent", "launch", "--branch", "feature/second"],
        )
        .ok()
        .json();
    let second = PathBuf::from(str_of(&doc["worktree"]));
    assert_eq!(second, default_worktree(&repo, "feature/second"));
    let id = str_of(&doc["id"]);
    assert_eq!(
        repo.record_of(Kind::Session, &id)["base"].as_str(),
        Some(main_head.as_str())
    );
    assert_eq!(
        repo.git_in(&second, &["rev-parse", "HEAD"]).trim(),
        main_head
    );
    assert!(!second.join("first.txt").exists());
    // Both sessions share the one record store.
    assert_eq!(list_ids(&repo, &[]).len(), 2);
    assert_eq!(
        repo.pm_in(&second, &["--json", "agent", "list"])
            .ok()
            .json()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
