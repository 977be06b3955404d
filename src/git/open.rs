//! Finding and opening the repository, with the checks every command needs.

use crate::error::{Error, Result};
use std::path::Path;

/// Identity used when neither `user.*`, `committer.*`/`author.*` nor the environment name one.
const FALLBACK_OVERRIDES: [&str; 4] = [
    "gitoxide.committer.nameFallback=pm",
    "gitoxide.committer.emailFallback=pm@localhost",
    "gitoxide.author.nameFallback=pm",
    "gitoxide.author.emailFallback=pm@localhost",
];

/// Open the repository containing `dir`: any subdirectory of any worktree works, and all
/// worktrees of one repository share one store. Bare and reftable repositories are refused.
pub fn open_repository(dir: &Path) -> Result<gix::Repository> {
    if !dir.is_dir() {
        return Err(Error::usage(format!(
            "cannot use {}: no such directory",
            dir.display()
        )));
    }
    let options = gix::open::Options::default().config_overrides(FALLBACK_OVERRIDES);
    let trust = gix::sec::trust::Mapping {
        full: options.clone(),
        reduced: options,
    };
    let repo = match gix::ThreadSafeRepository::discover_opts(dir, Default::default(), trust) {
        Ok(repo) => repo.to_thread_local(),
        Err(err) => {
            if let Some(reftable) = find_reftable_upwards(dir) {
                return Err(reftable_error(&reftable));
            }
            let text = err.to_string();
            if text.contains("not a git repository")
                || text.contains("Could not find a git repository")
                || text.contains("No repository found")
            {
                return Err(Error::failed(format!(
                    "not a git repository (or any parent): {}",
                    dir.display()
                )));
            }
            return Err(Error::failed(format!(
                "could not open the git repository at {}: {}",
                dir.display(),
                crate::error::one_line(&text)
            )));
        }
    };
    let storage = repo
        .config_snapshot()
        .string("extensions.refStorage")
        .map(|v| v.to_string());
    if let Some(storage) = storage
        && !storage.eq_ignore_ascii_case("files")
    {
        return Err(reftable_error(repo.common_dir()));
    }
    if repo.workdir().is_none() {
        return Err(Error::failed(format!(
            "{} is a bare repository; pm needs a repository with a working tree",
            repo.git_dir().display()
        )));
    }
    Ok(repo)
}

fn reftable_error(git_dir: &Path) -> Error {
    Error::failed(format!(
        "{} uses the reftable ref storage, which pm cannot read; convert it with `git refs migrate --ref-format=files`",
        git_dir.display()
    ))
}

/// Look for a `.git` directory (or a bare repository) with a `reftable` folder above `dir`.
/// Used only to explain why opening failed.
fn find_reftable_upwards(dir: &Path) -> Option<std::path::PathBuf> {
    let start = dir.canonicalize().ok()?;
    for candidate in start.ancestors() {
        for git_dir in [candidate.join(".git"), candidate.to_path_buf()] {
            if git_dir.join("reftable").is_dir() && git_dir.join("HEAD").exists() {
                return Some(git_dir);
            }
        }
    }
    None
}
