use super::views::{HistoryView, RowOf, SessionRow, SessionView, Sights, view};
use super::{LIVE, all_sessions, list_by_status, sessions_with};
use crate::error::{Error, Result};
use crate::git::worktree;
use crate::model::{RecordKind, Session, SessionStatus};
use crate::runtime::lease::RunState;
use crate::store::{Broken, Event, Scope};
use crate::workspace::Workspace;
use std::path::Path;

/// `show`'s extra local facts.
#[derive(Debug, Clone)]
pub struct SessionDetails {
    pub view: SessionView,
    pub dirty: Option<bool>,
    /// (ahead, behind) of the branch against its base.
    pub ahead_behind: Option<(u32, u32)>,
    /// This clone owns the session but its branch is gone (deleted outside pm).
    pub branch_missing: bool,
    pub host: Option<String>,
    /// The agent's run in this clone.
    pub run: crate::ops::runs::RunView,
    /// What provisioning its worktree did last in this clone (copy, setup commands).
    pub setup: Option<crate::ops::provision::SetupReport>,
}

/// Where `close` without an id finds its session.
#[derive(Debug, Clone)]
pub enum Located {
    /// The current folder is inside this session's worktree.
    Here(String),
    /// Not inside any session's worktree; these live sessions could be meant.
    Candidates(Vec<Session>),
}

/// The full id of the session `text` names, wherever a session is asked for: the branch of a
/// session (its live session, else the newest one on it), or a full id or unique prefix of
/// one, in any case. A text that is both a branch and an id prefix names the branch's session;
/// a full id of an existing session names that session without looking at branches.
pub fn resolve_session(ws: &Workspace, text: &str) -> Result<String> {
    let id_like = crate::model::id::normalize_prefix(text);
    if let Some(id) = &id_like
        && crate::model::id::is_canonical_id(id)
        && let Ok(Some(_)) = ws
            .repo()
            .try_find_reference(format!("{}{id}", RecordKind::Session.ref_prefix()).as_str())
    {
        return Ok(id.clone());
    }
    let branch_like = crate::model::session::branch_name_problem(text).is_none();
    if branch_like && let Some(id) = session_on_branch(ws, text)? {
        return Ok(id);
    }
    let Some(prefix) = id_like else {
        return Err(if branch_like {
            Error::not_found(format!("no session with id or branch {text}"))
        } else {
            Error::usage(format!(
                "{text:?} is neither a session id nor a branch name"
            ))
        });
    };
    let resolved = ws.store().resolve(RecordKind::Session, text);
    if resolved.is_err()
        && branch_like
        && !ws
            .store()
            .ids(RecordKind::Session)?
            .iter()
            .any(|id| id.starts_with(&prefix))
    {
        return Err(Error::not_found(format!(
            "no session with id or branch {text}"
        )));
    }
    resolved
}

/// The session on `branch`: a live one if there is one, else the one started last (purged
/// ones only when nothing else used the branch).
pub(super) fn session_on_branch(ws: &Workspace, branch: &str) -> Result<Option<String>> {
    // The cached JSON of a record on this branch holds exactly this text: others stay unread.
    let needle = serde_json::to_string(branch)
        .map(|quoted| format!("\"branch\":{quoted}"))
        .map_err(|e| Error::failed(format!("cannot encode a branch name: {e}")))?;
    let listing = list_by_status::<Session>(ws, &[], |json| json.contains(&needle))?;
    Ok(listing
        .records
        .into_iter()
        .map(|stored| stored.record)
        .filter(|s| s.branch == branch)
        .max_by(|a, b| {
            let rank = |s: &Session| (!s.is_purged(), s.is_live(), s.started);
            rank(a).cmp(&rank(b)).then_with(|| a.id.cmp(&b.id))
        })
        .map(|s| s.id))
}

/// Find the session whose worktree contains `dir` (symlinks resolved). Live sessions win over
/// finished ones that used the same folder earlier.
pub fn locate(ws: &Workspace, dir: &Path) -> Result<Located> {
    let _repo = ws.repo();
    let local = ws.local();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let (mut sessions, _) = all_sessions(ws)?;
    sessions.sort_by_key(|s| (!s.status.is_live(), std::cmp::Reverse(s.updated)));
    let notes = local.notes(sessions.len());
    for session in &sessions {
        if let Some(l) = notes.session(&session.id)
            && let Ok(root) = l.worktree.canonicalize()
            && dir.starts_with(&root)
        {
            return Ok(Located::Here(session.id.clone()));
        }
    }
    // A worktree whose path this clone did not record: match the branch checked out here.
    if let Ok(here) = gix::discover(&dir)
        && here.kind() == gix::repository::Kind::LinkedWorkTree
        && let Ok(Some(head)) = here.head_name()
    {
        let branch = head.shorten().to_string();
        if let Some(session) = sessions.iter().find(|s| s.branch == branch) {
            return Ok(Located::Here(session.id.clone()));
        }
    }
    Ok(Located::Candidates(
        sessions.into_iter().filter(Session::is_live).collect(),
    ))
}

