//! Worktrees: every worktree of the repository, and the pruning of git's entries of those
//! whose folder is gone.

use super::issues::DryRun;
use super::reply::{Json, Reply};
use super::routes::{ProjectOf, blocking};
use super::sessions::mode;
use crate::api;
use crate::ops::worktrees;
use axum::response::Response;

/// `GET /worktrees`: the main worktree first, then the linked ones.
pub async fn list(ProjectOf(p): ProjectOf) -> Response {
    blocking(p, |ws| {
        let list = worktrees::list(ws)?;
        Reply::json(&api::WorktreeList::new(&list))
    })
    .await
}

/// `POST /worktrees/prune`.
pub async fn prune(ProjectOf(p): ProjectOf, Json(body): Json<DryRun>) -> Response {
    blocking(p, move |ws| {
        let mode = mode(body.dry_run);
        let pruned = worktrees::prune(ws, mode)?;
        Reply::json(&api::WorktreesPruned::new(&pruned, mode))
    })
    .await
}
