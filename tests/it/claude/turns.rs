//! Turns of a real Claude Code run: the first one from `launch --run`, a second one from
//! `send` to the process that waits for input, and one of a new process from `restart`, which
//! continues the same Claude Code session (`--resume`).

use super::*;
use std::time::Duration;

#[test]
fn launch_run_streams_the_models_text_into_logs_and_send_makes_a_second_turn() {
    let lab = Claude::new(vec![
        Step::slow_text("Hello from the stand-in.", 4, Duration::from_millis(20)),
        Step::text("Second answer."),
    ]);
    let issue = lab.add("Greet the reviewer", &[]);
    let id = lab.launch(&issue, "say hi");

    let events = lab.wait_turns(&id, 1);
    seqs_and_first(&events);
    assert_eq!(text_of(&events), "Hello from the stand-in.");
    assert!(
        of_kind(&events, "text").len() >= 2,
        "streamed in pieces: {events:#?}"
    );
    let input = of_kind(&events, "input");
    assert_eq!(input.len(), 1, "{events:#?}");
    assert_eq!(input[0]["text"], "say hi");
    assert_eq!(of_kind(&events, "turn_finished")[0]["is_error"], false);
    // As printed for people: the prompt, then the model's text.
    let printed = lab.logs(&id);
    assert!(printed.lines().any(|l| l == "> say hi"), "{printed}");
    assert!(printed.contains("Hello from the stand-in."), "{printed}");

    // The run knows Claude Code's session, and Claude Code keeps its transcript under that id.
    let run = lab.run_of(&id);
    assert_eq!(run["state"], "running", "{run}");
    assert_eq!(run["provider"], "claude", "{run}");
    assert_eq!(run["turns"], 1, "{run}");
    assert_eq!(run["waiting"], true, "{run}");
    let thread = run["provider_session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no provider_session_id in {run}"))
        .to_string();
    assert!(transcript(&lab, &thread), "no transcript of {thread}");

    // What Claude Code sent: the prompt as the user's message, the issue in the system prompt
    // pm appended, and pm's close tool allowed without asking.
    let requests = lab.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert!(
        said(&requests[0], "user", "say hi"),
        "{:#}",
        requests[0]["messages"]
    );
    let system = requests[0]["system"].to_string();
    assert!(system.contains("Greet the reviewer"), "{system}");
    assert!(system.contains(&issue), "{system}");
    assert!(system.contains("pm_close_agent"), "{system}");
    let (pid, _) = lab.pids(&id);
    let args = cmdline(pid);
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--allowedTools" && w[1].contains(CLOSE_TOOL)),
        "{args:?}"
    );

    // A follow-up goes to the same process, which answers it with the whole conversation.
    let doc = lab.pm_env_json(&["agent", "send", &id, "more"]);
    assert_eq!(doc["started"], false, "{doc}");
    let events = lab.wait_turns(&id, 2);
    seqs_and_first(&events);
    assert_eq!(of_kind(&events, "started").len(), 1, "{events:#?}");
    assert_eq!(text_of(&events), "Hello from the stand-in.Second answer.");
    let requests = lab.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let second = &requests[1];
    assert!(said(second, "user", "say hi"), "{:#}", second["messages"]);
    assert!(
        said(second, "assistant", "Hello from the stand-in."),
        "{:#}",
        second["messages"]
    );
    assert!(said(second, "user", "more"), "{:#}", second["messages"]);
    let run = lab.run_of(&id);
    assert_eq!(run["turns"], 2, "{run}");
    assert_eq!(run["provider_session_id"], thread.as_str(), "{run}");
    assert_eq!(
        run["pid"], pid,
        "the same process took the second turn: {run}"
    );
    assert_eq!(lab.status(&id), "active");

    // Each finished turn is a commit of the session's transcript in git, while the agent
    // goes on running: the prompt and the streamed answer joined into one text.
    let turns = crate::runs::wait_for("two turns kept in git", || {
        let doc = lab.pm_json(&["agent", "transcript", &id]);
        let turns = doc["turns"].as_array().cloned().unwrap_or_default();
        if turns.len() == 2 {
            Ok(turns)
        } else {
            Err(doc.to_string())
        }
    });
    assert_eq!(
        turns[0]["entries"],
        serde_json::json!([
            {"kind": "input", "text": "say hi"},
            {"kind": "text", "text": "Hello from the stand-in."},
        ])
    );
    assert_eq!(turns[0]["outcome"], "finished");
    assert_eq!(turns[0]["provider_session"], thread.as_str());
    assert_eq!(turns[1]["entries"][1]["text"], "Second answer.");
    assert_eq!(lab.run_of(&id)["state"], "running");
}

