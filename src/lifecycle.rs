//! The session rules: which event moves a session from which status to which, and what that
//! does to the linked issue. Pure functions; the operations in `sessions` apply them through
//! the store, so the CLI and the MCP server can never disagree.
//!
//! | from \ event | close (idle) | close --done | close --abandon | resume | worktree gone |
//! |---|---|---|---|---|---|
//! | active | idle | completed | abandoned | error: already active | abandoned |
//! | idle | idle | completed | abandoned | active | abandoned |
//! | completed, abandoned | error | error | error | reactivate: idle | stays |
//!
//! What a change does to the session's issue ([`issue_cascade`]):
//!
//! | change | issue |
//! |---|---|
//! | launch, resume, take over, reactivate | in progress |
//! | close (idle) | unchanged |
//! | completed | done, even while other sessions on it are live (they stay as they are) |
//! | abandoned (closed so, or its worktree gone) | open, but only when no other live session remains on it and it is in progress (a done or closed issue stays so) |
//!
//! Several sessions on one issue ([`check_second_session`]): a session that starts working on an
//! issue (launch, reactivate) while another live session holds it is refused unless forced, and
//! the refusal names the sessions that hold it.
//!
//! Sessions of other clones ([`check_owner`]): a session that is active in another clone is that
//! clone's; closing or purging it from here needs force.
//!
//! Recovery ([`missing_cascade`]): a session change and its issue update are two writes, and a
//! process that dies between them leaves the issue behind. The issue's status that its sessions
//! imply is derived from the sessions alone, and repaired only when the issue last changed
//! *before* the session change that implies it, so a status set by hand later always stays.

use crate::error::{Error, Result, Setting};
use crate::model::{IssueStatus, Session, SessionStatus, Timestamp};

/// Something that happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEvent {
    /// `launch`: a new session record, active from the start (see [`launch`]).
    Launch,
    /// `close` without a flag: the agent stops, the worktree stays.
    Close,
    /// `close --done`.
    Complete,
    /// `close --abandon`.
    Abandon,
    /// `launch`/`resume` on the branch of an idle session.
    Resume,
    /// `reactivate`: a terminal session comes back as idle.
    Reactivate,
    /// `agent resume` in another clone: that clone takes the session over and works on it.
    TakeOver,
    /// `reconcile` found the worktree folder gone.
    WorktreeGone,
    /// The agent process ended (or its supervisor was found dead): an active session is idle.
    AgentExited,
}

impl SessionEvent {
    /// The verb written as the first word of the record's commit message.
    pub fn verb(self) -> &'static str {
        match self {
            SessionEvent::Launch => "launch",
            SessionEvent::Close | SessionEvent::Complete | SessionEvent::Abandon => "close",
            SessionEvent::Resume | SessionEvent::TakeOver => "resume",
            SessionEvent::Reactivate => "reactivate",
            SessionEvent::WorktreeGone => "reconcile",
            SessionEvent::AgentExited => "exit",
        }
    }
}

/// What [`apply`] did to a session record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The first line of the record's commit message (`close: active -> completed`).
    pub message: String,
    /// False when the record is as it was (closing an idle session again).
    pub changed: bool,
}

/// Apply `event` at `now` to the session record: its status, end time, epoch (raised by every
/// reactivation, so it wins over the older terminal state when clones merge), owner (`new_owner`
/// takes it over) and update time. `Ok(None)`: the event does not apply to this session
/// (reconcile of a finished one). Errors say why not, phrased to follow "session <id> ".
/// Every front end and every test that changes a session's status goes through here.
pub fn apply(
    session: &mut Session,
    event: SessionEvent,
    now: Timestamp,
    new_owner: Option<&str>,
) -> Result<Option<Transition>> {
    if session.purged.is_some() {
        return Err(Error::invalid("was purged"));
    }
    let from = session.status;
    let Some(to) = next_status(from, event)? else {
        return Ok(None);
    };
    let previous_owner = std::mem::take(&mut session.owner);
    session.owner = new_owner.unwrap_or(&previous_owner).to_string();
    let owner_changes = session.owner != previous_owner;
    let changed = from != to || owner_changes;
    if changed {
        session.status = to;
        session.updated = now;
        session.ended = if to.is_live() { None } else { Some(now) };
        if event == SessionEvent::Reactivate {
            session.epoch += 1;
        }
    }
    let mut message = format!("{}: {} -> {}", event.verb(), from.as_str(), to.as_str());
    if owner_changes {
        message.push_str(&format!(" (taken over from clone {previous_owner})"));
    }
    Ok(Some(Transition { message, changed }))
}

