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

mod index;
mod integrate;
pub mod local;
mod loose_object;

use crate::error::{Context, Error, Result};
use crate::model::id::{is_canonical_id, normalize_prefix};
use crate::model::{MAX_RECORD_BYTES, Record, RecordKind, SCHEMA_VERSION, Timestamp};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use crate::git::identity::identity;
use crate::git::loose_ref::{self, RefError};
pub use crate::git::open::open_repository;
pub use index::{Brief, Cached, Scope, Tally};
pub use integrate::Integrated;

/// How many times an update is re-applied after losing a race before giving up.
const MAX_ATTEMPTS: u32 = 200;

/// How long a ref's lock may stay taken, over the attempts of one update, before the update
/// gives up. A write holds it for well under a millisecond; a lock held longer was most likely
/// left by a crashed process, and waiting on will not free it.
const LOCK_PATIENCE: Duration = Duration::from_secs(1);

/// Whether a ref name below a kind's prefix has the shape of an id (checked in full when the
/// record is read): cheap enough for a listing of many thousands of names.
fn could_be_id(name: &str) -> bool {
    name.len() == 26 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The record store of one repository (shared by all of its worktrees).
pub struct Store {
    repo: gix::Repository,
    /// Whether the local cache may be written (not in a dry run, which writes nothing at all).
    cache_writes: bool,
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

/// The records of one kind as the local cache holds them, checked against the refs (see
/// [`Store::texts`]).
pub struct Texts {
    index: index::Index,
    scope: Scope,
    /// The records that could not be read.
    pub broken: Vec<Broken>,
}

impl Texts {
    /// Every readable record in the scope asked for, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = Cached<'_>> {
        self.index.records(self.scope)
    }

    /// How many readable records there are of each tally word, settled ones included; `None`
    /// when the settled ones cannot be counted without reading them (ask again with
    /// [`Scope::All`], which always can).
    pub fn tally(&self) -> Option<Tally> {
        self.index.tally()
    }
}

/// The records of one kind as the local cache holds them, without their texts (see
/// [`Store::briefs`]).
pub struct Briefs {
    index: index::Index,
    scope: Scope,
    /// The records that could not be read.
    pub broken: Vec<Broken>,
}

impl Briefs {
    /// Every readable record in the scope asked for, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = Brief<'_>> {
        self.index.briefs(self.scope)
    }

    /// The same records in descending order of id: newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = Brief<'_>> {
        self.index.briefs_descending(self.scope)
    }

    /// As [`Texts::tally`].
    pub fn tally(&self) -> Option<Tally> {
        self.index.tally()
    }
}

/// What of the settled records a listing reads.
#[derive(Clone, Copy)]
enum Load {
    /// Their texts as well.
    Texts,
    /// Their tally words and summaries only.
    Briefs,
}

