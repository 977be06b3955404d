//! The user's approvals of repository commands: `approvals.toml` beside the user's config
//! file. A `setup` or `teardown` command of a repository's `.pm.toml` runs only when this file
//! holds that repository (its main worktree, symbolic links resolved) with that exact command
//! text; a changed command is another text and needs approval again.
//!
//! Only the user writes here (`pm hooks approve`): nothing read from a repository or a record
//! ever adds an approval.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One approved command of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The main worktree of the repository, symbolic links resolved.
    pub repository: PathBuf,
    /// The command, exactly as `.pm.toml` gives it.
    pub command: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ApprovalFile {
    #[serde(default)]
    approved: Vec<Approval>,
}

/// The approvals the user gave, as read from their file.
#[derive(Debug, Default)]
pub struct Approvals {
    approved: Vec<Approval>,
}

/// `approvals.toml` beside the user's `config.toml`.
pub fn approvals_path() -> Option<PathBuf> {
    super::user_config_path().map(|config| config.with_file_name("approvals.toml"))
}

/// How a repository is named in the approvals: its main worktree, symbolic links resolved.
pub fn repository_key(main_workdir: &Path) -> PathBuf {
    main_workdir
        .canonicalize()
        .unwrap_or_else(|_| main_workdir.to_path_buf())
}

impl Approvals {
    /// Read the user's approvals; none when the file does not exist.
    pub fn load() -> Result<Approvals> {
        let Some(path) = approvals_path() else {
            return Ok(Approvals::default());
        };
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Approvals::default());
            }
            Err(e) => {
                return Err(Error::failed(format!(
                    "could not read {}: {e}",
                    path.display()
                )));
            }
        };
        let file: ApprovalFile = toml::from_str(&text).map_err(|e| {
            Error::failed(format!(
                "invalid approvals file {}: {}",
                path.display(),
                e.message()
            ))
        })?;
        Ok(Approvals {
            approved: file.approved,
        })
    }

    /// Whether the user approved `command` for the repository named `repository` (a
    /// [`repository_key`]).
    pub fn is_approved(&self, repository: &Path, command: &str) -> bool {
        self.approved
            .iter()
            .any(|a| a.repository == repository && a.command == command)
    }

    /// Approve `commands` for `repository` and write the file (atomically). Returns the commands
    /// that were not approved before.
    pub fn approve(&mut self, repository: &Path, commands: &[String]) -> Result<Vec<String>> {
        let mut added = Vec::new();
        for command in commands {
            if !self.is_approved(repository, command) && !added.contains(command) {
                added.push(command.clone());
            }
        }
        if added.is_empty() {
            return Ok(added);
        }
        let path = approvals_path()
            .ok_or_else(|| Error::failed("HOME is not set; approvals cannot be kept"))?;
        self.approved.extend(added.iter().map(|command| Approval {
            repository: repository.to_path_buf(),
            command: command.clone(),
        }));
        let body = toml::to_string(&ApprovalFile {
            approved: self.approved.clone(),
        })
        .map_err(|e| Error::failed(format!("cannot encode the approvals: {e}")))?;
        let text = format!(
            "# Commands of repositories' .pm.toml that pm may run (`pm hooks approve` adds them).\n\
             # Each holds for one repository and exactly this text; remove an entry to revoke it.\n\n{body}"
        );
        crate::store::local::write_atomic(&path, &text)?;
        Ok(added)
    }
}