/// A new session record at `now`: active, started and updated now, never ended. Returns its
/// commit message. Its issue moves as [`issue_cascade`] says for [`SessionEvent::Launch`].
pub fn launch(session: &mut Session, now: Timestamp) -> Transition {
    session.status = SessionStatus::Active;
    session.started = now;
    session.updated = now;
    session.ended = None;
    session.epoch = 0;
    session.purged = None;
    Transition {
        message: format!("launch: active on {}", session.branch),
        changed: true,
    }
}

/// A record for a worktree made outside pm, at `now`: idle (nobody works in it through pm yet).
pub fn adopt(session: &mut Session, now: Timestamp) -> Transition {
    session.status = SessionStatus::Idle;
    session.started = now;
    session.updated = now;
    session.ended = None;
    session.epoch = 0;
    session.purged = None;
    Transition {
        message: format!("adopt: idle on {}", session.branch),
        changed: true,
    }
}

/// Purge at `now`: the record becomes a tombstone that syncs (its files are the caller's).
/// `None` when it already is one.
pub fn purge(session: &mut Session, now: Timestamp) -> Option<String> {
    if session.purged.is_some() {
        return None;
    }
    session.purged = Some(now);
    session.updated = now;
    Some(format!("purge: {}", session.status.as_str()))
}

/// The status after `event`, `Ok(None)` when the event leaves a terminal session alone
/// (reconcile), or an error saying why not, phrased to follow "session <id> ".
pub fn next_status(from: SessionStatus, event: SessionEvent) -> Result<Option<SessionStatus>> {
    use SessionEvent as E;
    use SessionStatus as S;
    let to = match (from, event) {
        (_, E::Launch) => return Err(Error::invalid("exists already")),
        (S::Active | S::Idle, E::Close) => S::Idle,
        (S::Active | S::Idle, E::Complete) => S::Completed,
        (S::Active | S::Idle, E::Abandon | E::WorktreeGone) => S::Abandoned,
        (S::Idle, E::Resume) => S::Active,
        (S::Active | S::Idle, E::TakeOver) => S::Active,
        (S::Active, E::Resume) => return Err(Error::invalid("is already active")),
        (S::Completed | S::Abandoned, E::Close | E::Complete | E::Abandon) => {
            return Err(Error::invalid(format!("is already {}", from.as_str())));
        }
        (S::Completed | S::Abandoned, E::Resume | E::TakeOver) => {
            return Err(Error::invalid(format!(
                "is {}; reactivate it first",
                from.as_str()
            )));
        }
        (S::Completed | S::Abandoned, E::Reactivate) => S::Idle,
        (S::Active | S::Idle, E::Reactivate) => {
            return Err(Error::invalid(format!(
                "is {}; only completed or abandoned sessions can be reactivated",
                from.as_str()
            )));
        }
        (S::Completed | S::Abandoned, E::WorktreeGone) => return Ok(None),
        (S::Active, E::AgentExited) => S::Idle,
        (S::Idle | S::Completed | S::Abandoned, E::AgentExited) => return Ok(None),
    };
    Ok(Some(to))
}

/// What a session change does to its issue, whose status is `issue` now; `others_live` says
/// whether another live session remains on it. `None`: the issue stays as it is.
///
/// Completed -> done (other live sessions on the issue stay as they are); abandoned -> open, but
/// only when no other live session remains and the issue is in progress (a done or closed issue
/// was finished by someone else and stays so); going to work (resume, take over, reactivate) ->
/// in progress; idle changes nothing. A launch marks its issue in progress as well.
pub fn issue_cascade(
    event: SessionEvent,
    to: SessionStatus,
    others_live: bool,
    issue: IssueStatus,
) -> Option<IssueStatus> {
    let target = match (event, to) {
        (_, SessionStatus::Completed) => IssueStatus::Done,
        (_, SessionStatus::Abandoned) if others_live || issue != IssueStatus::InProgress => {
            return None;
        }
        (_, SessionStatus::Abandoned) => IssueStatus::Open,
        (
            SessionEvent::Launch | SessionEvent::Resume | SessionEvent::TakeOver,
            SessionStatus::Active,
        ) => IssueStatus::InProgress,
        (SessionEvent::Reactivate, _) => IssueStatus::InProgress,
        _ => return None,
    };
    (target != issue).then_some(target)
}

