//! `pm agent discover`: worktrees made without pm, and adopting them.

use super::{Ctx, print, print_json};
use crate::error::Result;
use crate::ops::sessions::{self, Found};
use crate::render::clean_line;
use crate::workspace::Workspace;
use clap::Args;

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Record an idle session for each worktree found on a branch (a later `launch --branch`
    /// resumes it; pm never removes an adopted worktree)
    #[arg(long)]
    adopt: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: DiscoverArgs) -> Result<()> {
    let found = sessions::discover(ws, args.adopt, ctx.mode())?;
    if ctx.global.json {
        #[derive(serde::Serialize)]
        struct Discovered<'a> {
            worktrees: &'a [Found],
            adopt: bool,
            dry_run: bool,
        }
        return print_json(&Discovered {
            worktrees: &found,
            adopt: args.adopt,
            dry_run: ctx.global.dry_run,
        });
    }
    if found.is_empty() {
        ctx.note("every worktree of the repository belongs to a session");
        return Ok(());
    }
    let mut out = String::new();
    for f in &found {
        let branch = f
            .branch
            .as_deref()
            .map_or_else(|| "(detached)".to_string(), clean_line);
        let state = match (&f.session, &f.skipped) {
            (Some(id), _) => format!("adopted as session {id}"),
            (None, Some(why)) => format!("not adopted: {}", clean_line(why)),
            (None, None) if args.adopt => "would be adopted".to_string(),
            (None, None) => "no session".to_string(),
        };
        out.push_str(&format!("{}\t{branch}\t{state}\n", f.path.display()));
    }
    print(&out)
}
