//! What is true only in this clone, kept in its own `.git/pm/` and never pushed: the clone's
//! random id; for each session it launched, the absolute worktree path, the host name and the
//! branch it created (the only files and branches pm may ever delete are the ones noted here,
//! never what a synced record names); the journal of launches under way; and the mutex that
//! makes branch and worktree changes of one repository happen one at a time.
//!
//! Files here are written through a temporary file renamed into place. The temporary files
//! are made in `.git/pm/` itself (or, for the cache, in `.git/pm/index/`), so that the first
//! write of a later run finds in one short look those that a killed process left, and removes
//! them once they are old ([`STALE_TEMP_AGE`]).

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
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
    /// The branch this clone created for the session, if it did (a launch on an existing
    /// branch creates none). Only this branch may ever be deleted with the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_branch: Option<String>,
    /// The worktree was made outside pm and adopted (`pm agent discover --adopt`): pm uses it
    /// but never removes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

/// A launch under way: written before the first branch or folder is made and removed once the
/// session's record and local note exist. One left behind means the launch died part-way; the
/// next run that holds the worktree mutex finishes it (the record exists) or undoes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLaunch {
    /// The worktree folder the launch creates (it was missing or empty before).
    pub worktree: PathBuf,
    /// The branch checked out there.
    pub branch: String,
    /// Whether the launch creates the branch; then it starts at `base`.
    pub creates_branch: bool,
    /// The commit a created branch starts at (hex).
    pub base: String,
    #[serde(default)]
    pub host: String,
}

/// Above this many lookups of session notes, their folder is listed first.
const MANY_LOOKUPS: usize = 64;

/// Lookups of this clone's session notes (see [`LocalData::notes`]).
pub struct Notes<'a> {
    local: &'a LocalData,
    /// The sessions that have a note, when the folder was listed.
    listed: Option<HashSet<String>>,
}

impl Notes<'_> {
    /// The note of session `id`, if this clone has one.
    pub fn session(&self, id: &str) -> Option<LocalSession> {
        if self.listed.as_ref().is_some_and(|ids| !ids.contains(id)) {
            return None;
        }
        self.local.session(id)
    }
}

/// The exclusive hold on `.git/pm/worktrees.mutex`; released when dropped (or when the process
/// dies: the kernel drops the lock with the file descriptor, so a killed pm never blocks others).
#[derive(Debug)]
pub struct WorktreeMutex {
    _file: std::fs::File,
}

/// The exclusive hold on `.git/pm/sync.mutex`: one `pm sync` at a time in a clone. Released
/// when dropped or when the process dies, like [`WorktreeMutex`].
#[derive(Debug)]
pub struct SyncMutex {
    _file: std::fs::File,
}

/// An exclusive hold on a file of pm's local folder ([`LocalData::try_hold`]).
#[derive(Debug)]
pub struct Hold {
    _file: std::fs::File,
}

