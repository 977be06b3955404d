//! `pm agent merge`: the session's branch lands on its base as git would land it (a
//! fast-forward, a merge commit, a squash, a rebase), the session completes and its issue is
//! done, and the worktree and branch pm made go; a conflict or a dirty worktree changes nothing.

use super::*;

/// A session on an issue with one commit of its own on `feature/work`; (session, issue,
/// worktree, the branch's tip).
fn session_with_work(repo: &Repo) -> (String, String, PathBuf, String) {
    let issue = repo.add("Land the work", &[]);
    let doc = launch(repo, &["--issue", &issue, "--branch", "feature/work"]);
    let (id, wt) = (str_of(&doc["id"]), PathBuf::from(str_of(&doc["worktree"])));
    let tip = commit_file(repo, &wt, "work.txt", "work\n", "do the work");
    (id, issue, wt, tip)
}

fn rev(repo: &Repo, name: &str) -> String {
    repo.git(&["rev-parse", name]).trim().to_string()
}

/// After a merge: the session completed, its issue done, the worktree and branch gone, the
/// main worktree clean with the work in it.
#[track_caller]
fn landed(repo: &Repo, id: &str, issue: &str, wt: &Path) {
    assert_eq!(repo.status_of(Kind::Session, id), "completed");
    assert_eq!(repo.status_of(Kind::Issue, issue), "done");
    assert!(worktree_at(repo, wt).is_none(), "{:?}", worktrees(repo));
    assert!(!wt.exists(), "{}", wt.display());
    assert!(!repo.branch_exists("feature/work"));
    assert_eq!(status_porcelain(repo, repo.path()), "");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("work.txt")).unwrap(),
        "work\n"
    );
    repo.assert_fsck_clean();
}

#[test]
fn a_branch_ahead_of_an_unmoved_base_fast_forwards() {
    let repo = repo_with_file();
    let (id, issue, wt, tip) = session_with_work(&repo);
    let doc = repo.pm_json(&["agent", "merge", &id]);
    assert_eq!(doc["how"], "fast_forward", "{doc}");
    assert_eq!(doc["commits"], 1);
    assert_eq!(rev(&repo, "main"), tip);
    landed(&repo, &id, &issue, &wt);
}

#[test]
fn a_moved_base_gets_a_merge_commit_with_both_parents() {
    let repo = repo_with_file();
    let (id, issue, wt, tip) = session_with_work(&repo);
    let old = commit_file(
        &repo,
        repo.path(),
        "other.txt",
        "other\n",
        "meanwhile on main",
    );
    let out = repo.pm_ok(&["agent", "merge", &id]);
    assert!(
        out.starts_with("Merged: merge commit of feature/work on main"),
        "{out}"
    );
    assert_eq!(rev(&repo, "main^1"), old);
    assert_eq!(rev(&repo, "main^2"), tip);
    assert_eq!(
        repo.subject("main"),
        "Merge branch 'feature/work' into main"
    );
    let body = repo.git(&["log", "-1", "--format=%b", "main"]);
    assert!(body.contains("Land the work"), "{body}");
    assert!(body.contains(&format!("pm-issue: {issue}")), "{body}");
    landed(&repo, &id, &issue, &wt);
    assert!(repo.path().join("other.txt").exists());
}

#[test]
fn squash_makes_one_commit_named_after_the_issue() {
    let repo = repo_with_file();
    let (id, issue, wt, _) = session_with_work(&repo);
    commit_file(&repo, &wt, "more.txt", "more\n", "more work");
    let old = commit_file(
        &repo,
        repo.path(),
        "other.txt",
        "other\n",
        "meanwhile on main",
    );
    let doc = repo.pm_json(&["agent", "merge", &id, "--squash"]);
    assert_eq!(doc["how"], "squash", "{doc}");
    assert_eq!(doc["commits"], 2);
    assert_eq!(rev(&repo, "main^"), old);
    let parents = repo.git(&["show", "-s", "--format=%P", "main"]);
    assert_eq!(parents.split_whitespace().count(), 1, "{parents}");
    assert_eq!(repo.subject("main"), "Land the work");
    let files = repo.git(&["show", "--name-only", "--format=", "main"]);
    assert_eq!(files.lines().collect::<Vec<_>>(), ["more.txt", "work.txt"]);
    landed(&repo, &id, &issue, &wt);
}

