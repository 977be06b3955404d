//! A disposable local cache of parsed records (their JSON form), kept in
//! `.git/pm/index/<kind>`, keyed by each record ref's tip commit. Listing checks every entry
//! against the refs it has just read, so the cache can never be stale whoever moved the refs;
//! a missing or damaged file is simply rebuilt. It saves reading three (possibly deltified,
//! compressed) objects and parsing TOML per record.
//!
//! The file is read once into one buffer and entries point into it, so loading ten thousand
//! records costs one read and no per-record allocation.

use gix::ObjectId;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;

const MAGIC: &str = "pm-index 3";

/// One record in the loaded file: where its id and text are in the buffer.
struct Entry {
    id: Range<usize>,
    tip: ObjectId,
    text: Range<usize>,
}

pub struct Index {
    path: PathBuf,
    /// The state of the ref storage when the file was written complete (see [`fingerprint`]).
    fingerprint: Option<String>,
    data: String,
    /// Entries of the file, sorted by id (as written).
    entries: Vec<Entry>,
    /// Entries added or replaced since loading.
    added: HashMap<String, (ObjectId, String)>,
    changed: bool,
}

impl Index {
    /// Load the cache at `path`; anything unreadable counts as empty.
    pub fn load(path: PathBuf) -> Self {
        let data = std::fs::read(&path)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        let (fingerprint, entries) = parse(&data).unwrap_or_default();
        Index {
            path,
            fingerprint,
            data,
            entries,
            added: HashMap::new(),
            changed: false,
        }
    }

    fn find(&self, id: &str) -> Option<&Entry> {
        let at = self
            .entries
            .binary_search_by(|e| self.data[e.id.clone()].cmp(id))
            .ok()?;
        self.entries.get(at)
    }

    /// When the ref storage is exactly as it was when this file was written with every record
    /// in it, the records (id, tip, text) without reading a single ref.
    pub fn complete_for(
        &self,
        fingerprint: &str,
    ) -> Option<impl Iterator<Item = (&str, ObjectId, &str)>> {
        if self.fingerprint.as_deref() != Some(fingerprint) || !self.added.is_empty() {
            return None;
        }
        Some(
            self.entries
                .iter()
                .map(|e| (&self.data[e.id.clone()], e.tip, &self.data[e.text.clone()])),
        )
    }

    /// Mark the file complete for this state of the ref storage (or not, with `None`).
    pub fn set_fingerprint(&mut self, fingerprint: Option<String>) {
        if self.fingerprint != fingerprint {
            self.fingerprint = fingerprint;
            self.changed = true;
        }
    }

    /// The cached text of record `id`, if it was cached for this very tip.
    pub fn get(&self, id: &str, tip: ObjectId) -> Option<&str> {
        if !self.added.is_empty()
            && let Some((t, text)) = self.added.get(id)
        {
            return (*t == tip).then_some(text.as_str());
        }
        let entry = self.find(id)?;
        (entry.tip == tip).then(|| &self.data[entry.text.clone()])
    }

    pub fn put(&mut self, id: &str, tip: ObjectId, text: String) {
        self.added.insert(id.to_string(), (tip, text));
        self.changed = true;
    }

    /// Drop entries of records that no longer exist (`present` holds every record's id).
    pub fn retain(&mut self, present: &[&str]) {
        let stored = self.entries.len() + self.added.len();
        if !self.changed && stored == present.len() && self.entries.len() == present.len() {
            // As many entries as records and every id of the file is still a record: nothing
            // is stale (ids are unique on both sides).
            let all_present = self
                .entries
                .iter()
                .zip(present.iter())
                .all(|(e, id)| &self.data[e.id.clone()] == *id);
            if all_present {
                return;
            }
        }
        let present: HashSet<&str> = present.iter().copied().collect();
        let data = &self.data;
        let before = self.entries.len() + self.added.len();
        self.entries
            .retain(|e| present.contains(&data[e.id.clone()]));
        self.added.retain(|id, _| present.contains(id.as_str()));
        self.changed |= self.entries.len() + self.added.len() != before;
    }

