//! The session operations of the core API: launch (or resume), list, history, show, close,
//! reactivate, reconcile, purge. The rules themselves are in `lifecycle`; this module applies
//! them to records, worktrees and the linked issue. Nothing here prints.

use crate::config::Config;
use crate::error::{Error, Result, Setting};
use crate::git::worktree;
use crate::lifecycle::{self, SessionEvent};
use crate::model::session::{branch_from_title, worktree_dir_name, worktree_dir_name_unique};
use crate::model::{
    Issue, IssueStatus, RecordKind, SCHEMA_VERSION, Session, SessionStatus, Timestamp, new_id,
};
use crate::store::local::{LocalData, LocalSession, PendingLaunch, WorktreeMutex, host_name};
use crate::store::{Broken, Event, Listing, Mode, Outcome, Scope, Store};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What `launch` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct LaunchRequest {
    pub issue: Option<String>,
    pub branch: Option<String>,
    pub base: Option<String>,
    pub agent: Option<String>,
    pub prompt: String,
    pub role: String,
    /// Launch even when another live session holds the issue.
    pub force: bool,
}

/// What `launch` did.
#[derive(Debug, Clone)]
pub struct Launched {
    pub session: Session,
    pub worktree: PathBuf,
    /// An idle session on the branch was resumed instead of a new one created.
    pub resumed: bool,
    /// The worktree folder had to be created again.
    pub recreated_worktree: bool,
    pub warnings: Vec<String>,
}

/// A session with what this clone knows about it locally.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    /// The worktree path, if this clone created it.
    pub worktree: Option<PathBuf>,
    pub worktree_exists: bool,
    /// Whether this clone owns the session.
    pub mine: bool,
    /// Commits on the branch that are not on its base (counted now when the branch is here).
    pub commits: u32,
    /// Time, id and subject of the branch's newest commit, when the branch is here.
    pub last_commit: Option<(Timestamp, String, String)>,
    pub last_activity: Timestamp,
}

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
}

/// The result of a status change.
#[derive(Debug, Clone)]
pub struct Changed {
    pub before: Session,
    pub after: Session,
    /// False when the event left the record as it was (closing an idle session again).
    pub written: bool,
    pub message: String,
    pub warnings: Vec<String>,
}

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

#[derive(Debug, Clone)]
pub struct Purged {
    pub session: Session,
    pub removed_worktree: Option<PathBuf>,
    pub deleted_branch: Option<String>,
    pub warnings: Vec<String>,
}

/// Where `close` without an id finds its session.
#[derive(Debug, Clone)]
pub enum Located {
    /// The current folder is inside this session's worktree.
    Here(String),
    /// Not inside any session's worktree; these live sessions could be meant.
    Candidates(Vec<Session>),
}

/// The live sessions among `sessions` that work on `issue`, except session `except`.
fn live_on_issue<'a>(
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
    store: &Store,
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
    store.list_where::<Session, V>(scope, |text| {
        (wanted.is_empty() || wanted.iter().any(|w| text.contains(w))) && also(text)
    })
}

/// All sessions that are not purged, plus the broken records.
fn all_sessions(store: &Store) -> Result<(Vec<Session>, Vec<Broken>)> {
    sessions_with(store, &[])
}

/// The sessions with one of `statuses` (any when empty) that are not purged, plus the broken
/// records. Cached records of other statuses are skipped without being parsed.
fn sessions_with(store: &Store, statuses: &[SessionStatus]) -> Result<(Vec<Session>, Vec<Broken>)> {
    let listing = list_by_status::<Session>(store, statuses, |_| true)?;
    let sessions = listing
        .records
        .into_iter()
        .map(|s| s.record)
        .filter(|s| !s.is_purged() && (statuses.is_empty() || statuses.contains(&s.status)))
        .collect();
    Ok((sessions, listing.broken))
}

const LIVE: &[SessionStatus] = &[SessionStatus::Active, SessionStatus::Idle];

/// Launch an agent session: a new branch and worktree, or the idle session already on the branch.
pub fn launch(store: &Store, request: LaunchRequest, mode: Mode) -> Result<Launched> {
    crate::model::session::check_launch_text(
        &request.prompt,
        &request.role,
        request.agent.as_deref(),
    )?;
    let repo = store.repo();
    let main = worktree::main_workdir(repo)?;
    let config = Config::load(&main)?;
    let issue = match &request.issue {
        Some(id) => Some(crate::issues::show(store, id)?),
        None => None,
    };
    let branch = match (&request.branch, &issue) {
        (Some(branch), _) => branch.trim().to_string(),
        (None, Some(issue)) => {
            branch_from_title(&config.branch_prefix, &issue.title).ok_or_else(|| {
                Error::usage(format!(
                    "cannot make a branch name from the title of issue {}",
                    issue.id
                ))
                .hint(Setting::Branch, "")
            })?
        }
        (None, None) => {
            return Err(Error::usage("a launch needs an issue or a branch")
                .hint(Setting::Issue, "")
                .hint(Setting::Branch, ""));
        }
    };
    worktree::check_branch_name(&branch)?;
    let local = LocalData::new(repo);
    // From here to the last write, no other pm makes or removes a branch or worktree, so the
    // checks below still hold when the branch and worktree are made.
    let (_mutex, mut warnings) = hold_worktrees(store, &local, mode)?;
    let (sessions, _) = all_sessions(store)?;
    if let Some(existing) = sessions.iter().find(|s| s.branch == branch && s.is_live()) {
        if existing.status == SessionStatus::Active {
            return Err(Error::invalid(format!(
                "branch {branch} already has an active session {}",
                existing.id
            )));
        }
        if request.base.is_some() {
            return Err(Error::usage(format!(
                "branch {branch} has idle session {}, which would be resumed; a base does not apply",
                existing.id
            )));
        }
        let mut resumed = resume(store, &config, &main, existing.clone(), mode)?;
        warnings.append(&mut resumed.warnings);
        resumed.warnings = warnings;
        return Ok(resumed);
    }
    if let Some(issue) = &issue {
        let holders = live_on_issue(&sessions, &issue.id, None);
        lifecycle::check_second_session(&issue.id, &holders, request.force)?;
    }

    let existing_tip = worktree::branch_tip(repo, &branch)?;
    if existing_tip.is_none() && worktree::remote_tracking_tip(repo, &branch)?.is_some() {
        // A local branch named like the remote-tracking one would shadow it.
        let own = branch.split_once('/').map_or(branch.as_str(), |(_, b)| b);
        return Err(Error::usage(format!(
            "{branch} is a remote-tracking branch; name the branch to work on without the \
             remote ({own}): it starts from {branch} and tracks it"
        )));
    }
    let mut tracks = None;
    let (base, base_ref) = match (&request.base, existing_tip) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(format!(
                "branch {branch} already exists; a base applies only to a new branch"
            )));
        }
        (Some(rev), None) => (worktree::resolve_commit(repo, rev)?, rev.clone()),
        (None, None) => match worktree::remote_branch_to_track(repo, &branch, &config.remote)? {
            // Only the remote has the branch: start from it and track it, as git does.
            Some((remote, tip)) => {
                tracks = Some(remote.clone());
                (tip, format!("{remote}/{branch}"))
            }
            None => main_head(repo)?,
        },
        (None, Some(_)) => main_head(repo)?,
    };
    if existing_tip.is_some()
        && let Some(at) = worktree::checked_out_at(repo, &branch)?
    {
        // Most often the worktree of a finished session on the branch: say how to go on.
        let finished = sessions
            .iter()
            .filter(|s| s.branch == branch && !s.is_purged())
            .max_by_key(|s| s.updated);
        let hint = match finished {
            Some(s) => format!(
                "; {} session {} used this branch: `pm agent reactivate {}` resumes it, \
                 `pm agent purge {} --delete-files` removes its worktree",
                s.status.as_str(),
                s.id,
                s.id,
                s.id
            ),
            None => String::new(),
        };
        return Err(Error::invalid(format!(
            "branch {branch} is already checked out at {}{hint}",
            at.display()
        )));
    }
    let path = choose_worktree_path(&config, &main, &branch, &sessions, &local)?;
    if !worktree::is_missing_or_empty(&path) {
        return Err(Error::invalid(format!(
            "cannot create the worktree: {} exists and is not empty",
            path.display()
        )));
    }

    let now = Timestamp::now();
    let owner = match mode {
        Mode::Write => local.ensure_clone_id()?,
        Mode::DryRun => local.clone_id().unwrap_or_default(),
    };
    let session = Session {
        schema: SCHEMA_VERSION,
        id: new_id(),
        issue: issue.as_ref().map(|i| i.id.clone()),
        branch: branch.clone(),
        base: base.to_string(),
        base_ref,
        status: SessionStatus::Active,
        agent: request
            .agent
            .clone()
            .unwrap_or_else(|| config.agent.clone()),
        role: request.role.clone(),
        prompt: request.prompt.clone(),
        actor: actor(repo),
        owner,
        started: now,
        updated: now,
        ended: None,
        epoch: 0,
        commits: 0,
        purged: None,
        unknown: toml::Table::new(),
    };
    if let Some(tip) = existing_tip {
        warnings.push(format!(
            "branch {branch} already exists (at {}); the session works on it as it is",
            &tip.to_string()[..12]
        ));
    }
    warnings.extend(issue.as_ref().and_then(back_to_work));
    let mut launched = Launched {
        session,
        worktree: path.clone(),
        resumed: false,
        recreated_worktree: false,
        warnings,
    };
    if mode == Mode::DryRun {
        return Ok(launched);
    }

    // The journal comes first, so that a launch killed part-way is finished or undone by the
    // next run; then each step undoes the ones before it when it fails.
    let id = launched.session.id.clone();
    let pending = PendingLaunch {
        worktree: path.clone(),
        branch: branch.clone(),
        creates_branch: existing_tip.is_none(),
        base: base.to_string(),
        host: host_name(),
    };
    local.begin_launch(&id, &pending)?;
    let mut undo = Undo::new(repo, &path);
    let made =
        make_worktree(repo, &pending, &launched.session.base_ref, &mut undo).and_then(|()| {
            let message = format!("launch: active on {branch}");
            store.create(&launched.session, &message, now).map(|_| ())
        });
    if let Err(e) = made {
        undo.run();
        let _ = local.end_launch(&id);
        return Err(e);
    }
    if let Err(e) = finish_launch(&local, &id, &pending) {
        launched
            .warnings
            .push(format!("could not record the worktree path locally: {e}"));
    }
    if let Some(remote) = tracks
        && let Err(e) = worktree::set_upstream(repo, &branch, &remote)
    {
        launched.warnings.push(e.to_string());
    }
    if let Some(warning) = cascade(
        store,
        &launched.session,
        IssueStatus::InProgress,
        "session launched",
        mode,
    ) {
        launched.warnings.push(warning);
    }
    Ok(launched)
}

