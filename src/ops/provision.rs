//! Worktrees for sessions: the one path that makes a session's worktree (new, taken over or
//! made again), removes one, and finishes or undoes what a killed process left. Each change is
//! journaled in `.git/pm/pending/` before the first branch or folder is made, and runs under
//! the repository's worktree mutex.
//!
//! Provisioning attaches here too: [`prepare`] gives a worktree just made what git ignores and
//! the configuration names (`copy`, `.worktreeinclude`) and runs its `setup` commands; the
//! operation that made the worktree calls it once it has let go of the worktree mutex, so that
//! a long `npm ci` holds up no other launch. [`remove`] runs the `teardown` commands first.

mod copy;
mod hooks;

pub use hooks::{CommandRun, PORT_BASE, PORT_COUNT, SetupReport, Source, port_of};

use crate::error::{Error, Result};
use crate::git::{branch, worktree};
use crate::model::session::{worktree_dir_name, worktree_dir_name_unique};
use crate::model::{RecordKind, Session};
use crate::runtime::events::{Body, HookOutcome};
use crate::store::Mode;
use crate::store::local::{LocalData, LocalSession, PendingLaunch, WorktreeMutex, host_name};
use crate::workspace::{HookNote, Workspace};
use std::path::{Path, PathBuf};

/// Hold the worktree mutex (when writing) and finish or undo launches that died part-way.
/// Returns the hold and what recovery did, as warnings.
pub(crate) fn hold_worktrees(
    ws: &Workspace,
    mode: Mode,
) -> Result<(Option<WorktreeMutex>, Vec<String>)> {
    if mode == Mode::DryRun {
        return Ok((None, Vec::new()));
    }
    let mutex = ws.local().lock_worktrees()?;
    let warnings = recover_launches(ws);
    Ok((Some(mutex), warnings))
}

/// Finish or undo launches that died part-way, unless another pm is making or removing
/// worktrees right now (then a later run does it). Returns what was done, as warnings.
pub(crate) fn recover_if_idle(ws: &Workspace) -> Result<Vec<String>> {
    Ok(match ws.local().try_lock_worktrees()? {
        Some(_mutex) => recover_launches(ws),
        None => Vec::new(),
    })
}

/// A worktree to make for a session: the journal entry written first, and the branch to
/// create when it does not exist yet.
pub(crate) struct Plan {
    pub id: String,
    pub pending: PendingLaunch,
    /// Create `pending.branch` at `pending.base` (named this in its reflog); `None`: the branch
    /// exists and is checked out as it is.
    pub new_branch_from: Option<String>,
}

/// Make the worktree of `plan` (and its branch), then call `record`, the write that makes it a
/// session's. The journal comes first, so that a process killed part-way is finished or
/// undone by the next run; when a step fails, every step before it is undone and the journal
/// closed. Afterwards this clone notes what it made for the session; a failure to note it is
/// returned as a warning, since the session exists by then. The caller holds the worktree
/// mutex.
pub(crate) fn provision<T>(
    ws: &Workspace,
    plan: &Plan,
    record: impl FnOnce() -> Result<T>,
) -> Result<(T, Option<String>)> {
    let (repo, local, pending) = (ws.repo(), ws.local(), &plan.pending);
    local.begin_launch(&plan.id, pending)?;
    let mut undo = Undo::new(repo, &pending.worktree);
    let made = make_worktree(repo, plan, &mut undo).and_then(|()| record());
    let value = match made {
        Ok(value) => value,
        Err(e) => {
            undo.run();
            let _ = local.end_launch(&plan.id);
            return Err(e);
        }
    };
    let warning = finish_launch(local, &plan.id, pending)
        .err()
        .map(|e| format!("could not record the worktree path locally: {e}"));
    Ok((value, warning))
}

