//! Running a worktree's hook commands (`setup` after it is made, `teardown` before it is
//! removed): the user's own first, then the repository's, each with `sh -c` in the worktree,
//! stdin closed, its output (stdout and stderr together) to the session's event log and to
//! whoever listens (the CLI's terminal).
//!
//! The commands come only from config files. The repository's run only when the user approved
//! each of them for this repository ([`Approvals`]); when one is not, none of the repository's
//! commands of that hook run (they are a sequence) and the user is told how to approve them.
//! Nothing in a record is ever run or put on a command line; the session's id, branch and issue
//! reach the commands as environment variables only, and only when they are well formed.

use crate::config::WorktreeHooks;
use crate::config::approvals::{Approvals, repository_key};
use crate::model::Timestamp;
use crate::runtime::events::{self, Body, HookOutcome};
use crate::runtime::lease::{self, RunState};
use crate::workspace::{HookNote, Workspace};
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The ports `PM_PORT` is taken from: 10000 to 19999.
pub const PORT_BASE: u16 = 10_000;
pub const PORT_COUNT: u16 = 10_000;

/// A line of output longer than this is cut (in the log and on the terminal).
const MAX_LINE: usize = 4096;

/// When a hook's command has ended, how long what it left running may keep its output open.
const DRAIN: Duration = Duration::from_millis(200);

/// The two hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    Setup,
    Teardown,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Setup => "setup",
            Hook::Teardown => "teardown",
        }
    }

    pub fn commands(self, hooks: &WorktreeHooks) -> &[String] {
        match self {
            Hook::Setup => &hooks.setup,
            Hook::Teardown => &hooks.teardown,
        }
    }
}

/// Where a command comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The user's own config file: needs no approval.
    User,
    /// The repository's `.pm.toml`: runs once approved.
    Repository,
}

/// One command of a hook and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRun {
    pub command: String,
    pub source: Source,
    pub outcome: HookOutcome,
    /// How it ended or why it did not run (`exit status 1`, `not approved`).
    pub detail: String,
}

/// Whom the commands run for, as the environment gives it to them.
pub(super) struct Target<'a> {
    pub session: &'a str,
    pub branch: &'a str,
    pub issue: Option<&'a str>,
    pub worktree: &'a Path,
}

/// The port of `branch`, the same every time: FNV-1a of the name, in 10000..=19999.
pub fn port_of(branch: &str) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in branch.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    PORT_BASE + (hash % u64::from(PORT_COUNT)) as u16
}

/// The session's event log while provisioning, opened at the first event (a worktree with
/// nothing to provision gets no log). Unless an agent of the session runs here: its supervisor
/// is then the log's one writer, and the lines go only to the listener.
pub(super) struct EventSink {
    dir: std::path::PathBuf,
    state: SinkState,
}

enum SinkState {
    Unopened,
    Open(events::Log),
    /// A run of the session is alive, or the log cannot be written (the disk is full, say).
    Closed,
}

impl EventSink {
    pub fn new(ws: &Workspace, session: &str) -> EventSink {
        EventSink {
            dir: crate::runtime::run_dir(ws.local(), session),
            state: SinkState::Unopened,
        }
    }

    pub fn append(&mut self, body: Body) {
        if let SinkState::Unopened = self.state {
            let running = lease::read(&self.dir)
                .ok()
                .flatten()
                .is_some_and(|info| info.state() == RunState::Running);
            self.state = match events::Log::open(&self.dir) {
                Ok(log) if !running => SinkState::Open(log),
                _ => SinkState::Closed,
            };
        }
        if let SinkState::Open(log) = &mut self.state
            && log.append(body).is_err()
        {
            self.state = SinkState::Closed;
        }
    }
}

/// Whether `hook` has any command, in either file (when the configuration cannot be read,
/// [`run_hook`] is the one to say so).
pub(super) fn has_commands(ws: &Workspace, hook: Hook) -> bool {
    ws.config().map_or(true, |config| {
        !hook.commands(&config.worktree.user).is_empty()
            || !hook.commands(&config.worktree.repository).is_empty()
    })
}

