//! Copying what git ignores (`.env`, `node_modules`, build caches) from the main worktree into a
//! session's new worktree. An entry is copied when git ignores it and a `copy` pattern or a line
//! of the main worktree's `.worktreeinclude` matches it (gitignore syntax; a folder ignored as a
//! whole is matched, and copied, as a whole).
//!
//! What this never does: copy a file git tracks, replace anything that exists in the new
//! worktree, follow a symbolic link (a link leading somewhere inside the main worktree is made
//! again as the same link; one leading outside is left out), or copy into or out of another
//! worktree. Files are cloned (reflinks: shared blocks, copy on write) where the file system
//! can, else copied.

use crate::error::{Error, Result};
use crate::git::worktree::{Ignored, ignored_entries};
use gix::bstr::ByteSlice;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The file of gitignore patterns, in the main worktree, that adds to `copy`.
pub(super) const INCLUDE_FILE: &str = ".worktreeinclude";

/// At most this many problems are listed one by one; the rest are counted.
const MAX_LISTED: usize = 5;

/// What a copy did.
#[derive(Debug, Default)]
pub(super) struct Copied {
    /// The entries copied (relative to the worktree), files and folders.
    pub entries: Vec<PathBuf>,
    /// Files written, and how many of them are clones of the original (reflinks).
    pub files: u64,
    pub reflinked: u64,
    pub bytes: u64,
    /// Symbolic links made again.
    pub links: u64,
    /// What was left out on purpose, and why.
    pub left_out: Vec<String>,
    /// What could not be copied.
    pub errors: Vec<String>,
    errors_unlisted: usize,
}

impl Copied {
    fn error(&mut self, text: String) {
        if self.errors.len() < MAX_LISTED {
            self.errors.push(text);
        } else {
            self.errors_unlisted += 1;
        }
    }

    /// What went wrong, in one line, if anything did.
    pub fn error_line(&self) -> Option<String> {
        if self.errors.is_empty() {
            return None;
        }
        let mut line = self.errors.join("; ");
        if self.errors_unlisted > 0 {
            line.push_str(&format!(" (and {} more)", self.errors_unlisted));
        }
        Some(line)
    }
}

/// The patterns that choose what is copied: `copy` entries and the lines of `.worktreeinclude`.
pub(super) struct Patterns {
    search: gix::ignore::Search,
}

impl Patterns {
    /// The patterns of `copy` and of the main worktree's `.worktreeinclude` (read only when it is
    /// a plain file), or `None` when there are none.
    pub fn new<'a>(copy: impl Iterator<Item = &'a str>, main: &Path) -> Result<Option<Patterns>> {
        let parse = gix::ignore::search::Ignore {
            support_precious: false,
        };
        let mut search = gix::ignore::Search::default();
        let copy: Vec<&str> = copy.collect();
        if !copy.is_empty() {
            search
                .add_patterns_buffer(copy.join("\n").as_bytes(), "copy", None, parse)
                .map_err(|e| Error::failed(format!("invalid copy pattern: {e}")))?;
        }
        let include = main.join(INCLUDE_FILE);
        if std::fs::symlink_metadata(&include).is_ok_and(|m| m.is_file()) {
            let bytes = fs_err::read(&include)
                .map_err(|e| Error::failed(format!("could not read {}: {e}", include.display())))?;
            search
                .add_patterns_buffer(&bytes, include, None, parse)
                .map_err(|e| Error::failed(format!("invalid {INCLUDE_FILE}: {e}")))?;
        }
        let any = search.patterns.iter().any(|list| !list.patterns.is_empty());
        Ok(any.then_some(Patterns { search }))
    }

    /// Whether `entry` (relative to the worktree) is to be copied: the last pattern that matches
    /// it is not a negation (`!pattern`).
    fn matches(&self, entry: &Ignored) -> bool {
        let path = entry.path.as_os_str().as_bytes().as_bstr();
        self.search
            .pattern_matching_relative_path(
                path,
                Some(entry.is_dir),
                gix::glob::pattern::Case::Sensitive,
            )
            .is_some_and(|m| !m.pattern.is_negative())
    }
}

