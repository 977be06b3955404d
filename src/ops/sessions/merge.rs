//! Landing a session's work: merge its branch into its base branch (fast-forward when possible,
//! a merge commit, a squash, or a rebase), complete the session (its issue done), and remove the
//! worktree and branch this clone made for it.
//!
//! The new base tip is made with git's plumbing first (objects only, no worktree touched), so a
//! conflict changes nothing; then the base moves (by a fast-forward of the worktree that has it
//! checked out, or a compare-and-swap of its ref); then the session completes; then the files
//! go. Run again after a failure, each step finds its work done and goes on.

use super::query::resolve_session;
use super::same_path;
use super::transition::{CloseRequest, close};
use crate::error::{Error, Result, Setting};
use crate::git::merge::{Merged as Tree, commit_tree, merge_tree, replay};
use crate::git::{branch, worktree};
use crate::lifecycle::SessionEvent;
use crate::model::{Issue, Session, SessionStatus};
use crate::ops::provision::{self, hold_worktrees};
use crate::store::Mode;
use crate::workspace::Workspace;
use gix::ObjectId;
use serde::Serialize;
use std::path::PathBuf;

/// How the branch is brought into the base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Fast-forward when the base has not moved, else a merge commit.
    #[default]
    Merge,
    /// One new commit on the base with the branch's changes.
    Squash,
    /// The branch's commits replayed on the base, which then fast-forwards.
    Rebase,
}

/// What `merge` is asked to do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeRequest {
    /// The session: id, unique prefix or branch.
    pub session: String,
    pub strategy: Strategy,
    /// The branch to merge into (default: the session's base, when it is a local branch).
    pub into: Option<String>,
    /// Keep the worktree and the branch.
    pub keep: bool,
    /// Push the base branch to this remote afterwards.
    pub push: Option<String>,
}

/// What was done (or, in a dry run, would be).
#[derive(Debug, Clone, Serialize)]
pub struct MergeOutcome {
    pub id: String,
    pub branch: String,
    pub into: String,
    /// `fast_forward`, `merge`, `squash`, `rebase`, or `up_to_date` (nothing to bring in).
    pub how: &'static str,
    /// The base's tip before and after.
    pub before: String,
    pub after: String,
    /// Commits of the branch that the base did not have.
    pub commits: u32,
    pub completed: bool,
    pub removed_worktree: Option<PathBuf>,
    pub deleted_branch: Option<String>,
    pub pushed: Option<String>,
    pub warnings: Vec<String>,
    pub dry_run: bool,
}