/// Whether this change's cascade depends on the other live sessions of the issue.
pub fn cascade_needs_others(to: SessionStatus) -> bool {
    to == SessionStatus::Abandoned
}

/// A new live session on `issue` (a launch, a reactivation) while `holders`, other live sessions
/// on it, exist: refused unless `force`, naming the sessions that hold the issue.
pub fn check_second_session(issue: &str, holders: &[&Session], force: bool) -> Result<()> {
    if force || holders.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = holders
        .iter()
        .map(|s| format!("{} ({} on {})", s.id, s.status.as_str(), s.branch))
        .collect();
    let noun = if holders.len() == 1 {
        "session"
    } else {
        "sessions"
    };
    Err(Error::invalid(format!(
        "issue {issue} is already being worked on by {noun} {}",
        named.join(", ")
    ))
    .hint(Setting::Force, "to start a second live session on it"))
}

/// Closing or purging `session` from the clone `me` (`None`: a clone that has no id yet):
/// a session that is active in another clone is that clone's, and is only touched when forced.
/// `action` is the verb of the refusal ("closing", "purging").
pub fn check_owner(session: &Session, me: Option<&str>, force: bool, action: &str) -> Result<()> {
    if force || session.status != SessionStatus::Active || me == Some(session.owner.as_str()) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "session {} is active in another clone, {}",
        session.id, session.owner
    ))
    .hint(
        Setting::Force,
        format!("to go on {action} it from this clone"),
    ))
}

/// The issue status that the cascades of one issue's sessions leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Implied {
    pub status: IssueStatus,
    /// When the session change that set it happened.
    pub at: Timestamp,
    /// Which of the sessions given made that change.
    pub by: usize,
}

/// Replay the cascades of `sessions` (all sessions of one issue, purged ones left out) in time
/// order, as [`issue_cascade`] applies them: each session goes to work when it started (an
/// active one when it last changed, which was its launch, resume or take-over) and, when it is
/// finished, ends when it ended. `None` when no session sets a status.
///
/// The time an idle session last went to work (a resume or reactivation later than its start)
/// is not in the record; its start is used, which can only make a repair less likely, never
/// make one fight a later change.
pub fn implied_issue_status(sessions: &[&Session]) -> Option<Implied> {
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Step {
        Claim,
        Complete,
        Abandon,
    }
    let mut steps: Vec<(Timestamp, Step, usize)> = Vec::with_capacity(sessions.len() * 2);
    for (n, s) in sessions.iter().enumerate() {
        let claimed = if s.status == SessionStatus::Active {
            s.updated
        } else {
            s.started
        };
        steps.push((claimed, Step::Claim, n));
        let end = s.ended.unwrap_or(s.updated);
        match s.status {
            SessionStatus::Completed => steps.push((end, Step::Complete, n)),
            SessionStatus::Abandoned => steps.push((end, Step::Abandon, n)),
            SessionStatus::Active | SessionStatus::Idle => {}
        }
    }
    // Within one second: going to work before ending, then by session.
    steps.sort();
    let mut live = 0usize;
    let mut implied: Option<Implied> = None;
    for (at, step, by) in steps {
        let status = match step {
            Step::Claim => {
                live += 1;
                IssueStatus::InProgress
            }
            Step::Complete => {
                live = live.saturating_sub(1);
                IssueStatus::Done
            }
            Step::Abandon => {
                live = live.saturating_sub(1);
                let now = implied.map(|i| i.status).unwrap_or(IssueStatus::InProgress);
                match issue_cascade(
                    SessionEvent::Abandon,
                    SessionStatus::Abandoned,
                    live > 0,
                    now,
                ) {
                    Some(status) => status,
                    None => continue,
                }
            }
        };
        implied = Some(Implied { status, at, by });
    }
    implied
}

/// The status an issue (now `status`, last changed at `updated`) must be moved to because the
/// cascade of a session change is missing: only when its sessions imply another status *and*
/// the issue last changed before the session change that implies it. A change made to the issue
/// afterwards (by hand, or in the same second) is never undone.
pub fn missing_cascade(
    status: IssueStatus,
    updated: Timestamp,
    sessions: &[&Session],
) -> Option<Implied> {
    let implied = implied_issue_status(sessions)?;
    (updated < implied.at && status != implied.status).then_some(implied)
}

#[cfg(test)]
mod tests;
