//! Writing files so that a reader sees the old content or the new, never a part: through a
//! temporary file renamed into place ([`write_atomic`]), or through a lock file that is the
//! temporary file ([`LockFile`], as git writes refs). Nothing here knows about git or records.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` through the temporary file `temp` (in a folder on the same file
/// system, which must exist), renamed into place; the temporary file is removed on failure.
/// The error is one line naming `path` (not its temporary stand-in) and why.
pub fn write_atomic(temp: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let written = std::fs::write(temp, bytes).and_then(|()| std::fs::rename(temp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(temp);
        crate::error::write_failed(path, &e)
    })
}

/// A lock file, created exclusively (with its folder, if missing) and removed when dropped
/// unless it was renamed into place. Used for refs (`<ref>.lock`) and for pm's own cache.
pub struct LockFile {
    path: Option<PathBuf>,
    file: std::fs::File,
}

impl LockFile {
    pub fn create(lock: &Path) -> std::io::Result<LockFile> {
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
    pub fn commit(mut self, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
