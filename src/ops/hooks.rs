//! The repository's worktree hooks as the user sees them (`pm hooks`): what a new worktree
//! gets copied, which commands run after it is made and before it is removed, where each comes
//! from and whether it may run; and approving the repository's commands (`pm hooks approve`).
//! Running them is `ops::provision`'s.

use crate::config::approvals::{Approvals, repository_key};
use crate::error::Result;
use crate::ops::provision::Source;
use crate::store::Mode;
use crate::workspace::Workspace;
use serde::Serialize;
use std::path::PathBuf;

/// Whether a command may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// The user's own command: it needs no approval.
    NotNeeded,
    /// The repository's command, approved by the user for this repository as it reads now.
    Approved,
    /// The repository's command, not approved (new, or changed since it was approved).
    NotApproved,
}

/// One hook command.
#[derive(Debug, Clone, Serialize)]
pub struct HookCommand {
    /// `setup` or `teardown`.
    pub hook: &'static str,
    pub command: String,
    pub source: Source,
    pub approval: Approval,
}

/// One pattern of what is copied.
#[derive(Debug, Clone, Serialize)]
pub struct CopyPattern {
    pub pattern: String,
    /// `user`, `repository` (`.pm.toml`) or `worktreeinclude` (the main worktree's
    /// `.worktreeinclude`).
    pub source: &'static str,
}

/// The worktree hooks of the repository.
#[derive(Debug, Clone)]
pub struct HookList {
    /// The repository as approvals name it: its main worktree, symbolic links resolved.
    pub repository: PathBuf,
    pub copy: Vec<CopyPattern>,
    pub commands: Vec<HookCommand>,
}

/// What `approve` did.
#[derive(Debug, Clone)]
pub struct Approved {
    pub repository: PathBuf,
    /// The commands approved now (in a dry run: that would be).
    pub approved: Vec<String>,
    /// The repository's commands that were approved before.
    pub already: Vec<String>,
}

/// The repository's worktree hooks and whether each command may run.
pub fn list(ws: &Workspace) -> Result<HookList> {
    let config = ws.config()?;
    let main = ws.main_workdir()?;
    let repository = repository_key(main);
    let approvals = Approvals::load()?;
    let mut copy: Vec<CopyPattern> = Vec::new();
    for (source, hooks) in [
        ("user", &config.worktree.user),
        ("repository", &config.worktree.repository),
    ] {
        copy.extend(hooks.copy.iter().map(|pattern| CopyPattern {
            pattern: pattern.clone(),
            source,
        }));
    }
    let include = main.join(".worktreeinclude");
    if std::fs::symlink_metadata(&include).is_ok_and(|m| m.is_file()) {
        let text = fs_err::read(&include).unwrap_or_default();
        copy.extend(
            String::from_utf8_lossy(&text)
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(|line| CopyPattern {
                    pattern: line.to_string(),
                    source: "worktreeinclude",
                }),
        );
    }
    let mut commands = Vec::new();
    for (hook, user, repo) in [
        (
            "setup",
            &config.worktree.user.setup,
            &config.worktree.repository.setup,
        ),
        (
            "teardown",
            &config.worktree.user.teardown,
            &config.worktree.repository.teardown,
        ),
    ] {
        commands.extend(user.iter().map(|command| HookCommand {
            hook,
            command: command.clone(),
            source: Source::User,
            approval: Approval::NotNeeded,
        }));
        commands.extend(repo.iter().map(|command| HookCommand {
            hook,
            command: command.clone(),
            source: Source::Repository,
            approval: if approvals.is_approved(&repository, command) {
                Approval::Approved
            } else {
                Approval::NotApproved
            },
        }));
    }
    Ok(HookList {
        repository,
        copy,
        commands,
    })
}

/// Approve the repository's hook commands as they read now, for this repository.
pub fn approve(ws: &Workspace, mode: Mode) -> Result<Approved> {
    let listed = list(ws)?;
    let mut approved = Vec::new();
    let mut already = Vec::new();
    for command in listed.commands {
        let list = match command.approval {
            Approval::NotNeeded => continue,
            Approval::Approved => &mut already,
            Approval::NotApproved => &mut approved,
        };
        if !list.contains(&command.command) {
            list.push(command.command);
        }
    }
    if mode == Mode::Write && !approved.is_empty() {
        Approvals::load()?.approve(&listed.repository, &approved)?;
    }
    Ok(Approved {
        repository: listed.repository,
        approved,
        already,
    })
}
