//! Settings: built-in defaults, then the user's `~/.config/pm/config.toml` (or
//! `$XDG_CONFIG_HOME/pm/config.toml`), then the repository's `.pm.toml` in the main worktree.
//! Later files override earlier ones key by key, but for launcher presets (`[launchers.NAME]`):
//! a preset in the user's file replaces the repository's preset of the same name as a whole.
//!
//! `.pm.toml` is committed and comes from other people, so its `worktree_dir` must be a relative
//! path without `..`; only the user's own file may point anywhere. Its `[worktree]` commands are
//! kept apart from the user's own (they run only once approved, see [`approvals`]).

use crate::error::{Context, Error, Result};
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

pub mod approvals;

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
    /// `[worktree]`: what a new worktree gets, from each file apart.
    pub worktree: WorktreeConfig,
    /// `[sync] branches`: `pm sync` also pushes the branches of this clone's live sessions.
    pub sync_branches: bool,
    /// `[sync] archive_after_days`: `pm sync` first archives the finished records unchanged
    /// for this many days.
    pub sync_archive_after_days: Option<u32>,
    /// `[sync] auto`: after a command writes records, a `pm sync` runs in the background.
    pub sync_auto: bool,
    /// Launcher presets (`[launchers.NAME]`), from the user's config and `.pm.toml`. A user's
    /// preset replaces the repository's preset of the same name as a whole.
    pub launchers: std::collections::BTreeMap<String, LauncherConfig>,
}

/// A launcher preset: `[launchers.NAME]`, settings of a launch and its agent's run under one
/// name. It names an agent, never a program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LauncherConfig {
    /// The agent to launch (a built-in one or one of the user's `[agents.NAME]`).
    pub agent: Option<String>,
    pub role: Option<String>,
    /// The model, given to the agent program as `--model`.
    pub model: Option<String>,
    /// Arguments after the agent's own (only from the user's own config).
    pub args: Vec<String>,
    /// A template of the prompt (`{issue.id}`, `{issue.title}`, `{prompt}`, ...).
    pub prompt: Option<String>,
    /// Tools the agent may use without asking (Claude Code's `--allowedTools`).
    pub tools: Vec<String>,
    /// Stop the agent after this many seconds.
    pub max_runtime: Option<u64>,
    /// The file the preset comes from.
    pub file: PathBuf,
    /// The preset comes from the repository's `.pm.toml`, not the user's own config.
    pub from_repo: bool,
}

/// `[launchers.NAME]` as written.
#[derive(Debug, Default, Deserialize)]
struct LauncherFile {
    agent: Option<String>,
    role: Option<String>,
    model: Option<String>,
    args: Option<Vec<String>>,
    prompt: Option<String>,
    tools: Option<Vec<String>>,
    max_runtime: Option<u64>,
    #[serde(flatten)]
    unknown: toml::Table,
}

/// `[worktree]` of the user's file and of the repository's `.pm.toml`, kept apart: the
/// repository's commands run only once the user approved them, the user's own need no approval.
/// Both apply: the user's entries first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorktreeConfig {
    pub user: WorktreeHooks,
    pub repository: WorktreeHooks,
}

/// What a new worktree of a session gets, and what runs before it is removed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WorktreeHooks {
    /// Files and folders that git ignores, copied from the main worktree (gitignore patterns,
    /// as in `.worktreeinclude`).
    #[serde(default)]
    pub copy: Vec<String>,
    /// Shell commands run in a new worktree once it is made.
    #[serde(default)]
    pub setup: Vec<String>,
    /// Shell commands run in a worktree before pm removes it.
    #[serde(default)]
    pub teardown: Vec<String>,
    /// How many seconds one command may run before it is stopped (0: no limit).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Every key not named above: reported, never an error.
    #[serde(flatten)]
    unknown: toml::Table,
}

/// The keys of `[sync]`.
const SYNC_KEYS: &[&str] = &["branches", "archive_after_days", "auto"];

/// The keys of a launcher preset, for "did you mean" (the fields of `LauncherFile`).
const LAUNCHER_KEYS: &[&str] = &[
    "agent",
    "role",
    "model",
    "args",
    "prompt",
    "tools",
    "max_runtime",
];

