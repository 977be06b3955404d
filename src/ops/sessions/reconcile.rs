use super::transition::apply_event;
use super::{LIVE, list_by_status};
use crate::error::{Error, Result};
use crate::git::worktree;
use crate::lifecycle::{self, SessionEvent};
use crate::model::{Issue, IssueStatus, Session};
use crate::ops::provision;
use crate::store::{Mode, Outcome, Scope};
use crate::workspace::Workspace;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    pub abandoned: Vec<Session>,
    pub pruned: Vec<PathBuf>,
    /// Issues whose status was repaired: the cascade of a session change was missing.
    pub repaired: Vec<Repaired>,
    /// Worktrees this clone made for sessions that another clone owns now.
    pub handed_off: Vec<HandedOff>,
    pub warnings: Vec<String>,
}

/// An issue moved to the status its sessions imply, because the update that should have
/// followed a session change is missing (the process making it died in between).
#[derive(Debug, Clone)]
pub struct Repaired {
    pub issue: String,
    pub from: IssueStatus,
    pub to: IssueStatus,
    /// The session whose change implies the new status.
    pub session: String,
}

/// A worktree this clone created for a session that was handed over to another clone since.
#[derive(Debug, Clone)]
pub struct HandedOff {
    pub session: String,
    /// The clone that owns the session now.
    pub owner: String,
    pub worktree: PathBuf,
    /// The worktree was removed (in a dry run: would be), and the local note of it dropped.
    pub removed: bool,
    /// Why it was kept although its removal was asked for.
    pub kept_because: Option<String>,
}

/// What `reconcile` is asked to do.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ReconcileRequest {
    /// Remove this clone's worktrees of sessions another clone took over, each only when it
    /// is clean and all its commits are on a remote.
    pub remove_handed_off: bool,
}

/// Abandon this clone's live sessions whose worktree folder is gone, prune git's stale
/// worktree entries, report (and with `remove_handed_off` remove) worktrees this clone made for
/// sessions another clone took over, and re-apply issue status cascades that were lost.
/// Other clones' sessions are never changed.
pub fn reconcile(ws: &Workspace, request: &ReconcileRequest, mode: Mode) -> Result<Reconciled> {
    let repo = ws.repo();
    let local = ws.local();
    let mut report = Reconciled::default();
    // A launch that died part-way is finished or undone here, unless another pm is at work on
    // worktrees right now (then a later run does it).
    if mode == Mode::Write {
        report.warnings.extend(provision::recover_if_idle(ws)?);
    }
    // Agents whose supervisor died: their sessions become idle before anything else is read.
    report
        .warnings
        .extend(crate::ops::runs::reap_dead(ws, mode));
    let me = ws.clone_id();
    // What is needed: this clone's live sessions, and the live sessions that have an issue.
    let wanted = |text: &str| {
        me.as_deref().is_some_and(|me| text.contains(me)) || text.contains("\"issue\":\"")
    };
    let read_live = || -> Result<Vec<Session>> {
        let listing = list_by_status::<Session>(ws, LIVE, wanted)?;
        Ok(listing
            .records
            .into_iter()
            .map(|s| s.record)
            .filter(Session::is_live)
            .collect())
    };
    let mut live = read_live()?;
    if me.is_some() {
        let notes = local.notes(live.len());
        for session in live.iter().filter(|s| ws.owns(s)) {
            let Some(l) = notes.session(&session.id) else {
                continue;
            };
            if l.worktree.exists() {
                continue;
            }
            match apply_event(ws, &session.id, SessionEvent::WorktreeGone, mode) {
                Ok(changed) => {
                    report.warnings.extend(changed.warnings);
                    if changed.written {
                        report.abandoned.push(changed.after);
                    }
                }
                Err(e) => report
                    .warnings
                    .push(format!("session {} was not reconciled: {e}", session.id)),
            }
        }
        report.handed_off = handed_off(
            ws,
            &live,
            request.remove_handed_off,
            mode,
            &mut report.warnings,
        );
    }
    report.pruned = worktree::prune(repo, mode == Mode::DryRun)?;
    if !report.abandoned.is_empty() && mode == Mode::Write {
        live = read_live()?;
    }
    report.repaired = repair_cascades(ws, &live, mode, &mut report.warnings)?;
    Ok(report)
}

