//! Running agents: a detached supervisor per running session starts the agent in the session's
//! worktree, owns its stdin and stdout, appends every event to a local log, takes input and
//! abort over a local control socket, and moves the session to idle when the agent exits. What
//! is running is observed (the supervisor's lease: pid and process start time), never claimed.
//!
//! Everything here is local to the clone (`.git/pm/run/<session>/`), like the rest of
//! `store::local`; the program run always comes from the user's config or the built-ins
//! (`provider`), never from a record.

pub mod control;
pub mod events;
pub mod lease;
pub mod provider;
pub mod supervisor;
pub mod transcript;

use crate::store::local::LocalData;
use std::path::PathBuf;

/// The folder of a session's run: `.git/pm/run/<session>/`.
pub fn run_dir(local: &LocalData, session: &str) -> PathBuf {
    local.dir().join("run").join(session)
}
