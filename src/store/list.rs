//! Listing every record of a kind through the local cache ([`super::index`]), checked against
//! the refs, and reading the cached records as whole records or lighter views.

use super::archive::{ARCHIVE_PREFIX, Shelf};
use super::index::{self, Brief, Cached, Scope, Tally};
use super::{Broken, Listing, Store, Stored, parse_record};
use crate::error::{Error, Result};
use crate::model::Record;
use gix::ObjectId;
use std::collections::HashMap;

/// The records of one kind as the local cache holds them, checked against the refs (see
/// [`Store::texts`]).
pub struct Texts {
    index: index::Index,
    scope: Scope,
    /// The records that could not be read.
    pub broken: Vec<Broken>,
}

impl Texts {
    /// Every readable record in the scope asked for, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = Cached<'_>> {
        self.index.records(self.scope)
    }

    /// How many readable records there are of each tally word, settled ones included; `None`
    /// when the settled ones cannot be counted without reading them (ask again with
    /// [`Scope::All`], which always can).
    pub fn tally(&self) -> Option<Tally> {
        self.index.tally()
    }
}

/// The records of one kind as the local cache holds them, without their texts (see
/// [`Store::briefs`]).
pub struct Briefs {
    index: index::Index,
    scope: Scope,
    /// The records that could not be read.
    pub broken: Vec<Broken>,
}

impl Briefs {
    /// Every readable record in the scope asked for, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = Brief<'_>> {
        self.index.briefs(self.scope)
    }

    /// The same records in descending order of id: newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = Brief<'_>> {
        self.index.briefs_descending(self.scope)
    }

    /// As [`Texts::tally`].
    pub fn tally(&self) -> Option<Tally> {
        self.index.tally()
    }
}

/// What of the settled records a listing reads.
#[derive(Clone, Copy)]
enum Load {
    /// Their texts as well.
    Texts,
    /// Their tally words and summaries only.
    Briefs,
}

impl Store {
    /// Read every record of a kind. Broken records are collected, never fatal.
    ///
    /// Parsed records are cached in `.git/pm/index/` (as JSON, which reads several times faster
    /// than TOML), keyed by the tip just read from the ref, so only records that changed since
    /// the last listing are read from the object database and parsed as TOML.
    pub fn list<T: Record>(&self) -> Result<Listing<T>> {
        self.list_as::<T, T>()
    }

    /// [`list`](Self::list), with each record read as `V`: a lighter view of `T` that is read
    /// from `T`'s JSON form and names only the fields it needs (the others are skipped, which
    /// is much faster than building whole records; shell completion uses it).
    pub fn list_as<T: Record, V: serde::de::DeserializeOwned + Send>(&self) -> Result<Listing<V>> {
        self.list_where::<T, V>(Scope::All, |_| true)
    }