/// Copy into the new worktree `worktree` what git ignores in the main worktree `main` and
/// `patterns` match. `worktrees` are the folders of every worktree of the repository (the new
/// one among them): an entry that holds one is left out. A problem with one entry is noted and
/// the others are copied; only failing to list what git ignores fails the whole copy.
pub(super) fn copy_ignored(
    main: &Path,
    worktree: &Path,
    patterns: &Patterns,
    worktrees: &[PathBuf],
) -> Result<Copied> {
    let main = main.canonicalize().map_err(|e| {
        Error::failed(format!(
            "could not open the main worktree {}: {e}",
            main.display()
        ))
    })?;
    let worktrees: Vec<PathBuf> = worktrees
        .iter()
        .filter_map(|w| w.canonicalize().ok())
        .filter(|w| *w != main)
        .collect();
    let mut copier = Copier {
        main: &main,
        copied: Copied::default(),
        reflinks: true,
    };
    for entry in ignored_entries(&main)? {
        if !patterns.matches(&entry) || !is_plain_relative(&entry.path) {
            continue;
        }
        let from = main.join(&entry.path);
        if worktrees
            .iter()
            .any(|w| w.starts_with(&from) || from.starts_with(w))
        {
            copier.copied.left_out.push(format!(
                "{} holds a worktree; it is not copied",
                entry.path.display()
            ));
            continue;
        }
        let to = worktree.join(&entry.path);
        if let Some(parent) = to.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            copier
                .copied
                .error(format!("{}: {e}", entry.path.display()));
            continue;
        }
        if copier.copy(&from, &to, &entry.path) {
            copier.copied.entries.push(entry.path);
        }
    }
    Ok(copier.copied)
}

/// A path of plain names only (what git lists always is).
fn is_plain_relative(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}

struct Copier<'a> {
    /// The main worktree, symbolic links resolved.
    main: &'a Path,
    copied: Copied,
    /// Clones are still tried (the first refusal of the file system stops trying).
    reflinks: bool,
}

impl Copier<'_> {
    /// Copy `from` to `to` (`shown`: the path relative to the worktree, for messages). Returns
    /// whether anything was copied.
    fn copy(&mut self, from: &Path, to: &Path, shown: &Path) -> bool {
        let meta = match std::fs::symlink_metadata(from) {
            Ok(meta) => meta,
            Err(e) => {
                self.copied.error(format!("{}: {e}", shown.display()));
                return false;
            }
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            return self.copy_link(from, to, shown);
        }
        if kind.is_dir() {
            return self.copy_dir(from, to, shown);
        }
        if !kind.is_file() {
            // Sockets, pipes, devices: nothing to copy.
            return false;
        }
        if std::fs::symlink_metadata(to).is_ok() {
            self.copied.left_out.push(format!(
                "{} exists in the new worktree; it is kept",
                shown.display()
            ));
            return false;
        }
        match self.copy_file(from, to, &meta) {
            Ok(()) => true,
            Err(e) => {
                let _ = std::fs::remove_file(to);
                self.copied.error(format!("{}: {e}", shown.display()));
                false
            }
        }
    }

    fn copy_dir(&mut self, from: &Path, to: &Path, shown: &Path) -> bool {
        match std::fs::symlink_metadata(to) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                self.copied.left_out.push(format!(
                    "{} exists in the new worktree; it is kept",
                    shown.display()
                ));
                return false;
            }
            Err(_) => {
                if let Err(e) = std::fs::create_dir(to) {
                    self.copied.error(format!("{}: {e}", shown.display()));
                    return false;
                }
            }
        }
        let entries = match std::fs::read_dir(from) {
            Ok(entries) => entries,
            Err(e) => {
                self.copied.error(format!("{}: {e}", shown.display()));
                return false;
            }
        };
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let name = entry.file_name();
                    self.copy(&entry.path(), &to.join(&name), &shown.join(&name));
                }
                Err(e) => self.copied.error(format!("{}: {e}", shown.display())),
            }
        }
        true
    }

    /// Make the link `from` again at `to` when it leads inside the main worktree; leave it out
    /// otherwise (it is never followed).
    fn copy_link(&mut self, from: &Path, to: &Path, shown: &Path) -> bool {
        let target = match std::fs::read_link(from) {
            Ok(target) => target,
            Err(e) => {
                self.copied.error(format!("{}: {e}", shown.display()));
                return false;
            }
        };
        if !leads_inside(from, &target, self.main) {
            self.copied.left_out.push(format!(
                "{} is a symbolic link leading outside the repository; it is not followed",
                shown.display()
            ));
            return false;
        }
        if std::fs::symlink_metadata(to).is_ok() {
            self.copied.left_out.push(format!(
                "{} exists in the new worktree; it is kept",
                shown.display()
            ));
            return false;
        }
        match std::os::unix::fs::symlink(&target, to) {
            Ok(()) => {
                self.copied.links += 1;
                true
            }
            Err(e) => {
                self.copied.error(format!("{}: {e}", shown.display()));
                false
            }
        }
    }

    /// Copy one file: a clone where the file system makes one, else its bytes. Its permission
    /// bits go with it (less the umask, as `cp` does).
    fn copy_file(
        &mut self,
        from: &Path,
        to: &Path,
        meta: &std::fs::Metadata,
    ) -> std::io::Result<()> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut source = File::open(from)?;
        let mut target = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(meta.permissions().mode() & 0o7777)
            .open(to)?;
        if self.reflinks {
            match clone_file(&source, &target) {
                Ok(()) => {
                    self.copied.files += 1;
                    self.copied.reflinked += 1;
                    self.copied.bytes += meta.len();
                    return Ok(());
                }
                // Not possible here (another file system, or none that clones): stop trying.
                Err(_) => self.reflinks = false,
            }
        }
        let bytes = std::io::copy(&mut source, &mut target)?;
        self.copied.files += 1;
        self.copied.bytes += bytes;
        Ok(())
    }
}

