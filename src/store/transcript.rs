//! Transcripts in git: `refs/pm/runs/<session>`, one commit per turn whose tree holds the turn
//! as `turn.json` (see `model::transcript`). Only the clone running a session's agent appends
//! to it; another clone's turns come in by sync, are checked commit by commit, and join the
//! local ones by fast-forward or by a merge commit that holds no turn.

use super::archive::Shelf;
use super::integrate::{Integrated, MERGE_EMAIL, MERGE_MESSAGE, MERGE_NAME, wait_after};
use super::write::Role;
use super::{Mode, Store};
use crate::error::{Context, Error, Result};
use crate::model::Timestamp;
use crate::model::id::is_canonical_id;
use crate::model::transcript::{FILE_NAME, Turn};
use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::PreviousValue;

/// The ref namespace of transcripts.
pub const RUNS_PREFIX: &str = "refs/pm/runs/";

/// At most this many turns are read, and taken from another clone in one sync.
pub const MAX_TURNS: usize = 10_000;

/// How often an append is redone when the ref moved meanwhile.
const MAX_ATTEMPTS: u32 = 50;

/// The transcript ref of session `id`.
pub fn runs_ref(id: &str) -> String {
    format!("{RUNS_PREFIX}{id}")
}

impl Store {
    /// The tip of the transcript ref `name`, if it has one, and whether it is live (else it
    /// is archived).
    fn transcript_tip(&self, name: &str) -> Result<Option<(ObjectId, bool)>> {
        if let Some(tip) = self
            .repo
            .try_find_reference(name)
            .context(|| format!("could not read {name}"))?
            .and_then(|r| r.target().try_id().map(ToOwned::to_owned))
        {
            return Ok(Some((tip, true)));
        }
        let id = name.strip_prefix(RUNS_PREFIX).unwrap_or(name);
        Ok(self.archived_tip(Shelf::Runs, id)?.map(|tip| (tip, false)))
    }

    /// What a write of transcript ref `name` read at `tip` expects to find.
    fn expected(tip: Option<(ObjectId, bool)>) -> PreviousValue {
        match tip {
            Some((tip, true)) => PreviousValue::MustExistAndMatch(Target::Object(tip)),
            _ => PreviousValue::MustNotExist,
        }
    }

    /// Append `turn` to its session's transcript. Returns the new commit.
    pub fn append_turn(&self, turn: &Turn) -> Result<ObjectId> {
        let name = runs_ref(&turn.session);
        let text = turn.encode();
        let blob = self.write_named(&name, gix::objs::Kind::Blob, text.as_bytes())?;
        let tree = gix::objs::Tree {
            entries: vec![gix::objs::tree::Entry {
                mode: gix::objs::tree::EntryKind::Blob.into(),
                filename: FILE_NAME.into(),
                oid: blob,
            }],
        };
        let tree = self.write_transcript(&name, &tree)?;
        let now = Timestamp::now();
        let message = format!(
            "turn: {} ({} entries)\n",
            turn.outcome.as_str(),
            turn.entries.len()
        );
        let mut locked_since = None;
        let mut last_lock = None;
        for attempt in 0..MAX_ATTEMPTS {
            let read = self.transcript_tip(&name)?;
            let parent = read.map(|(tip, _)| tip);
            let commit = gix::objs::Commit {
                tree,
                parents: parent.into_iter().collect(),
                author: self.signature(now, Role::Author)?,
                committer: self.signature(now, Role::Committer)?,
                encoding: None,
                message: message.clone().into(),
                extra_headers: Vec::new(),
            };
            let commit = self.write_transcript(&name, &commit)?;
            match self.set_ref(&name, commit, Self::expected(read), "turn") {
                Ok(()) => return Ok(commit),
                Err(e) => wait_after(&name, e, attempt, &mut locked_since, &mut last_lock)?,
            }
        }
        Err(Error::failed(format!(
            "could not update {name}: it kept changing"
        )))
    }

    /// The turns of session `id`, oldest first (at most the [`MAX_TURNS`] newest). A turn that
    /// cannot be read is left out.
    pub fn transcript(&self, id: &str) -> Result<Vec<Turn>> {
        let name = runs_ref(id);
        let Some((tip, _)) = self.transcript_tip(&name)? else {
            return Ok(Vec::new());
        };
        let walk = self
            .repo
            .rev_walk([tip])
            .all()
            .map_err(|e| Error::failed(format!("could not walk {name}: {e}")))?;
        let mut turns = Vec::new();
        for info in walk.take(MAX_TURNS) {
            let Ok(info) = info else { continue };
            if let Ok(Some(turn)) = self.turn_at(id, info.id) {
                turns.push(turn);
            }
        }
        turns.sort_by_key(|t| (t.started, t.ended));
        Ok(turns)
    }

