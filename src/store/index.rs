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

use crate::fsutil::LockFile;
use crate::git::loose_ref::read_loose;
use gix::ObjectId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

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

/// The identity, size and modification time of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    ino: u64,
    size: u64,
    secs: i64,
    nanos: i64,
}

impl Stamp {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            ino: meta.ino(),
            size: meta.size(),
            secs: meta.mtime(),
            nanos: meta.mtime_nsec(),
        }
    }

    fn write(&self, out: &mut String) {
        out.push_str(&format!(
            "{} {} {} {}",
            self.ino, self.size, self.secs, self.nanos
        ));
    }

    fn parse<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<Self> {
        Some(Stamp {
            ino: fields.next()?.parse().ok()?,
            size: fields.next()?.parse().ok()?,
            secs: fields.next()?.parse().ok()?,
            nanos: fields.next()?.parse().ok()?,
        })
    }
}

/// The ref files under a prefix as they are now, from their metadata alone.
#[derive(Debug, Clone)]
pub struct RefFiles {
    /// `packed-refs`, if it exists.
    packed: Option<Stamp>,
    /// Loose refs by their name below the prefix, sorted.
    loose: Vec<(String, Stamp)>,
}

/// What the head records of the ref files: [`RefFiles`] plus each loose ref's tip.
#[derive(Debug, Clone, PartialEq)]
pub struct RefState {
    packed: Option<Stamp>,
    loose: Vec<(String, Stamp, ObjectId)>,
}

impl RefState {
    /// The state of `files`, given the tips just read from the refs (`tip_of` answers by the
    /// name below the prefix). `None` if a loose ref has no tip there (it moved meanwhile).
    pub fn from_listing(files: &RefFiles, tip_of: impl Fn(&str) -> Option<ObjectId>) -> Self {
        RefState {
            packed: files.packed,
            loose: files
                .loose
                .iter()
                .filter_map(|(name, stamp)| Some((name.clone(), *stamp, tip_of(name)?)))
                .collect(),
        }
    }
}

