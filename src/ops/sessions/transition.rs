use super::query::resolve_session;
use super::{LIVE, live_on_issue, sessions_with};
use crate::error::{Error, Result};
use crate::git::worktree;
use crate::lifecycle::{self, SessionEvent};
use crate::model::{Issue, IssueStatus, Session};
use crate::ops::provision::{self, hold_worktrees};
use crate::store::{Mode, Outcome};
use crate::workspace::Workspace;

/// The result of a status change.
#[derive(Debug, Clone)]
pub struct Changed {
    pub before: Session,
    pub after: Session,
    /// False when the event left the record as it was (closing an idle session again).
    pub written: bool,
    pub message: String,
    pub warnings: Vec<String>,
}

/// Move the linked issue to the status `decide` picks from its current one (`None`: leave it).
pub(super) fn cascade_with(
    ws: &Workspace,
    session: &Session,
    why: &str,
    mode: Mode,
    decide: impl Fn(IssueStatus) -> Option<IssueStatus>,
) -> Option<String> {
    let issue_id = session.issue.as_ref()?;
    let now = ws.now();
    let result = ws.store().update::<Issue>(issue_id, mode, now, |issue| {
        let Some(status) = decide(issue.status) else {
            return Ok(None);
        };
        let from = issue.status;
        issue.set_status(status, now);
        issue.updated = now;
        Ok(Some(format!(
            "update: status {} -> {} ({why}, session {})",
            from.as_str(),
            status.as_str(),
            session.id
        )))
    });
    result
        .err()
        .map(|e| format!("issue {issue_id} was not updated: {e}"))
}

/// Apply a lifecycle event to a session record, then cascade to its issue.
pub(super) fn apply_event(
    ws: &Workspace,
    id: &str,
    event: SessionEvent,
    mode: Mode,
) -> Result<Changed> {
    apply_event_as(ws, id, event, mode, None)
}

/// [`apply_event`], also making `new_owner` (when given) the clone that owns the session.
pub(super) fn apply_event_as(
    ws: &Workspace,
    id: &str,
    event: SessionEvent,
    mode: Mode,
    new_owner: Option<&str>,
) -> Result<Changed> {
    apply_event_if(ws, id, event, mode, new_owner, |_| Ok(()))
}

/// [`apply_event_as`], when `allowed` accepts the session as it is at the moment of writing.
pub(super) fn apply_event_if(
    ws: &Workspace,
    id: &str,
    event: SessionEvent,
    mode: Mode,
    new_owner: Option<&str>,
    allowed: impl Fn(&Session) -> Result<()>,
) -> Result<Changed> {
    let now = ws.now();
    let outcome = ws.store().update::<Session>(id, mode, now, |s| {
        let commits = counted_commits(ws.repo(), s);
        if !s.is_purged() {
            allowed(s)?;
        }
        let id = s.id.clone();
        let transition = lifecycle::apply(s, event, now, new_owner)
            .map_err(|e| Error::invalid(format!("session {id} {e}")))?;
        let Some(transition) = transition else {
            return Ok(None);
        };
        // A recount of the branch's commits is worth a write of its own.
        let recounted = commits.is_some_and(|c| c != s.commits);
        if let Some(commits) = commits {
            s.commits = commits;
        }
        if !transition.changed && !recounted {
            return Ok(None);
        }
        if !transition.changed {
            s.updated = now;
        }
        Ok(Some(transition.message))
    })?;
    let (before, after, written, message) = match outcome {
        Outcome::Changed {
            before,
            after,
            message,
        } => (before, after.record, true, message),
        Outcome::Unchanged(stored) => (stored.record.clone(), stored.record, false, String::new()),
    };
    let mut warnings = Vec::new();
    if written && after.issue.is_some() {
        // Read after the session was written: of two sessions ended at once, the later
        // reader sees both ended, so an issue is never left in progress by a race.
        let others_live = match (&after.issue, lifecycle::cascade_needs_others(after.status)) {
            (Some(issue), true) => {
                let (live, _) = sessions_with(ws, LIVE)?;
                !live_on_issue(&live, issue, Some(&after.id)).is_empty()
            }
            _ => false,
        };
        let why = format!("session {}", after.status.as_str());
        let decide = |now| lifecycle::issue_cascade(event, after.status, others_live, now);
        if let Some(warning) = cascade_with(ws, &after, &why, mode, decide) {
            warnings.push(warning);
        }
    }
    Ok(Changed {
        before,
        after,
        written,
        message,
        warnings,
    })
}

/// Count the session's commits now, if its branch is in this clone.
pub(super) fn counted_commits(repo: &gix::Repository, session: &Session) -> Option<u32> {
    let tip = worktree::branch_tip(repo, &session.branch).ok()??;
    let base = gix::ObjectId::from_hex(session.base.as_bytes()).ok()?;
    worktree::count_commits(repo, tip, base).ok()
}

/// What `close` is asked to do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CloseRequest {
    /// The session: id, unique prefix or branch.
    pub session: String,
    /// [`SessionEvent::Close`] (idle), [`SessionEvent::Complete`] or [`SessionEvent::Abandon`].
    pub event: SessionEvent,
    /// Close even a session that is active in another clone.
    pub force: bool,
}

