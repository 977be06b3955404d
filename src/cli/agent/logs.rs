//! `pm agent logs`: what a session's agent did and does.

use super::{Ctx, complete, print, print_json, session_or_here};
use crate::api;
use crate::error::{Error, Result};
use crate::ops::runs;
use crate::render::{Style, clean_line, clean_text};
use crate::runtime::control;
use crate::runtime::events::{Body, Event};
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;
use std::io::BufRead;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::any_session))]
    id: Option<String>,
    /// Keep printing what the agent does until its run ends
    #[arg(long, short)]
    follow: bool,
    /// Only events after this sequence number
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    since: u64,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: LogsArgs) -> Result<()> {
    let named = session_or_here(ctx, ws, args.id)?;
    let (id, events, next) = runs::events(ws, &named, args.since)?;
    if ctx.global.json && !args.follow {
        return print_json(&api::RunEvents {
            id: &id,
            events: &events,
            next_seq: next,
        });
    }
    let mut out = Output::new(ctx);
    for event in &events {
        out.event(event)?;
    }
    if !args.follow {
        return out.end();
    }
    let Some(socket) = runs::follow_socket(ws, &id) else {
        return out.end();
    };
    let Ok(stream) = control::follow(&socket, next) else {
        return out.end();
    };
    for line in stream.lines() {
        let line = line.map_err(|e| Error::failed(format!("lost the agent's run: {e}")))?;
        if let Ok(event) = serde_json::from_str::<Event>(&line) {
            out.event(&event)?;
        }
    }
    out.end()
}

/// Events printed for people (or one JSON object a line with `--json --follow`).
pub(super) struct Output {
    style: Style,
    json: bool,
    /// The last text did not end a line.
    open_line: bool,
}

impl Output {
    fn new(ctx: &Ctx) -> Self {
        Output {
            style: ctx.style,
            json: ctx.global.json,
            open_line: false,
        }
    }

    /// Printed for people, in `style`.
    pub(super) fn plain(style: Style) -> Self {
        Output {
            style,
            json: false,
            open_line: false,
        }
    }

    pub(super) fn event(&mut self, event: &Event) -> Result<()> {
        if self.json {
            use std::io::Write;
            let line = serde_json::to_string(event)
                .map_err(|e| Error::failed(format!("cannot encode an event: {e}")))?;
            let mut escaped = crate::render::EscapeControls::new(Vec::new());
            let bytes = escaped
                .write_all(line.as_bytes())
                .and_then(|()| escaped.finish())
                .map_err(|e| Error::failed(format!("cannot encode an event: {e}")))?;
            return print(&format!("{}\n", String::from_utf8_lossy(&bytes)));
        }
        let text = render(event, &self.style);
        let Some(text) = text else { return Ok(()) };
        let mut out = String::new();
        let is_text = matches!(event.body, Body::Text { .. });
        if !is_text && self.open_line {
            out.push('\n');
        }
        out.push_str(&text);
        self.open_line = is_text && !text.ends_with('\n');
        print(&out)
    }

    pub(super) fn end(self) -> Result<()> {
        if self.open_line {
            print("\n")?;
        }
        Ok(())
    }
}

/// One event as people read it; `None` for events not worth a line.
fn render(event: &Event, style: &Style) -> Option<String> {
    let marker = |text: String| Some(format!("{}\n", style.dim(&format!("[{text}]"))));
    match &event.body {
        Body::Text { text } => Some(clean_text(text)),
        Body::Input { text } => Some(format!("{} {}\n", style.cyan(">"), clean_line(text))),
        Body::ToolCall { name, input } => Some(format!(
            "{} {} {}\n",
            style.yellow("tool"),
            clean_line(name),
            clean_line(&shorten(&input.to_string(), 120))
        )),
        Body::ToolResult { text, is_error } => Some(format!(
            "{} {}\n",
            style.dim(if *is_error { "error" } else { "result" }),
            clean_line(&shorten(text, 120))
        )),
        Body::Started {
            agent,
            pid,
            resumed,
            ..
        } => marker(match resumed {
            Some(thread) => format!(
                "started {} (pid {pid}), continuing {}",
                clean_line(agent),
                clean_line(thread)
            ),
            None => format!("started {} (pid {pid})", clean_line(agent)),
        }),
        Body::ProviderSession { .. } => None,
        Body::TurnFinished { is_error } => marker(if *is_error {
            "turn finished with an error".into()
        } else {
            "turn finished".into()
        }),
        Body::Aborted { why } => marker(format!("aborted: {}", clean_line(why))),
        Body::Exited { code, signal } => marker(match (code, signal) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("ended by signal {signal}"),
            (None, None) => "exited".into(),
        }),
        Body::Died { why } => marker(format!("died: {}", clean_line(why))),
        Body::Log { text } => Some(format!("{}\n", style.dim(&clean_line(text)))),
        Body::HookOutput { hook, text, .. } => Some(format!(
            "{} {}\n",
            style.dim(&format!("{}:", clean_line(hook))),
            clean_line(text)
        )),
        Body::HookEnded {
            hook,
            command,
            outcome,
            detail,
        } => {
            let what = match command.as_str() {
                "" => clean_line(hook),
                command => format!("{} {}", clean_line(hook), clean_line(command)),
            };
            marker(format!(
                "{what} {}: {}",
                outcome.as_str(),
                clean_line(detail)
            ))
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
