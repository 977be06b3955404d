//! Turns of a real Codex run: the first from `launch --run`, the next from `pm agent run`,
//! each a process of its own, the second continuing the first one's Codex thread
//! (`codex exec resume`); and a shell command of the agent that commits in its worktree.

use super::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn launch_run_logs_the_answer_and_a_second_run_resumes_the_same_codex_thread() {
    let Some(lab) = Codex::new(vec![
        Step::slow_text("The word is ferret.", 3, Duration::from_millis(20)),
        Step::text("It was ferret."),
    ]) else {
        return;
    };
    let issue = lab.add("Remember a word", &[]);
    let id = lab.launch(&issue, "say hi");

    let (run, events) = lab.wait_ended(&id);
    assert_eq!(events[0]["kind"], "started", "{events:#?}");
    assert_eq!(run["state"], "exited", "{run}");
    assert_eq!(run["exit_code"], 0, "{run}");
    assert_eq!(run["provider"], "codex", "{run}");
    assert_eq!(run["turns"], 1, "{run}");
    let input = of_kind(&events, "input");
    assert_eq!(input.len(), 1, "{events:#?}");
    assert_eq!(input[0]["text"], "say hi");
    assert_eq!(text_of(&events), "The word is ferret.\n", "{events:#?}");
    let finished = of_kind(&events, "turn_finished");
    assert_eq!(finished.len(), 1, "{events:#?}");
    assert_eq!(finished[0]["is_error"], false);
    assert_eq!(
        crate::runs::kinds(&events).last().map(String::as_str),
        Some("exited")
    );
    let printed = lab.logs(&id);
    assert!(printed.lines().any(|l| l == "> say hi"), "{printed}");
    assert!(printed.contains("The word is ferret."), "{printed}");

    // The thread Codex named is the run's provider session, and Codex keeps it.
    let thread = run["provider_session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no provider_session_id in {run}"))
        .to_string();
    assert!(lab.rollout(&thread), "no rollout of {thread}");
    // One turn a process: the session is idle once it ended (git).
    assert_eq!(lab.status(&id), "idle");

    // What Codex sent: the issue and how to finish with the prompt, under the sandbox that
    // lets it write its worktree, with pm's MCP server among its tools.
    let requests = lab.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let first = &requests[0];
    let user = said(first, "user");
    let prompt = user.last().expect("a user message");
    assert!(prompt.ends_with("say hi"), "{prompt}");
    assert!(prompt.contains("Remember a word"), "{prompt}");
    assert!(prompt.contains(&issue), "{prompt}");
    assert!(prompt.contains("pm_close_agent"), "{prompt}");
    let metadata = turn_metadata(first);
    assert_eq!(metadata["sandbox_mode"], "workspace-write", "{metadata}");
    assert_eq!(metadata["thread_id"], thread.as_str(), "{metadata}");
    let pm_tools = first.body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "mcp__pm")
        .unwrap_or_else(|| panic!("no pm MCP tools in {:#}", first.body["tools"]));
    assert!(
        pm_tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["name"] == "pm_close_agent"),
        "{pm_tools:#}"
    );

    // A second run is a new process that resumes the same thread: Codex sends the earlier
    // conversation, then the new prompt.
    let doc = lab.pm_env_json(&["agent", "run", &id, "--prompt=-what was the word?"]);
    assert_eq!(doc["run"]["agent"], "codex", "{doc}");
    let (run, events) = lab.wait_ended(&id);
    let started = of_kind(&events, "started");
    assert_eq!(started.len(), 2, "{events:#?}");
    assert_eq!(started[1]["resumed"], thread.as_str(), "{events:#?}");
    assert_eq!(run["provider_session_id"], thread.as_str(), "{run}");
    assert_eq!(run["exit_code"], 0, "{run}");
    assert_eq!(
        text_of(&events),
        "The word is ferret.\nIt was ferret.\n",
        "{events:#?}"
    );
    assert_eq!(of_kind(&events, "turn_finished").len(), 2, "{events:#?}");
    let requests = lab.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let second = &requests[1];
    assert_eq!(second.header("session-id"), Some(thread.as_str()));
    let user = said(second, "user");
    assert!(user.iter().any(|t| t.ends_with("say hi")), "{user:?}");
    // The prompt is the prompt, even when it starts with a dash.
    assert_eq!(user.last().map(String::as_str), Some("-what was the word?"));
    assert_eq!(said(second, "assistant"), ["The word is ferret."]);
    assert_eq!(lab.status(&id), "idle");
}

/// Codex runs the agent's shell commands in a sandbox; pm's settings let them write the
/// worktree and its git folders (outside the worktree, in the main repository's `.git`), so
/// the agent can commit its work on the session's branch.
#[test]
fn a_command_of_the_agent_commits_on_the_sessions_branch() {
    let Some(lab) = Codex::new(vec![
        Step::call(
            "exec_command",
            json!({"cmd": "echo hello > hello.txt && git add hello.txt && \
                            git commit -q -m 'Say hello' && git log -1 --format=%s"}),
        ),
        Step::text("Committed."),
    ]) else {
        return;
    };
    let issue = lab.add("Say hello in a file", &[]);
    let id = lab.launch(&issue, "commit a greeting");
    let (run, events) = lab.wait_ended(&id);
    assert_eq!(run["exit_code"], 0, "{run}");

    // git: the commit is on the session's branch, made in its worktree.
    let branch = lab.pm_json(&["agent", "show", &id])["session"]["branch"]
        .as_str()
        .expect("a branch")
        .to_string();
    assert_eq!(
        lab.git(&["log", "-1", "--format=%s", &branch]).trim(),
        "Say hello"
    );
    assert_eq!(
        lab.git(&["show", &format!("{branch}:hello.txt")]).trim(),
        "hello"
    );

    // The events: the command, its output, the answer.
    let calls = of_kind(&events, "tool_call");
    assert_eq!(calls.len(), 1, "{events:#?}");
    assert_eq!(calls[0]["name"], "shell");
    assert!(
        calls[0]["input"]["command"]
            .as_str()
            .is_some_and(|c| c.contains("git commit")),
        "{events:#?}"
    );
    let results = of_kind(&events, "tool_result");
    assert_eq!(results.len(), 1, "{events:#?}");
    assert_eq!(results[0]["is_error"], false, "{events:#?}");
    assert!(
        results[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Say hello")),
        "{events:#?}"
    );
    assert_eq!(text_of(&events), "Committed.\n");
    let requests = lab.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let output = items(&requests[1], "function_call_output");
    assert_eq!(output.len(), 1, "{requests:#?}");
    assert!(
        output[0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("exited with code 0")),
        "{output:#?}"
    );
}