#[test]
fn rebase_replays_the_branch_on_the_base_in_a_line() {
    let repo = repo_with_file();
    let (id, issue, wt, _) = session_with_work(&repo);
    commit_file(&repo, &wt, "more.txt", "more\n", "more work");
    let old = commit_file(
        &repo,
        repo.path(),
        "other.txt",
        "other\n",
        "meanwhile on main",
    );
    let doc = repo.pm_json(&["agent", "merge", &id, "--rebase"]);
    assert_eq!(doc["how"], "rebase", "{doc}");
    let log = repo.git(&["log", "--format=%s", "-3", "main"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["more work", "do the work", "meanwhile on main"]
    );
    assert_eq!(rev(&repo, "main~2"), old);
    assert_eq!(
        repo.git(&["rev-list", "--merges", "--count", "main"])
            .trim(),
        "0"
    );
    landed(&repo, &id, &issue, &wt);
}

#[test]
fn a_conflict_leaves_both_branches_and_both_worktrees_as_they_were() {
    let repo = repo_with_file();
    for strategy in [None, Some("--squash"), Some("--rebase")] {
        let (id, issue, wt, tip) = {
            let issue = repo.add("Edit the readme", &[]);
            let branch = format!(
                "feature/edit-{}",
                strategy.unwrap_or("merge").trim_matches('-')
            );
            let doc = launch(&repo, &["--issue", &issue, "--branch", &branch]);
            let (id, wt) = (str_of(&doc["id"]), PathBuf::from(str_of(&doc["worktree"])));
            let tip = commit_file(&repo, &wt, "README.txt", "theirs\n", "edit on the branch");
            (id, issue, wt, tip)
        };
        let ours = format!("ours {strategy:?}\n");
        let main = commit_file(&repo, repo.path(), "README.txt", &ours, "edit on main");
        let mut args = vec!["agent", "merge", id.as_str()];
        args.extend(strategy);
        let line = refused(&repo, &args, 1);
        assert!(
            line.contains("conflicts in README.txt"),
            "{strategy:?}: {line}"
        );
        assert!(line.contains("nothing was changed"), "{line}");
        assert_eq!(rev(&repo, "main"), main);
        assert_eq!(repo.git_in(&wt, &["rev-parse", "HEAD"]).trim(), tip);
        assert_eq!(status_porcelain(&repo, repo.path()), "");
        assert_eq!(status_porcelain(&repo, &wt), "");
        assert_eq!(repo.status_of(Kind::Session, &id), "active");
        assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
        repo.pm_ok(&["agent", "close", &id, "--abandon"]);
    }
}

#[test]
fn dirty_worktrees_and_dry_runs_change_nothing() {
    let repo = repo_with_file();
    let (id, issue, wt, _) = session_with_work(&repo);
    std::fs::write(wt.join("work.txt"), "unsaved\n").unwrap();
    let line = refused(&repo, &["agent", "merge", &id], 1);
    assert!(line.contains("uncommitted changes"), "{line}");
    repo.git_in(&wt, &["checkout", "--", "work.txt"]);
    std::fs::write(repo.path().join("README.txt"), "unsaved\n").unwrap();
    let line = refused(&repo, &["agent", "merge", &id], 1);
    assert!(line.contains("main is checked out at"), "{line}");
    repo.git(&["checkout", "--", "README.txt"]);

    let before = snapshot(&repo);
    let out = repo.pm_ok(&["--dry-run", "agent", "merge", &id]);
    assert!(out.starts_with("Would merge: fast-forward main"), "{out}");
    assert!(out.contains("would remove worktree"), "{out}");
    assert_eq!(snapshot(&repo), before);
    assert_eq!(repo.status_of(Kind::Session, &id), "active");

    // Kept: the work lands, the worktree and branch stay.
    let doc = repo.pm_json(&["agent", "merge", &id, "--keep"]);
    assert_eq!(doc["removed_worktree"], Value::Null, "{doc}");
    assert!(wt.exists());
    assert!(repo.branch_exists("feature/work"));
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
}

#[test]
fn merge_pushes_the_base_when_asked() {
    let repo = repo_with_file();
    let remote = repo.root().join("remote.git");
    let remote_s = remote.to_str().unwrap();
    repo.git_in(
        repo.root(),
        &["init", "-q", "--bare", "-b", "main", remote_s],
    );
    repo.git(&["remote", "add", "origin", remote_s]);
    repo.git(&["push", "-q", "origin", "main"]);
    let (id, issue, wt, tip) = session_with_work(&repo);
    let out = repo.pm_ok(&["agent", "merge", &id, "--push"]);
    assert!(out.contains("pushed main to origin"), "{out}");
    let remote_main = repo.git_in(&remote, &["rev-parse", "main"]);
    assert_eq!(remote_main.trim(), tip);
    landed(&repo, &id, &issue, &wt);
}

#[test]
fn the_mcp_merge_action_lands_the_work_as_the_cli_does() {
    use crate::mcp::{call, failed, ok};
    let repo = repo_with_file();
    let (id, issue, wt, _) = session_with_work(&repo);
    let old = commit_file(
        &repo,
        repo.path(),
        "other.txt",
        "other\n",
        "meanwhile on main",
    );
    let refused = failed(&call(
        &repo,
        repo.path(),
        "pm_session",
        serde_json::json!({"action": "merge", "sessionUlid": id, "strategy": "octopus"}),
    ));
    assert!(refused.contains("strategy"), "{refused}");
    let doc = ok(&call(
        &repo,
        repo.path(),
        "pm_session",
        serde_json::json!({"action": "merge", "sessionUlid": id, "strategy": "squash"}),
    ))
    .clone();
    assert_eq!(doc["how"], "squash", "{doc}");
    assert_eq!(doc["before"], old.as_str());
    assert_eq!(doc["after"], rev(&repo, "main").as_str());
    assert_eq!(doc["json_version"], 1);
    landed(&repo, &id, &issue, &wt);
}
