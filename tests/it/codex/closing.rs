//! Ending a real Codex run: the agent closes its own session through pm's MCP server, and
//! `abort` stops it in the middle of a slow answer, leaving no process behind.

use super::*;
use crate::runs::{alive, group_members, kinds};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn the_agent_completes_its_session_through_pm_close_agent() {
    let Some(lab) = Codex::new(vec![
        Step::mcp_call("pm", "pm_close_agent", json!({"status": "completed"})),
        Step::text("Closed."),
    ]) else {
        return;
    };
    let issue = lab.add("Close yourself", &[]);
    let id = lab.launch(&issue, "finish up");

    let (run, events) = lab.wait_ended(&id);
    assert_eq!(run["state"], "exited", "{run}");
    assert_eq!(run["exit_code"], 0, "{run}");

    // git: the agent completed the session itself, and its issue is done.
    assert_eq!(lab.status(&id), "completed");
    let log = lab.record_log(&id);
    assert!(
        log.lines()
            .next()
            .is_some_and(|l| l.ends_with("-> completed")),
        "{log}"
    );
    assert_eq!(issue_status(&lab, &issue), "done");

    // The events: the call, its answer, the end of the turn, then the process's exit.
    let kinds = kinds(&events);
    let calls = of_kind(&events, "tool_call");
    assert_eq!(calls.len(), 1, "{events:#?}");
    assert_eq!(calls[0]["name"], CLOSE_TOOL);
    assert_eq!(calls[0]["input"], json!({"status": "completed"}));
    let results = of_kind(&events, "tool_result");
    assert_eq!(results.len(), 1, "{events:#?}");
    assert_eq!(results[0]["is_error"], false, "{events:#?}");
    assert!(
        results[0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains(&id),
        "{events:#?}"
    );
    let at = |kind: &str| kinds.iter().position(|k| k == kind);
    assert!(at("tool_call") < at("tool_result"), "{kinds:?}");
    assert!(at("tool_result") < at("turn_finished"), "{kinds:?}");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("exited"),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"aborted".to_string()), "{kinds:?}");
    assert_eq!(text_of(&events), "Closed.\n");

    // The tool's result went back to the model, answering the call.
    let requests = lab.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let call = items(&requests[1], "function_call");
    assert_eq!(call.len(), 1, "{requests:#?}");
    assert_eq!(call[0]["name"], "pm_close_agent");
    assert_eq!(call[0]["namespace"], "mcp__pm");
    let output = items(&requests[1], "function_call_output");
    assert_eq!(output.len(), 1, "{requests:#?}");
    assert_eq!(output[0]["call_id"], call[0]["call_id"]);
    assert!(
        output[0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("completed") && o.contains(&id)),
        "{output:#?}"
    );
}

#[test]
fn abort_during_a_slow_answer_leaves_no_process_and_the_session_idle() {
    let words: Vec<String> = (1..=40).map(|n| format!("w{n} ")).collect();
    let Some(lab) = Codex::new(vec![Step::slow_text(
        &words.concat(),
        40,
        Duration::from_millis(500),
    )]) else {
        return;
    };
    let issue = lab.add("Talk slowly", &[]);
    let id = lab.launch(&issue, "say hi");
    // Codex prints a message only once it is whole: the stand-in is asked, and streams.
    wait_for("Codex to ask the stand-in", || {
        if lab.requests().is_empty() {
            Err("no request yet".to_string())
        } else {
            Ok(())
        }
    });
    let (pid, supervisor) = lab.pids(&id);
    // Codex and the `pm mcp` it started (in a process group of its own), under the supervisor.
    let tree = descendants(supervisor);
    assert!(tree.iter().any(|(p, _)| *p == pid), "{tree:?}");
    let mcp = tree
        .iter()
        .find(|(p, _)| cmdline(*p).ends_with(&["mcp".to_string()]))
        .unwrap_or_else(|| {
            panic!(
                "no pm mcp among {:?}",
                tree.iter().map(|(p, _)| cmdline(*p)).collect::<Vec<_>>()
            )
        });
    assert!(
        proc_stat(mcp.0).is_some_and(|s| s.pgid != pid),
        "pm mcp in the agent's group"
    );

    let began = Instant::now();
    let doc = lab.pm_json(&["agent", "abort", &id]);
    let took = began.elapsed();
    assert_eq!(doc["run"]["state"], "exited", "{doc}");
    assert!(took < Duration::from_secs(5), "abort took {took:?}");

    // /proc: nothing of the agent's group, nor anything the supervisor started, is left.
    assert_eq!(
        group_members(pid),
        [],
        "the agent's group outlived the abort"
    );
    let left: Vec<_> = tree
        .iter()
        .filter(|(p, start)| proc_stat(*p).is_some_and(|s| s.start == *start && s.state != 'Z'))
        .map(|(p, _)| cmdline(*p))
        .collect();
    assert_eq!(left, Vec::<Vec<String>>::new(), "outlived the abort");
    wait_for("the supervisor to exit", || {
        if alive(supervisor) {
            Err(format!("{:?}", proc_stat(supervisor)))
        } else {
            Ok(())
        }
    });

    // git: the session is idle; the events say the run was aborted, then that it exited,
    // with nothing of the answer in between.
    assert_eq!(lab.status(&id), "idle");
    assert_eq!(
        lab.record_log(&id).lines().next(),
        Some("exit: active -> idle")
    );
    let events = lab.events(&id);
    crate::runs::seqs(&events);
    let kinds = kinds(&events);
    let aborted = kinds
        .iter()
        .rposition(|k| k == "aborted")
        .unwrap_or_else(|| panic!("no aborted event: {kinds:?}"));
    assert_eq!(events[aborted]["why"], "aborted on request");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("exited"),
        "{kinds:?}"
    );
    assert!(of_kind(&events, "text").is_empty(), "{events:#?}");
    for event in &events[aborted + 1..] {
        match event["kind"].as_str() {
            Some("log" | "exited") => {}
            Some("turn_finished") => assert_eq!(event["is_error"], true, "{event}"),
            _ => panic!("after the abort: {event} (all: {kinds:?})"),
        }
    }
    let run = lab.run_of(&id);
    assert_eq!(run["state"], "exited", "{run}");
    assert_eq!(run["pid"], Value::Null, "{run}");
}
