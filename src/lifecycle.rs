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
mod tests {
    use super::*;
    use SessionEvent as E;
    use SessionStatus as S;

    #[test]
    fn the_status_table_holds() {
        let table = [
            (S::Active, E::Close, Some(S::Idle)),
            (S::Active, E::Complete, Some(S::Completed)),
            (S::Active, E::Abandon, Some(S::Abandoned)),
            (S::Active, E::WorktreeGone, Some(S::Abandoned)),
            (S::Idle, E::Close, Some(S::Idle)),
            (S::Idle, E::Complete, Some(S::Completed)),
            (S::Idle, E::Abandon, Some(S::Abandoned)),
            (S::Idle, E::Resume, Some(S::Active)),
            (S::Idle, E::WorktreeGone, Some(S::Abandoned)),
            (S::Completed, E::Reactivate, Some(S::Idle)),
            (S::Abandoned, E::Reactivate, Some(S::Idle)),
            (S::Completed, E::WorktreeGone, None),
            (S::Abandoned, E::WorktreeGone, None),
        ];
        for (from, event, to) in table {
            assert_eq!(
                next_status(from, event).unwrap(),
                to,
                "{from:?} + {event:?}"
            );
        }
    }

    #[test]
    fn forbidden_events_say_why() {
        let err = next_status(S::Active, E::Resume).unwrap_err();
        assert!(err.message().contains("already active"));
        for from in [S::Completed, S::Abandoned] {
            for event in [E::Close, E::Complete, E::Abandon] {
                let err = next_status(from, event).unwrap_err();
                assert!(
                    err.message()
                        .contains(&format!("already {}", from.as_str()))
                );
            }
            assert!(next_status(from, E::Resume).is_err());
        }
        assert!(next_status(S::Idle, E::Reactivate).is_err());
        assert!(next_status(S::Active, E::Reactivate).is_err());
    }

    #[test]
    fn cascades_to_the_issue() {
        use IssueStatus as I;
        let progress = I::InProgress;
        assert_eq!(
            issue_cascade(E::Complete, S::Completed, false, progress),
            Some(I::Done)
        );
        assert_eq!(
            issue_cascade(E::Abandon, S::Abandoned, false, progress),
            Some(I::Open)
        );
        assert_eq!(
            issue_cascade(E::WorktreeGone, S::Abandoned, false, progress),
            Some(I::Open)
        );
        assert_eq!(issue_cascade(E::Close, S::Idle, false, progress), None);
        assert_eq!(
            issue_cascade(E::Resume, S::Active, false, I::Open),
            Some(progress)
        );
        assert_eq!(
            issue_cascade(E::TakeOver, S::Active, false, I::Done),
            Some(progress)
        );
        assert_eq!(
            issue_cascade(E::Reactivate, S::Idle, false, I::Done),
            Some(progress)
        );
        // Nothing to write when the issue is there already.
        assert_eq!(issue_cascade(E::Resume, S::Active, false, progress), None);
        assert_eq!(
            issue_cascade(E::Complete, S::Completed, true, I::Done),
            None
        );
    }

    #[test]
    fn several_sessions_on_one_issue() {
        use IssueStatus as I;
        // Abandoning one of several live sessions leaves the issue in progress.
        assert_eq!(
            issue_cascade(E::Abandon, S::Abandoned, true, I::InProgress),
            None
        );
        assert_eq!(
            issue_cascade(E::WorktreeGone, S::Abandoned, true, I::InProgress),
            None
        );
        // Completing one marks the issue done although others are live.
        assert_eq!(
            issue_cascade(E::Complete, S::Completed, true, I::InProgress),
            Some(I::Done)
        );
        // The last live session abandoned after another completed: the issue stays done.
        assert_eq!(
            issue_cascade(E::Abandon, S::Abandoned, false, I::Done),
            None
        );
        assert_eq!(
            issue_cascade(E::Abandon, S::Abandoned, false, I::Closed),
            None
        );
    }

    fn session(id: &str, status: S, started: i64, updated: i64) -> Session {
        Session {
            schema: 1,
            id: id.to_string(),
            issue: None,
            branch: format!("feature/{id}"),
            base: "0".repeat(40),
            base_ref: "main".into(),
            status,
            agent: String::new(),
            role: String::new(),
            prompt: String::new(),
            actor: String::new(),
            owner: "CLONEA".into(),
            started: Timestamp(started),
            updated: Timestamp(updated),
            ended: (!status.is_live()).then_some(Timestamp(updated)),
            epoch: 0,
            commits: 0,
            purged: None,
            unknown: toml::Table::new(),
        }
    }

