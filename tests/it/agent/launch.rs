//! Integration tests of `pm agent …`: the real binary on temporary repositories, with the git
//! CLI (`for-each-ref`, `show`, `worktree list`, `status`, `rev-list`, `fsck`) as the
//! independent witness of what was stored and what was created on disk.
//!
//! The fixture's repository lives at `<tmp>/repo`, so the default worktree folder
//! `<repo>.worktrees/<branch>` is `<tmp>/repo.worktrees/…`, inside the test's temporary directory.

use crate::common::{EMAIL, NAME, Repo, Run};
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
    let repo = Repo::new();
    std::fs::write(
        repo.path().join("README.txt"),
        "hello from the base commit\n",
    )
    .unwrap();
    repo.git(&["add", "README.txt"]);
    repo.git(&["commit", "-q", "-m", "add README"]);
    repo
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

/// The ids of all refs under `refs/pm/sessions/`, in ref order.
fn session_ids(repo: &Repo) -> Vec<String> {
    repo.git(&[
        "for-each-ref",
        "--format=%(refname:lstrip=3)",
        "refs/pm/sessions/",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn session_ref(id: &str) -> String {
    format!("refs/pm/sessions/{id}")
}

/// `git show refs/pm/sessions/<id>:session.toml`.
fn session_text(repo: &Repo, id: &str) -> String {
    repo.git(&["show", &format!("{}:session.toml", session_ref(id))])
}

/// The session record at the tip, parsed by the `toml` crate (not by pm).
fn session_record(repo: &Repo, id: &str) -> toml::Table {
    let text = session_text(repo, id);
    text.parse()
        .unwrap_or_else(|e| panic!("session.toml of {id} is not TOML ({e}):\n{text}"))
}

fn session_status(repo: &Repo, id: &str) -> String {
    session_record(repo, id)["status"]
        .as_str()
        .expect("status is a string")
        .to_string()
}

fn session_tip(repo: &Repo, id: &str) -> String {
    repo.git(&["rev-parse", "--verify", &session_ref(id)])
        .trim()
        .to_string()
}

fn session_commit_count(repo: &Repo, id: &str) -> usize {
    repo.git(&["rev-list", "--count", &session_ref(id)])
        .trim()
        .parse()
        .expect("a number")
}

/// The issue's status as stored (read with git, not with pm).
fn issue_status(repo: &Repo, id: &str) -> String {
    repo.record(id)["status"]
        .as_str()
        .expect("status is a string")
        .to_string()
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

fn branch_exists(repo: &Repo, branch: &str) -> bool {
    repo.branch_exists(branch)
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

/// Store `text` as the session record `refs/pm/sessions/<id>` with plain git plumbing.
fn craft_session(repo: &Repo, id: &str, text: &str) -> String {
    let blob = repo.write_blob(text);
    let tree = repo
        .git_stdin(
            &["mktree"],
            format!("100644 blob {blob}\tsession.toml\n").as_bytes(),
        )
        .trim()
        .to_string();
    let commit = repo
        .git(&["commit-tree", "-m", "launch: active on teammate", &tree])
        .trim()
        .to_string();
    repo.git(&["update-ref", &session_ref(id), &commit, ""]);
    commit
}

/// This clone's id, as pm keeps it in `.git/pm/clone-id`.
fn clone_id(repo: &Repo) -> String {
    std::fs::read_to_string(repo.path().join(".git/pm/clone-id"))
        .expect("pm made a clone id")
        .trim()
        .to_string()
}

// ---- launch ----------------------------------------------------------------------------

#[test]
fn launch_from_an_issue_makes_a_real_worktree_on_the_derived_branch() {
    let repo = repo_with_file();
    let issue = repo.add("Add user login", &[]);
    assert_eq!(issue_status(&repo, &issue), "open");
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
    assert_eq!(session_ids(&repo), [id.as_str()]);
    assert_eq!(session_commit_count(&repo, &id), 1);
    let tip = session_tip(&repo, &id);
    assert_eq!(repo.subject(&tip), format!("launch: active on {branch}"));
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", &tip]),
        "session.toml\n"
    );
    let record = session_record(&repo, &id);
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
    assert_eq!(issue_status(&repo, &issue), "in_progress");

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
        assert!(branch_exists(&repo, branch));
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
    assert_eq!(session_ids(&repo), [id.as_str()]);
    assert_eq!(session_status(&repo, &id), "active");
    assert_eq!(issue_status(&repo, &issue), "in_progress");
    assert!(worktree_at(&repo, &wt).is_some());
    assert_eq!(status_porcelain(&repo, &wt), "");
    assert!(wt.join("README.txt").is_file());

    let output = repo
        .pm_command(&wt, false)
        .args(["agent", "close", "--done"])
        .output()
        .unwrap();
    Run::new("pm agent close --done (no identity)".into(), output).ok();
    assert_eq!(session_status(&repo, &id), "completed");
    assert_eq!(issue_status(&repo, &issue), "done");
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
        .git(&["rev-list", &session_ref(&id)])
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
    let log = repo.git(&["log", "--format=%B%n%an %ae %cn %ce", &session_ref(&id)]);
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
    assert!(session_ids(&repo).is_empty());
}

/// Nothing of a refused launch on `branch` is left: no branch, no worktree in git's list nor
/// its folder, no record ref, no local note of the clone; and git finds the repository sound.
#[track_caller]
fn assert_launch_left_nothing(repo: &Repo, branch: &str) {
    assert!(!branch_exists(repo, branch));
    assert_eq!(worktrees(repo).len(), 1, "only the main worktree");
    assert!(!default_worktree(repo, branch).exists());
    assert!(!repo.root().join("repo.worktrees").exists());
    assert!(session_ids(repo).is_empty());
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
    assert_eq!(issue_status(&repo, &issue), "open");

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
        session_record(&repo, &id)["prompt"].as_str(),
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
    assert!(branch_exists(&repo, "feature/locked"));
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
    assert!(branch_exists(&repo, "fresh"));
    assert!(worktree.exists());
    assert_eq!(session_status(&repo, &id), "active");
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
    let tip = session_tip(&repo, &id);
    for args in [
        vec!["agent", "launch", "--issue", &issue],
        vec!["agent", "launch", "--branch", "feature/busy"],
    ] {
        let line = refused(&repo, &args, 1);
        assert!(line.contains("already has an active session"), "{line}");
        assert!(line.contains(&id), "{line}");
    }
    assert_eq!(session_ids(&repo), [id.as_str()]);
    assert_eq!(session_tip(&repo, &id), tip);
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
    assert_eq!(session_status(&repo, &id), "idle");

    let again = launch(&repo, &["--issue", &issue]);
    assert_eq!(again["id"], id.as_str(), "the same session");
    assert_eq!(again["resumed"], true);
    assert_eq!(again["recreated_worktree"], false);
    assert_eq!(again["worktree"], wt.to_str().unwrap());
    assert_eq!(again["status"], "active");
    assert_eq!(session_ids(&repo), [id.as_str()], "no second record");
    assert_eq!(session_status(&repo, &id), "active");
    assert_eq!(repo.subject(&session_ref(&id)), "resume: idle -> active");
    assert_eq!(session_commit_count(&repo, &id), 3);
    assert_eq!(issue_status(&repo, &issue), "in_progress");
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
    assert_eq!(session_status(&repo, &id), "active");
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
    assert_eq!(session_status(&repo, &id), "active");
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
    assert_eq!(session_status(&repo, &id), "active");
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
        session_record(&repo, &id)["base"].as_str(),
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

// ---- close -----------------------------------------------------------------------------

#[test]
fn close_without_a_flag_makes_the_session_idle_and_keeps_the_issue_in_progress() {
    let repo = Repo::new();
    let issue = repo.add("Pause me", &[]);
    let doc = launch(&repo, &["--issue", &issue]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));

    let out = close(&repo, &[&id]);
    assert_eq!(out["changed"], true);
    assert_eq!(out["status"], "idle");
    assert_eq!(out["previous_status"], "active");
    assert_eq!(out["message"], "close: active -> idle");
    assert_eq!(out["issue"], issue.as_str());
    let record = session_record(&repo, &id);
    assert_eq!(record["status"].as_str(), Some("idle"));
    assert!(!record.contains_key("ended"), "idle sets no end time");
    assert_eq!(session_commit_count(&repo, &id), 2);
    assert_eq!(repo.subject(&session_ref(&id)), "close: active -> idle");
    assert_eq!(issue_status(&repo, &issue), "in_progress");
    assert!(worktree_at(&repo, &wt).is_some(), "the worktree stays");
    assert!(branch_exists(&repo, "feature/pause-me"));

    // Closing an idle session again is idle -> idle: nothing is written.
    let tip = session_tip(&repo, &id);
    let issue_tip = repo.tip(&issue);
    let again = close(&repo, &[&id]);
    assert_eq!(again["changed"], false);
    assert_eq!(again["status"], "idle");
    assert_eq!(again["message"], Value::Null);
    assert_eq!(session_tip(&repo, &id), tip);
    assert_eq!(repo.tip(&issue), issue_tip);
    let text = repo.pm_ok(&["agent", "close", &id]);
    assert_eq!(text, format!("Session {id} is already idle\n"));
}

#[test]
fn close_done_completes_the_session_and_marks_the_issue_done() {
    let repo = Repo::new();
    let issue = repo.add("Finish me", &[]);
    let (id, wt) = {
        let doc = launch(&repo, &["--issue", &issue]);
        (str_of(&doc["id"]), PathBuf::from(str_of(&doc["worktree"])))
    };
    let text = repo
        .pm_at(2_000_000_000, &["agent", "close", "--done", &id])
        .ok();
    assert_eq!(
        text.stdout,
        format!("Session {id} close: active -> completed\n")
    );
    let record = session_record(&repo, &id);
    assert_eq!(record["status"].as_str(), Some("completed"));
    assert_eq!(
        record["ended"].as_str(),
        Some("2033-05-18T03:33:20Z"),
        "the end time is set: {record:?}"
    );
    assert_eq!(issue_status(&repo, &issue), "done");
    assert_eq!(
        repo.subject(&session_ref(&id)),
        "close: active -> completed"
    );
    // Completing does not delete anything.
    assert!(worktree_at(&repo, &wt).is_some());

    // From idle as well.
    let other = repo.add("Finish me later", &[]);
    let id2 = str_of(&launch(&repo, &["--issue", &other])["id"]);
    close(&repo, &[&id2]);
    let out = close(&repo, &["--done", &id2]);
    assert_eq!(out["previous_status"], "idle");
    assert_eq!(out["status"], "completed");
    assert!(session_record(&repo, &id2).contains_key("ended"));
    assert_eq!(issue_status(&repo, &other), "done");
}

#[test]
fn close_abandon_abandons_the_session_and_reopens_the_issue() {
    let repo = Repo::new();
    let issue = repo.add("Give up", &[]);
    let id = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    assert_eq!(issue_status(&repo, &issue), "in_progress");
    let out = close(&repo, &["--abandon", &id]);
    assert_eq!(out["status"], "abandoned");
    assert_eq!(out["previous_status"], "active");
    let record = session_record(&repo, &id);
    assert_eq!(record["status"].as_str(), Some("abandoned"));
    assert!(record.contains_key("ended"), "abandoning sets the end time");
    assert_eq!(issue_status(&repo, &issue), "open");
    assert_eq!(
        repo.subject(&session_ref(&id)),
        "close: active -> abandoned"
    );

    // From idle as well.
    let other = repo.add("Give up later", &[]);
    let id2 = str_of(&launch(&repo, &["--issue", &other])["id"]);
    close(&repo, &[&id2]);
    assert_eq!(issue_status(&repo, &other), "in_progress");
    close(&repo, &["--abandon", &id2]);
    assert_eq!(session_status(&repo, &id2), "abandoned");
    assert_eq!(issue_status(&repo, &other), "open");
}

#[test]
fn closing_a_finished_session_fails_and_changes_nothing() {
    let repo = Repo::new();
    let done_issue = repo.add("Completed one", &[]);
    let gone_issue = repo.add("Abandoned one", &[]);
    let done = str_of(&launch(&repo, &["--issue", &done_issue])["id"]);
    let gone = str_of(&launch(&repo, &["--issue", &gone_issue])["id"]);
    close(&repo, &["--done", &done]);
    close(&repo, &["--abandon", &gone]);

    for (id, status) in [(&done, "completed"), (&gone, "abandoned")] {
        for flag in [None, Some("--done"), Some("--abandon")] {
            let mut args = vec!["agent", "close", id.as_str()];
            args.extend(flag);
            let line = refused(&repo, &args, 1);
            assert!(
                line.contains(&format!("already {status}")),
                "`{}`: {line}",
                args.join(" ")
            );
            assert!(line.contains(id.as_str()), "{line}");
        }
    }
    assert_eq!(issue_status(&repo, &done_issue), "done");
    assert_eq!(issue_status(&repo, &gone_issue), "open");
}

#[test]
fn done_and_abandon_together_is_a_usage_error() {
    let repo = Repo::new();
    let (id, _) = launch_branch(&repo, "both");
    let line = refused(&repo, &["agent", "close", "--done", "--abandon", &id], 2);
    assert!(
        line.contains("--done") && line.contains("--abandon"),
        "{line}"
    );
    assert_eq!(session_status(&repo, &id), "active");
}

#[test]
fn close_with_an_unknown_or_ambiguous_id_fails() {
    let repo = Repo::new();
    let (a, _) = launch_branch(&repo, "first");
    let (b, _) = launch_branch(&repo, "second");

    let line = refused(&repo, &["agent", "close", UNKNOWN_ID], 1);
    assert!(
        line.contains("no session") && line.contains(UNKNOWN_ID),
        "{line}"
    );

    let prefix = common_prefix(&[&a, &b]);
    assert!(
        prefix.len() >= 2,
        "ULIDs of this century share a prefix: {a} {b}"
    );
    for typed in [prefix.clone(), prefix.to_lowercase()] {
        let line = refused(&repo, &["agent", "close", "--done", &typed], 1);
        assert!(line.contains("ambiguous"), "{line}");
        assert!(line.contains(&a) && line.contains(&b), "{line}");
    }
    // A text that could be a branch but names no session is not found; one that can be
    // neither an id nor a branch is a usage error.
    let line = refused(&repo, &["agent", "close", "not-an-id!"], 1);
    assert!(
        line.contains("no session with id or branch not-an-id!"),
        "{line}"
    );
    let line = refused(&repo, &["agent", "close", "not an id"], 2);
    assert!(line.contains("not an id"), "{line}");

    // A longer, unique prefix (any case) works.
    let unique = &b[..prefix.len() + 1];
    close(&repo, &["--done", &unique.to_lowercase()]);
    assert_eq!(session_status(&repo, &b), "completed");
    assert_eq!(session_status(&repo, &a), "active");
}

#[test]
fn close_without_an_id_finds_the_session_from_a_nested_folder() {
    let repo = Repo::new();
    let (a, wt_a) = launch_branch(&repo, "feature/one");
    let (b, wt_b) = launch_branch(&repo, "feature/two");
    let nested = wt_a.join("a/b");
    std::fs::create_dir_all(&nested).unwrap();

    let out = close_in(&repo, &nested, &["--done"]);
    assert_eq!(out["id"], a.as_str());
    assert_eq!(session_status(&repo, &a), "completed");
    assert_eq!(
        session_status(&repo, &b),
        "active",
        "the other one is untouched"
    );

    // From the top of the other worktree.
    let out = close_in(&repo, &wt_b, &[]);
    assert_eq!(out["id"], b.as_str());
    assert_eq!(session_status(&repo, &b), "idle");
    assert_eq!(session_status(&repo, &a), "completed");
}

#[test]
fn close_without_an_id_follows_symlinks_to_the_worktree() {
    let repo = Repo::new();
    let (a, _wt_a) = launch_branch(&repo, "feature/left");
    let (b, wt_b) = launch_branch(&repo, "feature/right");
    std::fs::create_dir_all(wt_b.join("src/deep")).unwrap();
    let link = repo.root().join("link-to-right");
    std::os::unix::fs::symlink(&wt_b, &link).unwrap();

    // The current folder reached through the link.
    let out = close_in(&repo, &link.join("src/deep"), &[]);
    assert_eq!(out["id"], b.as_str());
    assert_eq!(session_status(&repo, &b), "idle");

    // `-C` through the link, from the main worktree: the path reaches pm unresolved.
    let through = link.join("src");
    let out = repo
        .pm(&[
            "--json",
            "-C",
            through.to_str().unwrap(),
            "agent",
            "close",
            "--abandon",
        ])
        .ok()
        .json();
    assert_eq!(out["id"], b.as_str());
    assert_eq!(session_status(&repo, &b), "abandoned");
    assert_eq!(session_status(&repo, &a), "active");
}

#[test]
fn close_in_the_main_worktree_lists_the_candidates_and_fails() {
    let repo = Repo::new();
    // No live session at all.
    let line = refused(&repo, &["agent", "close"], 1);
    assert!(line.contains("no live sessions"), "{line}");

    // One live session is not silently chosen.
    let (a, _) = launch_branch(&repo, "feature/alpha");
    let line = refused(&repo, &["agent", "close", "--done"], 1);
    assert!(
        line.contains(&a) && line.contains("feature/alpha"),
        "{line}"
    );

    // Several: all are named, and none is closed (stdin is not a terminal here).
    let (b, _) = launch_branch(&repo, "feature/beta");
    let (c, _) = launch_branch(&repo, "feature/gamma");
    close(&repo, &[&c]);
    let (d, _) = launch_branch(&repo, "feature/delta");
    close(&repo, &["--done", &d]);
    let sub = repo.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for dir in [repo.path().to_path_buf(), sub] {
        let line = refused_in(&repo, &dir, &["agent", "close", "--done"], 1);
        for live in [&a, &b, &c] {
            assert!(line.contains(live.as_str()), "{live} missing: {line}");
        }
        assert!(
            !line.contains(&d),
            "a completed session is no candidate: {line}"
        );
    }
    assert_eq!(session_status(&repo, &a), "active");
    assert_eq!(session_status(&repo, &b), "active");
    assert_eq!(session_status(&repo, &c), "idle");
}

/// Issue 14 point 17: every command that takes a session takes its branch too; a live session
/// on the branch wins, else the newest one; an exact branch wins over an id prefix.
#[test]
fn a_session_is_named_by_its_branch_everywhere() {
    let repo = Repo::new();
    let (id, worktree) = launch_branch(&repo, "feature/x");
    let shown = repo.pm_json(&["agent", "show", "feature/x"]);
    assert_eq!(shown["session"]["id"], id.as_str());
    assert_eq!(
        repo.pm_json(&["agent", "events", "feature/x"])["id"],
        id.as_str()
    );

    assert_eq!(close(&repo, &["feature/x"])["id"], id.as_str());
    assert_eq!(session_status(&repo, &id), "idle");
    repo.pm_ok(&["agent", "resume", "feature/x"]);
    assert_eq!(session_status(&repo, &id), "active");
    close(&repo, &["--done", "feature/x"]);
    assert_eq!(session_status(&repo, &id), "completed");
    repo.pm_ok(&["agent", "reactivate", "feature/x"]);
    assert_eq!(session_status(&repo, &id), "idle");
    let purged = repo.pm_json(&["agent", "purge", "feature/x", "--delete-files"]);
    assert_eq!(purged["id"], id.as_str());
    assert!(session_record(&repo, &id).contains_key("purged"));
    assert!(!branch_exists(&repo, "feature/x"));
    assert!(worktree_at(&repo, &worktree).is_none());

    // A new session on the branch is the one the branch names now.
    let (second, _) = launch_branch(&repo, "feature/x");
    close(&repo, &["--done", "feature/x"]);
    assert_eq!(session_status(&repo, &second), "completed");
    assert_eq!(
        session_status(&repo, &id),
        "idle",
        "the purged one is left alone"
    );
    repo.git(&["worktree", "remove", worktree.to_str().unwrap()]);
    let (third, _) = launch_branch(&repo, "feature/x");
    close(&repo, &["--done", &third]);
    // Two finished sessions on the branch (and a purged one): the newest is named.
    let shown = repo.pm_json(&["agent", "show", "feature/x"]);
    assert_eq!(shown["session"]["id"], third.as_str());

    // A branch spelt like a prefix of another session's id names its own session.
    let prefix = third[..10].to_lowercase();
    let (on_prefix, _) = launch_branch(&repo, &prefix);
    assert_ne!(on_prefix, third);
    let shown = repo.pm_json(&["agent", "show", &prefix]);
    assert_eq!(shown["session"]["id"], on_prefix.as_str());
    // ... while the upper-case prefix (no such branch) still names the session by id.
    let shown = repo.pm_json(&["agent", "show", &third[..10]]);
    assert_eq!(shown["session"]["id"], third.as_str());

    let line = refused(&repo, &["agent", "show", "no/such-branch"], 1);
    assert!(
        line.contains("no session with id or branch no/such-branch"),
        "{line}"
    );
    repo.assert_fsck_clean();
}

/// Issue 14 point 17: `show` and `events` inside a session's worktree need no id, as `close`.
#[test]
fn show_and_events_inside_a_worktree_default_to_its_session() {
    let repo = Repo::new();
    let (a, wt_a) = launch_branch(&repo, "feature/here");
    let (b, _) = launch_branch(&repo, "feature/there");
    let nested = wt_a.join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let shown = repo
        .pm_in(&nested, &["--json", "agent", "show"])
        .ok()
        .json();
    assert_eq!(shown["session"]["id"], a.as_str());
    assert_eq!(shown["session"]["worktree"], wt_a.to_str().unwrap());
    let events = repo
        .pm_in(&nested, &["--json", "agent", "events"])
        .ok()
        .json();
    assert_eq!(events["id"], a.as_str());
    let subjects = repo.git(&["log", "--format=%s", &session_ref(&a)]);
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        subjects.lines().count()
    );
    // In the main worktree no session is chosen silently.
    for command in ["show", "events"] {
        let line = refused(&repo, &["agent", command], 1);
        assert!(line.contains(&a) && line.contains(&b), "{line}");
    }
}

/// Issue 14 point 17: `pm agent list --issue ID` lists only that issue's sessions.
#[test]
fn list_filters_by_issue() {
    let repo = Repo::new();
    let first = repo.add("First issue", &[]);
    let second = repo.add("Second issue", &[]);
    let one = str_of(&launch(&repo, &["--issue", &first])["id"]);
    let two = str_of(&launch(&repo, &["--issue", &second])["id"]);
    let free = launch_branch(&repo, "no-issue").0;
    let done = str_of(
        &launch(
            &repo,
            &["--issue", &first, "--branch", "first-again", "--force"],
        )["id"],
    );
    close(&repo, &["--done", &done]);

    let prefix = first[..first.len() - 4].to_lowercase();
    assert_eq!(list_ids(&repo, &["--issue", &prefix]), vec![one.clone()]);
    assert_eq!(
        list_ids(&repo, &["--issue", &first, "--all"]),
        vec![done, one]
    );
    assert_eq!(list_ids(&repo, &["-i", &second]), vec![two]);
    assert_eq!(
        list_ids(&repo, &[]).len(),
        3,
        "{free} is listed without a filter"
    );
    let line = refused(&repo, &["agent", "list", "--issue", UNKNOWN_ID], 1);
    assert!(
        line.contains("no issue") && line.contains(UNKNOWN_ID),
        "{line}"
    );
}

// ---- reactivate ------------------------------------------------------------------------

#[test]
fn reactivate_brings_finished_sessions_back_as_idle() {
    let repo = Repo::new();
    let done_issue = repo.add("Not really done", &[]);
    let gone_issue = repo.add("Not really abandoned", &[]);
    let done = str_of(&launch(&repo, &["--issue", &done_issue])["id"]);
    let gone = str_of(&launch(&repo, &["--issue", &gone_issue])["id"]);
    close(&repo, &["--done", &done]);
    close(&repo, &["--abandon", &gone]);
    assert_eq!(issue_status(&repo, &done_issue), "done");
    assert_eq!(issue_status(&repo, &gone_issue), "open");

    for (id, issue, from) in [
        (&done, &done_issue, "completed"),
        (&gone, &gone_issue, "abandoned"),
    ] {
        let out = repo.pm_json(&["agent", "reactivate", id]);
        assert_eq!(out["changed"], true);
        assert_eq!(out["previous_status"], from);
        assert_eq!(out["status"], "idle");
        let record = session_record(&repo, id);
        assert_eq!(record["status"].as_str(), Some("idle"));
        assert!(!record.contains_key("ended"), "a live session has no end");
        assert_eq!(
            repo.subject(&session_ref(id)),
            format!("reactivate: {from} -> idle")
        );
        assert_eq!(issue_status(&repo, issue), "in_progress");
        // Live again: it can be resumed by launching on its branch.
        let doc = launch(&repo, &["--issue", issue]);
        assert_eq!(doc["id"], id.as_str());
        assert_eq!(session_status(&repo, id), "active");
    }

    // Only finished sessions can be reactivated.
    let line = refused(&repo, &["agent", "reactivate", &done], 1);
    assert!(line.contains("active"), "{line}");
    close(&repo, &[&done]);
    let line = refused(&repo, &["agent", "reactivate", &done], 1);
    assert!(line.contains("idle"), "{line}");
}

// ---- reconcile and list ----------------------------------------------------------------

/// Copy a real record's layout into a teammate's session (another owner), stored by hand,
/// together with stale local data that points at a missing folder, so only the owner check
/// keeps this clone from abandoning it.
fn craft_teammate_session(repo: &Repo, template_id: &str) -> String {
    let text = session_text(repo, template_id);
    let mine = clone_id(repo);
    assert!(text.contains(&mine));
    let crafted: String = text
        .lines()
        .filter(|l| !l.starts_with("issue ="))
        .map(|l| {
            if l.starts_with("id =") {
                format!("id = \"{TEAMMATE_SESSION}\"")
            } else if l.starts_with("owner =") {
                format!("owner = \"{TEAMMATE_CLONE}\"")
            } else if l.starts_with("branch =") {
                "branch = \"feature/teammate\"".to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert!(crafted.contains(TEAMMATE_CLONE) && !crafted.contains(&mine));
    craft_session(repo, TEAMMATE_SESSION, &crafted);
    let missing = repo.root().join("teammate-folder-not-here");
    std::fs::write(
        repo.path()
            .join(format!(".git/pm/sessions/{TEAMMATE_SESSION}.toml")),
        format!(
            "worktree = \"{}\"\nhost = \"elsewhere\"\n",
            missing.display()
        ),
    )
    .unwrap();
    session_tip(repo, TEAMMATE_SESSION)
}

#[test]
fn reconcile_abandons_live_sessions_whose_worktree_is_gone_and_prunes_git() {
    let repo = repo_with_file();
    let lost_issue = repo.add("Lost worktree", &[]);
    let lost = str_of(&launch(&repo, &["--issue", &lost_issue])["id"]);
    let lost_wt = default_worktree(&repo, "feature/lost-worktree");
    let (idle_lost, idle_wt) = launch_branch(&repo, "feature/idle-lost");
    close(&repo, &[&idle_lost]);
    let (kept, kept_wt) = launch_branch(&repo, "feature/kept");
    let (finished, finished_wt) = launch_branch(&repo, "feature/finished");
    close(&repo, &["--done", &finished]);
    let teammate_tip = craft_teammate_session(&repo, &kept);

    for wt in [&lost_wt, &idle_wt, &finished_wt] {
        std::fs::remove_dir_all(wt).unwrap();
        assert!(
            worktree_at(&repo, wt).unwrap().prunable,
            "git still lists it"
        );
    }
    let kept_tip = session_tip(&repo, &kept);
    let finished_tip = session_tip(&repo, &finished);

    // A dry run reports and changes nothing.
    let before = snapshot(&repo);
    let dry = repo.pm_json(&["agent", "reconcile", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let mut abandoned: Vec<String> = dry["abandoned"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    abandoned.sort();
    let mut expected = vec![lost.clone(), idle_lost.clone()];
    expected.sort();
    assert_eq!(abandoned, expected);
    assert_eq!(dry["pruned"].as_array().unwrap().len(), 3, "{dry}");
    assert_eq!(snapshot(&repo), before, "--dry-run wrote something");
    assert_eq!(issue_status(&repo, &lost_issue), "in_progress");
    let text = repo.pm_ok(&["--dry-run", "agent", "reconcile"]);
    assert!(
        text.contains(&format!("Would abandon session {lost}")),
        "{text}"
    );
    assert_eq!(snapshot(&repo), before);

    // The real thing.
    let doc = repo.pm_json(&["agent", "reconcile"]);
    assert_eq!(doc["dry_run"], false);
    let mut abandoned: Vec<String> = doc["abandoned"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    abandoned.sort();
    assert_eq!(abandoned, expected);
    let mut pruned: Vec<String> = doc["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    pruned.sort();
    let mut gone: Vec<String> = [&lost_wt, &idle_wt, &finished_wt]
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    gone.sort();
    assert_eq!(pruned, gone);

    for id in [&lost, &idle_lost] {
        assert_eq!(session_status(&repo, id), "abandoned");
        assert!(session_record(&repo, id).contains_key("ended"));
        assert!(repo.subject(&session_ref(id)).starts_with("reconcile: "));
    }
    assert_eq!(issue_status(&repo, &lost_issue), "open");
    // Terminal, intact and foreign sessions are left alone.
    assert_eq!(session_tip(&repo, &finished), finished_tip);
    assert_eq!(session_tip(&repo, &kept), kept_tip);
    assert_eq!(session_tip(&repo, TEAMMATE_SESSION), teammate_tip);
    // Git's stale entries are gone; the intact worktree stays.
    let listed: Vec<PathBuf> = worktrees(&repo).into_iter().map(|w| w.path).collect();
    assert_eq!(listed, [repo.path().to_path_buf(), kept_wt.clone()]);
    assert_eq!(status_porcelain(&repo, &kept_wt), "");

    // A second run has nothing to do.
    let text = repo.pm_ok(&["agent", "reconcile"]);
    assert_eq!(text, "Nothing to reconcile.\n");

    // An abandoned session can come back: reactivate makes its worktree again.
    repo.pm_ok(&["agent", "reactivate", &lost]);
    assert_eq!(session_status(&repo, &lost), "idle");
    assert_eq!(issue_status(&repo, &lost_issue), "in_progress");
    let entry = worktree_at(&repo, &lost_wt).expect("the worktree is back");
    assert_eq!(
        entry.branch.as_deref(),
        Some("refs/heads/feature/lost-worktree")
    );
    assert_eq!(status_porcelain(&repo, &lost_wt), "");
    repo.assert_fsck_clean();
}

#[test]
fn list_reconciles_first_but_never_touches_a_teammates_session() {
    let repo = Repo::new();
    let (gone, gone_wt) = launch_branch(&repo, "feature/gone");
    let (kept, _) = launch_branch(&repo, "feature/kept");
    let teammate_tip = craft_teammate_session(&repo, &kept);
    std::fs::remove_dir_all(&gone_wt).unwrap();

    let run = repo.pm(&["--json", "agent", "list"]).ok();
    assert!(
        run.stderr.contains(&gone) && run.stderr.contains("abandoned"),
        "list warns about what it reconciled: {}",
        run.stderr
    );
    let doc = run.json();
    let mut ids = ids_of(&doc);
    ids.sort();
    let mut expected = vec![kept.clone(), TEAMMATE_SESSION.to_string()];
    expected.sort();
    assert_eq!(ids, expected, "the abandoned one is no longer live");
    assert_eq!(session_status(&repo, &gone), "abandoned");
    assert!(
        worktree_at(&repo, &gone_wt).is_none(),
        "list pruned git's entry"
    );

    let theirs = find_session(&doc, TEAMMATE_SESSION);
    assert_eq!(theirs["mine"], false);
    assert_eq!(theirs["owner"], TEAMMATE_CLONE);
    assert_eq!(theirs["worktree"], Value::Null);
    assert_eq!(theirs["status"], "active");
    assert_eq!(find_session(&doc, &kept)["mine"], true);

    // Neither list nor reconcile, however often, abandons it.
    repo.pm_ok(&["agent", "list", "--all"]);
    let doc = repo.pm_json(&["agent", "reconcile"]);
    assert_eq!(doc["abandoned"], Value::Array(vec![]));
    assert_eq!(session_tip(&repo, TEAMMATE_SESSION), teammate_tip);
    assert_eq!(session_status(&repo, TEAMMATE_SESSION), "active");
    let text = repo.pm_ok(&["agent", "list"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "WORKTREE",
            "STARTED",
            "LAST ACTIVITY",
        ],
    );
    let row = rows
        .iter()
        .find(|r| r[0] == TEAMMATE_SESSION)
        .expect("the teammate's session is shown");
    assert_eq!(row[1], "feature/teammate");
    assert_eq!(row[2], "active");
    assert_eq!(row[4], "(another clone)");
}

#[test]
fn list_shows_live_sessions_by_default_and_filters_on_request() {
    let repo = Repo::new();
    assert_eq!(
        repo.pm_ok(&["agent", "list"]),
        "No sessions (use --all to include completed and abandoned ones).\n"
    );
    let (active, _) = launch_branch(&repo, "s-active");
    let (idle, _) = launch_branch(&repo, "s-idle");
    close(&repo, &[&idle]);
    let (completed, _) = launch_branch(&repo, "s-completed");
    close(&repo, &["--done", &completed]);
    let (abandoned, _) = launch_branch(&repo, "s-abandoned");
    close(&repo, &["--abandon", &abandoned]);

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let set = |ids: &[&String]| sorted(ids.iter().map(|s| s.to_string()).collect());

    assert_eq!(sorted(list_ids(&repo, &[])), set(&[&active, &idle]));
    assert_eq!(
        sorted(list_ids(&repo, &["--all"])),
        set(&[&active, &idle, &completed, &abandoned])
    );
    assert_eq!(
        list_ids(&repo, &["--status", "completed"]),
        [completed.as_str()]
    );
    assert_eq!(list_ids(&repo, &["--status", "idle"]), [idle.as_str()]);
    assert_eq!(
        sorted(list_ids(&repo, &["--status", "abandoned,active"])),
        set(&[&abandoned, &active])
    );
    assert_eq!(
        sorted(list_ids(&repo, &["-s", "completed", "-s", "abandoned"])),
        set(&[&completed, &abandoned])
    );
    // Newest first.
    let all = list_ids(&repo, &["--all"]);
    let mut started: Vec<String> = {
        let doc = repo.pm_json(&["agent", "list", "--all"]);
        all.iter()
            .map(|id| str_of(&find_session(&doc, id)["started"]))
            .collect()
    };
    let listed = started.clone();
    started.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, started, "newest first");

    // The text table shows the same rows.
    let text = repo.pm_ok(&["agent", "list"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "WORKTREE",
            "STARTED",
            "LAST ACTIVITY",
        ],
    );
    let mut shown: Vec<(String, String)> =
        rows.iter().map(|r| (r[0].clone(), r[2].clone())).collect();
    shown.sort();
    let mut expected = vec![
        (active.clone(), "active".into()),
        (idle.clone(), "idle".into()),
    ];
    expected.sort();
    assert_eq!(shown, expected);

    let line = refused(&repo, &["agent", "list", "--status", "sleeping"], 2);
    assert!(line.contains("sleeping"), "{line}");
}

// ---- history, show, events -------------------------------------------------------------

#[test]
fn commits_are_counted_for_real() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/counted");
    // Still at its base: no commit of its own to show.
    let doc = repo.pm_json(&["agent", "history"]);
    assert!(find_session(&doc, &id)["last_commit"].is_null(), "{doc}");
    commit_file(&repo, &wt, "one.txt", "1\n", "first change");
    let second = commit_file(&repo, &wt, "two.txt", "2\n", "second change");
    assert_eq!(
        repo.git(&["rev-list", "--count", "main..feature/counted"])
            .trim(),
        "2",
        "git's own count"
    );

    let doc = repo.pm_json(&["agent", "history"]);
    let s = find_session(&doc, &id);
    assert_eq!(s["commits"], 2);
    assert_eq!(s["last_commit"]["commit"], second.as_str());
    assert_eq!(s["last_commit"]["subject"], "second change");
    let text = repo.pm_ok(&["agent", "history"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "COMMITS",
            "DURATION",
            "LAST COMMIT",
        ],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], id);
    assert_eq!(rows[0][4], "2");
    assert!(rows[0][6].contains(&second[..8]), "{:?}", rows[0]);
    assert_eq!(
        find_session(&repo.pm_json(&["agent", "list"]), &id)["commits"],
        2
    );

    // Commits on main do not count; the stored count is right once the session is finished.
    repo.git(&["commit", "-q", "--allow-empty", "-m", "main moves on"]);
    close(&repo, &["--done", &id]);
    assert_eq!(session_record(&repo, &id)["commits"].as_integer(), Some(2));
    let doc = repo.pm_json(&["agent", "history"]);
    assert_eq!(find_session(&doc, &id)["commits"], 2);
    assert_eq!(find_session(&doc, &id)["status"], "completed");
}

/// `count` finished session records owned by clone `owner`, written with one `git fast-import`
/// (as another tool, or a clone that lost its notes, would leave them): no local notes.
fn import_finished_sessions(repo: &Repo, owner: &str, count: usize) -> Vec<String> {
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let mut stream = String::new();
    let mut ids = Vec::new();
    for i in 0..count {
        let id = format!("01ARZ3NDEKTSV4RRFFQ69{i:05}");
        let text = format!(
            "schema = 1\nid = \"{id}\"\nbranch = \"old/{i}\"\nbase = \"{base}\"\n\
             base_ref = \"main\"\nstatus = \"completed\"\nagent = \"x\"\nowner = \"{owner}\"\n\
             started = \"2020-01-02T03:04:05Z\"\nupdated = \"2020-01-02T03:04:05Z\"\n\
             ended = \"2020-01-02T04:04:05Z\"\ncommits = 1\n"
        );
        stream.push_str(&format!(
            "commit refs/pm/sessions/{id}\ncommitter a <a@x> 1577934245 +0000\ndata 6\nlaunch\n\
             M 100644 inline session.toml\ndata {}\n{text}\n",
            text.len()
        ));
        ids.push(id);
    }
    repo.git_stdin(&["fast-import", "--quiet"], stream.as_bytes());
    ids
}

/// Issue 14 point 21: the history of many sessions lists this clone's notes once instead of
/// trying to open a note for each session of the clone; a session whose note exists still
/// shows its worktree, the others none.
#[test]
fn a_long_history_still_shows_the_worktrees_this_clone_noted() {
    let repo = repo_with_file();
    let (noted, wt) = launch_branch(&repo, "feature/noted");
    close(&repo, &["--done", &noted]);
    let me = std::fs::read_to_string(repo.path().join(".git/pm/clone-id")).unwrap();
    let imported = import_finished_sessions(&repo, me.trim(), 100);
    let in_git = repo.git(&["for-each-ref", "--format=%(refname)", "refs/pm/sessions/"]);
    assert_eq!(in_git.lines().count(), 101, "git's own count");

    let doc = repo.pm_json(&["agent", "history"]);
    let mut shown = ids_of(&doc);
    shown.sort();
    let mut expected: Vec<String> = imported.clone();
    expected.push(noted.clone());
    expected.sort();
    assert_eq!(shown, expected);
    let s = find_session(&doc, &noted);
    assert_eq!(s["worktree"], wt.to_str().unwrap(), "{s}");
    assert_eq!(s["worktree_exists"], true);
    assert_eq!(s["mine"], true);
    for id in &imported {
        let s = find_session(&doc, id);
        assert_eq!(s["mine"], true, "{s}");
        assert!(s["worktree"].is_null(), "{s}");
        assert_eq!(s["commits"], 1);
        assert_eq!(s["duration"], 3600);
    }
    // The table has every session once, ids whole, newest first.
    let text = repo.pm_ok(&["agent", "history"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "COMMITS",
            "DURATION",
            "LAST COMMIT",
        ],
    );
    assert_eq!(rows.len(), 101);
    assert_eq!(rows[0][0], noted, "the newest first");
    let mut ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    ids.sort();
    assert_eq!(ids, expected);
    let old = rows.iter().find(|r| r[0] == imported[7]).expect("a row");
    assert_eq!(old[1..6], ["old/7", "completed", "-", "1", "1h 0m"]);
    // --limit keeps the newest.
    let doc = repo.pm_json(&["agent", "history", "--limit", "1"]);
    assert_eq!(ids_of(&doc), vec![noted]);
}

/// A history of thousands is written in parts on several threads: the document is the one
/// a short history gets (compared with `--limit`, which stays below the threshold), whole.
#[test]
fn a_history_of_thousands_is_one_whole_document() {
    let repo = repo_with_file();
    let imported = import_finished_sessions(&repo, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 17_000);
    let run = repo.pm(&["--json", "agent", "history"]).ok();
    assert!(
        run.stdout
            .starts_with("{\n  \"json_version\": 1,\n  \"sessions\": [\n    {\n")
    );
    assert!(
        run.stdout.ends_with("\n  ],\n  \"errors\": []\n}\n"),
        "{}",
        &run.stdout[run.stdout.len() - 200..]
    );
    let doc = run.json();
    let all = doc["sessions"].as_array().expect("sessions");
    assert_eq!(all.len(), imported.len());
    let mut expected = imported.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids_of(&doc), expected, "newest first, every one");
    let few = repo
        .pm(&["--json", "agent", "history", "--limit", "2000"])
        .ok();
    let few_doc = few.json();
    assert_eq!(few_doc["sessions"].as_array().unwrap()[..], all[..2000]);
    // The text itself: the first 2,000 sessions are laid out byte for byte the same.
    let cut = |text: &str| {
        text.match_indices("\n    },")
            .nth(1998)
            .map(|(at, _)| at)
            .unwrap()
    };
    assert_eq!(
        few.stdout[..cut(&few.stdout)],
        run.stdout[..cut(&run.stdout)]
    );
}

#[test]
fn show_reports_the_worktree_its_state_and_ahead_behind() {
    let repo = repo_with_file();
    let issue = repo.add("Show me", &[]);
    let doc = launch(&repo, &["--issue", &issue, "--role", "reviewer"]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));

    let show = repo.pm_json(&["agent", "show", &id[..10]]);
    let s = &show["session"];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["issue"], issue.as_str());
    assert_eq!(s["role"], "reviewer");
    assert_eq!(s["worktree"], wt.to_str().unwrap());
    assert_eq!(s["worktree_exists"], true);
    assert_eq!(s["mine"], true);
    assert_eq!(show["dirty"], false);
    assert_eq!(show["ahead"], 0);
    assert_eq!(show["behind"], 0);
    assert_eq!(show["purged"], Value::Null);

    // Two commits on the branch, one on main, a tracked file changed.
    commit_file(&repo, &wt, "a.txt", "a\n", "a");
    commit_file(&repo, &wt, "b.txt", "b\n", "b");
    repo.git(&["commit", "-q", "--allow-empty", "-m", "main moves on"]);
    std::fs::write(wt.join("README.txt"), "changed, and longer than before\n").unwrap();
    assert_ne!(status_porcelain(&repo, &wt), "", "git sees the change");
    let show = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(show["dirty"], true);
    assert_eq!(show["ahead"], 2);
    assert_eq!(show["behind"], 1);
    assert_eq!(show["session"]["commits"], 2);
    let text = repo.pm_ok(&["agent", "show", &id]);
    assert!(
        text.contains(&format!("{} (dirty)", wt.display())),
        "{text}"
    );
    assert!(text.contains("2 ahead, 1 behind main"), "{text}");

    // Clean again.
    repo.git_in(&wt, &["checkout", "--", "README.txt"]);
    assert_eq!(repo.pm_json(&["agent", "show", &id])["dirty"], false);

    // The folder gone: reported as missing, no dirty state.
    std::fs::remove_dir_all(&wt).unwrap();
    let show = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(show["session"]["worktree_exists"], false);
    assert_eq!(show["dirty"], Value::Null);
    let text = repo.pm_ok(&["agent", "show", &id]);
    assert!(
        text.contains(&format!("{} (missing)", wt.display())),
        "{text}"
    );

    let line = refused(&repo, &["agent", "show", UNKNOWN_ID], 1);
    assert!(line.contains(UNKNOWN_ID), "{line}");
}

#[test]
fn events_list_every_change_newest_first_one_commit_each() {
    let repo = Repo::new();
    let issue = repo.add("Eventful", &[]);
    let id = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    close(&repo, &[&id]);
    close(&repo, &[&id]); // idle -> idle writes nothing
    launch(&repo, &["--issue", &issue]);
    close(&repo, &["--done", &id]);
    repo.pm_ok(&["agent", "reactivate", &id]);
    close(&repo, &["--abandon", &id]);

    let expected = [
        "close: idle -> abandoned",
        "reactivate: completed -> idle",
        "close: active -> completed",
        "resume: idle -> active",
        "close: active -> idle",
        "launch: active on feature/eventful",
    ];
    assert_eq!(session_commit_count(&repo, &id), expected.len());
    let doc = repo.pm_json(&["agent", "events", &id[..12].to_lowercase()]);
    assert_eq!(doc["id"], id.as_str());
    let events = doc["events"].as_array().unwrap();
    let messages: Vec<String> = events.iter().map(|e| str_of(&e["message"])).collect();
    assert_eq!(messages, expected);
    let commits: Vec<String> = events.iter().map(|e| str_of(&e["commit"])).collect();
    let rev_list: Vec<String> = repo
        .git(&["rev-list", &session_ref(&id)])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(commits, rev_list, "one commit per event, newest first");
    for event in events {
        assert_eq!(event["author"], NAME);
        assert_eq!(event["email"], EMAIL);
    }

    let text = repo.pm_ok(&["agent", "events", &id]);
    let rows = table_rows(&text, &["TIME", "WHO", "WHAT"]);
    let whats: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(whats, expected);
    assert!(rows.iter().all(|r| r[1] == format!("{NAME} <{EMAIL}>")));

    refused(&repo, &["agent", "events", UNKNOWN_ID], 1);
}

// ---- purge -----------------------------------------------------------------------------

#[test]
fn purge_refuses_a_dirty_worktree_and_an_active_session_without_force() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/dirty");

    let line = refused(&repo, &["agent", "purge", &id], 1);
    assert!(line.contains("active"), "{line}");

    close(&repo, &[&id]);
    std::fs::write(wt.join("README.txt"), "uncommitted and longer\n").unwrap();
    let before_tip = session_tip(&repo, &id);
    let line = refused(&repo, &["agent", "purge", "--delete-files", &id], 1);
    assert!(line.contains("uncommitted"), "{line}");
    assert!(wt.join("README.txt").is_file());
    assert_eq!(
        std::fs::read_to_string(wt.join("README.txt")).unwrap(),
        "uncommitted and longer\n"
    );
    assert!(worktree_at(&repo, &wt).is_some());
    assert!(branch_exists(&repo, "feature/dirty"));
    assert_eq!(session_tip(&repo, &id), before_tip);
    assert_eq!(
        list_ids(&repo, &["--all"]),
        [id.as_str()],
        "the record is still there"
    );

    // With --force it goes, changes and all.
    let doc = repo.pm_json(&["agent", "purge", "--delete-files", "--force", &id]);
    assert_eq!(doc["removed_worktree"], wt.to_str().unwrap());
    assert!(!wt.exists());
    assert!(worktree_at(&repo, &wt).is_none());
    assert!(!branch_exists(&repo, "feature/dirty"));
}

#[test]
fn purge_dry_run_changes_nothing() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/dry");
    close(&repo, &[&id]);
    let before = snapshot(&repo);
    let doc = repo.pm_json(&["--dry-run", "agent", "purge", "--delete-files", &id]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["removed_worktree"], wt.to_str().unwrap());
    assert_eq!(doc["deleted_branch"], "feature/dry");
    let text = repo.pm_ok(&["agent", "purge", "-n", "--delete-files", &id]);
    assert!(
        text.starts_with(&format!("Would purge session {id}\n")),
        "{text}"
    );
    assert_eq!(snapshot(&repo), before);
    assert!(wt.is_dir());
    assert_eq!(list_ids(&repo, &[]), [id.as_str()]);
    assert!(!session_text(&repo, &id).contains("purged"));
}

#[test]
fn purge_with_delete_files_removes_a_merged_sessions_worktree_and_branch() {
    let repo = repo_with_file();
    let issue = repo.add("Merged work", &[]);
    let doc = launch(&repo, &["--issue", &issue]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));
    let branch = "feature/merged-work";
    let head = commit_file(&repo, &wt, "feature.txt", "done\n", "the feature");
    close(&repo, &["--done", &id]);
    repo.git(&["merge", "-q", "--ff-only", branch]);
    assert_eq!(repo.git(&["rev-parse", "main"]).trim(), head);
    let count = session_commit_count(&repo, &id);

    let doc = repo.pm_json(&["agent", "purge", "--delete-files", &id]);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["removed_worktree"], wt.to_str().unwrap());
    assert_eq!(doc["deleted_branch"], branch);

    // Files and branch are gone, git agrees.
    assert!(!wt.exists());
    assert!(worktree_at(&repo, &wt).is_none());
    assert_eq!(worktrees(&repo).len(), 1);
    assert!(!branch_exists(&repo, branch));
    assert_eq!(
        repo.git(&["rev-parse", "main"]).trim(),
        head,
        "main is untouched"
    );

    // The record stays as a tombstone: one more commit, marked purged.
    assert_eq!(session_ids(&repo), [id.as_str()]);
    assert_eq!(session_commit_count(&repo, &id), count + 1);
    assert_eq!(repo.subject(&session_ref(&id)), "purge: completed");
    let record = session_record(&repo, &id);
    assert!(record.contains_key("purged"), "tombstone: {record:?}");
    assert_eq!(record["status"].as_str(), Some("completed"));
    // … and pm no longer shows it.
    assert!(list_ids(&repo, &["--all"]).is_empty());
    assert!(ids_of(&repo.pm_json(&["agent", "history"])).is_empty());
    assert!(!repo.pm_json(&["agent", "show", &id])["purged"].is_null());
    let line = refused(&repo, &["agent", "purge", &id], 1);
    assert!(line.contains("already purged"), "{line}");
    // The issue keeps its state.
    assert_eq!(issue_status(&repo, &issue), "done");
    repo.assert_fsck_clean();
}

#[test]
fn reactivating_a_purged_session_fails_without_making_anything() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/purged");
    close(&repo, &["--done", &id]);
    repo.pm_ok(&["agent", "purge", "--delete-files", &id]);
    assert!(!branch_exists(&repo, "feature/purged"));

    let line = refused(&repo, &["agent", "reactivate", &id], 1);
    assert!(line.contains("purged"), "{line}");
    assert!(!wt.exists());
    assert!(!branch_exists(&repo, "feature/purged"));
}

