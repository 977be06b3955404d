//! Worktrees made without pm (`git worktree add`): found, and with `adopt` given an idle
//! session each, which a later launch on the branch resumes. pm notes them as adopted and never
//! removes them.

use super::launch::{actor, main_head};
use super::same_path;
use crate::error::{Error, Result};
use crate::lifecycle;
use crate::model::{SCHEMA_VERSION, Session, new_id};
use crate::store::Mode;
use crate::store::local::{LocalSession, host_name};
use crate::workspace::Workspace;
use serde::Serialize;
use std::path::PathBuf;

/// A linked worktree that no session holds.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub path: PathBuf,
    /// The branch checked out there (`None`: a detached HEAD).
    pub branch: Option<String>,
    /// Its merge base with the main worktree's branch: where its work starts.
    pub base: Option<String>,
    /// The session recorded for it (with `adopt`; in a dry run, none yet).
    pub session: Option<String>,
    /// Why it was not adopted.
    pub skipped: Option<String>,
}

/// The linked worktrees of the repository that no session holds (a session holds a worktree
/// this clone noted for it, or one on the branch of a live session); with `adopt`, record an
/// idle session of this clone for each one that has a branch.
pub fn discover(ws: &Workspace, adopt: bool, mode: Mode) -> Result<Vec<Found>> {
    let repo = ws.repo();
    let local = ws.local();
    let (sessions, _) = super::all_sessions(ws)?;
    let noted: Vec<PathBuf> = local
        .session_ids()
        .iter()
        .filter_map(|id| local.session(id))
        .map(|n| n.worktree)
        .collect();
    let (main_tip, main_name) = main_head(repo)?;
    let linked = repo
        .worktrees()
        .map_err(|e| Error::failed(format!("could not list worktrees: {e}")))?;
    let mut found = Vec::new();
    for proxy in linked {
        let Ok(path) = proxy.base() else { continue };
        if !path.is_dir() || noted.iter().any(|n| same_path(n, &path)) {
            continue;
        }
        let Ok(wt) = proxy.into_repo_with_possibly_inaccessible_worktree() else {
            continue;
        };
        let branch = match wt.head_name() {
            Ok(Some(name)) => name
                .as_bstr()
                .to_string()
                .strip_prefix("refs/heads/")
                .map(str::to_string),
            _ => None,
        };
        if let Some(branch) = &branch
            && sessions.iter().any(|s| s.is_live() && &s.branch == branch)
        {
            continue;
        }
        let base = wt
            .head_id()
            .ok()
            .and_then(|head| repo.merge_base(head.detach(), main_tip).ok().flatten())
            .map(|id| id.to_string());
        let skipped = match (&branch, &base) {
            (None, _) => Some("its HEAD is detached; check out a branch there to adopt it".into()),
            (Some(_), None) => Some(format!("it shares no history with {main_name}")),
            (Some(b), Some(_)) if crate::git::branch::check_branch_name(b).is_err() => {
                Some("its branch name is not one pm can record".into())
            }
            _ => None,
        };
        found.push(Found {
            path,
            branch,
            base,
            session: None,
            skipped,
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    if !adopt || mode == Mode::DryRun {
        return Ok(found);
    }
    for entry in found.iter_mut().filter(|f| f.skipped.is_none()) {
        let (Some(branch), Some(base)) = (&entry.branch, &entry.base) else {
            continue;
        };
        let now = ws.now();
        let mut session = Session {
            schema: SCHEMA_VERSION,
            id: new_id(),
            issue: None,
            branch: branch.clone(),
            base: base.clone(),
            base_ref: main_name.clone(),
            status: crate::model::SessionStatus::Idle,
            agent: ws.config()?.agent.clone(),
            role: String::new(),
            prompt: String::new(),
            actor: actor(repo),
            owner: ws.own_id(mode)?,
            started: now,
            updated: now,
            ended: None,
            epoch: 0,
            commits: 0,
            purged: None,
            unknown: toml::Table::new(),
        };
        let message = lifecycle::adopt(&mut session, now).message;
        // The note first: a session without it would look like one whose worktree is gone.
        local.save_session(
            &session.id,
            &LocalSession {
                worktree: entry.path.clone(),
                host: host_name(),
                created_branch: None,
                adopted: true,
            },
        )?;
        if let Err(e) = ws.store().create(&session, &message, now) {
            let _ = local.remove_session(&session.id);
            return Err(e);
        }
        entry.session = Some(session.id);
    }
    Ok(found)
}
