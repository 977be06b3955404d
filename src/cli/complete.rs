//! Dynamic shell completion: the shell calls `pm` with `COMPLETE=<shell>` and the arguments so
//! far, and these functions offer the values that exist right now (session and issue ids with
//! their branch, status and title, branches, remotes). They run in the shell's current folder,
//! never print, and answer nothing rather than fail.

use crate::model::issue::{IssueSummary, list_key};
use crate::model::session::{PURGED, SessionSummary};
use crate::model::{Issue, IssueStatus, Session, SessionStatus};
use crate::render::{clean, truncate};
use crate::store::{Scope, Store};
use clap::builder::StyledStr;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Shells, Zsh};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;

/// The environment variable that switches `pm` into completion mode.
pub const VAR: &str = "COMPLETE";

/// The shells `pm` completes for: clap's own, each with the ids it offers written directly (see
/// [`Direct`]).
pub const SHELLS: Shells<'static> = Shells(&[
    &Direct(Bash),
    &Direct(Elvish),
    &Direct(Fish),
    &Direct(Powershell),
    &Direct(Zsh),
]);

/// A shell of clap's whose completions of record ids bypass clap's engine. The engine costs
/// about a microsecond for each candidate it sorts, checks and writes (a tenth of a second for
/// 100,000 session ids); while it runs under this adapter, the id completers below write their
/// candidates in the shell's own format as they find them ([`Candidates`]) and return none to
/// the engine, and the adapter puts them before what the engine wrote (the flags), where the
/// engine puts them.
struct Direct<S>(S);

/// Candidates written in a [`Direct`] shell's format, straight to stdout: clap writes what its
/// engine found after them.
struct Written {
    shell: &'static str,
    /// What separates candidates for bash, elvish and zsh (`_CLAP_IFS`, a line break unless set).
    ifs: String,
    out: std::io::BufWriter<std::io::Stdout>,
    count: usize,
    /// The first error writing them; a closed pipe is none (the shell stopped reading).
    failed: Option<std::io::Error>,
}

impl Written {
    fn write(&mut self, bytes: &[u8]) {
        if self.failed.is_none()
            && let Err(e) = self.out.write_all(bytes)
        {
            self.failed = Some(e);
        }
    }

    /// The separator of the shells that take one (bash, elvish, zsh).
    fn separate(&mut self) {
        if self.failed.is_none()
            && let Err(e) = self.out.write_all(self.ifs.as_bytes())
        {
            self.failed = Some(e);
        }
    }
}

thread_local! {
    /// Where candidates go while a [`Direct`] shell completes.
    static WRITING: RefCell<Option<Written>> = const { RefCell::new(None) };
}

impl<S: EnvCompleter> EnvCompleter for Direct<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn is(&self, name: &str) -> bool {
        self.0.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn Write,
    ) -> std::io::Result<()> {
        self.0.write_registration(var, name, bin, completer, buf)
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn Write,
    ) -> std::io::Result<()> {
        WRITING.set(Some(Written {
            shell: self.0.name(),
            ifs: std::env::var("_CLAP_IFS").unwrap_or_else(|_| "\n".into()),
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            count: 0,
            failed: None,
        }));
        let mut engine = Vec::new();
        let result = self.0.write_complete(cmd, args, current_dir, &mut engine);
        let written = WRITING.take();
        result?;
        let Some(mut written) = written else {
            return buf.write_all(&engine);
        };
        let separated = matches!(written.shell, "bash" | "elvish" | "zsh");
        if separated && written.count > 0 && !engine.is_empty() {
            written.separate();
        }
        if written.failed.is_none()
            && let Err(e) = written.out.flush()
        {
            written.failed = Some(e);
        }
        match written.failed {
            Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Some(e) => Err(e),
            None => buf.write_all(&engine),
        }
    }
}

/// The candidates of one completion: written in the shell's own format as they come while a
/// [`Direct`] shell completes, else collected for clap's engine.
struct Candidates {
    written: Option<Written>,
    collected: Vec<CompletionCandidate>,
    /// The help of the candidate being added.
    help: String,
}

impl Candidates {
    fn new() -> Self {
        Candidates {
            written: WRITING.take(),
            collected: Vec::new(),
            help: String::new(),
        }
    }

    /// Offer `value`, with the help text made of `parts` as one clean line. The formats are
    /// those of clap's shells: bash and elvish take values separated by `_CLAP_IFS`; fish and
    /// powershell a line of value, tab and help each; zsh `value:help`, separated by
    /// `_CLAP_IFS`, with backslashes (and colons in values) escaped.
    fn push(&mut self, value: &str, parts: &[&str]) {
        self.help.clear();
        parts.iter().for_each(|part| self.help.push_str(part));
        let help = clean(&self.help);
        let Some(w) = &mut self.written else {
            let help = StyledStr::from(help.into_owned());
            self.collected
                .push(CompletionCandidate::new(value).help(Some(help)));
            return;
        };
        let first = w.count == 0;
        w.count += 1;
        match w.shell {
            "fish" | "powershell" => {
                w.write(value.as_bytes());
                w.write(b"\t");
                w.write(help.as_bytes());
                w.write(b"\n");
            }
            "zsh" => {
                if !first {
                    w.separate();
                }
                w.write(&escape(value, b":\\"));
                w.write(b":");
                w.write(&escape(&help, b"\\"));
            }
            _ => {
                if !first {
                    w.separate();
                }
                w.write(value.as_bytes());
            }
        }
    }

    /// The candidates for clap's engine: none when they were written.
    fn finish(self) -> Vec<CompletionCandidate> {
        if let Some(written) = self.written {
            WRITING.set(Some(written));
        }
        self.collected
    }
}

