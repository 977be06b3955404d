//! Archive refs: finished records folded, many to a ref, into
//! `refs/pm/archive/<folder>/<YYYY-MM>` (the month of the record's id), and their own refs
//! removed, so that the refs a remote holds stay few. `docs/archive.md` has the design and the
//! argument that every clone ends the same.
//!
//! An archive commit's tree holds `tips` (a line `<id> <tip>` per record, sorted, all 68 bytes
//! long) and, under `<id>/`, the tree of the record at that tip (what `git show` reads). Its
//! parents are the archive commit it replaces and the tips it adds, so every archived history
//! stays reachable. A record is its live ref if it has one, else its archived tip: this module
//! answers the second half of that for the rest of the store.

use super::integrate::{Integrated, MERGE_EMAIL, MERGE_MESSAGE, MERGE_NAME};
use super::{Mode, Store};
use crate::error::{Context, Error, Result};
use crate::model::id::is_canonical_id;
use crate::model::{Issue, Record, RecordKind, Session, Timestamp};
use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::PreviousValue;
use std::collections::{BTreeMap, BTreeSet};

/// Where the archive refs are.
pub const ARCHIVE_PREFIX: &str = "refs/pm/archive/";

/// The file of an archive commit that lists its records.
const TIPS_FILE: &str = "tips";

/// The length of a line of `tips`: id, space, tip in hex, newline.
const LINE: usize = 26 + 1 + 40 + 1;

/// The message of an archive commit that adds records (a merge of two says `merge`).
pub const ARCHIVE_MESSAGE: &str = "archive";

/// How many records' tips one commit of an archive ref's chain keeps reachable.
const RECORDS_PER_COMMIT: usize = 32;

/// How many ref deletions go into one transaction.
const DELETE_CHUNK: usize = 2000;

/// What an archive ref holds: issues, sessions, or sessions' transcripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shelf {
    Issues,
    Sessions,
    Runs,
}

impl Shelf {
    pub const ALL: [Shelf; 3] = [Shelf::Issues, Shelf::Sessions, Shelf::Runs];

    /// The folder below `refs/pm/` (and below `refs/pm/archive/`).
    pub fn folder(self) -> &'static str {
        match self {
            Shelf::Issues => "issues",
            Shelf::Sessions => "sessions",
            Shelf::Runs => "runs",
        }
    }

    pub fn of(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Issue => Shelf::Issues,
            RecordKind::Session => Shelf::Sessions,
        }
    }

    pub fn from_folder(folder: &str) -> Option<Self> {
        Shelf::ALL.into_iter().find(|s| s.folder() == folder)
    }

    /// The live ref of record `id`.
    pub fn live_ref(self, id: &str) -> String {
        format!("refs/pm/{}/{id}", self.folder())
    }
}

/// The month (`YYYY-MM`, UTC) of the time in the id `id` (a ULID): the archive ref it goes to.
/// None for an id dated after the year 9999 (a valid ULID, but no month archive refs name):
/// such a record is never archived.
pub fn month_of(id: &str) -> Option<String> {
    let ulid = ulid::Ulid::from_string(id).ok()?;
    let secs = i64::try_from(ulid.timestamp_ms() / 1000).ok()?;
    let text = Timestamp(secs).to_string();
    let month = text.get(..7)?;
    is_month(month).then(|| month.to_string())
}

/// Whether `text` names a month as archive refs do.
pub fn is_month(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(
            &text[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
}

/// The archive ref of `shelf` for `month`.
pub fn archive_ref(shelf: Shelf, month: &str) -> String {
    format!("{ARCHIVE_PREFIX}{}/{month}", shelf.folder())
}

/// The records an archive commit holds, sorted by id.
pub type Tips = Vec<(String, ObjectId)>;

/// The records of the archive commits a store has read, by commit.
pub(super) type Memo = std::sync::Mutex<std::collections::HashMap<ObjectId, std::sync::Arc<Tips>>>;

/// Read `tips` text: sorted fixed-width lines of canonical ids of `month` (when given) with
/// their tips. The error says what is wrong.
fn parse_tips(data: &[u8], month: Option<&str>) -> std::result::Result<Tips, String> {
    if !data.len().is_multiple_of(LINE) {
        return Err(format!("its {TIPS_FILE} is not made of {LINE}-byte lines"));
    }
    let mut out: Tips = Vec::with_capacity(data.len() / LINE);
    for line in data.chunks(LINE) {
        // Every byte is ASCII, so every split below falls between characters.
        let Some(text) = line.is_ascii().then(|| String::from_utf8_lossy(line)) else {
            return Err(format!("its {TIPS_FILE} has a line that is not ASCII"));
        };
        let (id, rest) = text.split_at(26);
        let tip = rest
            .strip_prefix(' ')
            .and_then(|r| r.strip_suffix('\n'))
            .and_then(|hex| ObjectId::from_hex(hex.as_bytes()).ok())
            .ok_or_else(|| format!("its {TIPS_FILE} has a malformed line {text:?}"))?;
        if !is_canonical_id(id) {
            return Err(format!("its {TIPS_FILE} names {id:?}, which is not an id"));
        }
        if let Some(month) = month
            && month_of(id).as_deref() != Some(month)
        {
            return Err(format!(
                "its {TIPS_FILE} names {id}, which is not of {month}"
            ));
        }
        if out.last().is_some_and(|(last, _)| last.as_str() >= id) {
            return Err(format!("its {TIPS_FILE} is not sorted by id"));
        }
        out.push((id.to_string(), tip));
    }
    Ok(out)
}

fn tips_text(tips: &[(String, ObjectId)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tips.len() * LINE);
    for (id, tip) in tips {
        out.extend_from_slice(format!("{id} {tip}\n").as_bytes());
    }
    out
}

/// What `pm archive` did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Archived {
    pub issues: usize,
    pub sessions: usize,
    /// Transcripts of sessions archived.
    pub runs: usize,
    /// The archive refs written (or that would be).
    pub refs: Vec<String>,
    /// Records that changed after they were picked, and stay live.
    pub kept_live: usize,
}

impl Archived {
    pub fn total(&self) -> usize {
        self.issues + self.sessions + self.runs
    }
}

/// What settling live refs against the archive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Live refs removed: the archive holds them (or a later version).
    pub removed: usize,
    /// Live refs the archived version was merged into.
    pub merged: usize,
}

