//! Git itself: the only place that touches git's own files and the one module that runs the
//! `git` binary. [`open`] finds and opens the repository; [`refs`] lists refs below a prefix;
//! [`loose_ref`] creates and moves a ref the way git does (compare-and-swap under
//! `<ref>.lock`); [`branch`] makes and deletes branches and reads commits; [`worktree`] adds
//! and removes linked worktrees; [`identity`] resolves author and committer; [`command`] runs
//! the `git` binary (push, config edits that must keep the user's formatting, maintenance). None of it knows what a record or a session
//! is; the record store's own codec (objects of a record) lives in `store`.

pub mod branch;
pub mod command;
pub mod identity;
pub mod loose_ref;
pub mod merge;
pub mod open;
pub mod refs;
pub mod worktree;