/// Run the commands of `hook` for `target` (unless the workspace skips hooks). Returns each
/// command with how it went, and the warnings for the user: a command that failed, commands
/// that were not approved.
pub(super) fn run_hook(
    ws: &Workspace,
    hook: Hook,
    target: &Target<'_>,
    sink: &mut EventSink,
) -> (Vec<CommandRun>, Vec<String>) {
    let mut warnings = Vec::new();
    let (config, main) = match (ws.config(), ws.main_workdir()) {
        (Ok(config), Ok(main)) => (config, main),
        (Err(e), _) | (_, Err(e)) => {
            warnings.push(format!(
                "the {} commands did not run: {}",
                hook.name(),
                e.message()
            ));
            return (Vec::new(), warnings);
        }
    };
    let planned: Vec<(String, Source)> = hook
        .commands(&config.worktree.user)
        .iter()
        .map(|c| (c.clone(), Source::User))
        .chain(
            hook.commands(&config.worktree.repository)
                .iter()
                .map(|c| (c.clone(), Source::Repository)),
        )
        .collect();
    if planned.is_empty() {
        return (Vec::new(), warnings);
    }
    let mut runs = Vec::new();
    let skip =
        |runs: &mut Vec<CommandRun>, sink: &mut EventSink, command: &str, source, detail: &str| {
            sink.append(Body::HookEnded {
                hook: hook.name().into(),
                command: command.to_string(),
                outcome: HookOutcome::Skipped,
                detail: detail.to_string(),
            });
            runs.push(CommandRun {
                command: command.to_string(),
                source,
                outcome: HookOutcome::Skipped,
                detail: detail.to_string(),
            });
        };
    if ws.hooks_skipped() {
        for (command, source) in &planned {
            skip(&mut runs, sink, command, *source, "hooks were skipped");
        }
        return (runs, warnings);
    }
    let repository = repository_key(main);
    let approvals = Approvals::load().unwrap_or_else(|e| {
        warnings.push(format!(
            "{}; no repository command is approved",
            e.message()
        ));
        Approvals::default()
    });
    let unapproved: Vec<&str> = planned
        .iter()
        .filter(|(c, s)| *s == Source::Repository && !approvals.is_approved(&repository, c))
        .map(|(c, _)| c.as_str())
        .collect();
    if !unapproved.is_empty() {
        let quoted: Vec<String> = unapproved.iter().map(|c| format!("{c:?}")).collect();
        warnings.push(format!(
            "the {} commands of the repository's .pm.toml did not run: {} {} not approved \
             for {}; `pm hooks` shows them, `pm hooks approve` approves them",
            hook.name(),
            quoted.join(", "),
            if unapproved.len() == 1 { "is" } else { "are" },
            repository.display()
        ));
    }
    let env = environment(hook, target, main);
    let mut failed = false;
    for (command, source) in &planned {
        if *source == Source::Repository && !unapproved.is_empty() {
            let detail = if unapproved.contains(&command.as_str()) {
                "not approved"
            } else {
                "another command of the repository is not approved"
            };
            skip(&mut runs, sink, command, *source, detail);
            continue;
        }
        if failed && hook == Hook::Setup {
            skip(
                &mut runs,
                sink,
                command,
                *source,
                "an earlier setup command failed",
            );
            continue;
        }
        let run = run_one(ws, hook, command, *source, target.worktree, &env, sink);
        if run.outcome == HookOutcome::Failed {
            failed = true;
            warnings.push(format!(
                "the {} command {:?} failed ({}) in {}",
                hook.name(),
                command,
                run.detail,
                target.worktree.display()
            ));
        }
        runs.push(run);
    }
    (runs, warnings)
}

/// The variables every hook command gets.
fn environment(
    hook: Hook,
    target: &Target<'_>,
    main: &Path,
) -> Vec<(&'static str, std::ffi::OsString)> {
    // The record's text reaches a command only when it has the shape pm itself gives it.
    let branch = if crate::git::branch::check_branch_name(target.branch).is_ok() {
        target.branch
    } else {
        ""
    };
    let id_or_empty = |id: Option<&str>| {
        id.filter(|id| crate::model::id::is_canonical_id(id))
            .unwrap_or_default()
            .to_string()
    };
    vec![
        ("PM_HOOK", hook.name().into()),
        ("PM_SESSION_ID", id_or_empty(Some(target.session)).into()),
        ("PM_BRANCH", branch.into()),
        ("PM_ISSUE_ID", id_or_empty(target.issue).into()),
        ("PM_WORKTREE", target.worktree.as_os_str().to_owned()),
        ("PM_REPO", main.as_os_str().to_owned()),
        ("PM_PORT", port_of(branch).to_string().into()),
    ]
}