/// What `list` is asked for.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ListRequest {
    /// Only these statuses; empty means live ones (or all with `all`).
    pub statuses: Vec<SessionStatus>,
    pub all: bool,
    /// Only sessions of this issue (an id or unique prefix).
    pub issue: Option<String>,
    /// At most this many, the newest.
    pub limit: Option<usize>,
}

/// What `list` found.
#[derive(Debug, Clone)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
    /// Records that cannot be read.
    pub broken: Vec<Broken>,
    /// How many sessions matched before the limit.
    pub total: usize,
}

/// Sessions for `list`, newest first. A query: it writes nothing (front ends that list call
/// `reconcile` first, so that sessions whose worktree is gone show as abandoned).
pub fn list(ws: &Workspace, request: &ListRequest) -> Result<SessionList> {
    let issue = match &request.issue {
        Some(text) => Some(ws.store().resolve(RecordKind::Issue, text)?),
        None => None,
    };
    let statuses = match (request.statuses.is_empty(), request.all) {
        (false, _) => request.statuses.as_slice(),
        (true, true) => &[],
        (true, false) => LIVE,
    };
    let (mut sessions, broken) = sessions_with(ws, statuses)?;
    if let Some(issue) = issue {
        sessions.retain(|s| s.issue.as_deref() == Some(issue.as_str()));
    }
    let total = sessions.len();
    let mut views = newest_views(ws, sessions, request.limit);
    for view in views.iter_mut().filter(|v| v.mine && v.session.is_live()) {
        view.agent = agent_state(&crate::ops::runs::view(ws, &view.session.id));
    }
    Ok(SessionList {
        sessions: views,
        broken,
        total,
    })
}

/// `sessions` newest first (at most `limit`), with what this clone knows of each.
fn newest_views(
    ws: &Workspace,
    mut sessions: Vec<Session>,
    limit: Option<usize>,
) -> Vec<SessionView> {
    sessions.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    if let Some(limit) = limit {
        sessions.truncate(limit);
    }
    let sights = Sights::new(ws, sessions.len());
    sessions.into_iter().map(|s| view(&sights, s)).collect()
}

/// The sessions of issue `issue` (its full id), newest first; purged ones are left out.
pub fn of_issue(ws: &Workspace, issue: &str) -> Result<Vec<Session>> {
    let needle = format!("\"issue\":\"{issue}\"");
    let listing = list_by_status::<Session>(ws, &[], |json| json.contains(&needle))?;
    let mut sessions: Vec<Session> = listing
        .records
        .into_iter()
        .map(|stored| stored.record)
        .filter(|s| s.issue.as_deref() == Some(issue) && !s.is_purged())
        .collect();
    sessions.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    Ok(sessions)
}

/// Every session (purged ones left out), newest first, at most `limit`, handed to `show`
/// with the records that cannot be read; what `show` returns is returned. The sessions are
/// read from the local cache's texts without building each record whole, on several threads.
pub fn history<R>(
    ws: &Workspace,
    limit: Option<usize>,
    show: impl FnOnce(&[HistoryView<'_>], &[Broken]) -> Result<R>,
) -> Result<R> {
    let texts = ws.store().texts::<Session>(Scope::All)?;
    if let Some(rows) = read_rows(&texts) {
        return show_history(ws, &rows, &texts.broken, limit, show);
    }
    // A cached text cannot be read as a row: read again every record whose text cannot.
    let check = |text: &str| serde_json::from_str::<SessionRow<'_>>(text).is_ok();
    let texts = ws.store().texts_checked::<Session>(Scope::All, &check)?;
    let rows = read_rows(&texts)
        .ok_or_else(|| Error::failed("the local cache of sessions cannot be read"))?;
    show_history(ws, &rows, &texts.broken, limit, show)
}

/// The rows of every session in `texts` that is not purged (in parts, one per thread), or
/// `None` if a text cannot be read as one.
pub(super) fn read_rows(texts: &crate::store::Texts) -> Option<Vec<Vec<SessionRow<'_>>>> {
    let wanted: Vec<&str> = texts
        .records()
        .filter(|r| r.tally != crate::model::session::PURGED)
        .map(|r| r.text)
        .collect();
    fn parse<'t>(part: &[&'t str]) -> Option<Vec<SessionRow<'t>>> {
        part.iter()
            .map(|text| serde_json::from_str(text).ok())
            .collect()
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || wanted.len() < 2048 {
        return Some(vec![parse(&wanted)?]);
    }
    let part = wanted.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = wanted
            .chunks(part)
            .map(|chunk| scope.spawn(move || parse(chunk)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().ok().flatten())
            .collect()
    })
}