#[test]
fn purge_without_delete_files_keeps_worktree_and_branch() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/keep-files");
    close(&repo, &["--abandon", &id]);
    let doc = repo.pm_json(&["agent", "purge", &id]);
    assert_eq!(doc["removed_worktree"], Value::Null);
    assert_eq!(doc["deleted_branch"], Value::Null);
    assert!(worktree_at(&repo, &wt).is_some());
    assert!(branch_exists(&repo, "feature/keep-files"));
    assert!(session_record(&repo, &id).contains_key("purged"));
    assert!(list_ids(&repo, &["--all"]).is_empty());
}

#[test]
fn purge_refuses_a_branch_with_unmerged_commits_without_force() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/unmerged");
    let head = commit_file(&repo, &wt, "only-here.txt", "precious\n", "only here");
    close(&repo, &["--abandon", &id]);

    let line = refused(&repo, &["agent", "purge", "--delete-files", &id], 1);
    assert!(
        line.contains("feature/unmerged") && line.contains("1 commit"),
        "{line}"
    );
    assert!(wt.join("only-here.txt").is_file());
    assert!(!session_text(&repo, &id).contains("purged"));

    // Once another branch holds the commit, it may go.
    repo.git(&["branch", "keeper", &head]);
    let doc = repo.pm_json(&["agent", "purge", "--delete-files", &id]);
    assert_eq!(doc["deleted_branch"], "feature/unmerged");
    assert!(!branch_exists(&repo, "feature/unmerged"));
    assert!(!wt.exists());
    assert_eq!(repo.git(&["rev-parse", "keeper"]).trim(), head);

    // --force deletes a branch whose commits are nowhere else.
    let (id2, wt2) = launch_branch(&repo, "feature/forced");
    commit_file(&repo, &wt2, "lost.txt", "lost\n", "lost");
    close(&repo, &[&id2]);
    refused(&repo, &["agent", "purge", "--delete-files", &id2], 1);
    let doc = repo.pm_json(&["agent", "purge", "--delete-files", "--force", &id2]);
    assert_eq!(doc["deleted_branch"], "feature/forced");
    assert!(!branch_exists(&repo, "feature/forced"));
    assert!(worktree_at(&repo, &wt2).is_none());
    repo.assert_fsck_clean();
}

