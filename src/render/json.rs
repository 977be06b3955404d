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