/// The ref files under `prefix` (such as `refs/pm/sessions/`) of the repository whose common
/// folder is `common_dir`. `None` where file identities are not available.
#[cfg(unix)]
pub fn ref_files(common_dir: &Path, prefix: &str) -> Option<RefFiles> {
    let packed = match std::fs::metadata(common_dir.join("packed-refs")) {
        Ok(meta) => Some(Stamp::of(&meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => return None,
    };
    let root = common_dir.join(prefix.trim_end_matches('/'));
    let mut loose = Vec::new();
    let mut stack = vec![(root, String::new())];
    while let Some((dir, below)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        for entry in entries {
            let entry = entry.ok()?;
            let meta = entry.metadata().ok()?;
            let name = format!("{below}{}", entry.file_name().to_str()?);
            if meta.is_dir() {
                stack.push((entry.path(), format!("{name}/")));
            } else {
                loose.push((name, Stamp::of(&meta)));
            }
        }
    }
    loose.sort_by(|a, b| a.0.cmp(&b.0));
    Some(RefFiles { packed, loose })
}

#[cfg(not(unix))]
pub fn ref_files(_common_dir: &Path, _prefix: &str) -> Option<RefFiles> {
    None
}

/// A small value worked out from the refs under some prefixes (such as how many records there
/// are to push and to merge), kept in the file `path` with the state of the ref files it was
/// worked out from: while they are the same files (as [`Index::changes`] tells), the value is
/// used again; otherwise `work_out` runs and, with `write`, the file is written again. The
/// ref files are looked at before `work_out` reads the refs, so a change made meanwhile makes
/// the next run work the value out again.
pub fn memo(
    path: &Path,
    common_dir: &Path,
    prefixes: &[&str],
    write: bool,
    work_out: impl FnOnce() -> Option<String>,
) -> Option<String> {
    let files: Option<Vec<RefFiles>> = prefixes
        .iter()
        .map(|prefix| ref_files(common_dir, prefix))
        .collect();
    if let Some(files) = &files
        && let Some(value) = read_memo(path, prefixes, files)
    {
        return Some(value);
    }
    let value = work_out()?;
    if write
        && !value.contains('\n')
        && let Some(files) = &files
        && let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let mut out = format!("{MEMO_MAGIC}\nvalue {value}\n");
        for (prefix, files) in prefixes.iter().zip(files) {
            out.push_str(&format!("prefix {prefix} "));
            match &files.packed {
                Some(stamp) => stamp.write(&mut out),
                None => out.push_str("none"),
            }
            out.push_str(&format!(" {}\n", files.loose.len()));
            for (name, stamp) in &files.loose {
                out.push_str(&format!("{name} "));
                stamp.write(&mut out);
                out.push('\n');
            }
        }
        write_file(dir, path, out.as_bytes());
    }
    Some(value)
}

const MEMO_MAGIC: &str = "pm-memo 1";

/// The value in the memo file `path`, if it was worked out from exactly `files` (the ref files
/// under `prefixes`) and none of them is too recent to be trusted by its time.
fn read_memo(path: &Path, prefixes: &[&str], files: &[RefFiles]) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let own = stamp_of(&file.metadata().ok()?)?;
    let mut data = String::new();
    std::io::Read::read_to_string(&mut file, &mut data).ok()?;
    let racy_after = own.secs - RACY_SECS;
    let trusted = |stamp: &Stamp| stamp.secs < racy_after;
    let mut lines = data.lines();
    if lines.next()? != MEMO_MAGIC {
        return None;
    }
    let value = lines.next()?.strip_prefix("value ")?;
    for (prefix, now) in prefixes.iter().zip(files) {
        let mut fields = lines.next()?.strip_prefix("prefix ")?.split(' ');
        if fields.next()? != *prefix {
            return None;
        }
        let packed = match fields.clone().next()? {
            "none" => fields.next().and(None),
            _ => Some(Stamp::parse(&mut fields)?),
        };
        let count: usize = fields.next()?.parse().ok()?;
        if packed != now.packed || !packed.as_ref().is_none_or(trusted) || count != now.loose.len()
        {
            return None;
        }
        for (name, stamp) in &now.loose {
            let mut fields = lines.next()?.split(' ');
            if fields.next()? != name || Stamp::parse(&mut fields)? != *stamp || !trusted(stamp) {
                return None;
            }
        }
    }
    lines.next().is_none().then(|| value.to_string())
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

    /// Read the settled lines and texts the head names. False if they cannot be read as the
    /// head says; the cache then counts as empty (and is rebuilt).
    pub fn load_settled(&mut self) -> bool {
        self.load_settled_lines() && self.load_settled_texts()
    }

    /// Read the settled lines the head names (not the texts): enough for
    /// [`briefs`](Self::briefs) and [`tally`](Self::tally). False as for
    /// [`load_settled`](Self::load_settled).
    pub fn load_settled_lines(&mut self) -> bool {
        if self.settled.is_some() {
            return true;
        }
        let Some(head) = &self.head else {
            self.settled = Some(Settled::empty());
            return true;
        };
        match read_settled(&self.settled_path, &head.settled) {
            Some(settled) => {
                self.settled = Some(settled);
                true
            }
            None => self.forget_files(),
        }
    }

    /// Read the settled texts, after the lines. False as for
    /// [`load_settled`](Self::load_settled).
    fn load_settled_texts(&mut self) -> bool {
        let Some(settled) = &mut self.settled else {
            return false;
        };
        if settled.texts.is_some() {
            return true;
        }
        let Some(head) = &self.head else {
            return false;
        };
        match read_texts(&self.texts_path, &head.settled, &settled.entries) {
            Some(texts) => {
                settled.texts = Some(texts);
                true
            }
            None => self.forget_files(),
        }
    }

    /// The settled files are not as the head says: the cache counts as empty. Returns false.
    fn forget_files(&mut self) -> bool {
        self.head = None;
        self.settled = Some(Settled::empty());
        false
    }

    /// Compare the ref files now with those the head was made from. When only loose refs
    /// changed (or none), the new state and the records whose tip moved (by id); `None` when
    /// the refs must be read. Reads the changed loose refs under `prefix` in `common_dir`.
    pub fn changes(
        &mut self,
        now: &RefFiles,
        common_dir: &Path,
        prefix: &str,
    ) -> Option<(RefState, Vec<(String, ObjectId)>)> {
        let head = self.head.as_ref()?;
        let recorded = head.refs.as_ref()?;
        let racy_after = head.file.secs - RACY_SECS;
        if recorded.packed != now.packed {
            return None;
        }
        if now.packed.is_some_and(|p| p.secs >= racy_after) {
            self.racy = true;
            return None;
        }
        let before: HashMap<&str, (&Stamp, ObjectId)> = recorded
            .loose
            .iter()
            .map(|(name, stamp, tip)| (name.as_str(), (stamp, *tip)))
            .collect();
        let present: HashSet<&str> = now.loose.iter().map(|(n, _)| n.as_str()).collect();
        if before.keys().any(|name| !present.contains(name)) {
            // A loose ref was deleted (or packed, but that changes packed-refs).
            return None;
        }
        let mut state = Vec::with_capacity(now.loose.len());
        let mut changed = Vec::new();
        let mut racy = false;
        for (name, stamp) in &now.loose {
            if !crate::model::id::is_canonical_id(name) {
                return None;
            }
            if let Some((was, tip)) = before.get(name.as_str())
                && *was == stamp
                && stamp.secs < racy_after
            {
                state.push((name.clone(), *stamp, *tip));
                continue;
            }
            racy |= stamp.secs >= racy_after;
            let tip = read_loose(&common_dir.join(prefix).join(name)).ok()??;
            let moved = match before.get(name.as_str()) {
                Some((_, was)) => *was != tip,
                None => self.get(name, tip).is_none(),
            };
            if moved {
                changed.push((name.clone(), tip));
            }
            state.push((name.clone(), *stamp, tip));
        }
        self.racy |= racy;
        Some((
            RefState {
                packed: now.packed,
                loose: state,
            },
            changed,
        ))
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

    /// Write what changed, with `refs` as the state of the ref files the records now match
    /// (`None`: the cache is not complete for any state). Failures are ignored: it is a cache.
    pub fn save(&mut self, refs: Option<RefState>) {
        let same_refs = self.head.as_ref().map(|h| &h.refs) == Some(&refs);
        // A tally the head lacks is written once the log it counts has been loaded.
        let tally_learnt =
            self.settled.is_some() && self.head.as_ref().is_some_and(|h| h.tally.is_none());
        if same_refs
            && !self.racy
            && !tally_learnt
            && self.put.is_empty()
            && self.removed.is_empty()
        {
            return;
        }
        let Some(dir) = self.head_path.parent().map(Path::to_path_buf) else {
            return;
        };
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let Some(_lock) = take_lock(&self.lock_path) else {
            return;
        };
        // Another writer may have replaced the head since it was loaded.
        let on_disk = std::fs::metadata(&self.head_path)
            .ok()
            .and_then(|m| stamp_of(&m));
        if on_disk != self.loaded_file {
            return;
        }
        let Some(settled) = self.save_settled() else {
            return;
        };
        let mut out = String::with_capacity(self.head.as_ref().map_or(4096, |h| h.data.len()));
        out.push_str(MAGIC);
        out.push('\n');
        match &refs {
            None => out.push_str("refs -\n"),
            Some(state) => {
                out.push_str("refs ");
                match &state.packed {
                    Some(stamp) => stamp.write(&mut out),
                    None => out.push_str("none"),
                }
                out.push_str(&format!("\nloose {}\n", state.loose.len()));
                for (name, stamp, tip) in &state.loose {
                    out.push_str(&format!("{name} {tip} "));
                    stamp.write(&mut out);
                    out.push('\n');
                }
            }
        }
        out.push_str(&format!(
            "settled {} {} {} {}\n",
            settled.token, settled.len, settled.texts_len, settled.base
        ));
        out.push_str("tally");
        match self.settled_tally() {
            Some(tally) => {
                for (word, count) in &tally {
                    out.push_str(&format!(" {word}={count}"));
                }
            }
            None => out.push_str(" -"),
        }
        out.push('\n');
        let mut live: Vec<Cached<'_>> = self.records(Scope::Live).collect();
        live.sort_by(|a, b| a.id.cmp(b.id));
        for record in live {
            write_entry(&mut out, record.id, Some(&record));
        }
        write_file(&dir, &self.head_path, out.as_bytes());
    }

    /// Bring the settled files up to date (appending, or rewriting them whole) and say which
    /// files and lengths the new head goes with. `None` if they could not be written.
    fn save_settled(&mut self) -> Option<SettledRef> {
        let to_add: Vec<Cached<'_>> = self
            .put
            .iter()
            .filter(|(_, (_, fresh))| fresh.settled)
            .map(|(id, (tip, fresh))| Cached {
                id,
                tip: *tip,
                text: &fresh.text,
                tally: &fresh.tally,
                summary: &fresh.summary,
            })
            .filter(|record| !self.in_settled_at(record.id, record.tip))
            .collect();
        // Records that left the log: now live, or gone. A record is in the head or in the log,
        // never both, so one the head held is not in the log; without the log loaded, any
        // other might be, and gets a tombstone anyway (harmless when it was not).
        let mut to_remove: Vec<&str> = self
            .put
            .iter()
            .filter(|(_, (_, fresh))| !fresh.settled)
            .map(|(id, _)| id.as_str())
            .chain(self.removed.iter().map(String::as_str))
            .filter(|id| match &self.settled {
                Some(_) => self.in_settled(id),
                None => !self.in_head(id),
            })
            .collect();
        let head = self.head.as_ref().map(|h| h.settled.clone());
        let Some(current) = head else {
            return self.rewrite_settled();
        };
        if to_add.is_empty() && to_remove.is_empty() {
            return Some(current);
        }
        let grown = current.texts_len > 2 * current.base + 1024 * 1024;
        if self.settled.is_some() && grown {
            return self.rewrite_settled();
        }
        let mut lines = String::new();
        let mut texts = String::new();
        to_remove.sort();
        for id in to_remove {
            write_line(&mut lines, id, None);
        }
        for record in &to_add {
            let at = current.texts_len as usize + texts.len();
            texts.push_str(record.text);
            texts.push('\n');
            write_line(&mut lines, record.id, Some((record, at)));
        }
        // The texts first: no line points past the texts the head covers.
        let appended = append_at(&self.texts_path, current.texts_len, &texts)
            .and_then(|()| append_at(&self.settled_path, current.len, &lines));
        match appended {
            Some(()) => Some(SettledRef {
                len: current.len + lines.len() as u64,
                texts_len: current.texts_len + texts.len() as u64,
                ..current
            }),
            // The files are not as the head left them: write them whole from what they held.
            None if self.load_settled() => self.rewrite_settled(),
            None => None,
        }
    }

    fn in_head(&self, id: &str) -> bool {
        self.head.as_ref().is_some_and(|h| {
            h.live
                .binary_search_by(|e| h.data[e.id.clone()].cmp(id))
                .is_ok()
        })
    }

    fn in_settled(&self, id: &str) -> bool {
        self.settled.as_ref().is_some_and(|s| s.find(id).is_some())
    }

    fn in_settled_at(&self, id: &str, tip: ObjectId) -> bool {
        self.settled
            .as_ref()
            .and_then(|s| s.find(id))
            .is_some_and(|e| e.tip == Some(tip))
    }

    /// Write the settled files whole under a new token: their effective entries with what
    /// changed. They are read first if they were not (nothing is written if they cannot be).
    fn rewrite_settled(&mut self) -> Option<SettledRef> {
        if !self.load_settled() {
            return None;
        }
        let token = crate::model::new_id();
        let mut lines = format!("{SETTLED_MAGIC} {token}\n");
        let mut texts = format!("{TEXTS_MAGIC} {token}\n");
        let mut all: Vec<Cached<'_>> = self
            .records(Scope::All)
            .filter(|record| match self.put.get(record.id) {
                Some((_, fresh)) => fresh.settled,
                None => self.in_settled(record.id),
            })
            .collect();
        all.sort_by(|a, b| a.id.cmp(b.id));
        for record in &all {
            let at = texts.len();
            texts.push_str(record.text);
            texts.push('\n');
            write_line(&mut lines, record.id, Some((record, at)));
        }
        let dir = self.settled_path.parent()?;
        let written = write_file(dir, &self.texts_path, texts.as_bytes())
            && write_file(dir, &self.settled_path, lines.as_bytes());
        written.then_some(SettledRef {
            token,
            len: lines.len() as u64,
            texts_len: texts.len() as u64,
            base: texts.len() as u64,
        })
    }
}

/// Append `text` to the file at `path` if it is `len` bytes long, as the head says.
fn append_at(path: &Path, len: u64, text: &str) -> Option<()> {
    if text.is_empty() {
        return Some(());
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.len() == len))
        .and_then(|mut f| f.write_all(text.as_bytes()).ok())
}