#[test]
fn restart_continues_the_same_claude_session() {
    let lab = Claude::new(vec![
        Step::text("The word is ferret."),
        Step::text("It was ferret."),
    ]);
    let issue = lab.add("Remember a word", &[]);
    let id = lab.launch(&issue, "say hi");
    lab.wait_turns(&id, 1);
    let thread = lab.run_of(&id)["provider_session_id"]
        .as_str()
        .expect("a provider session id")
        .to_string();

    // Closed as done while it waits for input: its input ends and it exits cleanly.
    lab.pm_ok(&["agent", "close", &id, "--done"]);
    let run = lab.wait_run_ended(&id);
    assert_eq!(run["exit_code"], 0, "{run}");
    assert_eq!(lab.status(&id), "completed");
    assert_eq!(issue_status(&lab, &issue), "done");

    let doc = lab.pm_env_json(&["agent", "restart", &id, "--prompt", "again"]);
    assert_eq!(doc["run"]["state"], "running", "{doc}");
    assert_eq!(lab.status(&id), "active");
    let (pid, _) = lab.pids(&id);
    let args = cmdline(pid);
    assert!(
        args.windows(2).any(|w| w == ["--resume", thread.as_str()]),
        "{args:?}"
    );
    let events = lab.wait_turns(&id, 2);
    seqs_and_first(&events);
    let started = of_kind(&events, "started");
    assert_eq!(started.len(), 2, "{events:#?}");
    assert_eq!(started[1]["resumed"], thread.as_str(), "{events:#?}");

    // The new process sent the earlier conversation, then the new prompt.
    let requests = lab.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let second = &requests[1];
    assert!(said(second, "user", "say hi"), "{:#}", second["messages"]);
    assert!(
        said(second, "assistant", "The word is ferret."),
        "{:#}",
        second["messages"]
    );
    assert!(said(second, "user", "again"), "{:#}", second["messages"]);
    let run = lab.run_of(&id);
    assert_eq!(run["provider_session_id"], thread.as_str(), "{run}");
    assert!(transcript(&lab, &thread));
    assert_eq!(
        text_of(&events),
        "The word is ferret.It was ferret.",
        "{events:#?}"
    );
}

/// A launcher preset gives the real Claude Code its model and a tool it may use unattended;
/// `--system-prompt` is added to the instructions it sends.
#[test]
fn a_launcher_gives_claude_its_model_and_tools_and_the_system_prompt_reaches_the_model() {
    let lab = Claude::new(vec![
        Step::tool_use(
            "Bash",
            serde_json::json!({"command": "echo ran > bash-ran.txt", "description": "write"}),
        ),
        Step::text("Done."),
    ]);
    lab.append_config("[launchers.builder]\nmodel = \"claude-pm-test\"\ntools = [\"Bash\"]\n");
    let issue = lab.add("Build the shed", &[]);
    let doc = lab.pm_env_json(&[
        "agent",
        "launch",
        "--issue",
        &issue,
        "--launcher",
        "builder",
        "--run",
        "--prompt",
        "go",
        "--system-prompt",
        "Write files with the Bash tool.",
    ]);
    let id = doc["id"].as_str().expect("an id").to_string();
    let worktree = std::path::PathBuf::from(doc["worktree"].as_str().expect("a worktree"));
    let events = lab.wait_turns(&id, 1);
    // Allowed by the preset: the command ran, with no permission asked.
    assert_eq!(
        std::fs::read_to_string(worktree.join("bash-ran.txt"))
            .ok()
            .as_deref(),
        Some("ran\n"),
        "{events:#?}"
    );
    let results = of_kind(&events, "tool_result");
    assert_eq!(results.len(), 1, "{events:#?}");
    assert_eq!(results[0]["is_error"], false, "{events:#?}");
    let requests = lab.requests();
    assert_eq!(requests[0]["model"], "claude-pm-test", "{:#}", requests[0]);
    let system = requests[0]["system"].to_string();
    assert!(system.contains("Build the shed"), "{system}");
    assert!(
        system.contains("Write files with the Bash tool."),
        "{system}"
    );
}

/// The events' sequence numbers grow by one, and the first event is the start.
#[track_caller]
fn seqs_and_first(events: &[Value]) {
    crate::runs::seqs(events);
    assert_eq!(events[0]["kind"], "started", "{events:#?}");
}

/// Whether Claude Code keeps a transcript of session `thread` in the test's HOME.
fn transcript(lab: &Lab, thread: &str) -> bool {
    let projects = lab.home().join(".claude/projects");
    std::fs::read_dir(projects).is_ok_and(|dirs| {
        dirs.flatten()
            .any(|d| d.path().join(format!("{thread}.jsonl")).is_file())
    })
}
