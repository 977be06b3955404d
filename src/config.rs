//! Settings: built-in defaults, then the user's `~/.config/pm/config.toml` (or
//! `$XDG_CONFIG_HOME/pm/config.toml`), then the repository's `.pm.toml` in the main worktree.
//! Later files override earlier ones key by key.
//!
//! `.pm.toml` is committed and comes from other people, so its `worktree_dir` must be a relative
//! path without `..`; only the user's own file may point anywhere.

use crate::error::{Context, Error, Result};
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

/// The worktree path template used when none is configured.
pub const DEFAULT_WORKTREE_DIR: &str = "{repo}.worktrees/{branch}";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Put in front of branch names derived from issue titles.
    pub branch_prefix: String,
    /// Where worktrees go, relative to the folder that holds the main worktree.
    /// `{repo}` is the main worktree's folder name, `{branch}` the branch with `/` turned into `-`.
    pub worktree_dir: String,
    /// Agent recorded when `--agent` is not given.
    pub agent: String,
    /// The git remote `pm sync` and `pm agent resume` use when none is named.
    pub remote: String,
    /// `worktree_dir` came from the repository's `.pm.toml`: the folders it gives must stay
    /// inside the folder that holds the main worktree, symbolic links resolved.
    pub worktree_dir_from_repo: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            branch_prefix: "feature/".into(),
            worktree_dir: DEFAULT_WORKTREE_DIR.into(),
            agent: "claude".into(),
            remote: "origin".into(),
            worktree_dir_from_repo: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    branch_prefix: Option<String>,
    worktree_dir: Option<String>,
    agent: Option<String>,
    remote: Option<String>,
}

impl Config {
    /// Load the user's file and the repository's `.pm.toml` (in `main_workdir`).
    pub fn load(main_workdir: &Path) -> Result<Self> {
        let mut config = Config::default();
        if let Some(path) = user_config_path() {
            config.apply(&path, true)?;
        }
        config.apply(&main_workdir.join(".pm.toml"), false)?;
        Ok(config)
    }

    fn apply(&mut self, path: &Path, trusted: bool) -> Result<()> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::failed(format!(
                    "could not read {}: {e}",
                    path.display()
                )));
            }
        };
        let file: ConfigFile = toml::from_str(&text).map_err(|e| {
            Error::failed(format!(
                "invalid config file {}: {}",
                path.display(),
                e.message()
            ))
        })?;
        if let Some(prefix) = file.branch_prefix {
            if !prefix.is_empty() {
                crate::worktree::check_branch_name(&format!("{prefix}x")).map_err(|_| {
                    Error::failed(format!(
                        "invalid branch_prefix {prefix:?} in {}",
                        path.display()
                    ))
                })?;
            }
            self.branch_prefix = prefix;
        }
        if let Some(template) = file.worktree_dir {
            check_template(&template, trusted).map_err(|why| {
                Error::failed(format!(
                    "invalid worktree_dir {template:?} in {}: {why}",
                    path.display()
                ))
            })?;
            self.worktree_dir = template;
            self.worktree_dir_from_repo = !trusted;
        }
        if let Some(agent) = file.agent {
            self.agent = agent;
        }
        if let Some(remote) = file.remote {
            self.remote = remote;
        }
        Ok(())
    }

    /// The worktree folder for a branch folder name, given the main worktree.
    pub fn worktree_path(&self, main_workdir: &Path, branch_dir: &str) -> Result<PathBuf> {
        let repo_name = main_workdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::failed("the main worktree has no folder name"))?;
        let expanded = self
            .worktree_dir
            .replace("{repo}", &repo_name)
            .replace("{branch}", branch_dir);
        let expanded = match expanded.strip_prefix("~/") {
            Some(rest) => home_dir().context(|| "HOME is not set".into())?.join(rest),
            None => PathBuf::from(expanded),
        };
        let base = main_workdir.parent().unwrap_or(main_workdir);
        let path = base.join(expanded);
        if self.worktree_dir_from_repo {
            // A committed symbolic link on the way must not lead out of the allowed folder.
            let allowed = crate::worktree::resolve_existing(base);
            let real = crate::worktree::resolve_existing(&path);
            if !real.starts_with(&allowed) {
                return Err(Error::invalid(format!(
                    "the worktree folder {} given by the repository's .pm.toml resolves to {}, \
                     outside {}; a repository's setting may only place worktrees inside it",
                    path.display(),
                    real.display(),
                    allowed.display()
                )));
            }
        }
        Ok(path)
    }
}

fn check_template(template: &str, trusted: bool) -> std::result::Result<(), &'static str> {
    if !template.contains("{branch}") {
        return Err("it must contain {branch}");
    }
    if !trusted {
        let path = Path::new(template);
        if path.is_absolute() || template.starts_with('~') {
            return Err("a repository's .pm.toml may only give a relative path");
        }
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err("a repository's .pm.toml may not use '..'");
        }
    }
    Ok(())
}

fn home_dir() -> std::result::Result<PathBuf, String> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| "HOME is not set".into())
}

/// `$XDG_CONFIG_HOME/pm/config.toml`, else `~/.config/pm/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(xdg).join("pm/config.toml"));
    }
    home_dir().ok().map(|h| h.join(".config/pm/config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_worktree_path_is_a_sibling_folder() {
        let config = Config::default();
        let path = config
            .worktree_path(Path::new("/src/app"), "feature-x")
            .unwrap();
        assert_eq!(path, Path::new("/src/app.worktrees/feature-x"));
    }

    #[test]
    fn repository_templates_stay_relative() {
        assert!(check_template("/tmp/{branch}", false).is_err());
        assert!(check_template("../../{branch}", false).is_err());
        assert!(check_template("~/wt/{branch}", false).is_err());
        assert!(check_template("wt/{repo}/{branch}", false).is_ok());
        assert!(check_template("/tmp/{branch}", true).is_ok());
        assert!(check_template("/tmp/fixed", true).is_err());
    }
}
