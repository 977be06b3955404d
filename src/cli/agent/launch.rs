//! `pm agent launch`.

use super::{Ctx, complete, print, print_json, warn_all};
use crate::api;
use crate::error::Result;
use crate::ops::sessions::{self, LaunchRequest, Launched};
use crate::render::clean_line;
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Issue to work on (full id or unique prefix); the branch name derives from its title
    #[arg(add = ArgValueCompleter::new(complete::issues), long, short, value_name = "ID")]
    issue: Option<String>,
    /// Branch to work on (created if missing)
    #[arg(add = ArgValueCompleter::new(complete::branches), long, short)]
    branch: Option<String>,
    /// Where a new branch starts (default: the main worktree's HEAD)
    #[arg(add = ArgValueCompleter::new(complete::branches), long, value_name = "REV")]
    base: Option<String>,
    /// Agent name recorded with the session (default from configuration)
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// The prompt the agent was given
    #[arg(long, value_name = "TEXT", default_value = "")]
    prompt: String,
    /// A role for the agent (free text)
    #[arg(long, value_name = "TEXT", default_value = "")]
    role: String,
    /// Launch even when another live session already works on the issue
    #[arg(long)]
    force: bool,
    /// Start the agent too, with the prompt as its first input
    #[arg(long)]
    run: bool,
    /// With --run: stop the agent after this many seconds
    #[arg(long, value_name = "SECS", requires = "run")]
    max_runtime: Option<u64>,
    /// Run no setup commands in the new worktree (files are still copied)
    #[arg(long)]
    no_hooks: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: LaunchArgs) -> Result<()> {
    let request = LaunchRequest {
        issue: args.issue,
        branch: args.branch,
        base: args.base,
        agent: args.agent,
        prompt: args.prompt,
        role: args.role,
        force: args.force,
    };
    if args.run {
        crate::ops::runs::check_agent(ws, request.agent.as_deref())?;
    }
    ws.skip_hooks(args.no_hooks);
    let mut launched = sessions::launch(ws, request, ctx.mode())?;
    if !ctx.global.dry_run {
        ctx.note(&format!("ref: refs/pm/sessions/{}", launched.session.id));
        ctx.note(&format!("branch: refs/heads/{}", launched.session.branch));
    }
    if args.run && !ctx.global.dry_run {
        let run = crate::ops::runs::start(
            ws,
            &crate::ops::runs::StartRequest {
                session: launched.session.id.clone(),
                prompt: None,
                max_runtime: args.max_runtime,
            },
        )?;
        launched.run = Some(run);
    }
    print_launched(ctx, &launched)
}

/// What `launch` and `resume` print.
pub(super) fn print_launched(ctx: &Ctx, launched: &Launched) -> Result<()> {
    warn_all(ctx, &launched.warnings);
    if ctx.global.json {
        return print_json(&api::Launch::new(launched, ctx.mode()));
    }
    let s = &launched.session;
    let verb = match (ctx.global.dry_run, launched.resumed) {
        (true, false) => "Would launch",
        (true, true) => "Would resume",
        (false, false) => "Launched",
        (false, true) => "Resumed",
    };
    let mut out = format!("{verb} session {}\n", ctx.style.cyan(&s.id));
    out.push_str(&format!("  branch    {}\n", clean_line(&s.branch)));
    out.push_str(&format!("  worktree  {}\n", launched.worktree.display()));
    if let Some(issue) = &s.issue {
        out.push_str(&format!("  issue     {issue}\n"));
    }
    if let Some(run) = &launched.run {
        out.push_str(&format!(
            "  agent     {} running (pid {}); `pm agent logs {} --follow` shows what it does\n",
            clean_line(run.agent.as_deref().unwrap_or(&s.agent)),
            run.pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
            s.id
        ));
    }
    print(&out)
}
