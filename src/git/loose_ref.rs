//! Moving an existing record ref the way `git update-ref <ref> <new> <old>` does.
//!
//! gix's ref transaction also locks `packed-refs` whenever that file exists and reads it again
//! after the write, which made it most of the cost of `pm agent close`. git's own protocol needs
//! neither for an update: lock `<ref>.lock` (create-exclusive), check the current value (the
//! loose file, else `packed-refs`) against the expected one, write the new id into the lock and
//! rename it over the ref. Every git and gix writer takes the same lock, so the compare-and-swap
//! holds against all of them. Cases this does not cover (a reflog to append, a ref namespace)
//! are left to gix.

use crate::fsutil::LockFile;
use gix::ObjectId;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What [`update`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Updated {
    /// The ref now points at the new commit.
    Done,
    /// This needs more than a loose ref write; nothing was touched.
    NotHandled,
}

/// Why a ref was not moved. Each holds one line naming the ref.
#[derive(Debug)]
pub enum RefError {
    /// Another writer moved it first: read again and retry.
    Moved(String),
    /// Another writer holds its lock (or a crashed one left it).
    Locked(String),
    /// Anything else (permissions, a full disk, a file where a folder must be): retrying will
    /// not help.
    Failed(String),
}

impl std::fmt::Display for RefError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefError::Moved(text) | RefError::Locked(text) | RefError::Failed(text) => {
                f.write_str(text)
            }
        }
    }
}

/// Sort the error of a gix ref edit of `name` by its typed causes: the ref was not as
/// expected (gix's `ReferenceOutOfDate` or `MustNotExist`, or a ref that had to exist is gone)
/// is [`RefError::Moved`]; a lock file in the way is [`RefError::Locked`]; anything else (a
/// folder that cannot be made or written, a full disk, a name git refuses) is
/// [`RefError::Failed`], which no retry can cure. The text is one line naming the ref.
pub fn edit_error(repo: &gix::Repository, name: &str, err: &gix::Error) -> RefError {
    use gix::refs::file::transaction::prepare::{MustNotExist, ReferenceOutOfDate};
    let reason = crate::error::ref_edit_reason(repo.common_dir(), &[name], err);
    let moved = err
        .iter_errors()
        .any(|e| e.is::<ReferenceOutOfDate>() || e.is::<MustNotExist>())
        || err
            .classify()
            .any(|c| c.class() == gix::error::Class::NotFound && c.io_kind().is_none());
    if moved {
        return RefError::Moved(reason);
    }
    match crate::error::blocked_by(err) {
        Some(crate::error::Blocked::Locked) => RefError::Locked(reason),
        Some(crate::error::Blocked::DiskFull) | None => RefError::Failed(reason),
    }
}

/// Point the existing ref `name` (under the common git dir) at `new` if it still points at
/// `old`. The error is one line naming the ref and why.
pub fn update(
    repo: &gix::Repository,
    name: &str,
    new: ObjectId,
    old: ObjectId,
) -> Result<Updated, RefError> {
    let refs = &repo.refs;
    if refs.namespace.is_some() || refs.write_reflog == gix::refs::store::WriteReflog::Always {
        return Ok(Updated::NotHandled);
    }
    let common = repo.common_dir();
    let path = common.join(name);
    if refs.write_reflog == gix::refs::store::WriteReflog::Normal
        && common.join("logs").join(name).exists()
    {
        return Ok(Updated::NotHandled);
    }
    let lock = lock_ref(&path, name)?;
    let current = match read_loose(&path) {
        Ok(tip) => tip,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            packed_target(repo, name).map_err(RefError::Failed)?
        }
        Err(e) => return Err(RefError::Failed(format!("could not read {name}: {e}"))),
    };
    if current != Some(old) {
        return Err(RefError::Moved(match current {
            Some(now) => format!("{name} moved to {now} (expected {old})"),
            None => format!("{name} no longer points at {old}"),
        }));
    }
    lock.commit(&path, format!("{new}\n").as_bytes())
        .map_err(|e| RefError::Failed(crate::error::write_failed(&path, &e)))?;
    Ok(Updated::Done)
}