/// Whether the link at `link` (in the main worktree `main`, links resolved) with `target` leads
/// somewhere inside `main`: followed to the end when it can be, else (a link to nothing) as
/// written.
fn leads_inside(link: &Path, target: &Path, main: &Path) -> bool {
    if let Ok(real) = link.canonicalize() {
        return real.starts_with(main);
    }
    let Some(parent) = link.parent().and_then(|p| p.canonicalize().ok()) else {
        return false;
    };
    let mut resolved = PathBuf::new();
    for part in parent.join(target).components() {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    resolved.starts_with(main)
}

/// Make `target` a clone of `source` (Linux `FICLONE`: the two share their blocks until one is
/// written). Fails where the file system cannot (ext4, tmpfs, two file systems).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x"
    )
))]
fn clone_file(source: &File, target: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // _IOW(0x94, 9, int) on the architectures above.
    const FICLONE: u32 = 0x4004_9409;
    // SAFETY: both descriptors are open for the duration of the call; FICLONE reads only the
    // integer passed.
    let done = unsafe { libc::ioctl(target.as_raw_fd(), FICLONE as _, source.as_raw_fd()) };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere, files are copied (macOS's own copy already clones where APFS can).
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x"
    )
)))]
fn clone_file(_source: &File, _target: &File) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_judged_by_where_they_lead() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let main = dir.path().join("main");
        std::fs::create_dir_all(main.join("a/b")).expect("folders");
        std::fs::write(main.join("a/file"), "x").expect("a file");
        std::fs::write(dir.path().join("outside"), "secret").expect("a file outside");
        let main = main.canonicalize().expect("canonical");
        let link = |name: &str, target: &str| {
            let path = main.join("a/b").join(name);
            std::os::unix::fs::symlink(target, &path).expect("a link");
            leads_inside(&path, Path::new(target), &main)
        };
        assert!(link("up", "../file"));
        assert!(link("dangling-inside", "../missing"));
        assert!(!link("out", "../../../outside"));
        assert!(!link("dangling-out", "../../../missing"));
        assert!(!link("absolute", "/etc"));
    }
}