/// Resume an idle session: active again, same id and worktree (recreated if missing).
fn resume(
    store: &Store,
    config: &Config,
    main: &Path,
    session: Session,
    mode: Mode,
) -> Result<Launched> {
    let repo = store.repo();
    let local = LocalData::new(repo);
    if local.clone_id().as_deref() != Some(session.owner.as_str()) {
        return Err(Error::invalid(format!(
            "session {} on {} belongs to another clone; take it over with `pm agent resume {}`",
            session.id, session.branch, session.id
        )));
    }
    // Refused before anything is made again (an active session cannot be resumed).
    lifecycle::next_status(session.status, SessionEvent::Resume)
        .map_err(|e| Error::invalid(format!("session {} {e}", session.id)))?;
    let path = match local.session(&session.id) {
        Some(l) => l.worktree,
        None => config.worktree_path(main, &worktree_dir_name(&session.branch))?,
    };
    let recreated = !path.exists();
    if recreated && mode == Mode::Write {
        recreate_worktree(repo, &local, &session, &path)?;
    }
    let changed = apply_event(store, &session.id, SessionEvent::Resume, mode)?;
    Ok(Launched {
        session: changed.after,
        worktree: path,
        resumed: true,
        recreated_worktree: recreated,
        warnings: changed.warnings,
    })
}

/// `agent resume`: make session `id` active in this clone. An idle session of this clone
/// resumes as with `launch`; a session of another clone is taken over: its branch is fetched
/// from `remote` when this clone lacks it, a local worktree is made, and this clone becomes the
/// owner. Another clone's *active* session is only taken with `force`.
pub fn resume_session(
    store: &Store,
    id: &str,
    force: bool,
    remote: &str,
    mode: Mode,
) -> Result<Launched> {
    let repo = store.repo();
    let (id, session) = read_for(store, id, SessionEvent::TakeOver)?;
    let main = worktree::main_workdir(repo)?;
    let config = Config::load(&main)?;
    let local = LocalData::new(repo);
    let (_mutex, _) = hold_worktrees(store, &local, mode)?;
    let me = match mode {
        Mode::Write => local.ensure_clone_id()?,
        Mode::DryRun => local.clone_id().unwrap_or_default(),
    };
    if session.owner == me {
        return resume(store, &config, &main, session, mode);
    }
    if session.status == SessionStatus::Active && !force {
        return Err(Error::invalid(format!(
            "session {id} is active in another clone ({})",
            session.owner
        ))
        .hint(Setting::Force, "to take it over"));
    }
    let branch = session.branch.clone();
    // This clone may still have the worktree it made for the session earlier: take it back.
    if let Some(own) = local.session(&id).map(|l| l.worktree)
        && own.exists()
        && let Some(at) = worktree::checked_out_at(repo, &branch)?
        && same_path(&at, &own)
    {
        let changed = apply_event_as(store, &id, SessionEvent::TakeOver, mode, Some(&me))?;
        return Ok(Launched {
            session: changed.after,
            worktree: own,
            resumed: true,
            recreated_worktree: false,
            warnings: changed.warnings,
        });
    }
    let local_tip = worktree::branch_tip(repo, &branch)?;
    let tip = match local_tip {
        Some(tip) => tip,
        None => remote_branch_tip(repo, remote, &branch, mode)?.ok_or_else(|| {
            Error::invalid(format!(
                "branch {branch} of session {id} is neither in this clone nor on remote {remote}; \
                 push it from the clone that owns the session"
            ))
        })?,
    };
    if local_tip.is_some()
        && let Some(at) = worktree::checked_out_at(repo, &branch)?
    {
        return Err(Error::invalid(format!(
            "branch {branch} is already checked out at {}",
            at.display()
        )));
    }
    let (sessions, _) = all_sessions(store)?;
    let path = choose_worktree_path(&config, &main, &branch, &sessions, &local)?;
    if !worktree::is_missing_or_empty(&path) {
        return Err(Error::invalid(format!(
            "cannot create the worktree: {} exists and is not empty",
            path.display()
        )));
    }
    if mode == Mode::DryRun {
        let changed = apply_event_as(store, &id, SessionEvent::TakeOver, mode, Some(&me))?;
        return Ok(Launched {
            session: changed.after,
            worktree: path,
            resumed: true,
            recreated_worktree: true,
            warnings: changed.warnings,
        });
    }
    let pending = PendingLaunch {
        worktree: path.clone(),
        branch: branch.clone(),
        creates_branch: local_tip.is_none(),
        base: tip.to_string(),
        host: host_name(),
    };
    local.begin_launch(&id, &pending)?;
    let mut undo = Undo::new(repo, &path);
    let made = make_worktree(repo, &pending, &format!("{remote}/{branch}"), &mut undo)
        .and_then(|()| apply_event_as(store, &id, SessionEvent::TakeOver, mode, Some(&me)));
    let changed = match made {
        Ok(changed) => changed,
        Err(e) => {
            undo.run();
            let _ = local.end_launch(&id);
            return Err(e);
        }
    };
    let mut warnings = changed.warnings;
    if let Err(e) = finish_launch(&local, &id, &pending) {
        warnings.push(format!("could not record the worktree path locally: {e}"));
    }
    Ok(Launched {
        session: changed.after,
        worktree: path,
        resumed: true,
        recreated_worktree: true,
        warnings,
    })
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}

