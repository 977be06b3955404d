//! Loading the cache's files: the head, and the settled lines and texts it names (mapped
//! when large). Anything that does not parse exactly counts as an empty cache.

use super::{
    Entry, Head, Index, MAGIC, RefState, SETTLED_MAGIC, Settled, SettledRef, Stamp, TEXTS_MAGIC,
    Tally,
};
use gix::ObjectId;
use std::path::Path;

impl Index {
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
    pub(super) fn load_settled_texts(&mut self) -> bool {
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
    pub(super) fn forget_files(&mut self) -> bool {
        self.head = None;
        self.settled = Some(Settled::empty());
        false
    }
}

/// The head in `data`, or `None` if it is damaged (then the cache is rebuilt).
pub(super) fn parse_head(data: String, file: Stamp) -> Option<Head> {
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
pub(super) enum Text {
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
pub(super) const MAP_FROM: usize = 1 << 20;

impl Text {
    /// The first `len` bytes of `file`, if it has them and they are UTF-8.
    pub(super) fn of(mut file: std::fs::File, len: usize) -> Option<Self> {
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

/// The first `len` bytes of the settled log at `path` (the lines or the texts), if its first
/// line is `<magic> <token>`: the log the head names, not one rewritten since. With the end of
/// that first line.
pub(super) fn read_log(path: &Path, len: u64, magic: &str, token: &str) -> Option<(Text, usize)> {
    let file = std::fs::File::open(path).ok()?;
    let log = Text::of(file, usize::try_from(len).ok()?)?;
    let first = log.find('\n')?;
    if log[..first].strip_prefix(magic)?.strip_prefix(' ')? != token {
        return None;
    }
    Some((log, first))
}

/// The settled lines `wanted` names, their effective entries sorted by id (the texts are not
/// read).
pub(super) fn read_settled(path: &Path, wanted: &SettledRef) -> Option<Settled> {
    let (lines, first) = read_log(path, wanted.len, SETTLED_MAGIC, &wanted.token)?;
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
pub(super) fn read_texts(path: &Path, wanted: &SettledRef, entries: &[Entry]) -> Option<Text> {
    let (texts, first) = read_log(path, wanted.texts_len, TEXTS_MAGIC, &wanted.token)?;
    let whole = |e: &Entry| {
        e.text.start > first
            && texts.get(e.text.clone()).is_some()
            && texts.as_bytes().get(e.text.end) == Some(&b'\n')
    };
    entries.iter().all(whole).then_some(texts)
}

/// The settled lines from byte `at` of `data` to its end, in file order, none pointing past
/// `texts_len`, and whether they are sorted by id with no id twice and no tombstone.
pub(super) fn parse_lines(
    data: &str,
    mut at: usize,
    texts_len: usize,
) -> Option<(Vec<Entry>, bool)> {
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
pub(super) fn parse_entries(data: &str, mut at: usize) -> Option<(Vec<Entry>, bool)> {
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
