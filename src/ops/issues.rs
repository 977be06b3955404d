//! The issue operations of the core API: add, list, show, update, close, reopen, events.
//! Front ends call these and render the results; nothing here prints.

use crate::error::{Error, Result, Setting};
use crate::model::issue::{NewIssue, check_tag, check_text, check_title, push_tag};
use crate::model::{Issue, IssueStatus, IssueType, Priority, RecordKind, Timestamp, new_id};
use crate::store::{Broken, Event, Mode, Outcome, Stored};
use crate::workspace::Workspace;

/// Which issues `list` returns.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Filter {
    pub status: Option<IssueStatus>,
    pub priority: Option<Priority>,
    pub tag: Option<String>,
    /// Include done and closed issues (ignored when `status` is given).
    pub all: bool,
}

impl Filter {
    fn matches(&self, issue: &Issue) -> bool {
        let status_ok = match self.status {
            Some(status) => issue.status == status,
            None => self.all || !issue.status.is_finished(),
        };
        status_ok
            && self.priority.is_none_or(|p| issue.priority == p)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| issue.tags.iter().any(|x| x == t))
    }
}

/// The requested changes of `update`; `None` and empty lists leave a field alone.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Changes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub status: Option<IssueStatus>,
    pub priority: Option<Priority>,
    pub kind: Option<IssueType>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.body.is_none()
            && self.status.is_none()
            && self.priority.is_none()
            && self.kind.is_none()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }

    /// Check every value before anything is read or written.
    fn validated(mut self) -> Result<Self> {
        if self.is_empty() {
            return Err(Error::usage("nothing to update").hint(Setting::IssueFields, ""));
        }
        if let Some(title) = &self.title {
            self.title = Some(check_title(title)?);
        }
        if let Some(text) = &self.description {
            self.description = Some(check_text("description", text)?);
        }
        if let Some(text) = &self.body {
            self.body = Some(check_text("body", text)?);
        }
        for tag in self.add_tags.iter_mut().chain(self.remove_tags.iter_mut()) {
            *tag = check_tag(tag)?;
        }
        Ok(self)
    }

    /// Apply to `issue`; returns the event message, or `None` if nothing changed.
    fn apply(&self, issue: &mut Issue, now: Timestamp) -> Result<Option<String>> {
        let mut what: Vec<String> = Vec::new();
        if let Some(title) = &self.title
            && *title != issue.title
        {
            issue.title = title.clone();
            what.push("title".into());
        }
        if let Some(text) = &self.description
            && *text != issue.description
        {
            issue.description = text.clone();
            what.push("description".into());
        }
        if let Some(text) = &self.body
            && *text != issue.body
        {
            issue.body = text.clone();
            what.push("body".into());
        }
        if let Some(priority) = self.priority
            && priority != issue.priority
        {
            what.push(format!(
                "priority {} -> {}",
                issue.priority.as_str(),
                priority.as_str()
            ));
            issue.priority = priority;
        }
        if let Some(kind) = self.kind
            && kind != issue.kind
        {
            what.push(format!("type {} -> {}", issue.kind.as_str(), kind.as_str()));
            issue.kind = kind;
        }
        let mut tag_changes = Vec::new();
        for tag in &self.add_tags {
            if push_tag(&mut issue.tags, tag)? {
                tag_changes.push(format!("+{tag}"));
            }
        }
        for tag in &self.remove_tags {
            if let Some(at) = issue.tags.iter().position(|t| t == tag) {
                issue.tags.remove(at);
                tag_changes.push(format!("-{tag}"));
            }
        }
        if !tag_changes.is_empty() {
            what.push(format!("tags {}", tag_changes.join(" ")));
        }
        if let Some(status) = self.status
            && status != issue.status
        {
            what.push(format!(
                "status {} -> {}",
                issue.status.as_str(),
                status.as_str()
            ));
            issue.set_status(status, now);
        }
        if what.is_empty() {
            return Ok(None);
        }
        issue.updated = now;
        Ok(Some(format!("update: {}", what.join(", "))))
    }
}

/// A new issue and the message of the commit that created it (or would create it).
#[derive(Debug, Clone)]
pub struct Added {
    pub issue: Issue,
    pub message: String,
}