/// The tip of `branch` on `remote`: the remote-tracking branch if it is here, else fetched
/// (into `refs/remotes/<remote>/<branch>`, as `git fetch` would).
fn remote_branch_tip(
    repo: &gix::Repository,
    remote: &str,
    branch: &str,
    mode: Mode,
) -> Result<Option<gix::ObjectId>> {
    let tracking = format!("refs/remotes/{remote}/{branch}");
    let read = || -> Result<Option<gix::ObjectId>> {
        Ok(repo
            .try_find_reference(tracking.as_str())
            .map_err(|e| Error::failed(format!("could not read {tracking}: {e}")))?
            .and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
    };
    if let Some(tip) = read()? {
        return Ok(Some(tip));
    }
    if repo.try_find_remote(remote).is_none() {
        return Ok(None);
    }
    let spec = format!("+refs/heads/{branch}:{tracking}");
    // A branch the remote does not have is reported by the caller in plain words.
    let Ok(outcome) = crate::sync::fetch_refs(repo, remote, &[spec], mode == Mode::DryRun) else {
        return Ok(None);
    };
    if mode == Mode::DryRun {
        let wanted = format!("refs/heads/{branch}");
        return Ok(outcome.ref_map.remote_refs.iter().find_map(|r| {
            let (name, target, _) = r.unpack();
            (name == wanted.as_bytes())
                .then(|| target.map(ToOwned::to_owned))
                .flatten()
        }));
    }
    read()
}

/// Make the worktree of `session` again at `path` (its folder is gone): git's stale entry for
/// it is pruned first, the branch is made again from the base if it is gone too, and the path
/// is remembered locally. Nothing is left behind when a step fails.
fn recreate_worktree(
    repo: &gix::Repository,
    local: &LocalData,
    session: &Session,
    path: &Path,
) -> Result<()> {
    worktree::prune(repo, false)?;
    if let Some(at) = worktree::checked_out_at(repo, &session.branch)? {
        return Err(Error::invalid(format!(
            "branch {} is checked out at {}",
            session.branch,
            at.display()
        )));
    }
    let creates_branch = worktree::branch_tip(repo, &session.branch)?.is_none();
    let base = if creates_branch {
        worktree::resolve_commit(repo, &session.base)?
    } else {
        gix::ObjectId::null(repo.object_hash())
    };
    // A branch this clone made for the session earlier stays noted as made by it.
    let made_before = local
        .session(&session.id)
        .and_then(|l| l.created_branch)
        .filter(|b| *b == session.branch)
        .is_some();
    let pending = PendingLaunch {
        worktree: path.to_path_buf(),
        branch: session.branch.clone(),
        creates_branch: creates_branch || made_before,
        base: base.to_string(),
        host: host_name(),
    };
    local.begin_launch(&session.id, &pending)?;
    let mut undo = Undo::new(repo, path);
    let made = if creates_branch {
        make_worktree(repo, &pending, &session.base_ref, &mut undo)
    } else {
        worktree::add(repo, path, &session.branch)
    };
    if let Err(e) = made {
        undo.run();
        let _ = local.end_launch(&session.id);
        return Err(e);
    }
    finish_launch(local, &session.id, &pending)
}

/// Hold the worktree mutex (when writing) and finish or undo launches that died part-way.
/// Returns the hold and what recovery did, as warnings.
fn hold_worktrees(
    store: &Store,
    local: &LocalData,
    mode: Mode,
) -> Result<(Option<WorktreeMutex>, Vec<String>)> {
    if mode == Mode::DryRun {
        return Ok((None, Vec::new()));
    }
    let mutex = local.lock_worktrees()?;
    let warnings = recover_launches(store, local);
    Ok((Some(mutex), warnings))
}

/// Create the branch of `pending` (when it creates one) and its worktree. Each step made is
/// noted in `undo`.
fn make_worktree(
    repo: &gix::Repository,
    pending: &PendingLaunch,
    base_name: &str,
    undo: &mut Undo<'_>,
) -> Result<()> {
    if pending.creates_branch {
        let base = gix::ObjectId::from_hex(pending.base.as_bytes())
            .map_err(|_| Error::failed(format!("invalid base commit {}", pending.base)))?;
        worktree::create_branch(repo, &pending.branch, base, base_name)?;
        undo.branch = Some((pending.branch.clone(), base));
    }
    worktree::add(repo, &pending.worktree, &pending.branch)?;
    undo.worktree = true;
    Ok(())
}

/// The launch journaled as `pending` reached its record: note locally what it made, then close
/// the journal.
fn finish_launch(local: &LocalData, id: &str, pending: &PendingLaunch) -> Result<()> {
    local.save_session(
        id,
        &LocalSession {
            worktree: pending.worktree.clone(),
            host: pending.host.clone(),
            created_branch: pending.creates_branch.then(|| pending.branch.clone()),
        },
    )?;
    local.end_launch(id)
}

/// Finish or undo every launch whose journal is still here: the process that wrote it died
/// (the caller holds the worktree mutex, so none is running). A launch that reached its record
/// is finished (its local note written); one that did not is undone: git's entry for its
/// worktree, the folder it made and the branch it made (still at its base and checked out
/// nowhere) are removed. Nothing else is touched. Returns what was done, as warnings.
fn recover_launches(store: &Store, local: &LocalData) -> Vec<String> {
    let repo = store.repo();
    let mut said = Vec::new();
    for (id, pending) in local.pending_launches() {
        let pending = match pending {
            Ok(pending) => pending,
            Err(why) => {
                said.push(format!(
                    "an interrupted launch's journal is unreadable ({why})"
                ));
                continue;
            }
        };
        let has_record = store
            .resolve(RecordKind::Session, &id)
            .is_ok_and(|found| found == id);
        if has_record && !worktree::is_complete(repo, &pending.worktree) {
            // A worktree made again for an existing session, cut short: remove the half-made
            // worktree; the next resume makes it again.
            match undo_worktree(repo, &pending).and_then(|()| local.end_launch(&id)) {
                Ok(()) => said.push(format!(
                    "removed the half-made worktree {} of session {id}",
                    pending.worktree.display()
                )),
                Err(e) => said.push(format!(
                    "could not remove the half-made worktree of session {id}: {e}"
                )),
            }
            continue;
        }
        if has_record {
            match finish_launch(local, &id, &pending) {
                Ok(()) => said.push(format!("finished the interrupted launch of session {id}")),
                Err(e) => said.push(format!(
                    "could not finish the interrupted launch of session {id}: {e}"
                )),
            }
            continue;
        }
        let undone = undo_launch(repo, &pending);
        match undone.and_then(|()| local.end_launch(&id)) {
            Ok(()) => said.push(format!(
                "undid an interrupted launch on {} (its worktree {} and what it made are removed)",
                pending.branch,
                pending.worktree.display()
            )),
            Err(e) => said.push(format!(
                "could not undo the interrupted launch on {}: {e}",
                pending.branch
            )),
        }
    }
    said
}

/// Remove what the journaled launch `pending` made (see [`recover_launches`]).
fn undo_launch(repo: &gix::Repository, pending: &PendingLaunch) -> Result<()> {
    undo_worktree(repo, pending)?;
    if pending.creates_branch {
        // The launch died while creating the branch: its lock files are its own.
        worktree::remove_branch_locks(repo, &pending.branch)?;
    }
    if pending.creates_branch
        && let Ok(base) = gix::ObjectId::from_hex(pending.base.as_bytes())
        && worktree::branch_tip(repo, &pending.branch)? == Some(base)
        && worktree::checked_out_at(repo, &pending.branch)?.is_none()
    {
        worktree::delete_branch(repo, &pending.branch, base)?;
    }
    Ok(())
}

/// Remove git's entry and the folder of the worktree the journaled launch `pending` made.
fn undo_worktree(repo: &gix::Repository, pending: &PendingLaunch) -> Result<()> {
    let admin = worktree::remove_entries_for(repo, &pending.worktree)?;
    if worktree::is_our_worktree_folder(repo, &pending.worktree) {
        worktree::remove_folder_link_last(&pending.worktree).map_err(|e| {
            Error::failed(format!(
                "could not remove {}: {e}",
                pending.worktree.display()
            ))
        })?;
    } else if worktree::is_missing_or_empty(&pending.worktree) {
        let _ = std::fs::remove_dir(&pending.worktree);
    } else if admin {
        return Err(Error::invalid(format!(
            "{} holds files pm did not make; it is left alone",
            pending.worktree.display()
        )));
    }
    Ok(())
}

/// Rolls back a launch that failed part-way.
struct Undo<'a> {
    repo: &'a gix::Repository,
    path: PathBuf,
    /// Ancestors of the worktree folder that did not exist before (deepest first).
    new_parents: Vec<PathBuf>,
    branch: Option<(String, gix::ObjectId)>,
    worktree: bool,
}

