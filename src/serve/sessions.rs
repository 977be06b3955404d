//! Sessions: the routes of the lifecycle pm replaces (`/agent/close`, `/agent/launch`,
//! `/agent/resume`), and `/sessions` (list, show, events, close, reactivate, purge), plus
//! reconcile and the overview. Each builds the operation's request from the body or query and
//! answers with the view the command line prints with `--json`.

use super::reply::{ApiError, Json, Reply};
use super::routes::{Id, ProjectOf, Query, blocking};
use crate::api;
use crate::error::{Error, Result};
use crate::lifecycle::SessionEvent;
use crate::model::{Choice, SessionStatus, Timestamp};
use crate::ops::runs::{self, StartRequest};
use crate::ops::sessions::{
    self, CloseRequest, LaunchRequest, PageRequest, PurgeRequest, ReactivateRequest,
    ReconcileRequest, TakeOverRequest,
};
use crate::store::Mode;
use crate::workspace::Workspace;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub(super) fn mode(dry_run: bool) -> Mode {
    if dry_run { Mode::DryRun } else { Mode::Write }
}

/// `status` of a close: idle (the default), completed (also `done`) or abandoned.
fn close_event(status: Option<&str>) -> Result<SessionEvent> {
    match status.unwrap_or("idle") {
        "idle" => Ok(SessionEvent::Close),
        "completed" | "done" => Ok(SessionEvent::Complete),
        "abandoned" => Ok(SessionEvent::Abandon),
        other => Err(Error::usage(format!(
            "status must be idle, completed or abandoned, not {other:?}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentClose {
    session_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /agent/close`: idle by default, or completed / abandoned.
pub async fn agent_close(ProjectOf(p): ProjectOf, Json(body): Json<AgentClose>) -> Response {
    blocking(p, move |ws| {
        close_session(ws, body.session_id, body.status, body.force, body.dry_run)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Close {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /sessions/{id}/close`: the same as `/agent/close`.
pub async fn close(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Close>) -> Response {
    blocking(p, move |ws| {
        close_session(ws, id, body.status, body.force, body.dry_run)
    })
    .await
}

fn close_session(
    ws: &Workspace,
    session: String,
    status: Option<String>,
    force: bool,
    dry_run: bool,
) -> Result<Reply> {
    let request = CloseRequest {
        session,
        event: close_event(status.as_deref())?,
        force,
    };
    let mode = mode(dry_run);
    let changed = sessions::close(ws, &request, mode)?;
    Reply::json(&api::SessionChange::new(&changed, mode))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentLaunch {
    #[serde(default)]
    issue: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    force: bool,
    /// Start the agent too.
    #[serde(default)]
    run: bool,
    #[serde(default)]
    max_runtime: Option<u64>,
    /// A launcher preset (`[launchers.NAME]`), as `--launcher`.
    #[serde(default)]
    launcher: Option<String>,
    /// Instructions added to the agent's, as `--system-prompt`.
    #[serde(default)]
    system_prompt: Option<String>,
    /// Names of variables of pm's environment the agent gets, as `--env`.
    #[serde(default)]
    env: Vec<String>,
    /// Tools the agent may use without asking, as `--tool`.
    #[serde(default)]
    tools: Vec<String>,
    /// Who asks (recorded with the session and the run).
    #[serde(default)]
    actor: Option<String>,
    /// Run no setup commands in the new worktree, as `--no-hooks`.
    #[serde(default)]
    no_hooks: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /agent/launch`: a new session, or the idle one on the branch resumed; with `run`,
/// its agent started too.
pub async fn agent_launch(ProjectOf(p): ProjectOf, Json(body): Json<AgentLaunch>) -> Response {
    blocking(p, move |ws| {
        let request = LaunchRequest {
            issue: body.issue,
            branch: body.branch,
            base: body.base,
            agent: body.agent,
            prompt: body.prompt,
            role: body.role,
            force: body.force,
            actor: body.actor.clone(),
        };
        let settings = StartRequest {
            max_runtime: body.max_runtime,
            launcher: body.launcher,
            system_prompt: body.system_prompt,
            env: body.env,
            tools: body.tools,
            actor: body.actor,
            ..Default::default()
        };
        let mode = mode(body.dry_run);
        // (A kept workspace runs them again for the next request: `refresh` turns this off.)
        ws.skip_hooks(body.no_hooks);
        let launched = runs::launch(ws, request, settings, body.run, mode)?;
        Reply::json(&api::Launch::new(&launched, mode))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentResume {
    session_id: String,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    remote: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /agent/resume`: an idle session of this clone active again, or another clone's
/// taken over.
pub async fn agent_resume(ProjectOf(p): ProjectOf, Json(body): Json<AgentResume>) -> Response {
    blocking(p, move |ws| {
        let request = TakeOverRequest {
            session: body.session_id,
            force: body.force,
            remote: body.remote,
        };
        let mode = mode(body.dry_run);
        let launched = sessions::take_over(ws, &request, mode)?;
        Reply::json(&api::Launch::new(&launched, mode))
    })
    .await
}

/// The statuses a `status` query names: a comma-separated list of statuses, `live` (active
/// and idle) or `all` (the default).
fn statuses(text: Option<&str>) -> Result<Vec<SessionStatus>, ApiError> {
    let mut out = Vec::new();
    for word in text.unwrap_or("all").split(',').map(str::trim) {
        match word {
            "all" => return Ok(Vec::new()),
            "live" => out.extend([SessionStatus::Active, SessionStatus::Idle]),
            word => out.push(SessionStatus::parse(word).ok_or_else(|| {
                ApiError::usage(format!(
                    "query parameter status must be live, all or some of {}, not {word:?}",
                    SessionStatus::names().join(", ")
                ))
            })?),
        }
    }
    Ok(out)
}

/// `GET /sessions?status=&issue=&limit=&cursor=`: newest first, a page at a time. Like
/// `pm agent list`, this clone's sessions are reconciled first.
pub async fn list(ProjectOf(p): ProjectOf, query: Query) -> Response {
    let request = match page_request(&query) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    blocking(p, move |ws| {
        sessions::reconcile(ws, &ReconcileRequest::default(), Mode::Write)?;
        let now = Timestamp::now();
        sessions::page(ws, &request, |page| {
            // A session's document is about 500 bytes.
            Reply::json_sized(&api::SessionPage::new(page, now), page.views.len() * 640)
        })
    })
    .await
}

fn page_request(query: &Query) -> Result<PageRequest, ApiError> {
    query.only(&["status", "issue", "limit", "cursor"])?;
    Ok(PageRequest {
        statuses: statuses(query.get("status"))?,
        issue: query.get("issue").map(str::to_string),
        limit: query.number("limit", 1)?.map(|n| n as usize),
        after: query.get("cursor").map(str::to_string),
    })
}

/// `GET /sessions/{id}`: the session with everything this clone knows of it.
pub async fn show(ProjectOf(p): ProjectOf, Id(id): Id, query: Query) -> Response {
    if let Err(e) = query.only(&[]) {
        return e.into_response();
    }
    blocking(p, move |ws| {
        let details = sessions::show(ws, &id)?;
        Reply::json(&api::SessionShow::new(&details))
    })
    .await
}

/// `GET /sessions/{id}/events`: the record's history and the run's events.
pub async fn events(ProjectOf(p): ProjectOf, Id(id): Id) -> Response {
    blocking(p, move |ws| {
        let (id, events) = sessions::events(ws, &id)?;
        let run_events = runs::all_events(ws, &id);
        Reply::json(&api::SessionEvents {
            id: &id,
            events: &events,
            run_events: &run_events,
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reactivate {
    #[serde(default)]
    force: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /sessions/{id}/reactivate`.
pub async fn reactivate(
    ProjectOf(p): ProjectOf,
    Id(id): Id,
    Json(body): Json<Reactivate>,
) -> Response {
    blocking(p, move |ws| {
        let request = ReactivateRequest {
            session: id,
            force: body.force,
        };
        let mode = mode(body.dry_run);
        let changed = sessions::reactivate(ws, &request, mode)?;
        Reply::json(&api::SessionChange::new(&changed, mode))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purge {
    #[serde(default)]
    delete_files: bool,
    #[serde(default)]
    force: bool,
    /// Run no teardown commands, as `--no-hooks`.
    #[serde(default)]
    no_hooks: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /sessions/{id}/purge`.
pub async fn purge(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Purge>) -> Response {
    blocking(p, move |ws| {
        let request = PurgeRequest {
            session: id,
            delete_files: body.delete_files,
            force: body.force,
        };
        let mode = mode(body.dry_run);
        ws.skip_hooks(body.no_hooks);
        let purged = sessions::purge(ws, &request, mode)?;
        Reply::json(&api::Purge::new(&purged, mode))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    #[serde(default)]
    strategy: crate::ops::sessions::Strategy,
    #[serde(default)]
    into: Option<String>,
    #[serde(default)]
    keep: bool,
    #[serde(default)]
    push: Option<String>,
    /// Run no teardown commands, as `--no-hooks`.
    #[serde(default)]
    no_hooks: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /sessions/{id}/merge`: the session's branch merged into its base, the session
/// completed, its worktree and branch removed (as `pm agent merge`).
pub async fn merge(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Merge>) -> Response {
    blocking(p, move |ws| {
        let request = crate::ops::sessions::MergeRequest {
            session: id,
            strategy: body.strategy,
            into: body.into,
            keep: body.keep,
            push: body.push,
        };
        ws.skip_hooks(body.no_hooks);
        let merged = sessions::merge(ws, &request, mode(body.dry_run))?;
        Reply::json(&merged)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {
    #[serde(default)]
    remove_handed_off: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /reconcile`.
pub async fn reconcile(ProjectOf(p): ProjectOf, Json(body): Json<Reconcile>) -> Response {
    blocking(p, move |ws| {
        let request = ReconcileRequest {
            remove_handed_off: body.remove_handed_off,
        };
        let mode = mode(body.dry_run);
        let report = sessions::reconcile(ws, &request, mode)?;
        Reply::json(&api::Reconcile::new(&report, mode))
    })
    .await
}

/// `GET /overview`: the document of `pm` alone.
pub async fn overview(ProjectOf(p): ProjectOf) -> Response {
    blocking(p, |ws| Reply::json(&crate::ops::overview::overview(ws)?)).await
}
