//! What a client asks again and what it reads back: `clientRequestId` (the same key, the same
//! session), `events` with the run's events beside the record's, `config` with what the agent
//! was really started with, `prompt` with the instructions pm gave it.

use super::*;
use crate::mcp::{call, failed, ok};
use serde_json::json;

#[test]
fn the_same_client_request_id_gives_the_same_session_and_launches_once() {
    let lab = Lab::new();
    let issue = lab.add("Once only", &[]);
    let ask = || {
        ok(&call(
            &lab,
            lab.path(),
            "pm_session",
            json!({"action": "start", "taskKey": issue, "agent": "echo",
                   "prompt": "hello", "clientRequestId": "req-1"}),
        ))
        .clone()
    };
    let first = ask();
    let id = first["id"].as_str().expect("an id").to_string();
    lab.wait_log_line(&id, "reply: hello");
    let again = ask();
    assert_eq!(again["id"], id.as_str(), "{again}");
    assert_eq!(again["run"]["state"], "running", "{again}");
    assert!(
        again["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("served before")),
        "{again}"
    );
    // git: one session record, one launch.
    assert_eq!(lab.record_ids(Kind::Session).len(), 1);
    let started = lab
        .events(&id)
        .iter()
        .filter(|e| e["kind"] == "started")
        .count();
    assert_eq!(started, 1, "the agent was started once");
    // A key that is not one line is refused.
    let text = failed(&call(
        &lab,
        lab.path(),
        "pm_session",
        json!({"action": "start", "taskKey": issue, "agent": "echo", "clientRequestId": "a\nb"}),
    ));
    assert!(text.contains("clientRequestId"), "{text}");
    lab.pm_ok(&["agent", "abort", &id]);
}

#[test]
fn events_config_and_prompt_tell_what_the_agent_really_got() {
    let lab = Lab::new();
    let issue = lab.add("Paint the fence", &[]);
    let id = lab.launch_run("fence", "echo", &["--issue", &issue, "--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "abort", &id]);

    let cli = lab.pm_json(&["agent", "events", &id]);
    let mcp = ok(&call(
        &lab,
        lab.path(),
        "pm_session",
        json!({"action": "events", "sessionUlid": id}),
    ))
    .clone();
    assert_eq!(cli, mcp, "the same document");
    let run_kinds: Vec<&str> = cli["run_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(run_kinds.first(), Some(&"started"), "{run_kinds:?}");
    assert_eq!(run_kinds.last(), Some(&"exited"), "{run_kinds:?}");
    assert!(cli["events"].as_array().unwrap().len() >= 2, "{cli}");

    let config = ok(&call(
        &lab,
        lab.path(),
        "pm_session",
        json!({"action": "config", "sessionUlid": id}),
    ))
    .clone();
    let started = &config["started_with"];
    assert_eq!(started["agent"], "echo", "{config}");
    assert_eq!(started["protocol"], "command", "{config}");
    assert_eq!(started["prompt"], "hello", "{config}");
    assert!(
        started["program"]
            .as_str()
            .is_some_and(|p| p.ends_with(".sh") || p.contains("echo")),
        "{config}"
    );

    let prompt = ok(&call(
        &lab,
        lab.path(),
        "pm_session",
        json!({"action": "prompt", "sessionUlid": id}),
    ))
    .clone();
    let system = prompt["system_prompt"].as_str().unwrap_or_default();
    assert!(system.contains("Paint the fence"), "{prompt}");
    assert!(system.contains("pm_close_agent"), "{prompt}");
}
