//! A disposable local cache of parsed records (their JSON form) in `.git/pm/index/`, so that a
//! listing reads neither the object database nor, when nothing moved, the refs.
//!
//! Three files per kind of record:
//!
//! * `<kind>` (the head) records the state of the ref files it was made from — the identity,
//!   size and time of `packed-refs` and of every loose ref under the kind's prefix, with the
//!   loose refs' tips — and the records that are not settled (live sessions), with their tips.
//! * `<kind>.settled` lists the settled records (finished sessions): a line for each, with its
//!   tip, its tally word and summary, and where its text is in `<kind>.texts`, which holds the
//!   texts one after the other. Both are logs: entries are appended as records settle or
//!   change, the last line of an id wins, a tombstone line removes one, and both are rewritten
//!   whole (under a new token) when the texts have grown enough. The head names the token and
//!   the length of each that it covers, so bytes a crashed writer appended are ignored. Kept
//!   apart, the lines of 100,000 records are read in a few milliseconds by what needs no text
//!   (completion), and the texts by what needs them (history) without a scan for headers.
//!
//! Every entry carries, beside the record's text, the record's tally word (its status) and a
//! short summary (see [`crate::model::Record`]); the head also counts the settled records by
//! tally word, so that the overview counts every record from the head alone.
//!
//! A listing first compares the ref files with the head. When `packed-refs` is the same file and
//! no loose ref disappeared, only loose refs whose file changed are read (as git rewrites a ref by
//! renaming a new file into place, any change gives a new identity), and only records whose tip
//! moved are read from the object database. So after the first run, a listing costs what changed,
//! not what exists; a listing of live records does not even open the settled files. Anything else
//! — a new `packed-refs`, a deleted ref, a damaged or missing file — sends the listing to the refs
//! themselves, checking every cached entry against the tip just read, and the cache is rewritten.
//! A file time too close to the head's own is not trusted (the "racy" case of git's index), so a
//! change made within a clock tick of the head being written is still seen.
//!
//! Writers take `<kind>.lock` and write only if the head is still the one they loaded;
//! failing that they write nothing. Correctness never depends on the cache: whatever state it is
//! in, a listing returns the records the refs point at.
//!
//! By concern: `refs` (the state of the ref files, and the memo worked out from it), `read`
//! (loading and parsing the files), `write` (saving them under the lock); this file holds the
//! records as loaded and the queries over them.

mod read;
mod refs;
#[cfg(test)]
mod tests;
mod write;

use gix::ObjectId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use read::{Text, parse_head};
use refs::stamp_of;
pub use refs::{ARCHIVE_MARK, RefState, Stamp, memo, ref_files_with_archive};

const MAGIC: &str = "pm-index 6";

const SETTLED_MAGIC: &str = "pm-settled";

const TEXTS_MAGIC: &str = "pm-texts";

/// File times within this many seconds of the head's own time are not trusted.
const RACY_SECS: i64 = 2;

/// A lock older than this was left by a crashed writer.
const STALE_LOCK_SECS: u64 = 30;

/// Which records a listing needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only records that are not settled; settled ones may still be returned.
    Live,
    All,
}

/// One record in a loaded file: where its id, text, tally word and summary are. In the head all
/// four are in its buffer; for a settled record the text is in the texts file, the others in
/// its line. A tombstone (settled lines only) has no tip.
struct Entry {
    id: Range<usize>,
    tip: Option<ObjectId>,
    text: Range<usize>,
    tally: Range<usize>,
    summary: Range<usize>,
}

/// A record as the cache holds it: its JSON text, and beside it its tally word and summary
/// (see [`crate::model::Record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cached<'a> {
    pub id: &'a str,
    pub tip: ObjectId,
    pub text: &'a str,
    pub tally: &'a str,
    pub summary: &'a str,
}

/// What the cache holds of a record beside its text (see [`Cached`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brief<'a> {
    pub id: &'a str,
    pub tip: ObjectId,
    pub tally: &'a str,
    pub summary: &'a str,
}

/// A record read from the object database, to be cached.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub text: String,
    pub settled: bool,
    pub tally: String,
    pub summary: String,
}

/// How many records there are of each tally word.
pub type Tally = BTreeMap<String, usize>;