/// Run one command to its end; its lines go to the log and the listener as they come.
fn run_one(
    ws: &Workspace,
    hook: Hook,
    command: &str,
    source: Source,
    dir: &Path,
    env: &[(&'static str, std::ffi::OsString)],
    sink: &mut EventSink,
) -> CommandRun {
    ws.tell_hooks(HookNote::Started {
        hook: hook.name(),
        command,
    });
    let mut on_line = |text: &str| {
        ws.tell_hooks(HookNote::Output {
            hook: hook.name(),
            text,
        });
        sink.append(Body::HookOutput {
            hook: hook.name().into(),
            command: command.to_string(),
            text: text.to_string(),
        });
    };
    let limit = ws
        .config()
        .map(|c| c.worktree.timeout())
        .unwrap_or(Some(Duration::from_secs(
            crate::config::DEFAULT_HOOK_TIMEOUT,
        )));
    let (outcome, detail) = match spawn_and_wait(command, dir, env, limit, &mut on_line) {
        Ok(Ended::Exited(status)) if status.success() => {
            (HookOutcome::Succeeded, "exit status 0".to_string())
        }
        Ok(Ended::Exited(status)) => (HookOutcome::Failed, describe_status(status)),
        Ok(Ended::TimedOut(limit)) => (
            HookOutcome::Failed,
            format!("stopped after {} s ([worktree] timeout)", limit.as_secs()),
        ),
        Err(e) => (HookOutcome::Failed, format!("could not start it: {e}")),
    };
    sink.append(Body::HookEnded {
        hook: hook.name().into(),
        command: command.to_string(),
        outcome,
        detail: detail.clone(),
    });
    CommandRun {
        command: command.to_string(),
        source,
        outcome,
        detail,
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("ended by signal {signal}"),
        (None, None) => "ended".to_string(),
    }
}

/// How a command ended.
enum Ended {
    Exited(std::process::ExitStatus),
    /// It ran longer than this and was stopped.
    TimedOut(Duration),
}

/// `sh -c command` in `dir` with `env`, stdin closed, stdout and stderr into one pipe read line
/// by line. Once the command has ended, what it left running may hold the pipe open: its
/// output is read for a short while more, then left. A command still running after `limit` is
/// stopped, with the processes it started.
fn spawn_and_wait(
    command: &str,
    dir: &Path,
    env: &[(&'static str, std::ffi::OsString)],
    limit: Option<Duration>,
    on_line: &mut dyn FnMut(&str),
) -> std::io::Result<Ended> {
    let started = Instant::now();
    let (reader, writer) = std::io::pipe()?;
    let mut child = {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(command)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            // A hook started from inside an agent's run is no process of that run.
            .env_remove(crate::runtime::lease::MARK)
            .envs(env.iter().map(|(k, v)| (k, v)));
        sh.spawn()?
        // `sh` goes here, and with it this process's copies of the pipe's writing end.
    };
    let (tx, rx) = channel::<String>();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line_of(&buf)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => on_line(&line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if child.try_wait()?.is_some() {
                    break;
                }
                if let Some(limit) = limit.filter(|l| started.elapsed() > *l) {
                    stop_tree(&mut child);
                    return Ok(Ended::TimedOut(limit));
                }
            }
        }
    }
    let status = child.wait()?;
    let until = Instant::now() + DRAIN;
    while let Ok(line) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        on_line(&line);
    }
    Ok(Ended::Exited(status))
}

/// How long a command that is being stopped gets to end before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// Stop `child` and every process below it: SIGTERM, then SIGKILL to those still there after
/// [`GRACE`]. The command stays in pm's process group (so that Ctrl-C reaches it), so its
/// processes are found by their parents.
#[cfg(target_os = "linux")]
fn stop_tree(child: &mut std::process::Child) {
    let tree = process_tree(child.id());
    let signal = |signal: i32, tree: &[lease::Stat]| {
        for process in tree {
            // Still the same process (not a new one with its pid): signal it.
            if lease::stat(process.pid).is_some_and(|now| now.start == process.start) {
                // SAFETY: signals a process found below the command a moment ago.
                unsafe { libc::kill(process.pid as libc::pid_t, signal) };
            }
        }
    };
    signal(libc::SIGTERM, &tree);
    let until = Instant::now() + GRACE;
    while Instant::now() < until && !matches!(child.try_wait(), Ok(Some(_))) {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(libc::SIGKILL, &tree);
    let _ = child.kill();
    let _ = child.wait();
}

/// Elsewhere the command alone is killed.
#[cfg(not(target_os = "linux"))]
fn stop_tree(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Process `root` and every process below it.
#[cfg(target_os = "linux")]
fn process_tree(root: u32) -> Vec<lease::Stat> {
    let all = lease::processes();
    let mut tree: Vec<lease::Stat> = all.iter().filter(|p| p.pid == root).copied().collect();
    tree.extend(lease::descendants(&all, root));
    tree
}

/// One line of output as text: without its line end, invalid UTF-8 replaced, cut to
/// [`MAX_LINE`] bytes.
fn line_of(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// What provisioning a session's worktree did, kept beside its run (`setup.json`) so that
/// `agent show` can say so later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupReport {
    pub time: Timestamp,
    /// `failed` when a setup command failed or files could not be copied, else `skipped` when
    /// a command did not run, else `succeeded`.
    pub state: HookOutcome,
    /// The entries copied from the main worktree (relative paths).
    pub copied: Vec<String>,
    /// The setup commands and how each went.
    pub commands: Vec<CommandRun>,
    /// What went wrong besides the commands (copying).
    pub problems: Vec<String>,
}

/// The file that keeps the [`SetupReport`] of a session's worktree.
pub(super) fn report_path(ws: &Workspace, session: &str) -> std::path::PathBuf {
    crate::runtime::run_dir(ws.local(), session).join("setup.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stable_and_in_range() {
        assert_eq!(port_of("feature/a"), port_of("feature/a"));
        assert_ne!(port_of("feature/a"), port_of("feature/b"));
        for n in 0..2000 {
            let port = port_of(&format!("branch-{n}"));
            assert!((PORT_BASE..PORT_BASE + PORT_COUNT).contains(&port));
        }
    }

    #[test]
    fn output_lines_are_text_of_bounded_length() {
        assert_eq!(line_of(b"done\r\n"), "done");
        assert_eq!(line_of(b"caf\xc3\xa9 \xff\n"), "café \u{fffd}");
        let long = "é".repeat(MAX_LINE);
        let cut = line_of(long.as_bytes());
        assert!(cut.len() <= MAX_LINE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
