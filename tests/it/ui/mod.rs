//! The web UI in a real browser: Debian's Chromium driven by Playwright for Python
//! (`tests/ui/browser.py`) against a real `pm serve` on 127.0.0.1, with a real Claude Code agent
//! talking to the scripted stand-in of the runtime tests. `.ci/run` installs both; without them
//! the test is skipped here and fails under CI.
//!
//! The run also takes the README's screenshots: with `PM_UPDATE_GENERATED=1` they are written to
//! `docs/images/`.

use crate::claude::Claude;
use crate::claude::standin::Step;
use crate::common;
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Chromium and Playwright are here (or the test must fail because CI lacks them).
fn browser_available() -> bool {
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output()
        .is_ok_and(|o| o.status.success());
    let found = playwright && Path::new("/usr/bin/chromium").exists();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Debian's chromium and Playwright for Python (see .ci/run)"
        );
        eprintln!("chromium or playwright is not installed; the browser test is skipped");
    }
    found
}

/// A running `pm serve`, stopped when dropped.
pub(crate) struct Served {
    child: Child,
    pub(crate) url: String,
}

impl Served {
    /// `pm serve --port 0` in `dir` with `env` added; waits for the URL it prints.
    pub(crate) fn start(home: &Path, dir: &Path, env: &[(String, String)]) -> Served {
        let mut child = Command::new(common::pm_bin())
            .args(["serve", "--port", "0"])
            .env_clear()
            .envs(common::base_env(home))
            .envs(common::identity_env())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pm serve starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("pm serve prints its URL");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_pages_in_chromium_show_change_and_follow_sessions_issues_worktrees_and_an_agent() {
    if !browser_available() {
        return;
    }
    let first = "Streaming into the page, ";
    let text = "Streaming into the page, piece by piece, as the model writes it.";
    let lab = Claude::new(vec![Step::slow_text(text, 12, Duration::from_millis(250))]);
    let done_issue = lab.add("Finish the page", &[]);
    let xss = "<img src=x onerror=alert(1)>";
    lab.add(xss, &[]);
    let agent_issue = lab.add("Say something on the page", &[]);
    let done = lab.pm_json(&[
        "agent",
        "launch",
        "--issue",
        &done_issue,
        "--branch",
        "done-me",
    ]);
    let pause = lab.pm_json(&["agent", "launch", "--branch", "pause-me"]);
    let id = |doc: &Value| doc["id"].as_str().expect("an id").to_string();
    let (done, pause_id) = (id(&done), id(&pause));
    let worktree = pause["worktree"].as_str().expect("a worktree").to_string();
    let served = Served::start(lab.home(), lab.path(), &lab.env);
    let shots = lab.scratch_dir("shots");
    let config = json!({
        "url": served.url,
        "pm": common::pm_bin(),
        "repo": lab.path(),
        "project": lab.path().file_name().and_then(|n| n.to_str()),
        "done": done,
        "done_issue": done_issue,
        "pause": pause_id,
        "worktree": worktree,
        "xss_title": xss,
        "agent_issue": agent_issue,
        "agent_first": first,
        "agent_text": text,
        "screenshots": shots,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/browser.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(config.to_string())
        .env_clear()
        .envs(common::base_env(lab.home()))
        .envs(common::identity_env());
    for var in ["PYTHONPATH", "PYENV_ROOT", "VIRTUAL_ENV"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    let output = cmd.output().expect("python3 runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    // git agrees with what the page showed.
    assert_eq!(lab.status_of(common::Kind::Session, &done), "completed");
    assert_eq!(lab.status_of(common::Kind::Issue, &done_issue), "done");
    assert_eq!(lab.status_of(common::Kind::Session, &pause_id), "abandoned");
    for name in ["sessions.png", "session.png"] {
        let shot = shots.join(name);
        let bytes = std::fs::read(&shot).expect("a screenshot");
        assert!(bytes.starts_with(b"\x89PNG"), "{}", shot.display());
        if std::env::var_os("PM_UPDATE_GENERATED").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
            std::fs::create_dir_all(&docs).expect("docs/images");
            std::fs::copy(&shot, docs.join(name)).expect("copy the screenshot");
        }
    }
}
