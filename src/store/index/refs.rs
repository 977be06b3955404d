//! The state of the ref files under a prefix, from their metadata alone: what the head of the
//! cache records, what tells a listing which loose refs changed, and what keys a memo.

use super::write::write_file;
use super::{Index, RACY_SECS};
use crate::git::loose_ref::read_loose;
use gix::ObjectId;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The identity, size and modification time of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) secs: i64,
    pub(super) nanos: i64,
}

impl Stamp {
    #[cfg(unix)]
    pub(super) fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            ino: meta.ino(),
            size: meta.size(),
            secs: meta.mtime(),
            nanos: meta.mtime_nsec(),
        }
    }

    pub(super) fn write(&self, out: &mut String) {
        out.push_str(&format!(
            "{} {} {} {}",
            self.ino, self.size, self.secs, self.nanos
        ));
    }

    pub(super) fn parse<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<Self> {
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
    pub(super) packed: Option<Stamp>,
    /// Loose refs by their name below the prefix, sorted.
    pub(super) loose: Vec<(String, Stamp)>,
}

/// What the head records of the ref files: [`RefFiles`] plus each loose ref's tip.
#[derive(Debug, Clone, PartialEq)]
pub struct RefState {
    pub(super) packed: Option<Stamp>,
    pub(super) loose: Vec<(String, Stamp, ObjectId)>,
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

/// How the files of archive refs are named among the ref files of a kind (never an id).
pub const ARCHIVE_MARK: &str = "archive/";

/// The ref files under `prefix` and, named [`ARCHIVE_MARK`]`<month>`, those of the kind's
/// archive refs under `archive_prefix`: a listing of the kind depends on both.
pub fn ref_files_with_archive(
    common_dir: &Path,
    prefix: &str,
    archive_prefix: &str,
) -> Option<RefFiles> {
    let mut files = ref_files(common_dir, prefix)?;
    let archive = ref_files(common_dir, archive_prefix)?;
    files.loose.extend(
        archive
            .loose
            .into_iter()
            .map(|(name, stamp)| (format!("{ARCHIVE_MARK}{name}"), stamp)),
    );
    files.loose.sort_by(|a, b| a.0.cmp(&b.0));
    Some(files)
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

pub(super) const MEMO_MAGIC: &str = "pm-memo 1";

/// The value in the memo file `path`, if it was worked out from exactly `files` (the ref files
/// under `prefixes`) and none of them is too recent to be trusted by its time.
pub(super) fn read_memo(path: &Path, prefixes: &[&str], files: &[RefFiles]) -> Option<String> {
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

#[cfg(unix)]
pub(super) fn stamp_of(meta: &std::fs::Metadata) -> Option<Stamp> {
    Some(Stamp::of(meta))
}

#[cfg(not(unix))]
pub(super) fn stamp_of(_meta: &std::fs::Metadata) -> Option<Stamp> {
    None
}

impl Index {
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
                // An archive ref: the same file as before, or the refs are read.
                if name.starts_with(ARCHIVE_MARK)
                    && let Some((was, tip)) = before.get(name.as_str())
                    && *was == stamp
                    && stamp.secs < racy_after
                {
                    state.push((name.clone(), *stamp, *tip));
                    continue;
                }
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
}
