//! Dynamic shell completion: the shell calls `pm` with `COMPLETE=<shell>` and the arguments so
//! far, and these functions offer the values that exist right now (session and issue ids with
//! their branch, status and title, branches, remotes). They run in the shell's current folder,
//! never print, and answer nothing rather than fail.

use crate::model::{Issue, SessionStatus};
use crate::render::{clean_line, truncate};
use crate::store::Store;
use clap::builder::StyledStr;
use clap_complete::engine::CompletionCandidate;
use std::collections::HashMap;
use std::ffi::OsStr;

/// The environment variable that switches `pm` into completion mode.
pub const VAR: &str = "COMPLETE";

/// Print the registration script of `shell` (what `COMPLETE=<shell> pm` prints). The script
/// calls `pm` through `PATH`, so it holds no machine path.
pub fn registration(shell: &str) -> Option<String> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells.completer(shell)?;
    let mut buf = Vec::new();
    completer
        .write_registration(VAR, "pm", "pm", "pm", &mut buf)
        .ok()?;
    String::from_utf8(buf).ok()
}

fn store() -> Option<Store> {
    let dir = std::env::current_dir().ok()?;
    Store::open(&dir).ok()
}

/// Ids that start with what was typed, in any case (ids are shown upper-case).
fn matches(id: &str, current: &OsStr) -> bool {
    let typed = current.to_string_lossy().to_ascii_uppercase();
    id.starts_with(&typed)
}

fn candidate(value: &str, help: String) -> CompletionCandidate {
    CompletionCandidate::new(value).help(Some(StyledStr::from(clean_line(&help))))
}

/// What completion needs of a session; read without building whole records.
#[derive(serde::Deserialize)]
struct BriefSession {
    id: String,
    branch: String,
    status: SessionStatus,
    #[serde(default)]
    issue: Option<String>,
    #[serde(default)]
    purged: Option<serde::de::IgnoredAny>,
}

/// What completion needs of an issue.
#[derive(serde::Deserialize)]
struct BriefIssue {
    id: String,
    title: String,
}

/// Sessions with one of `statuses` (any status when empty) whose id starts with what was typed.
fn sessions(current: &OsStr, statuses: &[SessionStatus]) -> Vec<CompletionCandidate> {
    let Some(store) = store() else {
        return Vec::new();
    };
    // A cheap test of each cached record's JSON text first, so that with thousands of
    // finished sessions only the few wanted ones are read.
    let typed = format!(
        "\"id\":\"{}",
        current.to_string_lossy().to_ascii_uppercase()
    );
    let Ok(listing) = crate::sessions::list_by_status::<BriefSession>(&store, statuses, |text| {
        text.contains(&typed)
    }) else {
        return Vec::new();
    };
    let keep = |s: &BriefSession| statuses.is_empty() || statuses.contains(&s.status);
    let mut sessions: Vec<BriefSession> = listing
        .records
        .into_iter()
        .map(|s| s.record)
        .filter(|s| s.purged.is_none() && keep(s) && matches(&s.id, current))
        .collect();
    sessions.sort_by(|a, b| b.id.cmp(&a.id));
    let titles: HashMap<String, String> = if sessions.iter().any(|s| s.issue.is_some()) {
        store
            .list_as::<Issue, BriefIssue>()
            .map(|l| {
                l.records
                    .into_iter()
                    .map(|i| (i.record.id, i.record.title))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        HashMap::new()
    };
    sessions
        .iter()
        .map(|s| {
            let mut help = format!("{} · {}", s.branch, s.status.as_str());
            if let Some(title) = s.issue.as_ref().and_then(|i| titles.get(i)) {
                help.push_str(" · ");
                help.push_str(&truncate(title, 50));
            }
            candidate(&s.id, help)
        })
        .collect()
}

/// Live (active or idle) sessions: what `close` and `resume` act on.
pub fn live_sessions(current: &OsStr) -> Vec<CompletionCandidate> {
    sessions(current, &[SessionStatus::Active, SessionStatus::Idle])
}

/// Finished sessions: what `reactivate` acts on.
pub fn finished_sessions(current: &OsStr) -> Vec<CompletionCandidate> {
    sessions(
        current,
        &[SessionStatus::Completed, SessionStatus::Abandoned],
    )
}

/// Every session that is not purged.
pub fn any_session(current: &OsStr) -> Vec<CompletionCandidate> {
    sessions(current, &[])
}

/// Issues, with their title (open and in-progress ones first).
pub fn issues(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(store) = store() else {
        return Vec::new();
    };
    let Ok(listing) = store.list::<Issue>() else {
        return Vec::new();
    };
    let mut issues: Vec<Issue> = listing
        .records
        .into_iter()
        .map(|s| s.record)
        .filter(|i| matches(&i.id, current))
        .collect();
    issues.sort_by(Issue::list_order);
    issues
        .iter()
        .map(|i| {
            candidate(
                &i.id,
                format!("{} · {}", truncate(&i.title, 60), i.status.as_str()),
            )
        })
        .collect()
}

/// Local branch names.
pub fn branches(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Some(store) = store() else {
        return Vec::new();
    };
    let Ok(platform) = store.repo().references() else {
        return Vec::new();
    };
    let Ok(iter) = platform.local_branches() else {
        return Vec::new();
    };
    iter.filter_map(Result::ok)
        .map(|r| r.name().shorten().to_string())
        .filter(|name| name.starts_with(typed.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// Configured git remotes.
pub fn remotes(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Some(store) = store() else {
        return Vec::new();
    };
    store
        .repo()
        .remote_names()
        .iter()
        .map(|name| name.to_string())
        .filter(|name| name.starts_with(typed.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}