/// Make the worktree of `session` again at `path` (its folder is gone): git's stale entry for
/// it is pruned first, the branch is made again from the base if it is gone too, and the path
/// is noted locally. Nothing is left behind when a step fails.
pub(crate) fn recreate(ws: &Workspace, session: &Session, path: &Path) -> Result<Option<String>> {
    let repo = ws.repo();
    worktree::prune(repo, false)?;
    if let Some(at) = worktree::checked_out_at(repo, &session.branch)? {
        return Err(Error::invalid(format!(
            "branch {} is checked out at {}",
            session.branch,
            at.display()
        )));
    }
    let creates_branch = branch::branch_tip(repo, &session.branch)?.is_none();
    let base = if creates_branch {
        branch::resolve_commit(repo, &session.base)?
    } else {
        gix::ObjectId::null(repo.object_hash())
    };
    // A branch this clone made for the session earlier stays noted as made by it.
    let made_before = ws
        .local()
        .session(&session.id)
        .and_then(|l| l.created_branch)
        .is_some_and(|b| b == session.branch);
    let plan = Plan {
        id: session.id.clone(),
        pending: PendingLaunch {
            worktree: path.to_path_buf(),
            branch: session.branch.clone(),
            creates_branch: creates_branch || made_before,
            base: base.to_string(),
            host: host_name(),
        },
        new_branch_from: creates_branch.then(|| session.base_ref.clone()),
    };
    provision(ws, &plan, || Ok(())).map(|((), warning)| warning)
}

/// The worktree folder of `session`: where this clone noted it, else where the configuration
/// puts it.
pub(crate) fn noted_path(ws: &Workspace, session: &Session) -> Result<PathBuf> {
    match ws.local().session(&session.id) {
        Some(note) => Ok(note.worktree),
        None => ws
            .config()?
            .worktree_path(ws.main_workdir()?, &worktree_dir_name(&session.branch)),
    }
}

/// Refuse a worktree folder that exists and holds something: a new worktree goes only where
/// nothing is.
pub(crate) fn check_free(path: &Path) -> Result<()> {
    if worktree::is_missing_or_empty(path) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "cannot create the worktree: {} exists and is not empty",
        path.display()
    )))
}

/// Remove the worktree at `path` that this clone made for a session (with `force`, also with
/// uncommitted changes), after running its `teardown` commands (see [`teardown`]). The caller
/// checked that it may go. Returns what the teardown had to say, as warnings.
pub(crate) fn remove(ws: &Workspace, path: &Path, force: bool) -> Result<Vec<String>> {
    let noted = if hooks::has_commands(ws, hooks::Hook::Teardown) {
        session_noted_at(ws, path)
    } else {
        None
    };
    let warnings = match noted {
        Some(session) => teardown(ws, &session, path),
        None => Vec::new(),
    };
    worktree::remove(ws.repo(), path, force)?;
    Ok(warnings)
}

/// Run the `teardown` commands of `session` in its worktree at `path`, which is about to be
/// removed: every command runs, whatever the others did. A failure does not stop the removal;
/// it is returned as a warning (and written to the session's event log).
pub(crate) fn teardown(ws: &Workspace, session: &Session, path: &Path) -> Vec<String> {
    if !path.is_dir() || !hooks::has_commands(ws, hooks::Hook::Teardown) {
        return Vec::new();
    }
    let mut sink = hooks::EventSink::new(ws, &session.id);
    let target = hooks::Target {
        session: &session.id,
        branch: &session.branch,
        issue: session.issue.as_deref(),
        worktree: path,
    };
    hooks::run_hook(ws, hooks::Hook::Teardown, &target, &mut sink).1
}

/// The session whose worktree this clone noted at `path`.
fn session_noted_at(ws: &Workspace, path: &Path) -> Option<Session> {
    let local = ws.local();
    let wanted = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let id = local.session_ids().into_iter().find(|id| {
        local.session(id).is_some_and(|note| {
            note.worktree == path || note.worktree.canonicalize().is_ok_and(|p| p == wanted)
        })
    })?;
    ws.store()
        .read::<Session>(&id)
        .ok()
        .map(|stored| stored.record)
}

