//! What is true only in this clone, kept in its own `.git/pm/` and never pushed: the clone's
//! random id; for each session it launched, the absolute worktree path, the host name and the
//! branch it created (the only files and branches pm may ever delete are the ones noted here,
//! never what a synced record names); the journal of launches under way; and the mutex that
//! makes branch and worktree changes of one repository happen one at a time.

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// The exclusive hold on `.git/pm/worktrees.mutex`; released when dropped (or when the process
/// dies: the kernel drops the lock with the file descriptor, so a killed pm never blocks others).
#[derive(Debug)]
pub struct WorktreeMutex {
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
        write_atomic(&path, &format!("{id}\n"))?;
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
        write_atomic(&self.session_path(id), &text)
    }

    pub fn remove_session(&self, id: &str) -> Result<()> {
        remove_if_present(&self.session_path(id))
    }

    fn pending_dir(&self) -> PathBuf {
        self.dir.join("pending")
    }

    /// Note a launch of session `id` before anything is made for it.
    pub fn begin_launch(&self, id: &str, pending: &PendingLaunch) -> Result<()> {
        let text = toml::to_string(pending)
            .context(|| format!("could not encode the launch journal of session {id}"))?;
        write_atomic(&self.pending_dir().join(format!("{id}.toml")), &text)
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
                        "another pm process has been creating or removing worktrees for {}s                          (it holds {}); try again when it is done",
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

    /// The worktree mutex if nobody holds it now, else `None` (for work that can wait for a
    /// later run, such as recovering a launch that died).
    pub fn try_lock_worktrees(&self) -> Result<Option<WorktreeMutex>> {
        let path = self.mutex_path();
        let file = self.open_mutex(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(WorktreeMutex { _file: file })),
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
    fs_err::create_dir_all(parent).context(|| "could not create pm's local folder".into())?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::model::new_id()
    ));
    fs_err::write(&tmp, text).context(|| "could not write pm's local data".into())?;
    fs_err::rename(&tmp, path).context(|| "could not write pm's local data".into())
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