/// Merge a session's branch into its base, complete the session, remove what was made for it.
pub fn merge(ws: &Workspace, request: &MergeRequest, mode: Mode) -> Result<MergeOutcome> {
    let repo = ws.repo();
    let id = resolve_session(ws, &request.session)?;
    let session = ws.store().read::<Session>(&id)?.record;
    check_mergeable(ws, &session)?;
    let into = match &request.into {
        Some(into) => into.trim().to_string(),
        None => session.base_ref.trim().to_string(),
    };
    branch::check_branch_name(&into).map_err(|_| no_base(&session, &into))?;
    let Some(base_tip) = branch::branch_tip(repo, &into)? else {
        return Err(no_base(&session, &into));
    };
    if into == session.branch {
        return Err(Error::usage(format!(
            "session {id} works on {into} itself; name another branch to merge into"
        )));
    }
    let Some(tip) = branch::branch_tip(repo, &session.branch)? else {
        return Err(Error::invalid(format!(
            "branch {} of session {id} does not exist here",
            session.branch
        )));
    };
    let note = ws.local().session(&id).filter(|_| ws.owns(&session));
    let own_worktree = note
        .as_ref()
        .filter(|n| !n.adopted)
        .map(|n| n.worktree.clone())
        .filter(|p| p.exists());
    if let Some(path) = &own_worktree
        && worktree::is_dirty(path)?
    {
        return Err(Error::invalid(format!(
            "the worktree {} has uncommitted changes; commit them before merging",
            path.display()
        )));
    }
    let base_checkout = worktree::checked_out_at(repo, &into)?;
    if let Some(path) = &base_checkout
        && worktree::is_dirty(path)?
    {
        return Err(Error::invalid(format!(
            "{into} is checked out at {} with uncommitted changes; commit or stash them first",
            path.display()
        )));
    }
    let commits = branch::count_commits(repo, tip, base_tip)?;
    let (how, new) = if commits == 0 {
        ("up_to_date", base_tip)
    } else {
        let message = merge_message(ws, request.strategy, &session, &into, base_tip, tip)?;
        bring_in(
            repo,
            request.strategy,
            &session.branch,
            base_tip,
            tip,
            &message,
        )
        .map_err(|e| conflict(e, &session.branch, &into))?
    };
    let mut outcome = MergeOutcome {
        id: id.clone(),
        branch: session.branch.clone(),
        into: into.clone(),
        how,
        before: base_tip.to_string(),
        after: new.to_string(),
        commits,
        completed: session.status != SessionStatus::Completed,
        removed_worktree: own_worktree.clone().filter(|_| !request.keep),
        deleted_branch: None,
        pushed: request.push.clone(),
        warnings: Vec::new(),
        dry_run: mode == Mode::DryRun,
    };
    let created = note.as_ref().and_then(|n| n.created_branch.clone());
    if !request.keep {
        match created {
            Some(created) if created == session.branch => {
                outcome.deleted_branch = Some(created);
            }
            _ => outcome.warnings.push(format!(
                "branch {} was not created by pm for session {id}; it is kept",
                session.branch
            )),
        }
        if own_worktree.is_none() && note.as_ref().is_none_or(|n| n.adopted) {
            outcome.warnings.push(format!(
                "the worktree of session {id} was not created by this clone; its files are left alone"
            ));
        }
    }
    if mode == Mode::DryRun {
        return Ok(outcome);
    }

    // The base moves: the worktree that has it checked out fast-forwards (its files follow),
    // or its ref moves if it still is where it was read.
    if new != base_tip {
        move_base(repo, &into, base_checkout.as_deref(), base_tip, new)?;
    }
    if request.strategy == Strategy::Rebase && new != base_tip && request.keep {
        // As after `git rebase`: the kept branch is the rebased one.
        let full = format!("refs/heads/{}", session.branch);
        let (new_s, old_s) = (new.to_string(), tip.to_string());
        crate::git::command::run_ok(
            repo,
            &[
                "update-ref",
                "-m",
                "pm: merge --rebase",
                &full,
                &new_s,
                &old_s,
            ],
            &format!("could not move branch {}", session.branch),
        )?;
    }
    if session.status != SessionStatus::Completed {
        let changed = close(
            ws,
            &CloseRequest {
                session: id.clone(),
                event: SessionEvent::Complete,
                force: false,
            },
            Mode::Write,
        )?;
        outcome.warnings.extend(
            changed
                .warnings
                .into_iter()
                // Its commits are on the base branch now.
                .filter(|w| !w.starts_with(&format!("branch {} has ", session.branch))),
        );
    }
    if !request.keep {
        remove_files(ws, &session, &mut outcome)?;
    }
    if let Some(remote) = &request.push {
        push_base(repo, remote, &into, new)?;
    }
    Ok(outcome)
}

/// A session may be merged when it is this clone's, its agent does not run, and it is not
/// abandoned or purged.
fn check_mergeable(ws: &Workspace, session: &Session) -> Result<()> {
    let id = &session.id;
    if session.is_purged() {
        return Err(Error::invalid(format!("session {id} was purged")));
    }
    if session.status == SessionStatus::Abandoned {
        return Err(Error::invalid(format!(
            "session {id} was abandoned; reactivate it to merge its work"
        )));
    }
    if !ws.owns(session) && session.status == SessionStatus::Active {
        return Err(Error::invalid(format!(
            "session {id} is active in another clone; merge it there"
        )));
    }
    if crate::ops::runs::view(ws, id).state == crate::runtime::lease::RunState::Running {
        return Err(Error::invalid(format!(
            "the agent of session {id} is running; let it finish or abort it first"
        )));
    }
    Ok(())
}