    /// The turn commit `commit` holds: `None` for a merge commit, an error saying what is wrong
    /// with anything else.
    fn turn_at(&self, id: &str, commit: ObjectId) -> std::result::Result<Option<Turn>, String> {
        let commit = self
            .repo
            .find_commit(commit)
            .map_err(|e| format!("commit {commit} cannot be read: {e}"))?;
        let parents = commit.parent_ids().count();
        let tree = commit
            .tree()
            .map_err(|e| format!("the tree of commit {} cannot be read: {e}", commit.id))?;
        let entries: Vec<_> = tree.iter().collect();
        match entries.as_slice() {
            [] if parents == 2 => Ok(None),
            [Ok(entry)] if entry.filename() == FILE_NAME && entry.mode().is_blob() => {
                if parents > 1 {
                    return Err(format!("commit {} is a merge that holds a turn", commit.id));
                }
                let blob = entry
                    .object()
                    .map_err(|e| format!("a turn of commit {} is missing: {e}", commit.id))?;
                if blob.kind != gix::object::Kind::Blob {
                    return Err(format!("the turn of commit {} is no file", commit.id));
                }
                Turn::parse(id, &blob.data).map(Some)
            }
            _ => Err(format!(
                "commit {} holds something other than one {FILE_NAME}",
                commit.id
            )),
        }
    }

    /// Bring another clone's transcript of session `id` (tip `theirs`) in: every commit the
    /// local one lacks is checked first.
    pub fn integrate_transcript(
        &self,
        id: &str,
        theirs: ObjectId,
        mode: Mode,
    ) -> Result<Integrated> {
        let name = runs_ref(id);
        if !is_canonical_id(id) {
            return Ok(Integrated::Rejected("is not named by a valid id".into()));
        }
        // As for records: an object database that cannot be read stops the sync.
        self.repo
            .try_find_header(theirs)
            .map_err(|e| Error::failed(format!("could not read {theirs} for {name}: {e}")))?;
        let mut checked = false;
        let mut locked_since = None;
        let mut last_lock = None;
        for attempt in 0..MAX_ATTEMPTS {
            let read = self.transcript_tip(&name)?;
            let ours = read.map(|(tip, _)| tip);
            if ours == Some(theirs) {
                return Ok(Integrated::UpToDate);
            }
            if !checked {
                if let Err(reason) = self.check_new_turns(id, theirs, ours) {
                    return Ok(Integrated::Rejected(reason));
                }
                checked = true;
            }
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
            // Sorted, so that every clone finds the same base of a criss-cross history.
            let base = self
                .repo
                .merge_base(ours.min(theirs), ours.max(theirs))
                .ok()
                .flatten()
                .map(|id| id.detach());
            let (result, new, message) = match base {
                Some(base) if base == theirs => return Ok(Integrated::LocalAhead),
                Some(base) if base == ours => {
                    (Integrated::FastForwarded, theirs, "sync: fast-forward")
                }
                // Turns are never in conflict: two histories (one session run in two clones,
                // or unrelated starts) are joined as they are.
                _ => {
                    let commit = self.transcript_merge(&name, ours, theirs)?;
                    (Integrated::Merged(commit), commit, "sync: merge")
                }
            };
            if mode == Mode::DryRun {
                return Ok(result);
            }
            match self.set_ref(&name, new, Self::expected(read), message) {
                Ok(()) => return Ok(result),
                Err(e) => wait_after(&name, e, attempt, &mut locked_since, &mut last_lock)?,
            }
        }
        Err(Error::failed(format!(
            "could not update {name}: it kept changing while being merged"
        )))
    }

    /// Check every commit of `theirs` that `ours` does not have.
    pub(super) fn check_new_turns(
        &self,
        id: &str,
        theirs: ObjectId,
        ours: Option<ObjectId>,
    ) -> std::result::Result<(), String> {
        let walk = self
            .repo
            .rev_walk([theirs])
            .with_hidden(ours)
            .all()
            .map_err(|e| format!("its history cannot be read: {e}"))?;
        for (count, info) in walk.enumerate() {
            if count >= MAX_TURNS {
                return Err(format!("it brings more than {MAX_TURNS} turns at once"));
            }
            let info = info.map_err(|e| format!("its history cannot be read: {e}"))?;
            self.turn_at(id, info.id)?;
        }
        Ok(())
    }

    /// A merge commit of two transcript tips: no turn of its own (an empty tree), sorted
    /// parents, a fixed identity and message, the newer parent's time, so that every clone
    /// makes the same one.
    pub(super) fn transcript_merge(
        &self,
        name: &str,
        ours: ObjectId,
        theirs: ObjectId,
    ) -> Result<ObjectId> {
        let time = |commit: ObjectId| -> Result<i64> {
            let object = self
                .repo
                .find_commit(commit)
                .map_err(|e| Error::failed(format!("could not read commit {commit}: {e}")))?;
            Ok(object.time().map(|t| t.seconds).unwrap_or(0))
        };
        let tree = self.write_transcript(name, &gix::objs::Tree::empty())?;
        let signature = gix::actor::Signature {
            name: MERGE_NAME.into(),
            email: MERGE_EMAIL.into(),
            time: gix::date::Time::new(time(ours)?.max(time(theirs)?), 0),
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
        self.write_transcript(name, &commit)
    }

    fn write_transcript(&self, name: &str, object: &impl gix::objs::WriteTo) -> Result<ObjectId> {
        let mut data = Vec::with_capacity(object.size() as usize);
        object
            .write_to(&mut data)
            .map_err(|e| Error::failed(format!("could not write {name}: {e}")))?;
        self.write_named(name, object.kind(), &data)
    }
}
