//! Automatic sharing (`[sync] auto = true`): once a command has written records, a `pm sync`
//! starts in the background, so the command neither waits for the remote nor fails because of
//! it.
//!
//! Bursts are gathered: a background sync first takes `.git/pm/auto-sync.queue` and waits a
//! moment; any command that writes meanwhile finds the queue taken and starts nothing, since
//! the sync still to come will push its records too. The queue is let go once the sync has the
//! clone's sync mutex and starts its first round: from then on its push reads the refs after
//! every write that found the queue taken, and a later write queues the next sync (which waits
//! for this one on the sync mutex). At most one sync runs and one waits, however many commands
//! write.
//!
//! How the last one went is kept in `.git/pm/auto-sync.json`, shown by the overview; after a
//! failure (no network, a refused push) the next command of this clone starts another.

use super::{Phase, SyncOptions, sync};
use crate::error::Result;
use crate::model::Timestamp;
use crate::store::Mode;
use crate::workspace::Workspace;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The file a background sync holds from its start until its first round begins.
const QUEUE: &str = "auto-sync.queue";
/// How the last automatic sync went.
const STATUS: &str = "auto-sync.json";
/// How long a background sync waits for more writes before it starts.
const GATHER: Duration = Duration::from_millis(200);

/// How the last automatic sync of this clone went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AutoSync {
    /// When it ended.
    pub at: Timestamp,
    /// Whether every record went.
    pub ok: bool,
    /// Records it pushed.
    pub pushed: usize,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn status_path(ws: &Workspace) -> PathBuf {
    ws.local().dir().join(STATUS)
}

/// How the last automatic sync went, if one ran (a file that cannot be read counts as none).
pub fn last(ws: &Workspace) -> Option<AutoSync> {
    let text = std::fs::read(status_path(ws)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Keep how a sync went. A status that cannot be written is lost: the next write starts
/// another sync anyway.
fn record(ws: &Workspace, status: &AutoSync) {
    let path = status_path(ws);
    let temp = path.with_extension(format!("json.{}", std::process::id()));
    if let Ok(bytes) = serde_json::to_vec(status) {
        let _ = std::fs::create_dir_all(ws.local().dir());
        let _ = crate::fsutil::write_atomic(&temp, &path, &bytes);
    }
}

fn failed(ws: &Workspace, error: String) -> AutoSync {
    AutoSync {
        at: ws.now(),
        ok: false,
        pushed: 0,
        error: Some(error),
    }
}

/// After a command: with `[sync] auto`, start a sync in the background if records were written
/// through `ws` since the last call, or if the last automatic sync failed. Never fails and
/// never waits: what goes wrong is kept for the overview.
pub fn after_writes(ws: &Workspace) {
    let wrote = ws.store().take_wrote();
    if !wrote && last(ws).is_none_or(|status| status.ok) {
        return;
    }
    if !ws.config().is_ok_and(|config| config.sync_auto) {
        return;
    }
    // A sync that is gathering writes will push these as well.
    match ws.local().try_hold(QUEUE) {
        Ok(Some(_free)) => {}
        Ok(None) => return,
        Err(e) => return record(ws, &failed(ws, e.message().to_string())),
    }
    if let Err(e) = start(ws) {
        record(ws, &failed(ws, format!("could not start pm sync: {e}")));
    }
}

/// Start `pm sync --background` for the repository of `ws`, detached from the terminal (an
/// interrupt of the command does not reach it), its output discarded.
fn start(ws: &Workspace) -> std::io::Result<()> {
    use std::process::{Command, Stdio};
    let program = std::env::current_exe()?;
    let repo = ws.repo();
    let dir = repo.workdir().unwrap_or_else(|| repo.common_dir());
    let mut command = Command::new(program);
    command
        .arg("-C")
        .arg(dir)
        .args(["sync", "--background"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn()?;
    // A long-running front end (`pm serve`, `pm mcp`) reaps it; a command exits first and
    // leaves that to the system.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The body of `pm sync --background`: gather writes for a moment, sync with the configured
/// remote as `pm sync` would, and keep how it went. Returns without syncing when another
/// background sync is already gathering.
pub fn run_background(ws: &Workspace) -> Result<()> {
    let Some(queue) = ws.local().try_hold(QUEUE)? else {
        return Ok(());
    };
    std::thread::sleep(GATHER);
    let mut queue = Some(queue);
    let outcome = ws.remote_or_default(None).and_then(|remote| {
        let options = SyncOptions {
            fetch: true,
            push: true,
            branches: ws.config()?.sync_branches,
            archive_before: super::archive_cutoff(ws)?,
            mode: Mode::Write,
        };
        sync(ws, &remote, options, &mut |phase, _, _| {
            if phase != Phase::Waiting {
                queue = None;
            }
        })
    });
    let status = match outcome {
        Ok(report) => finished(ws, &report),
        Err(e) => failed(ws, e.message().to_string()),
    };
    record(ws, &status);
    Ok(())
}

/// After a `pm sync` run by hand: with `[sync] auto`, keep how it went too, so that the
/// overview does not show an older failure as the last word.
pub fn note_manual(ws: &Workspace, report: &super::SyncReport) {
    if report.dry_run || !ws.config().is_ok_and(|config| config.sync_auto) {
        return;
    }
    record(ws, &finished(ws, report));
}

/// How a sync that ran went: every record pushed, or how many the remote refused.
fn finished(ws: &Workspace, report: &super::SyncReport) -> AutoSync {
    if report.push_rejected.is_empty() {
        return AutoSync {
            at: ws.now(),
            ok: true,
            pushed: report.pushed,
            error: None,
        };
    }
    failed(
        ws,
        format!(
            "the remote {} refused {} record(s) after {} round(s)",
            report.remote,
            report.push_rejected.len(),
            report.rounds
        ),
    )
}
