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
        use crate::git::loose_ref::{packed_target, read_loose};
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

/// Create `branch` at `at`; fails if it exists, even at the same commit (gix's "must not
/// exist" would accept that, and a launch would then take another's branch for its own).
pub fn create_branch(
    repo: &gix::Repository,
    branch: &str,
    at: ObjectId,
    base_name: &str,
) -> Result<()> {
    use crate::git::loose_ref::{self, RefError, Updated};
    let name = format!("refs/heads/{branch}");
    let message = format!("branch: Created from {base_name}");
    let committer = crate::git::identity::identity(repo, "committer").map(|(who, email)| {
        gix::actor::Signature {
            name: who.into(),
            email: email.into(),
            time: gix::date::Time::new(crate::model::Timestamp::now().seconds(), 0),
        }
    });
    let created = loose_ref::create(
        repo,
        &name,
        at,
        committer.as_ref().map(|c| (c, message.as_str())),
    );
    match created {
        Ok(Updated::Done) => return Ok(()),
        Ok(Updated::NotHandled) => {}
        Err(RefError::Moved(_)) => {
            return Err(Error::invalid(format!("branch {branch} already exists")));
        }
        Err(RefError::Locked(why) | RefError::Failed(why)) => {
            return Err(Error::failed(format!(
                "could not create branch {branch}: {why}"
            )));
        }
    }
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
        let why = match broken_entries(repo).first() {
            Some((entry, problem)) => format!(
                "the worktree entry {} is broken ({problem}); remove that folder if no git or pm \
                 process is adding a worktree",
                entry.display()
            ),
            None => crate::error::gix_write_reason(path, &e),
        };
        Error::failed(format!(
            "could not add a worktree for {branch} at {}: {why}",
            path.display()
        ))
    })
}

/// git's worktree entries that git itself cannot read (a creation cut short by a crash): each
/// with what is wrong with it.
pub fn broken_entries(repo: &gix::Repository) -> Vec<(PathBuf, &'static str)> {
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Vec::new();
    };
    let mut broken = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let problem = if read("gitdir").trim().is_empty() {
            "its gitdir file is empty or missing"
        } else if read("commondir").trim().is_empty() {
            "its commondir file is empty or missing"
        } else {
            continue;
        };
        broken.push((dir, problem));
    }
    broken.sort();
    broken
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

/// Whether the worktree at `path` has work in no commit: changed tracked files or untracked
/// files that are not ignored (`git status --porcelain`).
pub fn has_uncommitted_work(path: &Path) -> Result<bool> {
    let status = crate::git::command::run_in(path, &["status", "--porcelain"])?;
    if !status.success {
        return Err(Error::failed(format!(
            "could not read the status of {}: {}",
            path.display(),
            status.error_line()
        )));
    }
    Ok(!status.stdout.trim().is_empty())
}

/// Whether a folder is missing or empty (a worktree may be created there).
pub fn is_missing_or_empty(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// `path` with symbolic links resolved as far as it exists: the deepest existing ancestor is
/// canonicalized and the rest appended as written.
pub fn resolve_existing(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut current = path;
    loop {
        if let Ok(real) = current.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                current = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// git's administrative entries (`<common dir>/worktrees/<id>`) of the worktree folder `path`:
/// those whose `gitdir` file names `path/.git`, and those whose creation was cut short (still
/// marked as initializing, with an empty or missing `gitdir`) under the folder's name.
fn entries_for(repo: &gix::Repository, path: &Path) -> Vec<PathBuf> {
    let dot_git = resolve_existing(path).join(".git");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let gitdir = std::fs::read_to_string(dir.join("gitdir")).unwrap_or_default();
        let gitdir = gitdir.trim();
        let names_it = !gitdir.is_empty() && resolve_existing(Path::new(gitdir)) == dot_git;
        let cut_short = gitdir.is_empty()
            && std::fs::read_to_string(dir.join("locked"))
                .is_ok_and(|why| why.trim() == "initializing")
            && entry.file_name().to_string_lossy().starts_with(&name);
        if names_it || cut_short {
            found.push(dir);
        }
    }
    found
}

/// Remove git's entries of the worktree folder `path` (see [`entries_for`]), even broken ones
/// that git itself cannot read. Returns whether there were any.
pub fn remove_entries_for(repo: &gix::Repository, path: &Path) -> Result<bool> {
    let entries = entries_for(repo, path);
    for dir in &entries {
        fs_err::remove_dir_all(dir).context(|| {
            format!(
                "could not remove the worktree entry {} of {}",
                dir.display(),
                path.display()
            )
        })?;
    }
    Ok(!entries.is_empty())
}

/// Whether `path` is a worktree folder of this repository: its `.git` file points into the
/// repository's `worktrees/` folder (or the folder holds nothing but an empty `.git` file, as
/// git's worktree step leaves it when it is killed between creating and writing that file).
pub fn is_our_worktree_folder(repo: &gix::Repository, path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path.join(".git")) else {
        return false;
    };
    // Cut short right after the link was created: an empty `.git` file and nothing else.
    if text.is_empty() {
        return std::fs::read_dir(path).is_ok_and(|entries| entries.count() == 1);
    }
    let Some(target) = text.trim().strip_prefix("gitdir: ") else {
        return false;
    };
    let target = if Path::new(target).is_absolute() {
        PathBuf::from(target)
    } else {
        path.join(target)
    };
    resolve_existing(&target).starts_with(resolve_existing(&repo.common_dir().join("worktrees")))
}

/// Whether the worktree at `path` was completely made: its folder links to an entry of this
/// repository that is no longer marked as initializing.
pub fn is_complete(repo: &gix::Repository, path: &Path) -> bool {
    is_our_worktree_folder(repo, path)
        && entries_for(repo, path)
            .iter()
            .any(|dir| !dir.join("locked").exists() && dir.join("commondir").exists())
}

/// Remove the lock files of `branch` (the ref's and its reflog's) that a process killed while
/// creating it left behind. Only for a branch whose creation pm itself journaled.
pub fn remove_branch_locks(repo: &gix::Repository, branch: &str) -> Result<()> {
    let common = repo.common_dir();
    for lock in [
        common.join(format!("refs/heads/{branch}.lock")),
        common.join(format!("logs/refs/heads/{branch}.lock")),
    ] {
        match std::fs::remove_file(&lock) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::failed(format!(
                    "could not remove {}: {e}",
                    lock.display()
                )));
            }
        }
    }
    Ok(())
}