/// One commit in a record's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    pub commit: String,
    pub time: Timestamp,
    pub author: String,
    pub email: String,
    pub message: String,
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

    /// The ids of all records of `kind`, sorted: the names of the loose ref files and of the
    /// `packed-refs` lines under the kind's prefix, with no ref read or parsed, so that it stays
    /// cheap with many thousands of records. Names that cannot be ids (`*.lock`) are left out.
    pub fn ids(&self, kind: RecordKind) -> Result<Vec<String>> {
        let mut ids = self.loose_ids(kind)?;
        if let Some(packed) = self.packed_buffer()? {
            ids.extend(
                packed_ids(packed_bytes(&packed), kind)
                    .into_iter()
                    .map(str::to_string),
            );
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Each of `shown` with the ids of the records of `kind` just before and just after it in
    /// sorted order (and every id of a loose ref): enough to tell the shortest unique prefix of
    /// each shown id ([`crate::render::IdPrefixes`]) without a copy of every id. Unsorted.
    pub fn ids_near(&self, kind: RecordKind, shown: &[&str]) -> Result<Vec<String>> {
        let mut near = self.loose_ids(kind)?;
        near.extend(shown.iter().map(|id| id.to_string()));
        if let Some(packed) = self.packed_buffer()? {
            let mut names = packed_ids(packed_bytes(&packed), kind);
            // git writes packed-refs sorted.
            if !names.is_sorted() {
                names.sort_unstable();
            }
            for id in shown {
                let at = names.partition_point(|name| name < id);
                let around = [at.checked_sub(1), Some(at), at.checked_add(1)];
                near.extend(
                    around
                        .into_iter()
                        .flatten()
                        .filter_map(|i| names.get(i))
                        .map(|name| name.to_string()),
                );
            }
        }
        Ok(near)
    }

    /// The names of the loose ref files of `kind` that could be ids.
    fn loose_ids(&self, kind: RecordKind) -> Result<Vec<String>> {
        let dir = self
            .repo
            .common_dir()
            .join(kind.ref_prefix().trim_end_matches('/'));
        let mut ids = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.context(|| format!("could not list {}", dir.display()))?;
                    if let Some(name) = entry.file_name().to_str()
                        && could_be_id(name)
                    {
                        ids.push(name.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::failed(format!(
                    "could not list {}: {e}",
                    dir.display()
                )));
            }
        }
        Ok(ids)
    }

    fn packed_buffer(&self) -> Result<Option<gix::refs::file::packed::SharedBufferSnapshot>> {
        self.repo
            .refs
            .cached_packed_buffer()
            .context(|| "could not read packed-refs".into())
    }

    /// Turn a full id or unique prefix (any case) into the full id of an existing record.
    pub fn resolve(&self, kind: RecordKind, text: &str) -> Result<String> {
        let noun = kind.noun();
        let Some(prefix) = normalize_prefix(text) else {
            return Err(Error::usage(format!("{text:?} is not a valid {noun} id")));
        };
        // A full id names one ref: look it up instead of listing every record.
        if is_canonical_id(&prefix) {
            let name = Self::ref_name(kind, &prefix);
            if self
                .repo
                .try_find_reference(name.as_str())
                .context(|| format!("could not read {name}"))?
                .is_some()
            {
                return Ok(prefix);
            }
        }
        let ids = self.ids(kind)?;
        let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(&prefix)).collect();
        match matches.as_slice() {
            [] => Err(Error::not_found(format!("no {noun} with id {prefix}"))),
            [one] => Ok((*one).clone()),
            many => {
                if let Some(exact) = many.iter().find(|id| ***id == prefix) {
                    return Ok((*exact).clone());
                }
                let shown: Vec<&str> = many.iter().take(10).map(|s| s.as_str()).collect();
                let more = if many.len() > 10 {
                    format!(" and {} more", many.len() - 10)
                } else {
                    String::new()
                };
                Err(Error::not_found(format!(
                    "{noun} id {prefix} is ambiguous; it matches {}{more}",
                    shown.join(", ")
                )))
            }
        }
    }

    /// Read one record by its full id.
    pub fn read<T: Record>(&self, id: &str) -> Result<Stored<T>> {
        let kind = T::KIND;
        let name = Self::ref_name(kind, id);
        let reference = self
            .repo
            .try_find_reference(name.as_str())
            .context(|| format!("could not read {name}"))?
            .ok_or_else(|| Error::not_found(format!("no {} with id {id}", kind.noun())))?;
        let tip = reference.target().try_id().map(ToOwned::to_owned);
        self.load(id, &name, tip).map_err(|reason| {
            Error::failed(format!("{} {id} cannot be read: {reason}", kind.noun()))
        })
    }

    /// Read every record of a kind. Broken records are collected, never fatal.
    ///
    /// Parsed records are cached in `.git/pm/index/` (as JSON, which reads several times faster
    /// than TOML), keyed by the tip just read from the ref, so only records that changed since
    /// the last listing are read from the object database and parsed as TOML.
    pub fn list<T: Record>(&self) -> Result<Listing<T>> {
        self.list_as::<T, T>()
    }

    /// [`list`](Self::list), with each record read as `V`: a lighter view of `T` that is read
    /// from `T`'s JSON form and names only the fields it needs (the others are skipped, which
    /// is much faster than building whole records; shell completion uses it).
    pub fn list_as<T: Record, V: serde::de::DeserializeOwned + Send>(&self) -> Result<Listing<V>> {
        self.list_where::<T, V>(Scope::All, |_| true)
    }

    /// [`list_as`](Self::list_as), skipping unread every record whose JSON form fails `keep`:
    /// a cheap text test that must pass every record wanted (it may pass others too, which the
    /// caller filters out after reading). With [`Scope::Live`], settled records (finished
    /// sessions) may be left out as well. Records come in order of id.
    pub fn list_where<T: Record, V: serde::de::DeserializeOwned + Send>(
        &self,
        scope: Scope,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Listing<V>> {
        // In order of id, whatever the cache's state: the same records list the same way.
        let parse = |texts: &Texts| {
            let mut kept: Vec<Cached<'_>> = texts.records().filter(|r| keep(r.text)).collect();
            kept.sort_by(|a, b| a.id.cmp(b.id));
            parse_cached::<V>(kept.iter().map(|r| (r.tip, r.text)).collect())
        };
        let texts = self.texts::<T>(scope)?;
        if let Some(records) = parse(&texts) {
            return Ok(Listing {
                records,
                broken: texts.broken,
            });
        }
        // A cached text cannot be read as `V`: the cache is damaged. Read again every record
        // whose cached text cannot.
        let check = |text: &str| !keep(text) || serde_json::from_str::<V>(text).is_ok();
        let texts = self.texts_checked::<T>(scope, &check)?;
        let records = parse(&texts).ok_or_else(|| {
            Error::failed(format!(
                "the local cache of {} cannot be read",
                T::KIND.plural()
            ))
        })?;
        Ok(Listing {
            records,
            broken: texts.broken,
        })
    }

    /// The records of kind `T` as the local cache holds them (their JSON text, tally word and
    /// summary), checked against the refs: the same records a listing returns, for callers
    /// that read many of them without building each one whole. With [`Scope::Live`], settled
    /// records may be left out.
    pub fn texts<T: Record>(&self, scope: Scope) -> Result<Texts> {
        let (index, broken) = self.refresh::<T>(scope, Load::Texts, None)?;
        Ok(Texts {
            index,
            scope,
            broken,
        })
    }

    /// [`texts`](Self::texts) without the texts: each record's tally word and summary, which the
    /// cache keeps apart from the texts, so that what needs no more (completion) reads a small
    /// part of the cache.
    pub fn briefs<T: Record>(&self, scope: Scope) -> Result<Briefs> {
        let (index, broken) = self.refresh::<T>(scope, Load::Briefs, None)?;
        Ok(Briefs {
            index,
            scope,
            broken,
        })
    }

    /// [`texts`](Self::texts), with every ref read and every record whose cached text fails
    /// `check` read again from the object database (one that fails it then is broken): for a
    /// caller that found a cached text it cannot read.
    pub fn texts_checked<T: Record>(
        &self,
        scope: Scope,
        check: &dyn Fn(&str) -> bool,
    ) -> Result<Texts> {
        let (index, broken) = self.refresh::<T>(scope, Load::Texts, Some(check))?;
        Ok(Texts {
            index,
            scope,
            broken,
        })
    }

    /// Bring the cache of `T` up to date with the refs, and write it. Without `check`, when the
    /// cache's record of the ref files shows that at most some loose refs changed, only those
    /// are read (and the records whose tip moved); otherwise every ref is read.
    fn refresh<T: Record>(
        &self,
        scope: Scope,
        load: Load,
        check: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<(index::Index, Vec<Broken>)> {
        let load_settled = |index: &mut index::Index| match load {
            Load::Texts => index.load_settled(),
            Load::Briefs => index.load_settled_lines(),
        };
        let kind = T::KIND;
        let prefix = kind.ref_prefix();
        let common_dir = self.repo.common_dir();
        // Taken before the refs are read: a change made while they are read makes the next
        // run see other files and read the refs again.
        let files = index::ref_files(common_dir, prefix);
        let mut index = index::Index::load(&self.index_dir(), kind.plural());
        if check.is_none()
            && let Some(files) = &files
            && let Some((state, changed)) = index.changes(files, common_dir, prefix)
            && (scope == Scope::Live || load_settled(&mut index))
            && changed.iter().all(|(id, tip)| {
                index.has(id, *tip)
                    || self
                        .read_fresh::<T>(id, *tip)
                        .map(|fresh| index.put(id, *tip, fresh))
                        .is_ok()
            })
        {
            self.save_index(&mut index, Some(state));
            return Ok((index, Vec::new()));
        }
        // Read every ref, and every record whose tip the cache does not hold.
        load_settled(&mut index);
        let refs = crate::git::refs::under(&self.repo, prefix)?;
        let mut broken = Vec::new();
        for (id, tip) in &refs {
            let id = id.as_str();
            // The cache holds the JSON of records that passed every check when they were read.
            let cached = tip.is_some_and(|tip| match check {
                None => index.has(id, tip),
                Some(check) => index.get(id, tip).is_some_and(check),
            });
            if cached {
                continue;
            }
            let read = tip
                .ok_or_else(|| format!("{prefix}{id} is a symbolic ref"))
                .and_then(|tip| {
                    let fresh = self.read_fresh::<T>(id, tip)?;
                    if check.is_some_and(|check| !check(&fresh.text)) {
                        return Err("it cannot be read back from its JSON form".to_string());
                    }
                    index.put(id, tip, fresh);
                    Ok(())
                });
            if let Err(message) = read {
                index.forget(id);
                broken.push(Broken {
                    id: id.to_string(),
                    ref_name: Self::ref_name(kind, id),
                    message,
                });
            }
        }
        let present: Vec<&str> = refs.iter().map(|(id, _)| id.as_str()).collect();
        index.retain(&present);
        let tips: HashMap<&str, ObjectId> = refs
            .iter()
            .filter_map(|(id, tip)| Some((id.as_str(), (*tip)?)))
            .collect();
        // Complete only when every ref is a readable record, all of them in the cache.
        let state = files
            .filter(|_| broken.is_empty())
            .map(|files| index::RefState::from_listing(&files, |name| tips.get(name).copied()));
        self.save_index(&mut index, state);
        Ok((index, broken))
    }

    /// A small value worked out from the refs under `prefixes` (a line of text), kept in the
    /// local cache as `name` and used again while those ref files are the same files (see
    /// [`index::memo`]); `None` when `work_out` has no answer.
    pub fn memo(
        &self,
        name: &str,
        prefixes: &[&str],
        work_out: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        let path = self.index_dir().join(name);
        index::memo(
            &path,
            self.repo.common_dir(),
            prefixes,
            self.cache_writes,
            work_out,
        )
    }

    fn save_index(&self, index: &mut index::Index, state: Option<index::RefState>) {
        if self.cache_writes {
            self.sweep_temp_files();
            index.save(state);
        }
    }

    /// Record `id` at `tip` as the cache keeps it. The error is a reason without the record's
    /// name.
    fn read_fresh<T: Record>(&self, id: &str, tip: ObjectId) -> Result<index::Fresh, String> {
        let name = Self::ref_name(T::KIND, id);
        let (_, text) = self.load_text::<T>(id, &name, Some(tip))?;
        let record = parse_record::<T>(id, &text)?;
        let json = serde_json::to_string(&record)
            .map_err(|e| format!("it cannot be represented as JSON: {e}"))?;
        Ok(index::Fresh {
            text: json,
            settled: record.settled(),
            tally: record.tally().to_string(),
            summary: record.summary(),
        })
    }

    fn index_dir(&self) -> std::path::PathBuf {
        local::LocalData::new(&self.repo).dir().join("index")
    }

    /// Before this process first writes: remove the temporary files that killed runs left in
    /// the clone's `pm` folder.
    fn sweep_temp_files(&self) {
        local::sweep_once(local::LocalData::new(&self.repo).dir());
    }

    /// Load and check the record at `tip`. The error is a reason without the record's name.
    fn load<T: Record>(
        &self,
        id: &str,
        name: &str,
        tip: Option<ObjectId>,
    ) -> Result<Stored<T>, String> {
        let (tip, text) = self.load_text::<T>(id, name, tip)?;
        Ok(Stored {
            record: parse_record(id, &text)?,
            tip,
        })
    }

    /// Read the record file at `tip`, checking every step of the way.
    fn load_text<T: Record>(
        &self,
        id: &str,
        name: &str,
        tip: Option<ObjectId>,
    ) -> Result<(ObjectId, String), String> {
        let kind = T::KIND;
        if !is_canonical_id(id) {
            return Err(format!("{name} is not named by a valid id"));
        }
        let tip = tip.ok_or_else(|| format!("{name} is a symbolic ref"))?;
        let object = self
            .repo
            .find_object(tip)
            .map_err(|e| format!("{name} points at a missing object: {e}"))?;
        if object.kind != gix::object::Kind::Commit {
            return Err(format!("{name} points at a {}, not a commit", object.kind));
        }
        let commit = object.into_commit();
        let tree = commit
            .tree()
            .map_err(|e| format!("its commit {tip} has no readable tree: {e}"))?;
        let file = kind.file_name();
        let entry = tree
            .find_entry(file)
            .ok_or_else(|| format!("its commit {tip} has no {file}"))?;
        let blob = entry
            .object()
            .map_err(|e| format!("{file} cannot be read: {e}"))?;
        if blob.kind != gix::object::Kind::Blob {
            return Err(format!("{file} is a {}, not a file", blob.kind));
        }
        if blob.data.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "{file} is larger than {} KiB",
                MAX_RECORD_BYTES / 1024
            ));
        }
        let text =
            std::str::from_utf8(&blob.data).map_err(|_| format!("{file} is not UTF-8 text"))?;
        Ok((tip, text.to_string()))
    }

    /// Create a new record; fails if a record with its id already exists.
    pub fn create<T: Record>(
        &self,
        record: &T,
        message: &str,
        now: Timestamp,
    ) -> Result<Stored<T>> {
        let name = Self::ref_name(T::KIND, record.id());
        let text = encode(record)?;
        self.sweep_temp_files();
        let tip = self.write_commit(record.id(), T::KIND, &text, message, None, now)?;
        self.set_ref(&name, tip, PreviousValue::MustNotExist, message)
            .map_err(|e| Error::failed(format!("could not create {name}: {e}")))?;
        self.maintain_if_needed();
        Ok(Stored {
            record: record.clone(),
            tip,
        })
    }

    fn maintain_if_needed(&self) {
        crate::git::command::maintain_if_needed(&self.repo);
    }

    /// Apply `change` to the current state of record `id` and store the result as one commit.
    ///
    /// `change` returns the event message, or `None` when there is nothing to do. If another
    /// writer moved the ref in the meantime, `change` runs again on the new state (so it must
    /// re-check its intent there and may fail). In [`Mode::DryRun`] nothing at all is written.
    pub fn update<T: Record>(
        &self,
        id: &str,
        mode: Mode,
        now: Timestamp,
        mut change: impl FnMut(&mut T) -> Result<Option<String>>,
    ) -> Result<Outcome<T>> {
        let name = Self::ref_name(T::KIND, id);
        let mut last_error = String::new();
        // When the ref's lock was first found taken by the same lock file (another writer's
        // lock is a new file: busy writers one after another are not one stale lock).
        let mut locked_since: Option<(Instant, Option<LockIdentity>)> = None;
        let lock_path = self.repo.common_dir().join(format!("{name}.lock"));
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.read::<T>(id)?;
            let mut next = current.record.clone();
            let Some(message) = change(&mut next)? else {
                return Ok(Outcome::Unchanged(current));
            };
            if next == current.record {
                return Ok(Outcome::Unchanged(current));
            }
            // Refused before anything is written, and in a dry run as well.
            let text = encode(&next)?;
            if mode == Mode::DryRun {
                let after = Stored {
                    record: next,
                    tip: current.tip,
                };
                return Ok(Outcome::Changed {
                    before: current.record,
                    after,
                    message,
                });
            }
            self.sweep_temp_files();
            let tip = self.write_commit(id, T::KIND, &text, &message, Some(current.tip), now)?;
            match self.set_ref(
                &name,
                tip,
                PreviousValue::MustExistAndMatch(Target::Object(current.tip)),
                &message,
            ) {
                Ok(()) => {
                    self.maintain_if_needed();
                    let after = Stored { record: next, tip };
                    return Ok(Outcome::Changed {
                        before: current.record,
                        after,
                        message,
                    });
                }
                // Not a race: no retry can cure it.
                Err(RefError::Failed(e)) => {
                    return Err(Error::failed(format!("could not update {name}: {e}")));
                }
                Err(RefError::Locked(e)) => {
                    let holder = lock_identity(&lock_path);
                    let since = match locked_since {
                        Some((since, seen)) if seen == holder => since,
                        _ => Instant::now(),
                    };
                    locked_since = Some((since, holder));
                    if since.elapsed() > LOCK_PATIENCE {
                        return Err(Error::failed(e));
                    }
                    last_error = e;
                    std::thread::sleep(backoff(attempt));
                }
                Err(RefError::Moved(e)) => {
                    locked_since = None;
                    last_error = e;
                    std::thread::sleep(backoff(attempt));
                }
            }
        }
        Err(Error::failed(format!(
            "could not update {name}: it kept changing while being written ({MAX_ATTEMPTS} attempts; last: {last_error})"
        )))
    }

    /// The commits of one record, newest first.
    pub fn history(&self, kind: RecordKind, id: &str) -> Result<Vec<Event>> {
        let name = Self::ref_name(kind, id);
        let reference = self
            .repo
            .try_find_reference(name.as_str())
            .context(|| format!("could not read {name}"))?
            .ok_or_else(|| Error::not_found(format!("no {} with id {id}", kind.noun())))?;
        let tip = reference
            .target()
            .try_id()
            .map(ToOwned::to_owned)
            .ok_or_else(|| Error::failed(format!("{name} is a symbolic ref")))?;
        let walk = self
            .repo
            .rev_walk([tip])
            .all()
            .context(|| format!("could not walk the history of {name}"))?;
        let mut events = Vec::new();
        for info in walk {
            let info = info.context(|| format!("could not walk the history of {name}"))?;
            let commit = info
                .object()
                .context(|| format!("could not read commit {} of {name}", info.id))?;
            let author = commit
                .author()
                .context(|| format!("commit {} of {name} has no author", info.id))?;
            let time = commit.time().map(|t| t.seconds).unwrap_or(0);
            let message = commit.message_raw_sloppy().to_str_lossy();
            events.push(Event {
                commit: info.id.to_string(),
                time: Timestamp(time),
                author: author.name.to_str_lossy().into_owned(),
                email: author.email.to_str_lossy().into_owned(),
                message: message.lines().next().unwrap_or("").to_string(),
            });
        }
        events.sort_by_key(|e| std::cmp::Reverse(e.time));
        Ok(events)
    }

    /// Write blob, tree and commit for the record file `text` (from [`encode`]) of record `id`;
    /// no ref is touched.
    fn write_commit(
        &self,
        id: &str,
        kind: RecordKind,
        text: &str,
        message: &str,
        parent: Option<ObjectId>,
        now: Timestamp,
    ) -> Result<ObjectId> {
        let tree = self.write_tree(kind, id, text)?;
        let commit = gix::objs::Commit {
            tree,
            parents: parent.into_iter().collect(),
            author: self.signature(now, Role::Author)?,
            committer: self.signature(now, Role::Committer)?,
            encoding: None,
            message: format!("{message}\n").into(),
            extra_headers: Vec::new(),
        };
        self.write_object(kind, id, &commit)
    }

    /// Write the blob and the one-file tree of a record's text.
    fn write_tree(&self, kind: RecordKind, id: &str, text: &str) -> Result<ObjectId> {
        let blob = self.write_raw(kind, id, gix::objs::Kind::Blob, text.as_bytes())?;
        let tree = gix::objs::Tree {
            entries: vec![gix::objs::tree::Entry {
                mode: gix::objs::tree::EntryKind::Blob.into(),
                filename: kind.file_name().into(),
                oid: blob,
            }],
        };
        self.write_object(kind, id, &tree)
    }

    fn write_object(
        &self,
        kind: RecordKind,
        id: &str,
        object: impl gix::objs::WriteTo,
    ) -> Result<ObjectId> {
        let mut data = Vec::with_capacity(object.size() as usize);
        object
            .write_to(&mut data)
            .context(|| write_failed(kind, id))?;
        self.write_raw(kind, id, object.kind(), &data)
    }

    /// Write one object: uncompressed, unless the configuration asks for compression.
    fn write_raw(
        &self,
        kind: RecordKind,
        id: &str,
        object_kind: gix::objs::Kind,
        data: &[u8],
    ) -> Result<ObjectId> {
        if self.repo.object_hash() == gix::hash::Kind::Sha1
            && loose_object::uncompressed_allowed(&self.repo)
        {
            return loose_object::write(self.repo.objects.store_ref().path(), object_kind, data)
                .map_err(|e| Error::failed(format!("{}: {e}", write_failed(kind, id))));
        }
        use gix::objs::Write;
        self.repo.objects.write_buf(object_kind, data).map_err(|e| {
            let folder = self.repo.objects.store_ref().path();
            let reason = crate::error::gix_write_reason(folder, &e);
            Error::failed(format!("{}: {reason}", write_failed(kind, id)))
        })
    }

    /// The configured author or committer identity (or pm's fallback), as git
    /// resolves it, stamped with `now`.
    fn signature(&self, now: Timestamp, role: Role) -> Result<gix::actor::Signature> {
        let name = match role {
            Role::Author => "author",
            Role::Committer => "committer",
        };
        let (who, email) = identity(&self.repo, name)
            .ok_or_else(|| Error::failed(format!("no {name} identity is available")))?;
        Ok(gix::actor::Signature {
            name: who.into(),
            email: email.into(),
            time: gix::date::Time::new(now.seconds(), 0),
        })
    }

    fn set_ref(
        &self,
        name: &str,
        new: ObjectId,
        expected: PreviousValue,
        message: &str,
    ) -> Result<(), RefError> {
        if let PreviousValue::MustExistAndMatch(Target::Object(old)) = &expected
            && loose_ref::update(&self.repo, name, new, *old)? == loose_ref::Updated::Done
        {
            return Ok(());
        }
        if matches!(expected, PreviousValue::MustNotExist)
            && loose_ref::create(&self.repo, name, new, None)? == loose_ref::Updated::Done
        {
            return Ok(());
        }
        let full_name: gix::refs::FullName = name
            .try_into()
            .map_err(|e| RefError::Failed(format!("invalid ref name {name}: {e}")))?;
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: format!("pm: {message}")
                        .lines()
                        .next()
                        .unwrap_or("pm")
                        .into(),
                },
                expected,
                new: Target::Object(new),
            },
            name: full_name,
            deref: false,
        };
        // Our own committer for a reflog, if one is kept: gix's would make it work out the
        // local time zone, which costs more than the whole write.
        let committer = self.signature(Timestamp::now(), Role::Committer).ok();
        let mut time = gix::date::parse::TimeBuf::default();
        self.repo
            .edit_references_as([edit], committer.as_ref().map(|c| c.to_ref(&mut time)))
            .map(|_| ())
            .map_err(|e| loose_ref::edit_error(&self.repo, name, &e))
    }
}

