//! `pm agent purge`.

use super::{Ctx, complete, print, print_json, warn_all};
use crate::api;
use crate::error::Result;
use crate::ops::sessions::{self, PurgeRequest};
use crate::render::clean_line;
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Session id (full or unique prefix, any case) or branch
    #[arg(add = ArgValueCompleter::new(complete::any_session))]
    id: String,
    /// Also delete the worktree and branch this clone created for the session
    #[arg(long)]
    delete_files: bool,
    /// Delete even a dirty worktree, a branch with unmerged commits, or an active session
    /// (also one active in another clone)
    #[arg(long)]
    force: bool,
    /// Run no teardown commands before the worktree is removed
    #[arg(long)]
    no_hooks: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: PurgeArgs) -> Result<()> {
    let request = PurgeRequest {
        session: args.id,
        delete_files: args.delete_files,
        force: args.force,
    };
    ws.skip_hooks(args.no_hooks);
    let purged = sessions::purge(ws, &request, ctx.mode())?;
    warn_all(ctx, &purged.warnings);
    if ctx.global.json {
        return print_json(&api::Purge::new(&purged, ctx.mode()));
    }
    let dry = ctx.global.dry_run;
    let mut out = format!(
        "{} session {}\n",
        if dry { "Would purge" } else { "Purged" },
        purged.session.id
    );
    if let Some(path) = &purged.removed_worktree {
        out.push_str(&format!(
            "  {} worktree {}\n",
            if dry { "would remove" } else { "removed" },
            path.display()
        ));
    }
    if let Some(branch) = &purged.deleted_branch {
        out.push_str(&format!(
            "  {} branch {}\n",
            if dry { "would delete" } else { "deleted" },
            clean_line(branch)
        ));
    }
    print(&out)
}