// ---- bad input -------------------------------------------------------------------------

#[test]
fn launch_outside_a_repository_fails_cleanly() {
    let repo = Repo::new();
    let outside = repo.scratch_dir("outside");
    let line = refused_in(&repo, &outside, &["agent", "launch", "--branch", "x"], 1);
    assert!(line.contains("not a git repository"), "{line}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!repo.root().join("outside.worktrees").exists());
}

#[test]
fn launch_refusals_leave_nothing_behind() {
    let repo = Repo::new();
    let issue = repo.add("Real issue", &[]);

    // Neither --issue nor --branch.
    let line = refused(&repo, &["agent", "launch"], 2);
    assert!(
        line.contains("--issue") && line.contains("--branch"),
        "{line}"
    );

    // An unknown issue.
    let line = refused(&repo, &["agent", "launch", "--issue", UNKNOWN_ID], 1);
    assert!(
        line.contains("no issue") && line.contains(UNKNOWN_ID),
        "{line}"
    );

    // A title that gives no branch name.
    let symbols = repo.add("!!!", &[]);
    let line = refused(&repo, &["agent", "launch", "--issue", &symbols], 2);
    assert!(line.contains("--branch"), "{line}");

    // Invalid branch names.
    for bad in [
        "bad..name",
        "--branch=-x",
        "has space",
        "HEAD",
        "refs/heads/x",
        "x.lock",
    ] {
        let args = if bad.starts_with("--branch=") {
            vec!["agent", "launch", bad]
        } else {
            vec!["agent", "launch", "--branch", bad]
        };
        let line = refused(&repo, &args, 2);
        assert!(line.contains("invalid branch name"), "{bad}: {line}");
    }

    // The main worktree's branch, and a branch checked out in another worktree.
    let line = refused(&repo, &["agent", "launch", "--branch", "main"], 1);
    assert!(line.contains("already checked out"), "{line}");
    let elsewhere = repo.root().join("elsewhere");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "taken",
        elsewhere.to_str().unwrap(),
    ]);
    let line = refused(&repo, &["agent", "launch", "--branch", "taken"], 1);
    assert!(
        line.contains("already checked out") && line.contains("elsewhere"),
        "{line}"
    );

    // An existing, non-empty folder where the worktree would go.
    let folder = default_worktree(&repo, "feature/real-issue");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("keep.txt"), "mine\n").unwrap();
    let line = refused(&repo, &["agent", "launch", "--issue", &issue], 1);
    assert!(line.contains("not empty"), "{line}");
    assert_eq!(
        std::fs::read_to_string(folder.join("keep.txt")).unwrap(),
        "mine\n"
    );
    assert!(!branch_exists(&repo, "feature/real-issue"));

    // An unknown base.
    let line = refused(
        &repo,
        &[
            "agent",
            "launch",
            "--branch",
            "new",
            "--base",
            "no-such-rev",
        ],
        1,
    );
    assert!(line.contains("no-such-rev"), "{line}");

    assert!(session_ids(&repo).is_empty());
    assert_eq!(issue_status(&repo, &issue), "open");

    // An empty folder is fine to use.
    std::fs::remove_file(folder.join("keep.txt")).unwrap();
    let doc = launch(&repo, &["--issue", &issue]);
    assert_eq!(doc["worktree"], folder.to_str().unwrap());
    assert_eq!(status_porcelain(&repo, &folder), "");
}

