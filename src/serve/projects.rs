//! The repositories served, each a project: its name in URLs, its folder, a pool of opened
//! workspaces (one per request under way, kept for the next), and its change feed.

use super::changes::Feed;
use crate::error::{Error, Result};
use crate::workspace::Workspace;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// At most this many idle workspaces are kept per project, unless `PM_SERVE_POOL` says
/// otherwise (0: every request opens the repository anew, as a benchmark compares).
const POOL: usize = 8;

fn pool_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        std::env::var("PM_SERVE_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(POOL)
    })
}

pub struct Project {
    /// The name in URLs (`/api/v1/projects/<name>/…`): the main worktree's folder name.
    pub name: String,
    /// The main worktree's folder.
    pub path: PathBuf,
    /// The folder it was opened from.
    dir: PathBuf,
    /// Workspaces not in use. A workspace is not shared between threads (gix's repository
    /// handle is not), so each request takes one, or opens one when none is free.
    pool: Mutex<Vec<Workspace>>,
    pub feed: Feed,
}

impl Project {
    /// Run `f` with a workspace of this project (refreshed: configuration and clone id are
    /// read again), then keep the workspace for the next request.
    pub fn with_workspace<R>(&self, f: impl FnOnce(&Workspace) -> R) -> Result<R> {
        let idle = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let ws = match idle {
            Some(mut ws) => {
                ws.refresh();
                ws
            }
            None => Workspace::open(&self.dir)?,
        };
        ws.share_automatically(true);
        let out = f(&ws);
        ws.share_writes();
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < pool_size() {
            pool.push(ws);
        }
        Ok(out)
    }
}

/// Open every repository of `repos` (the first is the default project). Two folders of the
/// same repository are refused; names are made unique with a number.
pub fn open_all(repos: &[PathBuf], stopping: &Arc<AtomicBool>) -> Result<Vec<Arc<Project>>> {
    let mut projects: Vec<Arc<Project>> = Vec::new();
    let mut commons: Vec<PathBuf> = Vec::new();
    for dir in repos {
        let ws = Workspace::open(dir)
            .map_err(|e| Error::new(e.kind(), format!("{}: {}", dir.display(), e.message())))?;
        let path = ws.main_workdir()?.to_path_buf();
        let common = canonical(ws.repo().common_dir());
        if let Some(at) = commons.iter().position(|c| *c == common) {
            return Err(Error::usage(format!(
                "{} and {} are the same repository",
                projects[at].path.display(),
                dir.display()
            )));
        }
        commons.push(common.clone());
        let name = unique_name(&name_of(&path), &projects);
        let feed = Feed::start(&name, common, stopping.clone());
        projects.push(Arc::new(Project {
            name,
            path,
            dir: dir.clone(),
            pool: Mutex::new(vec![ws]),
            feed,
        }));
    }
    Ok(projects)
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// A folder's name as a project name: letters, digits, `.`, `_` and `-`; anything else `-`.
fn name_of(path: &Path) -> String {
    let raw = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match name.trim_matches('.') {
        "" => "project".to_string(),
        _ => name,
    }
}

fn unique_name(name: &str, taken: &[Arc<Project>]) -> String {
    let free = |candidate: &str| taken.iter().all(|p| p.name != candidate);
    if free(name) {
        return name.to_string();
    }
    (2..)
        .map(|n| format!("{name}-{n}"))
        .find(|candidate| free(candidate))
        .unwrap_or_else(|| name.to_string())
}
