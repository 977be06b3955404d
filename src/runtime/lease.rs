//! The state of a session's run, `run.json` in its run folder: who runs it (the supervisor's
//! and the agent's pid with their process start times, so that a pid reused by another process
//! is never taken for them), which provider thread it continues, and how it ended. While the
//! supervisor field is set and names a live process, the run is alive: that is the lease.

use crate::error::{Error, Result};
use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A process, named by its pid and its start time (so a reused pid does not match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proc {
    pub pid: u32,
    /// When the process started, in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub start: u64,
}

impl Proc {
    /// This process.
    pub fn me() -> Option<Proc> {
        Proc::of(std::process::id())
    }

    /// The process `pid` as it is now, if there is one.
    pub fn of(pid: u32) -> Option<Proc> {
        start_time(pid).map(|start| Proc { pid, start })
    }

    /// Whether this very process still runs (not a zombie, not another one with its pid).
    pub fn is_alive(&self) -> bool {
        start_time(self.pid) == Some(self.start) && !is_zombie(self.pid)
    }

    /// Whether the process group this process led is still its own: the process is there (a
    /// zombie too), or its pid is free (a pid is not given to a new process while a group of
    /// that number has members, so members left are its own). False when another process has
    /// the pid.
    pub fn owns_its_group(&self) -> bool {
        start_time(self.pid).is_none_or(|start| start == self.start)
    }
}

/// A run of a session's agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The id of the run (each start gets a new one).
    #[serde(default)]
    pub run: Option<String>,
    /// The agent name (from the session) and the protocol spoken with it.
    pub agent: String,
    pub provider: String,
    /// The provider's own session (thread) id, which a later turn continues.
    #[serde(default)]
    pub provider_session_id: Option<String>,
    /// The supervisor while it runs; `None` once the run ended.
    #[serde(default)]
    pub supervisor: Option<Proc>,
    /// The agent process while it runs.
    #[serde(default)]
    pub agent_process: Option<Proc>,
    /// The control socket the supervisor listens on.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    pub host: String,
    pub started: Option<Timestamp>,
    /// Turns finished over all runs of the session.
    #[serde(default)]
    pub turns: u32,
    /// The agent finished its turn and waits for input.
    #[serde(default)]
    pub waiting: bool,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub exit_signal: Option<i32>,
    #[serde(default)]
    pub ended: Option<Timestamp>,
}

/// What a run is doing, as `show` and `list` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// The supervisor and its agent run.
    Running,
    /// The run ended; the agent exited.
    Exited,
    /// The supervisor is gone without having ended the run (killed, or the machine stopped).
    Dead,
    /// The session never ran an agent in this clone.
    None,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Exited => "exited",
            RunState::Dead => "dead",
            RunState::None => "none",
        }
    }
}

impl RunInfo {
    pub fn state(&self) -> RunState {
        match self.supervisor {
            Some(supervisor) if supervisor.is_alive() => RunState::Running,
            Some(_) => RunState::Dead,
            None if self.started.is_some() => RunState::Exited,
            None => RunState::None,
        }
    }
}

fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("run.json")
}

/// The run of the session whose run folder is `run_dir`, if it ever ran here.
pub fn read(run_dir: &Path) -> Result<Option<RunInfo>> {
    let path = path(run_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::failed(format!("{} cannot be read: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::failed(format!(
            "could not read {}: {e}",
            path.display()
        ))),
    }
}

/// Write the run's state (readers see the old or the new one, never a part).
pub fn write(run_dir: &Path, info: &RunInfo) -> Result<()> {
    let text = serde_json::to_string_pretty(info)
        .map_err(|e| Error::failed(format!("cannot encode the run state: {e}")))?;
    crate::store::local::write_atomic(&path(run_dir), &text)
}

/// What `/proc/<pid>/stat` says of a process (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// `R`, `S`, `Z` (a zombie, waiting to be reaped), ...
    pub state: char,
    pub parent: u32,
    pub group: i32,
    /// Clock ticks since boot (field 22).
    pub start: u64,
}

/// The stat of process `pid`, if it exists.
#[cfg(target_os = "linux")]
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        group: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process there is (Linux), read from `/proc`.
#[cfg(target_os = "linux")]
pub fn processes() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

/// The processes of `all` below process `root` (its children, theirs, ...), `root` aside.
pub fn descendants(all: &[Stat], root: u32) -> Vec<Stat> {
    let mut found: Vec<Stat> = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for child in all.iter().filter(|p| p.parent == parent && p.pid != root) {
            parents.push(child.pid);
            found.push(*child);
        }
    }
    found
}

#[cfg(target_os = "linux")]
fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.start)
}

#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state == 'Z')
}

/// Elsewhere a process is named by its pid alone, checked with a null signal.
#[cfg(all(unix, not(target_os = "linux")))]
fn start_time(pid: u32) -> Option<u64> {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    exists.then_some(0)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_zombie(_pid: u32) -> bool {
    false
}

/// The environment variable that marks every process of a session's run: the supervisor sets
/// it for the agent, and whatever the agent starts inherits it.
pub const MARK: &str = "PM_SESSION";

/// Kill every process of this user marked as belonging to the run of `session` (Linux), such
/// as what an agent left in a session of its own when its supervisor died.
pub fn kill_marked(session: &str) {
    #[cfg(target_os = "linux")]
    {
        let wanted = format!("{MARK}={session}");
        let me = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
                // SAFETY: a signal to a process of this run, found just now.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = session;
}
