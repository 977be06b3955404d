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
    /// Agents defined in the user's own config (`[agents.NAME]`), beside the built-in ones.
    /// Never from `.pm.toml`: a committed file does not choose a program to run.
    pub agents: std::collections::BTreeMap<String, AgentConfig>,
    /// `[sync] branches`: `pm sync` also pushes the branches of this clone's live sessions.
    pub sync_branches: bool,
}

/// How to run an agent: `[agents.NAME]` in the user's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The program (a path, or a name looked up in `PATH`).
    pub program: String,
    /// Arguments before the ones pm adds.
    #[serde(default)]
    pub args: Vec<String>,
    /// How pm talks to it: `claude` (stream-json), `codex` (exec --json) or `command` (text
    /// lines out, input lines in). Default: `command`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
}

fn default_protocol() -> String {
    "command".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            branch_prefix: "feature/".into(),
            worktree_dir: DEFAULT_WORKTREE_DIR.into(),
            agent: "claude".into(),
            remote: "origin".into(),
            worktree_dir_from_repo: false,
            agents: Default::default(),
            sync_branches: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    branch_prefix: Option<String>,
    worktree_dir: Option<String>,
    agent: Option<String>,
    remote: Option<String>,
    #[serde(default)]
    agents: std::collections::BTreeMap<String, AgentConfig>,
    sync: Option<SyncFile>,
    /// Every key not named above: reported, never an error (a newer pm may know it).
    #[serde(flatten)]
    unknown: toml::Table,
}

/// `[sync]`: how `pm sync` shares.
#[derive(Debug, Default, Deserialize)]
struct SyncFile {
    branches: Option<bool>,
    #[serde(flatten)]
    unknown: toml::Table,
}

/// The keys a config file may hold, for "did you mean" (the fields of `ConfigFile`).
const KEYS: &[&str] = &[
    "branch_prefix",
    "worktree_dir",
    "agent",
    "remote",
    "agents",
    "sync",
];

impl Config {
    /// Load the user's file and the repository's `.pm.toml` (in `main_workdir`).
    pub fn load(main_workdir: &Path) -> Result<Self> {
        Self::load_with_warnings(main_workdir).map(|(config, _)| config)
    }

    /// [`load`](Self::load), with one warning per key that no setting uses (a misspelt key
    /// would otherwise be dropped silently). Front ends print them once per run.
    pub fn load_with_warnings(main_workdir: &Path) -> Result<(Self, Vec<String>)> {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        if let Some(path) = user_config_path() {
            config.apply(&path, true, &mut warnings)?;
        }
        config.apply(&main_workdir.join(".pm.toml"), false, &mut warnings)?;
        Ok((config, warnings))
    }

    fn apply(&mut self, path: &Path, trusted: bool, warnings: &mut Vec<String>) -> Result<()> {
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
        for key in file.unknown.keys() {
            warnings.push(unknown_key_warning(key, path));
        }
        if let Some(prefix) = file.branch_prefix {
            if !prefix.is_empty() {
                crate::git::branch::check_branch_name(&format!("{prefix}x")).map_err(|_| {
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
        if let Some(sync) = file.sync {
            for key in sync.unknown.keys() {
                warnings.push(unknown_key_warning(&format!("sync.{key}"), path));
            }
            if let Some(branches) = sync.branches {
                self.sync_branches = branches;
            }
        }
        if !file.agents.is_empty() {
            if trusted {
                self.agents.extend(file.agents);
            } else {
                warnings.push(format!(
                    "{}: [agents] is ignored here: only your own config ({}) names programs to run",
                    path.display(),
                    user_config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.config/pm/config.toml".into())
                ));
            }
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
        check_name_lengths(&expanded)?;
        let base = main_workdir.parent().unwrap_or(main_workdir);
        let path = base.join(expanded);
        if self.worktree_dir_from_repo {
            // A committed symbolic link on the way must not lead out of the allowed folder,
            // and one whose target does not exist yet cannot be resolved: refused.
            if let Some(link) = path.ancestors().find(|p| {
                std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
                    && p.canonicalize().is_err()
            }) {
                return Err(Error::invalid(format!(
                    "the worktree folder {} given by the repository's .pm.toml goes through {}, \
                     a symbolic link to nothing",
                    path.display(),
                    link.display()
                )));
            }
            let allowed = crate::git::worktree::resolve_existing(base);
            let real = crate::git::worktree::resolve_existing(&path);
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

/// A folder name longer than a file system allows would fail deep inside the worktree step.
fn check_name_lengths(path: &Path) -> Result<()> {
    const NAME_MAX: usize = 255;
    match path
        .components()
        .map(|c| c.as_os_str().len())
        .find(|len| *len > NAME_MAX)
    {
        Some(len) => Err(Error::usage(format!(
            "the worktree folder would have a name of {len} bytes, more than the {NAME_MAX} \
             a file name may have (file name too long); use a shorter branch name"
        ))),
        None => Ok(()),
    }
}

/// `unknown key "worktree_dirr" in /r/.pm.toml is ignored; did you mean "worktree_dir"?`
fn unknown_key_warning(key: &str, path: &Path) -> String {
    let hint = match closest_key(key) {
        Some(known) => format!("did you mean {known:?}?"),
        None => format!("the known keys are {}", KEYS.join(", ")),
    };
    format!(
        "unknown key {key:?} in {} is ignored; {hint}",
        path.display()
    )
}

/// The known key nearest to `key` (case, `-` and `_` aside, at most a third of it changed).
fn closest_key(key: &str) -> Option<&'static str> {
    let folded = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let key = folded(key);
    KEYS.iter()
        .map(|known| (edit_distance(&key, known), *known))
        .filter(|(distance, known)| *distance <= (known.len() / 3).max(1))
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
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
    fn every_key_is_read_and_misspelt_ones_find_their_setting() {
        // Tables (agents) go last, as TOML wants them.
        let mut text: String = KEYS
            .iter()
            .filter(|k| !["agents", "sync"].contains(*k))
            .map(|k| format!("{k} = \"x{{branch}}\"\n"))
            .collect();
        text.push_str("[agents.x]\nprogram = \"x\"\n[sync]\nbranches = true\n");
        let file: ConfigFile = toml::from_str(&text).unwrap();
        assert!(file.unknown.is_empty(), "{:?}", file.unknown);
        assert_eq!(closest_key("worktree_dirr"), Some("worktree_dir"));
        assert_eq!(closest_key("Branch-Prefix"), Some("branch_prefix"));
        assert_eq!(closest_key("remotes"), Some("remote"));
        assert_eq!(closest_key("colour"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
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
