//! Views of issues.

use crate::model::{Issue, IssueStatus, IssueType, Priority, Session, SessionStatus, Timestamp};
use crate::store::{Broken, Mode, Outcome};
use serde::Serialize;

/// An issue as JSON.
#[derive(Debug, Serialize)]
pub struct IssueJson<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub body: &'a str,
    pub status: IssueStatus,
    pub priority: Priority,
    #[serde(rename = "type")]
    pub kind: IssueType,
    pub tags: &'a [String],
    pub created: Timestamp,
    pub updated: Timestamp,
    pub closed: Option<Timestamp>,
}

impl<'a> From<&'a Issue> for IssueJson<'a> {
    fn from(issue: &'a Issue) -> Self {
        IssueJson {
            id: &issue.id,
            title: &issue.title,
            description: &issue.description,
            body: &issue.body,
            status: issue.status,
            priority: issue.priority,
            kind: issue.kind,
            tags: &issue.tags,
            created: issue.created,
            updated: issue.updated,
            closed: issue.closed,
        }
    }
}

/// An issue created or updated (or, in a dry run, as it would be).
#[derive(Debug, Serialize)]
pub struct IssueChange<'a> {
    pub dry_run: bool,
    /// False when the update left the issue as it was.
    pub changed: bool,
    /// The commit message of the change.
    pub message: Option<&'a str>,
    pub issue: IssueJson<'a>,
}

impl<'a> IssueChange<'a> {
    /// A new issue (`add` writes `create: <title>`).
    pub fn created(issue: &'a Issue, message: &'a str, mode: Mode) -> Self {
        IssueChange {
            dry_run: mode == Mode::DryRun,
            changed: true,
            message: Some(message),
            issue: IssueJson::from(issue),
        }
    }

    /// The outcome of an update, a close or a reopen.
    pub fn of(outcome: &'a Outcome<Issue>, mode: Mode) -> Self {
        let (issue, message) = match outcome {
            Outcome::Changed { after, message, .. } => (&after.record, Some(message.as_str())),
            Outcome::Unchanged(stored) => (&stored.record, None),
        };
        IssueChange {
            dry_run: mode == Mode::DryRun,
            changed: message.is_some(),
            message,
            issue: IssueJson::from(issue),
        }
    }
}

/// Issues in list order, and the records that cannot be read.
#[derive(Debug, Serialize)]
pub struct IssueList<'a> {
    pub issues: Vec<IssueJson<'a>>,
    pub errors: &'a [Broken],
}

impl<'a> IssueList<'a> {
    pub fn new(issues: &'a [Issue], errors: &'a [Broken]) -> Self {
        IssueList {
            issues: issues.iter().map(IssueJson::from).collect(),
            errors,
        }
    }
}

/// A session of an issue, as `issue show` lists them.
#[derive(Debug, Serialize)]
pub struct IssueSession<'a> {
    pub id: &'a str,
    pub status: SessionStatus,
    pub branch: &'a str,
    pub started: Timestamp,
    pub ended: Option<Timestamp>,
}

/// One issue and its sessions, newest first.
#[derive(Debug, Serialize)]
pub struct IssueShow<'a> {
    pub issue: IssueJson<'a>,
    pub sessions: Vec<IssueSession<'a>>,
}

impl<'a> IssueShow<'a> {
    pub fn new(issue: &'a Issue, sessions: &'a [Session]) -> Self {
        IssueShow {
            issue: IssueJson::from(issue),
            sessions: sessions
                .iter()
                .map(|s| IssueSession {
                    id: &s.id,
                    status: s.status,
                    branch: &s.branch,
                    started: s.started,
                    ended: s.ended,
                })
                .collect(),
        }
    }
}

/// Several issues closed at once: each one's outcome, and the ones that failed.
#[derive(Debug, Serialize)]
pub struct IssuesClosed<'a> {
    pub dry_run: bool,
    pub closed: Vec<IssueChange<'a>>,
    pub errors: Vec<IssueError<'a>>,
}

/// An issue that could not be closed, and why (worded for the front end that asked).
#[derive(Debug, Serialize)]
pub struct IssueError<'a> {
    pub id: &'a str,
    pub message: String,
}