/// Create an issue. In a dry run the issue is built (with the id it would get) but not stored.
pub fn add(ws: &Workspace, new: NewIssue, mode: Mode) -> Result<Added> {
    let now = ws.now();
    let issue = Issue::new(new_id(), new, now)?;
    let message = format!("create: {}", issue.title);
    if mode == Mode::DryRun {
        // Refused as the write would be.
        crate::store::encode(&issue)?;
        return Ok(Added { issue, message });
    }
    let issue = ws.store().create(&issue, &message, now)?.record;
    Ok(Added { issue, message })
}

/// The issues that pass `filter`, in list order, plus every record that could not be read.
pub fn list(ws: &Workspace, filter: &Filter) -> Result<(Vec<Issue>, Vec<Broken>)> {
    let listing = ws.store().list::<Issue>()?;
    let mut issues: Vec<Issue> = listing
        .records
        .into_iter()
        .map(|s| s.record)
        .filter(|i| filter.matches(i))
        .collect();
    issues.sort_by(Issue::list_order);
    Ok((issues, listing.broken))
}

/// One issue by full id or unique prefix.
pub fn show(ws: &Workspace, id: &str) -> Result<Issue> {
    let id = ws.store().resolve(RecordKind::Issue, id)?;
    Ok(ws.store().read::<Issue>(&id)?.record)
}

/// The issue `text` names (a full id or a unique prefix), or `None` when no issue id starts
/// so (the text is something else). A prefix of several issues is still an error.
pub fn find(ws: &Workspace, text: &str) -> Result<Option<String>> {
    let Some(prefix) = crate::model::id::normalize_prefix(text) else {
        return Ok(None);
    };
    let ids = ws.store().ids(RecordKind::Issue)?;
    if !ids.iter().any(|id| id.starts_with(&prefix)) {
        return Ok(None);
    }
    ws.store().resolve(RecordKind::Issue, text).map(Some)
}

/// Change fields of an issue as one commit.
pub fn update(ws: &Workspace, id: &str, changes: Changes, mode: Mode) -> Result<Outcome<Issue>> {
    let changes = changes.validated()?;
    let id = ws.store().resolve(RecordKind::Issue, id)?;
    let now = ws.now();
    ws.store()
        .update::<Issue>(&id, mode, now, |issue| changes.apply(issue, now))
}

/// Close an issue (status `closed`); closing a finished issue is refused.
pub fn close(ws: &Workspace, id: &str, mode: Mode) -> Result<Outcome<Issue>> {
    set_finished(ws, id, mode, true)
}

/// Reopen a done or closed issue (status `open`).
pub fn reopen(ws: &Workspace, id: &str, mode: Mode) -> Result<Outcome<Issue>> {
    set_finished(ws, id, mode, false)
}

fn set_finished(ws: &Workspace, id: &str, mode: Mode, close: bool) -> Result<Outcome<Issue>> {
    let id = ws.store().resolve(RecordKind::Issue, id)?;
    let now = ws.now();
    ws.store().update::<Issue>(&id, mode, now, |issue| {
        let from = issue.status;
        let (to, verb) = if close {
            (IssueStatus::Closed, "close")
        } else {
            (IssueStatus::Open, "reopen")
        };
        if close && from.is_finished() {
            return Err(Error::invalid(format!(
                "issue {} is already {}",
                issue.id,
                from.as_str()
            )));
        }
        if !close && !from.is_finished() {
            return Err(Error::invalid(format!(
                "issue {} is not done or closed; it is {}",
                issue.id,
                from.as_str()
            )));
        }
        issue.set_status(to, now);
        issue.updated = now;
        Ok(Some(format!(
            "{verb}: {} -> {}",
            from.as_str(),
            to.as_str()
        )))
    })
}

/// The history of an issue, newest first, with its full id.
pub fn events(ws: &Workspace, id: &str) -> Result<(String, Vec<Event>)> {
    let id = ws.store().resolve(RecordKind::Issue, id)?;
    let events = ws.store().history(RecordKind::Issue, &id)?;
    Ok((id, events))
}

/// The issue an outcome ends with.
pub fn outcome_record(outcome: &Outcome<Issue>) -> &Stored<Issue> {
    match outcome {
        Outcome::Changed { after, .. } => after,
        Outcome::Unchanged(stored) => stored,
    }
}
