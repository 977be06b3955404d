//! Linked worktrees through gix: add, remove, prune, find where a branch is checked out, and
//! git's administrative entries of a worktree folder. The result must look exactly like
//! `git worktree add`. Branches themselves are in [`crate::git::branch`]. Nothing here knows
//! about sessions.

use crate::error::{Context, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

// The branch functions were in this module before it was split; callers written against the
// old paths keep building.
pub use crate::git::branch::{
    BranchTips, branch_tip, check_branch_name, check_branch_unlocked, commit_summary,
    count_commits, create_branch, delete_branch, remote_branch_to_track, remote_tracking_tip,
    remove_branch_locks, resolve_commit, set_upstream,
};

/// The main worktree's folder (where `.git` lives) of the repository `repo` belongs to.
pub fn main_workdir(repo: &gix::Repository) -> Result<PathBuf> {
    let main = repo
        .main_repo()
        .context(|| "could not open the main worktree".into())?;
    main.workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::failed("the repository has no main worktree"))
}

/// The worktree folder that has `branch` checked out, if any (the main one included).
pub fn checked_out_at(repo: &gix::Repository, branch: &str) -> Result<Option<PathBuf>> {
    let wanted = format!("refs/heads/{branch}");
    let all = repo
        .worktrees_including_main()
        .context(|| "could not list worktrees".into())?;
    for wt in all {
        let Ok(wt) = wt else { continue };
        if let Ok(Some(head)) = wt.head_name()
            && head.as_bstr() == wanted.as_str()
        {
            return Ok(Some(
                wt.workdir().map(Path::to_path_buf).unwrap_or_default(),
            ));
        }
    }
    Ok(None)
}

/// Add a linked worktree at `path` with the existing local `branch` checked out.
/// On failure gix removes what it created; the folder's parents are ours to clean.
pub fn add(repo: &gix::Repository, path: &Path, branch: &str) -> Result<()> {
    let name: gix::refs::FullName = format!("refs/heads/{branch}")
        .as_str()
        .try_into()
        .map_err(|_| Error::usage(format!("invalid branch name {branch:?}")))?;
    let interrupt = AtomicBool::new(false);
    repo.add_worktree(
        path,
        gix::worktree::add::Head::Attached(name),
        gix::progress::Discard,
        &interrupt,
    )
    .map(|_| ())
    .map_err(|e| {
        let why = match broken_entries(repo).first() {
            Some((entry, problem)) => format!(
                "the worktree entry {} is broken ({problem}); remove that folder if no git or pm \
                 process is adding a worktree",
                entry.display()
            ),
            None => crate::error::gix_write_reason(path, &e),
        };
        Error::failed(format!(
            "could not add a worktree for {branch} at {}: {why}",
            path.display()
        ))
    })
}

/// git's worktree entries that git itself cannot read (a creation cut short by a crash): each
/// with what is wrong with it.
pub fn broken_entries(repo: &gix::Repository) -> Vec<(PathBuf, &'static str)> {
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Vec::new();
    };
    let mut broken = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let problem = if read("gitdir").trim().is_empty() {
            "its gitdir file is empty or missing"
        } else if read("commondir").trim().is_empty() {
            "its commondir file is empty or missing"
        } else {
            continue;
        };
        broken.push((dir, problem));
    }
    broken.sort();
    broken
}

/// Remove the linked worktree at `path`; refuses one with changes or untracked files unless `force`.
pub fn remove(repo: &gix::Repository, path: &Path, force: bool) -> Result<()> {
    let force = if force {
        gix::worktree::remove::Force::DiscardChanges
    } else {
        gix::worktree::remove::Force::Never
    };
    repo.remove_worktree(path, force, gix::progress::Discard)
        .map_err(|e| {
            Error::invalid(format!(
                "could not remove the worktree {}: {}",
                path.display(),
                crate::error::one_line(&e.to_string())
            ))
        })
}

/// Remove git's administrative entries of worktrees whose folders are gone (`git worktree prune`).
/// Returns the folders they pointed at.
/// How old an entry without a gitdir file must be to be taken as left by a killed process.
const HALF_MADE_AGE: std::time::Duration = std::time::Duration::from_secs(600);

