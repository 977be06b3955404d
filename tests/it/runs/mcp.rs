//! `pm_session` over MCP: `start`, `input`, `live_deltas` with its cursor, `abort` and `run`,
//! whose documents have the shapes of the CLI's `--json` ones.

use super::*;
use crate::mcp::{call, failed, ok};
use serde_json::json;

impl Lab {
    /// One `pm_session` call through `pm mcp`; its `structuredContent`.
    #[track_caller]
    pub(crate) fn session_tool(&self, arguments: Value) -> Value {
        ok(&call(self, self.path(), "pm_session", arguments)).clone()
    }

    /// `live_deltas` after `since` until their text holds `wanted`; every document seen.
    #[track_caller]
    fn deltas_until(&self, id: &str, since: u64, wanted: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        wait_for(&format!("{wanted:?} in live_deltas of {id}"), || {
            let result = call(
                self,
                self.path(),
                "pm_session",
                json!({"action": "live_deltas", "sessionUlid": id, "sinceSeq": since}),
            );
            let text = result["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            seen.push(ok(&result).clone());
            if text.contains(wanted) {
                Ok(())
            } else {
                Err(text)
            }
        });
        seen
    }
}

#[test]
fn pm_session_starts_talks_to_follows_and_stops_an_agent() {
    let lab = Lab::new();
    let issue = lab.add("Over MCP", &[]);
    let started = lab.session_tool(json!({
        "action": "start", "taskKey": issue, "agent": "echo", "prompt": "hello"
    }));
    let id = started["id"].as_str().expect("an id").to_string();
    assert_eq!(started["run"]["state"], "running", "{started}");
    assert_eq!(lab.status(&id), "active");
    assert_eq!(lab.status_of(Kind::Issue, &issue), "in_progress");

    // live_deltas from the start: the agent's text; its cursor is the last sequence number.
    let seen = lab.deltas_until(&id, 0, "reply: hello");
    let first = seen.last().unwrap();
    let cursor = first["next_seq"].as_u64().expect("next_seq");
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["seq"], cursor);
    assert_eq!(events[0]["kind"], "started");

    // input: the reply comes in the deltas after the cursor, and only newer events do.
    let sent = lab.session_tool(json!({"action": "input", "sessionUlid": id, "text": "ping"}));
    assert_eq!(sent["started"], false, "{sent}");
    let seen = lab.deltas_until(&id, cursor, "reply: ping");
    let newer = seen.last().unwrap();
    let events = newer["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["seq"].as_u64().unwrap() > cursor),
        "{newer}"
    );
    assert!(
        !events.iter().any(|e| e["text"] == "reply: hello\n"),
        "{newer}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "input" && e["text"] == "ping"),
        "{newer}"
    );
    let next = newer["next_seq"].as_u64().unwrap();
    let empty = lab.session_tool(json!({
        "action": "live_deltas", "sessionUlid": id, "sinceSeq": next
    }));
    assert_eq!(empty["events"], json!([]), "{empty}");
    assert_eq!(empty["next_seq"], next);

    // abort, then run again over MCP; then the same through the CLI: the same shapes.
    let (pid, _) = lab.pids(&id);
    let aborted = lab.session_tool(json!({"action": "abort", "sessionUlid": id}));
    assert_eq!(aborted["run"]["state"], "exited", "{aborted}");
    assert_eq!(group_members(pid), []);
    assert_eq!(lab.status(&id), "idle");
    let ran = lab.session_tool(json!({"action": "run", "sessionUlid": id, "prompt": "again"}));
    assert_eq!(ran["run"]["state"], "running", "{ran}");
    assert_eq!(lab.status(&id), "active");
    lab.wait_log_line(&id, "reply: again");
    let refused = failed(&call(
        &lab,
        lab.path(),
        "pm_session",
        json!({"action": "run", "sessionUlid": id}),
    ));
    assert!(refused.contains("already running"), "{refused}");

    let cli_abort = lab.pm_json(&["agent", "abort", &id]);
    let cli_run = lab.pm_json(&["agent", "run", &id, "--prompt", "x"]);
    let cli_send = lab.pm_json(&["agent", "send", &id, "y"]);
    assert_eq!(shape(&aborted), shape(&cli_abort));
    assert_eq!(shape(&ran), shape(&cli_run));
    assert_eq!(shape(&sent), shape(&cli_send));
    let cli_logs = lab.logs_json(&id, 0);
    assert_eq!(shape(first), shape(&cli_logs));
    assert_eq!(cli_logs["id"], id.as_str());
    assert_eq!(cli_abort["run"]["state"], "exited");
    assert_eq!(cli_run["run"]["state"], "running");
    lab.session_tool(json!({"action": "abort", "sessionUlid": id}));
    assert_eq!(lab.run_of(&id)["state"], "exited");

    // The turns kept in git: the same document as `agent transcript --json`, one per run.
    let kept = lab.session_tool(json!({"action": "transcript", "sessionUlid": id}));
    let cli_kept = lab.pm_json(&["agent", "transcript", &id]);
    assert_eq!(kept, cli_kept);
    let turns = kept["turns"].as_array().expect("turns");
    let runs = lab.git(&["rev-list", "--count", &format!("refs/pm/runs/{id}")]);
    assert_eq!(runs.trim(), turns.len().to_string(), "{kept}");
    assert!(turns.len() >= 3, "{kept}");
    assert!(turns.iter().all(|t| t["outcome"] == "aborted"), "{kept}");
}
