//! Branches and linked worktrees through gix: create, remove, prune, find, count commits.
//! The result must look exactly like `git worktree add -b`. Nothing here knows about sessions.

use crate::error::{Context, Error, Result};
use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The main worktree's folder (where `.git` lives) of the repository `repo` belongs to.
pub fn main_workdir(repo: &gix::Repository) -> Result<PathBuf> {
    let main = repo
        .main_repo()
        .context(|| "could not open the main worktree".into())?;
    main.workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::failed("the repository has no main worktree"))
}

/// Whether `branch` is a valid branch name (as `git check-ref-format --branch` would say).
pub fn check_branch_name(branch: &str) -> Result<()> {
    match crate::model::session::branch_name_problem(branch) {
        None => Ok(()),
        Some(why) => Err(Error::usage(format!(
            "invalid branch name {branch:?}: {why}"
        ))),
    }
}

/// The commit `refs/heads/<branch>` points at, if the branch exists.
pub fn branch_tip(repo: &gix::Repository, branch: &str) -> Result<Option<ObjectId>> {
    BranchTips::new(repo).tip(branch)
}

/// Exact lookups of branch tips. (gix's lookup of a name also tries it below refs/tags/,
/// refs/heads/ and refs/remotes/: five file lookups and five searches of packed-refs for a
/// missing branch.)
pub struct BranchTips<'r> {
    repo: &'r gix::Repository,
    /// Every branch's tip, when many lookups are expected.
    all: Option<std::collections::HashMap<String, ObjectId>>,
}

impl<'r> BranchTips<'r> {
    pub fn new(repo: &'r gix::Repository) -> Self {
        BranchTips { repo, all: None }
    }

    /// For `lookups` lookups to come: with many, reading every branch once is cheaper than
    /// looking each one up (most of them missing, in a long history of sessions).
    pub fn expecting(repo: &'r gix::Repository, lookups: usize) -> Self {
        let mut tips = Self::new(repo);
        if lookups > 256 {
            tips.all = all_branch_tips(repo);
        }
        tips
    }

    pub fn tip(&self, branch: &str) -> Result<Option<ObjectId>> {
        use crate::store::loose_ref::{packed_target, read_loose};
        if let Some(all) = &self.all {
            return Ok(all.get(branch).copied());
        }
        let name = format!("refs/heads/{branch}");
        match read_loose(&self.repo.common_dir().join(&name)) {
            Ok(Some(tip)) => return Ok(Some(tip)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return packed_target(self.repo, &name).map_err(Error::failed);
            }
            // A symbolic ref, a folder, an unreadable file: let gix say what it is.
            Ok(None) | Err(_) => {}
        }
        let reference = self
            .repo
            .try_find_reference(name.as_str())
            .context(|| format!("could not read branch {branch}"))?;
        Ok(reference.and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
    }
}

/// Every branch and the commit it points at (peeled through symbolic refs), or `None` when the
/// refs cannot be read (each lookup then goes alone, and reports its own error).
fn all_branch_tips(repo: &gix::Repository) -> Option<std::collections::HashMap<String, ObjectId>> {
    let platform = repo.references().ok()?;
    let mut all = std::collections::HashMap::new();
    for reference in platform.local_branches().ok()? {
        let mut reference = reference.ok()?;
        let name = String::from_utf8_lossy(reference.name().shorten()).into_owned();
        let tip = match reference.target().try_id() {
            Some(id) => id.to_owned(),
            None => reference.peel_to_id().ok()?.detach(),
        };
        all.insert(name, tip);
    }
    Some(all)
}

/// Resolve a revision (`main`, `HEAD~2`, a commit id) to a commit.
pub fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<ObjectId> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|_| Error::not_found(format!("unknown revision {rev:?}")))?;
    let object = id.object().context(|| format!("could not read {rev}"))?;
    let commit = object
        .peel_to_kind(gix::object::Kind::Commit)
        .map_err(|_| Error::invalid(format!("{rev:?} does not name a commit")))?;
    Ok(commit.id)
}

/// Create `branch` at `at`; fails if it exists.
pub fn create_branch(
    repo: &gix::Repository,
    branch: &str,
    at: ObjectId,
    base_name: &str,
) -> Result<()> {
    let name = format!("refs/heads/{branch}");
    let edit = RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: format!("branch: Created from {base_name}").into(),
            },
            expected: PreviousValue::MustNotExist,
            new: Target::Object(at),
        },
        name: name
            .as_str()
            .try_into()
            .map_err(|_| Error::usage(format!("invalid branch name {branch:?}")))?,
        deref: false,
    };
    repo.edit_reference(edit).map(|_| ()).map_err(|e| {
        let action = format!("could not create branch {branch}");
        crate::error::ref_edit_failed(repo.common_dir(), &[&name], &action, &e)
    })
}