/// How long a command waits for another pm that creates or removes worktrees.
const MUTEX_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

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

    /// This clone's notes of sessions, for `lookups` lookups to come: with many, the folder is
    /// listed once and only the notes it holds are read, instead of trying to open one for
    /// every session (most sessions of a long history have none, or belong to other clones).
    pub fn notes(&self, lookups: usize) -> Notes<'_> {
        let listed = (lookups > MANY_LOOKUPS)
            .then(|| self.session_ids().into_iter().collect::<HashSet<String>>());
        Notes {
            local: self,
            listed,
        }
    }

    /// The ids of the sessions this clone keeps local facts about.
    pub fn session_ids(&self) -> Vec<String> {
        let Ok(entries) = fs_err::read_dir(self.dir.join("sessions")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let id = name.strip_suffix(".toml")?;
                crate::model::id::is_canonical_id(id).then(|| id.to_string())
            })
            .collect()
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
        remove_if_present(&self.session_path(id))
    }

    /// Where the session made for a client's request key is noted (`requests/<hash>`).
    fn request_path(&self, key: &str) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        self.dir
            .join("requests")
            .join(format!("{:016x}", hasher.finish()))
    }

    /// The session made for request key `key` (an idempotency key), if one was.
    pub fn request_session(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.request_path(key)).ok()?;
        // The key itself is the first line: another key with the same hash is not this one.
        let (stored, id) = text.split_once('\n')?;
        (stored == key).then(|| id.trim().to_string())
    }

    /// Note that request key `key` made session `id`.
    pub fn remember_request(&self, key: &str, id: &str) -> Result<()> {
        write_atomic(&self.request_path(key), &format!("{key}\n{id}\n"))
    }

    fn pending_dir(&self) -> PathBuf {
        self.dir.join("pending")
    }

    /// Note a launch of session `id` before anything is made for it.
    pub fn begin_launch(&self, id: &str, pending: &PendingLaunch) -> Result<()> {
        let text = toml::to_string(pending)
            .context(|| format!("could not encode the launch journal of session {id}"))?;
        self.write(&self.pending_dir().join(format!("{id}.toml")), &text)
    }

    /// The launch of session `id` is complete (or fully undone).
    pub fn end_launch(&self, id: &str) -> Result<()> {
        remove_if_present(&self.pending_dir().join(format!("{id}.toml")))
    }

    /// Launches that were begun and never ended, by session id. Unreadable journal files are
    /// returned as `Err` with their path, so the caller can report them.
    pub fn pending_launches(&self) -> Vec<(String, std::result::Result<PendingLaunch, String>)> {
        let Ok(entries) = std::fs::read_dir(self.pending_dir()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".toml") else {
                continue;
            };
            if !crate::model::id::is_canonical_id(id) {
                continue;
            }
            let parsed = fs_err::read_to_string(entry.path())
                .map_err(|e| e.to_string())
                .and_then(|text| toml::from_str(&text).map_err(|e| e.message().to_string()))
                .map_err(|why| format!("{}: {why}", entry.path().display()));
            out.push((id.to_string(), parsed));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn mutex_path(&self) -> PathBuf {
        self.dir.join("worktrees.mutex")
    }

    /// Hold the repository's worktree mutex: every pm command that creates or removes a
    /// branch or worktree for a session holds it from its checks to its last write, so two
    /// launches of one branch cannot both pass the check "the branch does not exist yet".
    /// Waits for another holder, at most a few minutes.
    pub fn lock_worktrees(&self) -> Result<WorktreeMutex> {
        let path = self.mutex_path();
        let file = self.open_mutex(&path)?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WorktreeMutex { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < MUTEX_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::failed(format!(
                        "another pm process has been creating or removing worktrees for {}s (it holds {}); \
                         try again when it is done",
                        MUTEX_WAIT.as_secs(),
                        path.display()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::failed(format!(
                        "could not lock {}: {e}",
                        path.display()
                    )));
                }
            }
        }
    }

    /// Hold the clone's sync mutex: syncs of one clone fetch into the same tracking refs and
    /// pack folder, so they run one after the other. Waits as long as the other sync takes
    /// (an interrupt still ends the wait: the lock is the kernel's); `waiting` is called once
    /// first when another holds it.
    pub fn lock_sync(&self, waiting: impl FnOnce()) -> Result<SyncMutex> {
        let path = self.dir.join("sync.mutex");
        let file = self.open_mutex(&path)?;
        let failed =
            |e: std::io::Error| Error::failed(format!("could not lock {}: {e}", path.display()));
        match file.try_lock() {
            Ok(()) => return Ok(SyncMutex { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
        }
        waiting();
        file.lock().map_err(failed)?;
        Ok(SyncMutex { _file: file })
    }

    /// The worktree mutex if nobody holds it now, else `None` (for work that can wait for a
    /// later run, such as recovering a launch that died).
    pub fn try_lock_worktrees(&self) -> Result<Option<WorktreeMutex>> {
        Ok(self
            .try_lock_file(&self.mutex_path())?
            .map(|file| WorktreeMutex { _file: file }))
    }

    /// An exclusive hold on the file `name` of this folder if nobody holds it now, else
    /// `None`. Released when dropped or when the process dies.
    pub fn try_hold(&self, name: &str) -> Result<Option<Hold>> {
        Ok(self
            .try_lock_file(&self.dir.join(name))?
            .map(|file| Hold { _file: file }))
    }

    /// The file at `path`, locked, if nobody holds it now.
    fn try_lock_file(&self, path: &Path) -> Result<Option<std::fs::File>> {
        let file = self.open_mutex(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::failed(format!(
                "could not lock {}: {e}",
                path.display()
            ))),
        }
    }

    fn open_mutex(&self, path: &Path) -> Result<std::fs::File> {
        fs_err::create_dir_all(&self.dir)
            .context(|| "could not create pm's local folder".into())?;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::failed(format!("could not open {}: {e}", path.display())))
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::failed(e.to_string())),
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
    crate::fsutil::write_atomic(&tmp, path, text.as_bytes()).map_err(Error::failed)
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
