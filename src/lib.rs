//! `pm` keeps AI coding-agent sessions and the issues they work on as records inside the git
//! repository they belong to: one ref per record under `refs/pm/`, one commit per change.
//!
//! The library is the one core API; the command line (`cli`) and other front ends are thin
//! adapters over it, so they can never disagree about a rule.
// The MCP tool definitions are one json! literal deeper than the default limit.
#![recursion_limit = "256"]

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod lifecycle;
pub mod mcp;
pub mod merge;
pub mod model;
pub mod ops;
pub mod render;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod workspace;

pub use error::{Error, ErrorKind, Result};
