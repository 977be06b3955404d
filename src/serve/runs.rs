//! A session's agent, running: start a turn, send input, abort, restart, read its events, and
//! follow them as server-sent events. The stream resumes after the sequence number the client
//! saw last (`Last-Event-ID`, or `?since=`): each event goes out with its sequence number as
//! its id, so a client that reconnects misses nothing and gets nothing twice.

use super::Server;
use super::reply::{ApiError, Json, Reply, encode};
use super::routes::{Id, ProjectOf, Query, blocking};
use super::sessions::mode;
use crate::api;
use crate::ops::runs::{self, StartRequest};
use crate::ops::sessions::{self, ReactivateRequest};
use crate::runtime::control;
use crate::runtime::events::Event;
use crate::store::Mode;
use crate::workspace::Workspace;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    max_runtime: Option<u64>,
}

/// `POST /sessions/{id}/run`: a turn of the session's agent.
pub async fn run(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Run>) -> Response {
    blocking(p, move |ws| {
        let request = StartRequest {
            session: id,
            prompt: body.prompt,
            max_runtime: body.max_runtime,
            ..Default::default()
        };
        let run = runs::start(ws, &request)?;
        let id = sessions::resolve_session(ws, &request.session)?;
        Reply::json(&api::RunReport { id: &id, run: &run })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    text: String,
}

/// `POST /sessions/{id}/input`: text to the running agent, or a new turn started with it.
pub async fn input(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Input>) -> Response {
    blocking(p, move |ws| {
        let sent = runs::send(ws, &id, &body.text)?;
        let id = sessions::resolve_session(ws, &id)?;
        Reply::json(&api::RunSent {
            id: &id,
            started: sent.started,
            run: &sent.run,
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Abort {}

/// `POST /sessions/{id}/abort`: stop the running agent; the session becomes idle.
pub async fn abort(ProjectOf(p): ProjectOf, Id(id): Id, Json(_): Json<Abort>) -> Response {
    blocking(p, move |ws| {
        let run = runs::abort(ws, &id)?;
        let id = sessions::resolve_session(ws, &id)?;
        Reply::json(&api::RunReport { id: &id, run: &run })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    #[serde(default)]
    prompt: Option<String>,
    /// Start the agent (default true).
    #[serde(default)]
    run: Option<bool>,
    #[serde(default)]
    max_runtime: Option<u64>,
    #[serde(default)]
    force: bool,
}

/// `POST /sessions/{id}/restart`: a completed or abandoned session back, its agent running.
pub async fn restart(ProjectOf(p): ProjectOf, Id(id): Id, Json(body): Json<Restart>) -> Response {
    blocking(p, move |ws| {
        let request = ReactivateRequest {
            session: id,
            force: body.force,
        };
        let changed = sessions::reactivate(ws, &request, Mode::Write)?;
        let run = if body.run.unwrap_or(true) {
            let start = StartRequest {
                session: changed.after.id.clone(),
                prompt: body.prompt,
                max_runtime: body.max_runtime,
                ..Default::default()
            };
            Some(runs::start(ws, &start)?)
        } else {
            None
        };
        Reply::json(&api::Restarted {
            change: api::SessionChange::new(&changed, mode(false)),
            run: run.as_ref(),
        })
    })
    .await
}

/// `GET /sessions/{id}/run/events?since=N`: the run's events after `since`, and where to go
/// on from (the document of `pm agent logs --json`).
pub async fn events(ProjectOf(p): ProjectOf, Id(id): Id, query: Query) -> Response {
    let since = match query.only(&["since"]).and_then(|q| q.number("since", 0)) {
        Ok(since) => since.unwrap_or(0),
        Err(e) => return e.into_response(),
    };
    blocking(p, move |ws| {
        let (id, events, next) = runs::events(ws, &id, since)?;
        Reply::json(&api::RunEvents {
            id: &id,
            events: &events,
            next_seq: next,
        })
    })
    .await
}

/// How often a stream looks for new events while no agent runs (a run started elsewhere).
const IDLE_POLL: Duration = Duration::from_millis(250);

/// `GET /sessions/{id}/run/stream`: every event after `Last-Event-ID` (or `?since=`, else
/// from the start), then each new one as it happens, across runs, until the client leaves or
/// the server stops. An event's id is its sequence number; its data the event as JSON.
pub async fn stream(
    State(server): State<Arc<Server>>,
    ProjectOf(p): ProjectOf,
    Id(id): Id,
    headers: HeaderMap,
    query: Query,
) -> Response {
    let since = match since_of(&headers, &query) {
        Ok(since) => since,
        Err(e) => return e.into_response(),
    };
    // The session must exist: resolved once, then followed by its full id.
    let project = p.clone();
    let resolved = tokio::task::spawn_blocking(move || {
        project.with_workspace(|ws| sessions::resolve_session(ws, &id))
    })
    .await;
    let id = match resolved {
        Ok(Ok(Ok(id))) => id,
        Ok(Ok(Err(e))) | Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(e) => return ApiError::internal(format!("the request failed: {e}")).into_response(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<sse::Event>(256);
    let stopping = server.stopping.clone();
    std::thread::spawn(move || {
        let _ = p.with_workspace(|ws| follow(ws, &id, since, &tx, &stopping));
    });
    let stop = server.stop.subscribe();
    Sse::new(super::changes::until_stopped(rx, stop))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn since_of(headers: &HeaderMap, query: &Query) -> Result<u64, ApiError> {
    query.only(&["since"])?;
    if let Some(last) = headers.get("last-event-id") {
        return last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| ApiError::usage("Last-Event-ID must be a sequence number"));
    }
    Ok(query.number("since", 0)?.unwrap_or(0))
}

/// Send the events of session `id` after `since` to `tx`, then follow: through the run's
/// control socket while an agent runs (each event as it is written), by looking at the log
/// every [`IDLE_POLL`] while none does. Ends when the client is gone or the server stops.
fn follow(
    ws: &Workspace,
    id: &str,
    mut since: u64,
    tx: &tokio::sync::mpsc::Sender<sse::Event>,
    stopping: &AtomicBool,
) {
    let gone = || tx.is_closed() || stopping.load(Ordering::SeqCst);
    let send = |event: &Event, since: &mut u64| -> bool {
        if event.seq <= *since {
            return true;
        }
        *since = event.seq;
        let Ok(data) = encode(event) else {
            return true;
        };
        let data = String::from_utf8_lossy(&data).trim_end().to_string();
        tx.blocking_send(sse::Event::default().id(event.seq.to_string()).data(data))
            .is_ok()
    };
    let mut known = u64::MAX;
    while !gone() {
        let last = runs::view(ws, id).last_event;
        if last != known {
            known = last;
            if let Ok((_, events, _)) = runs::events(ws, id, since) {
                for event in &events {
                    if !send(event, &mut since) {
                        return;
                    }
                }
            }
        }
        let Some(socket) = runs::follow_socket(ws, id) else {
            std::thread::sleep(IDLE_POLL);
            continue;
        };
        let Ok(mut reader) = control::follow(&socket, since) else {
            std::thread::sleep(IDLE_POLL);
            continue;
        };
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)));
        let mut line = Vec::new();
        loop {
            if gone() {
                return;
            }
            match reader.read_until(b'\n', &mut line) {
                // The run ended: what it wrote last is read from the log above.
                Ok(0) => break,
                Ok(_) if line.ends_with(b"\n") => {
                    if let Ok(event) = serde_json::from_slice::<Event>(&line)
                        && !send(&event, &mut since)
                    {
                        return;
                    }
                    line.clear();
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        known = u64::MAX;
    }
}
