//! Bringing another clone's version of a record into the local store: create, fast-forward,
//! or a deterministic merge commit. The other version is untrusted data and is checked first.

use super::archive::Shelf;
use super::write::{LOCK_PATIENCE, backoff, oversize};
use super::{Store, parse_record};
use crate::error::{Context, Error, Result};
use crate::git::loose_ref::RefError;
use crate::merge;
use crate::model::Record;
use crate::store::Mode;
use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::PreviousValue;

/// How often a merge is redone when a local writer moves the record meanwhile.
const MAX_ATTEMPTS: u32 = 20;

/// The message of every merge commit. Fixed, so that merge commits are reproducible.
pub const MERGE_MESSAGE: &str = "merge";

/// The identity of every merge commit, for the same reason.
pub(super) const MERGE_NAME: &str = "pm";
pub(super) const MERGE_EMAIL: &str = "pm@localhost";

/// What integrating another clone's tip did to the local record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrated {
    /// Both sides already point at the same commit.
    UpToDate,
    /// The local record already contains the other version (it has something to push).
    LocalAhead,
    /// The record was new here.
    Created,
    FastForwarded,
    /// Both sides changed; a merge commit joins them.
    Merged(ObjectId),
    /// The other version was not taken; the reason says why.
    Rejected(String),
}

impl Store {
    /// Bring the version of record `id` at commit `theirs` (fetched from another clone) into
    /// the local ref. Data problems come back as [`Integrated::Rejected`]; only failures of the
    /// local repository are errors.
    pub fn integrate<T: Record>(
        &self,
        id: &str,
        theirs: ObjectId,
        mode: Mode,
    ) -> Result<Integrated> {
        let name = Self::ref_name(T::KIND, id);
        // A missing commit is the other side's problem (the record is not taken); an object
        // database that cannot be read is this clone's, and stops the sync.
        self.repo
            .try_find_header(theirs)
            .map_err(|e| Error::failed(format!("could not read {theirs} for {name}: {e}")))?;
        let mut their_record = None;
        // When the ref's lock was first found taken, in the run of attempts that found it so.
        let mut locked_since: Option<std::time::Instant> = None;
        let mut last_lock = None;
        for attempt in 0..MAX_ATTEMPTS {
            let live = self.ref_tip(&name)?;
            // Without a live ref, the archived version (if any) is the local record: a fetched
            // version it holds is not taken again, a later one makes the record live again.
            let ours = match live {
                Some(live) => Some(live),
                None => self.archived_tip(Shelf::of(T::KIND), id)?,
            };
            if ours == Some(theirs) {
                return Ok(Integrated::UpToDate);
            }
            let their_record = match &their_record {
                Some(record) => record,
                None => match self.checked::<T>(id, &name, theirs) {
                    Ok((record, _)) => their_record.insert(record),
                    Err(reason) => return Ok(Integrated::Rejected(reason)),
                },
            };
            let Some(ours) = ours else {
                if mode == Mode::DryRun {
                    return Ok(Integrated::Created);
                }
                match self.set_ref(&name, theirs, PreviousValue::MustNotExist, "sync: new") {
                    Ok(()) => return Ok(Integrated::Created),
                    Err(e) => {
                        wait_after(&name, e, attempt, &mut locked_since, &mut last_lock)?;
                        continue;
                    }
                }
            };
            // In argument order: with more than one best base (criss-cross merges), which one
            // is found may depend on the order, and every clone must merge from the same one.
            let base = self
                .repo
                .merge_base(ours.min(theirs), ours.max(theirs))
                .map_err(|e| {
                    Error::failed(format!("could not compare the history of {name}: {e}"))
                })?
                .map(|id| id.detach());
            let (result, message) = match base {
                None => {
                    return Ok(Integrated::Rejected(
                        "its history is unrelated to the local record's".into(),
                    ));
                }
                Some(base) if base == theirs => return Ok(Integrated::LocalAhead),
                Some(base) if base == ours => (Integrated::FastForwarded, "sync: fast-forward"),
                Some(base) => {
                    match self.merge_commit::<T>(id, &name, base, ours, theirs, their_record)? {
                        Ok(commit) => (Integrated::Merged(commit), "sync: merge"),
                        Err(reason) => return Ok(Integrated::Rejected(reason)),
                    }
                }
            };
            if mode == Mode::DryRun {
                return Ok(result);
            }
            let new = match &result {
                Integrated::Merged(commit) => *commit,
                _ => theirs,
            };
            let expected = match live {
                Some(live) => PreviousValue::MustExistAndMatch(Target::Object(live)),
                None => PreviousValue::MustNotExist,
            };
            match self.set_ref(&name, new, expected, message) {
                Ok(()) => return Ok(result),
                Err(e) => wait_after(&name, e, attempt, &mut locked_since, &mut last_lock)?,
            }
        }
        Err(Error::failed(match last_lock {
            Some(reason) => format!("could not update {name}: {reason}"),
            None => format!("could not update {name}: it kept changing while being merged"),
        }))
    }