/// Take the cache's lock; one older than [`STALE_LOCK_SECS`] was left by a crashed writer and
/// is taken over.
fn take_lock(path: &Path) -> Option<LockFile> {
    if let Ok(lock) = LockFile::create(path) {
        return Some(lock);
    }
    let stale = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > STALE_LOCK_SECS);
    if stale && std::fs::remove_file(path).is_ok() {
        return LockFile::create(path).ok();
    }
    None
}

#[cfg(unix)]
fn stamp_of(meta: &std::fs::Metadata) -> Option<Stamp> {
    Some(Stamp::of(meta))
}

#[cfg(not(unix))]
fn stamp_of(_meta: &std::fs::Metadata) -> Option<Stamp> {
    None
}

/// Write `bytes` to `path` through a temporary file renamed into place.
fn write_file(dir: &Path, path: &Path, bytes: &[u8]) -> bool {
    let tmp = dir.join(super::local::temp_name(super::local::INDEX_TEMP_PREFIX));
    crate::fsutil::write_atomic(&tmp, path, bytes).is_ok()
}

/// Write one entry: `<id> <tip> <length> <tally word> <summary>`, then the text on its own
/// line. A tombstone (no record) is `<id> - 0 - -` and an empty line.
fn write_entry(out: &mut String, id: &str, record: Option<&Cached<'_>>) {
    let Some(record) = record else {
        out.push_str(id);
        out.push_str(" - 0 - -\n\n");
        return;
    };
    let (tally, summary) = header_fields(record);
    out.push_str(&format!(
        "{id} {} {} {tally} {summary}\n",
        record.tip,
        record.text.len()
    ));
    out.push_str(record.text);
    out.push('\n');
}

