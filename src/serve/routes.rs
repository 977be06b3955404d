//! The routes: `/api/v1/projects`, and every route of a project twice, under
//! `/api/v1/projects/{project}/` and, for the default project (the first repository given),
//! under `/api/v1/` itself. Handlers are in the files of their family; this file holds what
//! they share: the project a request names, its query, and running an operation on a blocking
//! thread.

use super::projects::Project;
use super::reply::{ApiError, Reply};
use super::{Server, changes, guard, issues, runs, sessions, worktrees};
use crate::workspace::Workspace;
use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ui/app.js", get(ui_script))
        .route("/ui/style.css", get(ui_style))
        .route("/api/v1/projects", get(projects))
        .nest("/api/v1/projects/{project}", project_routes())
        .nest("/api/v1", project_routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            guard::check,
        ))
        .with_state(server)
}

/// The routes of one project.
fn project_routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/overview", get(sessions::overview))
        .route("/agent/close", post(sessions::agent_close))
        .route("/agent/launch", post(sessions::agent_launch))
        .route("/agent/resume", post(sessions::agent_resume))
        .route("/reconcile", post(sessions::reconcile))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", get(sessions::show))
        .route("/sessions/{id}/events", get(sessions::events))
        .route("/sessions/{id}/close", post(sessions::close))
        .route("/sessions/{id}/reactivate", post(sessions::reactivate))
        .route("/sessions/{id}/purge", post(sessions::purge))
        .route("/sessions/{id}/merge", post(sessions::merge))
        .route("/sessions/{id}/run", post(runs::run))
        .route("/sessions/{id}/input", post(runs::input))
        .route("/sessions/{id}/abort", post(runs::abort))
        .route("/sessions/{id}/restart", post(runs::restart))
        .route("/sessions/{id}/run/events", get(runs::events))
        .route("/sessions/{id}/run/stream", get(runs::stream))
        .route("/issues", get(issues::list).post(issues::create))
        .route("/issues/{id}", get(issues::show).patch(issues::update))
        .route("/issues/{id}/events", get(issues::events))
        .route("/issues/{id}/close", post(issues::close))
        .route("/issues/{id}/reopen", post(issues::reopen))
        .route("/worktrees", get(worktrees::list))
        .route("/worktrees/prune", post(worktrees::prune))
        .route("/changes", get(changes::stream))
}

/// The project a request is for: the one its path names, else the default one.
pub struct ProjectOf(pub Arc<Project>);

impl FromRequestParts<Arc<Server>> for ProjectOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, server: &Arc<Server>) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, server)
            .await
            .map_err(|e| ApiError::usage(e.body_text()))?;
        let named = params
            .iter()
            .find(|(key, _)| *key == "project")
            .map(|(_, value)| value.to_string());
        match server.project(named.as_deref()) {
            Some(project) => Ok(ProjectOf(project.clone())),
            None => Err(ApiError::not_found(format!(
                "no project named {:?}; GET /api/v1/projects lists them",
                named.unwrap_or_default()
            ))),
        }
    }
}

/// A path parameter (a session or issue id), as written in the URL.
pub struct Id(pub String);

impl FromRequestParts<Arc<Server>> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, server: &Arc<Server>) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, server)
            .await
            .map_err(|e| ApiError::usage(e.body_text()))?;
        params
            .iter()
            .find(|(key, _)| *key == "id")
            .map(|(_, value)| Id(value.to_string()))
            .ok_or_else(|| ApiError::usage("the route names no id"))
    }
}

/// The query parameters of a request, each checked against those the route takes.
pub struct Query(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut params = HashMap::new();
        if let Some(query) = parts.uri.query() {
            let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .map_err(|e| ApiError::usage(format!("the query cannot be read: {e}")))?;
            for (key, value) in pairs {
                if key == guard::TOKEN_PARAM {
                    continue;
                }
                if params.insert(key.clone(), value).is_some() {
                    return Err(ApiError::usage(format!(
                        "query parameter {key:?} is given twice"
                    )));
                }
            }
        }
        Ok(Query(params))
    }
}

impl Query {
    /// Refuse any parameter but `known` (a misspelt filter must not return everything).
    pub fn only(&self, known: &[&str]) -> Result<&Self, ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(ApiError::usage(format!(
                "unknown query parameter {key:?}; this route takes {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))),
            None => Ok(self),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A whole number of at least `min`.
    pub fn number(&self, key: &str, min: u64) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n >= min => Ok(Some(n)),
                _ => Err(ApiError::usage(format!(
                    "query parameter {key} must be a whole number of at least {min}, not {text:?}"
                ))),
            },
        }
    }

    /// `true` or `false` (default false).
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(text) => Err(ApiError::usage(format!(
                "query parameter {key} must be true or false, not {text:?}"
            ))),
        }
    }
}

/// Run `op` with a workspace of `project` on a blocking thread, and answer with what it
/// returns. A panic in it is answered as a failure of the server, never taken down with it.
pub async fn blocking(
    project: Arc<Project>,
    op: impl FnOnce(&Workspace) -> crate::error::Result<Reply> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || project.with_workspace(op)).await {
        Ok(Ok(Ok(reply))) => reply.into_response(),
        Ok(Ok(Err(e))) | Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::internal(format!("the request failed: {e}")).into_response(),
    }
}

/// The projects served, the default one first.
async fn projects(State(server): State<Arc<Server>>) -> Response {
    #[derive(Serialize)]
    struct ProjectJson<'a> {
        name: &'a str,
        path: &'a std::path::Path,
        default: bool,
    }
    #[derive(Serialize)]
    struct Projects<'a> {
        projects: Vec<ProjectJson<'a>>,
    }
    let view = Projects {
        projects: server
            .projects
            .iter()
            .enumerate()
            .map(|(n, p)| ProjectJson {
                name: &p.name,
                path: &p.path,
                default: n == 0,
            })
            .collect(),
    };
    match Reply::json(&view) {
        Ok(reply) => reply.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The web UI: plain HTML, CSS and a JavaScript module, embedded in the binary (no build step,
/// no CDN). The page fetches everything else from the API; record text only ever reaches it
/// as text (see `ui/app.js`).
const UI_PAGE: &str = include_str!("ui/index.html");
const UI_SCRIPT: &str = include_str!("ui/app.js");
const UI_STYLE: &str = include_str!("ui/style.css");

/// What the UI's own files may do: load from this server, connect to it, nothing else.
const UI_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

async fn index() -> Response {
    ui_file(UI_PAGE, "text/html; charset=utf-8")
}

async fn ui_script() -> Response {
    ui_file(UI_SCRIPT, "text/javascript; charset=utf-8")
}

async fn ui_style() -> Response {
    ui_file(UI_STYLE, "text/css; charset=utf-8")
}

fn ui_file(text: &'static str, kind: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(UI_POLICY),
    );
    response
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}