pub fn prune(repo: &gix::Repository, dry_run: bool) -> Result<Vec<PathBuf>> {
    let mut pruned = Vec::new();
    for proxy in repo
        .worktrees()
        .context(|| "could not list worktrees".into())?
    {
        if proxy.is_prunable() && !proxy.is_locked() {
            pruned.push(
                proxy
                    .base()
                    .unwrap_or_else(|_| proxy.git_dir().to_path_buf()),
            );
            if !dry_run {
                fs_err::remove_dir_all(proxy.git_dir())
                    .context(|| "could not prune a stale worktree entry".into())?;
            }
        }
    }
    // An entry whose gitdir file never got written (a `git worktree add` killed right after
    // making its folder) names no worktree and is not listed above: removed once it is old
    // enough not to be one being made right now, and reported by its own folder.
    let common = repo.common_dir();
    let admin = if common.is_absolute() {
        common.join("worktrees")
    } else {
        repo.current_dir().join(common).join("worktrees")
    };
    for entry in std::fs::read_dir(&admin).into_iter().flatten().flatten() {
        let dir = entry.path();
        let half_made = dir.is_dir()
            && !dir.join("gitdir").exists()
            && !dir.join("locked").exists()
            && std::fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > HALF_MADE_AGE);
        if half_made && !pruned.contains(&dir) {
            if !dry_run {
                fs_err::remove_dir_all(&dir)
                    .context(|| "could not prune a stale worktree entry".into())?;
            }
            pruned.push(dir);
        }
    }
    Ok(pruned)
}

/// Whether the worktree at `path` has uncommitted changes to tracked files.
pub fn is_dirty(path: &Path) -> Result<bool> {
    let repo =
        gix::open(path).context(|| format!("could not open the worktree {}", path.display()))?;
    repo.is_dirty()
        .context(|| format!("could not read the status of {}", path.display()))
}

/// Whether the worktree at `path` has work in no commit: changed tracked files or untracked
/// files that are not ignored (`git status --porcelain`).
pub fn has_uncommitted_work(path: &Path) -> Result<bool> {
    let status = crate::git::command::run_in(path, &["status", "--porcelain"])?;
    if !status.success {
        return Err(Error::failed(format!(
            "could not read the status of {}: {}",
            path.display(),
            status.error_line()
        )));
    }
    Ok(!status.stdout.trim().is_empty())
}

/// Whether a folder is missing or empty (a worktree may be created there).
pub fn is_missing_or_empty(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// `path` with symbolic links resolved as far as it exists: the deepest existing ancestor is
/// canonicalized and the rest appended as written.
pub fn resolve_existing(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut current = path;
    loop {
        if let Ok(real) = current.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                current = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// git's administrative entries (`<common dir>/worktrees/<id>`) of the worktree folder `path`:
/// those whose `gitdir` file names `path/.git`, and those whose creation was cut short (still
/// marked as initializing, with an empty or missing `gitdir`) under the folder's name.
fn entries_for(repo: &gix::Repository, path: &Path) -> Vec<PathBuf> {
    let dot_git = resolve_existing(path).join(".git");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let gitdir = std::fs::read_to_string(dir.join("gitdir")).unwrap_or_default();
        let gitdir = gitdir.trim();
        let names_it = !gitdir.is_empty() && resolve_existing(Path::new(gitdir)) == dot_git;
        let cut_short = gitdir.is_empty()
            && std::fs::read_to_string(dir.join("locked"))
                .is_ok_and(|why| why.trim() == "initializing")
            && entry.file_name().to_string_lossy().starts_with(&name);
        if names_it || cut_short {
            found.push(dir);
        }
    }
    found
}

/// Remove git's entries of the worktree folder `path` (see [`entries_for`]), even broken ones
/// that git itself cannot read. Returns whether there were any.
pub fn remove_entries_for(repo: &gix::Repository, path: &Path) -> Result<bool> {
    let entries = entries_for(repo, path);
    for dir in &entries {
        fs_err::remove_dir_all(dir).context(|| {
            format!(
                "could not remove the worktree entry {} of {}",
                dir.display(),
                path.display()
            )
        })?;
    }
    Ok(!entries.is_empty())
}

/// Whether `path` is a worktree folder of this repository: its `.git` file points into the
/// repository's `worktrees/` folder (or the folder holds nothing but an empty `.git` file, as
/// git's worktree step leaves it when it is killed between creating and writing that file).
pub fn is_our_worktree_folder(repo: &gix::Repository, path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path.join(".git")) else {
        return false;
    };
    // Cut short right after the link was created: an empty `.git` file and nothing else.
    if text.is_empty() {
        return std::fs::read_dir(path).is_ok_and(|entries| entries.count() == 1);
    }
    let Some(target) = text.trim().strip_prefix("gitdir: ") else {
        return false;
    };
    let target = if Path::new(target).is_absolute() {
        PathBuf::from(target)
    } else {
        path.join(target)
    };
    resolve_existing(&target).starts_with(resolve_existing(&repo.common_dir().join("worktrees")))
}

/// Whether the worktree at `path` was completely made: its folder links to an entry of this
/// repository that is no longer marked as initializing.
pub fn is_complete(repo: &gix::Repository, path: &Path) -> bool {
    is_our_worktree_folder(repo, path)
        && entries_for(repo, path)
            .iter()
            .any(|dir| !dir.join("locked").exists() && dir.join("commondir").exists())
}

/// Remove the worktree folder `path` with its `.git` link last, so that a process killed while
/// removing it leaves a folder that is still recognised as this repository's worktree (and is
/// removed by the next try) rather than files that nobody can tell apart from the user's.
pub fn remove_folder_link_last(path: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    match std::fs::remove_file(path.join(".git")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::remove_dir(path)
}

/// A file or folder of a work tree that git ignores, relative to the work tree (a folder
/// ignored as a whole is one entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub path: PathBuf,
    pub is_dir: bool,
}

/// What git ignores in the work tree `workdir` (`git ls-files --others --ignored
/// --exclude-standard --directory`: `.gitignore` files, `info/exclude` and `core.excludesFile`),
/// each folder ignored as a whole listed once. Tracked files are never among them.
pub fn ignored_entries(workdir: &Path) -> Result<Vec<Ignored>> {
    use std::os::unix::ffi::OsStrExt;
    let out = crate::git::command::stdout_in(
        workdir,
        &[
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--directory",
        ],
        &format!("could not list what git ignores in {}", workdir.display()),
    )?;
    Ok(out
        .split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let is_dir = entry.ends_with(b"/");
            let entry = entry.strip_suffix(b"/").unwrap_or(entry);
            Ignored {
                path: PathBuf::from(std::ffi::OsStr::from_bytes(entry)),
                is_dir,
            }
        })
        .collect())
}

