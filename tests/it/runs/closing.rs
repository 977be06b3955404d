//! Stopping a run: `abort`, the runtime cap, and closing the session (idle at once, completed
//! after the agent read the end of its input).

use super::*;

/// The index of the last event of kind `kind`.
fn last_of(events: &[Value], kind: &str) -> Option<usize> {
    events.iter().rposition(|e| e["kind"] == kind)
}

#[test]
fn abort_stops_the_whole_process_group_and_the_session_becomes_idle() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    let (pid, supervisor) = lab.pids(&id);
    // The script and the `sleep` it started in the background share the agent's group.
    let members = wait_group_size(pid, 2);
    assert!(members.iter().any(|m| m.pid != pid), "{members:?}");

    let doc = lab.pm_json(&["agent", "abort", &id]);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["run"]["state"], "exited", "{doc}");
    assert_eq!(doc["run"]["pid"], Value::Null, "{doc}");
    // Once abort returned, nothing of the group is left, and the session is idle in git.
    assert_eq!(
        group_members(pid),
        [],
        "the agent's group outlived the abort"
    );
    assert_eq!(lab.status(&id), "idle");
    let log = lab.record_log(&id);
    assert_eq!(log.lines().next(), Some("exit: active -> idle"), "{log}");
    wait_for("the supervisor to exit", || {
        if alive(supervisor) {
            Err(format!("{:?}", proc_stat(supervisor)))
        } else {
            Ok(())
        }
    });

    let events = lab.events(&id);
    seqs(&events);
    let kinds = kinds(&events);
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("exited"),
        "{kinds:?}"
    );
    let aborted = last_of(&events, "aborted").expect("an aborted event");
    assert_eq!(events[aborted]["why"], "aborted on request");
    assert!(aborted > last_of(&events, "input").unwrap(), "{kinds:?}");
    assert_eq!(lab.run_of(&id)["state"], "exited");

    // Aborting again is refused in one line: nothing runs.
    let line = lab.pm(&["agent", "abort", &id]).fails_with(1);
    assert!(line.contains("not running"), "{line}");
}

/// `abort` returns once the run ended, and by then the session is idle in git: over rounds,
/// since the supervisor writes both.
#[test]
fn abort_returns_with_the_session_already_idle() {
    let lab = Lab::new();
    for round in 0..8 {
        let id = lab.launch_run(&format!("round-{round}"), "echo", &["--prompt", "hello"]);
        lab.wait_log_line(&id, "reply: hello");
        let doc = lab.pm_json(&["agent", "abort", &id]);
        assert_eq!(doc["run"]["state"], "exited", "round {round}: {doc}");
        assert_eq!(lab.status(&id), "idle", "round {round}");
        let list = lab.pm_json(&["agent", "list", "--all"]);
        let row = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("round {round}: {id} not listed"));
        assert_eq!(row["status"], "idle", "round {round}: {row}");
    }
}

#[test]
fn the_runtime_cap_aborts_an_agent_that_ignores_its_input() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "sleeper", &["--max-runtime", "1"]);
    let (pid, _) = lab.pids(&id);
    let run = lab.wait_run_ended(&id);
    assert_eq!(run["state"], "exited", "{run}");
    lab.wait_status(&id, "idle");
    assert_eq!(group_members(pid), []);

    let events = lab.events(&id);
    let aborted = last_of(&events, "aborted").expect("an aborted event");
    let why = events[aborted]["why"].as_str().unwrap();
    assert!(why.contains("runtime cap of 1 s"), "{why}");
    assert_eq!(kinds(&events).last().map(String::as_str), Some("exited"));
    let text = lab.logs(&id);
    assert!(
        text.contains("[aborted: the runtime cap of 1 s was reached]"),
        "{text}"
    );
}

#[test]
fn closing_a_running_session_idle_stops_its_agent_at_once() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    let (pid, _) = lab.pids(&id);

    let doc = lab.pm_json(&["agent", "close", &id]);
    assert_eq!(doc["status"], "idle", "{doc}");
    lab.wait_run_ended(&id);
    wait_group_gone(pid);
    assert_eq!(lab.status(&id), "idle");
    let events = lab.events(&id);
    let aborted = last_of(&events, "aborted").expect("an aborted event");
    let why = events[aborted]["why"].as_str().unwrap();
    assert!(why.contains("closed"), "{why}");
    assert_eq!(kinds(&events).last().map(String::as_str), Some("exited"));
}

