//! `pm agent resume`.

use super::launch::print_launched;
use super::{Ctx, complete};
use crate::error::Result;
use crate::ops::sessions::{self, TakeOverRequest};
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Session id (full or unique prefix) or branch
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: String,
    /// Take over a session that is active in another clone
    #[arg(long)]
    force: bool,
    /// Remote to fetch the session's branch from when it is not here (default: configured)
    #[arg(add = ArgValueCompleter::new(complete::remotes), long, value_name = "REMOTE")]
    remote: Option<String>,
    /// Run no setup commands in a worktree made here (files are still copied)
    #[arg(long)]
    no_hooks: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: ResumeArgs) -> Result<()> {
    let request = TakeOverRequest {
        session: args.id,
        force: args.force,
        remote: args.remote,
    };
    ws.skip_hooks(args.no_hooks);
    let launched = sessions::take_over(ws, &request, ctx.mode())?;
    print_launched(ctx, &launched)
}
