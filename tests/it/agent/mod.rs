//! Integration tests of `pm agent …`: the real binary on temporary repositories, with the git
//! CLI (`for-each-ref`, `show`, `worktree list`, `status`, `rev-list`, `fsck`) as the
//! independent witness of what was stored and what was created on disk.
//!
//! The fixture's repository lives at `<tmp>/repo`, so the default worktree folder
//! `<repo>.worktrees/<branch>` is `<tmp>/repo.worktrees/…`, inside the test's temporary directory.

mod cascade;
mod close;
mod discover;
mod history;
mod launch;
mod merge;
mod reconcile;
mod refusals;

use crate::common::{EMAIL, Kind, NAME, Repo, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A valid session id for which no ref exists in any test repository.
const UNKNOWN_ID: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
/// The id of a session crafted by hand as a teammate's.
const TEAMMATE_SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
/// The clone id of that teammate (any id that is not this clone's).
const TEAMMATE_CLONE: &str = "01BX5ZZKBKACTAV9WEVGEMMVR1";

// ---- helpers ---------------------------------------------------------------------------

/// A repository whose base commit holds a tracked file, `README.txt`.
fn repo_with_file() -> Repo {
    Repo::with_readme(
        "hello from the base commit
",
    )
}

/// `pm --json agent launch <args…>` in the repository; asserts success.
#[track_caller]
fn launch(repo: &Repo, args: &[&str]) -> Value {
    let mut all = vec!["agent", "launch"];
    all.extend_from_slice(args);
    repo.pm_json(&all)
}

/// Launch on `branch` and return (session id, worktree path).
#[track_caller]
fn launch_branch(repo: &Repo, branch: &str) -> (String, PathBuf) {
    let doc = launch(repo, &["--branch", branch]);
    (str_of(&doc["id"]), PathBuf::from(str_of(&doc["worktree"])))
}

#[track_caller]
fn str_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

/// The default worktree folder of `branch` in the fixture layout.
fn default_worktree(repo: &Repo, branch: &str) -> PathBuf {
    repo.root()
        .join("repo.worktrees")
        .join(branch.replace('/', "-"))
}

/// One entry of `git worktree list --porcelain`.
#[derive(Debug, Clone, PartialEq)]
struct Worktree {
    path: PathBuf,
    branch: Option<String>,
    prunable: bool,
}

fn worktrees(repo: &Repo) -> Vec<Worktree> {
    let text = repo.git(&["worktree", "list", "--porcelain"]);
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut wt = Worktree {
                path: PathBuf::new(),
                branch: None,
                prunable: false,
            };
            for line in block.lines() {
                if let Some(path) = line.strip_prefix("worktree ") {
                    wt.path = PathBuf::from(path);
                } else if let Some(branch) = line.strip_prefix("branch ") {
                    wt.branch = Some(branch.to_string());
                } else if line.starts_with("prunable") {
                    wt.prunable = true;
                }
            }
            wt
        })
        .collect()
}

fn worktree_at(repo: &Repo, path: &Path) -> Option<Worktree> {
    worktrees(repo).into_iter().find(|wt| wt.path == path)
}

/// `git -C <dir> status --porcelain`.
fn status_porcelain(repo: &Repo, dir: &Path) -> String {
    repo.git_in(dir, &["status", "--porcelain"])
}

/// Commit a new file in `dir` with git; returns the commit id.
fn commit_file(repo: &Repo, dir: &Path, name: &str, text: &str, message: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    repo.git_in(dir, &["add", name]);
    repo.git_in(dir, &["commit", "-q", "-m", message]);
    repo.git_in(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Everything a failed command must leave alone: every ref, git's worktree list, and every
/// file and folder under the test's temporary root (git directories and HOME excepted).
fn snapshot(repo: &Repo) -> String {
    let mut text = repo.git(&["for-each-ref", "--format=%(objectname) %(refname)"]);
    text.push_str(&repo.git(&["worktree", "list", "--porcelain"]));
    let mut files = Vec::new();
    walk(repo.root(), repo.root(), repo.home(), &mut files);
    files.sort();
    text.push_str(&files.join("\n"));
    text
}

fn walk(root: &Path, dir: &Path, skip: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name() == ".git" || path == skip {
            continue;
        }
        out.push(path.strip_prefix(root).unwrap().display().to_string());
        let file_type = entry.file_type().unwrap();
        if file_type.is_dir() {
            walk(root, &path, skip, out);
        }
    }
}

/// Run pm in `dir`; the command must fail with `code`, one `error:` line, and leave the
/// snapshot as it was. Returns the error line.
#[track_caller]
fn refused_in(repo: &Repo, dir: &Path, args: &[&str], code: i32) -> String {
    let before = snapshot(repo);
    let line = repo.pm_in(dir, args).fails_with(code);
    assert_eq!(
        snapshot(repo),
        before,
        "`pm {}` changed something although it failed ({line})",
        args.join(" ")
    );
    line
}

#[track_caller]
fn refused(repo: &Repo, args: &[&str], code: i32) -> String {
    refused_in(repo, repo.path(), args, code)
}

/// `pm --json agent list <args…>`: the ids listed, after checking the document's shape.
#[track_caller]
fn list_ids(repo: &Repo, args: &[&str]) -> Vec<String> {
    let mut all = vec!["agent", "list"];
    all.extend_from_slice(args);
    let doc = repo.pm_json(&all);
    assert_eq!(doc["errors"], Value::Array(vec![]), "errors in {doc}");
    ids_of(&doc)
}

fn ids_of(doc: &Value) -> Vec<String> {
    doc["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions array in {doc}"))
        .iter()
        .map(|s| str_of(&s["id"]))
        .collect()
}

/// The session object of `id` in a list/history document.
#[track_caller]
fn find_session<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("session {id} not in {doc}"))
}

/// The rows of a tab-separated table (pm's output when not on a terminal), header checked.
#[track_caller]
fn table_rows(text: &str, header: &[&str]) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    assert_eq!(head, header, "table header of:\n{text}");
    lines
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// `pm agent close` (JSON) in `dir`.
#[track_caller]
fn close_in(repo: &Repo, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "agent", "close"];
    all.extend_from_slice(args);
    repo.pm_in(dir, &all).ok().json()
}

#[track_caller]
fn close(repo: &Repo, args: &[&str]) -> Value {
    close_in(repo, repo.path(), args)
}

/// The longest common prefix of some ids.
fn common_prefix(ids: &[&str]) -> String {
    let first = ids[0];
    let n = (0..first.len())
        .take_while(|&i| ids.iter().all(|id| id.as_bytes()[i] == first.as_bytes()[i]))
        .count();
    first[..n].to_string()
}

/// This clone's id, as pm keeps it in `.git/pm/clone-id`.
fn clone_id(repo: &Repo) -> String {
    std::fs::read_to_string(repo.path().join(".git/pm/clone-id"))
        .expect("pm made a clone id")
        .trim()
        .to_string()
}