impl Store {
    /// The archive refs of `shelf` below `root` (`refs/pm/archive/`, or a remote's tracking
    /// namespace for it), as `(month, tip)` in order of month. Names that are no month are
    /// left out.
    pub fn archive_refs(&self, root: &str, shelf: Shelf) -> Result<Vec<(String, ObjectId)>> {
        let prefix = format!("{root}{}/", shelf.folder());
        Ok(crate::git::refs::under(&self.repo, &prefix)?
            .into_iter()
            .filter(|(month, _)| is_month(month))
            .filter_map(|(month, tip)| Some((month, tip?)))
            .collect())
    }

    /// The records archive commit `commit` holds (all of `month` when given).
    pub fn archive_tips(
        &self,
        commit: ObjectId,
        month: Option<&str>,
    ) -> std::result::Result<Tips, String> {
        let commit = self
            .repo
            .find_commit(commit)
            .map_err(|e| format!("commit {commit} cannot be read: {e}"))?;
        let tree = commit
            .tree()
            .map_err(|e| format!("the tree of commit {} cannot be read: {e}", commit.id))?;
        let entry = tree
            .find_entry(TIPS_FILE)
            .ok_or_else(|| format!("commit {} has no {TIPS_FILE}", commit.id))?;
        let blob = entry.object().map_err(|e| {
            format!(
                "the {TIPS_FILE} of commit {} cannot be read: {e}",
                commit.id
            )
        })?;
        if blob.kind != gix::object::Kind::Blob {
            return Err(format!(
                "the {TIPS_FILE} of commit {} is no file",
                commit.id
            ));
        }
        parse_tips(&blob.data, month)
    }

    /// [`archive_tips`](Self::archive_tips) of `month`, read once per store.
    fn month_tips(
        &self,
        commit: ObjectId,
        month: &str,
    ) -> std::result::Result<std::sync::Arc<Tips>, String> {
        if let Ok(memo) = self.archive_memo.lock()
            && let Some(tips) = memo.get(&commit)
        {
            return Ok(tips.clone());
        }
        let tips = std::sync::Arc::new(self.archive_tips(commit, Some(month))?);
        if let Ok(mut memo) = self.archive_memo.lock() {
            memo.insert(commit, tips.clone());
        }
        Ok(tips)
    }

    /// The tip at which record `id` is archived here, if it is.
    pub fn archived_tip(&self, shelf: Shelf, id: &str) -> Result<Option<ObjectId>> {
        self.archived_tip_under(ARCHIVE_PREFIX, shelf, id)
    }

    /// The tip at which record `id` is archived by the archive refs below `root` (the local
    /// ones, or those a remote had when last fetched), if it is. An archive ref that cannot be
    /// read is an error when it is local, and holds nothing when it is a remote's.
    pub fn archived_tip_under(
        &self,
        root: &str,
        shelf: Shelf,
        id: &str,
    ) -> Result<Option<ObjectId>> {
        let Some(month) = month_of(id) else {
            return Ok(None);
        };
        let name = format!("{root}{}/{month}", shelf.folder());
        let Some(commit) = self.ref_tip(&name)? else {
            return Ok(None);
        };
        let tips = match self.month_tips(commit, &month) {
            Ok(tips) => tips,
            Err(_) if root != ARCHIVE_PREFIX => return Ok(None),
            Err(reason) => return Err(Error::failed(format!("{name} cannot be read: {reason}"))),
        };
        Ok(tips
            .binary_search_by(|(other, _)| other.as_str().cmp(id))
            .ok()
            .map(|at| tips[at].1))
    }

