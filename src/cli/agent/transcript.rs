//! `pm agent transcript`: the turns of a session's agent kept in git, from every clone that
//! ran it.

use super::{Ctx, SessionArg, print, print_json, session_or_here};
use crate::api;
use crate::error::Result;
use crate::model::transcript::{Entry, Outcome, Turn};
use crate::ops::runs;
use crate::render::{Style, clean_line, clean_text};
use crate::workspace::Workspace;

pub fn run(ctx: &Ctx, ws: &Workspace, args: SessionArg) -> Result<()> {
    let named = session_or_here(ctx, ws, args.id)?;
    let (id, turns) = runs::transcript(ws, &named)?;
    if ctx.global.json {
        return print_json(&api::Transcript {
            id: &id,
            turns: &turns,
        });
    }
    if turns.is_empty() {
        ctx.note(&format!("session {id} has no turns kept in git yet"));
        return Ok(());
    }
    let mut out = String::new();
    for (n, turn) in turns.iter().enumerate() {
        out.push_str(&render(n + 1, turn, &ctx.style));
    }
    print(&out)
}

/// One turn as people read it: a heading, then its entries.
fn render(number: usize, turn: &Turn, style: &Style) -> String {
    let outcome = match turn.outcome {
        Outcome::Finished => style.green(turn.outcome.as_str()),
        Outcome::Error | Outcome::Died => style.red(turn.outcome.as_str()),
        Outcome::Aborted | Outcome::Exited => style.yellow(turn.outcome.as_str()),
    };
    let mut out = format!(
        "{} {} · {} · {outcome}{}\n",
        style.bold(&format!("turn {number}")),
        turn.started,
        clean_line(&turn.agent),
        if turn.truncated { " · shortened" } else { "" },
    );
    let mut open_line = false;
    for entry in &turn.entries {
        if open_line && !matches!(entry, Entry::Text { .. }) {
            out.push('\n');
        }
        open_line = false;
        match entry {
            Entry::Input { text } => {
                out.push_str(&format!("{} {}\n", style.cyan(">"), clean_line(text)));
            }
            Entry::Text { text } => {
                let text = clean_text(text);
                open_line = !text.ends_with('\n');
                out.push_str(&text);
            }
            Entry::ToolCall { name, input } => out.push_str(&format!(
                "{} {} {}\n",
                style.yellow("tool"),
                clean_line(name),
                clean_line(input)
            )),
            Entry::ToolResult { text, is_error } => out.push_str(&format!(
                "{} {}\n",
                style.dim(if *is_error { "error" } else { "result" }),
                clean_line(text)
            )),
            Entry::Note { text } => {
                out.push_str(&format!(
                    "{}\n",
                    style.dim(&format!("[{}]", clean_line(text)))
                ));
            }
        }
    }
    if open_line {
        out.push('\n');
    }
    out.push('\n');
    out
}
