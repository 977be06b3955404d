//! Shared fixture for the integration tests: temporary repositories, hermetic `git` and `pm`
//! invocations, and small readers that use the git CLI as the independent witness.
//!
//! Every child process starts from an empty environment: only `PATH` is inherited, `HOME` and
//! `XDG_CONFIG_HOME` point into the test's own temporary directory, and
//! `GIT_CONFIG_NOSYSTEM=1`, so neither the machine's nor the user's git configuration (nor
//! `NO_COLOR`, `GIT_DIR`, `PM_NOW`, …) can leak into a test.

#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use tempfile::TempDir;

mod records;
pub use records::{Kind, age_ref_files};

/// The identity the fixture gives git (and, unless a test says otherwise, pm).
pub const NAME: &str = "Test User";
pub const EMAIL: &str = "test@example.com";

/// A syntactically valid ULID that `pm` never generates today (its time part is from 2016).
pub const CRAFTED_ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

/// The environment every child process gets, without any identity.
pub fn base_env(home: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("HOME".into(), home.into()),
        ("XDG_CONFIG_HOME".into(), home.join(".config").into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("LC_ALL".into(), "C".into()),
        ("TZ".into(), "UTC".into()),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        env.push(("PATH".into(), path));
    }
    env
}

/// `GIT_AUTHOR_*` and `GIT_COMMITTER_*` for the fixture's identity.
pub fn identity_env() -> Vec<(OsString, OsString)> {
    [
        ("GIT_AUTHOR_NAME", NAME),
        ("GIT_AUTHOR_EMAIL", EMAIL),
        ("GIT_COMMITTER_NAME", NAME),
        ("GIT_COMMITTER_EMAIL", EMAIL),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect()
}

/// Path of the `pm` binary under test.
pub fn pm_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("pm")
}

/// The result of one child process, with text output.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(what: String, output: Output) -> Self {
        Run {
            what,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with the full output unless the process exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.success(),
            "`{}` failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.code,
            self.stdout,
            self.stderr
        );
        assert_no_panic(&self);
        self
    }

    /// Assert a clean failure: exit status `code`, nothing on stdout, exactly one line on
    /// stderr that starts with `error: `, and no panic. Returns that line.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> String {
        assert_eq!(
            self.code,
            Some(code),
            "`{}` should exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        assert_no_panic(self);
        assert_eq!(
            self.stdout, "",
            "`{}` printed on stdout although it failed",
            self.what
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "`{}` should print exactly one line on stderr, got:\n{}",
            self.what,
            self.stderr
        );
        assert!(
            lines[0].starts_with("error: ") && lines[0].len() > "error: ".len(),
            "`{}`: stderr line does not start with `error: `: {:?}",
            self.what,
            lines[0]
        );
        assert!(self.stderr.ends_with('\n'));
        lines[0].to_string()
    }

    /// Parse stdout as the command's one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("`{}` did not print JSON ({e}):\n{}", self.what, self.stdout)
        })
    }
}

#[track_caller]
fn assert_no_panic(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "`{}` panicked:\n{}",
            run.what,
            text
        );
    }
}

fn describe(program: &str, args: &[&str]) -> String {
    let mut text = program.to_string();
    for arg in args {
        text.push(' ');
        text.push_str(arg);
    }
    text
}

/// A temporary directory holding a `home/` and one git repository (plus whatever a test adds).
pub struct Repo {
    _tmp: TempDir,
    path: PathBuf,
    home: PathBuf,
}

impl Repo {
    /// A normal repository with a working tree and one empty initial commit on `main`.
    pub fn new() -> Self {
        Self::init("repo", &[], true)
    }

    /// A bare repository (no commit).
    pub fn bare() -> Self {
        Self::init("repo.git", &["--bare"], false)
    }

    /// A normal repository whose second commit adds `README.txt` holding `text`.
    pub fn with_readme(text: &str) -> Self {
        let repo = Self::new();
        std::fs::write(repo.path().join("README.txt"), text).expect("write README.txt");
        repo.git(&["add", "README.txt"]);
        repo.git(&["commit", "-q", "-m", "add README"]);
        repo
    }

    /// A repository using the reftable ref storage, with one empty commit.
    pub fn reftable() -> Self {
        Self::init("repo", &["--ref-format=reftable"], true)
    }

