//! The issue record and the pure rules about its fields.

use super::{Record, RecordKind, SCHEMA_VERSION, Timestamp};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    Open,
    InProgress,
    Done,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueType {
    Feature,
    Bug,
    Chore,
}

impl super::Choice for IssueStatus {
    const ALL: &'static [Self] = &[Self::Open, Self::InProgress, Self::Done, Self::Closed];
    fn as_str(self) -> &'static str {
        IssueStatus::as_str(self)
    }
    fn aliases(self) -> &'static [&'static str] {
        match self {
            IssueStatus::InProgress => &["in-progress"],
            _ => &[],
        }
    }
}

impl super::Choice for Priority {
    const ALL: &'static [Self] = &[Self::Low, Self::Medium, Self::High];
    fn as_str(self) -> &'static str {
        Priority::as_str(self)
    }
}

impl super::Choice for IssueType {
    const ALL: &'static [Self] = &[Self::Feature, Self::Bug, Self::Chore];
    fn as_str(self) -> &'static str {
        IssueType::as_str(self)
    }
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Open => "open",
            IssueStatus::InProgress => "in_progress",
            IssueStatus::Done => "done",
            IssueStatus::Closed => "closed",
        }
    }
    /// Done and closed issues are finished: hidden from the default list, and carry a closed time.
    pub fn is_finished(self) -> bool {
        matches!(self, IssueStatus::Done | IssueStatus::Closed)
    }
    fn rank(self) -> u8 {
        match self {
            IssueStatus::InProgress => 0,
            IssueStatus::Open => 1,
            IssueStatus::Done => 2,
            IssueStatus::Closed => 3,
        }
    }
    /// Which side wins when two clones changed the status differently (higher wins): finished
    /// states above live ones, done above closed.
    pub fn merge_rank(self) -> u8 {
        match self {
            IssueStatus::Open => 1,
            IssueStatus::InProgress => 2,
            IssueStatus::Closed => 3,
            IssueStatus::Done => 4,
        }
    }
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Feature => "feature",
            IssueType::Bug => "bug",
            IssueType::Chore => "chore",
        }
    }
}

/// What the local cache keeps of an issue beside its whole record (see [`Record::summary`]):
/// its title, to name it where sessions are listed, and what lists sort it by. Its status is
/// its tally word.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssueSummary<'a> {
    #[serde(borrow)]
    pub title: std::borrow::Cow<'a, str>,
    pub priority: Priority,
    pub created: Timestamp,
}

/// What lists sort issues by (see [`Issue::list_order`]).
pub fn list_key(
    status: IssueStatus,
    priority: Priority,
    created: Timestamp,
    id: &str,
) -> impl Ord + '_ {
    use std::cmp::Reverse;
    (
        status.rank(),
        Reverse(priority),
        Reverse(created),
        Reverse(id),
    )
}

/// One issue, exactly as stored in `issue.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub schema: u32,
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub body: String,
    pub status: IssueStatus,
    pub priority: Priority,
    #[serde(rename = "type")]
    pub kind: IssueType,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Timestamp>,
    /// When the status last changed (absent in records written before it was kept). Other
    /// edits move `updated` but not this, so a status that a session change implies can be
    /// told apart from one a person set later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_changed: Option<Timestamp>,
    /// Fields written by a newer `pm`; kept verbatim on rewrite.
    #[serde(flatten)]
    pub unknown: toml::Table,
}

impl Record for Issue {
    const KIND: RecordKind = RecordKind::Issue;
    fn id(&self) -> &str {
        &self.id
    }
    fn schema(&self) -> u32 {
        self.schema
    }
    fn settled(&self) -> bool {
        matches!(self.status, IssueStatus::Done | IssueStatus::Closed)
    }
    fn tally(&self) -> &'static str {
        self.status.as_str()
    }
    fn summary(&self) -> String {
        let summary = IssueSummary {
            title: std::borrow::Cow::Borrowed(&self.title),
            priority: self.priority,
            created: self.created,
        };
        serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into())
    }
    fn check(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("its title is empty".into());
        }
        Ok(())
    }
}

/// What a new issue is made of, before it has an id and times.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewIssue {
    pub title: String,
    pub description: String,
    pub body: String,
    pub priority: Priority,
    pub kind: IssueType,
    pub tags: Vec<String>,
}

impl Issue {
    pub fn new(id: String, new: NewIssue, now: Timestamp) -> Result<Self> {
        let mut tags = Vec::new();
        for tag in &new.tags {
            push_tag(&mut tags, tag)?;
        }
        Ok(Issue {
            schema: SCHEMA_VERSION,
            id,
            title: check_title(&new.title)?,
            description: check_text("description", &new.description)?,
            body: check_text("body", &new.body)?,
            status: IssueStatus::Open,
            priority: new.priority,
            kind: new.kind,
            tags,
            created: now,
            updated: now,
            closed: None,
            status_changed: None,
            unknown: toml::Table::new(),
        })
    }

    /// Move to `status`, keeping the closed time in step: set when the issue becomes finished,
    /// cleared when it is live again.
    pub fn set_status(&mut self, status: IssueStatus, now: Timestamp) {
        if status.is_finished() && !self.status.is_finished() {
            self.closed = Some(now);
        } else if !status.is_finished() {
            self.closed = None;
        }
        if status != self.status {
            self.status_changed = Some(now);
        }
        self.status = status;
    }

    /// Since when the issue has had its status: its last status change, or for records that
    /// do not say, its last change of any kind.
    pub fn status_since(&self) -> Timestamp {
        self.status_changed.unwrap_or(self.updated)
    }