/// The record file of `record`. A text larger than readers accept ([`MAX_RECORD_BYTES`]) is
/// refused, naming the record and its largest field, so that nothing is ever written that
/// could not be read back.
pub fn encode<T: Record>(record: &T) -> Result<String> {
    let kind = T::KIND;
    let text = toml::to_string(record)
        .context(|| format!("could not serialise {} {}", kind.noun(), record.id()))?;
    match oversize(record, text.len()) {
        None => Ok(text),
        Some(reason) => Err(Error::invalid(format!(
            "cannot store {} {}: {reason}",
            kind.noun(),
            record.id()
        ))),
    }
}

/// Why a record whose file takes `len` bytes is too large, or `None` when it fits: its size,
/// the limit and its largest field (the one to shorten).
fn oversize<T: Record>(record: &T, len: usize) -> Option<String> {
    if len <= MAX_RECORD_BYTES {
        return None;
    }
    let limit = MAX_RECORD_BYTES / 1024;
    let largest = toml::Table::try_from(record).ok().and_then(|table| {
        table
            .into_iter()
            .filter_map(|(key, value)| {
                let one = toml::Table::from_iter([(key.clone(), value)]);
                Some((toml::to_string(&one).ok()?.len(), key))
            })
            .max()
    });
    let largest = match largest {
        Some((bytes, field)) => format!("; its largest field is {field} ({bytes} bytes stored)"),
        None => String::new(),
    };
    Some(format!(
        "it would take {len} bytes, more than the {limit} KiB a record may hold{largest}"
    ))
}