/// Close a session: idle by default, or completed / abandoned. A session that is active in
/// another clone is closed only with `force`.
pub fn close(ws: &Workspace, request: &CloseRequest, mode: Mode) -> Result<Changed> {
    let event = request.event;
    if !matches!(
        event,
        SessionEvent::Close | SessionEvent::Complete | SessionEvent::Abandon
    ) {
        return Err(Error::usage(format!(
            "closing a session cannot {}",
            event.verb()
        )));
    }
    let id = resolve_session(ws, &request.session)?;
    let me = ws.clone_id();
    let mut changed = apply_event_if(ws, &id, event, mode, None, |s| {
        lifecycle::check_owner(s, me.as_deref(), request.force, "closing")
    })?;
    if changed.written && matches!(event, SessionEvent::Complete | SessionEvent::Abandon) {
        changed.warnings.extend(stranded_work(ws, &changed.after));
    }
    if mode == Mode::Write {
        // An agent still running in the session stops (after its turn, when completed).
        changed
            .warnings
            .extend(crate::ops::runs::session_closed(ws, &id, event));
    }
    Ok(changed)
}

/// An idle session of this clone goes back to work because its agent starts.
pub(crate) fn resume_for_run(ws: &Workspace, id: &str) -> Result<Changed> {
    apply_event(ws, id, SessionEvent::Resume, Mode::Write)
}

/// The agent of a session ended: an active session becomes idle.
pub(crate) fn agent_exited(ws: &Workspace, id: &str) -> Result<Changed> {
    apply_event(ws, id, SessionEvent::AgentExited, Mode::Write)
}

/// What a session that ends leaves where nobody may look again: a branch deleted behind pm's
/// back, uncommitted changes in its worktree, commits that are on no remote. Said, never
/// refused: ending a session deletes nothing.
pub(super) fn stranded_work(ws: &Workspace, session: &Session) -> Vec<String> {
    let repo = ws.repo();
    let local = ws.local();
    let mut said = Vec::new();
    let mine = ws.owns(session);
    let tip = worktree::branch_tip(repo, &session.branch).ok().flatten();
    let worktree = local
        .session(&session.id)
        .filter(|_| mine)
        .map(|l| l.worktree)
        .filter(|p| p.exists());
    if mine && tip.is_none() {
        said.push(format!(
            "branch {} no longer exists (deleted outside pm); commits made only on it are gone \
             from the branch list",
            session.branch
        ));
    } else if let Some(path) = &worktree
        && worktree::has_uncommitted_work(path).unwrap_or(false)
    {
        said.push(format!(
            "the worktree {} has uncommitted changes or untracked files; they are in no commit",
            path.display()
        ));
    }
    let Some(tip) = tip else { return said };
    let has_remote = !repo.remote_names().is_empty();
    let (prefixes, where_not): (&[&str], &str) = if has_remote {
        (
            &["refs/remotes/"],
            "on no remote; push the branch to keep them safe",
        )
    } else {
        (
            &["refs/heads/", "refs/remotes/"],
            "on no other branch (this repository has no remote)",
        )
    };
    // The session's own commits only: what its base already held is not its work.
    let base: Vec<gix::ObjectId> = gix::ObjectId::from_hex(session.base.as_bytes())
        .into_iter()
        .collect();
    let own = format!("refs/heads/{}", session.branch);
    if let Ok(n) = crate::git::refs::commits_outside(repo, vec![tip], prefixes, Some(&own), &base)
        && n > 0
    {
        said.push(format!(
            "branch {} has {n} commit(s) {where_not}",
            session.branch
        ));
    }
    said
}

/// Resolve `id` and read the session, refusing a purged one and one that `event` cannot move,
/// before anything is made for it.
pub(super) fn read_for(ws: &Workspace, id: &str, event: SessionEvent) -> Result<(String, Session)> {
    let id = resolve_session(ws, id)?;
    let session = ws.store().read::<Session>(&id)?.record;
    if session.is_purged() {
        return Err(Error::invalid(format!("session {id} was purged")));
    }
    lifecycle::next_status(session.status, event)
        .map_err(|e| Error::invalid(format!("session {id} {e}")))?;
    Ok((id, session))
}

/// What `reactivate` is asked to do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReactivateRequest {
    /// The session: id, unique prefix or branch.
    pub session: String,
    /// Even when another live session works on the issue.
    pub force: bool,
}

/// Bring a completed or abandoned session back as idle; its worktree must exist or be recreatable.
/// While another live session holds its issue, only with `force`.
pub fn reactivate(ws: &Workspace, request: &ReactivateRequest, mode: Mode) -> Result<Changed> {
    let (id, session) = read_for(ws, &request.session, SessionEvent::Reactivate)?;
    if let Some(issue) = &session.issue {
        let (live, _) = sessions_with(ws, LIVE)?;
        let holders = live_on_issue(&live, issue, Some(&id));
        lifecycle::check_second_session(issue, &holders, request.force)?;
    }
    let mut warnings = Vec::new();
    let mut remade = None;
    if ws.owns(&session) && mode == Mode::Write {
        let (_mutex, mut recovered) = hold_worktrees(ws, mode)?;
        warnings.append(&mut recovered);
        let path = provision::noted_path(ws, &session)?;
        if !path.exists() {
            warnings.extend(provision::recreate(ws, &session, &path)?);
            remade = Some(path);
        }
    }
    // Provisioned once the worktree mutex is let go.
    if let Some(path) = remade {
        warnings.extend(provision::prepare(ws, &session, &path));
    }
    let issue = match &session.issue {
        Some(issue) => ws.store().read::<Issue>(issue).ok().map(|i| i.record),
        None => None,
    };
    let mut changed = apply_event(ws, &id, SessionEvent::Reactivate, mode)?;
    if changed.written {
        warnings.extend(issue.as_ref().and_then(back_to_work));
    }
    warnings.append(&mut changed.warnings);
    changed.warnings = warnings;
    Ok(changed)
}

/// The warning that a session going to work moves its finished `issue` back to in progress.
pub(super) fn back_to_work(issue: &Issue) -> Option<String> {
    issue.status.is_finished().then(|| {
        format!(
            "issue {} was {}; it is in progress again",
            issue.id,
            issue.status.as_str()
        )
    })
}
