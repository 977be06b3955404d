//! Running agents over HTTP, with the `command` provider's scripts of the runtime tests: a run
//! started with the launch, input, the events as JSON and as server-sent events resumed from a
//! sequence number (`Last-Event-ID`, `?since=`), abort, a new turn, restart; git and
//! `pm --json agent logs` as the witnesses.

use super::*;
use crate::runs::{Lab, wait_for};
use serde_json::json;

/// Answers each input line with `reply: LINE`.
const ECHO: &str = r#"#!/bin/sh
echo "agent up"
while IFS= read -r line; do
  echo "reply: $line"
done
echo "bye"
"#;

fn lab() -> Lab {
    Lab::with_agents(&[("echo", ECHO)])
}

/// Whether `event` is the agent's text `text` (one line).
fn says(event: &SseEvent, text: &str) -> bool {
    let doc = event.json();
    doc["kind"] == "text" && doc["text"] == format!("{text}\n")
}

#[test]
fn a_run_streams_its_events_and_a_stream_resumes_after_the_last_id_it_saw() {
    let lab = lab();
    let server = Served::start(&lab, &[]);
    let launched = server
        .post(
            "/api/v1/agent/launch",
            &json!({"branch": "b", "agent": "echo", "prompt": "hello", "run": true}),
        )
        .ok();
    let id = launched["id"].as_str().unwrap().to_string();
    assert_eq!(launched["run"]["state"], "running", "{launched}");
    assert_eq!(lab.status(&id), "active");

    let stream = server.events(&format!("/api/v1/sessions/{id}/run/stream"), &[]);
    assert_eq!(stream.status, 200);
    assert!(
        stream.content_type.starts_with("text/event-stream"),
        "{}",
        stream.content_type
    );
    let first = stream.until("with the reply to the prompt", |e| says(e, "reply: hello"));
    // Each event's id is its sequence number, from 1 without a gap, its data the event.
    let seqs: Vec<u64> = first.iter().map(|e| e.id.parse().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    for event in &first {
        assert_eq!(event.json()["seq"].to_string(), event.id);
    }
    assert_eq!(first[0].json()["kind"], "started");
    // Input reaches the agent, and its answer the stream as it is written.
    let sent = server
        .post(
            &format!("/api/v1/sessions/{id}/input"),
            &json!({"text": "more"}),
        )
        .ok();
    assert_eq!(sent["started"], false);
    let later = stream.until("with the reply to the input", |e| says(e, "reply: more"));
    let last_seen: u64 = later.last().unwrap().id.parse().unwrap();

    // What the stream sent is what `pm agent logs --json` has.
    let logs = lab.pm_json(&["agent", "logs", &id]);
    let logged: Vec<Value> = logs["events"].as_array().unwrap().clone();
    let streamed: Vec<Value> = first.iter().chain(&later).map(SseEvent::json).collect();
    assert_eq!(streamed, logged[..streamed.len()]);
    let over_http = server
        .get(&format!("/api/v1/sessions/{id}/run/events?since=2"))
        .ok();
    assert_eq!(
        over_http,
        lab.pm_json(&["agent", "logs", &id, "--since", "2"])
    );

    // A stream that resumes after an id starts with the event after it, with either way.
    let resumed = server.events(
        &format!("/api/v1/sessions/{id}/run/stream"),
        &[("Last-Event-ID", "2")],
    );
    let again = resumed.next().expect("an event");
    assert_eq!(again.id, "3");
    assert_eq!(again.json(), logged[2]);
    let since = server.events(
        &format!("/api/v1/sessions/{id}/run/stream?since={last_seen}"),
        &[],
    );
    server
        .post(
            &format!("/api/v1/sessions/{id}/input"),
            &json!({"text": "third"}),
        )
        .ok();
    let next = since.until("after the last one seen", |e| says(e, "reply: third"));
    assert_eq!(next[0].id, (last_seen + 1).to_string(), "{next:#?}");
    assert!(
        next.iter()
            .all(|e| e.id.parse::<u64>().unwrap() > last_seen)
    );

    // Abort: the run ends (the stream says so), the session is idle in git.
    let aborted = server
        .post(&format!("/api/v1/sessions/{id}/abort"), &json!({}))
        .ok();
    assert_ne!(aborted["run"]["state"], "running", "{aborted}");
    stream.until("saying the run was aborted", |e| {
        e.json()["kind"] == "aborted"
    });
    lab.wait_status(&id, "idle");
    let (code, _) = server
        .post(&format!("/api/v1/sessions/{id}/abort"), &json!({}))
        .error(409);
    assert_eq!(code, "conflict");

    // A new turn, on the stream that stayed open across the runs.
    let run = server
        .post(
            &format!("/api/v1/sessions/{id}/run"),
            &json!({"prompt": "again"}),
        )
        .ok();
    assert_eq!(run["run"]["state"], "running");
    stream.until("of the new turn", |e| says(e, "reply: again"));
    assert_eq!(lab.status(&id), "active");
    server
        .post(&format!("/api/v1/sessions/{id}/abort"), &json!({}))
        .ok();
    lab.wait_status(&id, "idle");
}

#[test]
fn closing_a_running_session_completed_over_http_lets_the_agent_end_and_restart_runs_it_again() {
    let lab = lab();
    let issue = lab.add("Run me", &[]);
    let server = Served::start(&lab, &[]);
    let launched = server
        .post(
            "/api/v1/agent/launch",
            &json!({"issue": issue, "agent": "echo", "prompt": "go", "run": true}),
        )
        .ok();
    let id = launched["id"].as_str().unwrap().to_string();
    let closed = server
        .post(
            "/api/v1/agent/close",
            &json!({"session_id": id, "status": "completed"}),
        )
        .ok();
    assert_eq!(closed["status"], "completed");
    assert_eq!(lab.status(&id), "completed");
    assert_eq!(lab.status_of(crate::common::Kind::Issue, &issue), "done");
    lab.wait_run_ended(&id);
    assert_eq!(lab.status(&id), "completed");

    let (code, _) = server
        .post(&format!("/api/v1/sessions/{id}/run"), &json!({}))
        .error(409);
    assert_eq!(code, "conflict");
    let restarted = server
        .post(
            &format!("/api/v1/sessions/{id}/restart"),
            &json!({"prompt": "once more"}),
        )
        .ok();
    assert_eq!(restarted["previous_status"], "completed");
    assert_eq!(restarted["run"]["state"], "running", "{restarted}");
    wait_for("the restarted agent's reply", || {
        let logs = lab.logs(&id);
        if logs.contains("reply: once more") {
            Ok(())
        } else {
            Err(logs)
        }
    });
    assert_eq!(lab.status(&id), "active");
    assert_eq!(
        lab.status_of(crate::common::Kind::Issue, &issue),
        "in_progress"
    );
    let (code, _) = server
        .post(&format!("/api/v1/sessions/{id}/restart"), &json!({}))
        .error(409);
    assert_eq!(code, "conflict");
    server
        .post(&format!("/api/v1/sessions/{id}/abort"), &json!({}))
        .ok();
    lab.wait_status(&id, "idle");
}

#[test]
fn run_requests_that_cannot_be_done_are_refused() {
    let lab = lab();
    let id = lab.pm_json(&["agent", "launch", "--branch", "quiet", "--agent", "echo"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Served::start(&lab, &[]);
    let refusals = [
        (
            server.post(
                &format!("/api/v1/sessions/{id}/input"),
                &json!({"text": "  "}),
            ),
            400,
            "usage",
        ),
        (
            server.post(&format!("/api/v1/sessions/{id}/input"), &json!({})),
            422,
            "usage",
        ),
        (
            server.post("/api/v1/sessions/nosuch/run", &json!({})),
            404,
            "not_found",
        ),
        (
            server.post(&format!("/api/v1/sessions/{id}/abort"), &json!({})),
            409,
            "conflict",
        ),
        (
            server.post(
                &format!("/api/v1/sessions/{id}/abort"),
                &json!({"now": true}),
            ),
            422,
            "usage",
        ),
        (
            server.get(&format!("/api/v1/sessions/{id}/run/events?since=x")),
            400,
            "usage",
        ),
        (
            server.get("/api/v1/sessions/nosuch/run/stream"),
            404,
            "not_found",
        ),
        (
            server.raw(
                "GET",
                &format!("/api/v1/sessions/{id}/run/stream"),
                &[("Last-Event-ID", "seven")],
                None,
            ),
            400,
            "usage",
        ),
    ];
    for (answer, status, code) in refusals {
        assert_eq!(answer.error(status).0, code);
    }
    // No run yet: no events, and a stream that waits for them.
    let events = server
        .get(&format!("/api/v1/sessions/{id}/run/events"))
        .ok();
    assert_eq!(
        (events["events"].clone(), events["next_seq"].clone()),
        (json!([]), json!(0))
    );
    let stream = server.events(&format!("/api/v1/sessions/{id}/run/stream"), &[]);
    assert!(stream.next_within(Duration::from_millis(600)).is_none());
    // A turn started from the command line reaches the open stream.
    lab.pm_ok(&["agent", "run", &id, "--prompt", "from the cli"]);
    stream.until("of the run started elsewhere", |e| {
        says(e, "reply: from the cli")
    });
    server
        .post(&format!("/api/v1/sessions/{id}/abort"), &json!({}))
        .ok();
    lab.wait_status(&id, "idle");
}