struct Head {
    data: String,
    /// The head file itself when loaded, to tell whether another writer replaced it since.
    file: Stamp,
    /// `None` when the head is not complete for any state of the refs (some record was broken).
    refs: Option<RefState>,
    settled: SettledRef,
    /// How many entries of the settled log it names there are of each tally word, when known.
    tally: Option<Tally>,
    /// The live records, sorted by id.
    live: Vec<Entry>,
}

/// Which settled files the head goes with, and how much of each.
#[derive(Clone)]
struct SettledRef {
    token: String,
    /// The length of the lines.
    len: u64,
    /// The length of the texts.
    texts_len: u64,
    /// The length of the texts when they were last written whole.
    base: u64,
}

struct Settled {
    /// The lines (`<kind>.settled`).
    lines: Text,
    /// The texts (`<kind>.texts`), once loaded.
    texts: Option<Text>,
    /// The effective entries (the last one of each id, tombstones dropped), sorted by id.
    entries: Vec<Entry>,
}

impl Settled {
    fn empty() -> Self {
        Settled {
            lines: Text::Read(String::new()),
            texts: Some(Text::Read(String::new())),
            entries: Vec::new(),
        }
    }

    fn id(&self, e: &Entry) -> &str {
        &self.lines[e.id.clone()]
    }

    fn find(&self, id: &str) -> Option<&Entry> {
        let at = self.entries.binary_search_by(|e| self.id(e).cmp(id)).ok()?;
        self.entries.get(at)
    }

    /// How many entries there are of each tally word.
    fn tally(&self) -> Tally {
        let mut tally = Tally::new();
        for entry in &self.entries {
            *tally
                .entry(self.lines[entry.tally.clone()].to_string())
                .or_default() += 1;
        }
        tally
    }

    /// The entry as a [`Cached`] record, when the texts are loaded.
    fn cached(&self, e: &Entry) -> Option<Cached<'_>> {
        Some(Cached {
            id: self.id(e),
            tip: e.tip?,
            text: &self.texts.as_ref()?[e.text.clone()],
            tally: &self.lines[e.tally.clone()],
            summary: &self.lines[e.summary.clone()],
        })
    }

    fn brief(&self, e: &Entry) -> Option<Brief<'_>> {
        Some(Brief {
            id: self.id(e),
            tip: e.tip?,
            tally: &self.lines[e.tally.clone()],
            summary: &self.lines[e.summary.clone()],
        })
    }
}

pub struct Index {
    head_path: PathBuf,
    settled_path: PathBuf,
    texts_path: PathBuf,
    lock_path: PathBuf,
    head: Option<Head>,
    /// The head file as it was when loaded (whether or not it could be read).
    loaded_file: Option<Stamp>,
    settled: Option<Settled>,
    /// Records read since loading.
    put: HashMap<String, (ObjectId, Fresh)>,
    removed: HashSet<String>,
    /// A file time was too recent to trust: rewrite the head even if nothing changed, so that
    /// its own time moves on.
    racy: bool,
}

impl Index {
    /// Load the head of the cache of `name` in `dir`; anything unreadable counts as empty.
    pub fn load(dir: &Path, name: &str) -> Self {
        let head_path = dir.join(name);
        let mut loaded_file = None;
        let head = std::fs::File::open(&head_path).ok().and_then(|mut file| {
            let stamp = stamp_of(&file.metadata().ok()?)?;
            loaded_file = Some(stamp);
            let mut data = String::new();
            std::io::Read::read_to_string(&mut file, &mut data).ok()?;
            parse_head(data, stamp)
        });
        Index {
            loaded_file,
            settled_path: dir.join(format!("{name}.settled")),
            texts_path: dir.join(format!("{name}.texts")),
            lock_path: dir.join(format!("{name}.lock")),
            head_path,
            head,
            settled: None,
            put: HashMap::new(),
            removed: HashSet::new(),
            racy: false,
        }
    }