    /// Read and check the record at `commit`: its text and the record it holds.
    pub(super) fn checked<T: Record>(
        &self,
        id: &str,
        name: &str,
        commit: ObjectId,
    ) -> std::result::Result<(T, String), String> {
        let (_, text) = self.load_text::<T>(id, name, Some(commit))?;
        let record: T = parse_record(id, &text)?;
        record.check()?;
        Ok((record, text))
    }

    /// Write the merge of `ours` and `theirs` over `base`. The commit depends only on the three
    /// versions: sorted parents, a fixed identity and message, and the newer parent's time.
    pub(super) fn merge_commit<T: Record>(
        &self,
        id: &str,
        name: &str,
        base: ObjectId,
        ours: ObjectId,
        theirs: ObjectId,
        their_record: &T,
    ) -> Result<std::result::Result<ObjectId, String>> {
        let table = |record: &T| {
            toml::Table::try_from(record)
                .context(|| format!("could not convert {name} for merging"))
        };
        let Ok((our_record, _)) = self.checked::<T>(id, name, ours) else {
            return Ok(Err(
                "the local record cannot be read, so it cannot be merged".into(),
            ));
        };
        // The base is only compared against. It goes through the record type like the two
        // sides (so defaults look the same on all three); a version this pm cannot parse is
        // compared as it is.
        let base_table = match self.load_text::<T>(id, name, Some(base)) {
            Ok((_, text)) => match toml::from_str::<T>(&text) {
                Ok(record) => table(&record)?,
                Err(_) => toml::from_str(&text).unwrap_or_default(),
            },
            Err(_) => toml::Table::new(),
        };
        let merged = merge::merge(
            T::KIND,
            &base_table,
            &table(&our_record)?,
            &table(their_record)?,
        );
        let record: T = match toml::Value::Table(merged).try_into() {
            Ok(record) => record,
            Err(e) => return Ok(Err(format!("the merged record is not valid: {e}"))),
        };
        if let Err(reason) = record.check() {
            return Ok(Err(format!("the merged record is not valid: {reason}")));
        }
        let text = toml::to_string(&record)
            .context(|| format!("could not serialise the merge of {name}"))?;
        if let Some(reason) = oversize(&record, text.len()) {
            return Ok(Err(format!("the merged record is too large: {reason}")));
        }
        let tree = self.write_tree(T::KIND, id, &text)?;
        let time = self.commit_time(ours)?.max(self.commit_time(theirs)?);
        let signature = gix::actor::Signature {
            name: MERGE_NAME.into(),
            email: MERGE_EMAIL.into(),
            time: gix::date::Time::new(time, 0),
        };
        let mut parents = vec![ours, theirs];
        parents.sort();
        let commit = gix::objs::Commit {
            tree,
            parents: parents.into(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: format!("{MERGE_MESSAGE}\n").into(),
            extra_headers: Vec::new(),
        };
        Ok(Ok(self.write_object(T::KIND, id, &commit)?))
    }

    fn commit_time(&self, commit: ObjectId) -> Result<i64> {
        let object = self
            .repo
            .find_commit(commit)
            .map_err(|e| Error::failed(format!("could not read commit {commit}: {e}")))?;
        Ok(object.time().map(|t| t.seconds).unwrap_or(0))
    }
}

/// After a failed write of ref `name` in attempt `attempt`: wait a little before the next one,
/// or give up with the error when retrying cannot help (a failure other than a race, or a lock
/// that stays taken for longer than [`LOCK_PATIENCE`](LOCK_PATIENCE)).
pub(super) fn wait_after(
    name: &str,
    error: RefError,
    attempt: u32,
    locked_since: &mut Option<std::time::Instant>,
    last_lock: &mut Option<String>,
) -> Result<()> {
    match error {
        RefError::Failed(reason) => {
            return Err(Error::failed(format!("could not update {name}: {reason}")));
        }
        RefError::Locked(reason) => {
            let since = *locked_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > LOCK_PATIENCE {
                return Err(Error::failed(format!("could not update {name}: {reason}")));
            }
            *last_lock = Some(reason);
        }
        RefError::Moved(_) => {
            *locked_since = None;
            *last_lock = None;
        }
    }
    std::thread::sleep(backoff(attempt));
    Ok(())
}
