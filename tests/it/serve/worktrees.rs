//! Worktrees over HTTP: every worktree of the repository (as `git worktree list` has them) with
//! its branch, owning session, dirty state and ahead/behind; and prune.

use super::*;
use serde_json::json;

#[test]
fn every_worktree_is_listed_with_its_session_state_and_counts() {
    let repo = Repo::with_readme("hello\n");
    let issue = repo.add("Worktrees", &[]);
    let launched = repo.pm_json(&["agent", "launch", "--issue", &issue, "--branch", "feat"]);
    let id = launched["id"].as_str().unwrap().to_string();
    let session_dir = std::path::PathBuf::from(launched["worktree"].as_str().unwrap());
    // A commit on the session's branch, an uncommitted change beside it.
    std::fs::write(session_dir.join("new.txt"), "new\n").unwrap();
    repo.git_in(&session_dir, &["add", "new.txt"]);
    repo.git_in(&session_dir, &["commit", "-q", "-m", "new"]);
    std::fs::write(session_dir.join("README.txt"), "changed\n").unwrap();
    // A worktree pm did not make, and a commit on main that the session's branch lacks.
    let plain = repo.root().join("plain");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "plain",
        plain.to_str().unwrap(),
    ]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "main moves"]);

    let server = Served::start(&repo, &[]);
    let doc = server.get("/api/v1/worktrees").ok();
    let list = doc["worktrees"].as_array().unwrap();
    // The same folders as git lists, the main one first.
    let git_paths: Vec<String> = repo
        .git(&["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree ").map(str::to_string))
        .collect();
    let paths: Vec<&str> = list.iter().map(|w| w["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), git_paths.len(), "{doc}");
    assert_eq!(paths[0], git_paths[0]);
    let mut sorted_git = git_paths.clone();
    sorted_git.sort();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(sorted, sorted_git);

    let main = &list[0];
    assert_eq!(
        (main["main"].clone(), main["branch"].clone()),
        (json!(true), json!("main"))
    );
    assert_eq!(main["session"], Value::Null);
    assert_eq!(main["dirty"], false);
    assert_eq!(
        main["head"].as_str().unwrap(),
        repo.git(&["rev-parse", "main"]).trim()
    );
    let by_path = |p: &std::path::Path| {
        list.iter()
            .find(|w| w["path"] == json!(p.to_str().unwrap()))
            .unwrap_or_else(|| panic!("{} not in {doc}", p.display()))
    };
    let feat = by_path(&session_dir);
    assert_eq!(feat["branch"], "feat");
    assert_eq!(feat["session"]["id"], json!(id));
    assert_eq!(feat["session"]["status"], "active");
    assert_eq!(feat["session"]["issue"], json!(issue));
    assert_eq!(feat["dirty"], true);
    assert_eq!(feat["base"], "main");
    assert_eq!(
        (feat["ahead"].clone(), feat["behind"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        feat["head"].as_str().unwrap(),
        repo.git(&["rev-parse", "feat"]).trim()
    );
    let other = by_path(&plain);
    assert_eq!(other["branch"], "plain");
    assert_eq!(other["session"], Value::Null);
    assert_eq!(other["dirty"], false);
    assert_eq!(
        (other["ahead"].clone(), other["behind"].clone()),
        (json!(0), json!(1))
    );

    // A finished session still owns the worktree this clone made for it.
    repo.pm_ok(&["agent", "close", &id, "--done"]);
    let doc = server.get("/api/v1/worktrees").ok();
    let feat = doc["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["branch"] == "feat")
        .cloned()
        .unwrap();
    assert_eq!(feat["session"]["status"], "completed");
}

#[test]
fn prune_removes_the_entries_of_worktrees_whose_folder_is_gone() {
    let repo = Repo::new();
    let gone = repo.root().join("gone");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "gone",
        gone.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&gone).unwrap();
    let server = Served::start(&repo, &[]);
    let listed = server.get("/api/v1/worktrees").ok();
    let entry = listed["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["branch"] == "gone")
        .cloned()
        .unwrap_or_else(|| panic!("no entry for gone in {listed}"));
    assert_eq!(
        (entry["prunable"].clone(), entry["exists"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(entry["dirty"], Value::Null);
    let dry = server
        .post("/api/v1/worktrees/prune", &json!({"dry_run": true}))
        .ok();
    assert_eq!(dry["pruned"], json!([gone.to_str().unwrap()]));
    assert!(
        repo.git(&["worktree", "list", "--porcelain"])
            .contains("gone")
    );
    let pruned = server.post("/api/v1/worktrees/prune", &json!({})).ok();
    assert_eq!(pruned["pruned"], json!([gone.to_str().unwrap()]));
    assert!(
        !repo
            .git(&["worktree", "list", "--porcelain"])
            .contains("gone")
    );
    // The branch is left alone.
    assert!(repo.branch_exists("gone"));
    let again = server.post("/api/v1/worktrees/prune", &json!({})).ok();
    assert_eq!(again["pruned"], json!([]));
    let (code, _) = server
        .post("/api/v1/worktrees/prune", &json!({"force": true}))
        .error(422);
    assert_eq!(code, "usage");
}
