//! The overview of a repository (`pm` with no command): counts of sessions and issues, the
//! live sessions, and what a sync would do. Counted from the local cache, so that it stays
//! quick at any number of records.

use crate::error::{Error, Result};
use crate::model::issue::IssueSummary;
use crate::model::{Issue, IssueStatus, Record, Session, SessionStatus, Timestamp};
use crate::store::{Scope, Tally, Texts};
use crate::workspace::Workspace;
use gix::bstr::ByteSlice;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// The overview, as every front end shows it.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub sessions: SessionCounts,
    /// Live sessions, most recently updated first.
    pub live: Vec<LiveSession>,
    pub issues: IssueCounts,
    pub sync: SyncState,
    /// Records that cannot be read.
    pub broken: usize,
}

#[derive(Debug, Serialize, Default)]
pub struct SessionCounts {
    pub active: usize,
    pub idle: usize,
    pub completed: usize,
    pub abandoned: usize,
}

#[derive(Debug, Serialize)]
pub struct LiveSession {
    pub id: String,
    pub branch: String,
    pub status: SessionStatus,
    pub issue_title: Option<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct IssueCounts {
    pub open: usize,
    pub in_progress: usize,
    pub done: usize,
    pub closed: usize,
}

/// Records compared with what was last fetched from the default remote.
#[derive(Debug, Serialize)]
pub struct SyncState {
    pub remote: String,
    /// Whether the remote exists in this repository.
    pub configured: bool,
    /// Whether records were ever fetched from it.
    pub fetched: bool,
    /// Local records a sync would push (new or changed since the last fetch).
    pub to_push: usize,
    /// Fetched records not yet in the local store.
    pub to_merge: usize,
    /// Whether `[sync] auto` shares each write in the background.
    pub auto: bool,
    /// How the last automatic sync went (with `auto`, once one ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_auto: Option<crate::ops::sync::auto::AutoSync>,
}

/// What the overview needs of a live session, read from its cached text.
#[derive(serde::Deserialize)]
struct Brief {
    id: String,
    branch: String,
    status: SessionStatus,
    #[serde(default)]
    issue: Option<String>,
    updated: Timestamp,
}

/// The overview of the workspace's repository. A query: it writes only the local cache.
pub fn overview(ws: &Workspace) -> Result<Overview> {
    let (session_tally, session_texts, sessions_broken) = census::<Session>(ws)?;
    let (issue_tally, issue_texts, issues_broken) = census::<Issue>(ws)?;
    let count = |tally: &Tally, word: &str| tally.get(word).copied().unwrap_or(0);
    let sessions = SessionCounts {
        active: count(&session_tally, SessionStatus::Active.as_str()),
        idle: count(&session_tally, SessionStatus::Idle.as_str()),
        completed: count(&session_tally, SessionStatus::Completed.as_str()),
        abandoned: count(&session_tally, SessionStatus::Abandoned.as_str()),
    };
    let issues = IssueCounts {
        open: count(&issue_tally, IssueStatus::Open.as_str()),
        in_progress: count(&issue_tally, IssueStatus::InProgress.as_str()),
        done: count(&issue_tally, IssueStatus::Done.as_str()),
        closed: count(&issue_tally, IssueStatus::Closed.as_str()),
    };
    let live_words = [SessionStatus::Active.as_str(), SessionStatus::Idle.as_str()];
    let mut records: Vec<Brief> = session_texts
        .records()
        .filter(|r| live_words.contains(&r.tally))
        .map(|r| serde_json::from_str::<Brief>(r.text))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::failed(format!("the local cache of sessions cannot be read: {e}")))?;
    records.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| b.id.cmp(&a.id)));
    let titles = issue_titles(ws, &issue_texts, &records);
    let live = records
        .into_iter()
        .map(|s| LiveSession {
            issue_title: s.issue.as_ref().and_then(|i| titles.get(i)).cloned(),
            id: s.id,
            branch: s.branch,
            status: s.status,
        })
        .collect();
    Ok(Overview {
        sessions,
        live,
        issues,
        sync: sync_state(ws)?,
        broken: sessions_broken + issues_broken,
    })
}

/// Every record of kind `T` counted by its tally word (its status), the cached texts of the
/// live ones, and how many records cannot be read. The counts of settled records come from the
/// cache's tally when it has one, so that only the live records are read; otherwise from every
/// record's tally word (not its text).
fn census<T: Record>(ws: &Workspace) -> Result<(Tally, Texts, usize)> {
    let live = ws.store().texts::<T>(Scope::Live)?;
    if let Some(tally) = live.tally() {
        let broken = live.broken.len();
        return Ok((tally, live, broken));
    }
    let all = ws.store().briefs::<T>(Scope::All)?;
    Ok((all.tally().unwrap_or_default(), live, all.broken.len()))
}

/// The titles of the issues `sessions` work on, by id: from the summaries the cache keeps of
/// issues (of those in `texts`, then of the others one by one).
fn issue_titles(ws: &Workspace, texts: &Texts, sessions: &[Brief]) -> HashMap<String, String> {
    let wanted: HashSet<&str> = sessions.iter().filter_map(|s| s.issue.as_deref()).collect();
    if wanted.is_empty() {
        return HashMap::new();
    }
    let mut titles: HashMap<String, String> = texts
        .records()
        .filter(|r| wanted.contains(r.id))
        .filter_map(|r| {
            let summary: IssueSummary<'_> = serde_json::from_str(r.summary).ok()?;
            Some((r.id.to_string(), summary.title.into_owned()))
        })
        .collect();
    for id in wanted {
        if !titles.contains_key(id)
            && let Ok(issue) = ws.store().read::<Issue>(id)
        {
            titles.insert(id.to_string(), issue.record.title);
        }
    }
    titles
}

/// Records compared with what was last fetched from the default remote, counted as `sync`
/// counts them, and kept in the local cache for as long as the ref files stay the same.
fn sync_state(ws: &Workspace) -> Result<SyncState> {
    let repo = ws.repo();
    let remote = ws.config()?.remote.clone();
    let configured = repo
        .remote_names()
        .iter()
        .any(|n| n.as_bytes() == remote.as_bytes());
    let theirs_prefix = crate::ops::sync::tracking_prefix(&remote);
    let work_out = || {
        let p = crate::ops::sync::pending(ws.store(), &remote).ok()?;
        Some(format!(
            "{} {} {}",
            u8::from(p.fetched),
            p.to_push,
            p.to_merge
        ))
    };
    let counts = ws
        .store()
        .memo("sync-state", &["refs/pm/", &theirs_prefix], work_out)
        .unwrap_or_default();
    let mut fields = counts.split(' ');
    let mut next = || fields.next().and_then(|f| f.parse::<usize>().ok());
    let (fetched, to_push, to_merge) = (next(), next(), next());
    let auto = ws.config()?.sync_auto;
    Ok(SyncState {
        auto,
        last_auto: auto.then(|| crate::ops::sync::auto::last(ws)).flatten(),
        configured,
        fetched: fetched == Some(1),
        to_push: to_push.unwrap_or(0),
        to_merge: to_merge.unwrap_or(0),
        remote,
    })
}