    fn init(name: &str, init_args: &[&str], commit: bool) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("pm-test-")
            .tempdir()
            .expect("create a temporary directory");
        let root = tmp
            .path()
            .canonicalize()
            .expect("canonicalize the temporary directory");
        let home = root.join("home");
        std::fs::create_dir(&home).expect("create HOME");
        let path = root.join(name);
        let repo = Repo {
            _tmp: tmp,
            path,
            home,
        };
        let mut args = vec!["init", "-q", "-b", "main"];
        args.extend_from_slice(init_args);
        let target = repo.path.to_str().expect("UTF-8 temp path").to_string();
        args.push(&target);
        repo.git_in(&root, &args);
        if commit {
            repo.git(&["commit", "-q", "--allow-empty", "-m", "initial"]);
        }
        repo
    }

    /// The repository (its work tree, or the git directory of a bare one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary directory that holds everything of this test.
    pub fn root(&self) -> &Path {
        self.path.parent().expect("the repository has a parent")
    }

    /// The empty `HOME` of this test.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A new directory under the test's temporary root (outside the repository).
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        let dir = self.root().join(name);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        dir
    }

    // ---- git ----------------------------------------------------------------------------

    /// A hermetic `git` command (fixture identity) running in `dir`.
    pub fn git_command(&self, dir: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new("git");
        cmd.env_clear()
            .envs(base_env(&self.home))
            .envs(identity_env())
            .current_dir(dir);
        cmd
    }

    /// Run git in `dir` with optional stdin, whatever the exit status.
    pub fn git_run(&self, dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = self.git_command(dir);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("git can be started");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(input)
                .expect("write to git's stdin");
        }
        let output = child.wait_with_output().expect("wait for git");
        Run::new(describe("git", args), output)
    }

    /// Run git in `dir`, assert success and return stdout.
    #[track_caller]
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        self.git_run(dir, args, None).ok().stdout
    }

    /// Run git in the repository, assert success and return stdout.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.path, args)
    }

    /// Run git in the repository with `input` on stdin; assert success and return stdout.
    #[track_caller]
    pub fn git_stdin(&self, args: &[&str], input: &[u8]) -> String {
        self.git_run(&self.path, args, Some(input)).ok().stdout
    }

    /// Whether `refs/heads/<branch>` exists, as git says.
    pub fn branch_exists(&self, branch: &str) -> bool {
        let name = format!("refs/heads/{branch}");
        self.git_run(&self.path, &["rev-parse", "--verify", "-q", &name], None)
            .success()
    }

    /// `git for-each-ref refs/pm/`, verbatim.
    pub fn refs(&self) -> String {
        self.git(&["for-each-ref", "refs/pm/"])
    }

    /// First line of the message of `rev`.
    pub fn subject(&self, rev: &str) -> String {
        self.git(&["log", "-1", "--format=%s", rev])
            .trim_end()
            .to_string()
    }

    /// `git count-objects -v`, verbatim (loose object count and size).
    pub fn object_counts(&self) -> String {
        self.git(&["count-objects", "-v"])
    }

    /// Assert `git fsck --strict` is clean: exit 0 and nothing but dangling-object notes.
    #[track_caller]
    pub fn assert_fsck_clean(&self) {
        let run = self.git_run(
            &self.path,
            &["fsck", "--strict", "--no-progress", "--no-dangling"],
            None,
        );
        assert!(
            run.success(),
            "git fsck failed ({:?}):\n{}{}",
            run.code,
            run.stdout,
            run.stderr
        );
        let noise: Vec<&str> = run
            .stdout
            .lines()
            .chain(run.stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(noise.is_empty(), "git fsck reported:\n{}", noise.join("\n"));
    }

    // ---- pm -----------------------------------------------------------------------------

    /// A hermetic `pm` command in `dir`; with `identity` it gets the fixture's identity env.
    pub fn pm_command(&self, dir: &Path, identity: bool) -> Command {
        let mut cmd = Command::cargo_bin("pm").expect("the pm binary is built");
        cmd.env_clear().envs(base_env(&self.home)).current_dir(dir);
        if identity {
            cmd.envs(identity_env());
        }
        cmd
    }

    /// The same as a `std::process::Command`, for spawning processes concurrently.
    pub fn pm_std_command(&self, dir: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(pm_bin());
        cmd.env_clear()
            .envs(base_env(&self.home))
            .envs(identity_env())
            .current_dir(dir)
            .stdin(Stdio::null());
        cmd
    }

    /// Run pm in `dir` with extra environment variables.
    pub fn pm_full(&self, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.pm_command(dir, true);
        cmd.envs(env.iter().copied()).args(args);
        let output = cmd.output().expect("pm can be started");
        Run::new(describe("pm", args), output)
    }

    /// Run pm in the repository.
    pub fn pm(&self, args: &[&str]) -> Run {
        self.pm_full(&self.path, &[], args)
    }

    /// Run pm in `dir`.
    pub fn pm_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.pm_full(dir, &[], args)
    }

    /// Run pm in the repository with the clock fixed at `secs` (`PM_NOW`).
    pub fn pm_at(&self, secs: i64, args: &[&str]) -> Run {
        let now = secs.to_string();
        self.pm_full(&self.path, &[("PM_NOW", &now)], args)
    }

    /// Run pm, assert success, return stdout.
    #[track_caller]
    pub fn pm_ok(&self, args: &[&str]) -> String {
        self.pm(args).ok().stdout
    }

    /// Run `pm --json …`, assert success, return the document.
    #[track_caller]
    pub fn pm_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.pm(&all).ok().json()
    }

    /// `pm issue add --title <title> <extra…>`; returns the new id.
    #[track_caller]
    pub fn add(&self, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["--json", "issue", "add", "--title", title];
        args.extend_from_slice(extra);
        id_of(&self.pm(&args).ok().json())
    }

    /// Like [`Repo::add`], with the clock fixed at `secs`.
    #[track_caller]
    pub fn add_at(&self, secs: i64, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["--json", "issue", "add", "--title", title];
        args.extend_from_slice(extra);
        id_of(&self.pm_at(secs, &args).ok().json())
    }
}

impl Default for Repo {
    fn default() -> Self {
        Self::new()
    }
}

/// The `issue.id` of an add/update/show document.
#[track_caller]
pub fn id_of(doc: &Value) -> String {
    doc["issue"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no issue.id in {doc}"))
        .to_string()
}

/// A complete, valid issue record for crafting by hand; `extra` is appended verbatim.
pub fn record_toml(id: &str, title_toml: &str, extra: &str) -> String {
    format!(
        "schema = 1\n\
         id = \"{id}\"\n\
         title = {title_toml}\n\
         description = \"\"\n\
         body = \"\"\n\
         status = \"open\"\n\
         priority = \"medium\"\n\
         type = \"bug\"\n\
         tags = [\"crafted\"]\n\
         created = \"2020-01-02T03:04:05Z\"\n\
         updated = \"2020-01-02T03:04:05Z\"\n\
         {extra}"
    )
}
