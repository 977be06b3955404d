//! The change feed: server-sent events that tell a page what changed underneath it (a record
//! written by another terminal, a sync, an agent's run starting or ending, a worktree or
//! branch moving), so that it reloads what it shows without being reloaded itself.
//!
//! One thread per project looks every [`POLL`] at the stamps (identity, size, modification
//! time) of the folders and files whose change means one of these: `packed-refs`, the folders
//! of `refs/pm/sessions`, `refs/pm/issues` and `refs/heads`, the run folders in `.git/pm/run`,
//! and git's worktree entries. git and pm replace a ref, a run's state or a HEAD by renaming a
//! new file into its folder, which changes the folder's stamp; so a few dozen `stat` calls tell
//! every change, whatever the number of records.

use super::Server;
use super::reply::encode;
use super::routes::ProjectOf;
use axum::extract::State;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How often the stamps are read.
const POLL: Duration = Duration::from_millis(500);

/// How many changes of each kind the feed has seen since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sessions: u64,
    pub issues: u64,
    pub runs: u64,
    pub worktrees: u64,
}

impl Counts {
    /// The kinds whose count differs from `before`.
    fn kinds_since(&self, before: &Counts) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        for (name, now, then) in [
            ("sessions", self.sessions, before.sessions),
            ("issues", self.issues, before.issues),
            ("runs", self.runs, before.runs),
            ("worktrees", self.worktrees, before.worktrees),
        ] {
            if now != then {
                kinds.push(name);
            }
        }
        kinds
    }
}

/// A project's feed: the latest counts, watched by every listener.
pub struct Feed {
    counts: watch::Sender<Counts>,
}

impl Feed {
    /// Start looking at the repository whose common folder is `common` (in a thread of its
    /// own, until `stopping` is set).
    pub fn start(project: &str, common: PathBuf, stopping: Arc<AtomicBool>) -> Feed {
        let (counts, _) = watch::channel(Counts::default());
        let sender = counts.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("pm serve: changes of {project}"))
            .spawn(move || poll(&common, &sender, &stopping));
        if let Err(e) = spawned {
            eprintln!("pm serve: the change feed of {project} does not run: {e}");
        }
        Feed { counts }
    }
}

fn poll(common: &Path, counts: &watch::Sender<Counts>, stopping: &AtomicBool) {
    let mut last = Stamps::read(common);
    while !stopping.load(Ordering::SeqCst) {
        std::thread::sleep(POLL);
        let now = Stamps::read(common);
        {
            let before = &last;
            let mut next = *counts.borrow();
            let mut changed = false;
            for (count, a, b) in [
                (&mut next.sessions, before.sessions, now.sessions),
                (&mut next.issues, before.issues, now.issues),
                (&mut next.runs, before.runs, now.runs),
                (&mut next.worktrees, before.worktrees, now.worktrees),
            ] {
                if a != b {
                    *count += 1;
                    changed = true;
                }
            }
            if changed {
                counts.send_replace(next);
            }
        }
        last = now;
    }
}

/// A hash of the stamps of what each kind depends on.
struct Stamps {
    sessions: u64,
    issues: u64,
    runs: u64,
    worktrees: u64,
}

impl Stamps {
    fn read(common: &Path) -> Stamps {
        let packed = common.join("packed-refs");
        let records = |kind: &str| {
            hash_of(|h| {
                stamp(&packed, h);
                folder_stamps(&common.join("refs/pm").join(kind), 0, h);
            })
        };
        Stamps {
            sessions: records("sessions"),
            issues: records("issues"),
            runs: hash_of(|h| folder_stamps(&common.join("pm/run"), 1, h)),
            worktrees: hash_of(|h| {
                stamp(&packed, h);
                stamp(&common.join("HEAD"), h);
                folder_stamps(&common.join("refs/heads"), 8, h);
                folder_stamps(&common.join("worktrees"), 1, h);
            }),
        }
    }
}

fn hash_of(add: impl FnOnce(&mut DefaultHasher)) -> u64 {
    let mut hasher = DefaultHasher::new();
    add(&mut hasher);
    hasher.finish()
}

/// The stamp of one file or folder (nothing for one that is not there).
fn stamp(path: &Path, hasher: &mut impl Hasher) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata(path) {
        (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec()).hash(hasher);
    }
}

/// The stamps of `folder` and of the folders below it, `depth` levels down.
fn folder_stamps(folder: &Path, depth: usize, hasher: &mut impl Hasher) {
    stamp(folder, hasher);
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let mut below: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    below.sort();
    for path in below {
        path.hash(hasher);
        folder_stamps(&path, depth - 1, hasher);
    }
}

/// What a `change` event says.
#[derive(Serialize)]
struct Change<'a> {
    json_version: u32,
    project: &'a str,
    kinds: Vec<&'static str>,
    counts: Counts,
}

/// `GET /changes`: first a `ready` event with the counts, then a `change` event whenever
/// records, runs or worktrees change: `{"json_version", "project", "kinds": [...], "counts"}`,
/// `kinds` among `sessions`, `issues`, `runs`, `worktrees`.
pub async fn stream(State(server): State<Arc<Server>>, ProjectOf(p): ProjectOf) -> Response {
    let mut counts = p.feed.counts.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<sse::Event>(16);
    let name = p.name.clone();
    let event = move |kind: &'static str, kinds: Vec<&'static str>, counts: Counts| {
        let change = Change {
            json_version: crate::api::JSON_VERSION,
            project: &name,
            kinds,
            counts,
        };
        let data = encode(&change).unwrap_or_default();
        sse::Event::default()
            .event(kind)
            .data(String::from_utf8_lossy(&data).trim_end())
    };
    tokio::spawn(async move {
        let mut seen = *counts.borrow_and_update();
        if tx.send(event("ready", Vec::new(), seen)).await.is_err() {
            return;
        }
        while counts.changed().await.is_ok() {
            let now = *counts.borrow_and_update();
            let kinds = now.kinds_since(&seen);
            seen = now;
            if !kinds.is_empty() && tx.send(event("change", kinds, now)).await.is_err() {
                return;
            }
        }
    });
    Sse::new(until_stopped(rx, server.stop.subscribe()))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The events `rx` receives, until it closes or `stop` turns true.
pub fn until_stopped(
    rx: tokio::sync::mpsc::Receiver<sse::Event>,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Result<sse::Event, std::convert::Infallible>> {
    futures_util::stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        if *stop.borrow() {
            return None;
        }
        let event = tokio::select! {
            event = rx.recv() => event,
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        event.map(|e| (Ok(e), (rx, stop)))
    })
}
