//! `pm agent run`, `send`, `abort` and `restart`: the agent of a session, running.

use super::{Ctx, complete, print, print_json, session_or_here, warn_all};
use crate::api;
use crate::error::{Error, Result};
use crate::ops::runs::{self, RunView, StartRequest};
use crate::ops::sessions::{self, ReactivateRequest};
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: Option<String>,
    /// The input of the turn (default: the session's prompt, for its first run)
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,
    #[command(flatten)]
    options: RunOptions,
}

/// How to run the agent, beside its prompt.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Stop the agent after this many seconds
    #[arg(long, value_name = "SECS")]
    max_runtime: Option<u64>,
    /// A launcher preset ([launchers.NAME] in your config or .pm.toml): arguments, model,
    /// prompt template, allowed tools, runtime cap; the other flags override it
    #[arg(long, value_name = "NAME")]
    launcher: Option<String>,
    /// Instructions added to the ones pm builds from the issue
    #[arg(long, value_name = "TEXT")]
    system_prompt: Option<String>,
    /// Pass this variable of pm's environment to the agent (repeatable; the name is kept,
    /// never the value)
    #[arg(long = "env", value_name = "NAME")]
    env: Vec<String>,
    /// A tool the agent may use without asking (repeatable; claude agents)
    #[arg(long = "tool", value_name = "TOOL")]
    tools: Vec<String>,
}

impl RunOptions {
    fn request(self, session: String, prompt: Option<String>) -> StartRequest {
        StartRequest {
            session,
            prompt,
            max_runtime: self.max_runtime,
            launcher: self.launcher,
            system_prompt: self.system_prompt,
            env: self.env,
            tools: self.tools,
            ..StartRequest::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// [ID] TEXT: the session (default: the one whose worktree contains the current directory)
    /// and the text; `-` reads the text from stdin
    #[arg(num_args = 1..=2, required = true, value_names = ["ID", "TEXT"])]
    words: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Session id or branch
    #[arg(add = ArgValueCompleter::new(complete::finished_sessions))]
    id: String,
    /// The input of the new turn
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,
    /// Restart even when another live session already works on the issue
    #[arg(long)]
    force: bool,
    /// Run no setup commands if its worktree is made again (files are still copied)
    #[arg(long)]
    no_hooks: bool,
    #[command(flatten)]
    options: RunOptions,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: RunArgs) -> Result<()> {
    let id = session_or_here(ctx, ws, args.id)?;
    let request = args.options.request(id, args.prompt);
    let run = runs::start(ws, &request)?;
    report(
        ctx,
        &sessions::resolve_session(ws, &request.session)?,
        &run,
        "Started",
    )
}

pub fn send(ctx: &Ctx, ws: &Workspace, args: SendArgs) -> Result<()> {
    let (named, text) = match args.words.as_slice() {
        [text] => (None, text.clone()),
        [id, text] => (Some(id.clone()), text.clone()),
        _ => {
            return Err(Error::usage(
                "give the text to send, after an optional session",
            ));
        }
    };
    let text = if text == "-" { read_stdin()? } else { text };
    let id = session_or_here(ctx, ws, named)?;
    let sent = runs::send(ws, &id, &text)?;
    let id = sessions::resolve_session(ws, &id)?;
    if ctx.global.json {
        return print_json(&api::RunSent {
            id: &id,
            started: sent.started,
            run: &sent.run,
        });
    }
    let verb = if sent.started {
        "Started a new turn of"
    } else {
        "Sent to"
    };
    print(&format!(
        "{verb} the agent of session {}\n",
        ctx.style.cyan(&id)
    ))
}

pub fn abort(ctx: &Ctx, ws: &Workspace, args: AbortArgs) -> Result<()> {
    let id = session_or_here(ctx, ws, args.id)?;
    let run = runs::abort(ws, &id)?;
    let id = sessions::resolve_session(ws, &id)?;
    if ctx.global.json {
        return print_json(&api::RunReport { id: &id, run: &run });
    }
    let how = match (run.exit_code, run.exit_signal) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(signal)) => format!("it ended on signal {signal}"),
        (None, None) => "it ended".to_string(),
    };
    print(&format!(
        "Stopped the agent of session {} ({how}); the session is idle\n",
        ctx.style.cyan(&id)
    ))
}

pub fn restart(ctx: &Ctx, ws: &Workspace, args: RestartArgs) -> Result<()> {
    let request = ReactivateRequest {
        session: args.id.clone(),
        force: args.force,
    };
    ws.skip_hooks(args.no_hooks);
    let start = args.options.request(args.id.clone(), args.prompt);
    // A request that cannot run is refused before the session is brought back.
    runs::check_request_for(ws, &args.id, &start)?;
    let changed = sessions::reactivate(ws, &request, ctx.mode())?;
    warn_all(ctx, &changed.warnings);
    let run = runs::start(
        ws,
        &StartRequest {
            session: changed.after.id.clone(),
            ..start
        },
    )?;
    if ctx.global.json {
        // The document of MCP `restart`: the reactivation's, plus the run.
        return print_json(&api::Restarted {
            change: api::SessionChange::new(&changed, ctx.mode()),
            run: Some(&run),
        });
    }
    report(ctx, &changed.after.id, &run, "Restarted")
}

fn report(ctx: &Ctx, id: &str, run: &RunView, verb: &str) -> Result<()> {
    if ctx.global.json {
        return print_json(&api::RunReport { id, run });
    }
    let what = match (run.pid, &run.agent) {
        (Some(pid), Some(agent)) => format!("agent {agent} (pid {pid})"),
        _ => "agent".to_string(),
    };
    print(&format!(
        "{verb} the {what} of session {}; `pm agent logs {} --follow` shows what it does\n",
        ctx.style.cyan(id),
        id
    ))
}

fn read_stdin() -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Error::failed(format!("could not read stdin: {e}")))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}
