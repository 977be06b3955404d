//! Transcripts in git: each turn of a session's agent is a commit of `refs/pm/runs/<session>`
//! that sync carries to other clones, checked there like every record, and joined with their
//! own turns by a merge commit when both ran the session.

use super::*;
use std::path::Path;

/// The subjects of the transcript's commits, newest first.
fn turn_log(repo: &Repo, dir: &Path, id: &str) -> Vec<String> {
    repo.git_in(dir, &["log", "--format=%s", &format!("refs/pm/runs/{id}")])
        .lines()
        .map(str::to_string)
        .collect()
}

/// `pm --json agent transcript ID` in `dir`: the turns.
#[track_caller]
fn turns(repo: &Repo, dir: &Path, id: &str) -> Vec<Value> {
    repo.pm_in(dir, &["--json", "agent", "transcript", id])
        .ok()
        .json()["turns"]
        .as_array()
        .expect("a turns array")
        .clone()
}

/// Run the `echo` agent of session `id` for one turn with `prompt`, then abort it.
fn one_run(lab: &Lab, id: &str, prompt: &str) {
    lab.pm_ok(&["agent", "run", id, "--prompt", prompt]);
    lab.wait_log_line(id, &format!("reply: {prompt}"));
    lab.pm_ok(&["agent", "abort", id]);
    lab.wait_run_ended(id);
}

#[test]
fn each_run_leaves_its_turn_in_git_and_transcript_shows_them() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    assert!(
        lab.git(&["for-each-ref", "refs/pm/runs/"]).is_empty(),
        "nothing is kept before the turn ends"
    );
    lab.pm_ok(&["agent", "abort", &id]);
    lab.wait_run_ended(&id);
    lab.pm_ok(&["agent", "run", &id, "--prompt", "again"]);
    lab.wait_log_line(&id, "reply: again");
    // Done: the agent's input ends, it says bye and exits on its own.
    lab.pm_ok(&["agent", "close", &id, "--done"]);
    lab.wait_run_ended(&id);

    let log = turn_log(&lab, lab.path(), &id);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].starts_with("turn: exited"), "{log:?}");
    assert!(log[1].starts_with("turn: aborted"), "{log:?}");
    let file = lab.git(&["show", &format!("refs/pm/runs/{id}:turn.json")]);
    assert!(file.contains("reply: again"), "{file}");
    assert!(file.contains("bye"), "{file}");
    assert!(!file.contains("reply: hello"), "one turn a commit: {file}");
    let tree = lab.git(&["ls-tree", "--name-only", &format!("refs/pm/runs/{id}")]);
    assert_eq!(tree.trim(), "turn.json");

    let turns = turns(&lab, lab.path(), &id);
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(turns[0]["outcome"], "aborted");
    assert_eq!(turns[0]["session"], id.as_str());
    assert_eq!(turns[0]["agent"], "echo");
    assert_eq!(
        turns[0]["entries"][0],
        serde_json::json!({"kind": "input", "text": "hello"})
    );
    assert_eq!(turns[0]["entries"][1]["kind"], "text");
    assert_eq!(turns[0]["entries"][1]["text"], "agent up\nreply: hello\n");
    assert_eq!(turns[1]["outcome"], "exited");

    let shown = lab.pm_ok(&["agent", "transcript", &id]);
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines[0].starts_with("turn 1 "), "{shown}");
    assert!(lines[0].ends_with("· echo · aborted"), "{shown}");
    assert!(lines.contains(&"> hello"), "{shown}");
    assert!(lines.contains(&"reply: again"), "{shown}");
    assert!(lines.contains(&"[aborted: aborted on request]"), "{shown}");
    lab.assert_fsck_clean();
}

