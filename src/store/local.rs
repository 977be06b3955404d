//! What is true only in this clone, kept in its own `.git/pm/` and never pushed: the clone's
//! random id, and for each session it launched, the absolute worktree path and host name.

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
        write_atomic(&self.session_path(id), &text)
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