impl WorktreeConfig {
    /// How long one setup or teardown command may run (the user's setting first), `None` for
    /// no limit.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        let seconds = (self.user.timeout)
            .or(self.repository.timeout)
            .unwrap_or(DEFAULT_HOOK_TIMEOUT);
        (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
    }

    /// The copy patterns of both files, the user's first.
    pub fn copy(&self) -> impl Iterator<Item = &str> {
        self.user
            .copy
            .iter()
            .chain(&self.repository.copy)
            .map(String::as_str)
    }
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
            worktree: WorktreeConfig::default(),
            sync_branches: false,
            sync_archive_after_days: None,
            sync_auto: false,
            launchers: Default::default(),
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
    worktree: Option<WorktreeHooks>,
    sync: Option<SyncFile>,
    #[serde(default)]
    launchers: std::collections::BTreeMap<String, LauncherFile>,
    /// Every key not named above: reported, never an error (a newer pm may know it).
    #[serde(flatten)]
    unknown: toml::Table,
}

/// `[sync]`: how `pm sync` shares.
#[derive(Debug, Default, Deserialize)]
struct SyncFile {
    branches: Option<bool>,
    archive_after_days: Option<u32>,
    auto: Option<bool>,
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
    "worktree",
    "sync",
    "launchers",
];

/// The keys of `[worktree]` (the fields of `WorktreeHooks`).
const WORKTREE_KEYS: &[&str] = &["copy", "setup", "teardown", "timeout"];

