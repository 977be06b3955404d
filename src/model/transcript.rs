//! A turn's transcript as kept in git: what was asked, what the agent answered, which tools it
//! called and how the turn ended, condensed from the run's local events. One turn is one commit
//! of `refs/pm/runs/<session>`; the commit's tree holds the turn as `turn.json`.
//!
//! Transcripts travel between clones, so a fetched one is untrusted: it is checked
//! ([`Turn::check`]) before it is taken, and its text is sanitised wherever it is shown.

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};

/// The version written into every turn; readers take this one or older.
pub const VERSION: u32 = 1;

/// The file in each turn commit's tree.
pub const FILE_NAME: &str = "turn.json";

/// A turn is condensed until its file is at most this long.
pub const MAX_TURN_BYTES: usize = 64 * 1024;

/// A fetched turn file larger than this is refused (newer writers may keep more).
pub const MAX_READ_BYTES: usize = crate::model::MAX_RECORD_BYTES;

/// The most entries one turn may have.
const MAX_ENTRIES: usize = 10_000;

/// One entry's text is first cut to this many characters.
const ENTRY_CHARS: usize = 4000;

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent finished its reply.
    Finished,
    /// The agent finished with an error.
    Error,
    /// The run was stopped (on request, by a close or by the runtime cap).
    Aborted,
    /// The agent process ended in the middle of the turn.
    Exited,
    /// The supervisor was found gone.
    Died,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Finished => "finished",
            Outcome::Error => "error",
            Outcome::Aborted => "aborted",
            Outcome::Exited => "exited",
            Outcome::Died => "died",
        }
    }
}

/// One step of a turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The prompt of the turn, or input sent during it.
    Input {
        text: String,
    },
    /// The agent's text, its streamed pieces joined.
    Text {
        text: String,
    },
    /// A tool call, its input as compact JSON.
    ToolCall {
        name: String,
        input: String,
    },
    ToolResult {
        text: String,
        is_error: bool,
    },
    /// A lifecycle marker: aborted, exited, died.
    Note {
        text: String,
    },
}

impl Entry {
    pub(crate) fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Entry::Input { text } | Entry::Text { text } | Entry::Note { text } => vec![text],
            Entry::ToolCall { name, input } => vec![name, input],
            Entry::ToolResult { text, .. } => vec![text],
        }
    }
}

/// One turn of a session's agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub version: u32,
    pub session: String,
    pub agent: String,
    /// The provider's own thread id, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_session: Option<String>,
    pub started: Timestamp,
    pub ended: Timestamp,
    pub outcome: Outcome,
    pub entries: Vec<Entry>,
    /// Entries were shortened or left out to keep the turn small.
    #[serde(default)]
    pub truncated: bool,
}

/// `text` cut to `chars` characters, with a mark where it was cut.
fn cut(text: &mut String, chars: usize) -> bool {
    match text.char_indices().nth(chars) {
        Some((at, _)) => {
            text.truncate(at);
            text.push('…');
            true
        }
        None => false,
    }
}

impl Turn {
    /// The turn as its file holds it.
    pub fn encode(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Shorten long entries, then leave out the oldest ones, until the file is at most `limit`
    /// bytes long.
    pub fn fit(&mut self, limit: usize) {
        let mut chars = ENTRY_CHARS;
        while self.encode().len() > limit && chars >= 64 {
            for entry in &mut self.entries {
                for text in entry.texts_mut() {
                    self.truncated |= cut(text, chars);
                }
            }
            chars /= 2;
        }
        while self.encode().len() > limit && self.entries.len() > 1 {
            self.entries.remove(0);
            self.truncated = true;
        }
    }

    /// Read and check a turn file of session `session` (fetched from anywhere).
    pub fn parse(session: &str, bytes: &[u8]) -> Result<Turn, String> {
        if bytes.len() > MAX_READ_BYTES {
            return Err(format!(
                "a turn is {} bytes, more than the {MAX_READ_BYTES} allowed",
                bytes.len()
            ));
        }
        let turn: Turn =
            serde_json::from_slice(bytes).map_err(|e| format!("a turn cannot be read: {e}"))?;
        turn.check(session)?;
        Ok(turn)
    }

    fn check(&self, session: &str) -> Result<(), String> {
        if self.version == 0 || self.version > VERSION {
            return Err(format!(
                "a turn has version {}, not one this pm reads",
                self.version
            ));
        }
        if self.session != session {
            return Err(format!("a turn names session {:?}", self.session));
        }
        if self.entries.len() > MAX_ENTRIES {
            return Err(format!("a turn has more than {MAX_ENTRIES} entries"));
        }
        if self.ended < self.started {
            return Err("a turn ends before it starts".into());
        }
        Ok(())
    }
}