/// Write one settled line: `<id> <tip> <offset> <length> <tally word> <summary>`, the text
/// being at `offset` in the texts. A tombstone (no record) is `<id> - 0 0 - -`.
fn write_line(out: &mut String, id: &str, record: Option<(&Cached<'_>, usize)>) {
    let Some((record, at)) = record else {
        out.push_str(id);
        out.push_str(" - 0 0 - -\n");
        return;
    };
    let (tally, summary) = header_fields(record);
    out.push_str(&format!(
        "{id} {} {at} {} {tally} {summary}\n",
        record.tip,
        record.text.len()
    ));
}

/// A record's tally word and summary as an entry's header holds them: a word or summary that
/// would break the header line (split at spaces, the summary last) is not kept.
fn header_fields<'a>(record: &Cached<'a>) -> (&'a str, &'a str) {
    let word_ok = !record.tally.is_empty()
        && !record
            .tally
            .bytes()
            .any(|b| b == b' ' || b == b'=' || b.is_ascii_control());
    let summary_ok = !record.summary.is_empty() && !record.summary.contains('\n');
    (
        if word_ok { record.tally } else { "-" },
        if summary_ok { record.summary } else { "{}" },
    )
}

/// The head in `data`, or `None` if it is damaged (then the cache is rebuilt).
fn parse_head(data: String, file: Stamp) -> Option<Head> {
    let mut at = 0;
    let mut line = || -> Option<&str> {
        let rest = data.get(at..)?;
        let end = rest.find('\n')?;
        at += end + 1;
        Some(&rest[..end])
    };
    if line()? != MAGIC {
        return None;
    }
    let refs_line = line()?.strip_prefix("refs ")?;
    let refs = if refs_line == "-" {
        None
    } else {
        let packed = if refs_line == "none" {
            None
        } else {
            Some(Stamp::parse(&mut refs_line.split(' '))?)
        };
        let count: usize = line()?.strip_prefix("loose ")?.parse().ok()?;
        let mut loose = Vec::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let mut fields = line()?.split(' ');
            let name = fields.next()?.to_string();
            let tip = ObjectId::from_hex(fields.next()?.as_bytes()).ok()?;
            loose.push((name, Stamp::parse(&mut fields)?, tip));
        }
        Some(RefState { packed, loose })
    };
    let mut settled = line()?.strip_prefix("settled ")?.split(' ');
    let settled = SettledRef {
        token: settled.next()?.to_string(),
        len: settled.next()?.parse().ok()?,
        texts_len: settled.next()?.parse().ok()?,
        base: settled.next()?.parse().ok()?,
    };
    let tally = match line()?.strip_prefix("tally")? {
        " -" => None,
        words => {
            let mut tally = Tally::new();
            for field in words.split(' ').filter(|f| !f.is_empty()) {
                let (word, count) = field.split_once('=')?;
                tally.insert(word.to_string(), count.parse().ok()?);
            }
            Some(tally)
        }
    };
    let (live, sorted) = parse_entries(&data, at)?;
    if !sorted || live.iter().any(|e| e.tip.is_none()) {
        return None;
    }
    Some(Head {
        data,
        file,
        refs,
        settled,
        tally,
        live,
    })
}