#[test]
fn closing_done_lets_a_command_agent_read_the_end_of_its_input_and_exit() {
    let lab = Lab::new();
    let issue = lab.add("Finish it", &[]);
    let id = lab.launch_run("b", "echo", &["--issue", &issue, "--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    let (pid, _) = lab.pids(&id);

    let doc = lab.pm_json(&["agent", "close", &id, "--done"]);
    assert_eq!(doc["status"], "completed", "{doc}");
    // The agent reads the end of its input, says bye and exits 0; what it left behind goes.
    lab.wait_log_line(&id, "bye");
    let run = lab.wait_run_ended(&id);
    assert_eq!(run["exit_code"], 0, "{run}");
    wait_group_gone(pid);
    let events = lab.events(&id);
    let kinds = kinds(&events);
    assert!(!kinds.contains(&"aborted".to_string()), "{kinds:?}");
    let exited = events.last().expect("events");
    assert_eq!(exited["kind"], "exited", "{kinds:?}");
    assert_eq!(exited["code"], 0);

    // The session stays completed and its issue done: the agent's exit changes neither.
    assert_eq!(lab.status(&id), "completed");
    assert_eq!(lab.status_of(Kind::Issue, &issue), "done");
    let log = lab.record_log(&id);
    assert_eq!(
        log.lines().next(),
        Some("close: active -> completed"),
        "{log}"
    );
    assert!(!log.contains("exit:"), "{log}");
}

/// A running command agent that started a `sleep` in a session of its own (as Claude Code runs
/// shell commands): the lab, the session and the sleep's pid.
fn running_escaper() -> (Lab, String, u32) {
    let lab = Lab::new();
    let pidfile = lab.root().join("escapee.pid");
    let script = lab.root().join("escaper.sh");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\nsetsid sh -c 'echo $$ > {}; exec sleep 300' &\necho up\nwhile IFS= read -r line; do echo \"got $line\"; done\n",
            pidfile.display()
        ),
    );
    lab.add_agent("escaper", &script);
    let id = lab.launch_run("b", "escaper", &["--prompt", "go"]);
    lab.wait_log_line(&id, "got go");
    let escapee: u32 = wait_for("the escapee's pid", || {
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .filter(|pid| alive(*pid))
            .ok_or_else(|| "not yet".to_string())
    });
    (lab, id, escapee)
}

/// Wait until process `pid` (`what`) is gone.
#[track_caller]
fn wait_stopped(pid: u32, what: &str) {
    wait_for(&format!("{what} to be stopped"), || {
        if alive(pid) {
            Err(format!("{:?}", proc_stat(pid)))
        } else {
            Ok(())
        }
    });
}

/// A process the agent starts in a session of its own (as Claude Code runs shell commands)
/// escapes a signal to the agent's group; abort still leaves none behind: the supervisor reaps
/// its orphaned descendants, and stops them all.
#[test]
fn abort_stops_what_the_agent_started_in_a_session_of_its_own() {
    let (lab, id, escapee) = running_escaper();
    let (pid, _) = lab.pids(&id);
    assert_ne!(
        proc_stat(escapee).map(|s| s.pgid),
        Some(pid),
        "the escapee has a group of its own"
    );
    lab.pm_json(&["agent", "abort", &id]);
    wait_stopped(escapee, "the escapee");
    assert_eq!(lab.status(&id), "idle");
}

/// When the supervisor itself is killed, what the agent started in a session of its own is
/// reparented away from it; the next listing still finds it (by the run's mark in its
/// environment) and stops it.
#[test]
fn a_dead_supervisors_escaped_processes_are_stopped_by_the_next_listing() {
    let (lab, id, escapee) = running_escaper();
    let (_, supervisor) = lab.pids(&id);
    signal(supervisor, libc::SIGKILL);
    wait_stopped(supervisor, "the supervisor");
    lab.pm_ok(&["agent", "list"]);
    wait_stopped(escapee, "the escapee");
    assert_eq!(lab.status(&id), "idle");
}
