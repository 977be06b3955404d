//! `pm mcp status`: where pm is registered as an MCP server, with which command, and whether
//! that command runs. It reads the client's files and changes nothing.
//!
//! The places are those Claude Code reads: `.mcp.json` at the root of the repository (project
//! scope, what `pm mcp install` writes) and of the current linked worktree (a session's
//! worktree has the file only once it is committed), `mcpServers` in `~/.claude.json` (user
//! scope, `pm mcp install --scope user`), and `projects["<folder>"].mcpServers` in the same
//! file (the client's own per-folder "local" scope).
//!
//! A registered command is looked up as the client would (on `PATH`, or as a path relative to
//! the project folder) and run with `--version` for at most a few seconds. A command named by
//! a committed `.mcp.json` that points at a program inside the repository is not run: a
//! committed file is other people's text, and only the client, after the user approved it,
//! may start what it names.

use super::{Ctx, print, print_json};
use crate::error::Result;
use crate::render::{clean_line, truncate};
use serde::Serialize;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `<command> --version` may take before it is stopped.
const VERSION_TIMEOUT: Duration = Duration::from_secs(3);

/// One place a registration can be.
#[derive(Debug, Serialize)]
struct Place {
    /// `project`, `worktree`, `user` or `local`.
    scope: &'static str,
    file: PathBuf,
    /// For `local`: the folder whose entry in `projects` was read.
    project: Option<PathBuf>,
    state: State,
    /// Why the file could not be used (unreadable, not JSON, wrong shape).
    problem: Option<String>,
    command: Option<String>,
    args: Option<Vec<String>>,
    check: Option<Check>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Registered,
    NotRegistered,
    NoFile,
    Unreadable,
}

/// What became of running the registered command with `--version`.
#[derive(Debug, Serialize)]
struct Check {
    /// The program found, when it was found.
    path: Option<PathBuf>,
    runs: bool,
    /// The first line it printed, when it ran.
    version: Option<String>,
    /// Why it does not run, or why it was not run.
    problem: Option<String>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    places: &'a [Place],
    /// pm is registered in at least one place.
    registered: bool,
    /// ... and the command of every registration runs.
    works: bool,
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let places = gather(ctx)?;
    let registered = places.iter().any(|p| p.state == State::Registered);
    // A client starts every registration it reads: one that fails shows as a broken server.
    let works = registered
        && places
            .iter()
            .filter(|p| p.state == State::Registered)
            .all(|p| p.check.as_ref().is_some_and(|c| c.runs));
    if ctx.global.json {
        return print_json(&StatusJson {
            places: &places,
            registered,
            works,
        });
    }
    print(&render(ctx, &places, registered, works))
}

/// Every place, read; the commands of registered entries checked.
fn gather(ctx: &Ctx) -> Result<Vec<Place>> {
    let dir = ctx.dir()?;
    // Outside a repository only the user's own file can say anything.
    let (main, here) = match crate::store::Store::open(&dir) {
        Ok(store) => {
            ctx.warn_config(&store);
            let main = crate::git::worktree::main_workdir(store.repo())?;
            let here = store.repo().workdir().map(Path::to_path_buf);
            (Some(main), here)
        }
        Err(e) => {
            ctx.warn(&format!(
                "{}; only the user configuration is shown",
                clean_line(e.message())
            ));
            (None, None)
        }
    };
    let here = here.filter(|h| main.as_ref().is_none_or(|m| !same_path(h, m)));
    let repo_roots: Vec<PathBuf> = main.iter().chain(here.iter()).cloned().collect();
    let client_dir = here.clone().or(main.clone()).unwrap_or(dir);
    let mut places = Vec::new();
    if let Some(main) = &main {
        places.push(project_place("project", main, &repo_roots));
    }
    if let Some(here) = &here {
        places.push(project_place("worktree", here, &repo_roots));
    }
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        ctx.warn("HOME is not set, so ~/.claude.json cannot be read");
        return Ok(places);
    };
    let user_file = PathBuf::from(home).join(".claude.json");
    let user = read_json(&user_file);
    places.push(place(
        "user",
        &user_file,
        None,
        &user,
        |config| config.get("mcpServers"),
        &client_dir,
        &[],
    ));
    for folder in main.iter().chain(here.iter()) {
        let key = folder.to_string_lossy().into_owned();
        places.push(place(
            "local",
            &user_file,
            Some(folder),
            &user,
            |config| config.get("projects")?.get(&key)?.get("mcpServers"),
            folder,
            &[],
        ));
    }
    Ok(places)
}

