//! `pm` with no command: a short overview of the repository.

use super::{Ctx, print, print_json};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::issue::IssueSummary;
use crate::model::{Issue, IssueStatus, Record, Session, SessionStatus};
use crate::render::{Column, IdPrefixes, Table, clean_line};
use crate::store::{Scope, Store, Tally, Texts};
use gix::bstr::ByteSlice;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

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

/// What the overview needs of a live session, read from its cached text.
#[derive(serde::Deserialize)]
struct Brief {
    id: String,
    branch: String,
    status: SessionStatus,
    #[serde(default)]
    issue: Option<String>,
    updated: crate::model::Timestamp,
}

/// At most this many live sessions are listed.
const SHOWN: usize = 10;

/// Every record of kind `T` counted by its tally word (its status), the cached texts of the
/// live ones, and how many records cannot be read. The counts of settled records come from the
/// cache's tally when it has one, so that only the live records are read; otherwise from every
/// record's tally word (not its text).
fn census<T: Record>(store: &Store) -> Result<(Tally, Texts, usize)> {
    let live = store.texts::<T>(Scope::Live)?;
    if let Some(tally) = live.tally() {
        let broken = live.broken.len();
        return Ok((tally, live, broken));
    }
    let all = store.briefs::<T>(Scope::All)?;
    Ok((all.tally().unwrap_or_default(), live, all.broken.len()))
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let store = ctx.store()?;
    let (session_tally, session_texts, sessions_broken) = census::<Session>(&store)?;
    let (issue_tally, issue_texts, issues_broken) = census::<Issue>(&store)?;
    let count = |tally: &Tally, word: &str| tally.get(word).copied().unwrap_or(0);
    let counts = SessionCounts {
        active: count(&session_tally, SessionStatus::Active.as_str()),
        idle: count(&session_tally, SessionStatus::Idle.as_str()),
        completed: count(&session_tally, SessionStatus::Completed.as_str()),
        abandoned: count(&session_tally, SessionStatus::Abandoned.as_str()),
    };
    let issue_counts = IssueCounts {
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
    let titles = issue_titles(&store, &issue_texts, &records);
    let live = records
        .into_iter()
        .map(|s| LiveSession {
            issue_title: s.issue.as_ref().and_then(|i| titles.get(i)).cloned(),
            id: s.id,
            branch: s.branch,
            status: s.status,
        })
        .collect();
    let overview = Overview {
        sessions: counts,
        live,
        issues: issue_counts,
        sync: sync_state(&store)?,
        broken: sessions_broken + issues_broken,
    };
    if ctx.global.json {
        return print_json(&overview);
    }
    let shown: Vec<&str> = overview
        .live
        .iter()
        .take(SHOWN)
        .map(|l| l.id.as_str())
        .collect();
    let ids = super::agent::id_prefixes(ctx, &store, &shown)?;
    print(&render(ctx, &overview, &ids))
}

/// The titles of the issues `sessions` work on, by id: from the summaries the cache keeps of
/// issues (of those in `texts`, then of the others one by one).
fn issue_titles(store: &Store, texts: &Texts, sessions: &[Brief]) -> HashMap<String, String> {
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
            && let Ok(issue) = store.read::<Issue>(id)
        {
            titles.insert(id.to_string(), issue.record.title);
        }
    }
    titles
}

/// Records compared with what was last fetched from the default remote. Worked out from the
/// refs (every record's and every tracking ref's tip), and kept in the local cache for as long
/// as those ref files stay the same.
fn sync_state(store: &Store) -> Result<SyncState> {
    let repo = store.repo();
    let main = crate::git::worktree::main_workdir(repo)?;
    let remote = Config::load(&main)?.remote;
    let configured = repo
        .remote_names()
        .iter()
        .any(|n| n.as_bytes() == remote.as_bytes());
    let theirs_prefix = crate::sync::tracking_prefix(&remote);
    let work_out = || {
        let tips = |prefix: &str| -> Option<HashMap<String, Option<gix::ObjectId>>> {
            let platform = repo.references().ok()?;
            let iter = platform.prefixed(prefix).ok()?;
            Some(
                iter.filter_map(std::result::Result::ok)
                    .map(|r| {
                        let name = r.name().as_bstr().to_string();
                        let path = name.strip_prefix(prefix).unwrap_or(&name).to_string();
                        (path, r.target().try_id().map(ToOwned::to_owned))
                    })
                    .collect(),
            )
        };
        let ours = tips("refs/pm/")?;
        let theirs = tips(&theirs_prefix)?;
        let to_push = ours
            .iter()
            .filter(|(p, t)| theirs.get(*p) != Some(t))
            .count();
        let to_merge = theirs
            .iter()
            .filter(|(p, t)| ours.get(*p) != Some(t))
            .count();
        Some(format!(
            "{} {to_push} {to_merge}",
            u8::from(!theirs.is_empty())
        ))
    };
    let counts = store
        .memo("sync-state", &["refs/pm/", &theirs_prefix], work_out)
        .unwrap_or_default();
    let mut fields = counts.split(' ');
    let mut next = || fields.next().and_then(|f| f.parse::<usize>().ok());
    let (fetched, to_push, to_merge) = (next(), next(), next());
    Ok(SyncState {
        configured,
        fetched: fetched == Some(1),
        to_push: to_push.unwrap_or(0),
        to_merge: to_merge.unwrap_or(0),
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