/// The text of a settled log, read into memory or (a large one) mapped.
enum Text {
    Read(String),
    /// Checked to be UTF-8 when mapped. The log is only ever appended to (beyond the length
    /// mapped) or replaced by renaming another file over it, which leaves the mapped file as
    /// it was: the mapped bytes do not change while they are mapped. (Only another program
    /// writing into the cache's files in place could change them, as for git's pack files,
    /// which gix maps the same way.)
    Mapped(memmap2::Mmap),
}

/// Settled logs at least this long are mapped rather than read: a long history's log takes
/// tens of megabytes, and reading copies every page of it, where mapping shares the pages the
/// kernel already holds.
const MAP_FROM: usize = 1 << 20;

impl Text {
    /// The first `len` bytes of `file`, if it has them and they are UTF-8.
    fn of(mut file: std::fs::File, len: usize) -> Option<Self> {
        if file.metadata().ok()?.len() < len as u64 {
            return None;
        }
        if len < MAP_FROM {
            let mut bytes = vec![0; len];
            std::io::Read::read_exact(&mut file, &mut bytes).ok()?;
            return String::from_utf8(bytes).ok().map(Text::Read);
        }
        // SAFETY: the mapping is read only, and the log's first `len` bytes (all that is
        // mapped, and the file has them) are never written while it exists: see `Mapped`.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file) }.ok()?;
        std::str::from_utf8(&map).ok()?;
        Some(Text::Mapped(map))
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Read(text) => text,
            // SAFETY: checked to be UTF-8 when mapped, and the mapped bytes do not change.
            Text::Mapped(map) => unsafe { std::str::from_utf8_unchecked(map) },
        }
    }
}

/// The settled lines `wanted` names, their effective entries sorted by id (the texts are not
/// read).
fn read_settled(path: &Path, wanted: &SettledRef) -> Option<Settled> {
    let file = std::fs::File::open(path).ok()?;
    let lines = Text::of(file, usize::try_from(wanted.len).ok()?)?;
    let first = lines.find('\n')?;
    if lines[..first]
        .strip_prefix(SETTLED_MAGIC)?
        .strip_prefix(' ')?
        != wanted.token
    {
        return None;
    }
    let texts_len = usize::try_from(wanted.texts_len).ok()?;
    let (mut entries, sorted) = parse_lines(&lines, first + 1, texts_len)?;
    if !sorted {
        // The last line of each id wins: a stable sort keeps their order, then keep each
        // run's last.
        entries.sort_by(|a, b| lines[a.id.clone()].cmp(&lines[b.id.clone()]));
        let mut effective: Vec<Entry> = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(last) = effective.last()
                && lines[last.id.clone()] == lines[entry.id.clone()]
            {
                effective.pop();
            }
            effective.push(entry);
        }
        effective.retain(|e| e.tip.is_some());
        entries = effective;
    }
    Some(Settled {
        lines,
        texts: None,
        entries,
    })
}