/// Delete `branch` if it still points at `expected` (used to undo a failed launch).
pub fn delete_branch(repo: &gix::Repository, branch: &str, expected: ObjectId) -> Result<()> {
    let name = format!("refs/heads/{branch}");
    let edit = RefEdit {
        change: Change::Delete {
            expected: PreviousValue::MustExistAndMatch(Target::Object(expected)),
            log: RefLog::AndReference,
        },
        name: name
            .as_str()
            .try_into()
            .map_err(|_| Error::usage(format!("invalid branch name {branch:?}")))?,
        deref: false,
    };
    repo.edit_reference(edit).map(|_| ()).map_err(|e| {
        let action = format!("could not delete branch {branch}");
        crate::error::ref_edit_failed(repo.common_dir(), &[&name], &action, &e)
    })
}

/// The worktree folder that has `branch` checked out, if any (the main one included).
pub fn checked_out_at(repo: &gix::Repository, branch: &str) -> Result<Option<PathBuf>> {
    let wanted = format!("refs/heads/{branch}");
    let all = repo
        .worktrees_including_main()
        .context(|| "could not list worktrees".into())?;
    for wt in all {
        let Ok(wt) = wt else { continue };
        if let Ok(Some(head)) = wt.head_name()
            && head.as_bstr() == wanted.as_str()
        {
            return Ok(Some(
                wt.workdir().map(Path::to_path_buf).unwrap_or_default(),
            ));
        }
    }
    Ok(None)
}

/// Add a linked worktree at `path` with the existing local `branch` checked out.
/// On failure gix removes what it created; the folder's parents are ours to clean.
pub fn add(repo: &gix::Repository, path: &Path, branch: &str) -> Result<()> {
    let name: gix::refs::FullName = format!("refs/heads/{branch}")
        .as_str()
        .try_into()
        .map_err(|_| Error::usage(format!("invalid branch name {branch:?}")))?;
    let interrupt = AtomicBool::new(false);
    repo.add_worktree(
        path,
        gix::worktree::add::Head::Attached(name),
        gix::progress::Discard,
        &interrupt,
    )
    .map(|_| ())
    .map_err(|e| {
        Error::failed(format!(
            "could not add a worktree for {branch} at {}: {}",
            path.display(),
            crate::error::gix_write_reason(path, &e)
        ))
    })
}

/// Remove the linked worktree at `path`; refuses one with changes or untracked files unless `force`.
pub fn remove(repo: &gix::Repository, path: &Path, force: bool) -> Result<()> {
    let force = if force {
        gix::worktree::remove::Force::DiscardChanges
    } else {
        gix::worktree::remove::Force::Never
    };
    repo.remove_worktree(path, force, gix::progress::Discard)
        .map_err(|e| {
            Error::invalid(format!(
                "could not remove the worktree {}: {}",
                path.display(),
                crate::error::one_line(&e.to_string())
            ))
        })
}

/// Remove git's administrative entries of worktrees whose folders are gone (`git worktree prune`).
/// Returns the folders they pointed at.
pub fn prune(repo: &gix::Repository, dry_run: bool) -> Result<Vec<PathBuf>> {
    let mut pruned = Vec::new();
    for proxy in repo
        .worktrees()
        .context(|| "could not list worktrees".into())?
    {
        if proxy.is_prunable() && !proxy.is_locked() {
            pruned.push(proxy.base().unwrap_or_default());
            if !dry_run {
                fs_err::remove_dir_all(proxy.git_dir())
                    .context(|| "could not prune a stale worktree entry".into())?;
            }
        }
    }
    Ok(pruned)
}

/// Commits reachable from `tip` but not from `hidden` (`git rev-list --count hidden..tip`).
pub fn count_commits(repo: &gix::Repository, tip: ObjectId, hidden: ObjectId) -> Result<u32> {
    let walk = repo
        .rev_walk([tip])
        .with_hidden([hidden])
        .all()
        .context(|| format!("could not count commits of {tip}"))?;
    let mut count = 0;
    for info in walk {
        info.context(|| format!("could not count commits of {tip}"))?;
        count += 1;
    }
    Ok(count)
}

/// The time and subject of a commit.
pub fn commit_summary(repo: &gix::Repository, id: ObjectId) -> Result<(i64, String)> {
    let commit = repo
        .find_commit(id)
        .context(|| format!("could not read commit {id}"))?;
    let time = commit.time().map(|t| t.seconds).unwrap_or(0);
    let subject = commit.message_raw_sloppy().to_string();
    Ok((time, subject.lines().next().unwrap_or("").to_string()))
}

/// Whether the worktree at `path` has uncommitted changes to tracked files.
pub fn is_dirty(path: &Path) -> Result<bool> {
    let repo =
        gix::open(path).context(|| format!("could not open the worktree {}", path.display()))?;
    repo.is_dirty()
        .context(|| format!("could not read the status of {}", path.display()))
}

/// Whether a folder is missing or empty (a worktree may be created there).
pub fn is_missing_or_empty(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}