fn packed_bytes(packed: &gix::refs::file::packed::SharedBufferSnapshot) -> &[u8] {
    (**packed).as_ref()
}

/// The ids that the `packed-refs` lines of `kind` name, in file order. A line is
/// `<object id> <name>`; a name holds no space, so the prefix after a space starts a name.
fn packed_ids(bytes: &[u8], kind: RecordKind) -> Vec<&str> {
    let start = format!(" {}", kind.ref_prefix());
    memchr::memmem::find_iter(bytes, start.as_bytes())
        .map(|at| {
            let rest = &bytes[at + start.len()..];
            &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())]
        })
        .filter_map(|name| std::str::from_utf8(name).ok())
        .filter(|id| could_be_id(id))
        .collect()
}

/// Cached records read as `V`; `None` if one of them cannot be (then the refs are read).
/// Thousands of them are read on several threads.
fn parse_cached<V: serde::de::DeserializeOwned + Send>(
    texts: Vec<(ObjectId, &str)>,
) -> Option<Vec<Stored<V>>> {
    let parse = |chunk: &[(ObjectId, &str)]| -> Option<Vec<Stored<V>>> {
        chunk
            .iter()
            .map(|(tip, text)| {
                let record = serde_json::from_str::<V>(text).ok()?;
                Some(Stored { record, tip: *tip })
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || texts.len() < 2048 {
        return parse(&texts);
    }
    let chunk = texts.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = texts
            .chunks(chunk)
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let mut all = Vec::with_capacity(texts.len());
        for worker in workers {
            all.extend(worker.join().ok()??);
        }
        Some(all)
    })
}

/// Which lock file is there: its inode and change time, if it exists.
type LockIdentity = (u64, i64, i64);

#[cfg(unix)]
fn lock_identity(path: &std::path::Path) -> Option<LockIdentity> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.ino(), meta.ctime(), meta.ctime_nsec()))
}

