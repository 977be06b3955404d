//! Reading one record: its ref, its commit, its one file, every step checked.

use super::{Store, Stored, parse_record};
use crate::error::{Context, Error, Result};
use crate::model::id::is_canonical_id;
use crate::model::{MAX_RECORD_BYTES, Record, RecordKind};
use gix::ObjectId;

impl Store {
    /// Read one record by its full id.
    pub fn read<T: Record>(&self, id: &str) -> Result<Stored<T>> {
        self.read_tracked::<T>(id).map(|(stored, _)| stored)
    }

    /// [`read`](Self::read), and whether the record is live (else it is archived).
    pub(super) fn read_tracked<T: Record>(&self, id: &str) -> Result<(Stored<T>, bool)> {
        let kind = T::KIND;
        let name = Self::ref_name(kind, id);
        let (tip, live) = self.record_tip(kind, id)?;
        let stored = self.load(id, &name, tip).map_err(|reason| {
            Error::failed(format!("{} {id} cannot be read: {reason}", kind.noun()))
        })?;
        Ok((stored, live))
    }

    /// The tip of record `id` (`None` for a symbolic ref) and whether it is live: its ref, or
    /// else the version the archive holds.
    pub(super) fn record_tip(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> Result<(Option<ObjectId>, bool)> {
        let name = Self::ref_name(kind, id);
        if let Some(reference) = self
            .repo
            .try_find_reference(name.as_str())
            .context(|| format!("could not read {name}"))?
        {
            return Ok((reference.target().try_id().map(ToOwned::to_owned), true));
        }
        let archived = if is_canonical_id(id) {
            self.archived_tip(super::archive::Shelf::of(kind), id)?
        } else {
            None
        };
        match archived {
            Some(tip) => Ok((Some(tip), false)),
            None => Err(Error::not_found(format!("no {} with id {id}", kind.noun()))),
        }
    }

    /// Load and check the record at `tip`. The error is a reason without the record's name.
    pub(super) fn load<T: Record>(
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
    pub(super) fn load_text<T: Record>(
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
}