/// The worktrees this clone made (its local notes say where) for sessions that another clone
/// owns now. With `remove`, each one that is clean and whose commits are all on a remote is
/// removed and its note dropped; the others are kept with the reason.
/// What the teardown commands of removed worktrees say goes to `warnings`.
fn handed_off(
    ws: &Workspace,
    live: &[Session],
    remove: bool,
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Vec<HandedOff> {
    let (repo, local) = (ws.repo(), ws.local());
    let mut found = Vec::new();
    for id in local.session_ids() {
        let Some(note) = local.session(&id) else {
            continue;
        };
        if !note.worktree.exists() {
            continue;
        }
        let session = match live.iter().find(|s| s.id == id) {
            Some(s) => s.clone(),
            None => match ws.store().read::<Session>(&id) {
                Ok(stored) => stored.record,
                Err(_) => continue,
            },
        };
        if ws.owns(&session) || session.is_purged() {
            continue;
        }
        let mut entry = HandedOff {
            session: id,
            owner: session.owner.clone(),
            worktree: note.worktree,
            removed: false,
            kept_because: None,
        };
        if remove {
            let outcome = match why_not_removable(repo, &entry.worktree, &session.branch) {
                Ok(Some(why)) => Err(why),
                Ok(None) if mode == Mode::DryRun => Ok(()),
                Ok(None) => provision::remove(ws, &entry.worktree, false)
                    .and_then(|said| {
                        warnings.extend(said);
                        local.remove_session(&entry.session)
                    })
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => entry.removed = true,
                Err(why) => entry.kept_because = Some(why),
            }
        }
        found.push(entry);
    }
    found
}

/// Why the worktree at `path` may not be removed for good, or `None` when it may: it must be a
/// linked worktree without uncommitted changes or untracked files, and every commit of its
/// HEAD and of `branch` must be on some remote-tracking branch.
pub(super) fn why_not_removable(
    repo: &gix::Repository,
    path: &Path,
    branch: &str,
) -> Result<Option<String>> {
    let Ok(tree) = gix::open(path) else {
        return Ok(Some("it is not a git worktree".into()));
    };
    let common = |r: &gix::Repository| r.current_dir().join(r.common_dir()).canonicalize().ok();
    if tree.kind() != gix::repository::Kind::LinkedWorkTree || common(&tree) != common(repo) {
        return Ok(Some(
            "it is not a linked worktree of this repository".into(),
        ));
    }
    if worktree::is_dirty(path)? {
        return Ok(Some("it has uncommitted changes".into()));
    }
    if has_untracked_files(&tree)? {
        return Ok(Some("it has untracked files".into()));
    }
    let mut tips = Vec::new();
    if let Ok(head) = tree.head_id() {
        tips.push(head.detach());
    }
    if let Some(tip) = worktree::branch_tip(repo, branch)? {
        tips.push(tip);
    }
    let unpushed = crate::git::refs::commits_outside(repo, tips, &["refs/remotes/"], None, &[])?;
    if unpushed > 0 {
        return Ok(Some(format!(
            "{unpushed} commit(s) of branch {branch} are on no remote"
        )));
    }
    Ok(None)
}

/// Whether the worktree `tree` has a file git does not track and does not ignore (or a change
/// between index and files).
pub(super) fn has_untracked_files(tree: &gix::Repository) -> Result<bool> {
    let what = || format!("could not read the status of {}", tree.path().display());
    let mut items = tree
        .status(gix::progress::Discard)
        .map_err(|e| Error::failed(format!("{}: {e}", what())))?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .into_index_worktree_iter(Vec::new())
        .map_err(|e| Error::failed(format!("{}: {e}", what())))?;
    // An item that cannot be read counts as a change: removal is refused either way.
    Ok(items.next().is_some())
}

/// Re-apply the issue status cascades that a crash left out (see
/// [`lifecycle::missing_cascade`]). `live` are the live sessions, read anyway by reconcile.
///
/// Finished sessions are read only for issues that may need it, so a listing stays as cheap
/// as its live records: an issue with a live session whose implied status it lacks, and an
/// issue in progress that no live session works on (the usual trace of a lost completion or
/// abandonment).
pub(super) fn repair_cascades(
    ws: &Workspace,
    live: &[Session],
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<Vec<Repaired>> {
    let mut live_by_issue: BTreeMap<&str, Vec<&Session>> = BTreeMap::new();
    for s in live.iter().filter(|s| !s.is_purged()) {
        if let Some(issue) = &s.issue {
            live_by_issue.entry(issue).or_default().push(s);
        }
    }
    let in_progress = format!("\"status\":\"{}\"", IssueStatus::InProgress.as_str());
    let mut issues: HashMap<String, Issue> = ws
        .store()
        .list_where::<Issue, Issue>(Scope::Live, |text| text.contains(&in_progress))?
        .records
        .into_iter()
        .map(|stored| (stored.record.id.clone(), stored.record))
        .collect();
    let mut candidates = BTreeSet::new();
    for (id, sessions) in &live_by_issue {
        if !issues.contains_key(*id) {
            let Ok(stored) = ws.store().read::<Issue>(id) else {
                continue;
            };
            issues.insert(id.to_string(), stored.record);
        }
        if let Some(issue) = issues.get(*id)
            && lifecycle::missing_cascade(issue.status, issue.status_since(), sessions).is_some()
        {
            candidates.insert(id.to_string());
        }
    }
    for issue in issues.values() {
        if issue.status == IssueStatus::InProgress && !live_by_issue.contains_key(issue.id.as_str())
        {
            candidates.insert(issue.id.clone());
        }
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Every session of the candidates, finished ones too.
    let wanted: Vec<String> = candidates
        .iter()
        .map(|id| format!("\"issue\":\"{id}\""))
        .collect();
    let listing = ws
        .store()
        .list_where::<Session, Session>(Scope::All, |text| {
            wanted.iter().any(|w| text.contains(w))
        })?;
    let mut by_issue: BTreeMap<String, Vec<Session>> = BTreeMap::new();
    for s in listing.records.into_iter().map(|stored| stored.record) {
        if !s.is_purged()
            && let Some(issue) = &s.issue
            && candidates.contains(issue)
        {
            by_issue.entry(issue.clone()).or_default().push(s);
        }
    }
    let mut repaired = Vec::new();
    for (id, sessions) in &by_issue {
        let sessions: Vec<&Session> = sessions.iter().collect();
        let now = ws.now();
        let mut done = None;
        let result = ws.store().update::<Issue>(id, mode, now, |issue| {
            let Some(implied) = lifecycle::missing_cascade(issue.status, issue.status_since(), &sessions)
            else {
                return Ok(None);
            };
            let session = &sessions[implied.by];
            let from = issue.status;
            issue.set_status(implied.status, now);
            issue.updated = now;
            done = Some(Repaired {
                issue: id.clone(),
                from,
                to: implied.status,
                session: session.id.clone(),
            });
            Ok(Some(format!(
                "update: status {} -> {} (repaired: the update after session {} became {} was missing)",
                from.as_str(),
                implied.status.as_str(),
                session.id,
                session.status.as_str()
            )))
        });
        match result {
            Ok(Outcome::Changed { .. }) => repaired.extend(done),
            Ok(Outcome::Unchanged(_)) => {}
            Err(e) => warnings.push(format!("issue {id} was not repaired: {e}")),
        }
    }
    Ok(repaired)
}