    /// The cached text of record `id`, if it was cached for this very tip.
    pub fn get(&self, id: &str, tip: ObjectId) -> Option<&str> {
        if let Some((t, fresh)) = self.put.get(id) {
            return (*t == tip).then_some(fresh.text.as_str());
        }
        if self.removed.contains(id) {
            return None;
        }
        let in_file = |data: &'_ str, entries: &[Entry]| -> Option<(ObjectId, Range<usize>)> {
            let at = entries
                .binary_search_by(|e| data[e.id.clone()].cmp(id))
                .ok()?;
            let entry = entries.get(at)?;
            Some((entry.tip?, entry.text.clone()))
        };
        if let Some(head) = &self.head
            && let Some((t, text)) = in_file(&head.data, &head.live)
        {
            return (t == tip).then(|| &head.data[text]);
        }
        let settled = self.settled.as_ref()?;
        let record = settled.cached(settled.find(id)?)?;
        (record.tip == tip).then_some(record.text)
    }

    /// Whether record `id` is cached for this very tip (its text need not be loaded).
    pub fn has(&self, id: &str, tip: ObjectId) -> bool {
        if let Some((t, _)) = self.put.get(id) {
            return *t == tip;
        }
        if self.removed.contains(id) {
            return false;
        }
        if let Some(head) = &self.head
            && let Ok(at) = head
                .live
                .binary_search_by(|e| head.data[e.id.clone()].cmp(id))
        {
            return head.live[at].tip == Some(tip);
        }
        self.settled
            .as_ref()
            .and_then(|s| s.find(id))
            .is_some_and(|e| e.tip == Some(tip))
    }

    /// Cache record `id` at `tip`.
    pub fn put(&mut self, id: &str, tip: ObjectId, fresh: Fresh) {
        self.removed.remove(id);
        self.put.insert(id.to_string(), (tip, fresh));
    }

    /// Drop whatever is cached of record `id` (it cannot be read now).
    pub fn forget(&mut self, id: &str) {
        self.put.remove(id);
        self.removed.insert(id.to_string());
    }

    /// Drop entries of records that no longer exist (`present` holds every record's id).
    pub fn retain(&mut self, present: &[&str]) {
        let present: HashSet<&str> = present.iter().copied().collect();
        self.put.retain(|id, _| present.contains(id.as_str()));
        let mut gone = Vec::new();
        if let Some(head) = &self.head {
            gone.extend(
                head.live
                    .iter()
                    .map(|e| &head.data[e.id.clone()])
                    .filter(|id| !present.contains(id))
                    .map(str::to_string),
            );
        }
        if let Some(settled) = &self.settled {
            gone.extend(
                settled
                    .entries
                    .iter()
                    .map(|e| settled.id(e))
                    .filter(|id| !present.contains(id))
                    .map(str::to_string),
            );
        }
        self.removed.extend(gone);
    }

    /// Every cached record in `scope`: those of the files (the settled ones only if their
    /// texts are loaded), with what was put since.
    pub fn records(&self, scope: Scope) -> impl Iterator<Item = Cached<'_>> {
        let live = self
            .head
            .iter()
            .flat_map(move |h| h.live.iter().filter_map(move |e| self.current(&h.data, e)));
        let settled = self
            .settled
            .iter()
            .filter(move |_| scope == Scope::All)
            .flat_map(move |s| {
                s.entries
                    .iter()
                    .filter_map(move |e| s.cached(e).filter(|r| self.untouched(r.id)))
            });
        live.chain(settled).chain(self.put_records(scope))
    }

    /// What [`records`](Self::records) gives, without the texts: the settled records need only
    /// their lines loaded.
    pub fn briefs(&self, scope: Scope) -> impl Iterator<Item = Brief<'_>> {
        fn brief(r: Cached<'_>) -> Brief<'_> {
            Brief {
                id: r.id,
                tip: r.tip,
                tally: r.tally,
                summary: r.summary,
            }
        }
        let live = self
            .head
            .iter()
            .flat_map(move |h| h.live.iter().filter_map(move |e| self.current(&h.data, e)))
            .map(brief);
        let settled = self
            .settled
            .iter()
            .filter(move |_| scope == Scope::All)
            .flat_map(move |s| {
                s.entries
                    .iter()
                    .filter_map(move |e| s.brief(e).filter(|r| self.untouched(r.id)))
            });
        live.chain(settled)
            .chain(self.put_records(scope).map(brief))
    }

    /// [`briefs`](Self::briefs) in descending order of id (ids are ULIDs: newest first), without
    /// sorting the settled ones, which the lines hold in order.
    pub fn briefs_descending(&self, scope: Scope) -> impl Iterator<Item = Brief<'_>> {
        let mut others: Vec<Brief<'_>> = self
            .head
            .iter()
            .flat_map(move |h| h.live.iter().filter_map(move |e| self.current(&h.data, e)))
            .chain(self.put_records(scope))
            .map(|r| Brief {
                id: r.id,
                tip: r.tip,
                tally: r.tally,
                summary: r.summary,
            })
            .collect();
        others.sort_by(|a, b| a.id.cmp(b.id));
        let settled = self
            .settled
            .iter()
            .filter(move |_| scope == Scope::All)
            .flat_map(move |s| {
                s.entries
                    .iter()
                    .rev()
                    .filter_map(move |e| s.brief(e).filter(|r| self.untouched(r.id)))
            });
        let mut others = others.into_iter().rev().peekable();
        let mut settled = settled.peekable();
        std::iter::from_fn(move || match (others.peek(), settled.peek()) {
            (Some(a), Some(b)) if a.id < b.id => settled.next(),
            (Some(_), _) => others.next(),
            (None, _) => settled.next(),
        })
    }

    fn put_records(&self, scope: Scope) -> impl Iterator<Item = Cached<'_>> {
        self.put
            .iter()
            .filter(move |(_, (_, fresh))| scope == Scope::All || !fresh.settled)
            .map(|(id, (tip, fresh))| Cached {
                id,
                tip: *tip,
                text: &fresh.text,
                tally: &fresh.tally,
                summary: &fresh.summary,
            })
    }

    /// Whether the entry of `id` in a file was neither replaced nor removed since loading.
    fn untouched(&self, id: &str) -> bool {
        (self.put.is_empty() && self.removed.is_empty())
            || (!self.put.contains_key(id) && !self.removed.contains(id))
    }

    /// An entry of the head, unless it was replaced or removed since loading.
    fn current<'a>(&self, data: &'a str, e: &Entry) -> Option<Cached<'a>> {
        let id = &data[e.id.clone()];
        let tip = e.tip?;
        self.untouched(id).then(|| Cached {
            id,
            tip,
            text: &data[e.text.clone()],
            tally: &data[e.tally.clone()],
            summary: &data[e.summary.clone()],
        })
    }

    /// How many records there are of each tally word, all of them (settled or not); `None`
    /// when that cannot be told without loading the settled log.
    pub fn tally(&self) -> Option<Tally> {
        let mut tally = self.settled_tally()?;
        for record in self.records(Scope::Live) {
            *tally.entry(record.tally.to_string()).or_default() += 1;
        }
        Some(tally)
    }

    /// The tally of the settled log as [`save`](Self::save) leaves it: the one the head
    /// recorded (or, without one, of the loaded log), less the entries replaced or removed
    /// since loading, plus the settled records put. `None` when an entry replaced or removed
    /// may be in a log that is not loaded.
    fn settled_tally(&self) -> Option<Tally> {
        let mut tally = match &self.head {
            Some(head) => match &head.tally {
                Some(tally) => tally.clone(),
                None => self.settled.as_ref()?.tally(),
            },
            // No head: the log is written whole from the records put.
            None => Tally::new(),
        };
        let changed = self
            .put
            .keys()
            .map(String::as_str)
            .chain(self.removed.iter().map(String::as_str));
        for id in changed {
            let old = match &self.settled {
                Some(settled) => settled
                    .find(id)
                    .filter(|e| e.tip.is_some())
                    .map(|e| &settled.lines[e.tally.clone()]),
                None if self.head.is_none() || self.in_head(id) => None,
                None => return None,
            };
            if let Some(old) = old
                && let Some(count) = tally.get_mut(old)
            {
                *count = count.saturating_sub(1);
            }
        }
        for (_, fresh) in self.put.values() {
            if fresh.settled {
                *tally.entry(fresh.tally.clone()).or_default() += 1;
            }
        }
        tally.retain(|_, count| *count > 0);
        Some(tally)
    }
}