    /// Write the cache if it changed. Failures are ignored: it is only a cache.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        let mut all: Vec<(&str, &ObjectId, &str)> = self
            .entries
            .iter()
            .map(|e| (&self.data[e.id.clone()], &e.tip, &self.data[e.text.clone()]))
            .filter(|(id, _, _)| !self.added.contains_key(*id))
            .chain(
                self.added
                    .iter()
                    .map(|(id, (tip, text))| (id.as_str(), tip, text.as_str())),
            )
            .collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(all.iter().map(|(_, _, t)| t.len() + 80).sum());
        out.extend_from_slice(MAGIC.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.fingerprint.as_deref().unwrap_or("-").as_bytes());
        out.push(b'\n');
        for (id, tip, text) in all {
            out.extend_from_slice(format!("{id} {tip} {}\n", text.len()).as_bytes());
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
        let Some(dir) = self.path.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let tmp = dir.join(format!(
            ".tmp-index-{}-{}",
            std::process::id(),
            crate::model::new_id()
        ));
        if std::fs::write(&tmp, &out).is_ok() && std::fs::rename(&tmp, &self.path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The fingerprint and entries of a cache file, or `None` if it is damaged (then it is rebuilt).
fn parse(data: &str) -> Option<(Option<String>, Vec<Entry>)> {
    let mut entries: Vec<Entry> = Vec::new();
    let start = data.strip_prefix(MAGIC)?.strip_prefix('\n')?;
    let (fingerprint, start) = start.split_once('\n')?;
    let fingerprint = (fingerprint != "-").then(|| fingerprint.to_string());
    let mut at = data.len() - start.len();
    let bytes = data.as_bytes();
    while at < data.len() {
        let line_end = at + bytes[at..].iter().position(|&b| b == b'\n')?;
        let header = &data[at..line_end];
        let mut fields = header.split(' ');
        let (id, tip, len) = (
            fields.next()?,
            fields.next()?,
            fields.next()?.parse::<usize>().ok()?,
        );
        let tip = ObjectId::from_hex(tip.as_bytes()).ok()?;
        let text_start = line_end + 1;
        let text_end = text_start.checked_add(len)?;
        data.get(text_start..text_end)?;
        if bytes.get(text_end) != Some(&b'\n') {
            return None;
        }
        let id_start = at;
        let entry = Entry {
            id: id_start..id_start + id.len(),
            tip,
            text: text_start..text_end,
        };
        if let Some(last) = entries.last()
            && data[last.id.clone()] >= *id
        {
            return None;
        }
        entries.push(entry);
        at = text_end + 1;
    }
    Some((fingerprint, entries))
}

/// A summary of everything that can change the refs under `prefix` (for example
/// `refs/pm/sessions/`): the identity, size and time of `packed-refs`, and the name, identity,
/// size and time of every loose ref below the prefix. Git and gix replace these files by
/// renaming new ones into place, so any change to the refs changes the fingerprint. `None`
/// where file identities are not available.
#[cfg(unix)]
pub fn fingerprint(common_dir: &std::path::Path, prefix: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut hash = Fnv::new();
    let stamp = |hash: &mut Fnv, meta: &std::fs::Metadata| {
        for n in [
            meta.ino(),
            meta.size(),
            meta.mtime() as u64,
            meta.mtime_nsec() as u64,
        ] {
            hash.write(&n.to_le_bytes());
        }
    };
    match std::fs::metadata(common_dir.join("packed-refs")) {
        Ok(meta) => stamp(&mut hash, &meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => hash.write(b"no packed-refs"),
        Err(_) => return None,
    }
    let mut stack = vec![common_dir.join(prefix.trim_end_matches('/'))];
    let mut loose = 0u64;
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        let mut names: Vec<(std::ffi::OsString, std::fs::Metadata)> = Vec::new();
        for entry in entries {
            let entry = entry.ok()?;
            names.push((entry.file_name(), entry.metadata().ok()?));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        hash.write(dir.as_os_str().as_encoded_bytes());
        for (name, meta) in names {
            if meta.is_dir() {
                stack.push(dir.join(&name));
            } else {
                loose += 1;
                hash.write(name.as_encoded_bytes());
                stamp(&mut hash, &meta);
            }
        }
    }
    Some(format!("v1-{:016x}-{loose}", hash.0))
}

#[cfg(not(unix))]
pub fn fingerprint(_common_dir: &std::path::Path, _prefix: &str) -> Option<String> {
    None
}

/// FNV-1a, 64 bits: stable across builds, unlike the standard library's hasher.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index/issues");
        let tip = ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
        let mut index = Index::load(path.clone());
        index.put("B", tip, "{\"b\":\"multi\\nline\"}".into());
        index.put("A", tip, "{\"a\":1}".into());
        index.save();
        let mut again = Index::load(path.clone());
        assert_eq!(again.get("A", tip), Some("{\"a\":1}"));
        assert_eq!(again.get("B", tip), index.get("B", tip));
        assert!(
            again
                .get("A", ObjectId::null(gix::hash::Kind::Sha1))
                .is_none()
        );
        // Replacing one entry and dropping another survives a save.
        again.put("A", tip, "{\"a\":2}".into());
        again.retain(&["A"]);
        again.save();
        let third = Index::load(path.clone());
        assert_eq!(third.get("A", tip), Some("{\"a\":2}"));
        assert_eq!(third.get("B", tip), None);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, bytes).unwrap();
        assert!(Index::load(path).get("A", tip).is_none());
    }
}
