//! pm never loses a branch and never deletes what it did not make: concurrent launches, purge of
//! branches that are checked out or named by a hostile record, worktree folders that a committed
//! symlink would move outside the allowed base, and recovery from a launch killed part-way.
//! Git (`for-each-ref`, `worktree list --porcelain`, `rev-parse`, `fsck`) is the witness.

use crate::common::{Kind, Repo};
use std::path::{Path, PathBuf};

/// A repository whose base commit holds a tracked file.
fn repo_with_file() -> Repo {
    Repo::with_readme(
        "base
",
    )
}

/// `(branch, worktree path)` of every worktree git knows, main included.
fn git_worktrees(repo: &Repo) -> Vec<(String, PathBuf)> {
    let text = repo.git(&["worktree", "list", "--porcelain"]);
    let mut out = Vec::new();
    let mut path = None;
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(PathBuf::from(p));
        } else if let Some(b) = line.strip_prefix("branch refs/heads/") {
            out.push((b.to_string(), path.clone().unwrap()));
        }
    }
    out
}

fn live_sessions_on(repo: &Repo, branch: &str) -> usize {
    let doc = repo.pm_json(&["agent", "list"]);
    doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["branch"] == branch)
        .count()
}

// ---- point 1: concurrent launches ------------------------------------------------------