    #[test]
    fn a_second_live_session_needs_force_and_names_the_holder() {
        let holder = session("A", S::Idle, 10, 20);
        let err = check_second_session("ISSUE", &[&holder], false).unwrap_err();
        assert!(err.message().contains("issue ISSUE"), "{}", err.message());
        assert!(
            err.message().contains("session A (idle on feature/A)"),
            "{}",
            err.message()
        );
        assert!(check_second_session("ISSUE", &[&holder], true).is_ok());
        assert!(check_second_session("ISSUE", &[], false).is_ok());
    }

    #[test]
    fn only_the_owner_touches_an_active_session_without_force() {
        let active = session("A", S::Active, 10, 10);
        let err = check_owner(&active, Some("CLONEB"), false, "closing").unwrap_err();
        assert!(err.message().contains("session A"));
        assert!(err.message().contains("CLONEA"));
        assert!(check_owner(&active, None, false, "closing").is_err());
        assert!(check_owner(&active, Some("CLONEA"), false, "closing").is_ok());
        assert!(check_owner(&active, Some("CLONEB"), true, "closing").is_ok());
        // An idle or finished session of another clone is not at work there.
        for status in [S::Idle, S::Completed, S::Abandoned] {
            let s = session("A", status, 10, 10);
            assert!(check_owner(&s, Some("CLONEB"), false, "purging").is_ok());
        }
    }

    fn implied(sessions: &[Session]) -> Option<(IssueStatus, i64)> {
        let refs: Vec<&Session> = sessions.iter().collect();
        implied_issue_status(&refs).map(|i| (i.status, i.at.0))
    }

    #[test]
    fn the_implied_issue_status_replays_the_cascades() {
        use IssueStatus as I;
        assert_eq!(implied(&[]), None);
        // One session: launched, then completed or abandoned.
        assert_eq!(
            implied(&[session("A", S::Active, 10, 10)]),
            Some((I::InProgress, 10))
        );
        assert_eq!(
            implied(&[session("A", S::Idle, 10, 30)]),
            Some((I::InProgress, 10))
        );
        assert_eq!(
            implied(&[session("A", S::Completed, 10, 30)]),
            Some((I::Done, 30))
        );
        assert_eq!(
            implied(&[session("A", S::Abandoned, 10, 30)]),
            Some((I::Open, 30))
        );
        // Resumed (active again at 40) after another one completed.
        let both = [
            session("A", S::Completed, 10, 30),
            session("B", S::Active, 20, 40),
        ];
        assert_eq!(implied(&both), Some((I::InProgress, 40)));
        // Completed while another one is still live: done; that one stays as it is.
        let both = [
            session("A", S::Completed, 10, 30),
            session("B", S::Idle, 20, 40),
        ];
        assert_eq!(implied(&both), Some((I::Done, 30)));
        // Abandoned while another one is live: no change of its own.
        let both = [
            session("A", S::Abandoned, 10, 30),
            session("B", S::Idle, 20, 40),
        ];
        assert_eq!(implied(&both), Some((I::InProgress, 20)));
        // The last of two abandoned: open again.
        let both = [
            session("A", S::Abandoned, 10, 30),
            session("B", S::Abandoned, 20, 40),
        ];
        assert_eq!(implied(&both), Some((I::Open, 40)));
        // Abandoned after another completed: the issue stays done.
        let both = [
            session("A", S::Completed, 10, 30),
            session("B", S::Abandoned, 20, 40),
        ];
        assert_eq!(implied(&both), Some((I::Done, 30)));
        // A new session after an abandoned one: in progress.
        let both = [
            session("A", S::Abandoned, 10, 30),
            session("B", S::Active, 50, 50),
        ];
        assert_eq!(implied(&both), Some((I::InProgress, 50)));
    }

    #[test]
    fn a_missing_cascade_is_repaired_only_when_the_issue_is_older() {
        use IssueStatus as I;
        let done = session("A", S::Completed, 10, 30);
        let refs = [&done];
        // The issue last changed at the launch (10): the completion's update is missing.
        let repair = missing_cascade(I::InProgress, Timestamp(10), &refs).unwrap();
        assert_eq!(
            (repair.status, repair.at, repair.by),
            (I::Done, Timestamp(30), 0)
        );
        // Set by hand after the session ended: left alone, whatever it says.
        assert_eq!(missing_cascade(I::InProgress, Timestamp(31), &refs), None);
        assert_eq!(missing_cascade(I::Open, Timestamp(40), &refs), None);
        // In the same second: the order is unknown, so it is left alone.
        assert_eq!(missing_cascade(I::InProgress, Timestamp(30), &refs), None);
        // Already right: nothing to do.
        assert_eq!(missing_cascade(I::Done, Timestamp(5), &refs), None);
        // A launch whose update is missing.
        let active = session("B", S::Active, 50, 50);
        let repair = missing_cascade(I::Done, Timestamp(30), &[&done, &active]).unwrap();
        assert_eq!(repair.status, I::InProgress);
        assert_eq!(repair.by, 1);
    }
}