    /// The list order: status (in progress, open, done, closed), priority high first, newest first.
    pub fn list_order(a: &Issue, b: &Issue) -> std::cmp::Ordering {
        list_key(a.status, a.priority, a.created, &a.id)
            .cmp(&list_key(b.status, b.priority, b.created, &b.id))
    }
}

/// A title is one non-empty line of at most 200 characters.
pub fn check_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::usage("the title must not be empty"));
    }
    if title.chars().count() > 200 {
        return Err(Error::usage("the title is longer than 200 characters"));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::usage(
            "the title must be one line without control characters",
        ));
    }
    Ok(title.to_string())
}

/// Free text (description, body): at most 64 KiB, no control characters but newlines and tabs.
pub fn check_text(what: &str, text: &str) -> Result<String> {
    if text.len() > 64 * 1024 {
        return Err(Error::usage(format!("the {what} is longer than 64 KiB")));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::usage(format!(
            "the {what} contains control characters"
        )));
    }
    Ok(text.to_string())
}

/// A tag is a non-empty word of at most 64 characters: no spaces, commas or control characters.
pub fn check_tag(tag: &str) -> Result<String> {
    let tag = tag.trim();
    if tag.is_empty() {
        return Err(Error::usage("a tag must not be empty"));
    }
    if tag.chars().count() > 64
        || tag
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        return Err(Error::usage(format!(
            "invalid tag {tag:?}: tags are single words of at most 64 characters, without commas"
        )));
    }
    Ok(tag.to_string())
}

/// Add a tag, keeping the list sorted and free of duplicates. Returns whether it was new.
pub fn push_tag(tags: &mut Vec<String>, tag: &str) -> Result<bool> {
    let tag = check_tag(tag)?;
    match tags.binary_search(&tag) {
        Ok(_) => Ok(false),
        Err(at) => {
            tags.insert(at, tag);
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(title: &str) -> Issue {
        let new = NewIssue {
            title: title.into(),
            description: String::new(),
            body: "line one\nline two".into(),
            priority: Priority::Medium,
            kind: IssueType::Feature,
            tags: vec!["b".into(), "a".into(), "b".into()],
        };
        Issue::new("01JAAAAAAAAAAAAAAAAAAAAAAA".into(), new, Timestamp(100)).unwrap()
    }

    #[test]
    fn new_issue_is_open_with_sorted_unique_tags() {
        let issue = sample("  Add login ");
        assert_eq!(issue.title, "Add login");
        assert_eq!(issue.status, IssueStatus::Open);
        assert_eq!(issue.tags, ["a", "b"]);
    }

    #[test]
    fn toml_round_trip_keeps_unknown_fields() {
        let mut issue = sample("x");
        let text = toml::to_string(&issue).unwrap();
        let with_future = format!("{text}estimate = 3\n[future]\nnote = \"kept\"\n");
        let mut parsed: Issue = toml::from_str(&with_future).unwrap();
        assert_eq!(parsed.unknown.len(), 2);
        parsed.title = "y".into();
        let again: Issue = toml::from_str(&toml::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(again.unknown, parsed.unknown);
        issue.title = "y".into();
        issue.unknown = again.unknown.clone();
        assert_eq!(again, issue);
    }

    #[test]
    fn closed_time_follows_status() {
        let mut issue = sample("x");
        issue.set_status(IssueStatus::Done, Timestamp(200));
        assert_eq!(issue.closed, Some(Timestamp(200)));
        issue.set_status(IssueStatus::Closed, Timestamp(300));
        assert_eq!(issue.closed, Some(Timestamp(200)));
        issue.set_status(IssueStatus::Open, Timestamp(400));
        assert_eq!(issue.closed, None);
    }

    #[test]
    fn list_order_is_status_then_priority_then_newest() {
        let mut a = sample("a");
        let mut b = sample("b");
        let mut c = sample("c");
        a.priority = Priority::Low;
        b.priority = Priority::High;
        c.priority = Priority::High;
        c.created = Timestamp(500);
        c.id = "01JBBBBBBBBBBBBBBBBBBBBBBB".into();
        let mut d = sample("d");
        d.set_status(IssueStatus::InProgress, Timestamp(1));
        let mut all = [a, b, c, d];
        all.sort_by(Issue::list_order);
        let titles: Vec<_> = all.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(titles, ["d", "c", "b", "a"]);
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(check_title("   ").is_err());
        assert!(check_title("two\nlines").is_err());
        assert!(check_tag("has space").is_err());
        assert!(check_tag("").is_err());
        assert!(check_text("body", "bell\u{7}").is_err());
        assert!(check_text("body", "ok\n\tfine").is_ok());
    }

    #[test]
    fn unknown_fields_survive_the_json_cache() {
        let text = r#"
schema = 1
id = "01JAAAAAAAAAAAAAAAAAAAAAAA"
title = "t"
status = "open"
priority = "low"
type = "bug"
created = "2026-01-01T00:00:00Z"
updated = "2026-01-01T00:00:00Z"
when = 1979-05-27T07:32:00Z
nested = { list = [1, 2.5, "x"], flag = true }
"#;
        let issue: Issue = toml::from_str(text).unwrap();
        let json = serde_json::to_string(&issue).unwrap();
        let back: Issue = serde_json::from_str(&json).unwrap();
        assert_eq!(back, issue);
        assert_eq!(
            toml::to_string(&back).unwrap(),
            toml::to_string(&issue).unwrap()
        );
    }
}
