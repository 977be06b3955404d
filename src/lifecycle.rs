//! The session rules: which event moves a session from which status to which, and what that
//! does to the linked issue. Pure functions; the operations in `sessions` apply them through
//! the store, so the CLI and the MCP server can never disagree.
//!
//! | from \ event | close (idle) | close --done | close --abandon | resume | worktree gone |
//! |---|---|---|---|---|---|
//! | active | idle | completed | abandoned | error: already active | abandoned |
//! | idle | idle | completed | abandoned | active | abandoned |
//! | completed, abandoned | error | error | error | reactivate: idle | stays |

use crate::error::{Error, Result};
use crate::model::{IssueStatus, SessionStatus};

/// Something that happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
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
}

impl SessionEvent {
    /// The verb written as the first word of the record's commit message.
    pub fn verb(self) -> &'static str {
        match self {
            SessionEvent::Close | SessionEvent::Complete | SessionEvent::Abandon => "close",
            SessionEvent::Resume | SessionEvent::TakeOver => "resume",
            SessionEvent::Reactivate => "reactivate",
            SessionEvent::WorktreeGone => "reconcile",
        }
    }
}

/// The status after `event`, `Ok(None)` when the event leaves a terminal session alone
/// (reconcile), or an error saying why not, phrased to follow "session <id> ".
pub fn next_status(from: SessionStatus, event: SessionEvent) -> Result<Option<SessionStatus>> {
    use SessionEvent as E;
    use SessionStatus as S;
    let to = match (from, event) {
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
                "is {}; reactivate it first (`pm agent reactivate`)",
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
    };
    Ok(Some(to))
}

/// What a session change does to its issue: completed -> done, abandoned -> open, going to
/// work (launch, resume, reactivate) -> in_progress; idle changes nothing.
pub fn issue_cascade(event: SessionEvent, to: SessionStatus) -> Option<IssueStatus> {
    match (event, to) {
        (_, SessionStatus::Completed) => Some(IssueStatus::Done),
        (_, SessionStatus::Abandoned) => Some(IssueStatus::Open),
        (SessionEvent::Resume | SessionEvent::TakeOver, SessionStatus::Active) => {
            Some(IssueStatus::InProgress)
        }
        (SessionEvent::Reactivate, _) => Some(IssueStatus::InProgress),
        _ => None,
    }
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
        assert_eq!(
            issue_cascade(E::Complete, S::Completed),
            Some(IssueStatus::Done)
        );
        assert_eq!(
            issue_cascade(E::Abandon, S::Abandoned),
            Some(IssueStatus::Open)
        );
        assert_eq!(
            issue_cascade(E::WorktreeGone, S::Abandoned),
            Some(IssueStatus::Open)
        );
        assert_eq!(issue_cascade(E::Close, S::Idle), None);
        assert_eq!(
            issue_cascade(E::Resume, S::Active),
            Some(IssueStatus::InProgress)
        );
        assert_eq!(
            issue_cascade(E::Reactivate, S::Idle),
            Some(IssueStatus::InProgress)
        );
    }
}