/// Issue 14 point 16: a branch whose ref file name or worktree folder name would be too long
/// is refused up front with the reason, not an internal failure of the ref or worktree step.
#[test]
fn over_long_branch_names_are_refused_as_file_names_too_long() {
    let repo = Repo::new();
    let long_part = format!("x/{}", "a".repeat(300));
    let line = refused(&repo, &["agent", "launch", "--branch", &long_part], 2);
    assert!(
        line.contains("invalid branch name") && line.contains("file name too long"),
        "{line}"
    );
    // Every part fits, but the folder name (parts joined by `-`) would not.
    let long_folder = format!("{}/{}", "a".repeat(200), "b".repeat(200));
    let line = refused(&repo, &["agent", "launch", "--branch", &long_folder], 2);
    assert!(
        line.contains("file name too long") && line.contains("worktree folder"),
        "{line}"
    );
    assert!(!branch_exists(&repo, &long_folder));
    assert!(!repo.root().join("repo.worktrees").exists());
    assert!(session_ids(&repo).is_empty());
    // The longest part git can lock (250 bytes) still works, as it does with git.
    let longest = format!("x/{}", "a".repeat(250));
    let (_, worktree) = launch_branch(&repo, &longest);
    let entry = worktree_at(&repo, &worktree).expect("git lists the worktree");
    assert_eq!(entry.branch, Some(format!("refs/heads/{longest}")));
}