/// The commit of `refs/remotes/<name>` when `name` is the short name of a remote-tracking
/// branch (`origin/main`).
pub fn remote_tracking_tip(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>> {
    let full = format!("refs/remotes/{name}");
    let Ok(full) = gix::refs::FullName::try_from(full.as_str()) else {
        return Ok(None);
    };
    let reference = repo
        .try_find_reference(full.as_ref())
        .context(|| format!("could not read {}", full.as_bstr()))?;
    Ok(reference.and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
}

/// Where a new local `branch` would start from a remote as `git worktree add` guesses it: the
/// remote-tracking branch `<remote>/<branch>` of `preferred`, else of the one remote that has
/// it. Returns the remote and the commit.
pub fn remote_branch_to_track(
    repo: &gix::Repository,
    branch: &str,
    preferred: &str,
) -> Result<Option<(String, ObjectId)>> {
    if let Some(tip) = remote_tracking_tip(repo, &format!("{preferred}/{branch}"))? {
        return Ok(Some((preferred.to_string(), tip)));
    }
    let mut found = Vec::new();
    for remote in repo.remote_names() {
        let remote = remote.to_string();
        if let Some(tip) = remote_tracking_tip(repo, &format!("{remote}/{branch}"))? {
            found.push((remote, tip));
        }
    }
    Ok(if found.len() == 1 { found.pop() } else { None })
}

/// Make `remote`'s `branch` the upstream of the local `branch` (`branch.<b>.remote` and
/// `branch.<b>.merge`, as `git branch --set-upstream-to` writes them).
pub fn set_upstream(repo: &gix::Repository, branch: &str, remote: &str) -> Result<()> {
    let merge = format!("refs/heads/{branch}");
    for (key, value) in [("remote", remote), ("merge", merge.as_str())] {
        let key = format!("branch.{branch}.{key}");
        crate::git::command::run_ok(
            repo,
            &["config", &key, value],
            &format!("could not set the upstream of {branch}"),
        )?;
    }
    Ok(())
}

/// Fails with the lock file's name when deleting `branch` would meet a lock: the branch's own
/// `.lock`, or `packed-refs.lock` when the branch is packed.
pub fn check_branch_unlocked(repo: &gix::Repository, branch: &str) -> Result<()> {
    let name = format!("refs/heads/{branch}");
    let common = repo.common_dir();
    let own = common.join(format!("{name}.lock"));
    if own.exists() {
        return Err(Error::failed(crate::error::locked_message(&name, &own)));
    }
    let packed = crate::git::loose_ref::packed_target(repo, &name).map_err(Error::failed)?;
    let packed_lock = common.join("packed-refs.lock");
    if packed.is_some() && packed_lock.exists() {
        return Err(Error::failed(crate::error::locked_message(
            "packed-refs",
            &packed_lock,
        )));
    }
    Ok(())
}

/// Remove the worktree folder `path` with its `.git` link last, so that a process killed while
/// removing it leaves a folder that is still recognised as this repository's worktree (and is
/// removed by the next try) rather than files that nobody can tell apart from the user's.
pub fn remove_folder_link_last(path: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    match std::fs::remove_file(path.join(".git")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::remove_dir(path)
}
