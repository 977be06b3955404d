//! The server itself: what it prints, its default port, stopping cleanly on SIGINT and SIGTERM
//! with streams open, a port already taken, `--open`, and the change feed.

use super::*;
use serde_json::json;

#[test]
fn it_prints_its_url_and_stops_cleanly_on_sigint_and_sigterm_with_streams_open() {
    let repo = Repo::new();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let server = Served::start(&repo, &[]);
        assert!(
            server.banner.starts_with("Serving http://127.0.0.1:"),
            "{}",
            server.banner
        );
        assert!(
            server.banner.contains("(projects: repo;"),
            "{}",
            server.banner
        );
        let feed = server.events("/api/v1/changes", &[]);
        assert_eq!(feed.next().expect("the ready event").event, "ready");
        let started = std::time::Instant::now();
        let (code, stderr) = server.stop_with(signal);
        assert_eq!(code, Some(0), "stderr: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        // The open stream ended with the server.
        let end = feed.next().expect("the end of the stream");
        assert_eq!(end.event, "(end of stream)", "{end:?}");
    }
}

#[test]
fn the_json_banner_and_the_default_port_are_documented_values() {
    let repo = Repo::new();
    let mut cmd = repo.pm_std_command(repo.path());
    cmd.args(["--json", "serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("pm serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("a line");
    let _ = child.kill();
    let _ = child.wait();
    let doc = json(&line);
    assert!(
        doc["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{doc}"
    );
    assert_eq!(doc["projects"][0]["name"], "repo");
    assert_eq!(doc["token"], Value::Null);
    let help = repo.pm_ok(&["serve", "--help"]);
    assert!(help.contains("[default: 7676]"), "{help}");
}

#[test]
fn a_port_in_use_is_one_line_naming_it() {
    let repo = Repo::new();
    let server = Served::start(&repo, &[]);
    let port = server.host.rsplit(':').next().unwrap().to_string();
    let run = repo.pm(&["serve", "--port", &port]);
    let line = run.fails_with(1);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("--port"), "{line}");
    let run = repo.pm(&["-n", "serve", "--port", "0"]);
    run.fails_with(2);
    let outside = repo.scratch_dir("not-a-repo");
    let run = repo.pm_in(&outside, &["serve", "--port", "0"]);
    let line = run.fails_with(1);
    assert!(line.contains("not-a-repo"), "{line}");
}

#[test]
fn open_hands_the_url_to_the_desktop() {
    let repo = Repo::new();
    let bin = repo.scratch_dir("bin");
    let said = repo.root().join("opened.txt");
    let script = bin.join("xdg-open");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", said.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let server = Served::start_with(&repo, repo.path(), &[("PATH", &path)], &["--open"]);
    let opened = crate::runs::wait_for("xdg-open to be called", || {
        std::fs::read_to_string(&said).map_err(|e| e.to_string())
    });
    assert_eq!(opened.trim(), format!("{}/", server.base));
}

#[test]
fn the_change_feed_says_when_records_runs_or_worktrees_change_underneath() {
    let repo = Repo::new();
    let server = Served::start(&repo, &[]);
    let feed = server.events("/api/v1/changes", &[]);
    assert_eq!(feed.status, 200);
    let ready = feed.next().expect("the ready event");
    assert_eq!(ready.event, "ready");
    assert_eq!(ready.json()["kinds"], json!([]));
    // Another terminal adds an issue.
    let issue = repo.add("From the CLI", &[]);
    let change = feed.until("for the issue", |e| e.event == "change");
    let doc = change.last().unwrap().json();
    assert_eq!(doc["kinds"], json!(["issues"]), "{doc}");
    assert_eq!(doc["project"], "repo");
    // A launch changes sessions, the issue and the worktrees.
    repo.pm_ok(&["agent", "launch", "--issue", &issue]);
    let mut kinds = std::collections::BTreeSet::new();
    while kinds.len() < 3 {
        let events = feed.until("for the launch", |e| e.event == "change");
        for event in events {
            for kind in event.json()["kinds"].as_array().unwrap() {
                kinds.insert(kind.as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["issues", "sessions", "worktrees"]
    );
    // Per project, too.
    let named = server.events("/api/v1/projects/repo/changes", &[]);
    assert_eq!(named.next().expect("ready").event, "ready");
    repo.pm_ok(&["issue", "close", &issue]);
    named.until("for the closed issue", |e| e.event == "change");
}
