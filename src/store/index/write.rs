//! Saving the cache: the head rewritten whole, the settled logs appended to or rewritten,
//! all under `<kind>.lock` and only if the head is still the one loaded.

use super::refs::stamp_of;
use super::{
    Cached, Index, MAGIC, RefState, SETTLED_MAGIC, STALE_LOCK_SECS, Scope, SettledRef, TEXTS_MAGIC,
};
use crate::fsutil::LockFile;
use gix::ObjectId;
use std::io::Write as _;
use std::path::Path;

impl Index {
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
    pub(super) fn save_settled(&mut self) -> Option<SettledRef> {
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

    pub(super) fn in_head(&self, id: &str) -> bool {
        self.head.as_ref().is_some_and(|h| {
            h.live
                .binary_search_by(|e| h.data[e.id.clone()].cmp(id))
                .is_ok()
        })
    }

    pub(super) fn in_settled(&self, id: &str) -> bool {
        self.settled.as_ref().is_some_and(|s| s.find(id).is_some())
    }

    pub(super) fn in_settled_at(&self, id: &str, tip: ObjectId) -> bool {
        self.settled
            .as_ref()
            .and_then(|s| s.find(id))
            .is_some_and(|e| e.tip == Some(tip))
    }

    /// Write the settled files whole under a new token: their effective entries with what
    /// changed. They are read first if they were not (nothing is written if they cannot be).
    pub(super) fn rewrite_settled(&mut self) -> Option<SettledRef> {
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
pub(super) fn append_at(path: &Path, len: u64, text: &str) -> Option<()> {
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
pub(super) fn take_lock(path: &Path) -> Option<LockFile> {
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

/// Write `bytes` to `path` through a temporary file renamed into place.
pub(super) fn write_file(dir: &Path, path: &Path, bytes: &[u8]) -> bool {
    let tmp = dir.join(crate::store::local::temp_name(
        crate::store::local::INDEX_TEMP_PREFIX,
    ));
    crate::fsutil::write_atomic(&tmp, path, bytes).is_ok()
}

/// Write one entry: `<id> <tip> <length> <tally word> <summary>`, then the text on its own
/// line. A tombstone (no record) is `<id> - 0 - -` and an empty line.
pub(super) fn write_entry(out: &mut String, id: &str, record: Option<&Cached<'_>>) {
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
pub(super) fn write_line(out: &mut String, id: &str, record: Option<(&Cached<'_>, usize)>) {
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
pub(super) fn header_fields<'a>(record: &Cached<'a>) -> (&'a str, &'a str) {
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
