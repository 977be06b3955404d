//! Ending a real Claude Code run: the agent closes its own session through pm's MCP server, and
//! `abort` stops it in the middle of a slow answer, leaving no process behind.

use super::*;
use crate::runs::{alive, group_members, kinds};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn the_agent_completes_its_session_through_pm_close_agent_and_exits_cleanly() {
    let lab = Claude::new(vec![
        Step::tool_use(CLOSE_TOOL, json!({"status": "completed"})),
        Step::text("Closed."),
    ]);
    let issue = lab.add("Close yourself", &[]);
    let id = lab.launch(&issue, "finish up");

    let run = lab.wait_run_ended(&id);
    assert_eq!(run["state"], "exited", "{run}");
    assert_eq!(run["exit_code"], 0, "{run}");
    assert_eq!(run["exit_signal"], Value::Null, "{run}");

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
    let events = lab.events(&id);
    crate::runs::seqs(&events);
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
    assert_eq!(text_of(&events), "Closed.");

    // The tool's result went back to the model, answering the call.
    let requests = lab.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let messages = requests[1]["messages"].as_array().expect("messages");
    let call = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .and_then(|m| {
            m["content"]
                .as_array()?
                .iter()
                .find(|b| b["type"] == "tool_use")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no tool_use in {messages:#?}"));
    assert_eq!(call["name"], CLOSE_TOOL);
    let last = messages.last().expect("a last message");
    assert_eq!(last["role"], "user");
    let answer = last["content"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "tool_result"))
        .unwrap_or_else(|| panic!("no tool_result in {last:#}"));
    assert_eq!(answer["tool_use_id"], call["id"], "{answer:#}");
    assert_ne!(answer["is_error"], true, "{answer:#}");
    assert!(
        answer["content"].to_string().contains("completed"),
        "{answer:#}"
    );
}

#[test]
fn abort_during_a_slow_answer_leaves_no_process_and_the_session_idle() {
    let words: Vec<String> = (1..=40).map(|n| format!("w{n} ")).collect();
    let lab = Claude::new(vec![Step::slow_text(
        &words.concat(),
        40,
        Duration::from_millis(500),
    )]);
    let issue = lab.add("Talk slowly", &[]);
    let id = lab.launch(&issue, "say hi");
    wait_for("the answer to start streaming", || {
        let events = lab.events(&id);
        if of_kind(&events, "text").is_empty() {
            Err(format!("{events:#?}"))
        } else {
            Ok(())
        }
    });
    let (pid, supervisor) = lab.pids(&id);
    // Claude Code and the `pm mcp` it started, under the supervisor.
    let tree = descendants(supervisor);
    assert!(tree.len() >= 2, "{tree:?}");
    assert!(tree.iter().any(|(p, _)| *p == pid), "{tree:?}");
    assert!(
        tree.iter()
            .any(|(p, _)| cmdline(*p).ends_with(&["mcp".to_string()])),
        "no pm mcp among {:?}",
        tree.iter().map(|(p, _)| cmdline(*p)).collect::<Vec<_>>()
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
        .collect();
    assert_eq!(left, Vec::<&(u32, u64)>::new(), "outlived the abort");
    wait_for("the supervisor to exit", || {
        if alive(supervisor) {
            Err(format!("{:?}", proc_stat(supervisor)))
        } else {
            Ok(())
        }
    });

    // git: the session is idle; the events say the run was aborted, then that it exited.
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
    // After the abort, Claude Code only ends its turn as failed, and exits.
    for event in &events[aborted + 1..] {
        match event["kind"].as_str() {
            Some("provider_session" | "log" | "exited") => {}
            Some("turn_finished") => assert_eq!(event["is_error"], true, "{event}"),
            _ => panic!("after the abort: {event} (all: {kinds:?})"),
        }
    }
    // The answer was cut short: far fewer pieces than the stand-in had to stream.
    let pieces = of_kind(&events, "text").len();
    assert!((1..40).contains(&pieces), "{pieces} pieces");
    let run = lab.run_of(&id);
    assert_eq!(run["state"], "exited", "{run}");
    assert_eq!(run["pid"], Value::Null, "{run}");
}

/// Claude Code runs its Bash tool's commands in a session (and process group) of their own,
/// out of reach of a signal to the agent's group: `abort` still leaves none of them running.
#[test]
fn abort_while_a_bash_command_runs_leaves_none_of_its_processes() {
    let lab = Claude::new(vec![
        Step::tool_use(
            "Bash",
            json!({"command": "python3 -c 'import time; time.sleep(60)'",
                   "description": "wait a while"}),
        ),
        Step::text("never reached"),
    ]);
    // The user's own claude agent, allowed to use Bash unattended.
    let config = lab.home().join(".config/pm/config.toml");
    std::fs::write(
        &config,
        "[agents.claude]\nprogram = \"claude\"\nargs = [\"--allowedTools\", \"Bash\"]\n\
         protocol = \"claude\"\n",
    )
    .expect("write the pm config");
    let issue = lab.add("Run a command", &[]);
    let id = lab.launch(&issue, "run it");
    let (pid, supervisor) = lab.pids(&id);
    let tree = wait_for(
        "the Bash tool's command to run in a group of its own",
        || {
            let tree = descendants(supervisor);
            let outside = tree
                .iter()
                .any(|(p, _)| proc_stat(*p).is_some_and(|s| s.pgid != pid && s.pgid != supervisor));
            let python = tree.iter().any(|(p, _)| {
                cmdline(*p)
                    .iter()
                    .any(|a| a == "import time; time.sleep(60)")
            });
            if outside && python {
                Ok(tree)
            } else {
                Err(format!(
                    "{:?}\n{:#?}",
                    tree.iter()
                        .map(|(p, _)| (proc_stat(*p), cmdline(*p)))
                        .collect::<Vec<_>>(),
                    lab.events(&id)
                ))
            }
        },
    );

    let doc = lab.pm_json(&["agent", "abort", &id]);
    assert_eq!(doc["run"]["state"], "exited", "{doc}");
    let left: Vec<_> = tree
        .iter()
        .filter(|(p, start)| proc_stat(*p).is_some_and(|s| s.start == *start && s.state != 'Z'))
        .map(|(p, _)| cmdline(*p))
        .collect();
    assert_eq!(left, Vec::<Vec<String>>::new(), "outlived the abort");
    assert_eq!(
        group_members(pid),
        [],
        "the agent's group outlived the abort"
    );
    assert_eq!(lab.status(&id), "idle");
    let events = lab.events(&id);
    let calls = of_kind(&events, "tool_call");
    assert_eq!(calls.len(), 1, "{events:#?}");
    assert_eq!(calls[0]["name"], "Bash");
    assert_eq!(kinds(&events).last().map(String::as_str), Some("exited"));
}
