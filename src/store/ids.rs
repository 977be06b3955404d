//! The ids of the records of a kind, read from the names of the ref files alone, and the
//! resolving of an id prefix to one record.

use super::Store;
use super::archive::Shelf;
use crate::error::{Context, Error, Result};
use crate::model::RecordKind;
use crate::model::id::{is_canonical_id, normalize_prefix};

/// Whether a ref name below a kind's prefix has the shape of an id (checked in full when the
/// record is read): cheap enough for a listing of many thousands of names.
fn could_be_id(name: &str) -> bool {
    name.len() == 26 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Store {
    /// The ids of all records of `kind`, sorted: the names of the loose ref files and of the
    /// `packed-refs` lines under the kind's prefix, with no ref read or parsed, so that it stays
    /// cheap with many thousands of records. Names that cannot be ids (`*.lock`) are left out.
    pub fn ids(&self, kind: RecordKind) -> Result<Vec<String>> {
        let mut ids = self.loose_ids(kind)?;
        if let Some(packed) = self.packed_buffer()? {
            ids.extend(
                packed_ids(packed_bytes(&packed), kind)
                    .into_iter()
                    .map(str::to_string),
            );
        }
        ids.extend(self.archived_ids(kind)?);
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The ids of the records of `kind` the archive holds.
    fn archived_ids(&self, kind: RecordKind) -> Result<Vec<String>> {
        Ok(self
            .archived(Shelf::of(kind))?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Each of `shown` with the ids of the records of `kind` just before and just after it in
    /// sorted order (and every id of a loose ref): enough to tell the shortest unique prefix of
    /// each shown id ([`crate::render::IdPrefixes`]) without a copy of every id. Unsorted.
    pub fn ids_near(&self, kind: RecordKind, shown: &[&str]) -> Result<Vec<String>> {
        let mut near = self.loose_ids(kind)?;
        near.extend(shown.iter().map(|id| id.to_string()));
        let archived = self.archived_ids(kind)?;
        for id in shown {
            let at = archived.partition_point(|name| name.as_str() < *id);
            let around = [at.checked_sub(1), Some(at), at.checked_add(1)];
            near.extend(
                around
                    .into_iter()
                    .flatten()
                    .filter_map(|i| archived.get(i))
                    .cloned(),
            );
        }
        if let Some(packed) = self.packed_buffer()? {
            let mut names = packed_ids(packed_bytes(&packed), kind);
            // git writes packed-refs sorted.
            if !names.is_sorted() {
                names.sort_unstable();
            }
            for id in shown {
                let at = names.partition_point(|name| name < id);
                let around = [at.checked_sub(1), Some(at), at.checked_add(1)];
                near.extend(
                    around
                        .into_iter()
                        .flatten()
                        .filter_map(|i| names.get(i))
                        .map(|name| name.to_string()),
                );
            }
        }
        Ok(near)
    }

    /// The names of the loose ref files of `kind` that could be ids.
    fn loose_ids(&self, kind: RecordKind) -> Result<Vec<String>> {
        let dir = self
            .repo
            .common_dir()
            .join(kind.ref_prefix().trim_end_matches('/'));
        let mut ids = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.context(|| format!("could not list {}", dir.display()))?;
                    if let Some(name) = entry.file_name().to_str()
                        && could_be_id(name)
                    {
                        ids.push(name.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::failed(format!(
                    "could not list {}: {e}",
                    dir.display()
                )));
            }
        }
        Ok(ids)
    }

    fn packed_buffer(&self) -> Result<Option<gix::refs::file::packed::SharedBufferSnapshot>> {
        self.repo
            .refs
            .cached_packed_buffer()
            .context(|| "could not read packed-refs".into())
    }

    /// Turn a full id or unique prefix (any case) into the full id of an existing record.
    pub fn resolve(&self, kind: RecordKind, text: &str) -> Result<String> {
        let noun = kind.noun();
        let Some(prefix) = normalize_prefix(text) else {
            return Err(Error::usage(format!("{text:?} is not a valid {noun} id")));
        };
        // A full id names one ref: look it up instead of listing every record.
        if is_canonical_id(&prefix) {
            let name = Self::ref_name(kind, &prefix);
            if self
                .repo
                .try_find_reference(name.as_str())
                .context(|| format!("could not read {name}"))?
                .is_some()
                || self.archived_tip(Shelf::of(kind), &prefix)?.is_some()
            {
                return Ok(prefix);
            }
        }
        let ids = self.ids(kind)?;
        let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(&prefix)).collect();
        match matches.as_slice() {
            [] => Err(Error::not_found(format!("no {noun} with id {prefix}"))),
            [one] => Ok((*one).clone()),
            many => {
                if let Some(exact) = many.iter().find(|id| ***id == prefix) {
                    return Ok((*exact).clone());
                }
                let shown: Vec<&str> = many.iter().take(10).map(|s| s.as_str()).collect();
                let more = if many.len() > 10 {
                    format!(" and {} more", many.len() - 10)
                } else {
                    String::new()
                };
                Err(Error::not_found(format!(
                    "{noun} id {prefix} is ambiguous; it matches {}{more}",
                    shown.join(", ")
                )))
            }
        }
    }
}

fn packed_bytes(packed: &gix::refs::file::packed::SharedBufferSnapshot) -> &[u8] {
    (**packed).as_ref()
}

/// The ids that the `packed-refs` lines of `kind` name, in file order. A line is
/// `<object id> <name>`; a name holds no space, so the prefix after a space starts a name.
fn packed_ids(bytes: &[u8], kind: RecordKind) -> Vec<&str> {
    let start = format!(" {}", kind.ref_prefix());
    memchr::memmem::find_iter(bytes, start.as_bytes())
        .map(|at| {
            let rest = &bytes[at + start.len()..];
            &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())]
        })
        .filter_map(|name| std::str::from_utf8(name).ok())
        .filter(|id| could_be_id(id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::IdPrefixes;

    /// A repository whose `packed-refs` names `packed` (in that order) and whose loose refs
    /// name `loose`, all under `refs/pm/sessions/`; no object is needed to list ids.
    fn repo_with_ids(packed: &[&str], loose: &[&str]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let init = crate::git::command::run_in(dir.path(), &["init", "-q"]).expect("git runs");
        assert!(init.success, "{}", init.stderr);
        let tip = "72d4aea8f292ca247701d5557970a7257debc408";
        let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        for id in packed {
            text.push_str(&format!("{tip} refs/pm/sessions/{id}\n"));
        }
        let git = dir.path().join(".git");
        std::fs::write(git.join("packed-refs"), text).expect("write packed-refs");
        let loose_dir = git.join("refs/pm/sessions");
        std::fs::create_dir_all(&loose_dir).expect("mkdir");
        for id in loose {
            std::fs::write(loose_dir.join(id), format!("{tip}\n")).expect("write ref");
        }
        let store = Store::open(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn the_ids_near_some_tell_their_unique_prefixes_as_all_ids_do() {
        let packed = [
            "01AAAAAAAAAAAAAAAAAAAAAAAA",
            "01AAAAAAAAAAAAAAAAAAAAAAAB",
            "01AAAAAAAAAAAAZZZZZZZZZZZZ",
            "01BBBBBBBBBBBBBBBBBBBBBBBB",
            "01BBBBBBBBCCCCCCCCCCCCCCCC",
            "01CCCCCCCCCCCCCCCCCCCCCCCC",
            "01DDDDDDDDDDDDDDDDDDDDDDDD",
        ];
        let loose = ["01BBBBBBBBBBBBBBBBBBBBBBBC", "01CCCCCCCCCCCCCCCCCCCCCCCC"];
        let mut unsorted = packed;
        unsorted.reverse();
        for packed in [packed, unsorted] {
            let (_dir, store) = repo_with_ids(&packed, &loose);
            let all = IdPrefixes::new(store.ids(RecordKind::Session).expect("ids"));
            let shown = [
                "01AAAAAAAAAAAAAAAAAAAAAAAB",
                "01BBBBBBBBBBBBBBBBBBBBBBBB",
                "01CCCCCCCCCCCCCCCCCCCCCCCC",
                "01DDDDDDDDDDDDDDDDDDDDDDDD",
                "01BBBBBBBBBBBBBBBBBBBBBBBC",
            ];
            let near = IdPrefixes::new(store.ids_near(RecordKind::Session, &shown).expect("near"));
            for id in shown {
                assert_eq!(near.unique_len(id), all.unique_len(id), "{id}");
            }
            assert_eq!(all.unique_len("01BBBBBBBBBBBBBBBBBBBBBBBB"), 26);
            assert_eq!(all.unique_len("01DDDDDDDDDDDDDDDDDDDDDDDD"), 3);
        }
    }
}