#[test]
fn two_launches_of_one_new_branch_leave_exactly_one_session_and_its_branch() {
    let repo = repo_with_file();
    for round in 0..30 {
        let branch = format!("race/r{round}");
        let children: Vec<_> = (0..2)
            .map(|_| {
                repo.pm_std_command(repo.path())
                    .args(["agent", "launch", "--branch", &branch])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            won, 1,
            "round {round}: exactly one launch wins: {outputs:?}"
        );
        let lost = outputs.iter().find(|o| !o.status.success()).unwrap();
        let err = String::from_utf8_lossy(&lost.stderr);
        assert_eq!(lost.status.code(), Some(1), "round {round}: {err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "round {round}: one line: {err}"
        );
        assert!(repo.branch_exists(&branch), "round {round}: branch kept");
        let wts: Vec<_> = git_worktrees(&repo)
            .into_iter()
            .filter(|(b, _)| *b == branch)
            .collect();
        assert_eq!(wts.len(), 1, "round {round}: one worktree on {branch}");
        let status = repo.git_in(&wts[0].1, &["status", "--porcelain"]);
        assert_eq!(status, "", "round {round}: the worktree is clean");
        assert_eq!(live_sessions_on(&repo, &branch), 1, "round {round}");
    }
    repo.assert_fsck_clean();
}

#[test]
fn eight_launches_of_eight_branches_at_once_all_succeed() {
    let repo = repo_with_file();
    for round in 0..4 {
        let children: Vec<_> = (0..8)
            .map(|i| {
                repo.pm_std_command(repo.path())
                    .args(["agent", "launch", "--branch", &format!("many/{round}-{i}")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {out:?}");
        }
        for i in 0..8 {
            let branch = format!("many/{round}-{i}");
            assert!(repo.branch_exists(&branch));
            assert_eq!(live_sessions_on(&repo, &branch), 1);
        }
    }
    assert_eq!(git_worktrees(&repo).len(), 1 + 32);
    repo.assert_fsck_clean();
}

// ---- point 2: purge deletes only what this clone made -----------------------------------

#[test]
fn purge_never_deletes_a_branch_that_is_checked_out() {
    let repo = repo_with_file();
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/shown"]);
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    repo.pm_ok(&["agent", "close", &id, "--done"]);
    // The user checks the branch out in a worktree of their own, after removing pm's.
    repo.git(&["worktree", "remove", worktree.to_str().unwrap()]);
    let mine = repo.scratch_dir("mine");
    let mine = mine.join("checkout");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        mine.to_str().unwrap(),
        "feature/shown",
    ]);
    let tip_before = repo.git(&["rev-parse", "refs/heads/feature/shown"]);
    let run = repo.pm(&["agent", "purge", &id, "--delete-files", "--force"]);
    assert!(repo.branch_exists("feature/shown"), "{run:?}");
    assert_eq!(
        repo.git(&["rev-parse", "refs/heads/feature/shown"]),
        tip_before
    );
    assert!(mine.join("README.txt").exists());
    assert!(
        git_worktrees(&repo)
            .iter()
            .any(|(b, p)| b == "feature/shown" && p == &mine)
    );
}

#[test]
fn purge_of_a_record_naming_main_deletes_nothing_of_the_users() {
    let repo = repo_with_file();
    // A real launch gives this clone its id.
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/real"]);
    let real = doc["id"].as_str().unwrap().to_string();
    let clone_id = std::fs::read_to_string(repo.path().join(".git/pm/clone-id")).unwrap();
    let clone_id = clone_id.trim();
    let base = repo.git(&["rev-parse", "HEAD"]);
    // A record "from a remote" claiming this clone and the branch main.
    let hostile = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let text = format!(
        "schema = 1\nid = \"{hostile}\"\nbranch = \"main\"\nbase = \"{base}\"\nbase_ref = \"main\"\n\
         status = \"idle\"\nowner = \"{clone_id}\"\nstarted = \"2026-01-01T00:00:00Z\"\n\
         updated = \"2026-01-01T00:00:00Z\"\n"
    );
    let commit = repo.craft_commit(Kind::Session, &text, "launch: idle on main", None);
    let commit = commit.trim();
    repo.git(&["update-ref", &format!("refs/pm/sessions/{hostile}"), commit]);
    let main_tip = repo.git(&["rev-parse", "refs/heads/main"]);
    // Even forced, pm deletes no branch or folder it did not create for this session.
    let run = repo.pm(&["agent", "purge", hostile, "--delete-files", "--force"]);
    assert!(repo.branch_exists("main"), "{run:?}");
    assert_eq!(repo.git(&["rev-parse", "refs/heads/main"]), main_tip);
    assert!(repo.path().join("README.txt").exists());
    // Even in this clone's own session: the branch in the record changes, pm keeps main.
    let text = repo
        .record_text_of(Kind::Session, &real)
        .replace("branch = \"feature/real\"", "branch = \"main\"");
    let tip = repo.git(&["rev-parse", &format!("refs/pm/sessions/{real}")]);
    let tip = tip.trim();
    let commit = repo.craft_commit(Kind::Session, &text, "close: active -> idle", Some(tip));
    repo.git(&["update-ref", &format!("refs/pm/sessions/{real}"), &commit]);
    let run = repo.pm(&["agent", "purge", &real, "--delete-files", "--force"]);
    assert!(repo.branch_exists("main"), "{run:?}");
    assert_eq!(repo.git(&["rev-parse", "refs/heads/main"]), main_tip);
    repo.assert_fsck_clean();
}

// ---- point 3: a committed symlink cannot move worktrees outside the allowed base ---------

#[test]
fn a_committed_symlink_cannot_move_worktrees_outside_the_base() {
    let repo = repo_with_file();
    let outside = repo.scratch_dir("outside");
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), repo.path().join("escape")).unwrap();
    std::fs::write(
        repo.path().join(".pm.toml"),
        "worktree_dir = \"repo/escape/{branch}\"\n",
    )
    .unwrap();
    repo.git(&["add", "escape", ".pm.toml"]);
    repo.git(&["commit", "-q", "-m", "hostile config"]);
    let err = repo
        .pm(&["agent", "launch", "--branch", "feature/out"])
        .fails_with(1);
    assert!(err.contains("outside"), "{err}");
    assert!(!repo.branch_exists("feature/out"));
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    assert_eq!(git_worktrees(&repo).len(), 1);
    let _ = outside;
    // The same template without the symlink stays inside and works.
    std::fs::write(
        repo.path().join(".pm.toml"),
        "worktree_dir = \"repo.wt/{branch}\"\n",
    )
    .unwrap();
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/in"]);
    let path = Path::new(doc["worktree"].as_str().unwrap()).to_path_buf();
    assert!(path.starts_with(repo.root()), "{path:?}");
}