/// Create the ref `name` (under the common git dir) at `new`, as git creates a ref: take
/// `<ref>.lock` exclusively, make sure the ref exists neither as a loose file nor in
/// `packed-refs` (read, never locked) and that no ref is in the way as a folder or a file,
/// append the reflog line `reflog` gives (when git would keep a log for this ref), and rename
/// the lock into place. Unlike gix's "must not exist", an existing ref with the same value is
/// refused too, and `packed-refs.lock` is never taken, so a process killed here leaves at
/// most `<ref>.lock` behind.
pub fn create(
    repo: &gix::Repository,
    name: &str,
    new: ObjectId,
    reflog: Option<(&gix::actor::Signature, &str)>,
) -> Result<Updated, RefError> {
    let refs = &repo.refs;
    if refs.namespace.is_some() {
        return Ok(Updated::NotHandled);
    }
    let common = repo.common_dir();
    let path = common.join(name);
    let logged = match refs.write_reflog {
        gix::refs::store::WriteReflog::Always => true,
        gix::refs::store::WriteReflog::Normal => {
            ["refs/heads/", "refs/remotes/", "refs/notes/"]
                .iter()
                .any(|p| name.starts_with(p))
                || common.join("logs").join(name).exists()
        }
        gix::refs::store::WriteReflog::Disable => false,
    };
    if logged && reflog.is_none() {
        return Ok(Updated::NotHandled);
    }
    in_the_way(repo, name)?;
    let lock = lock_ref(&path, name)?;
    match read_loose(&path) {
        Ok(_) => return Err(RefError::Moved(format!("{name} already exists"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RefError::Failed(format!("could not read {name}: {e}"))),
    }
    if packed_target(repo, name)
        .map_err(RefError::Failed)?
        .is_some()
    {
        return Err(RefError::Moved(format!("{name} already exists")));
    }
    if logged && let Some((who, message)) = reflog {
        append_reflog(common, name, new, who, message).map_err(|e| {
            RefError::Failed(crate::error::write_failed(
                &common.join("logs").join(name),
                &e,
            ))
        })?;
    }
    lock.commit(&path, format!("{new}\n").as_bytes())
        .map_err(|e| RefError::Failed(crate::error::write_failed(&path, &e)))?;
    Ok(Updated::Done)
}

/// Fails when another ref makes `name` impossible: one of its parent paths is a ref, or it is
/// itself the folder of other refs (loose or packed).
fn in_the_way(repo: &gix::Repository, name: &str) -> Result<(), RefError> {
    let common = repo.common_dir();
    let conflict = |other: &str| {
        RefError::Failed(format!(
            "cannot create {name}: the ref {other} is in the way"
        ))
    };
    for (at, _) in name.match_indices('/').skip(1) {
        let parent = &name[..at];
        if common.join(parent).is_file() || packed_target(repo, parent).ok().flatten().is_some() {
            return Err(conflict(parent));
        }
    }
    if common.join(name).is_dir() {
        return Err(conflict(&format!("{name}/…")));
    }
    if let Ok(Some(packed)) = repo.refs.cached_packed_buffer()
        && let Ok(mut inside) = packed.iter_prefixed(format!("{name}/").into())
        && let Some(Ok(other)) = inside.next()
    {
        return Err(conflict(&other.name.as_bstr().to_string()));
    }
    Ok(())
}

/// Append one line to the reflog of `name`, as git writes it.
fn append_reflog(
    common: &Path,
    name: &str,
    new: ObjectId,
    who: &gix::actor::Signature,
    message: &str,
) -> std::io::Result<()> {
    let path = common.join("logs").join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut line = Vec::new();
    line.extend_from_slice(format!("{} {new} ", ObjectId::null(new.kind())).as_bytes());
    let mut time = gix::date::parse::TimeBuf::default();
    who.to_ref(&mut time).write_to(&mut line)?;
    let message = message.lines().next().unwrap_or("");
    line.extend_from_slice(format!("\t{message}\n").as_bytes());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.write_all(&line)
}

/// The loose ref file at `path`: `Ok(Some(id))` when it holds an object id (with or without
/// its newline), `Ok(None)` when it holds anything else (a symbolic ref), and the error of
/// reading it (`NotFound`: the ref is not loose).
pub fn read_loose(path: &Path) -> std::io::Result<Option<ObjectId>> {
    std::fs::read(path).map(|bytes| loose_target(&bytes))
}

fn loose_target(bytes: &[u8]) -> Option<ObjectId> {
    let hex = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    ObjectId::from_hex(hex).ok()
}

/// The object `packed-refs` gives for the full ref `name`, if it lists it.
pub fn packed_target(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, String> {
    let packed = repo
        .refs
        .cached_packed_buffer()
        .map_err(|e| format!("could not read packed-refs: {e}"))?;
    let Some(packed) = packed else {
        return Ok(None);
    };
    packed
        .try_find(name)
        .map(|found| found.map(|r| r.target()))
        .map_err(|e| format!("could not read {name} in packed-refs: {e}"))
}

/// Take `<ref>.lock` for the ref file at `path` (a ref only in packed-refs may have no folder
/// yet: it is made).
fn lock_ref(path: &Path, name: &str) -> Result<LockFile, RefError> {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    let lock = PathBuf::from(lock);
    LockFile::create(&lock).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            RefError::Locked(crate::error::locked_message(name, &lock))
        } else if crate::error::is_disk_full(&e) {
            RefError::Failed(crate::error::write_failed(&lock, &e))
        } else {
            RefError::Failed(format!("could not lock {name}: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{RefError, edit_error, loose_target};
    use gix::refs::Target;
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit};

    /// gix's typed "not as expected" errors are races; a folder that cannot be made is not.
    #[test]
    fn gix_edit_errors_are_sorted_by_their_typed_causes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let init = crate::git::command::run_in(dir.path(), &["init", "-q"]).expect("git runs");
        assert!(init.success, "{}", init.stderr);
        let repo = gix::open(dir.path()).expect("open");
        let one = gix::ObjectId::from_hex(b"72d4aea8f292ca247701d5557970a7257debc408").expect("id");
        let two = gix::ObjectId::from_hex(b"82d4aea8f292ca247701d5557970a7257debc408").expect("id");
        let name = "refs/pm/issues/01ARZ3NDEKTSV4RRFFQ69G5FAV";
        std::fs::create_dir_all(dir.path().join(".git/refs/pm/issues")).expect("folders");
        std::fs::write(dir.path().join(".git").join(name), format!("{one}\n")).expect("ref");
        let edit = |expected: PreviousValue| {
            let edit = RefEdit {
                change: Change::Update {
                    log: LogChange::default(),
                    expected,
                    new: Target::Object(two),
                },
                name: name.try_into().expect("valid name"),
                deref: false,
            };
            repo.edit_references_as([edit], None)
                .map(|_| ())
                .expect_err("the edit fails")
        };
        let moved = edit(PreviousValue::MustExistAndMatch(Target::Object(two)));
        assert!(matches!(
            edit_error(&repo, name, &moved),
            RefError::Moved(_)
        ));
        let exists = edit(PreviousValue::MustNotExist);
        assert!(matches!(
            edit_error(&repo, name, &exists),
            RefError::Moved(_)
        ));

        // A file where the folder of the reflog must be: no retry can help.
        std::fs::create_dir_all(dir.path().join(".git/logs/refs")).expect("folders");
        std::fs::write(dir.path().join(".git/logs/refs/pm"), "").expect("a file in the way");
        let set =
            crate::git::command::run_in(dir.path(), &["config", "core.logAllRefUpdates", "always"])
                .expect("git runs");
        assert!(set.success, "{}", set.stderr);
        let repo = gix::open(dir.path()).expect("open again");
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange::default(),
                expected: PreviousValue::MustExistAndMatch(Target::Object(one)),
                new: Target::Object(two),
            },
            name: name.try_into().expect("valid name"),
            deref: false,
        };
        let who = gix::actor::Signature {
            name: "pm".into(),
            email: "pm@localhost".into(),
            time: gix::date::Time::new(0, 0),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        let err = repo
            .edit_references_as([edit], Some(who.to_ref(&mut time)))
            .map(|_| ())
            .expect_err("the reflog cannot be written");
        match edit_error(&repo, name, &err) {
            RefError::Failed(line) => assert!(line.contains("Not a directory"), "{line}"),
            other => panic!("taken for a race: {other}"),
        }
    }

    #[test]
    fn loose_files_name_an_object_or_nothing() {
        let id = "72d4aea8f292ca247701d5557970a7257debc408";
        assert_eq!(
            loose_target(format!("{id}\n").as_bytes()).map(|o| o.to_string()),
            Some(id.to_string())
        );
        assert_eq!(
            loose_target(id.as_bytes()).map(|o| o.to_string()),
            Some(id.to_string())
        );
        assert_eq!(loose_target(b"ref: refs/heads/main\n"), None);
        assert_eq!(loose_target(b"72d4aea8\n"), None);
        assert_eq!(loose_target(b""), None);
    }
}