impl<'a> Undo<'a> {
    fn new(repo: &'a gix::Repository, path: &Path) -> Self {
        let new_parents = path
            .ancestors()
            .skip(1)
            .take_while(|p| !p.exists())
            .map(Path::to_path_buf)
            .collect();
        Undo {
            repo,
            path: path.to_path_buf(),
            new_parents,
            branch: None,
            worktree: false,
        }
    }

    fn run(&self) {
        if self.worktree {
            let _ = worktree::remove(self.repo, &self.path, true);
        }
        // The branch this launch created goes too, unless something else checked it out since
        // (the worktree mutex keeps other pm processes away; git could still have done it).
        if let Some((branch, tip)) = &self.branch
            && !matches!(worktree::checked_out_at(self.repo, branch), Ok(Some(_)))
        {
            let _ = worktree::delete_branch(self.repo, branch, *tip);
        }
        if worktree::is_missing_or_empty(&self.path) {
            let _ = std::fs::remove_dir(&self.path);
        }
        for parent in &self.new_parents {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// The commit and name of the main worktree's HEAD.
fn main_head(repo: &gix::Repository) -> Result<(gix::ObjectId, String)> {
    let main = repo
        .main_repo()
        .map_err(|e| Error::failed(format!("could not open the main worktree: {e}")))?;
    let id = main
        .head_id()
        .map_err(|_| {
            Error::invalid("the main worktree has no commit yet; commit something first")
                .hint(Setting::Base, "")
        })?
        .detach();
    let name = match main.head_name() {
        Ok(Some(name)) => name.shorten().to_string(),
        _ => id.to_string(),
    };
    Ok((id, name))
}

/// The configured worktree folder for `branch`, made unique (a hash suffix) when another
/// branch's session of this clone already uses the plain name.
fn choose_worktree_path(
    config: &Config,
    main: &Path,
    branch: &str,
    sessions: &[Session],
    local: &LocalData,
) -> Result<PathBuf> {
    let plain = config.worktree_path(main, &worktree_dir_name(branch))?;
    let notes = local.notes(sessions.len());
    let taken_by_session = sessions
        .iter()
        .filter(|s| s.branch != branch)
        .filter_map(|s| notes.session(&s.id))
        .any(|l| l.worktree == plain);
    if taken_by_session {
        return config.worktree_path(main, &worktree_dir_name_unique(branch));
    }
    Ok(plain)
}

fn actor(repo: &gix::Repository) -> String {
    match crate::store::identity(repo, "committer") {
        Some((name, email)) => format!("{name} <{email}>"),
        None => String::new(),
    }
}

/// Move the linked issue to `status`. Returns a warning instead of failing: the session change
/// it follows has already been made.
fn cascade(
    store: &Store,
    session: &Session,
    status: IssueStatus,
    why: &str,
    mode: Mode,
) -> Option<String> {
    cascade_with(store, session, why, mode, |now| {
        (now != status).then_some(status)
    })
}

/// Move the linked issue to the status `decide` picks from its current one (`None`: leave it).
fn cascade_with(
    store: &Store,
    session: &Session,
    why: &str,
    mode: Mode,
    decide: impl Fn(IssueStatus) -> Option<IssueStatus>,
) -> Option<String> {
    let issue_id = session.issue.as_ref()?;
    let now = Timestamp::now();
    let result = store.update::<Issue>(issue_id, mode, now, |issue| {
        let Some(status) = decide(issue.status) else {
            return Ok(None);
        };
        let from = issue.status;
        issue.set_status(status, now);
        issue.updated = now;
        Ok(Some(format!(
            "update: status {} -> {} ({why}, session {})",
            from.as_str(),
            status.as_str(),
            session.id
        )))
    });
    result
        .err()
        .map(|e| format!("issue {issue_id} was not updated: {e}"))
}

/// Apply a lifecycle event to a session record, then cascade to its issue.
fn apply_event(store: &Store, id: &str, event: SessionEvent, mode: Mode) -> Result<Changed> {
    apply_event_as(store, id, event, mode, None)
}

/// [`apply_event`], also making `new_owner` (when given) the clone that owns the session.
fn apply_event_as(
    store: &Store,
    id: &str,
    event: SessionEvent,
    mode: Mode,
    new_owner: Option<&str>,
) -> Result<Changed> {
    apply_event_if(store, id, event, mode, new_owner, |_| Ok(()))
}

/// [`apply_event_as`], when `allowed` accepts the session as it is at the moment of writing.
fn apply_event_if(
    store: &Store,
    id: &str,
    event: SessionEvent,
    mode: Mode,
    new_owner: Option<&str>,
    allowed: impl Fn(&Session) -> Result<()>,
) -> Result<Changed> {
    let now = Timestamp::now();
    let outcome = store.update::<Session>(id, mode, now, |s| {
        let commits = counted_commits(store.repo(), s);
        if !s.is_purged() {
            allowed(s)?;
        }
        let id = s.id.clone();
        let transition = lifecycle::apply(s, event, now, new_owner)
            .map_err(|e| Error::invalid(format!("session {id} {e}")))?;
        let Some(transition) = transition else {
            return Ok(None);
        };
        // A recount of the branch's commits is worth a write of its own.
        let recounted = commits.is_some_and(|c| c != s.commits);
        if let Some(commits) = commits {
            s.commits = commits;
        }
        if !transition.changed && !recounted {
            return Ok(None);
        }
        if !transition.changed {
            s.updated = now;
        }
        Ok(Some(transition.message))
    })?;
    let (before, after, written, message) = match outcome {
        Outcome::Changed {
            before,
            after,
            message,
        } => (before, after.record, true, message),
        Outcome::Unchanged(stored) => (stored.record.clone(), stored.record, false, String::new()),
    };
    let mut warnings = Vec::new();
    if written && after.issue.is_some() {
        // Read after the session was written: of two sessions ended at once, the later
        // reader sees both ended, so an issue is never left in progress by a race.
        let others_live = match (&after.issue, lifecycle::cascade_needs_others(after.status)) {
            (Some(issue), true) => {
                let (live, _) = sessions_with(store, LIVE)?;
                !live_on_issue(&live, issue, Some(&after.id)).is_empty()
            }
            _ => false,
        };
        let why = format!("session {}", after.status.as_str());
        let decide = |now| lifecycle::issue_cascade(event, after.status, others_live, now);
        if let Some(warning) = cascade_with(store, &after, &why, mode, decide) {
            warnings.push(warning);
        }
    }
    Ok(Changed {
        before,
        after,
        written,
        message,
        warnings,
    })
}

/// Count the session's commits now, if its branch is in this clone.
fn counted_commits(repo: &gix::Repository, session: &Session) -> Option<u32> {
    let tip = worktree::branch_tip(repo, &session.branch).ok()??;
    let base = gix::ObjectId::from_hex(session.base.as_bytes()).ok()?;
    worktree::count_commits(repo, tip, base).ok()
}

/// The full id of the session `text` names, wherever a session is asked for: the branch of a
/// session (its live session, else the newest one on it), or a full id or unique prefix of
/// one, in any case. A text that is both a branch and an id prefix names the branch's session;
/// a full id of an existing session names that session without looking at branches.
pub fn resolve_session(store: &Store, text: &str) -> Result<String> {
    let id_like = crate::model::id::normalize_prefix(text);
    if let Some(id) = &id_like
        && crate::model::id::is_canonical_id(id)
        && let Ok(Some(_)) = store
            .repo()
            .try_find_reference(format!("{}{id}", RecordKind::Session.ref_prefix()).as_str())
    {
        return Ok(id.clone());
    }
    let branch_like = crate::model::session::branch_name_problem(text).is_none();
    if branch_like && let Some(id) = session_on_branch(store, text)? {
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
    let resolved = store.resolve(RecordKind::Session, text);
    if resolved.is_err()
        && branch_like
        && !store
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
fn session_on_branch(store: &Store, branch: &str) -> Result<Option<String>> {
    // The cached JSON of a record on this branch holds exactly this text: others stay unread.
    let needle = serde_json::to_string(branch)
        .map(|quoted| format!("\"branch\":{quoted}"))
        .map_err(|e| Error::failed(format!("cannot encode a branch name: {e}")))?;
    let listing = list_by_status::<Session>(store, &[], |json| json.contains(&needle))?;
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
pub fn locate(store: &Store, dir: &Path) -> Result<Located> {
    let repo = store.repo();
    let local = LocalData::new(repo);
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let (mut sessions, _) = all_sessions(store)?;
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

/// Close a session: idle by default, or completed / abandoned. A session that is active in
/// another clone is closed only with `force`.
pub fn close(
    store: &Store,
    id: &str,
    event: SessionEvent,
    force: bool,
    mode: Mode,
) -> Result<Changed> {
    let id = resolve_session(store, id)?;
    let me = LocalData::new(store.repo()).clone_id();
    let mut changed = apply_event_if(store, &id, event, mode, None, |s| {
        lifecycle::check_owner(s, me.as_deref(), force, "closing")
    })?;
    if changed.written && matches!(event, SessionEvent::Complete | SessionEvent::Abandon) {
        changed
            .warnings
            .extend(stranded_work(store, &changed.after));
    }
    Ok(changed)
}

/// What a session that ends leaves where nobody may look again: a branch deleted behind pm's
/// back, uncommitted changes in its worktree, commits that are on no remote. Said, never
/// refused: ending a session deletes nothing.
fn stranded_work(store: &Store, session: &Session) -> Vec<String> {
    let repo = store.repo();
    let local = LocalData::new(repo);
    let mut said = Vec::new();
    let mine = local.clone_id().as_deref() == Some(session.owner.as_str());
    let tip = worktree::branch_tip(repo, &session.branch).ok().flatten();
    let worktree = local
        .session(&session.id)
        .filter(|_| mine)
        .map(|l| l.worktree)
        .filter(|p| p.exists());
    if mine && tip.is_none() {
        said.push(format!(
            "branch {} no longer exists (deleted outside pm); commits made only on it are gone \
             from the branch list",
            session.branch
        ));
    } else if let Some(path) = &worktree
        && worktree::has_uncommitted_work(path).unwrap_or(false)
    {
        said.push(format!(
            "the worktree {} has uncommitted changes or untracked files; they are in no commit",
            path.display()
        ));
    }
    let Some(tip) = tip else { return said };
    let has_remote = !repo.remote_names().is_empty();
    let (prefixes, where_not): (&[&str], &str) = if has_remote {
        (
            &["refs/remotes/"],
            "on no remote; push the branch to keep them safe",
        )
    } else {
        (
            &["refs/heads/", "refs/remotes/"],
            "on no other branch (this repository has no remote)",
        )
    };
    if let Ok(n) = commits_not_under(repo, &session.branch, tip, prefixes)
        && n > 0
    {
        said.push(format!(
            "branch {} has {n} commit(s) {where_not}",
            session.branch
        ));
    }
    said
}

/// Resolve `id` and read the session, refusing a purged one and one that `event` cannot move,
/// before anything is made for it.
fn read_for(store: &Store, id: &str, event: SessionEvent) -> Result<(String, Session)> {
    let id = resolve_session(store, id)?;
    let session = store.read::<Session>(&id)?.record;
    if session.is_purged() {
        return Err(Error::invalid(format!("session {id} was purged")));
    }
    lifecycle::next_status(session.status, event)
        .map_err(|e| Error::invalid(format!("session {id} {e}")))?;
    Ok((id, session))
}

/// Bring a completed or abandoned session back as idle; its worktree must exist or be recreatable.
/// While another live session holds its issue, only with `force`.
pub fn reactivate(store: &Store, id: &str, force: bool, mode: Mode) -> Result<Changed> {
    let (id, session) = read_for(store, id, SessionEvent::Reactivate)?;
    if let Some(issue) = &session.issue {
        let (live, _) = sessions_with(store, LIVE)?;
        let holders = live_on_issue(&live, issue, Some(&id));
        lifecycle::check_second_session(issue, &holders, force)?;
    }
    let repo = store.repo();
    let local = LocalData::new(repo);
    let mine = local.clone_id().as_deref() == Some(session.owner.as_str());
    if mine && mode == Mode::Write {
        let _mutex = hold_worktrees(store, &local, mode)?;
        let main = worktree::main_workdir(repo)?;
        let config = Config::load(&main)?;
        let path = match local.session(&id) {
            Some(l) => l.worktree,
            None => config.worktree_path(&main, &worktree_dir_name(&session.branch))?,
        };
        if !path.exists() {
            recreate_worktree(repo, &local, &session, &path)?;
        }
    }
    let issue = match &session.issue {
        Some(issue) => store.read::<Issue>(issue).ok().map(|i| i.record),
        None => None,
    };
    let mut changed = apply_event(store, &id, SessionEvent::Reactivate, mode)?;
    if changed.written {
        changed
            .warnings
            .extend(issue.as_ref().and_then(back_to_work));
    }
    Ok(changed)
}

/// The warning that a session going to work moves its finished `issue` back to in progress.
fn back_to_work(issue: &Issue) -> Option<String> {
    issue.status.is_finished().then(|| {
        format!(
            "issue {} was {}; it is in progress again",
            issue.id,
            issue.status.as_str()
        )
    })
}

/// Abandon this clone's live sessions whose worktree folder is gone, prune git's stale
/// worktree entries, report (and with `remove_handed_off` remove) worktrees this clone made for
/// sessions another clone took over, and re-apply issue status cascades that were lost.
/// Other clones' sessions are never changed.
pub fn reconcile(store: &Store, remove_handed_off: bool, mode: Mode) -> Result<Reconciled> {
    let repo = store.repo();
    let local = LocalData::new(repo);
    let mut report = Reconciled::default();
    // A launch that died part-way is finished or undone here, unless another pm is at work on
    // worktrees right now (then a later run does it).
    if mode == Mode::Write
        && let Some(_mutex) = local.try_lock_worktrees()?
    {
        report.warnings.extend(recover_launches(store, &local));
    }
    let me = local.clone_id();
    // What is needed: this clone's live sessions, and the live sessions that have an issue.
    let wanted = |text: &str| {
        me.as_deref().is_some_and(|me| text.contains(me)) || text.contains("\"issue\":\"")
    };
    let read_live = || -> Result<Vec<Session>> {
        let listing = list_by_status::<Session>(store, LIVE, wanted)?;
        Ok(listing
            .records
            .into_iter()
            .map(|s| s.record)
            .filter(Session::is_live)
            .collect())
    };
    let mut live = read_live()?;
    if let Some(me) = me.as_deref() {
        let notes = local.notes(live.len());
        for session in live.iter().filter(|s| s.owner == me) {
            let Some(l) = notes.session(&session.id) else {
                continue;
            };
            if l.worktree.exists() {
                continue;
            }
            match apply_event(store, &session.id, SessionEvent::WorktreeGone, mode) {
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
        report.handed_off = handed_off(store, &local, me, &live, remove_handed_off, mode);
    }
    report.pruned = worktree::prune(repo, mode == Mode::DryRun)?;
    if !report.abandoned.is_empty() && mode == Mode::Write {
        live = read_live()?;
    }
    report.repaired = repair_cascades(store, &live, mode, &mut report.warnings)?;
    Ok(report)
}

/// The worktrees this clone made (its local notes say where) for sessions that another clone
/// owns now. With `remove`, each one that is clean and whose commits are all on a remote is
/// removed and its note dropped; the others are kept with the reason.
fn handed_off(
    store: &Store,
    local: &LocalData,
    me: &str,
    live: &[Session],
    remove: bool,
    mode: Mode,
) -> Vec<HandedOff> {
    let repo = store.repo();
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
            None => match store.read::<Session>(&id) {
                Ok(stored) => stored.record,
                Err(_) => continue,
            },
        };
        if session.owner == me || session.is_purged() {
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
                Ok(None) => worktree::remove(repo, &entry.worktree, false)
                    .and_then(|()| local.remove_session(&entry.session))
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
fn why_not_removable(repo: &gix::Repository, path: &Path, branch: &str) -> Result<Option<String>> {
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
    let unpushed = commits_on_no_remote(repo, tips)?;
    if unpushed > 0 {
        return Ok(Some(format!(
            "{unpushed} commit(s) of branch {branch} are on no remote"
        )));
    }
    Ok(None)
}

/// Whether the worktree `tree` has a file git does not track and does not ignore (or a change
/// between index and files).
fn has_untracked_files(tree: &gix::Repository) -> Result<bool> {
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

/// Commits reachable from `tips` that no remote-tracking branch (`refs/remotes/*`) contains.
/// A commit that cannot be walked counts as one that is not there.
fn commits_on_no_remote(repo: &gix::Repository, tips: Vec<gix::ObjectId>) -> Result<u32> {
    if tips.is_empty() {
        return Ok(0);
    }
    let refs = repo
        .references()
        .map_err(|e| Error::failed(format!("could not read refs: {e}")))?;
    let remotes: Vec<gix::ObjectId> = refs
        .prefixed("refs/remotes/")
        .map_err(|e| Error::failed(format!("could not read refs: {e}")))?
        .flatten()
        .filter_map(|r| r.target().try_id().map(ToOwned::to_owned))
        .collect();
    let walk = repo
        .rev_walk(tips)
        .with_hidden(remotes)
        .all()
        .map_err(|e| Error::failed(format!("could not walk the commits: {e}")))?;
    Ok(walk.count() as u32)
}

/// Re-apply the issue status cascades that a crash left out (see
/// [`lifecycle::missing_cascade`]). `live` are the live sessions, read anyway by reconcile.
///
/// Finished sessions are read only for issues that may need it, so a listing stays as cheap
/// as its live records: an issue with a live session whose implied status it lacks, and an
/// issue in progress that no live session works on (the usual trace of a lost completion or
/// abandonment).
fn repair_cascades(
    store: &Store,
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
    let mut issues: HashMap<String, Issue> = store
        .list_where::<Issue, Issue>(Scope::Live, |text| text.contains(&in_progress))?
        .records
        .into_iter()
        .map(|stored| (stored.record.id.clone(), stored.record))
        .collect();
    let mut candidates = BTreeSet::new();
    for (id, sessions) in &live_by_issue {
        if !issues.contains_key(*id) {
            let Ok(stored) = store.read::<Issue>(id) else {
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
    let listing = store.list_where::<Session, Session>(Scope::All, |text| {
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
        let now = Timestamp::now();
        let mut done = None;
        let result = store.update::<Issue>(id, mode, now, |issue| {
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

/// What views of sessions are built from: the repository, its branches, this clone's notes and
/// its id, each read once for all the views.
struct Sights<'r> {
    repo: &'r gix::Repository,
    tips: worktree::BranchTips<'r>,
    notes: crate::store::local::Notes<'r>,
    me: Option<String>,
}

impl<'r> Sights<'r> {
    /// For `views` views to come (see [`worktree::BranchTips::expecting`] and
    /// [`LocalData::notes`]).
    fn new(repo: &'r gix::Repository, local: &'r LocalData, views: usize) -> Self {
        Sights {
            repo,
            tips: worktree::BranchTips::expecting(repo, views),
            notes: local.notes(views),
            me: local.clone_id(),
        }
    }

    /// What this clone knows of a session beyond its record.
    fn facts(&self, record: RowOf<'_>) -> Facts {
        let mine = self.me.as_deref() == Some(record.owner);
        let worktree = if mine {
            self.notes.session(record.id).map(|l| l.worktree)
        } else {
            None
        };
        let worktree_exists = worktree.as_ref().is_some_and(|p| p.exists());
        let tip = self.tips.tip(record.branch).ok().flatten();
        let mut facts = Facts {
            worktree,
            worktree_exists,
            mine,
            commits: record.commits,
            last_commit: None,
            last_activity: record.updated,
        };
        // Without its branch here (a finished session's branch is usually deleted), the
        // record says all there is.
        let Some(tip) = tip else {
            return facts;
        };
        let base = gix::ObjectId::from_hex(record.base.as_bytes()).ok();
        if let Some(base) = base
            && record.status.is_live()
        {
            facts.commits = worktree::count_commits(self.repo, tip, base).unwrap_or(record.commits);
        }
        // A branch still at its base has no commit of the session's own to show.
        if Some(tip) != base
            && let Ok((time, subject)) = worktree::commit_summary(self.repo, tip)
        {
            if Timestamp(time) > facts.last_activity {
                facts.last_activity = Timestamp(time);
            }
            facts.last_commit = Some((Timestamp(time), tip.to_string(), subject));
        }
        facts
    }
}

/// The fields of a session record that its view depends on.
#[derive(Clone, Copy)]
struct RowOf<'a> {
    id: &'a str,
    owner: &'a str,
    branch: &'a str,
    base: &'a str,
    status: SessionStatus,
    commits: u32,
    updated: Timestamp,
}

impl<'a> From<&'a Session> for RowOf<'a> {
    fn from(s: &'a Session) -> Self {
        RowOf {
            id: &s.id,
            owner: &s.owner,
            branch: &s.branch,
            base: &s.base,
            status: s.status,
            commits: s.commits,
            updated: s.updated,
        }
    }
}

impl<'a> From<&'a SessionRow<'_>> for RowOf<'a> {
    fn from(s: &'a SessionRow<'_>) -> Self {
        RowOf {
            id: &s.id,
            owner: &s.owner,
            branch: &s.branch,
            base: &s.base,
            status: s.status,
            commits: s.commits,
            updated: s.updated,
        }
    }
}

/// What this clone knows of a session beyond its record (see [`SessionView`]).
struct Facts {
    worktree: Option<PathBuf>,
    worktree_exists: bool,
    mine: bool,
    commits: u32,
    last_commit: Option<(Timestamp, String, String)>,
    last_activity: Timestamp,
}

/// Build the list view of one session.
fn view(sights: &Sights<'_>, session: Session) -> SessionView {
    let Facts {
        worktree,
        worktree_exists,
        mine,
        commits,
        last_commit,
        last_activity,
    } = sights.facts(RowOf::from(&session));
    SessionView {
        session,
        worktree,
        worktree_exists,
        mine,
        commits,
        last_commit,
        last_activity,
    }
}

/// Filter for `list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these statuses; empty means live ones (or all with `all`).
    pub statuses: Vec<SessionStatus>,
    pub all: bool,
    /// Only sessions of this issue (an id or unique prefix).
    pub issue: Option<String>,
}

/// Sessions for `list`, newest first. Reconciles this clone's sessions first (unless dry run).
pub fn list(
    store: &Store,
    filter: &ListFilter,
    mode: Mode,
) -> Result<(Vec<SessionView>, Vec<Broken>, Reconciled)> {
    let issue = match &filter.issue {
        Some(text) => Some(store.resolve(RecordKind::Issue, text)?),
        None => None,
    };
    let reconciled = if mode == Mode::Write {
        reconcile(store, false, mode)?
    } else {
        Reconciled::default()
    };
    let statuses = match (filter.statuses.is_empty(), filter.all) {
        (false, _) => filter.statuses.as_slice(),
        (true, true) => &[],
        (true, false) => LIVE,
    };
    let (mut sessions, broken) = sessions_with(store, statuses)?;
    if let Some(issue) = issue {
        sessions.retain(|s| s.issue.as_deref() == Some(issue.as_str()));
    }
    Ok((newest_views(store, sessions, None), broken, reconciled))
}

/// `sessions` newest first (at most `limit`), with what this clone knows of each.
fn newest_views(
    store: &Store,
    mut sessions: Vec<Session>,
    limit: Option<usize>,
) -> Vec<SessionView> {
    sessions.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    if let Some(limit) = limit {
        sessions.truncate(limit);
    }
    let local = LocalData::new(store.repo());
    let sights = Sights::new(store.repo(), &local, sessions.len());
    sessions.into_iter().map(|s| view(&sights, s)).collect()
}

/// The sessions of issue `issue` (its full id), newest first; purged ones are left out.
pub fn of_issue(store: &Store, issue: &str) -> Result<Vec<Session>> {
    let needle = format!("\"issue\":\"{issue}\"");
    let listing = list_by_status::<Session>(store, &[], |json| json.contains(&needle))?;
    let mut sessions: Vec<Session> = listing
        .records
        .into_iter()
        .map(|stored| stored.record)
        .filter(|s| s.issue.as_deref() == Some(issue) && !s.is_purged())
        .collect();
    sessions.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    Ok(sessions)
}

/// A session record as listings of many sessions read it: its fields borrowed from the text
/// the local cache holds (a string holding an escape is copied), so that many thousands are
/// read without building each one whole.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SessionRow<'t> {
    #[serde(borrow)]
    pub id: Cow<'t, str>,
    #[serde(borrow, default)]
    pub issue: Option<Cow<'t, str>>,
    #[serde(borrow)]
    pub branch: Cow<'t, str>,
    #[serde(borrow)]
    pub base: Cow<'t, str>,
    #[serde(borrow, default)]
    pub base_ref: Cow<'t, str>,
    pub status: SessionStatus,
    #[serde(borrow, default)]
    pub agent: Cow<'t, str>,
    #[serde(borrow, default)]
    pub role: Cow<'t, str>,
    #[serde(borrow, default)]
    pub prompt: Cow<'t, str>,
    #[serde(borrow, default)]
    pub actor: Cow<'t, str>,
    #[serde(borrow)]
    pub owner: Cow<'t, str>,
    pub started: Timestamp,
    pub updated: Timestamp,
    #[serde(default)]
    pub ended: Option<Timestamp>,
    #[serde(default)]
    pub commits: u32,
}

impl SessionRow<'_> {
    /// Seconds from start to end (or to `now` while running), as [`Session::duration`].
    pub fn duration(&self, now: Timestamp) -> i64 {
        self.ended.unwrap_or(now).seconds() - self.started.seconds()
    }
}

/// A session as `history` shows it: its record and what this clone knows of it (the fields
/// of [`SessionView`]).
#[derive(Debug)]
pub struct HistoryView<'r> {
    pub session: &'r SessionRow<'r>,
    pub worktree: Option<PathBuf>,
    pub worktree_exists: bool,
    pub mine: bool,
    pub commits: u32,
    pub last_commit: Option<(Timestamp, String, String)>,
    pub last_activity: Timestamp,
}

/// Every session (purged ones left out), newest first, at most `limit`, handed to `show`
/// with the records that cannot be read; what `show` returns is returned. The sessions are
/// read from the local cache's texts without building each record whole, on several threads.
pub fn history<R>(
    store: &Store,
    limit: Option<usize>,
    show: impl FnOnce(&[HistoryView<'_>], &[Broken]) -> Result<R>,
) -> Result<R> {
    let texts = store.texts::<Session>(Scope::All)?;
    if let Some(rows) = read_rows(&texts) {
        return show_history(store, &rows, &texts.broken, limit, show);
    }
    // A cached text cannot be read as a row: read again every record whose text cannot.
    let check = |text: &str| serde_json::from_str::<SessionRow<'_>>(text).is_ok();
    let texts = store.texts_checked::<Session>(Scope::All, &check)?;
    let rows = read_rows(&texts)
        .ok_or_else(|| Error::failed("the local cache of sessions cannot be read"))?;
    show_history(store, &rows, &texts.broken, limit, show)
}

/// The rows of every session in `texts` that is not purged (in parts, one per thread), or
/// `None` if a text cannot be read as one.
fn read_rows(texts: &crate::store::Texts) -> Option<Vec<Vec<SessionRow<'_>>>> {
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

fn show_history<R>(
    store: &Store,
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
    let local = LocalData::new(store.repo());
    let sights = Sights::new(store.repo(), &local, newest.len());
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
            }
        })
        .collect();
    show(&views, broken)
}

/// One session with everything this clone knows about it.
pub fn show(store: &Store, id: &str) -> Result<SessionDetails> {
    let id = resolve_session(store, id)?;
    let session = store.read::<Session>(&id)?.record;
    let repo = store.repo();
    let local = LocalData::new(repo);
    let sights = Sights::new(repo, &local, 1);
    let host = local
        .session(&id)
        .map(|l| l.host)
        .filter(|_| sights.me.as_deref() == Some(session.owner.as_str()));
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
    Ok(SessionDetails {
        view,
        dirty,
        ahead_behind,
        branch_missing,
        host,
    })
}

fn ahead_behind(repo: &gix::Repository, session: &Session) -> Option<(u32, u32)> {
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
pub fn events(store: &Store, id: &str) -> Result<(String, Vec<Event>)> {
    let id = resolve_session(store, id)?;
    let events = store.history(RecordKind::Session, &id)?;
    Ok((id, events))
}

/// Remove a session: a tombstone that syncs, and with `delete_files` its worktree and branch.
pub fn purge(
    store: &Store,
    id: &str,
    delete_files: bool,
    force: bool,
    mode: Mode,
) -> Result<Purged> {
    let id = resolve_session(store, id)?;
    let session = store.read::<Session>(&id)?.record;
    if session.is_purged() {
        return Err(Error::invalid(format!("session {id} is already purged")));
    }
    let repo = store.repo();
    let local = LocalData::new(repo);
    lifecycle::check_owner(&session, local.clone_id().as_deref(), force, "purging")?;
    if session.status == SessionStatus::Active && !force {
        return Err(
            Error::invalid(format!("session {id} is active; close it first"))
                .hint(Setting::Force, "to purge it anyway"),
        );
    }
    let mine = local.clone_id().as_deref() == Some(session.owner.as_str());
    let mut purged = Purged {
        session: session.clone(),
        removed_worktree: None,
        deleted_branch: None,
        warnings: Vec::new(),
    };
    let mut branch_tip = None;
    let _mutex = if delete_files {
        hold_worktrees(store, &local, mode)?.0
    } else {
        None
    };
    if delete_files {
        // Only what this clone noted as made for the session is deleted: the record's own
        // word (its branch, its owner) may come from anyone.
        let note = if mine { local.session(&id) } else { None };
        match note.as_ref().map(|n| n.worktree.clone()) {
            Some(path) if path.exists() => {
                if !force && worktree::is_dirty(&path)? {
                    return Err(Error::invalid(format!(
                        "the worktree {} has uncommitted changes; commit them",
                        path.display()
                    ))
                    .hint(Setting::Force, "to discard them"));
                }
                purged.removed_worktree = Some(path);
            }
            Some(_) => {}
            None => purged.warnings.push(format!(
                "the worktree of session {id} was not created by this clone; its files are left alone"
            )),
        }
        let created = note.as_ref().and_then(|n| n.created_branch.clone());
        if note.is_some() && created.is_none() {
            purged.warnings.push(format!(
                "branch {} was not created by pm for session {id}; it is kept",
                session.branch
            ));
        }
        if let Some(branch) = created
            && let Some(tip) = worktree::branch_tip(repo, &branch)?
        {
            let elsewhere = worktree::checked_out_at(repo, &branch)?.filter(|at| {
                !purged
                    .removed_worktree
                    .as_ref()
                    .is_some_and(|own| same_path(at, own))
            });
            if let Some(at) = elsewhere {
                purged.warnings.push(format!(
                    "branch {branch} is checked out at {}; it is kept",
                    at.display()
                ));
            } else {
                let unique = commits_on_no_other_branch(repo, &branch, tip)?;
                if unique > 0 && !force {
                    return Err(Error::invalid(format!(
                        "branch {branch} has {unique} commit(s) that are on no other branch; merge them"
                    ))
                    .hint(Setting::Force, "to delete them"));
                }
                branch_tip = Some(tip);
                purged.deleted_branch = Some(branch);
            }
        }
    }
    if mode == Mode::DryRun {
        return Ok(purged);
    }
    // A lock in the way of deleting the branch is found before the worktree goes, so that a
    // refused purge leaves everything as it was.
    if let Some(branch) = &purged.deleted_branch {
        worktree::check_branch_unlocked(repo, branch)?;
    }
    if let Some(path) = &purged.removed_worktree {
        worktree::remove(repo, path, force)?;
    }
    if let (Some(branch), Some(tip)) = (&purged.deleted_branch, branch_tip) {
        if worktree::checked_out_at(repo, branch)?.is_some() {
            purged
                .warnings
                .push(format!("branch {branch} is checked out; it is kept"));
            purged.deleted_branch = None;
        } else {
            worktree::delete_branch(repo, branch, tip)?;
        }
    }
    let now = Timestamp::now();
    let outcome = store.update::<Session>(&id, mode, now, |s| Ok(lifecycle::purge(s, now)))?;
    if let Outcome::Changed { after, .. } = outcome {
        purged.session = after.record;
    }
    local.remove_session(&id)?;
    Ok(purged)
}

/// Commits on `branch` that no other local branch or remote-tracking branch contains.
fn commits_on_no_other_branch(
    repo: &gix::Repository,
    branch: &str,
    tip: gix::ObjectId,
) -> Result<u32> {
    commits_not_under(repo, branch, tip, &["refs/heads/", "refs/remotes/"])
}

/// Commits on `branch` (at `tip`) that no ref under `prefixes` other than the branch contains.
fn commits_not_under(
    repo: &gix::Repository,
    branch: &str,
    tip: gix::ObjectId,
    prefixes: &[&str],
) -> Result<u32> {
    let own = format!("refs/heads/{branch}");
    let mut others = Vec::new();
    let refs = repo
        .references()
        .map_err(|e| Error::failed(format!("could not read refs: {e}")))?;
    for &prefix in prefixes {
        let iter = refs
            .prefixed(prefix)
            .map_err(|e| Error::failed(format!("could not read refs: {e}")))?;
        for reference in iter.flatten() {
            if reference.name().as_bstr() == own.as_str() {
                continue;
            }
            if let Some(id) = reference.target().try_id() {
                others.push(id.to_owned());
            }
        }
    }
    let walk = repo
        .rev_walk([tip])
        .with_hidden(others)
        .all()
        .map_err(|e| Error::failed(format!("could not walk {branch}: {e}")))?;
    Ok(walk.filter(|info| info.is_ok()).count() as u32)
}
