//! `pm` with no command: a short overview of the repository.

use super::{Ctx, print, print_json};
use crate::config::Config;
use crate::error::Result;
use crate::model::{Issue, IssueStatus, RecordKind, Session, SessionStatus};
use crate::render::{Column, IdPrefixes, Table, clean_line};
use crate::store::Store;
use gix::bstr::ByteSlice;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Serialize)]
struct Overview {
    sessions: SessionCounts,
    live: Vec<LiveSession>,
    issues: IssueCounts,
    sync: SyncState,
    broken: usize,
}

#[derive(Serialize, Default)]
struct SessionCounts {
    active: usize,
    idle: usize,
    completed: usize,
    abandoned: usize,
}

#[derive(Serialize)]
struct LiveSession {
    id: String,
    branch: String,
    status: SessionStatus,
    issue_title: Option<String>,
}

#[derive(Serialize, Default)]
struct IssueCounts {
    open: usize,
    in_progress: usize,
    done: usize,
    closed: usize,
}

/// Records compared with what was last fetched from the default remote.
#[derive(Serialize)]
struct SyncState {
    remote: String,
    /// Whether the remote exists in this repository.
    configured: bool,
    /// Whether records were ever fetched from it.
    fetched: bool,
    /// Local records that are new or changed since the last fetch.
    to_push: usize,
    /// Fetched records not yet in the local store.
    to_merge: usize,
}

/// What the overview needs of a session: read from the cache without the other fields, which
/// matters with many thousands of finished sessions.
#[derive(serde::Deserialize)]
struct Brief {
    id: String,
    branch: String,
    status: SessionStatus,
    #[serde(default)]
    issue: Option<String>,
    updated: crate::model::Timestamp,
    #[serde(default)]
    purged: Option<serde::de::IgnoredAny>,
}

/// At most this many live sessions are listed.
const SHOWN: usize = 10;

pub fn run(ctx: &Ctx) -> Result<()> {
    let store = ctx.store()?;
    let sessions = store.list_as::<Session, Brief>()?;
    let issues = store.list::<Issue>()?;
    let titles: HashMap<&str, &str> = issues
        .records
        .iter()
        .map(|i| (i.record.id.as_str(), i.record.title.as_str()))
        .collect();
    let mut counts = SessionCounts::default();
    let mut live = Vec::new();
    let mut records: Vec<&Brief> = sessions
        .records
        .iter()
        .map(|s| &s.record)
        .filter(|s| s.purged.is_none())
        .collect();
    records.sort_by_key(|s| std::cmp::Reverse(s.updated));
    for s in records {
        match s.status {
            SessionStatus::Active => counts.active += 1,
            SessionStatus::Idle => counts.idle += 1,
            SessionStatus::Completed => counts.completed += 1,
            SessionStatus::Abandoned => counts.abandoned += 1,
        }
        if s.status.is_live() {
            live.push(LiveSession {
                id: s.id.clone(),
                branch: s.branch.clone(),
                status: s.status,
                issue_title: s
                    .issue
                    .as_deref()
                    .and_then(|i| titles.get(i))
                    .map(|t| t.to_string()),
            });
        }
    }
    let mut issue_counts = IssueCounts::default();
    for issue in &issues.records {
        match issue.record.status {
            IssueStatus::Open => issue_counts.open += 1,
            IssueStatus::InProgress => issue_counts.in_progress += 1,
            IssueStatus::Done => issue_counts.done += 1,
            IssueStatus::Closed => issue_counts.closed += 1,
        }
    }
    let overview = Overview {
        sessions: counts,
        live,
        issues: issue_counts,
        sync: sync_state(&store)?,
        broken: sessions.broken.len() + issues.broken.len(),
    };
    if ctx.global.json {
        return print_json(&overview);
    }
    let ids = if overview.live.is_empty() {
        IdPrefixes::new(Vec::new())
    } else {
        IdPrefixes::new(store.ids(RecordKind::Session)?)
    };
    print(&render(ctx, &overview, &ids))
}

fn sync_state(store: &Store) -> Result<SyncState> {
    let repo = store.repo();
    let main = crate::worktree::main_workdir(repo)?;
    let remote = Config::load(&main)?.remote;
    let configured = repo
        .remote_names()
        .iter()
        .any(|n| n.as_bytes() == remote.as_bytes());
    let tips = |prefix: &str| -> HashMap<String, Option<gix::ObjectId>> {
        let Ok(platform) = repo.references() else {
            return HashMap::new();
        };
        let Ok(iter) = platform.prefixed(prefix) else {
            return HashMap::new();
        };
        iter.filter_map(std::result::Result::ok)
            .map(|r| {
                let name = r.name().as_bstr().to_string();
                let path = name.strip_prefix(prefix).unwrap_or(&name).to_string();
                (path, r.target().try_id().map(ToOwned::to_owned))
            })
            .collect()
    };
    let ours = tips("refs/pm/");
    let theirs = tips(&crate::sync::tracking_prefix(&remote));
    Ok(SyncState {
        configured,
        fetched: !theirs.is_empty(),
        to_push: ours
            .iter()
            .filter(|(p, t)| theirs.get(*p) != Some(t))
            .count(),
        to_merge: theirs
            .iter()
            .filter(|(p, t)| ours.get(*p) != Some(t))
            .count(),
        remote,
    })
}

fn render(ctx: &Ctx, o: &Overview, ids: &IdPrefixes) -> String {
    let style = &ctx.style;
    let s = &o.sessions;
    let mut out = format!(
        "Sessions: {} active, {} idle, {} completed, {} abandoned\n",
        s.active, s.idle, s.completed, s.abandoned
    );
    if !o.live.is_empty() {
        let mut table = Table::with_columns(vec![
            Column::id("ID", ids),
            Column::text("BRANCH", 12),
            Column::keep("STATUS"),
            Column::text("ISSUE", 12),
        ]);
        for l in o.live.iter().take(SHOWN) {
            table.row(vec![
                (l.id.clone(), None),
                (clean_line(&l.branch), None),
                (
                    l.status.as_str().to_string(),
                    Some(super::agent::status_color(l.status)),
                ),
                (
                    l.issue_title
                        .as_deref()
                        .map(clean_line)
                        .unwrap_or_else(|| "-".into()),
                    None,
                ),
            ]);
        }
        for line in table.render(&style.indented(2)).lines() {
            out.push_str(&format!("  {line}\n"));
        }
        if o.live.len() > SHOWN {
            out.push_str(&format!(
                "  … and {} more (pm agent list)\n",
                o.live.len() - SHOWN
            ));
        }
    }
    let i = &o.issues;
    out.push_str(&format!(
        "Issues: {} open, {} in progress, {} done, {} closed\n",
        i.open, i.in_progress, i.done, i.closed
    ));
    let sync = &o.sync;
    let line = match (sync.configured, sync.fetched) {
        (false, _) => format!("no remote {} (pm sync needs one)", sync.remote),
        (true, false) => format!("{}: never synced (pm sync)", sync.remote),
        (true, true) if sync.to_push == 0 && sync.to_merge == 0 => {
            format!("{}: up to date as of the last fetch", sync.remote)
        }
        (true, true) => format!(
            "{}: {} to push, {} fetched but not merged (pm sync)",
            sync.remote, sync.to_push, sync.to_merge
        ),
    };
    out.push_str(&format!("Sync: {line}\n"));
    if o.broken > 0 {
        out.push_str(&format!(
            "{} record(s) cannot be read (see pm issue list, pm agent list)\n",
            o.broken
        ));
    }
    out.push_str(&style.dim("Commands: pm --help\n"));
    out
}