// ---- point 8: a launch killed part-way -------------------------------------------------

/// What a launch killed inside git's worktree step leaves: the branch, the folder, and git's
/// entry for it still marked as initializing with an empty `gitdir`; plus pm's journal.
fn leave_a_killed_launch(repo: &Repo, branch: &str, with_journal: bool) -> PathBuf {
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    repo.git(&["branch", branch, &base]);
    let folder = repo
        .root()
        .join("repo.worktrees")
        .join(branch.replace('/', "-"));
    std::fs::create_dir_all(&folder).unwrap();
    let entry = repo
        .path()
        .join(".git/worktrees")
        .join(branch.replace('/', "-"));
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("locked"), "initializing\n").unwrap();
    std::fs::write(entry.join("gitdir"), "").unwrap();
    std::fs::write(entry.join("commondir"), "").unwrap();
    if with_journal {
        let pending = repo.path().join(".git/pm/pending");
        std::fs::create_dir_all(&pending).unwrap();
        std::fs::write(
            pending.join("01ARZ3NDEKTSV4RRFFQ69G5FAV.toml"),
            format!(
                "worktree = {:?}\nbranch = {branch:?}\ncreates_branch = true\nbase = \"{base}\"\n",
                folder.to_str().unwrap()
            ),
        )
        .unwrap();
    }
    folder
}

#[test]
fn a_relaunch_cleans_up_what_a_killed_launch_of_its_own_left() {
    let repo = repo_with_file();
    let folder = leave_a_killed_launch(&repo, "feature/killed", true);
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/killed"]);
    assert_eq!(doc["worktree"], folder.to_str().unwrap());
    let wts = git_worktrees(&repo);
    assert_eq!(wts.len(), 2, "{wts:?}");
    assert!(
        wts.iter()
            .any(|(b, p)| b == "feature/killed" && p == &folder)
    );
    assert_eq!(repo.git_in(&folder, &["status", "--porcelain"]), "");
    assert!(
        !repo
            .path()
            .join(".git/pm/pending/01ARZ3NDEKTSV4RRFFQ69G5FAV.toml")
            .exists()
    );
    repo.assert_fsck_clean();
}

#[test]
fn a_listing_undoes_a_killed_launch_and_a_foreign_broken_entry_is_named() {
    let repo = repo_with_file();
    let folder = leave_a_killed_launch(&repo, "feature/gone", true);
    repo.pm_ok(&["agent", "list"]);
    assert!(!folder.exists());
    assert!(!repo.branch_exists("feature/gone"));
    assert_eq!(git_worktrees(&repo).len(), 1);
    // A broken entry pm did not make is never removed, but named.
    let entry = repo.path().join(".git/worktrees/other");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("gitdir"), "").unwrap();
    let err = repo
        .pm(&["agent", "launch", "--branch", "feature/next"])
        .fails_with(1);
    assert!(
        err.contains(".git/worktrees/other") && err.contains("gitdir"),
        "{err}"
    );
    assert!(entry.exists());
    assert!(!repo.branch_exists("feature/next"));
}

#[test]
fn launches_killed_at_random_moments_leave_nothing_that_blocks_the_next() {
    use std::time::Duration;
    let repo = repo_with_file();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..24 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let branch = format!("kill/r{round}");
        let mut child = repo
            .pm_std_command(repo.path())
            .args(["agent", "launch", "--branch", &branch])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        let _ = child.kill();
        let _ = child.wait();
        // The next command sees a consistent repository and the branch can be launched.
        repo.pm_ok(&["agent", "list"]);
        assert!(
            repo.git_run(repo.path(), &["worktree", "list"], None)
                .success(),
            "round {round}"
        );
        let live = live_sessions_on(&repo, &branch);
        if live == 0 {
            repo.pm_ok(&["agent", "launch", "--branch", &branch]);
        }
        assert_eq!(live_sessions_on(&repo, &branch), 1, "round {round}");
        let wts: Vec<_> = git_worktrees(&repo)
            .into_iter()
            .filter(|(b, _)| *b == branch)
            .collect();
        assert_eq!(wts.len(), 1, "round {round}");
        assert_eq!(repo.git_in(&wts[0].1, &["status", "--porcelain"]), "");
    }
    let journals = std::fs::read_dir(repo.path().join(".git/pm/pending"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".toml"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        journals, 0,
        "every interrupted launch was finished or undone"
    );
    repo.assert_fsck_clean();
}

