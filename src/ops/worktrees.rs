//! The repository's worktrees as a whole: every one of them (the main one, the sessions', and
//! any made with `git worktree add`) with the session that owns it, and the pruning of git's
//! entries of worktrees whose folder is gone. A session's own worktree is made and removed by
//! `provision`; nothing here makes or removes a folder.

use crate::error::Result;
use crate::git::worktree::{self, Entry};
use crate::model::Session;
use crate::ops::sessions::ahead_behind_of;
use crate::store::Mode;
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::path::PathBuf;

/// A worktree with what pm knows of it.
#[derive(Debug, Clone)]
pub struct Worktree {
    pub entry: Entry,
    /// The session working there: the live session on its branch, else the session this
    /// clone made the folder for.
    pub session: Option<Session>,
    /// Uncommitted changes to tracked files (`None` when the folder is gone or unreadable).
    pub dirty: Option<bool>,
    /// What ahead and behind count from: the session's base, else the main worktree's branch
    /// (or commit); `None` for the main worktree itself.
    pub base: Option<String>,
    /// Commits on the worktree's HEAD that its base lacks, and the other way round.
    pub ahead_behind: Option<(u32, u32)>,
}

/// Every worktree of the repository, the main one first.
pub fn list(ws: &Workspace) -> Result<Vec<Worktree>> {
    let repo = ws.repo();
    let entries = worktree::list(repo)?;
    let live = super::sessions::live_sessions(ws)?;
    let notes = noted_worktrees(ws);
    let main_head = entries.first().and_then(|main| {
        let name = main.branch.clone().or(main.head.map(|h| h.to_string()))?;
        Some((name, main.head?))
    });
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let session = owner(ws, &entry, &live, &notes);
        let (base, ahead_behind) = match (&session, &main_head) {
            _ if entry.main => (None, None),
            (Some(s), _) => (Some(s.base_ref.clone()), ahead_behind_of(repo, s)),
            (None, Some((name, main))) => (
                Some(name.clone()),
                entry.head.and_then(|head| counts(repo, head, *main)),
            ),
            (None, None) => (None, None),
        };
        let dirty = if entry.prunable || !entry.path.is_dir() {
            None
        } else {
            worktree::is_dirty(&entry.path).ok()
        };
        out.push(Worktree {
            entry,
            session,
            dirty,
            base,
            ahead_behind,
        });
    }
    Ok(out)
}

fn counts(repo: &gix::Repository, head: gix::ObjectId, base: gix::ObjectId) -> Option<(u32, u32)> {
    let ahead = worktree::count_commits(repo, head, base).ok()?;
    let behind = worktree::count_commits(repo, base, head).ok()?;
    Some((ahead, behind))
}

/// The folders this clone made for its sessions, by their resolved path.
fn noted_worktrees(ws: &Workspace) -> HashMap<PathBuf, String> {
    let local = ws.local();
    local
        .session_ids()
        .into_iter()
        .filter_map(|id| {
            let note = local.session(&id)?;
            Some((worktree::resolve_existing(&note.worktree), id))
        })
        .collect()
}

fn owner(
    ws: &Workspace,
    entry: &Entry,
    live: &[Session],
    notes: &HashMap<PathBuf, String>,
) -> Option<Session> {
    if let Some(branch) = &entry.branch
        && let Some(session) = live.iter().find(|s| &s.branch == branch)
    {
        return Some(session.clone());
    }
    let id = notes.get(&worktree::resolve_existing(&entry.path))?;
    let session = ws.store().read::<Session>(id).ok()?.record;
    (!session.is_purged()).then_some(session)
}

/// Remove git's entries of worktrees whose folder is gone (`git worktree prune`); in a dry
/// run, only say which. Returns the folders they pointed at.
pub fn prune(ws: &Workspace, mode: Mode) -> Result<Vec<PathBuf>> {
    worktree::prune(ws.repo(), mode == Mode::DryRun)
}