/// Provision the worktree just made (or made again) at `worktree` for `session`: copy from the
/// main worktree what git ignores and `copy` or `.worktreeinclude` names, then run the `setup`
/// commands. Never fails, since the session exists by now: what went wrong is returned as
/// warnings, written to the session's event log, and kept in its setup report
/// ([`setup_report`]), which `agent show` reads.
pub(crate) fn prepare(ws: &Workspace, session: &Session, worktree: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let (config, main) = match (ws.config(), ws.main_workdir()) {
        (Ok(config), Ok(main)) => (config, main),
        (Err(e), _) | (_, Err(e)) => {
            warnings.push(format!(
                "the worktree {} was not provisioned: {}",
                worktree.display(),
                e.message()
            ));
            return warnings;
        }
    };
    let mut sink = hooks::EventSink::new(ws, &session.id);
    let mut report = SetupReport {
        time: ws.now(),
        state: HookOutcome::Succeeded,
        copied: Vec::new(),
        commands: Vec::new(),
        problems: Vec::new(),
    };
    let mut anything = false;
    match copy::Patterns::new(config.worktree.copy(), main) {
        Ok(None) => {}
        Ok(Some(patterns)) => {
            anything = true;
            let mut folders = worktree::all_folders(ws.repo()).unwrap_or_default();
            folders.push(worktree.to_path_buf());
            let (outcome, detail) = match copy::copy_ignored(main, worktree, &patterns, &folders) {
                Ok(copied) => {
                    let text = copy_summary(&copied);
                    ws.tell_hooks(HookNote::Done { text: &text });
                    for note in &copied.left_out {
                        sink.append(copy_line(note));
                    }
                    if let Some(line) = left_out_line(&copied.left_out) {
                        warnings.push(line);
                    }
                    report.copied = copied
                        .entries
                        .iter()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect();
                    match copied.error_line() {
                        Some(line) => {
                            let line = format!("could not copy from the main worktree: {line}");
                            report.problems.push(line.clone());
                            warnings.push(line.clone());
                            (HookOutcome::Failed, format!("{text}; {line}"))
                        }
                        None => (HookOutcome::Succeeded, text),
                    }
                }
                Err(e) => {
                    let line =
                        format!("nothing was copied from the main worktree: {}", e.message());
                    report.problems.push(line.clone());
                    warnings.push(line.clone());
                    (HookOutcome::Failed, line)
                }
            };
            sink.append(Body::HookEnded {
                hook: "copy".into(),
                command: String::new(),
                outcome,
                detail,
            });
        }
        Err(e) => {
            anything = true;
            let line = format!("nothing was copied from the main worktree: {}", e.message());
            report.problems.push(line.clone());
            warnings.push(line);
        }
    }
    let target = hooks::Target {
        session: &session.id,
        branch: &session.branch,
        issue: session.issue.as_deref(),
        worktree,
    };
    let (runs, said) = hooks::run_hook(ws, hooks::Hook::Setup, &target, &mut sink);
    anything |= !runs.is_empty();
    warnings.extend(said);
    report.commands = runs;
    if !anything {
        return warnings;
    }
    report.state = if !report.problems.is_empty()
        || report
            .commands
            .iter()
            .any(|c| c.outcome == HookOutcome::Failed)
    {
        HookOutcome::Failed
    } else if report
        .commands
        .iter()
        .any(|c| c.outcome == HookOutcome::Skipped)
    {
        HookOutcome::Skipped
    } else {
        HookOutcome::Succeeded
    };
    if report.state == HookOutcome::Failed {
        warnings.push(format!(
            "session {} is launched, but its worktree was not fully set up; `pm agent show` \
             says what failed",
            session.id
        ));
    }
    let written = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::failed(format!("cannot encode the setup report: {e}")))
        .and_then(|text| {
            crate::store::local::write_atomic(&hooks::report_path(ws, &session.id), &text)
        });
    if let Err(e) = written {
        warnings.push(format!("the setup report was not kept: {}", e.message()));
    }
    warnings
}

