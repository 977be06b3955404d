//! The control channel of a running supervisor: a Unix socket that takes one JSON request a
//! connection (`input`, `abort`, `finish`, `follow`) and answers one JSON line, or for
//! `follow` streams the events as they are appended until the run ends.
//!
//! Sockets live in a short private folder (`$TMPDIR/pm-<uid>/`), named after the session and a
//! hash of the repository, since a socket path may not be longer than about 100 bytes.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A request to the supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Send text to the agent (a follow-up, or the prompt of its next turn).
    Input { text: String },
    /// Stop the run now: the agent's process group is interrupted, then terminated, then killed.
    Abort { why: String },
    /// Let the agent finish its turn, then end the run (a session completed meanwhile).
    Finish,
    /// Stream the events after `since`, then every new one, until the run ends.
    Follow { since: u64 },
}

/// The supervisor's answer to every request but `follow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// Where the supervisor of session `session` in the repository whose pm folder is `pm_dir`
/// listens.
pub fn socket_path(pm_dir: &Path, session: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    pm_dir.hash(&mut hasher);
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("pm-{uid}")).join(format!(
        "{}-{:08x}.sock",
        session,
        hasher.finish() as u32
    ))
}

/// Make the folder of `socket` private to this user (created if missing).
pub fn prepare_folder(socket: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let Some(folder) = socket.parent() else {
        return Ok(());
    };
    let _ = std::fs::DirBuilder::new().mode(0o700).create(folder);
    let meta = std::fs::symlink_metadata(folder)
        .map_err(|e| Error::failed(format!("could not create {}: {e}", folder.display())))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::failed(format!(
            "{} is not a folder private to this user; remove it",
            folder.display()
        )));
    }
    let _ = std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// Send `request` and read the one-line reply.
pub fn send(socket: &Path, request: &Request) -> Result<Reply> {
    let mut stream = connect(socket)?;
    let line = serde_json::to_string(request)
        .map_err(|e| Error::failed(format!("cannot encode a request: {e}")))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| lost(socket, &e))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(|e| lost(socket, &e))?;
    serde_json::from_str(&reply)
        .map_err(|_| Error::failed("the agent's supervisor ended before it answered"))
}

/// Follow the events after `since`: the connection streams one JSON event a line.
pub fn follow(socket: &Path, since: u64) -> Result<BufReader<UnixStream>> {
    let mut stream = connect(socket)?;
    let line = serde_json::to_string(&Request::Follow { since })
        .map_err(|e| Error::failed(format!("cannot encode a request: {e}")))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| lost(socket, &e))?;
    Ok(BufReader::new(stream))
}

fn connect(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).map_err(|e| {
        Error::failed(format!(
            "could not reach the agent's supervisor at {}: {e}",
            socket.display()
        ))
    })
}

fn lost(socket: &Path, e: &std::io::Error) -> Error {
    Error::failed(format!(
        "lost the agent's supervisor at {}: {e}",
        socket.display()
    ))
}
