//! The one place that runs the `git` binary. Every call runs with stdin closed, in the
//! repository's work tree (or its git dir when there is none), and with arguments pm built
//! itself: nothing from a record ever reaches a command line here.

use crate::error::{Error, Result};
use std::process::{Command, Stdio};

/// What a finished git command printed.
pub struct GitOutput {
    pub success: bool,
    /// The exit status, when git exited (not killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl GitOutput {
    /// The most telling line of git's complaint.
    pub fn error_line(&self) -> String {
        self.stderr
            .lines()
            .map(str::trim)
            .rfind(|l| l.starts_with("fatal:") || l.starts_with("error:"))
            .or_else(|| self.stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
            .unwrap_or("git failed")
            .to_string()
    }
}

fn git(repo: &gix::Repository) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(repo.workdir().unwrap_or_else(|| repo.git_dir()))
        .stdin(Stdio::null());
    command
}

/// Run `git <args>` in the repository and wait for it.
pub fn run(repo: &gix::Repository, args: &[&str]) -> Result<GitOutput> {
    finish(git(repo).args(args), args)
}

/// Run `git <args>` in the repository with `input` on its stdin.
pub fn run_with_input(repo: &gix::Repository, args: &[&str], input: &[u8]) -> Result<GitOutput> {
    use std::io::Write;
    let mut child = git(repo)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::failed(format!("could not run git {}: {e}", args[0])))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::failed(format!("could not run git {}: {e}", args[0])))?;
    Ok(GitOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Run `git <args>` in the folder `dir` (a worktree) and wait for it.
pub fn run_in(dir: &std::path::Path, args: &[&str]) -> Result<GitOutput> {
    finish(
        Command::new("git")
            .current_dir(dir)
            .stdin(Stdio::null())
            .args(args),
        args,
    )
}

/// Run `git <args>` in the folder `dir` and return its stdout as bytes (paths that are not
/// UTF-8 stay as they are); fails with git's complaint, naming `what` was being done.
pub fn stdout_in(dir: &std::path::Path, args: &[&str], what: &str) -> Result<Vec<u8>> {
    let output = Command::new("git")
        .current_dir(dir)
        .stdin(Stdio::null())
        .args(args)
        .output()
        .map_err(|e| Error::failed(format!("{what}: could not run git {}: {e}", args[0])))?;
    if !output.status.success() {
        let complaint = GitOutput {
            success: false,
            code: output.status.code(),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        return Err(Error::failed(format!("{what}: {}", complaint.error_line())));
    }
    Ok(output.stdout)
}

fn finish(command: &mut Command, args: &[&str]) -> Result<GitOutput> {
    let output = command
        .output()
        .map_err(|e| Error::failed(format!("could not run git {}: {e}", args[0])))?;
    Ok(GitOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Run `git <args>` and fail with git's own complaint, naming `what` was being done.
pub fn run_ok(repo: &gix::Repository, args: &[&str], what: &str) -> Result<GitOutput> {
    let output = run(repo, args)?;
    if !output.success {
        return Err(Error::failed(format!("{what}: {}", output.error_line())));
    }
    Ok(output)
}

/// Run `git <args>` to the end, ignoring what it says (best-effort housekeeping).
pub fn run_quietly(repo: &gix::Repository, args: &[&str]) {
    let _ = git(repo)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// gix writes every object loose and never packs. When loose objects pile up (git's own
/// `gc.auto` estimate: more than 27 in the sample folder `objects/17`, about 7,000 in all),
/// start `git maintenance run --auto` in the background, as git itself does after a command.
/// The check is one directory read; the caller never waits for the maintenance.
pub fn maintain_if_needed(repo: &gix::Repository) {
    let sample = repo.common_dir().join("objects").join("17");
    let loose = std::fs::read_dir(sample).map_or(0, Iterator::count);
    if loose <= 27 {
        return;
    }
    start_in_background(repo, &["maintenance", "run", "--auto", "--quiet"]);
}

/// Start `git <args>` in the background and do not wait.
fn start_in_background(repo: &gix::Repository, args: &[&str]) {
    let _ = git(repo)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