/// The settled texts `wanted` names, if every entry's text is where its line says (whole
/// characters after the first line, each followed by a line break).
fn read_texts(path: &Path, wanted: &SettledRef, entries: &[Entry]) -> Option<Text> {
    let file = std::fs::File::open(path).ok()?;
    let texts = Text::of(file, usize::try_from(wanted.texts_len).ok()?)?;
    let first = texts.find('\n')?;
    if texts[..first]
        .strip_prefix(TEXTS_MAGIC)?
        .strip_prefix(' ')?
        != wanted.token
    {
        return None;
    }
    let whole = |e: &Entry| {
        e.text.start > first
            && texts.get(e.text.clone()).is_some()
            && texts.as_bytes().get(e.text.end) == Some(&b'\n')
    };
    entries.iter().all(whole).then_some(texts)
}

/// The settled lines from byte `at` of `data` to its end, in file order, none pointing past
/// `texts_len`, and whether they are sorted by id with no id twice and no tombstone.
fn parse_lines(data: &str, mut at: usize, texts_len: usize) -> Option<(Vec<Entry>, bool)> {
    let bytes = data.as_bytes();
    // A line takes about a hundred bytes.
    let mut entries = Vec::with_capacity((data.len() - at.min(data.len())) / 64);
    let mut sorted = true;
    while at < data.len() {
        let line_end = at + memchr::memchr(b'\n', &bytes[at..])?;
        let line = &data[at..line_end];
        let mut rest = line;
        let mut field = || -> Option<&str> {
            let (field, tail) = rest.split_at(memchr::memchr(b' ', rest.as_bytes())?);
            rest = &tail[1..];
            Some(field)
        };
        let id = field()?;
        let tip = field()?;
        let offset = field()?.parse::<usize>().ok()?;
        let len = field()?.parse::<usize>().ok()?;
        let tally = field()?;
        let summary = rest;
        let tip = match tip {
            "-" => None,
            hex => Some(ObjectId::from_hex(hex.as_bytes()).ok()?),
        };
        let text_end = offset.checked_add(len)?;
        if tip.is_some() && text_end >= texts_len {
            return None;
        }
        // The fields are split at single spaces: the summary ends the line, the word is
        // just before it.
        let summary_start = line_end - summary.len();
        let tally_start = summary_start - 1 - tally.len();
        sorted &= tip.is_some()
            && entries
                .last()
                .is_none_or(|last: &Entry| data[last.id.clone()] < *id);
        entries.push(Entry {
            id: at..at + id.len(),
            tip,
            text: offset..text_end,
            tally: tally_start..tally_start + tally.len(),
            summary: summary_start..line_end,
        });
        at = line_end + 1;
    }
    Some((entries, sorted))
}