/// What provisioning the worktree of session `id` did last in this clone, if it did anything.
pub fn setup_report(ws: &Workspace, id: &str) -> Option<SetupReport> {
    let text = std::fs::read_to_string(hooks::report_path(ws, id)).ok()?;
    serde_json::from_str(&text).ok()
}

/// `copied .env, node_modules from the main worktree (10002 files, 10002 of them reflinks)`.
fn copy_summary(copied: &copy::Copied) -> String {
    if copied.entries.is_empty() {
        return "nothing to copy from the main worktree".to_string();
    }
    let names: Vec<String> = copied
        .entries
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    let more = match copied.entries.len().saturating_sub(names.len()) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let links = match copied.links {
        0 => String::new(),
        1 => ", 1 symbolic link".to_string(),
        n => format!(", {n} symbolic links"),
    };
    format!(
        "copied {}{more} from the main worktree ({} files, {} of them reflinks{links})",
        names.join(", "),
        copied.files,
        copied.reflinked
    )
}

/// A note of the copy in the event log.
fn copy_line(text: &str) -> Body {
    Body::HookOutput {
        hook: "copy".into(),
        command: String::new(),
        text: text.to_string(),
    }
}

/// One line naming what was left out of the copy on purpose, if anything was.
fn left_out_line(left_out: &[String]) -> Option<String> {
    let (first, rest) = left_out.split_first()?;
    let mut line = format!("not copied from the main worktree: {first}");
    for more in rest.iter().take(2) {
        line.push_str(&format!("; {more}"));
    }
    if rest.len() > 2 {
        line.push_str(&format!(" (and {} more)", rest.len() - 2));
    }
    Some(line)
}

/// Create the branch of `plan` (when it creates one) and its worktree. Each step made is
/// noted in `undo`.
fn make_worktree(repo: &gix::Repository, plan: &Plan, undo: &mut Undo<'_>) -> Result<()> {
    let pending = &plan.pending;
    if let Some(base_name) = &plan.new_branch_from {
        let base = gix::ObjectId::from_hex(pending.base.as_bytes())
            .map_err(|_| Error::failed(format!("invalid base commit {}", pending.base)))?;
        branch::create_branch(repo, &pending.branch, base, base_name)?;
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
            adopted: false,
        },
    )?;
    local.end_launch(id)
}

/// Finish or undo every launch whose journal is still here: the process that wrote it died
/// (the caller holds the worktree mutex, so none is running). A launch that reached its record
/// is finished (its local note written); one that did not is undone: git's entry for its
/// worktree, the folder it made and the branch it made (still at its base and checked out
/// nowhere) are removed. Nothing else is touched. Returns what was done, as warnings.
fn recover_launches(ws: &Workspace) -> Vec<String> {
    let (repo, local) = (ws.repo(), ws.local());
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
        let has_record = ws
            .store()
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
        branch::remove_branch_locks(repo, &pending.branch)?;
    }
    if pending.creates_branch
        && let Ok(base) = gix::ObjectId::from_hex(pending.base.as_bytes())
        && branch::branch_tip(repo, &pending.branch)? == Some(base)
        && worktree::checked_out_at(repo, &pending.branch)?.is_none()
    {
        branch::delete_branch(repo, &pending.branch, base)?;
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
            let _ = branch::delete_branch(self.repo, branch, *tip);
        }
        if worktree::is_missing_or_empty(&self.path) {
            let _ = std::fs::remove_dir(&self.path);
        }
        for parent in &self.new_parents {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// The configured worktree folder for `branch`, made unique (a hash suffix) when another
/// branch's session of this clone already uses the plain name.
pub(crate) fn choose_path(ws: &Workspace, branch: &str, sessions: &[Session]) -> Result<PathBuf> {
    let (config, main) = (ws.config()?, ws.main_workdir()?);
    let plain = config.worktree_path(main, &worktree_dir_name(branch))?;
    let notes = ws.local().notes(sessions.len());
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