// ---- points 11-14: what a new user found ------------------------------------------------

/// A bare remote `origin` of `repo` holding `branch` one commit ahead of main; the repository
/// has fetched it but has no local branch of that name.
fn remote_with_branch(repo: &Repo, branch: &str) -> String {
    let remote = repo.root().join("remote.git");
    repo.git_in(
        repo.root(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    repo.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    repo.git(&["switch", "-q", "-c", branch]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "remote work"]);
    repo.git(&["push", "-q", "origin", branch, "main"]);
    repo.git(&["switch", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", branch]);
    repo.git(&["fetch", "-q", "origin"]);
    repo.git(&["rev-parse", &format!("refs/remotes/origin/{branch}")])
        .trim()
        .to_string()
}

#[test]
fn a_remote_tracking_name_is_refused_and_a_remote_only_branch_is_tracked() {
    let repo = repo_with_file();
    let tip = remote_with_branch(&repo, "feature/shared");
    let err = repo
        .pm(&["agent", "launch", "--branch", "origin/feature/shared"])
        .fails_with(2);
    assert!(err.contains("remote-tracking"), "{err}");
    assert!(!repo.branch_exists("origin/feature/shared"));
    assert_eq!(git_worktrees(&repo).len(), 1);

    repo.pm_ok(&["agent", "launch", "--branch", "feature/shared"]);
    assert_eq!(
        repo.git(&["rev-parse", "refs/heads/feature/shared"]).trim(),
        tip
    );
    assert_eq!(
        repo.git(&["rev-parse", "--abbrev-ref", "feature/shared@{upstream}"])
            .trim(),
        "origin/feature/shared"
    );
}

#[test]
fn titles_in_other_scripts_keep_their_letters_and_folders_stay_readable() {
    let repo = repo_with_file();
    let issue = repo.add("Ünïcödé ログイン", &[]);
    let doc = repo.pm_json(&["agent", "launch", "--issue", &issue]);
    assert_eq!(doc["branch"], "feature/unicode-roguin");
    let doc = repo.pm_json(&["agent", "launch", "--branch", "ünï/x"]);
    let path = PathBuf::from(doc["worktree"].as_str().unwrap());
    assert_eq!(path.file_name().unwrap().to_str().unwrap(), "ünï-x");
    assert!(
        git_worktrees(&repo)
            .iter()
            .any(|(b, p)| b == "ünï/x" && p == &path)
    );
}

#[test]
fn a_branch_deleted_behind_pms_back_is_shown_and_warned_about() {
    let repo = repo_with_file();
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/lost"]);
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    // Delete the branch under the worktree, as `git update-ref -d` from anywhere would.
    repo.git(&["update-ref", "-d", "refs/heads/feature/lost"]);
    let show = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(show["branch_missing"], true, "{show}");
    assert_eq!(show["dirty"], serde_json::Value::Null, "{show}");
    let text = repo.pm_ok(&["agent", "show", &id]);
    assert!(text.contains("branch missing"), "{text}");
    let run = repo.pm(&["agent", "close", &id, "--done"]).ok();
    assert!(
        run.stderr.contains("feature/lost") && run.stderr.contains("no longer exists"),
        "{}",
        run.stderr
    );
    assert!(worktree.exists());
}

#[test]
fn ending_a_session_warns_of_uncommitted_and_unpushed_work_and_launch_of_reuse() {
    let repo = repo_with_file();
    remote_with_branch(&repo, "feature/other");
    let issue = repo.add("Finish the thing", &[]);
    repo.pm_ok(&["issue", "close", &issue]);
    repo.git(&["branch", "feature/finish-the-thing"]);
    let run = repo
        .pm(&["--json", "agent", "launch", "--issue", &issue])
        .ok();
    assert!(
        run.stderr.contains("already exists") && run.stderr.contains("in progress again"),
        "{}",
        run.stderr
    );
    let doc = run.json();
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    std::fs::write(worktree.join("work.txt"), "one\n").unwrap();
    repo.git_in(&worktree, &["add", "work.txt"]);
    repo.git_in(&worktree, &["commit", "-q", "-m", "work"]);
    std::fs::write(worktree.join("README.txt"), "changed\n").unwrap();
    let run = repo.pm(&["agent", "close", &id, "--done"]).ok();
    assert!(run.stderr.contains("uncommitted"), "{}", run.stderr);
    assert!(
        run.stderr.contains("1 commit(s) on no remote"),
        "{}",
        run.stderr
    );
    // The worktree and its changes are untouched.
    assert_eq!(
        std::fs::read_to_string(worktree.join("README.txt")).unwrap(),
        "changed\n"
    );
}

#[test]
fn a_purge_refused_by_a_lock_leaves_the_worktree_and_branch_as_they_were() {
    let repo = repo_with_file();
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/locked"]);
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    repo.pm_ok(&["agent", "close", &id]);
    repo.git(&["pack-refs", "--all"]);
    let lock = repo.path().join(".git/packed-refs.lock");
    std::fs::write(&lock, "").unwrap();
    let err = repo
        .pm(&["agent", "purge", &id, "--delete-files"])
        .fails_with(1);
    assert!(err.contains("packed-refs.lock"), "{err}");
    assert!(worktree.join("README.txt").exists());
    assert!(repo.branch_exists("feature/locked"));
    assert_eq!(git_worktrees(&repo).len(), 2);
    std::fs::remove_file(&lock).unwrap();
    repo.pm_ok(&["agent", "purge", &id, "--delete-files"]);
    assert!(!worktree.exists());
    assert!(!repo.branch_exists("feature/locked"));
}

#[test]
fn two_launches_on_one_issue_at_once_start_one_session() {
    let repo = repo_with_file();
    for round in 0..10 {
        let issue = repo.add(&format!("Race issue {round}"), &[]);
        let children: Vec<_> = (0..2)
            .map(|i| {
                repo.pm_std_command(repo.path())
                    .args([
                        "agent",
                        "launch",
                        "--issue",
                        &issue,
                        "--branch",
                        &format!("issue-race/{round}-{i}"),
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(won, 1, "round {round}: {outputs:?}");
        let doc = repo.pm_json(&["agent", "list"]);
        let on_issue = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["issue"] == issue.as_str())
            .count();
        assert_eq!(on_issue, 1, "round {round}");
        // The loser made nothing.
        let branches = repo.git(&[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/issue-race/",
        ]);
        assert_eq!(
            branches.lines().count(),
            round + 1,
            "round {round}: {branches}"
        );
    }
}

#[test]
fn a_launched_branch_has_the_reflog_git_would_write() {
    let repo = repo_with_file();
    repo.pm_ok(&["agent", "launch", "--branch", "feature/logged"]);
    let log = repo.git(&[
        "reflog",
        "show",
        "--format=%gs",
        "refs/heads/feature/logged",
    ]);
    assert_eq!(log.trim(), "branch: Created from main");
    // Creating refs takes no packed-refs.lock: none is left, even with packed refs around.
    repo.git(&["pack-refs", "--all"]);
    repo.pm_ok(&["agent", "launch", "--branch", "feature/after-pack"]);
    assert!(!repo.path().join(".git/packed-refs.lock").exists());
    repo.assert_fsck_clean();
}

#[test]
fn resuming_an_active_session_whose_folder_is_gone_changes_nothing() {
    let repo = repo_with_file();
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/gone-folder"]);
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    std::fs::remove_dir_all(&worktree).unwrap();
    let err = repo.pm(&["agent", "resume", &id]).fails_with(1);
    assert!(err.contains("already active"), "{err}");
    assert!(
        !worktree.exists(),
        "a refused resume made the worktree again"
    );
}

#[test]
fn untracked_files_are_warned_about_and_reactivate_says_the_issue_moves_back() {
    let repo = repo_with_file();
    let issue = repo.add("Untracked work", &[]);
    let doc = repo.pm_json(&["agent", "launch", "--issue", &issue]);
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    std::fs::write(worktree.join("notes.txt"), "not added\n").unwrap();
    let run = repo.pm(&["agent", "close", &id, "--done"]).ok();
    assert!(run.stderr.contains("untracked"), "{}", run.stderr);
    let run = repo.pm(&["agent", "reactivate", &id]).ok();
    assert!(
        run.stderr.contains("was done; it is in progress again"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_committed_symlink_to_nothing_cannot_move_worktrees_outside_the_base() {
    let repo = repo_with_file();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("not-yet");
    std::os::unix::fs::symlink(&target, repo.path().join("wt")).unwrap();
    std::fs::write(
        repo.path().join(".pm.toml"),
        "worktree_dir = \"repo/wt/{branch}\"\n",
    )
    .unwrap();
    repo.git(&["add", "wt", ".pm.toml"]);
    repo.git(&["commit", "-q", "-m", "dangling link"]);
    let err = repo
        .pm(&["agent", "launch", "--branch", "feature/dangling"])
        .fails_with(1);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!target.exists());
    assert!(!repo.branch_exists("feature/dangling"));
    assert_eq!(git_worktrees(&repo).len(), 1);
}

/// The warning of unpushed work counts the session's own commits: commits of its base that
/// are not pushed yet (main ahead of origin) are not the session's work.
#[test]
fn unpushed_commits_of_the_base_are_not_counted_as_the_sessions() {
    let repo = repo_with_file();
    remote_with_branch(&repo, "feature/other");
    for n in 0..3 {
        repo.git(&["commit", "-q", "--allow-empty", "-m", &format!("local {n}")]);
    }
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/mine"]);
    let id = doc["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    repo.git_in(&worktree, &["commit", "-q", "--allow-empty", "-m", "mine"]);
    let run = repo.pm(&["agent", "close", &id, "--done"]).ok();
    assert!(
        run.stderr.contains("1 commit(s) on no remote"),
        "{}",
        run.stderr
    );
    // git agrees: four commits of the branch are on no remote, one of them the session's.
    let outside = repo.git(&["rev-list", "--count", "feature/mine", "--not", "--remotes"]);
    assert_eq!(outside.trim(), "4");
}

/// A `git worktree add` killed right after making its entry's folder leaves
/// `.git/worktrees/<name>` without a gitdir file: no worktree, and git's own listing skips it.
/// Once it is old (not one being made right now) reconcile removes it and names its folder; a
/// fresh one is left alone.
#[test]
fn a_half_made_worktree_entry_is_pruned_once_old_and_named() {
    let repo = Repo::new();
    let admin = repo.path().join(".git/worktrees");
    std::fs::create_dir_all(admin.join("ghost")).unwrap();
    std::fs::create_dir_all(admin.join("fresh")).unwrap();
    let old = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(admin.join("ghost"))
        .status()
        .unwrap();
    assert!(old.success());
    let out = repo.pm_ok(&["agent", "reconcile"]);
    assert!(
        out.contains("Pruned stale worktree entry") && out.contains("ghost"),
        "{out}"
    );
    assert!(!admin.join("ghost").exists());
    assert!(
        admin.join("fresh").exists(),
        "a fresh entry may be one being made"
    );
    // git agrees nothing is missing: only the main worktree.
    let list = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    let again = repo.pm_ok(&["agent", "reconcile"]);
    assert!(again.contains("Nothing to reconcile"), "{again}");
}
