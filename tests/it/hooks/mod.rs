//! Provisioning a session's worktree: files copied from the main worktree (`copy`,
//! `.worktreeinclude`), `setup` and `teardown` commands, their approval (`pm hooks`, `pm hooks
//! approve`), and what nothing synced can make run. The real binary on temporary repositories;
//! git (`status`, `worktree list`, `check-ignore`) and the file system are the witnesses.
//!
//! Hook commands in these tests write marker files beside the repository (never inside a
//! worktree, which would make it dirty), named by the test.

mod approval;
mod copy;
mod run;

use crate::common::{Repo, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A repository whose main worktree ignores `.env`, `node_modules/`, `build/` and `*.log`, and
/// whose `.pm.toml` (committed) holds `pm_toml`.
fn repo_with(pm_toml: &str) -> Repo {
    let repo = Repo::new();
    std::fs::write(
        repo.path().join(".gitignore"),
        ".env\nnode_modules/\nbuild/\n*.log\nlink-out\n",
    )
    .unwrap();
    std::fs::write(repo.path().join(".pm.toml"), pm_toml).unwrap();
    repo.git(&["add", ".gitignore", ".pm.toml"]);
    repo.git(&["commit", "-q", "-m", "settings"]);
    repo
}

/// Rewrite `.pm.toml` in the main worktree and commit it.
fn set_pm_toml(repo: &Repo, text: &str) {
    std::fs::write(repo.path().join(".pm.toml"), text).unwrap();
    repo.git(&["commit", "-q", "-am", "settings changed"]);
}

/// A `[worktree]` section whose setup appends `$PM_SESSION_ID` to `marker`.
fn setup_writing(marker: &Path) -> String {
    format!(
        "[worktree]\nsetup = [\"echo $PM_SESSION_ID >> '{}'\"]\n",
        marker.display()
    )
}

/// `pm agent launch --branch <branch> <extra…>` (JSON); must succeed.
#[track_caller]
fn launch(repo: &Repo, branch: &str, extra: &[&str]) -> (Value, Run) {
    let mut args = vec!["--json", "agent", "launch", "--branch", branch];
    args.extend_from_slice(extra);
    let run = repo.pm(&args).ok();
    (run.json(), run)
}

/// The worktree of a launch document.
fn worktree_of(doc: &Value) -> PathBuf {
    PathBuf::from(doc["worktree"].as_str().expect("a worktree path"))
}

fn id_of(doc: &Value) -> String {
    doc["id"].as_str().expect("a session id").to_string()
}

fn warnings_of(doc: &Value) -> Vec<String> {
    doc["warnings"]
        .as_array()
        .expect("a warnings array")
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// The file the user's approvals are kept in.
fn approvals_file(repo: &Repo) -> PathBuf {
    repo.home().join(".config/pm/approvals.toml")
}

/// Write the user's own config file.
fn set_user_config(repo: &Repo, text: &str) {
    let dir = repo.home().join(".config/pm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

/// `git status --porcelain` in `dir`: empty when everything copied is ignored and nothing
/// tracked was touched.
fn status(repo: &Repo, dir: &Path) -> String {
    repo.git_in(dir, &["status", "--porcelain", "--untracked-files=all"])
}

/// The run events of a session (`pm agent logs --json`).
fn run_events(repo: &Repo, id: &str) -> Vec<Value> {
    repo.pm_json(&["agent", "logs", id])["events"]
        .as_array()
        .expect("an events array")
        .clone()
}

/// Lines of a file, or none when it does not exist.
fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}
