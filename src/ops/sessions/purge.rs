use super::query::resolve_session;
use super::same_path;
use crate::error::{Error, Result, Setting};
use crate::git::worktree;
use crate::lifecycle::{self};
use crate::model::{Session, SessionStatus};
use crate::ops::provision::{self, hold_worktrees};
use crate::store::{Mode, Outcome};
use crate::workspace::Workspace;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Purged {
    pub session: Session,
    pub removed_worktree: Option<PathBuf>,
    pub deleted_branch: Option<String>,
    pub warnings: Vec<String>,
}

/// What `purge` is asked to do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PurgeRequest {
    /// The session: id, unique prefix or branch.
    pub session: String,
    /// Also delete the worktree and branch this clone made for the session.
    pub delete_files: bool,
    /// Even a dirty worktree, a branch with commits on no other branch, an active session or
    /// one of another clone.
    pub force: bool,
}

/// Remove a session: a tombstone that syncs, and with `delete_files` its worktree and branch.
///
/// The files go first and the tombstone last: when a step fails, running the purge again
/// finishes it (what is gone stays gone, the record is still there to purge), whereas a
/// tombstone written first would leave files that no later purge may delete.
pub fn purge(ws: &Workspace, request: &PurgeRequest, mode: Mode) -> Result<Purged> {
    let (delete_files, force) = (request.delete_files, request.force);
    let id = resolve_session(ws, &request.session)?;
    let session = ws.store().read::<Session>(&id)?.record;
    if session.is_purged() {
        return Err(Error::invalid(format!("session {id} is already purged")));
    }
    let repo = ws.repo();
    let local = ws.local();
    lifecycle::check_owner(&session, ws.clone_id().as_deref(), force, "purging")?;
    if session.status == SessionStatus::Active && !force {
        return Err(
            Error::invalid(format!("session {id} is active; close it first"))
                .hint(Setting::Force, "to purge it anyway"),
        );
    }
    let mine = ws.owns(&session);
    let mut purged = Purged {
        session: session.clone(),
        removed_worktree: None,
        deleted_branch: None,
        warnings: Vec::new(),
    };
    let mut branch_tip = None;
    let _mutex = if delete_files {
        hold_worktrees(ws, mode)?.0
    } else {
        None
    };
    if delete_files {
        // Only what this clone noted as made for the session is deleted: the record's own
        // word (its branch, its owner) may come from anyone.
        let note = if mine { local.session(&id) } else { None };
        match note.as_ref().filter(|n| !n.adopted).map(|n| n.worktree.clone()) {
            Some(path) if path.exists() => {
                if !force && worktree::is_dirty(&path)? {
                    return Err(Error::invalid(format!(
                        "the worktree {} has uncommitted changes; commit them",
                        path.display()
                    ))
                    .hint(Setting::Force, "to discard them"));
                }
                purged.removed_worktree = Some(path);
            }
            Some(_) => {}
            None => purged.warnings.push(format!(
                "the worktree of session {id} was not created by this clone; its files are left alone"
            )),
        }
        let created = note.as_ref().and_then(|n| n.created_branch.clone());
        if note.is_some() && created.is_none() {
            purged.warnings.push(format!(
                "branch {} was not created by pm for session {id}; it is kept",
                session.branch
            ));
        }
        if let Some(branch) = created
            && let Some(tip) = worktree::branch_tip(repo, &branch)?
        {
            let elsewhere = worktree::checked_out_at(repo, &branch)?.filter(|at| {
                !purged
                    .removed_worktree
                    .as_ref()
                    .is_some_and(|own| same_path(at, own))
            });
            if let Some(at) = elsewhere {
                purged.warnings.push(format!(
                    "branch {branch} is checked out at {}; it is kept",
                    at.display()
                ));
            } else {
                let unique = commits_on_no_other_branch(repo, &branch, tip)?;
                if unique > 0 && !force {
                    return Err(Error::invalid(format!(
                        "branch {branch} has {unique} commit(s) that are on no other branch; merge them"
                    ))
                    .hint(Setting::Force, "to delete them"));
                }
                branch_tip = Some(tip);
                purged.deleted_branch = Some(branch);
            }
        }
    }
    if mode == Mode::DryRun {
        return Ok(purged);
    }
    // A lock in the way of deleting the branch is found before the worktree goes, so that a
    // refused purge leaves everything as it was.
    if let Some(branch) = &purged.deleted_branch {
        worktree::check_branch_unlocked(repo, branch)?;
    }
    if let Some(path) = &purged.removed_worktree {
        let said = provision::remove(ws, path, force)?;
        purged.warnings.extend(said);
    }
    if let (Some(branch), Some(tip)) = (&purged.deleted_branch, branch_tip) {
        if worktree::checked_out_at(repo, branch)?.is_some() {
            purged
                .warnings
                .push(format!("branch {branch} is checked out; it is kept"));
            purged.deleted_branch = None;
        } else {
            worktree::delete_branch(repo, branch, tip)?;
        }
    }
    let now = ws.now();
    let outcome = ws
        .store()
        .update::<Session>(&id, mode, now, |s| Ok(lifecycle::purge(s, now)))?;
    if let Outcome::Changed { after, .. } = outcome {
        purged.session = after.record;
    }
    local.remove_session(&id)?;
    Ok(purged)
}

/// Commits on `branch` that no other local branch or remote-tracking branch contains.
fn commits_on_no_other_branch(
    repo: &gix::Repository,
    branch: &str,
    tip: gix::ObjectId,
) -> Result<u32> {
    let own = format!("refs/heads/{branch}");
    crate::git::refs::commits_outside(
        repo,
        vec![tip],
        &["refs/heads/", "refs/remotes/"],
        Some(&own),
        &[],
    )
}