/// `.mcp.json` at the root of `root`: committed, so it never makes pm run a program of the
/// repository (`repo_roots`).
fn project_place(scope: &'static str, root: &Path, repo_roots: &[PathBuf]) -> Place {
    let file = root.join(".mcp.json");
    let read = read_json(&file);
    place(
        scope,
        &file,
        None,
        &read,
        |config| config.get("mcpServers"),
        root,
        repo_roots,
    )
}

/// What reading a client file gave.
enum FileRead {
    Missing,
    Failed(String),
    Json(Value),
}

fn read_json(path: &Path) -> FileRead {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => FileRead::Json(Value::Object(Default::default())),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(value) => FileRead::Json(value),
            Err(e) => FileRead::Failed(format!("not valid JSON ({e})")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileRead::Missing,
        Err(e) => FileRead::Failed(format!("cannot be read ({e})")),
    }
}

/// The `pm` entry of the `mcpServers` object that `servers` finds in the file, checked.
/// `base` is the folder a relative command is taken from (the client's working folder);
/// programs under `untrusted_roots` are not run.
fn place<'a>(
    scope: &'static str,
    file: &Path,
    project: Option<&Path>,
    read: &'a FileRead,
    servers: impl FnOnce(&'a Value) -> Option<&'a Value>,
    base: &Path,
    untrusted_roots: &[PathBuf],
) -> Place {
    let mut place = Place {
        scope,
        file: file.to_path_buf(),
        project: project.map(Path::to_path_buf),
        state: State::NotRegistered,
        problem: None,
        command: None,
        args: None,
        check: None,
    };
    let config = match read {
        FileRead::Missing => {
            place.state = State::NoFile;
            return place;
        }
        FileRead::Failed(why) => {
            place.state = State::Unreadable;
            place.problem = Some(why.clone());
            return place;
        }
        FileRead::Json(config) => config,
    };
    let Some(entry) = servers(config).and_then(|s| s.get("pm")) else {
        return place;
    };
    place.state = State::Registered;
    place.command = entry
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_string);
    place.args = entry.get("args").and_then(Value::as_array).map(|args| {
        args.iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect()
    });
    place.check = Some(match &place.command {
        Some(command) if !command.trim().is_empty() => check(command, base, untrusted_roots),
        _ => Check {
            path: None,
            runs: false,
            version: None,
            problem: Some(match entry.get("type").and_then(Value::as_str) {
                Some(kind) if kind != "stdio" => format!("not a stdio server (type {kind})"),
                _ => "the entry names no command".to_string(),
            }),
        },
    });
    place
}

/// Find `command` as the client would and run it with `--version`.
fn check(command: &str, base: &Path, untrusted_roots: &[PathBuf]) -> Check {
    let mut check = Check {
        path: None,
        runs: false,
        version: None,
        problem: None,
    };
    let Some(path) = find_program(command, base) else {
        check.problem = Some(if command.contains('/') {
            format!("{command} is not an executable file")
        } else {
            format!("{command} is not found on PATH")
        });
        return check;
    };
    check.path = Some(path.clone());
    let real = path.canonicalize().unwrap_or_else(|_| path.clone());
    if untrusted_roots
        .iter()
        .any(|root| real.starts_with(root.canonicalize().unwrap_or_else(|_| root.clone())))
    {
        check.problem =
            Some("not run: a program inside the repository, named by a committed file".to_string());
        return check;
    }
    match run_version(&path) {
        Ok(version) => {
            check.runs = true;
            check.version = version;
        }
        Err(why) => check.problem = Some(why),
    }
    check
}

