//! The views every front end prints: the CLI's `--json` documents, MCP `structuredContent`
//! and the HTTP server's bodies are these structs, built from the operations' results, so front ends
//! cannot disagree about a key. Each document carries `json_version` first.
//!
//! The keys are a contract documented in the README: keys may be added, never renamed or
//! removed without raising [`JSON_VERSION`].

mod hooks;
mod issues;
mod sessions;
mod worktrees;

pub use hooks::{Hooks, HooksApproved};
pub use issues::{
    IssueChange, IssueError, IssueJson, IssueList, IssueSession, IssueShow, IssuesClosed,
};
pub use sessions::{
    HandedOffJson, LastCommitJson, Launch, Purge, Reconcile, RepairedJson, Restarted, RunEvents,
    RunReport, RunSent, SessionChange, SessionConfig, SessionJson, SessionList, SessionPage,
    SessionPrompt, SessionShow, Transcript,
};

pub use worktrees::{WorktreeJson, WorktreeList, WorktreeSession, WorktreesPruned};

use crate::error::{Error, Result};
use crate::store::Event;
use serde::Serialize;

/// The version of the JSON documents, the first key of each. It changes only when a key is
/// removed or changes meaning; new keys may appear without it changing.
pub const JSON_VERSION: u32 = 1;

/// A view as a whole document: `json_version` first, then the view's keys.
#[derive(Serialize)]
pub struct Document<'a, T: ?Sized> {
    json_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `view` as a document.
pub fn document<T: Serialize + ?Sized>(view: &T) -> Document<'_, T> {
    Document {
        json_version: JSON_VERSION,
        body: view,
    }
}

/// `view` as a document in memory (MCP).
pub fn value<T: Serialize + ?Sized>(view: &T) -> Result<serde_json::Value> {
    serde_json::to_value(document(view))
        .map_err(|e| Error::failed(format!("cannot encode JSON: {e}")))
}

/// The history of a record (an issue or a session), newest first.
#[derive(Debug, Serialize)]
pub struct Events<'a> {
    pub id: &'a str,
    pub events: &'a [Event],
}

/// A session's history: its record's changes (newest first) and its agent's run events in
/// this clone (oldest first, numbered).
#[derive(Debug, Serialize)]
pub struct SessionEvents<'a> {
    pub id: &'a str,
    pub events: &'a [Event],
    pub run_events: &'a [crate::runtime::events::Event],
}
