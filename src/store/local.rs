//! What is true only in this clone, kept in its own `.git/pm/` and never pushed: the clone's
//! random id, and for each session it launched, the absolute worktree path and host name.
//!
//! Files here are written through a temporary file renamed into place. The temporary files
//! are made in `.git/pm/` itself (or, for the cache, in `.git/pm/index/`), so that the first
//! write of a later run finds in one short look those that a killed process left, and removes
//! them once they are old ([`STALE_TEMP_AGE`]).

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The local facts about one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalSession {
    /// Absolute path of the worktree this clone created for the session.
    pub worktree: PathBuf,
    /// Host the worktree lives on.
    #[serde(default)]
    pub host: String,
}

/// The clone's private `pm` folder: `<common git dir>/pm/`.
pub struct LocalData {
    dir: PathBuf,
}

impl LocalData {
    pub fn new(repo: &gix::Repository) -> Self {
        let common = repo.common_dir();
        let common = if common.is_absolute() {
            common.to_path_buf()
        } else {
            repo.current_dir().join(common)
        };
        LocalData {
            dir: common.join("pm"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This clone's id, if it has one yet.
    pub fn clone_id(&self) -> Option<String> {
        let text = fs_err::read_to_string(self.dir.join("clone-id")).ok()?;
        let id = text.trim().to_string();
        crate::model::id::is_canonical_id(&id).then_some(id)
    }

    /// This clone's id, created on first use.
    pub fn ensure_clone_id(&self) -> Result<String> {
        if let Some(id) = self.clone_id() {
            return Ok(id);
        }
        let id = crate::model::new_id();
        let path = self.dir.join("clone-id");
        self.write(&path, &format!("{id}\n"))?;
        self.clone_id()
            .ok_or_else(|| Error::failed(format!("could not read back {}", path.display())))
    }

    fn session_path(&self, id: &str) -> PathBuf {
        self.dir.join("sessions").join(format!("{id}.toml"))
    }

    pub fn session(&self, id: &str) -> Option<LocalSession> {
        let text = fs_err::read_to_string(self.session_path(id)).ok()?;
        toml::from_str(&text).ok()
    }

    pub fn save_session(&self, id: &str, local: &LocalSession) -> Result<()> {
        let text = toml::to_string(local)
            .context(|| format!("could not encode local data of session {id}"))?;
        self.write(&self.session_path(id), &text)
    }

    /// Write one of this folder's files atomically, its temporary file in the folder itself.
    fn write(&self, path: &Path, text: &str) -> Result<()> {
        sweep_once(&self.dir);
        write_atomic_via(&self.dir, path, text)
    }

    pub fn remove_session(&self, id: &str) -> Result<()> {
        match fs_err::remove_file(self.session_path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::failed(e.to_string())),
        }
    }
}

/// Write a file so that readers see the old or the new content, never a part.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::failed(format!("{} has no parent folder", path.display())))?;
    write_atomic_via(parent, path, text)
}

/// [`write_atomic`] with the temporary file in `temp_dir` (on the same file system).
fn write_atomic_via(temp_dir: &Path, path: &Path, text: &str) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::failed(format!("{} has no parent folder", path.display())))?;
    for folder in [temp_dir, parent] {
        std::fs::create_dir_all(folder).map_err(|e| {
            Error::failed(format!(
                "could not create the folder {}: {}",
                folder.display(),
                if crate::error::is_disk_full(&e) {
                    "disk full".to_string()
                } else {
                    e.to_string()
                }
            ))
        })?;
    }
    let tmp = temp_dir.join(temp_name(TEMP_PREFIX));
    // A failure names the file being written, not its temporary stand-in.
    let written = std::fs::write(&tmp, text)
        .map_err(|e| crate::error::write_failed(path, &e))
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| crate::error::write_failed(path, &e))
        });
    written.map_err(|reason| {
        let _ = std::fs::remove_file(&tmp);
        Error::failed(reason)
    })
}

