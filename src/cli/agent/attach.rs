//! `pm agent attach`: follow a running agent and talk to it from the terminal.

use super::{Ctx, complete, session_or_here};
use crate::error::{Error, Result};
use crate::ops::{runs, sessions};
use crate::runtime::control;
use crate::runtime::events::Event;
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;
use std::io::BufRead;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: Option<String>,
}

/// Print what the agent does (its whole log first) and send each line typed as input, until
/// the input ends (Ctrl-D) or pm is interrupted (Ctrl-C). Detaching leaves the agent running.
pub fn run(ctx: &Ctx, ws: &Workspace, args: AttachArgs) -> Result<()> {
    let named = session_or_here(ctx, ws, args.id)?;
    let id = sessions::resolve_session(ws, &named)?;
    let socket = runs::follow_socket(ws, &id).ok_or_else(|| {
        Error::invalid(format!(
            "the agent of session {id} is not running; `pm agent run {id}` starts it"
        ))
    })?;
    let stream = control::follow(&socket, 0)?;
    let style = ctx.style;
    let printer = std::thread::spawn(move || {
        let mut out = super::logs::Output::plain(style);
        for line in stream.lines().map_while(std::result::Result::ok) {
            if let Ok(event) = serde_json::from_str::<Event>(&line)
                && out.event(&event).is_err()
            {
                break;
            }
        }
        let _ = out.end();
    });
    eprintln!("pm: attached to session {id}; type to send, Ctrl-D detaches (the agent runs on)");
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::failed(format!("could not read stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = runs::send(ws, &id, &line) {
            eprintln!(
                "error: {}",
                crate::render::clean_line(&super::super::worded(&e))
            );
        }
        if printer.is_finished() {
            break;
        }
    }
    Ok(())
}
