//! `pm agent launch`.

use super::{Ctx, complete, print, print_json, warn_all};
use crate::api;
use crate::error::{Error, Result};
use crate::ops::runs::{self, StartRequest};
use crate::ops::sessions::{LaunchRequest, Launched};
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
    /// Agent name recorded with the session (default: the launcher's, else from configuration)
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// The prompt the agent is given (a launcher's prompt template takes it as {prompt})
    #[arg(long, value_name = "TEXT", default_value = "")]
    prompt: String,
    /// A role for the agent (free text; default: the launcher's)
    #[arg(long, value_name = "TEXT", default_value = "")]
    role: String,
    /// A launcher preset ([launchers.NAME] in your config or .pm.toml): agent, role, model,
    /// arguments, prompt template, allowed tools, runtime cap; the other flags override it
    #[arg(long, value_name = "NAME")]
    launcher: Option<String>,
    /// Launch even when another live session already works on the issue
    #[arg(long)]
    force: bool,
    /// Start the agent too, with the prompt as its first input
    #[arg(long)]
    run: bool,
    /// With --run: stop the agent after this many seconds
    #[arg(long, value_name = "SECS", requires = "run")]
    max_runtime: Option<u64>,
    /// With --run: instructions added to the ones pm builds from the issue
    #[arg(long, value_name = "TEXT", requires = "run")]
    system_prompt: Option<String>,
    /// With --run: pass this variable of pm's environment to the agent (repeatable; the name
    /// is kept, never the value)
    #[arg(long = "env", value_name = "NAME", requires = "run")]
    env: Vec<String>,
    /// With --run: a tool the agent may use without asking (repeatable; claude agents)
    #[arg(long = "tool", value_name = "TOOL", requires = "run")]
    tools: Vec<String>,
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
        actor: None,
    };
    let settings = StartRequest {
        max_runtime: args.max_runtime,
        launcher: args.launcher,
        system_prompt: args.system_prompt,
        env: args.env,
        tools: args.tools,
        ..StartRequest::default()
    };
    ws.skip_hooks(args.no_hooks);
    let mut launched = runs::launch(ws, request, settings, args.run, ctx.mode())?;
    // Asked to run, the command fails when the agent did not start (the session stays
    // launched, idle, and the run's log says why); the reason is the last warning.
    if args.run && !ctx.global.dry_run && launched.run.is_none() {
        let why = launched.warnings.pop().unwrap_or_default();
        warn_all(ctx, &launched.warnings);
        return Err(Error::failed(why));
    }
    if !ctx.global.dry_run {
        ctx.note(&format!("ref: refs/pm/sessions/{}", launched.session.id));
        ctx.note(&format!("branch: refs/heads/{}", launched.session.branch));
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
