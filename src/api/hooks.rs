//! The documents of `pm hooks` and `pm hooks approve`.

use crate::ops::hooks::{Approved, CopyPattern, HookCommand, HookList};
use crate::store::Mode;
use serde::Serialize;
use std::path::Path;

/// The repository's worktree hooks.
#[derive(Debug, Serialize)]
pub struct Hooks<'a> {
    pub repository: &'a Path,
    pub copy: &'a [CopyPattern],
    pub commands: &'a [HookCommand],
}

impl<'a> Hooks<'a> {
    pub fn new(list: &'a HookList) -> Self {
        Hooks {
            repository: &list.repository,
            copy: &list.copy,
            commands: &list.commands,
        }
    }
}

/// What `hooks approve` approved (in a dry run: would approve).
#[derive(Debug, Serialize)]
pub struct HooksApproved<'a> {
    pub dry_run: bool,
    pub repository: &'a Path,
    pub approved: &'a [String],
    pub already_approved: &'a [String],
}

impl<'a> HooksApproved<'a> {
    pub fn new(approved: &'a Approved, mode: Mode) -> Self {
        HooksApproved {
            dry_run: mode == Mode::DryRun,
            repository: &approved.repository,
            approved: &approved.approved,
            already_approved: &approved.already,
        }
    }
}
