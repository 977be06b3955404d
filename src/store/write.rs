//! Writing records: the objects of one commit per change, then a compare-and-swap of the
//! record's ref, retried on the fresh state when another writer moved it first.

use super::{Mode, Outcome, Store, Stored, loose_object};
use crate::error::{Context, Error, Result};
use crate::git::loose_ref::{self, RefError};
use crate::model::{MAX_RECORD_BYTES, Record, RecordKind, Timestamp};
use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use std::time::{Duration, Instant};

/// How many times an update is re-applied after losing a race before giving up.
const MAX_ATTEMPTS: u32 = 200;

/// How long a ref's lock may stay taken, over the attempts of one update, before the update
/// gives up. A write holds it for well under a millisecond; a lock held longer was most likely
/// left by a crashed process, and waiting on will not free it.
pub(super) const LOCK_PATIENCE: Duration = Duration::from_secs(1);

impl Store {
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

    /// After a record was written: note it, and start git's maintenance when loose objects
    /// pile up.
    fn maintain_if_needed(&self) {
        self.wrote.set(true);
        crate::git::command::maintain_if_needed(&self.repo);
    }

    /// Whether a record was created or changed through this store since the last call.
    pub fn take_wrote(&self) -> bool {
        self.wrote.take()
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
            let (current, live) = self.read_tracked::<T>(id)?;
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
            // An archived record changed comes back live: its ref is created again.
            let expected = match live {
                true => PreviousValue::MustExistAndMatch(Target::Object(current.tip)),
                false => PreviousValue::MustNotExist,
            };
            match self.set_ref(&name, tip, expected, &message) {
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
    pub(super) fn write_tree(&self, kind: RecordKind, id: &str, text: &str) -> Result<ObjectId> {
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

    pub(super) fn write_object(
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
        self.write_buf(object_kind, data)
            .map_err(|reason| Error::failed(format!("{}: {reason}", write_failed(kind, id))))
    }

    /// Write one object of what pm keeps beside records (archives, transcripts), named
    /// `name` in the error.
    pub(super) fn write_named(
        &self,
        name: &str,
        kind: gix::objs::Kind,
        data: &[u8],
    ) -> Result<ObjectId> {
        self.write_buf(kind, data)
            .map_err(|reason| Error::failed(format!("could not write {name}: {reason}")))
    }

    /// Write one object through gix; the error is why, in words.
    fn write_buf(&self, kind: gix::objs::Kind, data: &[u8]) -> Result<ObjectId, String> {
        use gix::objs::Write;
        self.repo.objects.write_buf(kind, data).map_err(|e| {
            let folder = self.repo.objects.store_ref().path();
            crate::error::gix_write_reason(folder, &e)
        })
    }

    /// The configured author or committer identity (or pm's fallback), as git
    /// resolves it, stamped with `now`.
    pub(super) fn signature(&self, now: Timestamp, role: Role) -> Result<gix::actor::Signature> {
        let name = match role {
            Role::Author => "author",
            Role::Committer => "committer",
        };
        let (who, email) = super::identity(&self.repo, name)
            .ok_or_else(|| Error::failed(format!("no {name} identity is available")))?;
        Ok(gix::actor::Signature {
            name: who.into(),
            email: email.into(),
            time: gix::date::Time::new(now.seconds(), 0),
        })
    }

    pub(super) fn set_ref(
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
pub(super) fn oversize<T: Record>(record: &T, len: usize) -> Option<String> {
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
pub(super) fn backoff(attempt: u32) -> Duration {
    let cap_ms = 1u64 << attempt.min(5);
    let noise = u64::from(ulid::Ulid::new().random() as u32) ^ u64::from(std::process::id());
    Duration::from_micros(200 + noise % (cap_ms * 1000))
}

fn write_failed(kind: RecordKind, id: &str) -> String {
    format!(
        "could not write {} {id} to the object database",
        kind.noun()
    )
}

/// Which of a commit's two identities to resolve.
#[derive(Clone, Copy)]
pub(super) enum Role {
    Author,
    Committer,
}
