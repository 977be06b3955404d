//! A disposable local cache of parsed records (their JSON form), kept in
//! `.git/pm/index/<kind>`, keyed by each
//! record ref's tip commit. Listing checks every entry against the refs it has just read, so
//! the cache can never be stale whoever moved the refs; a missing or damaged file is simply
//! rebuilt. It saves reading three (possibly deltified, compressed) objects per record.

use gix::ObjectId;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

const MAGIC: &str = "pm-index 2";

pub struct Index {
    path: PathBuf,
    entries: HashMap<String, (ObjectId, String)>,
    changed: bool,
}

impl Index {
    /// Load the cache at `path`; anything unreadable counts as empty.
    pub fn load(path: PathBuf) -> Self {
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|bytes| parse(&bytes))
            .unwrap_or_default();
        Index {
            path,
            entries,
            changed: false,
        }
    }

    /// The cached text of record `id`, if it was cached for this very tip.
    pub fn get(&self, id: &str, tip: ObjectId) -> Option<&str> {
        self.entries
            .get(id)
            .filter(|(t, _)| *t == tip)
            .map(|(_, text)| text.as_str())
    }

    pub fn put(&mut self, id: &str, tip: ObjectId, text: String) {
        self.entries.insert(id.to_string(), (tip, text));
        self.changed = true;
    }

    /// Drop entries of records that no longer exist.
    pub fn retain(&mut self, present: &HashSet<&str>) {
        let before = self.entries.len();
        self.entries.retain(|id, _| present.contains(id.as_str()));
        self.changed |= self.entries.len() != before;
    }

    /// Write the cache if it changed. Failures are ignored: it is only a cache.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        let mut out = Vec::with_capacity(self.entries.values().map(|(_, t)| t.len() + 80).sum());
        out.extend_from_slice(MAGIC.as_bytes());
        out.push(b'\n');
        let mut ids: Vec<&String> = self.entries.keys().collect();
        ids.sort();
        for id in ids {
            let (tip, text) = &self.entries[id];
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

fn parse(bytes: &[u8]) -> Option<HashMap<String, (ObjectId, String)>> {
    let mut entries = HashMap::new();
    let rest = bytes.strip_prefix(MAGIC.as_bytes())?.strip_prefix(b"\n")?;
    let mut at = 0;
    while at < rest.len() {
        let line_end = at + rest[at..].iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&rest[at..line_end]).ok()?;
        let mut fields = header.split(' ');
        let (id, tip, len) = (
            fields.next()?,
            fields.next()?,
            fields.next()?.parse::<usize>().ok()?,
        );
        let tip = ObjectId::from_hex(tip.as_bytes()).ok()?;
        let start = line_end + 1;
        let end = start.checked_add(len)?;
        let text = std::str::from_utf8(rest.get(start..end)?).ok()?;
        if rest.get(end) != Some(&b'\n') {
            return None;
        }
        entries.insert(id.to_string(), (tip, text.to_string()));
        at = end + 1;
    }
    Some(entries)
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
        index.put(
            "A",
            tip,
            "title = \"x\"\nbody = \"\"\"\nmulti\n\"\"\"\n".into(),
        );
        index.save();
        let again = Index::load(path.clone());
        assert_eq!(again.get("A", tip), index.get("A", tip));
        assert!(
            again
                .get("A", ObjectId::null(gix::hash::Kind::Sha1))
                .is_none()
        );
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, bytes).unwrap();
        assert!(Index::load(path).get("A", tip).is_none());
    }
}
