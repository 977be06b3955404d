//! Branches and commits through gix: check a branch name, look up tips, create and delete a
//! branch (as `git branch` would), find the remote branch to track, count commits, and the
//! lock files a killed creation left. Nothing here knows about sessions.

use crate::error::{Context, Error, Result};
use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

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
