//! Views of the repository's worktrees.

use crate::model::SessionStatus;
use crate::ops::worktrees::Worktree;
use crate::store::Mode;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One worktree.
#[derive(Debug, Serialize)]
pub struct WorktreeJson<'a> {
    pub path: &'a Path,
    /// The main worktree (where the repository's `.git` folder is).
    pub main: bool,
    /// The branch checked out (`null`: a detached HEAD).
    pub branch: Option<&'a str>,
    /// The commit checked out.
    pub head: Option<String>,
    /// The folder is there (a linked worktree's may be gone: then it is `prunable`).
    pub exists: bool,
    pub locked: bool,
    pub prunable: bool,
    /// The session working there.
    pub session: Option<WorktreeSession<'a>>,
    /// Uncommitted changes to tracked files (`null` when unknown).
    pub dirty: Option<bool>,
    /// What `ahead` and `behind` count from: the session's base, else the main worktree's
    /// branch.
    pub base: Option<&'a str>,
    pub ahead: Option<u32>,
    pub behind: Option<u32>,
}

/// The session that owns a worktree.
#[derive(Debug, Serialize)]
pub struct WorktreeSession<'a> {
    pub id: &'a str,
    pub status: SessionStatus,
    pub issue: Option<&'a str>,
}

impl<'a> From<&'a Worktree> for WorktreeJson<'a> {
    fn from(w: &'a Worktree) -> Self {
        WorktreeJson {
            path: &w.entry.path,
            main: w.entry.main,
            branch: w.entry.branch.as_deref(),
            head: w.entry.head.map(|h| h.to_string()),
            exists: w.entry.path.is_dir() && !w.entry.prunable,
            locked: w.entry.locked,
            prunable: w.entry.prunable,
            session: w.session.as_ref().map(|s| WorktreeSession {
                id: &s.id,
                status: s.status,
                issue: s.issue.as_deref(),
            }),
            dirty: w.dirty,
            base: w.base.as_deref(),
            ahead: w.ahead_behind.map(|(a, _)| a),
            behind: w.ahead_behind.map(|(_, b)| b),
        }
    }
}

/// Every worktree of the repository, the main one first.
#[derive(Debug, Serialize)]
pub struct WorktreeList<'a> {
    pub worktrees: Vec<WorktreeJson<'a>>,
}

impl<'a> WorktreeList<'a> {
    pub fn new(worktrees: &'a [Worktree]) -> Self {
        WorktreeList {
            worktrees: worktrees.iter().map(WorktreeJson::from).collect(),
        }
    }
}

/// git's entries of worktrees whose folder was gone, removed (in a dry run: to remove).
#[derive(Debug, Serialize)]
pub struct WorktreesPruned<'a> {
    pub dry_run: bool,
    pub pruned: &'a [PathBuf],
}

impl<'a> WorktreesPruned<'a> {
    pub fn new(pruned: &'a [PathBuf], mode: Mode) -> Self {
        WorktreesPruned {
            dry_run: mode == Mode::DryRun,
            pruned,
        }
    }
}
