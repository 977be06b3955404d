//! Moving an existing record ref the way `git update-ref <ref> <new> <old>` does.
//!
//! gix's ref transaction also locks `packed-refs` whenever that file exists and reads it again
//! after the write, which made it most of the cost of `pm agent close`. git's own protocol needs
//! neither for an update: lock `<ref>.lock` (create-exclusive), check the current value (the
//! loose file, else `packed-refs`) against the expected one, write the new id into the lock and
//! rename it over the ref. Every git and gix writer takes the same lock, so the compare-and-swap
//! holds against all of them. Cases this does not cover (a reflog to append, a ref namespace)
//! are left to gix.

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
    /// Anything else (permissions, a full disk): retrying will not help.
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

/// A lock file, created exclusively (with its folder, if missing) and removed when dropped
/// unless it was renamed into place. Used for refs (`<ref>.lock`) and for pm's own cache.
pub(super) struct LockFile {
    path: Option<PathBuf>,
    file: std::fs::File,
}

impl LockFile {
    pub(super) fn create(lock: &Path) -> std::io::Result<LockFile> {
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(lock)
        };
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match lock.parent() {
                Some(parent) => std::fs::create_dir_all(parent).and_then(|()| open()),
                None => Err(e),
            },
            other => other,
        }?;
        Ok(LockFile {
            path: Some(lock.to_path_buf()),
            file,
        })
    }

    /// Write `bytes` into the lock and rename it to `target`.
    fn commit(mut self, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        if let Some(lock) = &self.path {
            std::fs::rename(lock, target)?;
        }
        self.path = None;
        Ok(())
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
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
    use super::loose_target;

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