/// The folders of every worktree of the repository, the main one included.
pub fn all_folders(repo: &gix::Repository) -> Result<Vec<PathBuf>> {
    let mut folders = vec![main_workdir(repo)?];
    let linked = repo
        .worktrees()
        .context(|| "could not list worktrees".into())?;
    folders.extend(linked.iter().filter_map(|wt| wt.base().ok()));
    Ok(folders)
}

/// One worktree of a repository, as git records it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The worktree's folder (which may be gone, for a linked one).
    pub path: PathBuf,
    /// The main worktree (where the repository's `.git` folder is).
    pub main: bool,
    /// The branch checked out, if HEAD names one.
    pub branch: Option<String>,
    /// The commit checked out (`None` for an unborn branch or an unreadable HEAD).
    pub head: Option<gix::ObjectId>,
    /// Locked against pruning, moving and removal (`git worktree lock`).
    pub locked: bool,
    /// Its folder is gone: `prune` removes git's entry of it.
    pub prunable: bool,
}

/// Every worktree of the repository: the main one first, then the linked ones by folder.
pub fn list(repo: &gix::Repository) -> Result<Vec<Entry>> {
    let main = main_workdir(repo)?;
    let (branch, head) = read_head(repo, &repo.common_dir().join("HEAD"));
    let mut entries = vec![Entry {
        path: main,
        main: true,
        branch,
        head,
        locked: false,
        prunable: false,
    }];
    let mut linked = Vec::new();
    for proxy in repo
        .worktrees()
        .context(|| "could not list worktrees".into())?
    {
        let (branch, head) = read_head(repo, &proxy.git_dir().join("HEAD"));
        linked.push(Entry {
            path: proxy
                .base()
                .unwrap_or_else(|_| proxy.git_dir().to_path_buf()),
            main: false,
            branch,
            head,
            locked: proxy.is_locked(),
            prunable: proxy.is_prunable(),
        });
    }
    linked.sort_by(|a, b| a.path.cmp(&b.path));
    entries.extend(linked);
    Ok(entries)
}

/// The branch a HEAD file names (if any) and the commit it points at.
fn read_head(repo: &gix::Repository, file: &Path) -> (Option<String>, Option<gix::ObjectId>) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return (None, None);
    };
    let text = text.trim();
    match text.strip_prefix("ref: ") {
        Some(target) => {
            let branch = target.strip_prefix("refs/heads/").map(str::to_string);
            let head = branch
                .as_deref()
                .and_then(|b| branch_tip(repo, b).ok().flatten());
            (branch, head)
        }
        None => (None, gix::ObjectId::from_hex(text.as_bytes()).ok()),
    }
}