/// How long one worktree command may run when no `[worktree] timeout` says otherwise.
pub const DEFAULT_HOOK_TIMEOUT: u64 = 600;

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
            warnings.push(unknown_key_warning(key, path, None, KEYS));
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
                warnings.push(unknown_key_warning(key, path, Some("[sync]"), SYNC_KEYS));
            }
            if let Some(branches) = sync.branches {
                self.sync_branches = branches;
            }
            if let Some(days) = sync.archive_after_days {
                self.sync_archive_after_days = Some(days);
            }
            if let Some(auto) = sync.auto {
                self.sync_auto = auto;
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
        for (name, preset) in file.launchers {
            let preset = launcher(&name, preset, path, trusted, warnings);
            // The user's own preset wins over the repository's of the same name, as a whole:
            // the user's file is read first.
            if trusted || !self.launchers.contains_key(&name) {
                self.launchers.insert(name, preset);
            }
        }
        if let Some(hooks) = file.worktree {
            for key in hooks.unknown.keys() {
                warnings.push(unknown_key_warning(
                    key,
                    path,
                    Some("[worktree]"),
                    WORKTREE_KEYS,
                ));
            }
            check_hooks(&hooks).map_err(|why| {
                Error::failed(format!("invalid [worktree] in {}: {why}", path.display()))
            })?;
            if trusted {
                self.worktree.user = hooks;
            } else {
                self.worktree.repository = hooks;
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

/// A launcher preset as read from `path`, with a warning for each key that is not used.
fn launcher(
    name: &str,
    file: LauncherFile,
    path: &Path,
    trusted: bool,
    warnings: &mut Vec<String>,
) -> LauncherConfig {
    let table = format!("[launchers.{name}]");
    for key in file.unknown.keys() {
        if key == "program" {
            warnings.push(format!(
                "{table} in {}: program is ignored; a launcher names an agent, and only your \
                 own config ([agents.NAME]) names programs",
                path.display()
            ));
        } else {
            warnings.push(unknown_key_warning(key, path, Some(&table), LAUNCHER_KEYS));
        }
    }
    let mut args = file.args.unwrap_or_default();
    if !trusted && !args.is_empty() {
        // Arguments can make an agent program run other programs (Claude Code's
        // --mcp-config or --settings, codex's -c): a committed file does not give them.
        warnings.push(format!(
            "{table} in {}: args is ignored here; only your own config gives arguments to \
             agent programs",
            path.display()
        ));
        args.clear();
    }
    LauncherConfig {
        agent: file.agent,
        role: file.role,
        model: file.model,
        args,
        prompt: file.prompt,
        tools: file.tools.unwrap_or_default(),
        max_runtime: file.max_runtime,
        file: path.to_path_buf(),
        from_repo: !trusted,
    }
}

/// Entries of `[worktree]` must be one line each and not empty: a command is shown for approval
/// and run as written, and what was approved is what runs.
fn check_hooks(hooks: &WorktreeHooks) -> std::result::Result<(), String> {
    let lists = [
        ("copy", &hooks.copy),
        ("setup", &hooks.setup),
        ("teardown", &hooks.teardown),
    ];
    for (name, list) in lists {
        for entry in list {
            if entry.trim().is_empty() {
                return Err(format!("{name} has an empty entry"));
            }
            if entry.chars().any(char::is_control) {
                return Err(format!(
                    "{name} entry {entry:?} holds a line break or another control character"
                ));
            }
        }
    }
    Ok(())
}

/// `unknown key "worktree_dirr" in /r/.pm.toml is ignored; did you mean "worktree_dir"?`
/// (`table`: the table the key is in, when it is not at the top).
fn unknown_key_warning(
    key: &str,
    path: &Path,
    table: Option<&str>,
    keys: &[&'static str],
) -> String {
    let hint = match closest_key(key, keys) {
        Some(known) => format!("did you mean {known:?}?"),
        None => format!("the known keys are {}", keys.join(", ")),
    };
    let place = match table {
        Some(table) => format!("{table} in {}", path.display()),
        None => path.display().to_string(),
    };
    format!("unknown key {key:?} in {place} is ignored; {hint}")
}

/// The known key nearest to `key` (case, `-` and `_` aside, at most a third of it changed).
fn closest_key(key: &str, keys: &[&'static str]) -> Option<&'static str> {
    let folded = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let key = folded(key);
    keys.iter()
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
        // Tables (agents, sync, worktree, launchers) go last, as TOML wants them.
        let mut text: String = KEYS
            .iter()
            .filter(|k| !["agents", "worktree", "sync", "launchers"].contains(*k))
            .map(|k| format!("{k} = \"x{{branch}}\"\n"))
            .collect();
        text.push_str("[agents.x]\nprogram = \"x\"\n[sync]\n");
        for key in SYNC_KEYS {
            text.push_str(&match *key {
                "archive_after_days" => format!("{key} = 1\n"),
                _ => format!("{key} = true\n"),
            });
        }
        text.push_str("[worktree]\n");
        for key in WORKTREE_KEYS {
            text.push_str(&match *key {
                "timeout" => format!("{key} = 1\n"),
                _ => format!("{key} = [\"x\"]\n"),
            });
        }
        text.push_str("[launchers.y]\n");
        for key in LAUNCHER_KEYS {
            text.push_str(&match *key {
                "args" | "tools" => format!("{key} = [\"x\"]\n"),
                "max_runtime" => format!("{key} = 1\n"),
                _ => format!("{key} = \"x\"\n"),
            });
        }
        let file: ConfigFile = toml::from_str(&text).unwrap();
        assert!(file.unknown.is_empty(), "{:?}", file.unknown);
        assert!(file.launchers["y"].unknown.is_empty());
        let hooks = file.worktree.unwrap();
        assert!(hooks.unknown.is_empty(), "{:?}", hooks.unknown);
        let sync = file.sync.unwrap();
        assert!(sync.unknown.is_empty(), "{:?}", sync.unknown);
        assert_eq!(
            (sync.branches, sync.archive_after_days, sync.auto),
            (Some(true), Some(1), Some(true))
        );
        assert_eq!(hooks.timeout, Some(1));
        assert_eq!(closest_key("worktree_dirr", KEYS), Some("worktree_dir"));
        assert_eq!(closest_key("Branch-Prefix", KEYS), Some("branch_prefix"));
        assert_eq!(closest_key("remotes", KEYS), Some("remote"));
        assert_eq!(closest_key("colour", KEYS), None);
        assert_eq!(closest_key("models", LAUNCHER_KEYS), Some("model"));
        assert_eq!(
            closest_key("max-runtime", LAUNCHER_KEYS),
            Some("max_runtime")
        );
        assert_eq!(closest_key("set-up", WORKTREE_KEYS), Some("setup"));
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
