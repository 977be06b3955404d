//! `[sync] auto = true`: each write starts a `pm sync` in the background that pushes it, bursts
//! are gathered, the command never waits for the remote nor fails because of it, and what could
//! not be pushed is tried again by the next command and shown in the overview.

use super::*;
use crate::serve::Served;
use std::time::{Duration, Instant};

/// How long a background sync may take to show its effect.
const PATIENCE: Duration = Duration::from_secs(30);

/// Turn on `[sync] auto` in the user's config of the test.
fn auto_on(net: &Net) {
    let dir = net.repo.home().join(".config/pm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[sync]\nauto = true\n").unwrap();
}

/// Wait until `done` holds, or fail naming `what`.
#[track_caller]
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until clone `i` has no automatic sync gathering or running (so the test's folder can
/// go).
fn wait_quiet(net: &Net, i: usize) {
    let pm_dir = net.c(i).join(".git/pm");
    wait_for("the background syncs to end", || {
        ["auto-sync.queue", "sync.mutex"].iter().all(|name| {
            match std::fs::OpenOptions::new()
                .write(true)
                .open(pm_dir.join(name))
            {
                Ok(file) => file.try_lock().is_ok(),
                Err(_) => true,
            }
        })
    });
}

/// The overview's `sync.last_auto` of clone `i`.
fn last_auto(net: &Net, i: usize) -> Value {
    net.json(i, &[])["sync"]["last_auto"].clone()
}

/// The remote has exactly clone `i`'s records (same refs, same tips).
fn remote_has_all_of(net: &Net, i: usize) -> bool {
    net.remote_refs() == net.refs(i)
}

/// Writes reach the remote without `pm sync`, from the command line (concurrent writers, many
/// rounds) and from `pm serve`; another clone's `pm sync` gets them all.
#[test]
fn each_write_is_pushed_in_the_background_and_bursts_are_gathered() {
    let net = Net::new(2);
    auto_on(&net);
    let first = net.add(0, "Shared without pm sync", &[]);
    wait_for("the first issue on the remote", || {
        net.remote_refs()
            .contains(&format!("refs/pm/issues/{first}"))
    });
    let overview = net.json(0, &[]);
    assert_eq!(overview["sync"]["auto"], true, "{overview}");
    assert_eq!(overview["sync"]["last_auto"]["ok"], true, "{overview}");

    // Rounds of eight writers at once, each tagging the issue or making one: every write
    // reaches the remote, and the clone's records and the remote's end the same.
    let issues: Vec<String> = (0..3)
        .map(|n| net.add(0, &format!("Target {n}"), &[]))
        .collect();
    for round in 0..5 {
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let tag = format!("r{round}w{w}");
                let mut cmd = net.repo.pm_std_command(net.c(0));
                match w % 4 {
                    3 => cmd.args(["issue", "add", "--title", &tag]),
                    n => cmd.args(["issue", "update", &issues[n], "--tag", &tag]),
                };
                cmd.stdout(Stdio::null()).stderr(Stdio::piped());
                cmd.spawn().expect("pm runs")
            })
            .collect();
        for writer in writers {
            let out = writer.wait_with_output().unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        wait_for(&format!("round {round} on the remote"), || {
            remote_has_all_of(&net, 0)
        });
    }
    for (n, issue) in issues.iter().enumerate() {
        let remote = net.git_remote(&["show", &format!("refs/pm/issues/{issue}:issue.toml")]);
        for round in 0..5 {
            for w in (0..8).filter(|w| w % 4 == n) {
                assert!(remote.contains(&format!("r{round}w{w}")), "{remote}");
            }
        }
    }

    // A write over HTTP is shared the same way.
    let server = Served::start_with(&net.repo, net.c(0), &[], &[]);
    let made = server
        .post(
            "/api/v1/issues",
            &serde_json::json!({"title": "Made over HTTP"}),
        )
        .with_status(201);
    let id = made["issue"]["id"]
        .as_str()
        .or(made["id"].as_str())
        .unwrap()
        .to_string();
    wait_for("the issue made over HTTP on the remote", || {
        net.remote_refs().contains(&format!("refs/pm/issues/{id}"))
    });
    drop(server);

    wait_quiet(&net, 0);
    net.sync(1);
    assert_eq!(net.refs(1), net.refs(0));
    net.assert_converged();
}

/// With the remote out of reach, a write still succeeds at once; the overview says the
/// automatic sync failed and why; once the remote is back, the next command (a read) tries
/// again and the record arrives.
#[test]
fn a_remote_out_of_reach_fails_no_command_and_the_next_command_tries_again() {
    let net = Net::new(1);
    auto_on(&net);
    let url = net.git(0, &["remote", "get-url", "origin"]);
    let gone = net.root().join("gone.git");
    net.git(0, &["remote", "set-url", "origin", gone.to_str().unwrap()]);
    let id = net.add(0, "Written offline", &[]);
    wait_for("the failure in the overview", || {
        last_auto(&net, 0)["ok"] == false
    });
    let last = last_auto(&net, 0);
    assert!(
        last["error"].as_str().unwrap().contains("origin"),
        "the reason names the remote: {last}"
    );
    let text = net.pm_ok(0, &[]);
    assert!(
        text.contains("Auto sync: on, last try failed")
            && text.contains("the next command tries again"),
        "{text}"
    );
    assert!(!net.remote_refs().contains(&id));

    net.git(0, &["remote", "set-url", "origin", url.trim()]);
    wait_quiet(&net, 0);
    net.pm_ok(0, &["issue", "list"]);
    wait_for("the record on the remote after the retry", || {
        net.remote_refs().contains(&format!("refs/pm/issues/{id}"))
    });
    wait_for("a success in the overview", || {
        last_auto(&net, 0)["ok"] == true
    });
    let text = net.pm_ok(0, &[]);
    assert!(text.contains("Auto sync: on, last shared"), "{text}");
    wait_quiet(&net, 0);
    net.assert_converged();
}

/// Without the setting nothing is pushed by itself, and a dry run never starts a sync.
#[test]
fn without_the_setting_nothing_is_pushed() {
    let net = Net::new(1);
    let id = net.add(0, "Kept here", &[]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(!net.remote_refs().contains(&id));
    assert_eq!(net.json(0, &[])["sync"]["auto"], false);
    assert!(!net.c(0).join(".git/pm/auto-sync.json").exists());
    auto_on(&net);
    net.pm_ok(0, &["--dry-run", "issue", "add", "--title", "Not made"]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(!net.c(0).join(".git/pm/auto-sync.json").exists());
    assert!(!net.remote_refs().contains(&id));
}