/// `text` with a backslash before each of `special` (one byte each).
fn escape(text: &str, special: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if special.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Print the registration script of `shell` (what `COMPLETE=<shell> pm` prints). The script
/// calls `pm` through `PATH`, so it holds no machine path.
pub fn registration(shell: &str) -> Option<String> {
    let shells = SHELLS;
    let completer = shells.completer(shell)?;
    let mut buf = Vec::new();
    completer
        .write_registration(VAR, "pm", "pm", "pm", &mut buf)
        .ok()?;
    String::from_utf8(buf).ok()
}

fn store() -> Option<Store> {
    let dir = std::env::current_dir().ok()?;
    Store::open(&dir).ok()
}

/// What was typed of an id, in the case ids are shown in (upper): ids that start with it match.
fn typed_id(current: &OsStr) -> String {
    current.to_string_lossy().to_ascii_uppercase()
}

/// Sessions with one of `statuses` (any status when empty) whose id starts with what was typed,
/// newest first. Read from the local cache's tally words and summaries, not from the records'
/// texts: with many thousands of sessions, that is what completion can afford.
fn sessions(current: &OsStr, statuses: &[SessionStatus]) -> Vec<CompletionCandidate> {
    let Some(store) = store() else {
        return Vec::new();
    };
    let scope = if !statuses.is_empty() && statuses.iter().all(|s| s.is_live()) {
        Scope::Live
    } else {
        Scope::All
    };
    let Ok(texts) = store.briefs::<Session>(scope) else {
        return Vec::new();
    };
    let typed = typed_id(current);
    let wanted = |word: &str| match statuses {
        [] => word != PURGED,
        _ => statuses.iter().any(|s| s.as_str() == word),
    };
    // Newest first, as the cache holds them: nothing to sort, nothing to collect.
    let mut titles: Option<HashMap<String, String>> = None;
    let mut candidates = Candidates::new();
    for r in texts.newest_first() {
        if !wanted(r.tally) || (!typed.is_empty() && !r.id.starts_with(&typed)) {
            continue;
        }
        // A summary that cannot be read (a damaged cache) leaves only the status to show.
        let Ok(summary) = serde_json::from_str::<SessionSummary<'_>>(r.summary) else {
            candidates.push(r.id, &[r.tally]);
            continue;
        };
        let title = summary.issue.as_deref().and_then(|issue| {
            titles
                .get_or_insert_with(|| issue_titles(&store))
                .get(issue)
        });
        match title {
            Some(title) => candidates.push(
                r.id,
                &[&summary.branch, " · ", r.tally, " · ", &truncate(title, 50)],
            ),
            None => candidates.push(r.id, &[&summary.branch, " · ", r.tally]),
        }
    }
    candidates.finish()
}

/// Every issue's title by id, from the cache's summaries of issues.
fn issue_titles(store: &Store) -> HashMap<String, String> {
    let Ok(texts) = store.briefs::<Issue>(Scope::All) else {
        return HashMap::new();
    };
    texts
        .records()
        .filter_map(|r| {
            let summary: IssueSummary<'_> = serde_json::from_str(r.summary).ok()?;
            Some((r.id.to_string(), summary.title.into_owned()))
        })
        .collect()
}

/// Live (active or idle) sessions: what `close` and `resume` act on.
pub fn live_sessions(current: &OsStr) -> Vec<CompletionCandidate> {
    sessions(current, &[SessionStatus::Active, SessionStatus::Idle])
}

/// Finished sessions: what `reactivate` acts on.
pub fn finished_sessions(current: &OsStr) -> Vec<CompletionCandidate> {
    sessions(
        current,
        &[SessionStatus::Completed, SessionStatus::Abandoned],
    )
}

/// Every session that is not purged.
pub fn any_session(current: &OsStr) -> Vec<CompletionCandidate> {
    sessions(current, &[])
}

/// Issues, with their title (in-progress and open ones first, in the list order). Read from the
/// local cache's tally words (statuses) and summaries.
pub fn issues(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(store) = store() else {
        return Vec::new();
    };
    let Ok(texts) = store.briefs::<Issue>(Scope::All) else {
        return Vec::new();
    };
    let typed = typed_id(current);
    let mut found: Vec<(&str, IssueStatus, IssueSummary<'_>)> = texts
        .records()
        .filter(|r| r.id.starts_with(&typed))
        .filter_map(|r| {
            let status = <IssueStatus as clap::ValueEnum>::from_str(r.tally, false).ok()?;
            Some((r.id, status, serde_json::from_str(r.summary).ok()?))
        })
        .collect();
    found.sort_by_cached_key(|(id, status, s)| list_key(*status, s.priority, s.created, id));
    let mut candidates = Candidates::new();
    for (id, status, summary) in &found {
        candidates.push(id, &[&truncate(&summary.title, 60), " · ", status.as_str()]);
    }
    candidates.finish()
}

/// Local branch names.
pub fn branches(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Some(store) = store() else {
        return Vec::new();
    };
    let Ok(platform) = store.repo().references() else {
        return Vec::new();
    };
    let Ok(iter) = platform.local_branches() else {
        return Vec::new();
    };
    iter.filter_map(Result::ok)
        .map(|r| r.name().shorten().to_string())
        .filter(|name| name.starts_with(typed.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// Configured git remotes.
pub fn remotes(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Some(store) = store() else {
        return Vec::new();
    };
    store
        .repo()
        .remote_names()
        .iter()
        .map(|name| name.to_string())
        .filter(|name| name.starts_with(typed.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}
