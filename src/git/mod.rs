//! Git itself. Today only [`command`], the one place that runs the `git` binary (for what gix
//! cannot do: push, config edits that must keep the user's formatting, maintenance); the
//! object, ref and worktree code moves here as the layout in docs/architecture.md fills in.

pub mod command;