#[cfg(not(unix))]
fn lock_identity(path: &std::path::Path) -> Option<LockIdentity> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((0, since.as_secs() as i64, i64::from(since.subsec_nanos())))
}

/// Jittered exponential backoff: up to 1, 2, 4 … 32 ms, never the same across processes.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 1u64 << attempt.min(5);
    let noise = u64::from(ulid::Ulid::new().random() as u32) ^ u64::from(std::process::id());
    Duration::from_micros(200 + noise % (cap_ms * 1000))
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

fn write_failed(kind: RecordKind, id: &str) -> String {
    format!(
        "could not write {} {id} to the object database",
        kind.noun()
    )
}

fn toml_reason(err: &toml::de::Error) -> String {
    let message = err.message().trim().to_string();
    match err.span() {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message,
    }
}

/// Which of a commit's two identities to resolve.
#[derive(Clone, Copy)]
enum Role {
    Author,
    Committer,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::IdPrefixes;

    /// A repository whose `packed-refs` names `packed` (in that order) and whose loose refs
    /// name `loose`, all under `refs/pm/sessions/`; no object is needed to list ids.
    fn repo_with_ids(packed: &[&str], loose: &[&str]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let init = crate::git::command::run_in(dir.path(), &["init", "-q"]).expect("git runs");
        assert!(init.success, "{}", init.stderr);
        let tip = "72d4aea8f292ca247701d5557970a7257debc408";
        let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        for id in packed {
            text.push_str(&format!("{tip} refs/pm/sessions/{id}\n"));
        }
        let git = dir.path().join(".git");
        std::fs::write(git.join("packed-refs"), text).expect("write packed-refs");
        let loose_dir = git.join("refs/pm/sessions");
        std::fs::create_dir_all(&loose_dir).expect("mkdir");
        for id in loose {
            std::fs::write(loose_dir.join(id), format!("{tip}\n")).expect("write ref");
        }
        let store = Store::open(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn the_ids_near_some_tell_their_unique_prefixes_as_all_ids_do() {
        let packed = [
            "01AAAAAAAAAAAAAAAAAAAAAAAA",
            "01AAAAAAAAAAAAAAAAAAAAAAAB",
            "01AAAAAAAAAAAAZZZZZZZZZZZZ",
            "01BBBBBBBBBBBBBBBBBBBBBBBB",
            "01BBBBBBBBCCCCCCCCCCCCCCCC",
            "01CCCCCCCCCCCCCCCCCCCCCCCC",
            "01DDDDDDDDDDDDDDDDDDDDDDDD",
        ];
        let loose = ["01BBBBBBBBBBBBBBBBBBBBBBBC", "01CCCCCCCCCCCCCCCCCCCCCCCC"];
        let mut unsorted = packed;
        unsorted.reverse();
        for packed in [packed, unsorted] {
            let (_dir, store) = repo_with_ids(&packed, &loose);
            let all = IdPrefixes::new(store.ids(RecordKind::Session).expect("ids"));
            let shown = [
                "01AAAAAAAAAAAAAAAAAAAAAAAB",
                "01BBBBBBBBBBBBBBBBBBBBBBBB",
                "01CCCCCCCCCCCCCCCCCCCCCCCC",
                "01DDDDDDDDDDDDDDDDDDDDDDDD",
                "01BBBBBBBBBBBBBBBBBBBBBBBC",
            ];
            let near = IdPrefixes::new(store.ids_near(RecordKind::Session, &shown).expect("near"));
            for id in shown {
                assert_eq!(near.unique_len(id), all.unique_len(id), "{id}");
            }
            assert_eq!(all.unique_len("01BBBBBBBBBBBBBBBBBBBBBBBB"), 26);
            assert_eq!(all.unique_len("01DDDDDDDDDDDDDDDDDDDDDDDD"), 3);
        }
    }
}
