//! The manners of the command line: shell completion in a real shell, output snapshots for a
//! fixed repository, no escape codes where they do not belong, the overview, and the picker's
//! refusal without a terminal.

mod completion;
mod output;
mod tables;

use crate::common;
use crate::common::{Kind, Repo};
use std::path::Path;

/// A fixed moment, so times in the output are stable.
const NOW: i64 = 1_790_000_000;

/// A repository with one issue, an active session on it, an idle one and a completed one.
struct Fixture {
    repo: Repo,
    issue: String,
    active: String,
    idle: String,
    done: String,
}

fn launch(repo: &Repo, args: &[&str]) -> String {
    let mut all = vec!["--json", "agent", "launch"];
    all.extend_from_slice(args);
    let now = NOW.to_string();
    let doc = repo
        .pm_full(repo.path(), &[("PM_NOW", &now)], &all)
        .ok()
        .json();
    doc["id"]
        .as_str()
        .expect("launch prints the id")
        .to_string()
}

fn fixture() -> Fixture {
    let repo = Repo::new();
    std::fs::write(repo.path().join("README"), "hello\n").expect("write a file");
    repo.git(&["add", "README"]);
    let date = format!("@{} +0000", NOW - 7200);
    let status = repo
        .git_command(repo.path())
        .args(["commit", "-q", "-m", "readme"])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .status()
        .expect("git commit runs");
    assert!(status.success());
    let issue = repo.add_at(NOW - 3600, "Add user login", &["--priority", "high"]);
    let active = launch(&repo, &["--issue", &issue, "--prompt", "Implement login"]);
    let idle = launch(&repo, &["--branch", "fix/typo"]);
    let done = launch(&repo, &["--branch", "chore/deps"]);
    let at = NOW.to_string();
    repo.pm_full(repo.path(), &[("PM_NOW", &at)], &["agent", "close", &idle])
        .ok();
    repo.pm_full(
        repo.path(),
        &[("PM_NOW", &at)],
        &["agent", "close", "--done", &done],
    )
    .ok();
    Fixture {
        repo,
        issue,
        active,
        idle,
        done,
    }
}

/// Replace what differs between runs (ids, commit ids, the temporary folder) by names.
fn redact(f: &Fixture, text: &str) -> String {
    let mut text = text.replace(&f.repo.root().display().to_string(), "<ROOT>");
    let clone_id = std::fs::read_to_string(f.repo.path().join(".git/pm/clone-id"))
        .expect("the clone has an id");
    text = text.replace(clone_id.trim(), "<CLONE>");
    let host = f.repo.pm_json(&["agent", "show", &f.active])["host"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !host.is_empty() {
        text = text.replace(&format!("\"{host}\""), "\"<HOST>\"");
        text = text.replace(&format!("host        {host}"), "host        <HOST>");
    }
    for (id, name) in [
        (&f.issue, "<ISSUE>"),
        (&f.active, "<ACTIVE>"),
        (&f.idle, "<IDLE>"),
        (&f.done, "<DONE>"),
    ] {
        text = text.replace(id.as_str(), name);
    }
    // Commit ids (full or abbreviated) depend on the fixture's commit times.
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.len() >= 7 && word.chars().all(|c| c.is_ascii_hexdigit());
        if hex && word.chars().any(|c| c.is_ascii_digit()) {
            out.push_str("<SHA>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn pm_now(repo: &Repo, args: &[&str]) -> String {
    let now = (NOW + 600).to_string();
    repo.pm_full(repo.path(), &[("PM_NOW", &now)], args)
        .ok()
        .stdout
}
