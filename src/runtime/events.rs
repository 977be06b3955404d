//! The local event log of a session's runs: `events.jsonl`, one JSON object a line, each with a
//! sequence number that only grows. The supervisor appends while it runs (and sends each event
//! to the clients that follow it); a later pm appends only when no supervisor is alive (a
//! "died" marker), so there is one writer at a time.

use crate::error::{Error, Result};
use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time: Timestamp,
    #[serde(flatten)]
    pub body: Body,
}

/// What happened. Text is the agent's own; front ends sanitise it before showing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// The agent process started (a new turn of a finished one, when `resumed`).
    Started {
        agent: String,
        provider: String,
        pid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed: Option<String>,
    },
    /// The provider named its own session (thread) id, which a later turn continues.
    ProviderSession { id: String },
    /// Text the agent wrote (a streamed piece of its reply, or a line of a command).
    Text { text: String },
    /// The agent called a tool.
    ToolCall {
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    /// A tool's answer, shortened.
    ToolResult { text: String, is_error: bool },
    /// Input sent to the agent (the prompt of a turn, or a follow-up).
    Input { text: String },
    /// The agent finished a turn and waits for input (or exits, for one-turn agents).
    TurnFinished { is_error: bool },
    /// The run was stopped: by a request, or by the runtime cap.
    Aborted { why: String },
    /// The agent process ended.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The supervisor was found gone without having said how the agent ended.
    Died { why: String },
    /// A line the agent wrote on stderr, or a note of the supervisor.
    Log { text: String },
}

impl Body {
    /// The name of the kind, as in the JSON (`text`, `tool_call`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Started { .. } => "started",
            Body::ProviderSession { .. } => "provider_session",
            Body::Text { .. } => "text",
            Body::ToolCall { .. } => "tool_call",
            Body::ToolResult { .. } => "tool_result",
            Body::Input { .. } => "input",
            Body::TurnFinished { .. } => "turn_finished",
            Body::Aborted { .. } => "aborted",
            Body::Exited { .. } => "exited",
            Body::Died { .. } => "died",
            Body::Log { .. } => "log",
        }
    }
}

/// The log file of a run folder.
pub fn log_path(run_dir: &Path) -> PathBuf {
    run_dir.join("events.jsonl")
}

/// Appends events with the next sequence numbers.
pub struct Log {
    file: std::fs::File,
    next: u64,
}

impl Log {
    /// Open the log in `run_dir` for appending, after the events already there.
    pub fn open(run_dir: &Path) -> Result<Log> {
        std::fs::create_dir_all(run_dir)
            .map_err(|e| Error::failed(format!("could not create {}: {e}", run_dir.display())))?;
        let path = log_path(run_dir);
        let next = read_since(&path, 0)?.last().map_or(1, |e| e.seq + 1);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::failed(format!("could not open {}: {e}", path.display())))?;
        Ok(Log { file, next })
    }

    /// Append `body` now; returns the event and its line as written.
    pub fn append(&mut self, body: Body) -> Result<(Event, String)> {
        let event = Event {
            seq: self.next,
            time: Timestamp::now(),
            body,
        };
        let mut line = serde_json::to_string(&event)
            .map_err(|e| Error::failed(format!("cannot encode an event: {e}")))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::failed(format!("could not write the event log: {e}")))?;
        self.next += 1;
        Ok((event, line))
    }

    /// The sequence number the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }
}

/// The events of the log at `path` with a sequence number above `since`, oldest first. A
/// missing log has none; a line cut short by a crash (the last one) is skipped.
pub fn read_since(path: &Path, since: u64) -> Result<Vec<Event>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::failed(format!(
                "could not read {}: {e}",
                path.display()
            )));
        }
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line =
            line.map_err(|e| Error::failed(format!("could not read {}: {e}", path.display())))?;
        if let Ok(event) = serde_json::from_str::<Event>(&line)
            && event.seq > since
        {
            out.push(event);
        }
    }
    Ok(out)
}
