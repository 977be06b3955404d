//! `pm agent reactivate`.

use super::{Ctx, complete, report_change};
use crate::error::Result;
use crate::ops::sessions::{self, ReactivateRequest};
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct ReactivateArgs {
    /// Session id (full or unique prefix) or branch
    #[arg(add = ArgValueCompleter::new(complete::finished_sessions))]
    id: String,
    /// Reactivate even when another live session already works on the issue
    #[arg(long)]
    force: bool,
    /// Run no setup commands if its worktree is made again (files are still copied)
    #[arg(long)]
    no_hooks: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: ReactivateArgs) -> Result<()> {
    let request = ReactivateRequest {
        session: args.id,
        force: args.force,
    };
    ws.skip_hooks(args.no_hooks);
    report_change(ctx, &sessions::reactivate(ws, &request, ctx.mode())?)
}
