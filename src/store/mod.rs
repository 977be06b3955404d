//! Git-native persistence of records.
//!
//! Each record lives at its own ref, `refs/pm/<kind>s/<ULID>`, which points at a commit whose
//! tree holds exactly one TOML file. Every change is one new commit on top of the previous tip,
//! so the ref's history is the record's event log, readable with plain git.
//!
//! Writes are compare-and-swap: create with "the ref must not exist", update with "the ref must
//! still point at the tip I read". On a conflict the change is re-applied to the fresh state and
//! retried a bounded number of times with jitter, so no update is ever lost, whether the other
//! writer is another `pm` process or `git update-ref`.
//!
//! This module never prints and never decides policy; it only stores what it is given.
//!
//! By concern: `read` (one record, checked), `list` (every record of a kind through the cache),
//! `ids` (ids from ref file names, prefixes), `history` (a record's commits), `write` (create
//! and update with compare-and-swap and retry), `integrate` (records fetched from a remote),
//! `index` (the disposable cache), `local` (this clone's own data), `loose_object` (the
//! objects of a record, written uncompressed).

pub mod archive;
mod history;
mod ids;
mod index;
mod integrate;
mod list;
pub mod local;
mod loose_object;
mod read;
pub mod transcript;
mod write;

use crate::error::Result;
use crate::model::{Record, RecordKind, SCHEMA_VERSION};
use gix::ObjectId;

pub use crate::git::identity::identity;
pub use crate::git::open::open_repository;
pub use history::Event;
pub use index::{Brief, Cached, Scope, Tally};
pub use integrate::Integrated;
pub use list::{Briefs, Texts};
pub use write::encode;

/// The record store of one repository (shared by all of its worktrees).
pub struct Store {
    repo: gix::Repository,
    /// Whether the local cache may be written (not in a dry run, which writes nothing at all).
    cache_writes: bool,
    /// The records of archive commits read so far (commits never change).
    archive_memo: archive::Memo,
    /// Whether a record was created or changed through this store (for `[sync] auto`).
    wrote: std::cell::Cell<bool>,
}

/// A record together with the commit it was read from.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub record: T,
    pub tip: ObjectId,
}

/// A record ref that could not be read. It is reported, never silently skipped.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Broken {
    pub id: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub message: String,
}

/// All records of one kind: the readable ones and the broken ones.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub records: Vec<Stored<T>>,
    pub broken: Vec<Broken>,
}

/// What an update did.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    /// A new commit was written (or, in a dry run, would have been).
    Changed {
        before: T,
        after: Stored<T>,
        message: String,
    },
    /// The change left the record as it was; nothing was written.
    Unchanged(Stored<T>),
}

/// Whether a write really happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    DryRun,
}

impl Store {
    /// Open the store of the repository that contains `dir` (any subdirectory, any worktree).
    pub fn open(dir: &std::path::Path) -> Result<Self> {
        Ok(Store {
            repo: open_repository(dir)?,
            cache_writes: true,
            archive_memo: Default::default(),
            wrote: Default::default(),
        })
    }

    /// Make this store write nothing at all, not even its local cache.
    pub fn without_cache_writes(mut self) -> Self {
        self.cache_writes = false;
        self
    }

    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    fn ref_name(kind: RecordKind, id: &str) -> String {
        format!("{}{id}", kind.ref_prefix())
    }

    fn index_dir(&self) -> std::path::PathBuf {
        local::LocalData::new(&self.repo).dir().join("index")
    }

    /// Before this process first writes: remove the temporary files that killed runs left in
    /// the clone's `pm` folder.
    fn sweep_temp_files(&self) {
        local::sweep_once(local::LocalData::new(&self.repo).dir());
    }
}

/// Parse and check a record file's text.
fn parse_record<T: Record>(id: &str, text: &str) -> Result<T, String> {
    let file = T::KIND.file_name();
    let record: T = toml::from_str(text)
        .map_err(|e| format!("{file} is not a valid record: {}", toml_reason(&e)))?;
    if record.id() != id {
        return Err(format!(
            "its id field {:?} disagrees with the ref name",
            record.id()
        ));
    }
    if record.schema() > SCHEMA_VERSION {
        return Err(format!(
            "it has schema version {}, newer than this pm understands ({SCHEMA_VERSION}); upgrade pm",
            record.schema()
        ));
    }
    Ok(record)
}

fn toml_reason(err: &toml::de::Error) -> String {
    let message = err.message().trim().to_string();
    match err.span() {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message,
    }
}