fn no_base(session: &Session, into: &str) -> Error {
    Error::invalid(format!(
        "session {} started from {into:?}, which is no local branch; name the branch to merge into",
        session.id
    ))
    .hint(Setting::Into, "names it")
}

/// A conflict named by its files, one line.
fn conflict(e: Conflict, branch: &str, into: &str) -> Error {
    match e {
        Conflict::Files(files) if !files.is_empty() => Error::invalid(format!(
            "merging {branch} into {into} conflicts in {}; nothing was changed",
            files.join(", ")
        )),
        Conflict::Files(_) => Error::invalid(format!(
            "merging {branch} into {into} conflicts; nothing was changed"
        )),
        Conflict::Failed(e) => e,
    }
}

enum Conflict {
    Files(Vec<String>),
    Failed(Error),
}

impl From<Error> for Conflict {
    fn from(e: Error) -> Self {
        Conflict::Failed(e)
    }
}

/// The new base tip with the branch's work in it, made of objects only.
fn bring_in(
    repo: &gix::Repository,
    strategy: Strategy,
    branch_name: &str,
    base: ObjectId,
    tip: ObjectId,
    message: &str,
) -> std::result::Result<(&'static str, ObjectId), Conflict> {
    let fast_forward = branch::count_commits(repo, base, tip)? == 0;
    match strategy {
        Strategy::Merge if fast_forward => Ok(("fast_forward", tip)),
        Strategy::Merge => match merge_tree(repo, base, tip)? {
            Tree::Clean(tree) => Ok(("merge", commit_tree(repo, tree, &[base, tip], message)?)),
            Tree::Conflict(files) => Err(Conflict::Files(files)),
        },
        Strategy::Squash => {
            let tree = if fast_forward {
                repo.find_commit(tip)
                    .and_then(|c| c.tree_id())
                    .map_err(|e| Error::failed(format!("could not read commit {tip}: {e}")))?
                    .detach()
            } else {
                match merge_tree(repo, base, tip)? {
                    Tree::Clean(tree) => tree,
                    Tree::Conflict(files) => return Err(Conflict::Files(files)),
                }
            };
            Ok(("squash", commit_tree(repo, tree, &[base], message)?))
        }
        Strategy::Rebase if fast_forward => Ok(("fast_forward", tip)),
        Strategy::Rebase => match replay(repo, base, branch_name)? {
            Some(new) => Ok(("rebase", new)),
            None => match merge_tree(repo, base, tip)? {
                Tree::Conflict(files) => Err(Conflict::Files(files)),
                // Each commit is replayed in turn: one can conflict where the whole does not.
                Tree::Clean(_) => Err(Conflict::Files(Vec::new())),
            },
        },
    }
}

