//! Issues: list, show, create, update, close, reopen, and a record's history.

use super::reply::{ApiError, Json, Reply};
use super::routes::{Id, ProjectOf, Query, blocking};
use super::sessions::mode;
use crate::api;
use crate::error::{Error, Result};
use crate::model::issue::NewIssue;
use crate::model::{Choice, IssueStatus, IssueType, Priority};
use crate::ops::issues::{self, Changes, Filter};
use crate::ops::sessions;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// One of a fixed set of values, by its name, or a usage error naming `field`.
fn choice<T: Choice>(field: &str, text: Option<&str>) -> Result<Option<T>> {
    let Some(text) = text else {
        return Ok(None);
    };
    T::parse(text).map(Some).ok_or_else(|| {
        Error::usage(format!(
            "{field} must be one of {}, not {text:?}",
            T::names().join(", ")
        ))
    })
}

/// `GET /issues?status=&priority=&tag=&all=`: open and in-progress issues, or those asked for.
pub async fn list(ProjectOf(p): ProjectOf, query: Query) -> Response {
    let filter = match filter(&query) {
        Ok(filter) => filter,
        Err(e) => return e.into_response(),
    };
    blocking(p, move |ws| {
        let (list, broken) = issues::list(ws, &filter)?;
        Reply::json(&api::IssueList::new(&list, &broken))
    })
    .await
}

fn filter(query: &Query) -> Result<Filter, ApiError> {
    query.only(&["status", "priority", "tag", "all"])?;
    Ok(Filter {
        status: choice::<IssueStatus>("status", query.get("status"))?,
        priority: choice::<Priority>("priority", query.get("priority"))?,
        tag: query.get("tag").map(str::to_string),
        all: query.flag("all")?,
    })
}

/// `GET /issues/{id}`: the issue and its sessions.
pub async fn show(ProjectOf(p): ProjectOf, Id(id): Id) -> Response {
    blocking(p, move |ws| {
        let issue = issues::show(ws, &id)?;
        let sessions = sessions::of_issue(ws, &issue.id)?;
        Reply::json(&api::IssueShow::new(&issue, &sessions))
    })
    .await
}

/// `GET /issues/{id}/events`: the record's history, newest first.
pub async fn events(ProjectOf(p): ProjectOf, Id(id): Id) -> Response {
    blocking(p, move |ws| {
        let (id, events) = issues::events(ws, &id)?;
        Reply::json(&api::Events {
            id: &id,
            events: &events,
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /issues`: a new issue (`201 Created`).
pub async fn create(ProjectOf(p): ProjectOf, Json(body): Json<Create>) -> Response {
    blocking(p, move |ws| {
        let new = NewIssue {
            title: body.title,
            description: body.description,
            body: body.body,
            priority: choice::<Priority>("priority", body.priority.as_deref())?
                .unwrap_or(Priority::Medium),
            kind: choice::<IssueType>("type", body.kind.as_deref())?.unwrap_or(IssueType::Feature),
            tags: body.tags,
        };
        let mode = mode(body.dry_run);
        let added = issues::add(ws, new, mode)?;
        let reply = Reply::json(&api::IssueChange::created(
            &added.issue,
            &added.message,
            mode,
        ))?;
        Ok(if body.dry_run {
            reply
        } else {
            reply.with_status(StatusCode::CREATED)
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// Tags to add.
    #[serde(default)]
    tags: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    untags: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `PATCH /issues/{id}`: change the fields given, as one commit.
pub async fn update(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Update>) -> Response {
    blocking(p, move |ws| {
        let changes = Changes {
            title: body.title,
            description: body.description,
            body: body.body,
            status: choice::<IssueStatus>("status", body.status.as_deref())?,
            priority: choice::<Priority>("priority", body.priority.as_deref())?,
            kind: choice::<IssueType>("type", body.kind.as_deref())?,
            add_tags: body.tags,
            remove_tags: body.untags,
        };
        let mode = mode(body.dry_run);
        let outcome = issues::update(ws, &id, changes, mode)?;
        Reply::json(&api::IssueChange::of(&outcome, mode))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    #[serde(default)]
    pub(super) dry_run: bool,
}

/// `POST /issues/{id}/close`.
pub async fn close(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<DryRun>) -> Response {
    blocking(p, move |ws| {
        let mode = mode(body.dry_run);
        let outcome = issues::close(ws, &id, mode)?;
        Reply::json(&api::IssueChange::of(&outcome, mode))
    })
    .await
}

/// `POST /issues/{id}/reopen`.
pub async fn reopen(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<DryRun>) -> Response {
    blocking(p, move |ws| {
        let mode = mode(body.dry_run);
        let outcome = issues::reopen(ws, &id, mode)?;
        Reply::json(&api::IssueChange::of(&outcome, mode))
    })
    .await
}
