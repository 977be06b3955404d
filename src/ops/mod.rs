//! The core API: one module per capability. Each operation takes the [`Workspace`] and a
//! request, and returns a typed result (with warnings) that front ends turn into their views
//! (`crate::api`). Operations never print and never name a front end's flags or arguments.
//!
//! [`Workspace`]: crate::workspace::Workspace

pub mod hooks;
pub mod issues;
pub mod launchers;
pub mod overview;
pub mod provision;
pub mod runs;
pub mod sessions;
pub mod sync;
pub mod worktrees;

#[cfg(test)]
mod tests;