    /// The tip ref `name` points at, if it exists and is direct.
    pub(super) fn ref_tip(&self, name: &str) -> Result<Option<ObjectId>> {
        Ok(self
            .repo
            .try_find_reference(name)
            .context(|| format!("could not read {name}"))?
            .and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
    }

    /// Every record of `shelf` archived here, sorted by id. Kept in the local cache
    /// (`.git/pm/index/<folder>.archive`) with the archive refs it was read from, and read
    /// again from them only when one moved.
    pub fn archived(&self, shelf: Shelf) -> Result<Tips> {
        let refs = self.archive_refs(ARCHIVE_PREFIX, shelf)?;
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let mut key = String::from("pm-archive 1\n");
        for (month, tip) in &refs {
            key.push_str(&format!("{month} {tip}\n"));
        }
        key.push('\n');
        let dir = self.index_dir();
        let path = dir.join(format!("{}.archive", shelf.folder()));
        if let Ok(data) = std::fs::read(&path)
            && let Some(rest) = data.strip_prefix(key.as_bytes())
            && let Ok(tips) = parse_tips(rest, None)
        {
            return Ok(tips);
        }
        let mut all = Vec::new();
        for (month, tip) in &refs {
            let name = archive_ref(shelf, month);
            let tips = self
                .archive_tips(*tip, Some(month))
                .map_err(|reason| Error::failed(format!("{name} cannot be read: {reason}")))?;
            all.extend(tips);
        }
        if self.cache_writes && std::fs::create_dir_all(&dir).is_ok() {
            let mut data = key.into_bytes();
            data.extend(tips_text(&all));
            let tmp = dir.join(super::local::temp_name(super::local::INDEX_TEMP_PREFIX));
            let _ = crate::fsutil::write_atomic(&tmp, &path, &data);
        }
        Ok(all)
    }

    /// Whether `tip` is `archived` or one of its ancestors: the archived version holds
    /// everything `tip` does.
    pub fn covers(&self, archived: ObjectId, tip: ObjectId) -> Result<bool> {
        if archived == tip {
            return Ok(true);
        }
        let base = self
            .repo
            .merge_base(archived, tip)
            .map_err(|e| Error::failed(format!("could not compare {archived} and {tip}: {e}")))?
            .map(|id| id.detach());
        Ok(base == Some(tip))
    }

    /// Fold the finished records whose last change is older than `cutoff` into the archive
    /// refs (with the transcripts of sessions archived), and remove their live refs. A record
    /// that changed after it was archived somewhere and not merged yet (no sync since) is
    /// left for later.
    pub fn archive(&self, cutoff: Timestamp, mode: Mode) -> Result<Archived> {
        let mut report = Archived::default();
        // (shelf, month) -> records to add, by id.
        let mut batches: BTreeMap<(Shelf, String), BTreeMap<String, ObjectId>> = BTreeMap::new();
        let mut sessions_picked: BTreeSet<String> = BTreeSet::new();
        self.pick_finished::<Issue>(cutoff, &mut batches, &mut report.issues, &mut |_| {})?;
        self.pick_finished::<Session>(cutoff, &mut batches, &mut report.sessions, &mut |id| {
            sessions_picked.insert(id.to_string());
        })?;
        for ((shelf, month), batch) in batches {
            self.archive_batch(shelf, &month, batch, mode, &mut report)?;
        }
        // Transcripts go with their sessions: those whose live ref is gone now, archived now or
        // before (a session kept live, changed meanwhile or diverged from its archived version,
        // keeps its transcript live too); in a dry run, those that would be archived now.
        let live_sessions: BTreeSet<String> =
            crate::git::refs::under(&self.repo, RecordKind::Session.ref_prefix())?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
        let mut runs: BTreeMap<String, BTreeMap<String, ObjectId>> = BTreeMap::new();
        for (id, tip) in crate::git::refs::under(&self.repo, super::transcript::RUNS_PREFIX)? {
            let Some(tip) = tip else { continue };
            let gone = (mode == Mode::DryRun && sessions_picked.contains(&id))
                || (!live_sessions.contains(&id)
                    && self.archived_tip(Shelf::Sessions, &id)?.is_some());
            if gone && let Some(month) = month_of(&id) {
                runs.entry(month).or_default().insert(id, tip);
                report.runs += 1;
            }
        }
        for (month, batch) in runs {
            self.archive_batch(Shelf::Runs, &month, batch, mode, &mut report)?;
        }
        Ok(report)
    }

    /// Archive `batch` (ids with their live tips) into the archive ref of `shelf` for `month`,
    /// and delete their live refs (each only if it still points at the tip archived).
    fn archive_batch(
        &self,
        shelf: Shelf,
        month: &str,
        batch: BTreeMap<String, ObjectId>,
        mode: Mode,
        report: &mut Archived,
    ) -> Result<()> {
        let name = archive_ref(shelf, month);
        report.refs.push(name.clone());
        if mode == Mode::DryRun {
            return Ok(());
        }
        let base = self.ref_tip(&name)?;
        let mut tips: BTreeMap<String, ObjectId> = match base {
            Some(base) => self
                .archive_tips(base, Some(month))
                .map_err(|reason| Error::failed(format!("{name} cannot be read: {reason}")))?
                .into_iter()
                .collect(),
            None => BTreeMap::new(),
        };
        let mut added = Vec::new();
        let mut remove = Vec::new();
        for (id, tip) in batch {
            let live = shelf.live_ref(&id);
            match tips.get(&id) {
                // Already archived at this tip or a later one: only the live ref goes.
                Some(archived) if self.covers(*archived, tip)? => {}
                // Changed since it was archived: the new tip replaces the old one.
                Some(archived) if self.covers(tip, *archived)? => {
                    tips.insert(id, tip);
                    added.push(tip);
                }
                // Diverged from its archived version: a sync merges them first.
                Some(_) => {
                    report.kept_live += 1;
                    continue;
                }
                None => {
                    tips.insert(id, tip);
                    added.push(tip);
                }
            }
            remove.push((live, tip));
        }
        if !added.is_empty() {
            let tips: Tips = tips.into_iter().collect();
            added.sort();
            added.dedup();
            let first: Vec<ObjectId> = base.into_iter().collect();
            let commit = self.write_archive(shelf, &name, &tips, first, &added, ARCHIVE_MESSAGE)?;
            let expected = match base {
                Some(base) => PreviousValue::MustExistAndMatch(Target::Object(base)),
                None => PreviousValue::MustNotExist,
            };
            self.set_ref(&name, commit, expected, ARCHIVE_MESSAGE)
                .map_err(|e| Error::failed(format!("could not update {name}: {e}")))?;
        }
        let removed = self.delete_refs(&remove)?;
        report.kept_live += remove.len() - removed;
        Ok(())
    }

    /// Add the live records of `T` that are finished and last changed before `cutoff` to
    /// `batches`, counting them in `count` and telling `picked` each id.
    fn pick_finished<T: Record>(
        &self,
        cutoff: Timestamp,
        batches: &mut BTreeMap<(Shelf, String), BTreeMap<String, ObjectId>>,
        count: &mut usize,
        picked: &mut dyn FnMut(&str),
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Dates {
            updated: Timestamp,
        }
        let shelf = Shelf::of(T::KIND);
        let live: BTreeMap<String, ObjectId> =
            crate::git::refs::under(&self.repo, T::KIND.ref_prefix())?
                .into_iter()
                .filter_map(|(id, tip)| Some((id, tip?)))
                .collect();
        if live.is_empty() {
            return Ok(());
        }
        let texts = self.texts::<T>(super::Scope::All)?;
        for record in texts.records() {
            if live.get(record.id) != Some(&record.tip) {
                continue;
            }
            let Ok(dates) = serde_json::from_str::<Dates>(record.text) else {
                continue;
            };
            let Ok(parsed) = serde_json::from_str::<T>(record.text) else {
                continue;
            };
            if !parsed.settled() || dates.updated > cutoff {
                continue;
            }
            let Some(month) = month_of(record.id) else {
                continue;
            };
            batches
                .entry((shelf, month))
                .or_default()
                .insert(record.id.to_string(), record.tip);
            *count += 1;
            picked(record.id);
        }
        Ok(())
    }

    /// Write an archive commit of `shelf` holding `tips`, on top of `first` (the archive
    /// commits it follows), that keeps the commits `added` reachable. These go
    /// [`RECORDS_PER_COMMIT`] at a time into a chain of commits with an empty tree below the
    /// one holding `tips`: an archive commit with thousands of parents would cost every push to
    /// the remote (git puts every parent of a commit it walks into a list sorted by date: 100,000
    /// of them make a push 26 times slower), a chain costs it nothing.
    fn write_archive(
        &self,
        shelf: Shelf,
        name: &str,
        tips: &[(String, ObjectId)],
        first: Vec<ObjectId>,
        added: &[ObjectId],
        message: &str,
    ) -> Result<ObjectId> {
        let mut parents = first;
        let chunks: Vec<&[ObjectId]> = added.chunks(RECORDS_PER_COMMIT).collect();
        if let Some((last, before)) = chunks.split_last() {
            if !before.is_empty() {
                let empty = self.write_archive_tree(name, Vec::new())?;
                for chunk in before {
                    parents.extend_from_slice(chunk);
                    let text = format!("{message}: {} record(s)", chunk.len());
                    let commit = self.write_archive_commit(name, empty, parents, &text)?;
                    parents = vec![commit];
                }
            }
            parents.extend_from_slice(last);
        }
        let blob = self.write_named(name, gix::objs::Kind::Blob, &tips_text(tips))?;
        let mut entries = vec![gix::objs::tree::Entry {
            mode: gix::objs::tree::EntryKind::Blob.into(),
            filename: TIPS_FILE.into(),
            oid: blob,
        }];
        for (id, tip) in tips {
            let tree = self
                .repo
                .find_commit(*tip)
                .map_err(|e| Error::failed(format!("could not read commit {tip} of {id}: {e}")))?
                .tree_id()
                .map_err(|e| Error::failed(format!("could not read commit {tip} of {id}: {e}")))?
                .detach();
            // A transcript's merge commit holds no turn: nothing to show.
            if shelf == Shelf::Runs && tree == ObjectId::empty_tree(tree.kind()) {
                continue;
            }
            entries.push(gix::objs::tree::Entry {
                mode: gix::objs::tree::EntryKind::Tree.into(),
                filename: id.as_str().into(),
                oid: tree,
            });
        }
        entries.sort();
        let tree = self.write_archive_tree(name, entries)?;
        self.write_archive_commit(name, tree, parents, message)
    }

    /// Write one commit of an archive ref: `pm <pm@localhost>`, the newest of its parents'
    /// times, so that it depends on what it holds alone.
    fn write_archive_commit(
        &self,
        name: &str,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        message: &str,
    ) -> Result<ObjectId> {
        let mut time = 0;
        for parent in &parents {
            let commit = self
                .repo
                .find_commit(*parent)
                .map_err(|e| Error::failed(format!("could not read commit {parent}: {e}")))?;
            time = time.max(commit.time().map(|t| t.seconds).unwrap_or(0));
        }
        let signature = gix::actor::Signature {
            name: MERGE_NAME.into(),
            email: MERGE_EMAIL.into(),
            time: gix::date::Time::new(time, 0),
        };
        let commit = gix::objs::Commit {
            tree,
            parents: parents.into(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: format!("{message}\n").into(),
            extra_headers: Vec::new(),
        };
        let mut data = Vec::new();
        gix::objs::WriteTo::write_to(&commit, &mut data)
            .map_err(|e| Error::failed(format!("could not write {name}: {e}")))?;
        self.write_named(name, gix::objs::Kind::Commit, &data)
    }

    fn write_archive_tree(
        &self,
        name: &str,
        entries: Vec<gix::objs::tree::Entry>,
    ) -> Result<ObjectId> {
        let tree = gix::objs::Tree { entries };
        let mut data = Vec::new();
        gix::objs::WriteTo::write_to(&tree, &mut data)
            .map_err(|e| Error::failed(format!("could not write {name}: {e}")))?;
        self.write_named(name, gix::objs::Kind::Tree, &data)
    }

    /// Delete each ref of `refs` that still points at its tip. Returns how many were deleted
    /// (a ref that moved or is gone meanwhile stays as it is).
    pub fn delete_refs(&self, refs: &[(String, ObjectId)]) -> Result<usize> {
        let mut deleted = 0;
        for chunk in refs.chunks(DELETE_CHUNK) {
            let edits = chunk
                .iter()
                .map(|(name, tip)| delete_edit(name, *tip))
                .collect::<Result<Vec<_>>>()?;
            if self.repo.edit_references(edits).is_ok() {
                deleted += chunk.len();
                continue;
            }
            // One of them moved (or a lock is in the way): one at a time.
            for (name, tip) in chunk {
                if self
                    .repo
                    .edit_references([delete_edit(name, *tip)?])
                    .is_ok()
                {
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    /// Point each ref of `refs` at its tip, whatever it pointed at (for pm's own temporary
    /// refs).
    pub fn write_refs(&self, refs: &[(String, ObjectId)]) -> Result<()> {
        use gix::refs::transaction::{Change, LogChange, RefEdit, RefLog};
        for chunk in refs.chunks(DELETE_CHUNK) {
            let edits = chunk
                .iter()
                .map(|(name, tip)| {
                    Ok(RefEdit {
                        change: Change::Update {
                            log: LogChange {
                                mode: RefLog::AndReference,
                                force_create_reflog: false,
                                message: "pm".into(),
                            },
                            expected: PreviousValue::Any,
                            new: Target::Object(*tip),
                        },
                        name: name
                            .as_str()
                            .try_into()
                            .map_err(|e| Error::failed(format!("invalid ref name {name}: {e}")))?,
                        deref: false,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            self.repo.edit_references(edits).map_err(|e| {
                let first = chunk.first().map_or("", |(name, _)| name.as_str());
                Error::failed(format!("could not write {first} and others: {e}"))
            })?;
        }
        Ok(())
    }

    /// Bring archive commit `theirs` of `shelf` for `month` (fetched from another clone) into
    /// the local archive ref: create, fast-forward, or a merge of the two (see
    /// `docs/archive.md`). Every record it adds or changes is checked as a fetched record is.
    pub fn integrate_archive(
        &self,
        shelf: Shelf,
        month: &str,
        theirs: ObjectId,
        mode: Mode,
    ) -> Result<Integrated> {
        let name = archive_ref(shelf, month);
        if !is_month(month) {
            return Ok(Integrated::Rejected("is not named by a month".into()));
        }
        self.repo
            .try_find_header(theirs)
            .map_err(|e| Error::failed(format!("could not read {theirs} for {name}: {e}")))?;
        let their_tips = match self.archive_tips(theirs, Some(month)) {
            Ok(tips) => tips,
            Err(reason) => return Ok(Integrated::Rejected(reason)),
        };
        let mut checked = false;
        for _ in 0..20 {
            let ours = self.ref_tip(&name)?;
            if ours == Some(theirs) {
                return Ok(Integrated::UpToDate);
            }
            let our_tips: BTreeMap<String, ObjectId> = match ours {
                Some(ours) => self
                    .archive_tips(ours, Some(month))
                    .map_err(|reason| Error::failed(format!("{name} cannot be read: {reason}")))?
                    .into_iter()
                    .collect(),
                None => BTreeMap::new(),
            };
            if !checked {
                if let Err(reason) =
                    self.check_archive(shelf, &name, theirs, ours, &their_tips, &our_tips)
                {
                    return Ok(Integrated::Rejected(reason));
                }
                checked = true;
            }
            let (result, new, expected) = match ours {
                None => (Integrated::Created, theirs, PreviousValue::MustNotExist),
                Some(ours) => {
                    let base = self
                        .repo
                        .merge_base(ours, theirs)
                        .map_err(|e| {
                            Error::failed(format!("could not compare the history of {name}: {e}"))
                        })?
                        .map(|id| id.detach());
                    let expected = PreviousValue::MustExistAndMatch(Target::Object(ours));
                    if base == Some(theirs) {
                        return Ok(Integrated::LocalAhead);
                    } else if base == Some(ours) && self.keeps_entries(&our_tips, &their_tips)? {
                        (Integrated::FastForwarded, theirs, expected)
                    } else {
                        // Diverged, or a fast-forward that drops an entry or moves one to a
                        // version that is not later: the union of the two.
                        if mode == Mode::DryRun {
                            return Ok(Integrated::Merged(theirs));
                        }
                        let merged = match self.merge_archives(
                            shelf,
                            &name,
                            ours,
                            theirs,
                            &our_tips,
                            &their_tips,
                        )? {
                            Ok(merged) => merged,
                            Err(reason) => return Ok(Integrated::Rejected(reason)),
                        };
                        (Integrated::Merged(merged), merged, expected)
                    }
                }
            };
            if mode == Mode::DryRun {
                return Ok(result);
            }
            match self.set_ref(&name, new, expected, "sync: archive") {
                Ok(()) => return Ok(result),
                Err(crate::git::loose_ref::RefError::Failed(e)) => {
                    return Err(Error::failed(format!("could not update {name}: {e}")));
                }
                Err(_) => std::thread::sleep(super::write::backoff(2)),
            }
        }
        Err(Error::failed(format!(
            "could not update {name}: it kept changing while being merged"
        )))
    }

    /// Check the records archive commit `commit` adds or changes against `ours` (the local
    /// archive's records of the month, at commit `ours_commit`): each a valid record whose tree
    /// is filed under its id, and whose tip `commit` keeps reachable (else taking it would let
    /// the record's live refs go, and `git gc` the record).
    fn check_archive(
        &self,
        shelf: Shelf,
        name: &str,
        commit: ObjectId,
        ours_commit: Option<ObjectId>,
        theirs: &[(String, ObjectId)],
        ours: &BTreeMap<String, ObjectId>,
    ) -> std::result::Result<(), String> {
        let tree = self
            .repo
            .find_commit(commit)
            .map_err(|e| format!("commit {commit} cannot be read: {e}"))?
            .tree()
            .map_err(|e| format!("the tree of commit {commit} cannot be read: {e}"))?;
        for (id, tip) in theirs {
            let old = ours.get(id).copied();
            if old == Some(*tip) {
                continue;
            }
            let live = shelf.live_ref(id);
            let checked = match shelf {
                Shelf::Issues => self.checked::<Issue>(id, &live, *tip).map(|_| ()),
                Shelf::Sessions => self.checked::<Session>(id, &live, *tip).map(|_| ()),
                Shelf::Runs => self.check_new_turns(id, *tip, old),
            };
            checked.map_err(|reason| format!("its {id}: {reason}"))?;
            let filed = tree.find_entry(id.as_str()).map(|e| e.oid().to_owned());
            let real = self
                .repo
                .find_commit(*tip)
                .ok()
                .and_then(|c| c.tree_id().ok())
                .map(|t| t.detach());
            let empty = real.is_some_and(|t| t == ObjectId::empty_tree(t.kind()));
            if filed != real && !(shelf == Shelf::Runs && empty && filed.is_none()) {
                return Err(format!(
                    "its {id}/ is not the tree of the record at {tip} ({name})"
                ));
            }
        }
        self.check_reachable(commit, ours_commit, theirs, ours)
    }

    /// Check that archive commit `commit` keeps every tip of `theirs` that differs from `ours`
    /// reachable: one walk of the commits `commit` has and `ours_commit` lacks, then an
    /// ancestry check of the few tips it did not meet (those `ours_commit` has too).
    fn check_reachable(
        &self,
        commit: ObjectId,
        ours_commit: Option<ObjectId>,
        theirs: &[(String, ObjectId)],
        ours: &BTreeMap<String, ObjectId>,
    ) -> std::result::Result<(), String> {
        let mut unseen: std::collections::HashSet<ObjectId> = theirs
            .iter()
            .filter(|(id, tip)| ours.get(id) != Some(tip))
            .map(|(_, tip)| *tip)
            .collect();
        if unseen.is_empty() {
            return Ok(());
        }
        let walk = self
            .repo
            .rev_walk([commit])
            .with_hidden(ours_commit)
            .all()
            .map_err(|e| format!("its history cannot be read: {e}"))?;
        for info in walk {
            let info = info.map_err(|e| format!("its history cannot be read: {e}"))?;
            unseen.remove(&info.id);
            if unseen.is_empty() {
                return Ok(());
            }
        }
        for (id, tip) in theirs {
            if unseen.contains(tip)
                && !self
                    .covers(commit, *tip)
                    .map_err(|e| e.message().to_string())?
            {
                return Err(format!(
                    "its {id} at {tip} is not in its history (git would drop the record)"
                ));
            }
        }
        Ok(())
    }

    /// Whether archive records `theirs` hold every record of `ours`, each at the same tip or a
    /// later one (so that taking them whole loses nothing).
    fn keeps_entries(
        &self,
        ours: &BTreeMap<String, ObjectId>,
        theirs: &[(String, ObjectId)],
    ) -> Result<bool> {
        for (id, mine) in ours {
            let Ok(at) = theirs.binary_search_by(|(other, _)| other.as_str().cmp(id)) else {
                return Ok(false);
            };
            if !self.covers(theirs[at].1, *mine)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The merge of archive commits `ours` and `theirs`: the union of their records, the later
    /// of two tips of one record, or their record merge when neither is later. When two tips of
    /// a record cannot be joined (unrelated histories, or a merge that is no valid record), the
    /// reason, and nothing is written: `theirs` is not taken.
    fn merge_archives(
        &self,
        shelf: Shelf,
        name: &str,
        ours: ObjectId,
        theirs: ObjectId,
        our_tips: &BTreeMap<String, ObjectId>,
        their_tips: &[(String, ObjectId)],
    ) -> Result<std::result::Result<ObjectId, String>> {
        let mut tips = our_tips.clone();
        let mut made = Vec::new();
        for (id, tip) in their_tips {
            let joined = match tips.get(id) {
                None => *tip,
                Some(mine) => match self.join_tips(shelf, id, *mine, *tip)? {
                    Ok((joined, merge)) => {
                        made.extend(merge);
                        joined
                    }
                    Err(reason) => return Ok(Err(format!("its {id}: {reason}"))),
                },
            };
            tips.insert(id.clone(), joined);
        }
        let mut parents = vec![ours, theirs];
        parents.sort();
        made.sort();
        made.dedup();
        let tips: Tips = tips.into_iter().collect();
        Ok(Ok(self.write_archive(
            shelf,
            name,
            &tips,
            parents,
            &made,
            MERGE_MESSAGE,
        )?))
    }

    /// The later of two tips of record `id`, or (when neither is) their record merge, which is
    /// then also returned as a commit made. Two tips that cannot be joined give the reason:
    /// keeping either would drop the other version.
    fn join_tips(
        &self,
        shelf: Shelf,
        id: &str,
        a: ObjectId,
        b: ObjectId,
    ) -> Result<std::result::Result<(ObjectId, Option<ObjectId>), String>> {
        if a == b {
            return Ok(Ok((a, None)));
        }
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let base = self
            .repo
            .merge_base(low, high)
            .map_err(|e| Error::failed(format!("could not compare the history of {id}: {e}")))?
            .map(|id| id.detach());
        let Some(base) = base else {
            // Only crafted data has them.
            return Ok(Err(
                "its history is unrelated to the local archived record's".into(),
            ));
        };
        if base == low {
            return Ok(Ok((high, None)));
        }
        if base == high {
            return Ok(Ok((low, None)));
        }
        let live = shelf.live_ref(id);
        let merged = match shelf {
            Shelf::Issues => self.record_merge::<Issue>(id, &live, base, low, high)?,
            Shelf::Sessions => self.record_merge::<Session>(id, &live, base, low, high)?,
            Shelf::Runs => Ok(self.transcript_merge(&live, low, high)?),
        };
        Ok(merged.map(|merged| (merged, Some(merged))))
    }

    /// The deterministic merge of two versions of record `id` over `base`, or why there is no
    /// valid one.
    fn record_merge<T: Record>(
        &self,
        id: &str,
        name: &str,
        base: ObjectId,
        low: ObjectId,
        high: ObjectId,
    ) -> Result<std::result::Result<ObjectId, String>> {
        let their_record = match self.checked::<T>(id, name, high) {
            Ok((record, _)) => record,
            Err(reason) => return Ok(Err(reason)),
        };
        self.merge_commit::<T>(id, name, base, low, high, &their_record)
    }

    /// Settle every live ref that also has an archived version: removed when the archive
    /// holds it (or a later version), merged with the archived version when the two
    /// diverged, kept when it is the later one (changed after it was archived).
    pub fn settle_archived(&self) -> Result<Settled> {
        let mut settled = Settled::default();
        for shelf in Shelf::ALL {
            if self.archive_refs(ARCHIVE_PREFIX, shelf)?.is_empty() {
                continue;
            }
            let prefix = format!("refs/pm/{}/", shelf.folder());
            let live = crate::git::refs::under(&self.repo, &prefix)?;
            let mut remove = Vec::new();
            for (id, tip) in live {
                let Some(tip) = tip else { continue };
                if !is_canonical_id(&id) {
                    continue;
                }
                let Some(kept) = self.archived_tip(shelf, &id)? else {
                    continue;
                };
                if self.covers(kept, tip)? {
                    remove.push((shelf.live_ref(&id), tip));
                } else if !self.covers(tip, kept)? {
                    let outcome = match shelf {
                        Shelf::Issues => self.integrate::<Issue>(&id, kept, Mode::Write)?,
                        Shelf::Sessions => self.integrate::<Session>(&id, kept, Mode::Write)?,
                        Shelf::Runs => self.integrate_transcript(&id, kept, Mode::Write)?,
                    };
                    if matches!(outcome, Integrated::Merged(_)) {
                        settled.merged += 1;
                    }
                }
            }
            settled.removed += self.delete_refs(&remove)?;
        }
        Ok(settled)
    }
}

fn delete_edit(name: &str, tip: ObjectId) -> Result<gix::refs::transaction::RefEdit> {
    use gix::refs::transaction::{Change, RefEdit, RefLog};
    Ok(RefEdit {
        change: Change::Delete {
            expected: PreviousValue::MustExistAndMatch(Target::Object(tip)),
            log: RefLog::AndReference,
        },
        name: name
            .try_into()
            .map_err(|e| Error::failed(format!("invalid ref name {name}: {e}")))?,
        deref: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_come_from_the_time_in_the_id() {
        // 01ARZ3NDEK is 1469918176385 ms: 2016-07-30.
        assert_eq!(
            month_of("01ARZ3NDEKTSV4RRFFQ69G5FAV").as_deref(),
            Some("2016-07")
        );
        assert_eq!(month_of("not an id"), None);
        // The last id there is: 10889.
        assert_eq!(month_of("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), None);
        // 9999-12-31T23:59:59Z, the last second that has a month.
        assert_eq!(
            month_of("76EZ91ZP0RZZZZZZZZZZZZZZZZ").as_deref(),
            Some("9999-12")
        );
        assert!(is_month("2016-07"));
        for bad in [
            "2016-7", "2016-13", "2016-00", "201a-01", "2016/01", "2016-011",
        ] {
            assert!(!is_month(bad), "{bad}");
        }
    }

    #[test]
    fn tips_are_read_only_when_well_formed() {
        let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        let later = "01ARZ3NDEKTSV4RRFFQ69G5FAW";
        let tip = ObjectId::from_hex(b"72d4aea8f292ca247701d5557970a7257debc408").unwrap();
        let good = tips_text(&[(id.to_string(), tip), (later.to_string(), tip)]);
        assert_eq!(parse_tips(&good, Some("2016-07")).unwrap().len(), 2);
        assert!(parse_tips(&good, Some("2016-08")).is_err(), "wrong month");
        let unsorted = tips_text(&[(later.to_string(), tip), (id.to_string(), tip)]);
        assert!(parse_tips(&unsorted, None).is_err());
        assert!(parse_tips(&good[..good.len() - 1], None).is_err());
        let mut bad = good.clone();
        bad[0] = b'x';
        assert!(parse_tips(&bad, None).is_err());
        // A character of two bytes across the end of the id (in place of its last character
        // and the space): the line is still 68 bytes long.
        let mut wide = good.clone();
        wide.splice(25..27, "é".bytes());
        assert_eq!(wide.len(), good.len());
        assert!(parse_tips(&wide, None).unwrap_err().contains("not ASCII"));
    }
}