/// How pm's local temporary files are named: [`TEMP_PREFIX`], then [`temp_name`]'s tail.
const TEMP_PREFIX: &str = ".tmp-";

/// The cache's temporary files (in `.git/pm/index/`).
pub const INDEX_TEMP_PREFIX: &str = ".tmp-index-";

/// How old one of pm's temporary files must be before a later run removes it. A write takes
/// milliseconds; a temporary file this old was left by a process killed in the middle of one.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(10 * 60);

/// A fresh name for a temporary file of this process: `<prefix><pid>-<ULID>`.
pub fn temp_name(prefix: &str) -> String {
    format!("{prefix}{}-{}", std::process::id(), crate::model::new_id())
}

/// Whether `name` is one that [`temp_name`] gives with `prefix`.
fn is_temp_name(name: &str, prefix: &str) -> bool {
    let Some((pid, id)) = name
        .strip_prefix(prefix)
        .and_then(|rest| rest.split_once('-'))
    else {
        return false;
    };
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && crate::model::id::is_canonical_id(id)
}

/// Remove the temporary files in `dir` that pm itself names (see [`temp_name`]) with one of
/// `prefixes` and that were last written longer than `age` ago. Best effort: a file that
/// cannot be removed stays, and no other file is ever touched.
pub fn sweep_temp_files(dir: &Path, prefixes: &[&str], age: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|prefix| is_temp_name(name, prefix)) {
            continue;
        }
        let old = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed > age);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Remove old temporary files that killed runs left in the clone's `pm` folder `dir` and in
/// its cache folder, once per process (at its first write there).
pub fn sweep_once(dir: &Path) {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::Relaxed) {
        sweep_temp_files(dir, &[TEMP_PREFIX], STALE_TEMP_AGE);
        sweep_temp_files(&dir.join("index"), &[INDEX_TEMP_PREFIX], STALE_TEMP_AGE);
    }
}

/// This machine's host name, best effort.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            fs_err::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let file = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        let when = std::time::SystemTime::now() - by;
        file.set_modified(when).expect("set the file time");
    }

    #[test]
    fn only_pm_s_own_temporary_names_are_recognised() {
        let fresh = temp_name(TEMP_PREFIX);
        assert!(is_temp_name(&fresh, TEMP_PREFIX), "{fresh}");
        assert!(is_temp_name(
            &temp_name(INDEX_TEMP_PREFIX),
            INDEX_TEMP_PREFIX
        ));
        assert!(!is_temp_name(&temp_name(INDEX_TEMP_PREFIX), TEMP_PREFIX));
        for other in [
            ".tmp-notes",
            ".tmp-12-notanid",
            ".tmp--01ARZ3NDEKTSV4RRFFQ69G5FAV",
            ".tmp-x1-01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "tmp_obj_AbC123",
            "clone-id",
        ] {
            assert!(!is_temp_name(other, TEMP_PREFIX), "{other}");
        }
    }

    #[test]
    fn the_sweep_removes_old_temporary_files_of_pm_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old_ours = dir.path().join(".tmp-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let young_ours = dir.path().join(temp_name(TEMP_PREFIX));
        let old_other = dir.path().join(".tmp-notes");
        let old_index = dir
            .path()
            .join(".tmp-index-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV");
        for path in [&old_ours, &young_ours, &old_other, &old_index] {
            std::fs::write(path, "x").expect("write");
        }
        let hour = Duration::from_secs(3600);
        for path in [&old_ours, &old_other, &old_index] {
            age(path, hour);
        }
        sweep_temp_files(dir.path(), &[TEMP_PREFIX], STALE_TEMP_AGE);
        assert!(!old_ours.exists());
        assert!(young_ours.exists(), "a write in progress is left alone");
        assert!(old_other.exists(), "not a name pm gives");
        assert!(old_index.exists(), "not a prefix that was asked for");
    }
}
