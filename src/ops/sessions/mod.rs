//! The session operations: launch (or resume), take over, list, history, show, close,
//! reactivate, reconcile, purge. The rules themselves are in `lifecycle`; these apply them to
//! records, worktrees (through `ops::provision`) and the linked issue. Queries never write:
//! reconciling is its own operation, which listing front ends call first. Nothing here prints.

mod discover;
mod launch;
mod merge;
mod purge;
mod query;
mod reconcile;
mod resume;
mod transition;
mod views;

pub use discover::{Found, discover};
pub use launch::{LaunchRequest, Launched, launch, launched_before};
pub use merge::{MergeOutcome, MergeRequest, Strategy, merge};
pub use purge::{PurgeRequest, Purged, purge};
pub use query::{
    ListRequest, Located, Page, PageRequest, SessionDetails, SessionList, events, history, list,
    locate, of_issue, page, resolve_session, show,
};
pub use reconcile::{HandedOff, ReconcileRequest, Reconciled, Repaired, reconcile};
pub use resume::{TakeOverRequest, take_over};
pub use transition::{Changed, CloseRequest, ReactivateRequest, close, reactivate};
pub(crate) use transition::{agent_exited, resume_for_run};
pub use views::{HistoryView, SessionRow, SessionView};

use crate::error::Result;
use crate::model::{Session, SessionStatus};
use crate::store::{Broken, Listing, Scope};
use crate::workspace::Workspace;
use std::path::Path;

/// The live sessions among `sessions` that work on `issue`, except session `except`.
pub(super) fn live_on_issue<'a>(
    sessions: &'a [Session],
    issue: &str,
    except: Option<&str>,
) -> Vec<&'a Session> {
    sessions
        .iter()
        .filter(|s| {
            s.is_live() && s.issue.as_deref() == Some(issue) && Some(s.id.as_str()) != except
        })
        .collect()
}

/// Session records read as `V` (a view of [`Session`]), skipping unread those whose status is
/// not one of `statuses` (any when empty) or whose JSON text fails `also`, a cheap test that
/// must pass every record wanted. Others may still be returned: filter them after reading.
/// When only live statuses are wanted, finished sessions (settled in the cache) are not read.
pub fn list_by_status<V: serde::de::DeserializeOwned + Send>(
    ws: &Workspace,
    statuses: &[SessionStatus],
    also: impl Fn(&str) -> bool,
) -> Result<Listing<V>> {
    let wanted: Vec<String> = statuses
        .iter()
        .map(|s| format!("\"status\":\"{}\"", s.as_str()))
        .collect();
    let scope = if !statuses.is_empty() && statuses.iter().all(|s| s.is_live()) {
        Scope::Live
    } else {
        Scope::All
    };
    ws.store().list_where::<Session, V>(scope, |text| {
        (wanted.is_empty() || wanted.iter().any(|w| text.contains(w))) && also(text)
    })
}

/// All sessions that are not purged, plus the broken records.
pub(super) fn all_sessions(ws: &Workspace) -> Result<(Vec<Session>, Vec<Broken>)> {
    sessions_with(ws, &[])
}

/// The sessions with one of `statuses` (any when empty) that are not purged, plus the broken
/// records. Cached records of other statuses are skipped without being parsed.
pub(super) fn sessions_with(
    ws: &Workspace,
    statuses: &[SessionStatus],
) -> Result<(Vec<Session>, Vec<Broken>)> {
    let listing = list_by_status::<Session>(ws, statuses, |_| true)?;
    let sessions = listing
        .records
        .into_iter()
        .map(|s| s.record)
        .filter(|s| !s.is_purged() && (statuses.is_empty() || statuses.contains(&s.status)))
        .collect();
    Ok((sessions, listing.broken))
}

/// The live sessions (active or idle), purged ones left out.
pub(crate) fn live_sessions(ws: &Workspace) -> Result<Vec<Session>> {
    Ok(sessions_with(ws, LIVE)?.0)
}

/// (ahead, behind) of a session's branch against its base, when both are here.
pub(crate) fn ahead_behind_of(repo: &gix::Repository, session: &Session) -> Option<(u32, u32)> {
    query::ahead_behind(repo, session)
}

pub(super) const LIVE: &[SessionStatus] = &[SessionStatus::Active, SessionStatus::Idle];

pub(super) fn same_path(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}