/// What `page` is asked for: a slice of every session, newest first, as a front end that shows
/// many sessions a page at a time asks for it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PageRequest {
    /// Only these statuses; empty means every status.
    pub statuses: Vec<SessionStatus>,
    /// Only sessions of this issue (an id or unique prefix).
    pub issue: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Only sessions after this one in the order (a [`Page::next`] of an earlier page).
    pub after: Option<String>,
}

/// One page of sessions, as `page` hands it to its caller.
pub struct Page<'r> {
    /// Newest first, with what this clone knows of each (and what its agent does here).
    pub views: Vec<HistoryView<'r>>,
    /// Records that cannot be read.
    pub broken: &'r [Broken],
    /// How many sessions matched the filters (on every page, not only this one).
    pub total: usize,
    /// Where the next page starts, when there are sessions after this one.
    pub next: Option<String>,
}

/// Where a page starts: the start time and id of the last session of the page before. Written
/// `<seconds>-<id>`; the session itself need not exist any more.
fn cursor_of(started: crate::model::Timestamp, id: &str) -> String {
    format!("{}-{id}", started.seconds())
}

fn parse_cursor(text: &str) -> Result<(i64, String)> {
    let bad = || Error::usage(format!("{text:?} is not a cursor of a page of sessions"));
    let (secs, id) = text.rsplit_once('-').ok_or_else(bad)?;
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let id = crate::model::id::normalize_prefix(id)
        .filter(|id| crate::model::id::is_canonical_id(id))
        .ok_or_else(bad)?;
    Ok((secs, id))
}

