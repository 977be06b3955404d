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
    /// Stop the agent after this many seconds
    #[arg(long, value_name = "SECS")]
    max_runtime: Option<u64>,
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
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: RunArgs) -> Result<()> {
    let id = session_or_here(ctx, ws, args.id)?;
    let request = StartRequest {
        session: id,
        prompt: args.prompt,
        max_runtime: args.max_runtime,
    };
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
    let changed = sessions::reactivate(ws, &request, ctx.mode())?;
    warn_all(ctx, &changed.warnings);
    let run = runs::start(
        ws,
        &StartRequest {
            session: changed.after.id.clone(),
            prompt: args.prompt,
            max_runtime: None,
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
