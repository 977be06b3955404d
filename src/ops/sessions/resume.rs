use super::launch::{Launched, provisioned};
use super::transition::{Changed, apply_event, apply_event_as, read_for};
use super::{all_sessions, same_path};
use crate::error::{Error, Operation, Result, Setting};
use crate::git::worktree;
use crate::lifecycle::{self, SessionEvent};
use crate::model::{Session, SessionStatus};
use crate::ops::provision::{self, Plan, hold_worktrees, provision};
use crate::store::Mode;
use crate::store::local::{PendingLaunch, host_name};
use crate::workspace::Workspace;
use std::path::PathBuf;

/// What `take_over` (`agent resume`) is asked to do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TakeOverRequest {
    /// The session: id, unique prefix or branch.
    pub session: String,
    /// Take over a session that is active in another clone.
    pub force: bool,
    /// Where the session's branch is fetched from when it is not here (default: configured).
    pub remote: Option<String>,
}

/// Resume an idle session of this clone: active again, same id and worktree (made again if
/// it is gone).
pub(super) fn resume(ws: &Workspace, session: Session, mode: Mode) -> Result<Launched> {
    if !ws.owns(&session) {
        return Err(Error::invalid(format!(
            "session {} on {} belongs to another clone",
            session.id, session.branch
        ))
        .step(Operation::TakeOver, &session.id, "takes it over"));
    }
    // Refused before anything is made again (an active session cannot be resumed).
    lifecycle::next_status(session.status, SessionEvent::Resume)
        .map_err(|e| Error::invalid(format!("session {} {e}", session.id)))?;
    let path = provision::noted_path(ws, &session)?;
    let recreated = !path.exists();
    let mut warnings = Vec::new();
    if recreated && mode == Mode::Write {
        warnings.extend(provision::recreate(ws, &session, &path)?);
    }
    let mut changed = apply_event(ws, &session.id, SessionEvent::Resume, mode)?;
    warnings.append(&mut changed.warnings);
    Ok(Launched {
        session: changed.after,
        worktree: path,
        resumed: true,
        recreated_worktree: recreated,
        warnings,
        run: None,
    })
}

/// `agent resume`: make a session active in this clone. An idle session of this clone
/// resumes as with `launch`; a session of another clone is taken over: its branch is fetched
/// from the remote when this clone lacks it, a local worktree is made, and this clone becomes
/// the owner. Another clone's *active* session is only taken with `force`. A worktree made (or
/// made again) is provisioned once the worktree mutex is let go.
pub fn take_over(ws: &Workspace, request: &TakeOverRequest, mode: Mode) -> Result<Launched> {
    let launched = take_over_held(ws, request, mode)?;
    Ok(provisioned(ws, launched, mode))
}

/// [`take_over`] up to its worktree, under the worktree mutex.
fn take_over_held(ws: &Workspace, request: &TakeOverRequest, mode: Mode) -> Result<Launched> {
    let repo = ws.repo();
    let (id, session) = read_for(ws, &request.session, SessionEvent::TakeOver)?;
    let remote = ws.remote_or_default(request.remote.as_deref())?;
    let (_mutex, _) = hold_worktrees(ws, mode)?;
    let me = ws.own_id(mode)?;
    if session.owner == me {
        return resume(ws, session, mode);
    }
    if session.status == SessionStatus::Active && !request.force {
        return Err(Error::invalid(format!(
            "session {id} is active in another clone ({})",
            session.owner
        ))
        .hint(Setting::Force, "to take it over"));
    }
    let branch = session.branch.clone();
    let take = || apply_event_as(ws, &id, SessionEvent::TakeOver, mode, Some(&me));
    let launched = |changed: Changed, worktree: PathBuf, recreated_worktree: bool| Launched {
        session: changed.after,
        worktree,
        resumed: true,
        recreated_worktree,
        warnings: changed.warnings,
        run: None,
    };
    // This clone may still have the worktree it made for the session earlier: take it back.
    if let Some(own) = ws.local().session(&id).map(|l| l.worktree)
        && own.exists()
        && let Some(at) = worktree::checked_out_at(repo, &branch)?
        && same_path(&at, &own)
    {
        return Ok(launched(take()?, own, false));
    }
    let local_tip = worktree::branch_tip(repo, &branch)?;
    let tip = match local_tip {
        Some(tip) => tip,
        None => remote_branch_tip(repo, &remote, &branch, mode)?.ok_or_else(|| {
            Error::invalid(format!(
                "branch {branch} of session {id} is neither in this clone nor on remote {remote}; \
                 push it from the clone that owns the session"
            ))
        })?,
    };
    if local_tip.is_some()
        && let Some(at) = worktree::checked_out_at(repo, &branch)?
    {
        return Err(Error::invalid(format!(
            "branch {branch} is already checked out at {}",
            at.display()
        )));
    }
    let (sessions, _) = all_sessions(ws)?;
    let path = provision::choose_path(ws, &branch, &sessions)?;
    provision::check_free(&path)?;
    if mode == Mode::DryRun {
        return Ok(launched(take()?, path, true));
    }
    let plan = Plan {
        id: id.clone(),
        pending: PendingLaunch {
            worktree: path.clone(),
            branch: branch.clone(),
            creates_branch: local_tip.is_none(),
            base: tip.to_string(),
            host: host_name(),
        },
        new_branch_from: local_tip.is_none().then(|| format!("{remote}/{branch}")),
    };
    let (changed, warning) = provision(ws, &plan, take)?;
    let mut launched = launched(changed, path, true);
    launched.warnings.extend(warning);
    Ok(launched)
}

/// The tip of `branch` on `remote`: the remote-tracking branch if it is here, else fetched
/// (into `refs/remotes/<remote>/<branch>`, as `git fetch` would).
pub(super) fn remote_branch_tip(
    repo: &gix::Repository,
    remote: &str,
    branch: &str,
    mode: Mode,
) -> Result<Option<gix::ObjectId>> {
    let tracking = format!("refs/remotes/{remote}/{branch}");
    let read = || -> Result<Option<gix::ObjectId>> {
        Ok(repo
            .try_find_reference(tracking.as_str())
            .map_err(|e| Error::failed(format!("could not read {tracking}: {e}")))?
            .and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
    };
    if let Some(tip) = read()? {
        return Ok(Some(tip));
    }
    if repo.try_find_remote(remote).is_none() {
        return Ok(None);
    }
    let spec = format!("+refs/heads/{branch}:{tracking}");
    // Fetches of one clone write into the same pack folder: not beside a sync.
    let _one_at_a_time = crate::store::local::LocalData::new(repo).lock_sync(|| {})?;
    // A branch the remote does not have is reported by the caller in plain words.
    let Ok(outcome) = crate::ops::sync::fetch_refs(repo, remote, &[spec], mode == Mode::DryRun)
    else {
        return Ok(None);
    };
    if mode == Mode::DryRun {
        let wanted = format!("refs/heads/{branch}");
        return Ok(outcome.ref_map.remote_refs.iter().find_map(|r| {
            let (name, target, _) = r.unpack();
            (name == wanted.as_bytes())
                .then(|| target.map(ToOwned::to_owned))
                .flatten()
        }));
    }
    read()
}