/// The entries from byte `at` of `data` to its end, in file order, and whether they are
/// sorted by id with no id twice and no tombstone.
fn parse_entries(data: &str, mut at: usize) -> Option<(Vec<Entry>, bool)> {
    let bytes = data.as_bytes();
    // Records take a few hundred bytes each.
    let mut entries = Vec::with_capacity((data.len() - at.min(data.len())) / 256);
    let mut sorted = true;
    while at < data.len() {
        let line_end = at + memchr::memchr(b'\n', &bytes[at..])?;
        let mut fields = data[at..line_end].splitn(5, ' ');
        let id = fields.next()?;
        let tip = fields.next()?;
        let len = fields.next()?.parse::<usize>().ok()?;
        let tally = fields.next()?;
        let summary = fields.next()?;
        let tip = match tip {
            "-" => None,
            hex => Some(ObjectId::from_hex(hex.as_bytes()).ok()?),
        };
        let text_start = line_end + 1;
        let text_end = text_start.checked_add(len)?;
        data.get(text_start..text_end)?;
        if bytes.get(text_end) != Some(&b'\n') {
            return None;
        }
        // The fields are split at single spaces: the summary ends the line, the word is
        // just before it.
        let summary_start = line_end - summary.len();
        let tally_start = summary_start - 1 - tally.len();
        let entry = Entry {
            id: at..at + id.len(),
            tip,
            text: text_start..text_end,
            tally: tally_start..tally_start + tally.len(),
            summary: summary_start..line_end,
        };
        sorted &= tip.is_some()
            && entries
                .last()
                .is_none_or(|last: &Entry| data[last.id.clone()] < *id);
        entries.push(entry);
        at = text_end + 1;
    }
    Some((entries, sorted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(n: u8) -> ObjectId {
        ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
    }

    fn fresh(text: &str, settled: bool) -> Fresh {
        Fresh {
            text: text.into(),
            settled,
            tally: if settled { "done" } else { "open" }.into(),
            summary: "{}".into(),
        }
    }

    /// The records in `scope` as (id, tip, text).
    fn texts(index: &Index, scope: Scope) -> Vec<(&str, ObjectId, &str)> {
        index
            .records(scope)
            .map(|r| (r.id, r.tip, r.text))
            .collect()
    }

    fn state() -> RefState {
        RefState {
            packed: None,
            loose: Vec::new(),
        }
    }

    #[test]
    fn round_trips_live_and_settled_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::load(dir.path(), "sessions");
        assert!(index.load_settled());
        index.put("B", tip(1), fresh("{\"b\":\"multi\\nline\"}", false));
        index.put("A", tip(2), fresh("{\"a\":1}", true));
        index.save(Some(state()));

        let mut again = Index::load(dir.path(), "sessions");
        let live = texts(&again, Scope::Live);
        assert_eq!(live, vec![("B", tip(1), "{\"b\":\"multi\\nline\"}")]);
        assert_eq!(again.get("A", tip(2)), None, "settled log not loaded yet");
        assert!(again.load_settled());
        assert_eq!(again.get("A", tip(2)), Some("{\"a\":1}"));
        assert_eq!(again.get("A", tip(3)), None);

        // B settles, A comes back to life: appended to the log, not rewritten.
        let mut third = Index::load(dir.path(), "sessions");
        third.put("B", tip(4), fresh("{\"b\":2}", true));
        third.put("A", tip(5), fresh("{\"a\":3}", false));
        third.save(Some(state()));
        let mut fourth = Index::load(dir.path(), "sessions");
        assert!(fourth.load_settled());
        let mut all = texts(&fourth, Scope::All);
        all.sort();
        assert_eq!(
            all,
            vec![("A", tip(5), "{\"a\":3}"), ("B", tip(4), "{\"b\":2}")]
        );
        let live = texts(&fourth, Scope::Live);
        assert_eq!(live, vec![("A", tip(5), "{\"a\":3}")]);

        // A record that is gone leaves both files.
        fourth.retain(&["A"]);
        fourth.save(Some(state()));
        let mut fifth = Index::load(dir.path(), "sessions");
        assert!(fifth.load_settled());
        let all = texts(&fifth, Scope::All);
        assert_eq!(all, vec![("A", tip(5), "{\"a\":3}")]);
    }

    #[test]
    fn damage_and_foreign_writes_empty_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::load(dir.path(), "issues");
        index.put("A", tip(1), fresh("{}", true));
        index.save(Some(state()));
        let settled = dir.path().join("issues.settled");
        let head = dir.path().join("issues");

        // Bytes appended by a writer that crashed before its head was written are ignored.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&settled)
            .unwrap();
        file.write_all(b"A - 0 - -\n\n").unwrap();
        let mut loaded = Index::load(dir.path(), "issues");
        assert!(loaded.load_settled());
        assert_eq!(loaded.get("A", tip(1)), Some("{}"));

        // Texts that are not where the lines say are not used.
        let texts = dir.path().join("issues.texts");
        let good = std::fs::read(&texts).unwrap();
        let mut moved = good.clone();
        moved.insert(moved.len() - 3, b' ');
        moved.pop();
        std::fs::write(&texts, &moved).unwrap();
        let mut loaded = Index::load(dir.path(), "issues");
        assert!(!loaded.load_settled());
        assert_eq!(loaded.get("A", tip(1)), None);
        std::fs::write(&texts, &good).unwrap();

        // A log under another token (rewritten by someone else) is not used.
        std::fs::write(&settled, "pm-settled OTHER\n").unwrap();
        let mut loaded = Index::load(dir.path(), "issues");
        assert!(!loaded.load_settled());
        assert_eq!(loaded.get("A", tip(1)), None);

        let bytes = std::fs::read(&head).unwrap();
        for damage in [&bytes[..bytes.len() / 2], b"garbage", b""] {
            std::fs::write(&head, damage).unwrap();
            let loaded = Index::load(dir.path(), "issues");
            assert!(loaded.head.is_none());
        }
    }

    fn counts(pairs: &[(&str, usize)]) -> Tally {
        pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
    }

    #[test]
    fn the_tally_is_kept_without_loading_the_settled_log_when_it_can_be() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::load(dir.path(), "sessions");
        assert!(index.load_settled());
        index.put("A", tip(1), fresh("{}", true));
        index.put("B", tip(2), fresh("{}", true));
        index.put("C", tip(3), fresh("{}", false));
        assert_eq!(index.tally(), Some(counts(&[("done", 2), ("open", 1)])));
        index.save(Some(state()));

        // Known from the head alone.
        let loaded = Index::load(dir.path(), "sessions");
        assert_eq!(loaded.tally(), Some(counts(&[("done", 2), ("open", 1)])));

        // A live record settles: it was in the head, so not in the log.
        let mut index = Index::load(dir.path(), "sessions");
        index.put("C", tip(4), fresh("{}", true));
        assert_eq!(index.tally(), Some(counts(&[("done", 3)])));
        index.save(Some(state()));
        let loaded = Index::load(dir.path(), "sessions");
        assert_eq!(loaded.tally(), Some(counts(&[("done", 3)])));

        // A settled record changes: what it was counted as is in the log, not loaded.
        let mut index = Index::load(dir.path(), "sessions");
        let mut back = fresh("{}", false);
        back.tally = "open".into();
        index.put("A", tip(5), back);
        assert_eq!(index.tally(), None);
        index.save(Some(state()));
        let mut loaded = Index::load(dir.path(), "sessions");
        assert_eq!(loaded.tally(), None, "the head does not know it");
        assert!(loaded.load_settled());
        assert_eq!(loaded.tally(), Some(counts(&[("done", 2), ("open", 1)])));
        // Written once learnt, even with nothing else to write.
        loaded.save(Some(state()));
        let loaded = Index::load(dir.path(), "sessions");
        assert_eq!(loaded.tally(), Some(counts(&[("done", 2), ("open", 1)])));

        // A record that is gone is no longer counted.
        let mut index = Index::load(dir.path(), "sessions");
        assert!(index.load_settled());
        index.retain(&["A", "C"]);
        assert_eq!(index.tally(), Some(counts(&[("done", 1), ("open", 1)])));
    }

    #[test]
    fn summaries_and_words_are_kept_beside_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::load(dir.path(), "sessions");
        assert!(index.load_settled());
        let mut record = fresh("{\"x\": \"a b\"}", true);
        record.summary = "{\"branch\":\"a b\"}".into();
        index.put("A", tip(1), record);
        index.save(Some(state()));
        let mut loaded = Index::load(dir.path(), "sessions");
        assert!(loaded.load_settled());
        let all: Vec<Cached<'_>> = loaded.records(Scope::All).collect();
        assert_eq!(
            all,
            vec![Cached {
                id: "A",
                tip: tip(1),
                text: "{\"x\": \"a b\"}",
                tally: "done",
                summary: "{\"branch\":\"a b\"}",
            }]
        );
    }

    #[test]
    fn a_large_settled_log_is_read_the_same_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::load(dir.path(), "sessions");
        assert!(index.load_settled());
        let text = |n: usize| format!("{{\"n\":{n},\"pad\":\"{}\"}}", "é".repeat(200));
        let id = |n: usize| format!("{n:026}");
        for n in 0..4000 {
            index.put(&id(n), tip(1), fresh(&text(n), true));
        }
        index.save(Some(state()));
        let log = dir.path().join("sessions.texts");
        assert!(std::fs::metadata(&log).unwrap().len() as usize > MAP_FROM);
        // What a writer that crashed appended is not part of the log.
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(b"garbage").unwrap();
        // The lines alone, then the texts.
        let mut loaded = Index::load(dir.path(), "sessions");
        assert!(loaded.load_settled_lines());
        assert_eq!(loaded.briefs(Scope::All).count(), 4000);
        assert_eq!(
            loaded.records(Scope::All).count(),
            0,
            "no text is loaded yet"
        );
        assert!(loaded.has(&id(1234), tip(1)));
        assert!(loaded.load_settled());
        let texts = loaded.settled.as_ref().unwrap().texts.as_ref().unwrap();
        assert!(matches!(texts, Text::Mapped(_)));
        assert_eq!(loaded.records(Scope::All).count(), 4000);
        assert_eq!(loaded.get(&id(1234), tip(1)), Some(text(1234).as_str()));
        assert_eq!(loaded.tally(), Some(counts(&[("done", 4000)])));
        // Texts shorter than the head says are not used.
        let bytes = std::fs::read(&log).unwrap();
        std::fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
        let mut loaded = Index::load(dir.path(), "sessions");
        assert!(loaded.load_settled_lines());
        assert!(!loaded.load_settled());
        assert_eq!(loaded.records(Scope::All).count(), 0);
        assert_eq!(loaded.briefs(Scope::All).count(), 0);
    }

    #[test]
    fn briefs_come_newest_first_without_a_sort_of_the_settled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::load(dir.path(), "sessions");
        assert!(index.load_settled());
        for (id, settled) in [
            ("A", true),
            ("C", false),
            ("E", true),
            ("G", false),
            ("I", true),
        ] {
            index.put(id, tip(1), fresh("{}", settled));
        }
        index.save(Some(state()));
        let mut loaded = Index::load(dir.path(), "sessions");
        assert!(loaded.load_settled_lines());
        // Changed since: one settles, one comes back to life, one is new, one is gone.
        loaded.put("C", tip(2), fresh("{}", true));
        loaded.put("E", tip(2), fresh("{}", false));
        loaded.put("H", tip(2), fresh("{}", true));
        loaded.retain(&["C", "E", "G", "H", "I"]);
        let ids: Vec<&str> = loaded.briefs_descending(Scope::All).map(|b| b.id).collect();
        assert_eq!(ids, ["I", "H", "G", "E", "C"]);
        let mut unsorted: Vec<&str> = loaded.briefs(Scope::All).map(|b| b.id).collect();
        unsorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(unsorted, ids);
        let live: Vec<&str> = loaded
            .briefs_descending(Scope::Live)
            .map(|b| b.id)
            .collect();
        assert_eq!(live, ["G", "E"]);
    }

    #[test]
    fn a_held_lock_stops_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("issues.lock"), "").unwrap();
        let mut index = Index::load(dir.path(), "issues");
        index.put("A", tip(1), fresh("{}", false));
        index.save(Some(state()));
        assert!(!dir.path().join("issues").exists());
    }
}
