//! In-process tests of the operations against a [`Workspace`] on a real temporary repository:
//! each test opens the workspace once, drives the ops directly (as a front end would) and asks
//! git itself what happened (`git for-each-ref`, `git worktree list --porcelain`). The front
//! ends' own tests drive the binary; these pin the core's contract without one.

mod issue_ops;
mod queries;
mod session_ops;

use crate::api;
use crate::lifecycle::SessionEvent;
use crate::model::issue::NewIssue;
use crate::model::{IssueStatus, IssueType, Priority, SessionStatus, Timestamp};
use crate::ops::sessions::{
    CloseRequest, LaunchRequest, ListRequest, PurgeRequest, ReactivateRequest, ReconcileRequest,
};
use crate::ops::{issues, overview, sessions};
use crate::store::Mode;
use crate::workspace::{Clock, Workspace};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The time every change in these tests records.
const NOW: Timestamp = Timestamp(1_800_000_000);

/// A temporary repository: `<tmp>/repo` with one commit on `main`, and a `.pm.toml` that puts
/// worktrees in `<tmp>/repo.worktrees/` whatever the user's own settings say.
struct Repo {
    _tmp: tempfile::TempDir,
    main: PathBuf,
}

impl Repo {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let main = tmp.path().join("repo");
        git_in(tmp.path(), &["init", "-q", "-b", "main", "repo"]);
        for (key, value) in [
            ("user.name", "Ops Test"),
            ("user.email", "ops@example.com"),
            ("commit.gpgsign", "false"),
        ] {
            git_in(&main, &["config", key, value]);
        }
        std::fs::write(main.join("README"), "hello\n").expect("write README");
        std::fs::write(
            main.join(".pm.toml"),
            "branch_prefix = \"feature/\"\nworktree_dir = \"{repo}.worktrees/{branch}\"\n\
             agent = \"claude\"\nremote = \"origin\"\n",
        )
        .expect("write .pm.toml");
        git_in(&main, &["add", "."]);
        git_in(&main, &["commit", "-q", "-m", "init"]);
        Repo { _tmp: tmp, main }
    }

    fn workspace(&self) -> Workspace {
        Workspace::open(&self.main)
            .expect("the workspace opens")
            .with_clock(Clock::Fixed(NOW))
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(&self.main, args)
    }

    /// Every record ref with its commit: what any write of pm changes.
    fn pm_refs(&self) -> String {
        self.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/pm",
        ])
    }

    fn branch_tip(&self, branch: &str) -> Option<String> {
        let out = self.git(&[
            "for-each-ref",
            "--format=%(objectname)",
            &format!("refs/heads/{branch}"),
        ]);
        Some(out.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// The `worktree <path>` and `branch <ref>` lines of `git worktree list --porcelain`.
    fn worktrees(&self) -> Vec<String> {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree ") || l.starts_with("branch "))
            .map(str::to_string)
            .collect()
    }

    fn lists_worktree(&self, path: &Path) -> bool {
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.worktrees().iter().any(|l| {
            l.strip_prefix("worktree ")
                .is_some_and(|p| Path::new(p) == path || Path::new(p) == real)
        })
    }
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = crate::git::command::run_in(dir, args).expect("git runs");
    assert!(out.success, "git {args:?} failed: {}", out.stderr);
    out.stdout
}

fn new_issue(title: &str, tags: &[&str]) -> NewIssue {
    NewIssue {
        title: title.into(),
        description: String::new(),
        body: String::new(),
        priority: Priority::Medium,
        kind: IssueType::Feature,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn launch_request(issue: Option<&str>, branch: Option<&str>) -> LaunchRequest {
    LaunchRequest {
        issue: issue.map(str::to_string),
        branch: branch.map(str::to_string),
        prompt: "do the work".into(),
        role: "implementer".into(),
        ..LaunchRequest::default()
    }
}

/// `view` as the document front ends send: `json_version` 1 and exactly `keys`.
fn assert_document<T: serde::Serialize>(view: &T, keys: &[&str]) -> Value {
    let doc = api::value(view).expect("the view encodes");
    assert_eq!(doc["json_version"], 1, "{doc}");
    let mut got: Vec<&str> = doc
        .as_object()
        .expect("a document is an object")
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want: Vec<&str> = keys.iter().copied().chain(["json_version"]).collect();
    want.sort_unstable();
    assert_eq!(got, want, "{doc}");
    doc
}
