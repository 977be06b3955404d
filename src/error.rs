//! The one error type of the core API.
//!
//! Every error carries a complete, single-line message that names the object and the action
//! ("could not update refs/pm/issues/01J…: it changed since it was read"), a kind with a stable
//! code, and hints that name a request setting ([`Setting`]) rather than a flag: each front end
//! words them in its own vocabulary ([`Error::worded`]: the CLI says `--force`, MCP `force`).
//! The CLI maps [`ErrorKind::Usage`] to exit status 2 and everything else to 1.

use std::fmt;

/// What sort of failure this is, so front ends can pick an exit status or a protocol code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is malformed (bad value, missing argument).
    Usage,
    /// Something named by the user does not exist or is ambiguous.
    NotFound,
    /// The request is well-formed but not allowed in the current state.
    Invalid,
    /// The repository, a record or the file system failed.
    Failed,
}

impl ErrorKind {
    /// The stable code of the kind, for protocols (MCP, HTTP bodies).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "conflict",
            ErrorKind::Failed => "failed",
        }
    }
}

/// A setting of a request that a hint asks for, named by each front end in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Go ahead despite what is said (a dirty worktree, another clone's session, …).
    Force,
    /// The branch of a launch.
    Branch,
    /// The issue of a launch.
    Issue,
    /// Where a launch's new branch starts.
    Base,
    /// Purge's removal of the worktree and branch.
    DeleteFiles,
    /// The branch a merge goes into.
    Into,
    /// The fields an issue update can change.
    IssueFields,
}

impl Setting {
    /// A neutral name, for text that reaches no particular front end.
    pub fn plain_name(self) -> &'static str {
        match self {
            Setting::Force => "force",
            Setting::Branch => "a branch",
            Setting::Issue => "an issue",
            Setting::Base => "a base",
            Setting::DeleteFiles => "delete files",
            Setting::Into => "the branch to merge into",
            Setting::IssueFields => {
                "one of title, description, body, status, priority, type, tags added or removed"
            }
        }
    }
}

/// "give <setting> <purpose>": what would make the request go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub setting: Setting,
    /// Follows the setting's name, e.g. "to purge it anyway"; may be empty.
    pub purpose: String,
}

/// An operation on a session that a front end can offer as the way on; each front end names
/// it in its own vocabulary (a command, a tool action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Bring a finished session back as idle.
    Reactivate,
    /// Make another clone's session this clone's (`agent resume`).
    TakeOver,
    /// Purge a session together with the worktree and branch made for it.
    PurgeWithFiles,
}

impl Operation {
    /// A neutral name, for text that reaches no particular front end.
    pub fn plain_name(self) -> &'static str {
        match self {
            Operation::Reactivate => "reactivating",
            Operation::TakeOver => "taking over",
            Operation::PurgeWithFiles => "purging with its files",
        }
    }
}

/// "<operation> session <id> <purpose>": a way on that the front end words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextStep {
    pub operation: Operation,
    pub session: String,
    /// What it does, e.g. "resumes it".
    pub purpose: String,
}

/// How a front end names settings and operations in hints.
pub trait Vocabulary {
    fn setting(&self, setting: Setting) -> String;
    fn step(&self, step: &NextStep) -> String;
}

/// The neutral vocabulary of `Display`.
struct Plain;

impl Vocabulary for Plain {
    fn setting(&self, setting: Setting) -> String {
        setting.plain_name().to_string()
    }
    fn step(&self, step: &NextStep) -> String {
        format!(
            "{} session {} {}",
            step.operation.plain_name(),
            step.session,
            step.purpose
        )
    }
}

#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hints: Vec<Hint>,
    steps: Vec<NextStep>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = one_line(&message.into());
        Error {
            kind,
            message,
            hints: Vec::new(),
            steps: Vec::new(),
        }
    }
    /// Add a hint: giving `setting` would make the request go through (`purpose` says what
    /// it would do, e.g. "to purge it anyway").
    pub fn hint(mut self, setting: Setting, purpose: impl Into<String>) -> Self {
        self.hints.push(Hint {
            setting,
            purpose: one_line(&purpose.into()),
        });
        self
    }
    /// Add a way on: `operation` on `session` does `purpose` (e.g. "resumes it").
    pub fn step(mut self, operation: Operation, session: &str, purpose: &str) -> Self {
        self.steps.push(NextStep {
            operation,
            session: session.to_string(),
            purpose: one_line(purpose),
        });
        self
    }
    pub fn steps(&self) -> &[NextStep] {
        &self.steps
    }
    pub fn hints(&self) -> &[Hint] {
        &self.hints
    }
    /// The stable code of the error's kind.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    /// The message and its hints on one line, each setting named by `name` (a front end's
    /// vocabulary: `--force` for the CLI, `force` for MCP).
    pub fn worded(&self, words: &impl Vocabulary) -> String {
        let mut out = self.message.clone();
        for step in &self.steps {
            out.push_str("; ");
            out.push_str(&words.step(step));
        }
        for hint in &self.hints {
            out.push_str("; give ");
            out.push_str(&words.setting(hint.setting));
            if !hint.purpose.is_empty() {
                out.push(' ');
                out.push_str(&hint.purpose);
            }
        }
        out
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Exit status for the command line: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.worded(&Plain))
    }
}

impl std::error::Error for Error {}

/// Collapse a possibly multi-line message (gix errors chain their causes over lines) into one.
pub fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(": ")
}