/// A page of every session (purged ones left out), newest first: those with one of the
/// statuses asked for and of the issue asked for, after the cursor, at most `limit`, handed to
/// `show`. Read as `history` reads them, from the cache's texts; what this clone knows of a
/// session (its worktree, its branch's commits, its agent) is worked out for the page alone.
pub fn page<R>(
    ws: &Workspace,
    request: &PageRequest,
    show: impl FnOnce(&Page<'_>) -> Result<R>,
) -> Result<R> {
    let issue = match &request.issue {
        Some(text) => Some(ws.store().resolve(RecordKind::Issue, text)?),
        None => None,
    };
    let after = request.after.as_deref().map(parse_cursor).transpose()?;
    let texts = ws.store().texts::<Session>(Scope::All)?;
    if let Some(rows) = read_rows(&texts) {
        return show_page(ws, request, &issue, &after, &rows, &texts.broken, show);
    }
    // A cached text cannot be read as a row: read again every record whose text cannot.
    let check = |text: &str| serde_json::from_str::<SessionRow<'_>>(text).is_ok();
    let texts = ws.store().texts_checked::<Session>(Scope::All, &check)?;
    let rows = read_rows(&texts)
        .ok_or_else(|| Error::failed("the local cache of sessions cannot be read"))?;
    show_page(ws, request, &issue, &after, &rows, &texts.broken, show)
}

fn show_page<R>(
    ws: &Workspace,
    request: &PageRequest,
    issue: &Option<String>,
    after: &Option<(i64, String)>,
    rows: &[Vec<SessionRow<'_>>],
    broken: &[Broken],
    show: impl FnOnce(&Page<'_>) -> Result<R>,
) -> Result<R> {
    let mut matched: Vec<&SessionRow<'_>> = rows
        .iter()
        .flatten()
        .filter(|s| request.statuses.is_empty() || request.statuses.contains(&s.status))
        .filter(|s| issue.is_none() || s.issue.as_deref() == issue.as_deref())
        .collect();
    let total = matched.len();
    matched.sort_unstable_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
    if let Some((secs, id)) = after {
        // The sessions before the cursor's place in the order (newer, or as new with a
        // larger id) were on earlier pages.
        let start = matched
            .partition_point(|s| (s.started.seconds(), s.id.as_ref()) >= (*secs, id.as_str()));
        matched.drain(..start);
    }
    let next = match request.limit {
        Some(limit) if limit > 0 && matched.len() > limit => {
            let last = matched[limit - 1];
            matched.truncate(limit);
            Some(cursor_of(last.started, &last.id))
        }
        Some(limit) => {
            matched.truncate(limit);
            None
        }
        None => None,
    };
    let sights = Sights::new(ws, matched.len());
    let views: Vec<HistoryView<'_>> = matched
        .into_iter()
        .map(|session| {
            let facts = sights.facts(RowOf::from(session));
            let agent = if facts.mine && session.status.is_live() {
                agent_state(&crate::ops::runs::view(ws, &session.id))
            } else {
                None
            };
            HistoryView {
                session,
                worktree: facts.worktree,
                worktree_exists: facts.worktree_exists,
                mine: facts.mine,
                commits: facts.commits,
                last_commit: facts.last_commit,
                last_activity: facts.last_activity,
                agent,
            }
        })
        .collect();
    show(&Page {
        views,
        broken,
        total,
        next,
    })
}

/// What a session's agent does here, in a word: `running`, `waiting` (for input between
/// turns), `exited`, `dead`; `None` when it never ran here.
fn agent_state(run: &crate::ops::runs::RunView) -> Option<&'static str> {
    match run.state {
        RunState::Running if run.waiting => Some("waiting"),
        RunState::None => None,
        state => Some(state.as_str()),
    }
}

pub(super) fn show_history<R>(
    ws: &Workspace,
    rows: &[Vec<SessionRow<'_>>],
    broken: &[Broken],
    limit: Option<usize>,
    show: impl FnOnce(&[HistoryView<'_>], &[Broken]) -> Result<R>,
) -> Result<R> {
    let mut newest: Vec<&SessionRow<'_>> = rows.iter().flatten().collect();
    newest.sort_unstable_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
    if let Some(limit) = limit {
        newest.truncate(limit);
    }
    let sights = Sights::new(ws, newest.len());
    let views: Vec<HistoryView<'_>> = newest
        .into_iter()
        .map(|session| {
            let facts = sights.facts(RowOf::from(session));
            HistoryView {
                session,
                worktree: facts.worktree,
                worktree_exists: facts.worktree_exists,
                mine: facts.mine,
                commits: facts.commits,
                last_commit: facts.last_commit,
                last_activity: facts.last_activity,
                agent: None,
            }
        })
        .collect();
    show(&views, broken)
}

/// One session with everything this clone knows about it.
pub fn show(ws: &Workspace, id: &str) -> Result<SessionDetails> {
    let id = resolve_session(ws, id)?;
    let session = ws.store().read::<Session>(&id)?.record;
    let repo = ws.repo();
    let sights = Sights::new(ws, 1);
    let host = ws
        .local()
        .session(&id)
        .map(|l| l.host)
        .filter(|_| ws.owns(&session));
    let view = view(&sights, session);
    let branch_missing = view.mine
        && view.session.status.is_live()
        && worktree::branch_tip(repo, &view.session.branch)?.is_none();
    // Without its branch, a worktree's HEAD is unborn and every file would look changed.
    let dirty = match &view.worktree {
        Some(path) if view.worktree_exists && !branch_missing => worktree::is_dirty(path).ok(),
        _ => None,
    };
    let ahead_behind = ahead_behind(repo, &view.session);
    let run = crate::ops::runs::view(ws, &view.session.id);
    let setup = crate::ops::provision::setup_report(ws, &view.session.id);
    Ok(SessionDetails {
        run,
        setup,
        view,
        dirty,
        ahead_behind,
        branch_missing,
        host,
    })
}

pub(super) fn ahead_behind(repo: &gix::Repository, session: &Session) -> Option<(u32, u32)> {
    let tip = worktree::branch_tip(repo, &session.branch).ok()??;
    let base = worktree::branch_tip(repo, &session.base_ref)
        .ok()
        .flatten()
        .or_else(|| gix::ObjectId::from_hex(session.base.as_bytes()).ok())?;
    let ahead = worktree::count_commits(repo, tip, base).ok()?;
    let behind = worktree::count_commits(repo, base, tip).ok()?;
    Some((ahead, behind))
}

/// The history of a session, newest first, with its full id.
pub fn events(ws: &Workspace, id: &str) -> Result<(String, Vec<Event>)> {
    let id = resolve_session(ws, id)?;
    let events = ws.store().history(RecordKind::Session, &id)?;
    Ok((id, events))
}