#[test]
fn transcripts_travel_by_sync_are_checked_and_merge() {
    let lab = Lab::new();
    let root = lab.root().to_path_buf();
    let remote = root.join("remote.git");
    let remote_s = remote.to_str().expect("UTF-8 path");
    lab.git_in(&root, &["init", "-q", "--bare", "-b", "main", remote_s]);
    lab.git(&["remote", "add", "origin", remote_s]);
    lab.git(&["push", "-q", "origin", "main"]);

    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "abort", &id]);
    lab.wait_run_ended(&id);
    let name = format!("refs/pm/runs/{id}");
    let doc = lab.pm_json(&["sync"]);
    assert_eq!(doc["push_rejected"], serde_json::json!([]), "{doc}");
    let ours = lab.git(&["rev-parse", &name]);
    let advertised = lab.git(&["ls-remote", "origin", &name]);
    assert!(advertised.starts_with(ours.trim()), "{advertised}");

    // Another clone reads the turn without ever having run the agent.
    let other = root.join("other");
    lab.git_in(&root, &["clone", "-q", remote_s, other.to_str().unwrap()]);
    lab.pm_in(&other, &["sync"]).ok();
    let theirs = turns(&lab, &other, &id);
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["entries"][1]["text"], "agent up\nreply: hello\n");

    // What another clone sends is checked commit by commit: a turn commit holding a script, a
    // turn naming another session, a file too large. None is taken; the local tip stays.
    let turn = lab.git_in(&other, &["show", &format!("{name}:turn.json")]);
    let forged_turn = turn.replace(&id, "01BX5ZZKBKACTAV9WEVGEMMVRZ");
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let cases: [(&str, &str); 3] = [
        ("evil.sh", "#!/bin/sh\nrm -rf ~\n"),
        ("turn.json", &forged_turn),
        ("turn.json", &huge),
    ];
    for (file, text) in cases {
        let blob = lab.git_stdin(&["hash-object", "-w", "--stdin"], text.as_bytes());
        let tree = lab.git_stdin(
            &["mktree"],
            format!("100644 blob {}\t{file}\n", blob.trim()).as_bytes(),
        );
        let commit = lab.git(&["commit-tree", tree.trim(), "-p", ours.trim(), "-m", "turn"]);
        lab.git(&[
            "push",
            "-q",
            "-f",
            "origin",
            &format!("{}:{name}", commit.trim()),
        ]);
        let doc = lab.pm_json(&["sync", "--fetch-only"]);
        let rejected = doc["rejected"].to_string();
        assert!(rejected.contains(&name), "{file}: {doc}");
        assert_eq!(
            lab.git(&["rev-parse", &name]),
            ours,
            "{file}: the local tip moved"
        );
    }
    lab.git(&[
        "push",
        "-q",
        "-f",
        "origin",
        &format!("{}:{name}", ours.trim()),
    ]);

    // Both clones add a turn: the other clone a valid one of its own (made with plain git),
    // this one a second run. Sync joins them with a merge commit that holds no turn.
    let later = turn.replace("\"outcome\": \"aborted\"", "\"outcome\": \"finished\"");
    assert_ne!(later, turn);
    let blob = lab.git_stdin(&["hash-object", "-w", "--stdin"], later.as_bytes());
    let tree = lab.git_stdin(
        &["mktree"],
        format!("100644 blob {}\tturn.json\n", blob.trim()).as_bytes(),
    );
    let commit = lab.git(&["commit-tree", tree.trim(), "-p", ours.trim(), "-m", "turn"]);
    lab.git(&["push", "-q", "origin", &format!("{}:{name}", commit.trim())]);
    one_run(&lab, &id, "second");
    let doc = lab.pm_json(&["sync"]);
    assert_eq!(doc["merged"], 1, "{doc}");
    assert_eq!(doc["push_rejected"], serde_json::json!([]), "{doc}");
    let parents = lab.git(&["show", "-s", "--format=%P", &name]);
    assert_eq!(parents.split_whitespace().count(), 2, "{parents}");
    let tree = lab.git(&["ls-tree", &name]);
    assert!(tree.is_empty(), "a merge holds no turn: {tree}");
    let mine = turns(&lab, lab.path(), &id);
    assert_eq!(mine.len(), 3, "{mine:?}");
    lab.pm_in(&other, &["sync"]).ok();
    assert_eq!(
        lab.git_in(&other, &["rev-parse", &name]),
        lab.git(&["rev-parse", &name])
    );
    assert_eq!(turns(&lab, &other, &id).len(), 3);
    lab.assert_fsck_clean();
}
