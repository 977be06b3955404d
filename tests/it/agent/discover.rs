//! `pm agent discover`: worktrees made with plain `git worktree add` are found, adopted as idle
//! sessions that a launch on their branch resumes, and never removed by pm.

use super::*;

#[track_caller]
fn discovered(repo: &Repo, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["agent", "discover"];
    all.extend_from_slice(args);
    repo.pm_json(&all)["worktrees"]
        .as_array()
        .expect("a worktrees array")
        .clone()
}

#[test]
fn a_worktree_made_with_git_is_adopted_and_a_launch_on_its_branch_resumes_it() {
    let repo = repo_with_file();
    let (_, pm_made) = launch_branch(&repo, "made-by-pm");
    let hand = repo.root().join("by-hand");
    let detached = repo.root().join("detached");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "by-hand",
        hand.to_str().unwrap(),
    ]);
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        detached.to_str().unwrap(),
    ]);
    commit_file(&repo, &hand, "hand.txt", "by hand\n", "work by hand");

    let found = discovered(&repo, &[]);
    let paths: Vec<&str> = found.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [hand.to_str().unwrap(), detached.to_str().unwrap()],
        "pm's own worktree {} is not listed",
        pm_made.display()
    );
    assert_eq!(found[1]["branch"], Value::Null);
    assert!(found[1]["skipped"].as_str().unwrap().contains("detached"));
    assert_eq!(found[0]["branch"], "by-hand");
    let merge_base = repo.git(&["merge-base", "main", "by-hand"]);
    assert_eq!(found[0]["base"], merge_base.trim());

    let before = snapshot(&repo);
    let dry = discovered(&repo, &["--adopt", "--dry-run"]);
    assert_eq!(dry[0]["session"], Value::Null);
    assert_eq!(snapshot(&repo), before);

    let adopted = discovered(&repo, &["--adopt"]);
    let id = str_of(&adopted[0]["session"]);
    assert_eq!(
        adopted[1]["session"],
        Value::Null,
        "a detached HEAD is not adopted"
    );
    let record = repo.git(&["show", &format!("refs/pm/sessions/{id}:session.toml")]);
    assert!(record.contains("status = \"idle\""), "{record}");
    assert!(record.contains("branch = \"by-hand\""), "{record}");
    assert!(
        record.contains(&format!("base = \"{}\"", merge_base.trim())),
        "{record}"
    );
    assert_eq!(
        repo.subject(&format!("refs/pm/sessions/{id}")),
        "adopt: idle on by-hand"
    );
    let again = discovered(&repo, &[]);
    assert_eq!(again.len(), 1, "only the detached one is left: {again:?}");

    let doc = launch(&repo, &["--branch", "by-hand"]);
    assert_eq!(doc["id"], id.as_str(), "{doc}");
    assert_eq!(doc["resumed"], true, "{doc}");
    assert_eq!(doc["worktree"], hand.to_str().unwrap());
    assert_eq!(repo.status_of(Kind::Session, &id), "active");

    // pm never removes what it did not make: the folder and branch stay after a purge.
    repo.pm_ok(&["agent", "close", &id]);
    let out = repo.pm(&["agent", "purge", &id, "--delete-files"]).ok();
    assert!(
        out.stderr.contains("not created by this clone"),
        "{}",
        out.stderr
    );
    assert!(hand.join("hand.txt").exists());
    assert!(repo.branch_exists("by-hand"));
    assert!(worktree_at(&repo, &hand).is_some());
    repo.assert_fsck_clean();
}