/// Attach "what was being attempted" to a lower-level error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| Error::failed(format!("{}: {}", what(), err)))
    }
}

/// Whether an I/O error means the file system (or the user's quota on it) has no room left.
pub fn is_disk_full(err: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    err.kind() == std::io::ErrorKind::StorageFull || err.raw_os_error() == Some(ENOSPC)
}

/// One line for a failed write of `path`: "disk full while writing …" when there is no room,
/// otherwise the I/O error itself.
pub fn write_failed(path: &std::path::Path, err: &std::io::Error) -> String {
    if is_disk_full(err) {
        format!("disk full while writing {}", path.display())
    } else {
        format!("could not write {}: {err}", path.display())
    }
}

/// Why `label` (a ref, or `packed-refs`) cannot be written: its lock file `lock` exists. Says
/// who may have left it and when it is safe to remove.
pub fn locked_message(label: &str, lock: &std::path::Path) -> String {
    format!(
        "{label} is locked: {} exists (a git or pm process is writing it, or one that crashed \
         left it behind); remove that file if no git or pm process is running",
        lock.display()
    )
}

/// What stopped a git write, read from the typed causes of a gix error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// A lock file was already there (gix could not create it exclusively).
    Locked,
    /// The file system had no room left.
    DiskFull,
}

/// The cause among `err`'s that a user can act on, if any: a taken lock or a full disk.
pub fn blocked_by(err: &gix::Error) -> Option<Blocked> {
    let io_errors = || {
        err.iter_errors()
            .filter_map(|e| e.downcast_ref::<std::io::Error>())
    };
    if io_errors().any(is_disk_full) {
        return Some(Blocked::DiskFull);
    }
    // gix_lock reports a lock file that exists as the `AlreadyExists` of its exclusive create.
    io_errors()
        .any(|e| e.kind() == std::io::ErrorKind::AlreadyExists)
        .then_some(Blocked::Locked)
}

/// The one-line error of a failed gix ref edit: `action` ("could not create branch x"), then
/// [`ref_edit_reason`].
pub fn ref_edit_failed(
    common_dir: &std::path::Path,
    refs: &[&str],
    action: &str,
    err: &gix::Error,
) -> Error {
    Error::failed(format!(
        "{action}: {}",
        ref_edit_reason(common_dir, refs, err)
    ))
}

/// Why a gix edit of `refs` (full ref names under `common_dir`; a name ending in `/` stands
/// for every ref below it) failed, in words a user can act on: a lock in the way is named by
/// its path (found among the lock files of `refs` and `packed-refs.lock`), a full disk is
/// called so. Anything else keeps gix's own words.
pub fn ref_edit_reason(common_dir: &std::path::Path, refs: &[&str], err: &gix::Error) -> String {
    let first = refs.first().copied().unwrap_or("packed-refs");
    match blocked_by(err) {
        Some(Blocked::DiskFull) => format!(
            "disk full while writing {}",
            common_dir.join(first.trim_end_matches('/')).display()
        ),
        Some(Blocked::Locked) => match find_lock(common_dir, refs) {
            Some((label, lock)) => locked_message(&label, &lock),
            None => format!("{first} was locked by another git or pm process; try again"),
        },
        None => with_io_cause(err),
    }
}

/// gix's own words for `err` on one line, followed by the I/O error deepest among its causes
/// (which gix's top message leaves out: "Could not update reflog" says where, not why).
fn with_io_cause(err: &gix::Error) -> String {
    let words = one_line(&err.to_string());
    let cause = err
        .iter_errors()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .last()
        .map(ToString::to_string);
    match cause {
        Some(cause) if !words.contains(&cause) => format!("{words}: {}", one_line(&cause)),
        _ => words,
    }
}

/// Why a gix write into `path` failed: "disk full while writing <path>" when there was no
/// room, otherwise gix's own words on one line.
pub fn gix_write_reason(path: &std::path::Path, err: &gix::Error) -> String {
    match blocked_by(err) {
        Some(Blocked::DiskFull) => format!("disk full while writing {}", path.display()),
        _ => one_line(&err.to_string()),
    }
}

/// The first lock file that exists among those of `refs` (see [`ref_edit_failed`]) and
/// `packed-refs.lock`, with the name of what it locks.
fn find_lock(common_dir: &std::path::Path, refs: &[&str]) -> Option<(String, std::path::PathBuf)> {
    for name in refs {
        if let Some(folder) = name.strip_suffix('/') {
            if let Some(lock) = lock_below(&common_dir.join(folder), 8) {
                let label = lock
                    .strip_prefix(common_dir)
                    .unwrap_or(&lock)
                    .to_string_lossy()
                    .trim_end_matches(".lock")
                    .to_string();
                return Some((label, lock));
            }
        } else {
            let lock = common_dir.join(format!("{name}.lock"));
            if lock.is_file() {
                return Some((name.to_string(), lock));
            }
        }
    }
    let packed = common_dir.join("packed-refs.lock");
    packed
        .is_file()
        .then(|| ("packed-refs".to_string(), packed))
}

/// A `*.lock` file in `folder` or below it (at most `depth` levels down).
fn lock_below(folder: &std::path::Path, depth: usize) -> Option<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(folder).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in &entries {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir && path.extension().is_some_and(|x| x == "lock") {
            return Some(path);
        }
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .find_map(|e| lock_below(&e.path(), depth - 1))
}

#[cfg(test)]
mod tests;
