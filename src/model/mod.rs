//! Pure data: issues, sessions, statuses, ids and clocks, and their TOML form. No I/O here.

pub mod id;
pub mod issue;
pub mod session;
pub mod time;
pub mod transcript;

pub use id::new_id;
pub use issue::{Issue, IssueStatus, IssueType, Priority};
pub use session::{Session, SessionStatus};
pub use time::Timestamp;

use serde::{Serialize, de::DeserializeOwned};

/// A field with a fixed set of values (statuses, priorities, types), named in records, on the
/// command line and in MCP arguments by the same words.
pub trait Choice: Copy + Sized + 'static {
    /// Every value, in the order they are listed to users.
    const ALL: &'static [Self];
    /// The value's name as stored (`in_progress`).
    fn as_str(self) -> &'static str;
    /// Other accepted spellings (`in-progress`).
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }
    /// The value named `text` (any case, or one of its aliases), if it is one.
    fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| {
            v.as_str().eq_ignore_ascii_case(text)
                || v.aliases().iter().any(|a| a.eq_ignore_ascii_case(text))
        })
    }
    /// The names of all values, for messages ("one of open, in_progress, …").
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

/// The schema version written into every record. Readers accept records of this version or
/// older; fields they do not know are kept verbatim on rewrite.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest record blob `pm` will read. Records come from other people's clones; a
/// bigger blob is reported as broken instead of being parsed.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Which family of records a ref belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Issue,
    Session,
}

impl RecordKind {
    pub const ALL: [RecordKind; 2] = [RecordKind::Issue, RecordKind::Session];

    /// The folder below `refs/pm/`: `issues`, `sessions`.
    pub fn plural(self) -> &'static str {
        match self {
            RecordKind::Issue => "issues",
            RecordKind::Session => "sessions",
        }
    }
    /// The ref namespace, e.g. `refs/pm/issues/`.
    pub fn ref_prefix(self) -> &'static str {
        match self {
            RecordKind::Issue => "refs/pm/issues/",
            RecordKind::Session => "refs/pm/sessions/",
        }
    }
    /// The single file in each record commit's tree.
    pub fn file_name(self) -> &'static str {
        match self {
            RecordKind::Issue => "issue.toml",
            RecordKind::Session => "session.toml",
        }
    }
    /// The word users see: "issue", "session".
    pub fn noun(self) -> &'static str {
        match self {
            RecordKind::Issue => "issue",
            RecordKind::Session => "session",
        }
    }
}

/// A record type that the store can persist.
pub trait Record: Serialize + DeserializeOwned + Clone + PartialEq + Send {
    const KIND: RecordKind;
    fn id(&self) -> &str;
    fn schema(&self) -> u32;
    /// Whether the values make sense beyond their types: what a record from another clone must
    /// pass before it is merged. The reason is a phrase such as `branch "x..y" is not valid`.
    fn check(&self) -> Result<(), String>;
    /// Whether the record has reached a state it rarely leaves (a finished session), so that
    /// listings of the others need not read it.
    fn settled(&self) -> bool {
        false
    }
    /// The word the record is counted under where records are counted without being read (the
    /// overview's counts): its status. The local cache keeps it beside the record.
    fn tally(&self) -> &'static str;
    /// A few of the record's fields as a JSON object, for listings of many records that need no
    /// more (shell completion). The local cache keeps it beside the record, so it is read
    /// without the record's whole text.
    fn summary(&self) -> String;
}
