//! `pm agent close`.

use super::{Ctx, complete, report_change, session_or_here};
use crate::error::Result;
use crate::lifecycle::SessionEvent;
use crate::ops::sessions::{self, CloseRequest};
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: Option<String>,
    /// The work is finished: the session is completed and its issue done
    #[arg(long, conflicts_with = "abandon")]
    done: bool,
    /// Give up: the session is abandoned and its issue open again (unless other live sessions
    /// work on it)
    #[arg(long)]
    abandon: bool,
    /// Close a session that is active in another clone
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: CloseArgs) -> Result<()> {
    let event = match (args.done, args.abandon) {
        (true, _) => SessionEvent::Complete,
        (_, true) => SessionEvent::Abandon,
        _ => SessionEvent::Close,
    };
    let request = CloseRequest {
        session: session_or_here(ctx, ws, args.id)?,
        event,
        force: args.force,
    };
    report_change(ctx, &sessions::close(ws, &request, ctx.mode())?)
}
