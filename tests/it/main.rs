//! The integration tests, one binary: the real `pm` on temporary repositories, with the git CLI
//! as the independent witness. One module per command family; `common` is the shared fixture.

mod common;

mod agent;
mod claude;
mod codex;
mod generated;
mod hooks;
mod index;
mod issues;
mod manners;
mod mcp;
mod runs;
mod safety;
mod serve;
mod sync;
mod sync_props;
mod ui;
