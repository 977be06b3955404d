//! New turns (`restart`, `run`) and the refusals around them: a run already going, a session of
//! another clone, an agent nobody defined, a program that does not exist.

use super::*;

#[test]
fn restart_brings_a_completed_session_back_with_its_agent_running() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "close", &id, "--done"]);
    lab.wait_run_ended(&id);
    assert_eq!(lab.status(&id), "completed");

    let doc = lab.pm_json(&["agent", "restart", &id, "--prompt", "again"]);
    // The document of MCP `restart` too: the reactivation's, plus the run.
    assert_eq!(doc["previous_status"], "completed", "{doc}");
    assert_eq!(doc["status"], "idle", "as reactivated: {doc}");
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["run"]["state"], "running", "{doc}");
    assert_eq!(lab.status(&id), "active");
    let log = lab.record_log(&id);
    let subjects: Vec<&str> = log.lines().take(2).collect();
    assert_eq!(
        subjects,
        ["resume: idle -> active", "reactivate: completed -> idle"],
        "{log}"
    );
    assert_eq!(lab.run_of(&id)["state"], "running");
    let text = lab.wait_log_line(&id, "reply: again");
    assert!(text.lines().any(|l| l == "> again"), "{text}");
    // The log keeps both runs, numbered on.
    let events = lab.events(&id);
    seqs(&events);
    assert_eq!(kinds(&events).iter().filter(|k| *k == "started").count(), 2);

    // A new run while this one runs is refused in one line.
    let before = lab.events(&id).len();
    let line = lab
        .pm(&["agent", "run", &id, "--prompt", "x"])
        .fails_with(1);
    assert!(line.contains("already running"), "{line}");
    assert_eq!(lab.events(&id).len(), before);
    assert_eq!(lab.run_of(&id)["state"], "running");
}

#[test]
fn run_refuses_a_session_of_another_clone() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "abort", &id]);
    let tip = lab.tip_of(Kind::Session, &id);

    // This clone now has another id: the session's owner is another clone.
    std::fs::write(
        lab.path().join(".git/pm/clone-id"),
        "01BX5ZZKBKACTAV9WEVGEMMVR1\n",
    )
    .unwrap();
    let line = lab
        .pm(&["agent", "run", &id, "--prompt", "x"])
        .fails_with(1);
    assert!(line.contains("belongs to another clone"), "{line}");
    assert_eq!(
        lab.tip_of(Kind::Session, &id),
        tip,
        "the record is untouched"
    );
    assert_eq!(lab.run_of(&id)["state"], "exited");
    assert_eq!(kinds(&lab.events(&id)).last().unwrap(), "exited");
}

#[test]
fn an_agent_nobody_defined_is_refused_before_anything_is_made() {
    let lab = Lab::new();
    let before = lab.git(&["for-each-ref"]);
    let line = lab
        .pm(&[
            "agent", "launch", "--branch", "b", "--agent", "nosuch", "--run",
        ])
        .fails_with(2);
    assert!(
        line.contains("nosuch") && line.contains("[agents.nosuch]") && line.contains("config"),
        "{line}"
    );
    assert_eq!(
        lab.git(&["for-each-ref"]),
        before,
        "a launch was left behind"
    );
    assert!(!lab.root().join("repo.worktrees/b").exists());
}

#[test]
fn an_agent_program_that_does_not_exist_fails_the_run_and_leaves_the_session_idle() {
    let lab = Lab::new();
    let missing = lab.root().join("agents/missing.sh");
    lab.add_agent("ghost", &missing);
    let line = lab
        .pm(&[
            "agent", "launch", "--branch", "b", "--agent", "ghost", "--prompt", "hi", "--run",
        ])
        .fails_with(1);
    assert!(
        line.contains("could not start") && line.contains("missing.sh"),
        "{line}"
    );
    let ids = lab.record_ids(Kind::Session);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = &ids[0];
    assert_eq!(lab.status(id), "idle");
    let log = lab.record_log(id);
    assert_eq!(log.lines().next(), Some("exit: active -> idle"), "{log}");
    let events = lab.events(id);
    assert!(
        events.iter().any(|e| e["kind"] == "log"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("could not start"))),
        "{events:?}"
    );
    assert_eq!(lab.run_of(id)["state"], "exited");
}