    /// [`list_as`](Self::list_as), skipping unread every record whose JSON form fails `keep`:
    /// a cheap text test that must pass every record wanted (it may pass others too, which the
    /// caller filters out after reading). With [`Scope::Live`], settled records (finished
    /// sessions) may be left out as well. Records come in order of id.
    pub fn list_where<T: Record, V: serde::de::DeserializeOwned + Send>(
        &self,
        scope: Scope,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Listing<V>> {
        // In order of id, whatever the cache's state: the same records list the same way.
        let parse = |texts: &Texts| {
            let mut kept: Vec<Cached<'_>> = texts.records().filter(|r| keep(r.text)).collect();
            kept.sort_by(|a, b| a.id.cmp(b.id));
            parse_cached::<V>(kept.iter().map(|r| (r.tip, r.text)).collect())
        };
        let texts = self.texts::<T>(scope)?;
        if let Some(records) = parse(&texts) {
            return Ok(Listing {
                records,
                broken: texts.broken,
            });
        }
        // A cached text cannot be read as `V`: the cache is damaged. Read again every record
        // whose cached text cannot.
        let check = |text: &str| !keep(text) || serde_json::from_str::<V>(text).is_ok();
        let texts = self.texts_checked::<T>(scope, &check)?;
        let records = parse(&texts).ok_or_else(|| {
            Error::failed(format!(
                "the local cache of {} cannot be read",
                T::KIND.plural()
            ))
        })?;
        Ok(Listing {
            records,
            broken: texts.broken,
        })
    }

    /// The records of kind `T` as the local cache holds them (their JSON text, tally word and
    /// summary), checked against the refs: the same records a listing returns, for callers
    /// that read many of them without building each one whole. With [`Scope::Live`], settled
    /// records may be left out.
    pub fn texts<T: Record>(&self, scope: Scope) -> Result<Texts> {
        let (index, broken) = self.refresh::<T>(scope, Load::Texts, None)?;
        Ok(Texts {
            index,
            scope,
            broken,
        })
    }

    /// [`texts`](Self::texts) without the texts: each record's tally word and summary, which the
    /// cache keeps apart from the texts, so that what needs no more (completion) reads a small
    /// part of the cache.
    pub fn briefs<T: Record>(&self, scope: Scope) -> Result<Briefs> {
        let (index, broken) = self.refresh::<T>(scope, Load::Briefs, None)?;
        Ok(Briefs {
            index,
            scope,
            broken,
        })
    }

    /// [`texts`](Self::texts), with every ref read and every record whose cached text fails
    /// `check` read again from the object database (one that fails it then is broken): for a
    /// caller that found a cached text it cannot read.
    pub fn texts_checked<T: Record>(
        &self,
        scope: Scope,
        check: &dyn Fn(&str) -> bool,
    ) -> Result<Texts> {
        let (index, broken) = self.refresh::<T>(scope, Load::Texts, Some(check))?;
        Ok(Texts {
            index,
            scope,
            broken,
        })
    }

    /// Bring the cache of `T` up to date with the refs, and write it. Without `check`, when the
    /// cache's record of the ref files shows that at most some loose refs changed, only those
    /// are read (and the records whose tip moved); otherwise every ref is read.
    fn refresh<T: Record>(
        &self,
        scope: Scope,
        load: Load,
        check: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<(index::Index, Vec<Broken>)> {
        let load_settled = |index: &mut index::Index| match load {
            Load::Texts => index.load_settled(),
            Load::Briefs => index.load_settled_lines(),
        };
        let kind = T::KIND;
        let prefix = kind.ref_prefix();
        let common_dir = self.repo.common_dir();
        // Taken before the refs are read: a change made while they are read makes the next
        // run see other files and read the refs again.
        let shelf = Shelf::of(kind);
        let archive_prefix = format!("{ARCHIVE_PREFIX}{}/", shelf.folder());
        let files = index::ref_files_with_archive(common_dir, prefix, &archive_prefix);
        let mut index = index::Index::load(&self.index_dir(), kind.plural());
        if check.is_none()
            && let Some(files) = &files
            && let Some((state, changed)) = index.changes(files, common_dir, prefix)
            && (scope == Scope::Live || load_settled(&mut index))
            && changed.iter().all(|(id, tip)| {
                index.has(id, *tip)
                    || self
                        .read_fresh::<T>(id, *tip)
                        .map(|fresh| index.put(id, *tip, fresh))
                        .is_ok()
            })
        {
            self.save_index(&mut index, Some(state));
            return Ok((index, Vec::new()));
        }
        // Read every ref, and every record whose tip the cache does not hold.
        load_settled(&mut index);
        let mut refs = crate::git::refs::under(&self.repo, prefix)?;
        // The archived records without a live ref are records too.
        let archived = self.archived(shelf)?;
        if !archived.is_empty() {
            let live: std::collections::HashSet<String> =
                refs.iter().map(|(id, _)| id.clone()).collect();
            refs.extend(
                archived
                    .into_iter()
                    .filter(|(id, _)| !live.contains(id))
                    .map(|(id, tip)| (id, Some(tip))),
            );
        }
        let archive_tips: Vec<(String, ObjectId)> = self
            .archive_refs(ARCHIVE_PREFIX, shelf)?
            .into_iter()
            .map(|(month, tip)| (format!("{}{month}", index::ARCHIVE_MARK), tip))
            .collect();
        let mut broken = Vec::new();
        for (id, tip) in &refs {
            let id = id.as_str();
            // The cache holds the JSON of records that passed every check when they were read.
            let cached = tip.is_some_and(|tip| match check {
                None => index.has(id, tip),
                Some(check) => index.get(id, tip).is_some_and(check),
            });
            if cached {
                continue;
            }
            let read = tip
                .ok_or_else(|| format!("{prefix}{id} is a symbolic ref"))
                .and_then(|tip| {
                    let fresh = self.read_fresh::<T>(id, tip)?;
                    if check.is_some_and(|check| !check(&fresh.text)) {
                        return Err("it cannot be read back from its JSON form".to_string());
                    }
                    index.put(id, tip, fresh);
                    Ok(())
                });
            if let Err(message) = read {
                index.forget(id);
                broken.push(Broken {
                    id: id.to_string(),
                    ref_name: Self::ref_name(kind, id),
                    message,
                });
            }
        }
        let present: Vec<&str> = refs.iter().map(|(id, _)| id.as_str()).collect();
        index.retain(&present);
        let tips: HashMap<&str, ObjectId> = refs
            .iter()
            .filter_map(|(id, tip)| Some((id.as_str(), (*tip)?)))
            .chain(archive_tips.iter().map(|(name, tip)| (name.as_str(), *tip)))
            .collect();
        // Complete only when every ref is a readable record, all of them in the cache.
        let state = files
            .filter(|_| broken.is_empty())
            .map(|files| index::RefState::from_listing(&files, |name| tips.get(name).copied()));
        self.save_index(&mut index, state);
        Ok((index, broken))
    }

    /// A small value worked out from the refs under `prefixes` (a line of text), kept in the
    /// local cache as `name` and used again while those ref files are the same files (see
    /// [`index::memo`]); `None` when `work_out` has no answer.
    pub fn memo(
        &self,
        name: &str,
        prefixes: &[&str],
        work_out: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        let path = self.index_dir().join(name);
        index::memo(
            &path,
            self.repo.common_dir(),
            prefixes,
            self.cache_writes,
            work_out,
        )
    }

    fn save_index(&self, index: &mut index::Index, state: Option<index::RefState>) {
        if self.cache_writes {
            self.sweep_temp_files();
            index.save(state);
        }
    }

    /// Record `id` at `tip` as the cache keeps it. The error is a reason without the record's
    /// name.
    fn read_fresh<T: Record>(&self, id: &str, tip: ObjectId) -> Result<index::Fresh, String> {
        let name = Self::ref_name(T::KIND, id);
        let (_, text) = self.load_text::<T>(id, &name, Some(tip))?;
        let record = parse_record::<T>(id, &text)?;
        let json = serde_json::to_string(&record)
            .map_err(|e| format!("it cannot be represented as JSON: {e}"))?;
        Ok(index::Fresh {
            text: json,
            settled: record.settled(),
            tally: record.tally().to_string(),
            summary: record.summary(),
        })
    }
}

/// Cached records read as `V`; `None` if one of them cannot be (then the refs are read).
/// Thousands of them are read on several threads.
fn parse_cached<V: serde::de::DeserializeOwned + Send>(
    texts: Vec<(ObjectId, &str)>,
) -> Option<Vec<Stored<V>>> {
    let parse = |chunk: &[(ObjectId, &str)]| -> Option<Vec<Stored<V>>> {
        chunk
            .iter()
            .map(|(tip, text)| {
                let record = serde_json::from_str::<V>(text).ok()?;
                Some(Stored { record, tip: *tip })
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || texts.len() < 2048 {
        return parse(&texts);
    }
    let chunk = texts.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = texts
            .chunks(chunk)
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let mut all = Vec::with_capacity(texts.len());
        for worker in workers {
            all.extend(worker.join().ok()??);
        }
        Some(all)
    })
}
