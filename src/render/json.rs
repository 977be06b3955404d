//! The JSON shapes of records: a contract shared by `--json` and the MCP server, documented
//! in the README. Keys may be added, never renamed or removed.

use crate::model::{Issue, IssueStatus, IssueType, Priority, Timestamp};
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

/// A session as JSON: the shared record plus what this clone knows locally.
#[derive(Debug, Serialize)]
pub struct SessionJson<'a> {
    pub id: &'a str,
    pub issue: Option<&'a str>,
    pub branch: &'a str,
    pub base: &'a str,
    pub base_ref: &'a str,
    pub status: crate::model::SessionStatus,
    pub agent: &'a str,
    pub role: &'a str,
    pub prompt: &'a str,
    pub actor: &'a str,
    pub owner: &'a str,
    pub started: Timestamp,
    pub updated: Timestamp,
    pub ended: Option<Timestamp>,
    /// Seconds from start to end, or to now while live.
    pub duration: i64,
    pub commits: u32,
    /// This clone owns the session.
    pub mine: bool,
    /// Absolute worktree path (only for sessions this clone created).
    pub worktree: Option<&'a std::path::Path>,
    pub worktree_exists: bool,
    pub last_commit: Option<LastCommitJson<'a>>,
    pub last_activity: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct LastCommitJson<'a> {
    pub commit: &'a str,
    pub time: Timestamp,
    pub subject: &'a str,
}

impl<'a> From<&'a crate::sessions::SessionView> for SessionJson<'a> {
    fn from(view: &'a crate::sessions::SessionView) -> Self {
        let s = &view.session;
        SessionJson {
            id: &s.id,
            issue: s.issue.as_deref(),
            branch: &s.branch,
            base: &s.base,
            base_ref: &s.base_ref,
            status: s.status,
            agent: &s.agent,
            role: &s.role,
            prompt: &s.prompt,
            actor: &s.actor,
            owner: &s.owner,
            started: s.started,
            updated: s.updated,
            ended: s.ended,
            duration: s.duration(Timestamp::now()),
            commits: view.commits,
            mine: view.mine,
            worktree: view.worktree.as_deref(),
            worktree_exists: view.worktree_exists,
            last_commit: view
                .last_commit
                .as_ref()
                .map(|(time, commit, subject)| LastCommitJson {
                    commit,
                    time: *time,
                    subject,
                }),
            last_activity: view.last_activity,
        }
    }
}

impl<'a> SessionJson<'a> {
    /// A session of `history`, its duration counted to `now` while it runs.
    pub fn of_history(view: &'a crate::sessions::HistoryView<'_>, now: Timestamp) -> Self {
        let s = view.session;
        SessionJson {
            id: &s.id,
            issue: s.issue.as_deref(),
            branch: &s.branch,
            base: &s.base,
            base_ref: &s.base_ref,
            status: s.status,
            agent: &s.agent,
            role: &s.role,
            prompt: &s.prompt,
            actor: &s.actor,
            owner: &s.owner,
            started: s.started,
            updated: s.updated,
            ended: s.ended,
            duration: s.duration(now),
            commits: view.commits,
            mine: view.mine,
            worktree: view.worktree.as_deref(),
            worktree_exists: view.worktree_exists,
            last_commit: view
                .last_commit
                .as_ref()
                .map(|(time, commit, subject)| LastCommitJson {
                    commit,
                    time: *time,
                    subject,
                }),
            last_activity: view.last_activity,
        }
    }
}
