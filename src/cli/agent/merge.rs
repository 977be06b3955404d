//! `pm agent merge`: land a session's work on its base branch.

use super::{Ctx, complete, print, print_json, session_or_here, warn_all};
use crate::error::Result;
use crate::ops::sessions::{self, MergeRequest, Strategy};
use crate::render::clean_line;
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::any_session))]
    id: Option<String>,
    /// One new commit on the base with the branch's changes
    #[arg(long, conflicts_with = "rebase")]
    squash: bool,
    /// Replay the branch's commits on the base, then fast-forward it
    #[arg(long)]
    rebase: bool,
    /// The branch to merge into (default: the session's base branch)
    #[arg(long, value_name = "BRANCH")]
    into: Option<String>,
    /// Keep the worktree and the branch
    #[arg(long)]
    keep: bool,
    /// Push the base branch afterwards (to REMOTE, default: the configured remote)
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "",
          add = ArgValueCompleter::new(complete::remotes))]
    push: Option<String>,
    /// Run no teardown commands before the worktree is removed
    #[arg(long)]
    no_hooks: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: MergeArgs) -> Result<()> {
    let session = session_or_here(ctx, ws, args.id)?;
    let push = match args.push {
        Some(remote) if remote.is_empty() => Some(ws.remote_or_default(None)?),
        other => other,
    };
    let request = MergeRequest {
        session,
        strategy: if args.squash {
            Strategy::Squash
        } else if args.rebase {
            Strategy::Rebase
        } else {
            Strategy::Merge
        },
        into: args.into,
        keep: args.keep,
        push,
    };
    ws.skip_hooks(args.no_hooks);
    let merged = sessions::merge(ws, &request, ctx.mode())?;
    warn_all(ctx, &merged.warnings);
    if ctx.global.json {
        return print_json(&merged);
    }
    let dry = merged.dry_run;
    let (branch, into) = (clean_line(&merged.branch), clean_line(&merged.into));
    let short = |oid: &str| oid.chars().take(10).collect::<String>();
    let how = match merged.how {
        "up_to_date" => format!("{into} already has everything of {branch}"),
        "fast_forward" => format!("fast-forward {into} to {branch}"),
        "merge" => format!("merge commit of {branch} on {into}"),
        "squash" => format!("squash of {branch} on {into}"),
        _ => format!("{branch} rebased on {into}"),
    };
    let mut out = format!(
        "{} {how} ({} commit(s); {into} {} -> {})\n",
        if dry { "Would merge:" } else { "Merged:" },
        merged.commits,
        short(&merged.before),
        short(&merged.after),
    );
    if merged.completed {
        out.push_str(&format!(
            "  session {} {}\n",
            merged.id,
            if dry {
                "would be completed"
            } else {
                "completed"
            }
        ));
    }
    if let Some(path) = &merged.removed_worktree {
        out.push_str(&format!(
            "  {} worktree {}\n",
            if dry { "would remove" } else { "removed" },
            path.display()
        ));
    }
    if let Some(name) = &merged.deleted_branch {
        out.push_str(&format!(
            "  {} branch {}\n",
            if dry { "would delete" } else { "deleted" },
            clean_line(name)
        ));
    }
    if let Some(remote) = &merged.pushed {
        out.push_str(&format!(
            "  {} {into} to {}\n",
            if dry { "would push" } else { "pushed" },
            clean_line(remote)
        ));
    }
    print(&out)
}
