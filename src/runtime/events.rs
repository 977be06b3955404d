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
    /// A line the agent wrote on stderr, or a note of the supervisor (or of provisioning the
    /// worktree: files copied).
    Log { text: String },
    /// A line a worktree hook command wrote (stdout and stderr together); `hook` is `setup` or
    /// `teardown`.
    HookOutput {
        hook: String,
        command: String,
        text: String,
    },
    /// A worktree hook command ended, or was not run; `detail` says how (`exit status 1`, `not
    /// approved`).
    HookEnded {
        hook: String,
        command: String,
        outcome: HookOutcome,
        detail: String,
    },
}

/// How a worktree hook command went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOutcome {
    Succeeded,
    Failed,
    /// Not run: not approved, or hooks were skipped.
    Skipped,
}

impl HookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            HookOutcome::Succeeded => "succeeded",
            HookOutcome::Failed => "failed",
            HookOutcome::Skipped => "skipped",
        }
    }
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
            Body::HookOutput { .. } => "hook_output",
            Body::HookEnded { .. } => "hook_ended",
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
        let next = last_seq(&path)? + 1;
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

/// The sequence number of the last event of the log at `path` (0 when it has none), read from
/// the end of the file backwards: what listing a session costs does not grow with its log. As
/// for [`read_since`], a line that is not an event (one cut short by a crash) is skipped.
pub fn last_seq(path: &Path) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    const CHUNK: u64 = 8192;
    let failed =
        |e: std::io::Error| Error::failed(format!("could not read {}: {e}", path.display()));
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(failed(e)),
    };
    let seq = |line: &[u8]| serde_json::from_slice::<Event>(line).ok().map(|e| e.seq);
    let mut pos = file.metadata().map_err(failed)?.len();
    // The bytes from `pos` up to the first line end after it: the start of a line not yet whole.
    let mut carry: Vec<u8> = Vec::new();
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK);
        let mut buf = vec![0; (pos - start) as usize];
        file.seek(SeekFrom::Start(start)).map_err(failed)?;
        file.read_exact(&mut buf).map_err(failed)?;
        buf.extend_from_slice(&carry);
        pos = start;
        let mut rest = buf.as_slice();
        while let Some(at) = rest.iter().rposition(|&b| b == b'\n') {
            if let Some(seq) = seq(&rest[at + 1..]) {
                return Ok(seq);
            }
            rest = &rest[..at];
        }
        if pos == 0 {
            return Ok(seq(rest).unwrap_or(0));
        }
        carry = rest.to_vec();
    }
    Ok(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `last_seq` reads backwards in chunks: for logs whose lines end on, across and far from
    /// the chunk boundaries, with and without a last line cut short, it agrees with a reader
    /// of the whole log.
    #[test]
    fn last_seq_agrees_with_reading_the_whole_log() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (i, len) in [0, 1, 50, 4000, 8100, 8192, 9000, 20_000]
            .into_iter()
            .enumerate()
        {
            for cut in [None, Some(10), Some(30_000)] {
                let run = dir.path().join(format!("{i}-{cut:?}"));
                let mut log = Log::open(&run).expect("open a log");
                for n in 0..5 {
                    log.append(Body::Text {
                        text: "y".repeat(len * n / 3),
                    })
                    .expect("append");
                }
                let path = log_path(&run);
                if let Some(cut) = cut {
                    let mut file = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .expect("open the log");
                    let line = format!(
                        "{{\"seq\":6,\"kind\":\"text\",\"text\":\"{}",
                        "z".repeat(cut)
                    );
                    file.write_all(line.as_bytes()).expect("append a cut line");
                }
                let whole = read_since(&path, 0).expect("read the log");
                assert_eq!(whole.last().map(|e| e.seq), Some(5));
                assert_eq!(last_seq(&path).expect("last seq"), 5, "{len} {cut:?}");
                assert_eq!(Log::open(&run).expect("open again").next_seq(), 6);
            }
        }
        assert_eq!(last_seq(&dir.path().join("none")).expect("no log"), 0);
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").expect("an empty log");
        assert_eq!(last_seq(&empty).expect("an empty log"), 0);
    }
}