/// Issue 14 point 16: a misspelt key in `.pm.toml` or the user's config is not dropped
/// silently: each is named once on stderr, with its file and the closest known key.
#[test]
fn unknown_config_keys_are_named_once_with_the_closest_key() {
    let repo = Repo::new();
    std::fs::write(
        repo.path().join(".pm.toml"),
        "worktree_dirr = \"trees/{branch}\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let user = repo.home().join(".config/pm/config.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "branch-prefix = \"agent/\"\n").unwrap();
    let issue = repo.add("Configured", &[]);

    let run = repo
        .pm(&["--json", "agent", "launch", "--issue", &issue])
        .ok();
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        warnings.len(),
        3,
        "one line per unknown key:\n{}",
        run.stderr
    );
    let pm_toml = repo.path().join(".pm.toml");
    let expect = [
        (
            "\"worktree_dirr\"",
            pm_toml.display().to_string(),
            "did you mean \"worktree_dir\"",
        ),
        (
            "\"colour\"",
            pm_toml.display().to_string(),
            "known keys are",
        ),
        (
            "\"branch-prefix\"",
            user.display().to_string(),
            "did you mean \"branch_prefix\"",
        ),
    ];
    for (key, file, hint) in expect {
        let line = warnings
            .iter()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no warning names {key}:\n{}", run.stderr));
        assert!(line.starts_with("warning: unknown key"), "{line}");
        assert!(line.contains(&file) && line.contains(hint), "{line}");
    }
    // The misspelt settings had no effect: default branch prefix and worktree folder.
    let doc = run.json();
    assert_eq!(doc["branch"], "feature/configured");
    let wt = default_worktree(&repo, "feature/configured");
    assert_eq!(doc["worktree"], wt.to_str().unwrap());
    assert!(worktree_at(&repo, &wt).is_some());
    // Any command warns, once.
    let run = repo.pm(&["issue", "list"]).ok();
    assert_eq!(
        run.stderr.matches("worktree_dirr").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_launch_that_fails_part_way_rolls_back_the_branch_and_folders() {
    let repo = Repo::new();
    // git's worktree admin folder is a file: the branch can be made, the worktree cannot.
    std::fs::write(repo.path().join(".git/worktrees"), "in the way\n").unwrap();
    let line = refused(&repo, &["agent", "launch", "--branch", "feature/half"], 1);
    assert!(line.contains("feature/half"), "{line}");
    assert!(!branch_exists(&repo, "feature/half"));
    assert!(!repo.root().join("repo.worktrees").exists());
    assert!(session_ids(&repo).is_empty());
    assert_eq!(
        repo.git(&["for-each-ref", "--format=%(refname)", "refs/heads/"]),
        "refs/heads/main\n"
    );
}

// ---- several sessions on one issue -----------------------------------------------------

#[test]
fn a_second_live_session_on_one_issue_needs_force_and_the_last_one_decides_the_issue() {
    let repo = Repo::new();
    let issue = repo.add("Shared work", &[]);
    let first = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    let second_args = [
        "agent",
        "launch",
        "--issue",
        &issue,
        "--branch",
        "feature/second",
    ];

    // Refused, naming the session that holds the issue; nothing is made, not even in a dry run.
    let line = refused(&repo, &second_args, 1);
    assert!(
        line.contains(&issue) && line.contains(&first) && line.contains("force"),
        "{line}"
    );
    let mut dry = vec!["--dry-run"];
    dry.extend_from_slice(&second_args);
    assert!(refused(&repo, &dry, 1).contains(&first));
    assert!(!branch_exists(&repo, "feature/second"));
    assert_eq!(session_ids(&repo), vec![first.clone()]);

    let mut forced = second_args.to_vec();
    forced.push("--force");
    let second = str_of(&repo.pm_json(&forced)["id"]);
    assert_eq!(issue_status(&repo, &issue), "in_progress");

    // Abandoning one while the other is live leaves the issue in progress; the last one
    // abandoned reopens it.
    close(&repo, &["--abandon", &first]);
    assert_eq!(session_status(&repo, &first), "abandoned");
    assert_eq!(issue_status(&repo, &issue), "in_progress");
    close(&repo, &["--abandon", &second]);
    assert_eq!(issue_status(&repo, &issue), "open");

    // Reactivating follows the same rule as launching.
    repo.pm_ok(&["agent", "reactivate", &first]);
    assert_eq!(issue_status(&repo, &issue), "in_progress");
    let line = refused(&repo, &["agent", "reactivate", &second], 1);
    assert!(line.contains(&first) && line.contains("force"), "{line}");
    assert_eq!(session_status(&repo, &second), "abandoned");
    repo.pm_ok(&["agent", "reactivate", &second, "--force"]);
    assert_eq!(session_status(&repo, &second), "idle");

    // A worktree gone while the other session is live: abandoned, the issue stays in progress.
    let second_wt = default_worktree(&repo, "feature/second");
    std::fs::remove_dir_all(&second_wt).unwrap();
    repo.pm_ok(&["agent", "list"]);
    assert_eq!(session_status(&repo, &second), "abandoned");
    assert_eq!(issue_status(&repo, &issue), "in_progress");
    repo.pm_ok(&["agent", "reactivate", &second, "--force"]);
    assert!(second_wt.exists());

    // Completing one marks the issue done; the other stays as it is, and abandoning it
    // afterwards does not reopen an issue that was finished.
    close(&repo, &["--done", &first]);
    assert_eq!(issue_status(&repo, &issue), "done");
    assert_eq!(session_status(&repo, &second), "idle");
    let issue_commits = repo.commit_count(&issue);
    repo.pm_ok(&["agent", "list"]);
    assert_eq!(
        repo.commit_count(&issue),
        issue_commits,
        "list changed the issue"
    );
    close(&repo, &["--abandon", &second]);
    assert_eq!(issue_status(&repo, &issue), "done");
    repo.assert_fsck_clean();
}

// ---- issue updates lost to a crash -----------------------------------------------------

/// `secs` (less than a day) as the record's time format.
fn record_time(secs: i64) -> String {
    format!(
        "1970-01-01T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Move session `id` to `status` at `secs` the way pm writes a change (one commit on the
/// record's tip), but without the issue update that must follow: what a process killed between
/// the two writes leaves behind.
fn change_session_without_its_issue(repo: &Repo, id: &str, status: &str, secs: i64) {
    let before = session_tip(repo, id);
    let old_status = session_status(repo, id);
    let time = record_time(secs);
    let mut text = String::new();
    for line in session_text(repo, id).lines() {
        if line.starts_with("status =") {
            text.push_str(&format!("status = \"{status}\"\n"));
        } else if line.starts_with("updated =") {
            text.push_str(&format!("updated = \"{time}\"\n"));
            if status == "completed" || status == "abandoned" {
                text.push_str(&format!("ended = \"{time}\"\n"));
            }
        } else if !line.starts_with("ended =") {
            text.push_str(line);
            text.push('\n');
        }
    }
    let blob = repo.write_blob(&text);
    let tree = repo
        .git_stdin(
            &["mktree"],
            format!("100644 blob {blob}\tsession.toml\n").as_bytes(),
        )
        .trim()
        .to_string();
    let message = format!("close: {old_status} -> {status}");
    let commit = repo
        .git(&["commit-tree", "-m", &message, "-p", &before, &tree])
        .trim()
        .to_string();
    repo.git(&["update-ref", &session_ref(id), &commit, &before]);
    assert_eq!(session_status(repo, id), status);
}

#[test]
fn issue_updates_lost_to_a_crash_are_repaired_by_the_next_list() {
    let repo = Repo::new();
    let launch_at = |secs: i64, issue: &str, branch: &str| -> String {
        let run = repo.pm_at(
            secs,
            &[
                "--json", "agent", "launch", "--issue", issue, "--branch", branch,
            ],
        );
        str_of(&run.ok().json()["id"])
    };
    // Completed, but the issue was not marked done.
    let done_issue = repo.add_at(1000, "Crash after done", &[]);
    let done = launch_at(1000, &done_issue, "feature/done");
    change_session_without_its_issue(&repo, &done, "completed", 2000);
    // Abandoned, but the issue was not reopened.
    let open_issue = repo.add_at(1000, "Crash after abandon", &[]);
    let abandoned = launch_at(1000, &open_issue, "feature/abandoned");
    change_session_without_its_issue(&repo, &abandoned, "abandoned", 2000);
    // Paused, the issue set back to open by hand, then resumed: the resume's update is lost.
    let resumed_issue = repo.add_at(1000, "Crash after resume", &[]);
    let resumed = launch_at(1000, &resumed_issue, "feature/resumed");
    repo.pm_at(1100, &["agent", "close", &resumed]).ok();
    repo.pm_at(
        1200,
        &["issue", "update", &resumed_issue, "--status", "open"],
    )
    .ok();
    change_session_without_its_issue(&repo, &resumed, "active", 2000);
    for issue in [&done_issue, &open_issue] {
        assert_eq!(issue_status(&repo, issue), "in_progress");
    }
    assert_eq!(issue_status(&repo, &resumed_issue), "open");

    // A dry run only says so.
    let before = snapshot(&repo);
    let dry = repo.pm_full(
        repo.path(),
        &[("PM_NOW", "3000")],
        &["--json", "--dry-run", "agent", "reconcile"],
    );
    assert_eq!(dry.ok().json()["repaired"].as_array().unwrap().len(), 3);
    assert_eq!(snapshot(&repo), before, "--dry-run wrote something");

    let run = repo.pm_at(3000, &["agent", "list"]).ok();
    assert!(
        run.stderr.contains(&done_issue) && run.stderr.contains(&done),
        "list says what it repaired: {}",
        run.stderr
    );
    assert_eq!(issue_status(&repo, &done_issue), "done");
    assert!(repo.record(&done_issue).contains_key("closed"));
    assert_eq!(issue_status(&repo, &open_issue), "open");
    assert_eq!(issue_status(&repo, &resumed_issue), "in_progress");
    let subject = repo.subject(&format!("refs/pm/issues/{done_issue}"));
    assert!(
        subject.starts_with("update: status in_progress -> done") && subject.contains(&done),
        "{subject}"
    );
    // Sessions are left as they are, and a second run has nothing to do.
    assert_eq!(session_status(&repo, &done), "completed");
    let tips: Vec<String> = [&done_issue, &open_issue, &resumed_issue]
        .iter()
        .map(|id| repo.tip(id))
        .collect();
    let doc = repo.pm_json(&["agent", "reconcile"]);
    assert_eq!(doc["repaired"], Value::Array(vec![]), "{doc}");
    let after: Vec<String> = [&done_issue, &open_issue, &resumed_issue]
        .iter()
        .map(|id| repo.tip(id))
        .collect();
    assert_eq!(after, tips);
    repo.assert_fsck_clean();
}

#[test]
fn a_status_set_by_hand_after_the_session_change_is_never_undone() {
    let repo = Repo::new();
    let issue = repo.add_at(1000, "Keep my status", &[]);
    let doc = repo
        .pm_at(1000, &["--json", "agent", "launch", "--issue", &issue])
        .ok()
        .json();
    let id = str_of(&doc["id"]);
    change_session_without_its_issue(&repo, &id, "completed", 2000);
    // Somebody sets the issue by hand, later than the session ended.
    repo.pm_at(2500, &["issue", "update", &issue, "--status", "open"])
        .ok();
    let commits = repo.commit_count(&issue);
    repo.pm_at(3000, &["agent", "list"]).ok();
    repo.pm_at(3000, &["agent", "reconcile"]).ok();
    assert_eq!(issue_status(&repo, &issue), "open");
    assert_eq!(repo.commit_count(&issue), commits);

    // Within the same second the order of the two changes is unknown: left alone as well.
    let other = repo.add_at(4000, "Same second", &[]);
    let doc = repo
        .pm_at(4000, &["--json", "agent", "launch", "--issue", &other])
        .ok()
        .json();
    change_session_without_its_issue(&repo, &str_of(&doc["id"]), "completed", 4000);
    repo.pm_at(5000, &["agent", "list"]).ok();
    assert_eq!(issue_status(&repo, &other), "in_progress");
}

#[test]
fn a_lost_cascade_is_repaired_even_after_other_edits_of_the_issue() {
    let repo = Repo::new();
    let issue = repo.add_at(1000, "Edited later", &[]);
    let doc = repo
        .pm_at(1000, &["--json", "agent", "launch", "--issue", &issue])
        .ok()
        .json();
    let id = str_of(&doc["id"]);
    change_session_without_its_issue(&repo, &id, "completed", 2000);
    // A later edit that is not a status change does not hide the missing cascade.
    repo.pm_at(2500, &["issue", "update", &issue, "--priority", "high"])
        .ok();
    repo.pm_at(3000, &["agent", "list"]).ok();
    assert_eq!(issue_status(&repo, &issue), "done");
    assert_eq!(repo.record(&issue)["priority"].as_str(), Some("high"));
}