/// The message of a merge or squash commit: as git words a merge, the issue's title for a
/// squash, with the subjects of the commits brought in.
fn merge_message(
    ws: &Workspace,
    strategy: Strategy,
    session: &Session,
    into: &str,
    base: ObjectId,
    tip: ObjectId,
) -> Result<String> {
    let title = session
        .issue
        .as_ref()
        .and_then(|id| ws.store().read::<Issue>(id).ok())
        .map(|i| i.record.title);
    let branch = &session.branch;
    // A merge is worded as git words one; a squash is named after the work.
    let mut message = match (strategy, &title) {
        (Strategy::Squash, Some(title)) => format!("{title}\n\nSquashed branch '{branch}'"),
        (Strategy::Squash, None) => format!("Squashed branch '{branch}' into {into}"),
        (_, Some(title)) => format!("Merge branch '{branch}' into {into}\n\n{title}"),
        (_, None) => format!("Merge branch '{branch}' into {into}"),
    };
    let repo = ws.repo();
    let walk = repo
        .rev_walk([tip])
        .with_hidden([base])
        .all()
        .map_err(|e| {
            Error::failed(format!(
                "could not list the commits of {}: {e}",
                session.branch
            ))
        })?;
    let mut subjects = Vec::new();
    for info in walk.take(50) {
        let info = info.map_err(|e| Error::failed(format!("could not read a commit: {e}")))?;
        subjects.push(format!("* {}", branch::commit_summary(repo, info.id)?.1));
    }
    if !subjects.is_empty() {
        message.push_str("\n\n");
        message.push_str(&subjects.join("\n"));
    }
    if let Some(issue) = &session.issue {
        message.push_str(&format!(
            "\n\npm-issue: {issue}\npm-session: {}",
            session.id
        ));
    }
    message.push('\n');
    Ok(message)
}

/// Move branch `into` from `old` to `new` (a descendant): in the worktree that has it checked
/// out, by a fast-forward that brings its files along; else by a compare-and-swap of the ref.
fn move_base(
    repo: &gix::Repository,
    into: &str,
    checkout: Option<&std::path::Path>,
    old: ObjectId,
    new: ObjectId,
) -> Result<()> {
    let (new_s, old_s) = (new.to_string(), old.to_string());
    match checkout {
        Some(dir) => {
            let out = crate::git::command::run_in(dir, &["merge", "--ff-only", "--quiet", &new_s])?;
            if !out.success {
                return Err(Error::failed(format!(
                    "could not move {into} at {}: {}; nothing was changed",
                    dir.display(),
                    out.error_line()
                )));
            }
        }
        None => {
            let full = format!("refs/heads/{into}");
            crate::git::command::run_ok(
                repo,
                &["update-ref", "-m", "pm: merge", &full, &new_s, &old_s],
                &format!("could not move branch {into}"),
            )?;
        }
    }
    Ok(())
}

/// Remove the worktree and the branch this clone made for the session (both now merged).
fn remove_files(ws: &Workspace, session: &Session, outcome: &mut MergeOutcome) -> Result<()> {
    let repo = ws.repo();
    let _mutex = hold_worktrees(ws, Mode::Write)?.0;
    if let Some(path) = &outcome.removed_worktree {
        let said = provision::remove(ws, path, false)?;
        outcome.warnings.extend(said);
    }
    if let Some(name) = outcome.deleted_branch.clone() {
        let elsewhere = worktree::checked_out_at(repo, &name)?.filter(|at| {
            !outcome
                .removed_worktree
                .as_ref()
                .is_some_and(|own| same_path(at, own))
        });
        match (elsewhere, branch::branch_tip(repo, &name)?) {
            (Some(at), _) => {
                outcome.warnings.push(format!(
                    "branch {name} is checked out at {}; it is kept",
                    at.display()
                ));
                outcome.deleted_branch = None;
            }
            (None, Some(tip)) => worktree::delete_branch(repo, &name, tip)?,
            (None, None) => outcome.deleted_branch = None,
        }
    }
    ws.local().remove_session(&session.id)?;
    Ok(())
}

/// Push `into` at `new` to `remote`, never forced.
fn push_base(repo: &gix::Repository, remote: &str, into: &str, new: ObjectId) -> Result<()> {
    let spec = format!("{new}:refs/heads/{into}");
    crate::ops::sync::check_remote_name(repo, remote)?;
    let out = crate::git::command::run(repo, &["push", "--quiet", remote, &spec])?;
    if !out.success {
        return Err(Error::failed(format!(
            "merged into {into}, but could not push it to {remote}: {}",
            out.error_line()
        )));
    }
    Ok(())
}