/// A path (with a `/`, relative to `base`) or a name looked up on `PATH`.
fn find_program(command: &str, base: &Path) -> Option<PathBuf> {
    if command.contains('/') {
        let path = base.join(command);
        return is_executable(&path).then_some(path);
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(command))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run `<program> --version` with nothing on stdin, for at most [`VERSION_TIMEOUT`]; the
/// first line it printed, if any.
fn run_version(program: &Path) -> std::result::Result<Option<String>, String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not be started ({e})"))?;
    // Read in a thread, so a child that prints a lot cannot block on a full pipe unseen.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(64 * 1024).read_to_end(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < VERSION_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`--version` did not finish within {} s",
                    VERSION_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("could not be waited for ({e})")),
        }
    };
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(match status.code() {
            Some(code) => format!("`--version` exited with status {code}"),
            None => "`--version` was ended by a signal".to_string(),
        });
    }
    let first = String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| truncate(&clean_line(l), 120));
    Ok(first)
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}

fn render(ctx: &Ctx, places: &[Place], registered: bool, works: bool) -> String {
    let style = &ctx.style;
    let mut out = String::new();
    for place in places {
        let mut where_ = place.file.display().to_string();
        if let Some(project) = &place.project {
            where_.push_str(&format!(", projects[{:?}]", project.display().to_string()));
        }
        out.push_str(&format!(
            "{}  {}\n",
            style.bold(&format!("{:<8}", place.scope)),
            clean_line(&where_)
        ));
        let indent = " ".repeat(10);
        let line = match place.state {
            State::NoFile => style.dim("no such file"),
            State::NotRegistered => style.dim("pm is not registered here"),
            State::Unreadable => style.red(&clean_line(
                place.problem.as_deref().unwrap_or("unreadable"),
            )),
            State::Registered => {
                let mut words = place.command.clone().unwrap_or_default();
                for arg in place.args.iter().flatten() {
                    words.push(' ');
                    words.push_str(arg);
                }
                format!("registered: {}", clean_line(&words))
            }
        };
        out.push_str(&format!("{indent}{line}\n"));
        if let Some(check) = &place.check {
            let found = check
                .path
                .as_ref()
                .map(|p| format!("{} ", p.display()))
                .unwrap_or_default();
            let verdict = if check.runs {
                style.green(&format!(
                    "runs ({})",
                    check.version.as_deref().unwrap_or("no version printed")
                ))
            } else {
                style.red(&clean_line(
                    check.problem.as_deref().unwrap_or("does not run"),
                ))
            };
            out.push_str(&format!(
                "{indent}command: {}{verdict}\n",
                clean_line(&found)
            ));
        }
    }
    let state_of = |scope: &str| places.iter().find(|p| p.scope == scope).map(|p| p.state);
    if state_of("project") == Some(State::Registered) && state_of("worktree") == Some(State::NoFile)
    {
        out.push_str(
            "This worktree has no .mcp.json: commit it in the repository so that new worktrees \
             have it.\n",
        );
    }
    let count = places
        .iter()
        .filter(|p| p.state == State::Registered)
        .count();
    let failing = places
        .iter()
        .filter(|p| p.check.as_ref().is_some_and(|c| !c.runs))
        .count();
    let places_word = |n: usize| if n == 1 { "place" } else { "places" };
    out.push_str(&match (registered, works) {
        (false, _) => "pm is not registered with an MCP client: `pm mcp install` adds it to \
             .mcp.json, `pm mcp install --scope user` to ~/.claude.json.\n"
            .to_string(),
        (true, true) => format!(
            "pm is registered in {count} {} and its command runs.\n",
            places_word(count)
        ),
        (true, false) => format!(
            "pm is registered in {count} {}, and the command of {failing} does not run \
             (see above).\n",
            places_word(count)
        ),
    });
    out
}
