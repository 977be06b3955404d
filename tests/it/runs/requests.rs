//! What a client asks again and what it reads back: `clientRequestId` (the same key, the same
//! session), `events` with the run's events beside the record's, `config` with what the agent
//! was really started with, `prompt` with the instructions pm gave it.

use super::*;
use crate::mcp::{call, call_with_env, failed, ok};
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

/// A bootstrap command's output is in the run log while it runs, not only once it ended.
#[test]
fn bootstrap_output_is_logged_while_the_command_runs() {
    let lab = Lab::new();
    let id = lab.launch_run("boot-live", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "abort", &id]);
    let seen = std::thread::scope(|scope| {
        let start = scope.spawn(|| {
            call(
                &lab,
                lab.path(),
                "pm_session",
                json!({"action": "run", "sessionUlid": id, "prompt": "again",
                       "bootstrapCommands": ["echo first; sleep 5; echo second"]}),
            )
        });
        let mut seen = None;
        wait_for("the first line of the bootstrap command in the log", || {
            let events = lab.events(&id);
            let texts: Vec<String> = events
                .iter()
                .filter_map(|e| e["text"].as_str().map(str::to_string))
                .collect();
            if texts.iter().any(|t| t == "first") {
                seen = Some((texts, start.is_finished()));
                Ok(())
            } else {
                Err(format!("{texts:?}"))
            }
        });
        let started = start.join().expect("the call ends");
        assert_eq!(ok(&started)["run"]["state"], "running", "{started}");
        seen.expect("seen")
    });
    let (texts, finished) = seen;
    assert!(
        !finished,
        "the start had ended when the first line was seen"
    );
    assert!(!texts.iter().any(|t| t == "second"), "{texts:?}");
    let texts: Vec<String> = lab
        .events(&id)
        .iter()
        .filter_map(|e| e["text"].as_str().map(str::to_string))
        .collect();
    let at = |t: &str| texts.iter().position(|x| x == t).unwrap_or(usize::MAX);
    assert!(
        at("first") < at("second") && at("second") < usize::MAX,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| *t == "first").count(),
        1,
        "{texts:?}"
    );
    lab.pm_ok(&["agent", "abort", &id]);
}

#[test]
fn bootstrap_commands_run_first_are_logged_never_kept_and_a_failing_one_stops_the_start() {
    let lab = Lab::new();
    let issue = lab.add("Boot first", &[]);
    let started = lab.session_tool(json!({
        "action": "start", "taskKey": issue, "agent": "echo", "prompt": "hello",
        "bootstrapCommands": ["echo prepared > ready.txt", "echo to stderr >&2; echo to stdout"]
    }));
    let id = started["id"].as_str().expect("an id").to_string();
    assert_eq!(started["run"]["state"], "running", "{started}");
    let worktree = std::path::PathBuf::from(started["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(worktree.join("ready.txt")).unwrap(),
        "prepared\n",
        "the command ran in the worktree"
    );
    lab.wait_log_line(&id, "reply: hello");
    // In the run log, before the agent started: each command, then its output.
    let events = lab.events(&id);
    let at = |kind: &str, text: &str| {
        events
            .iter()
            .position(|e| e["kind"] == kind && (text.is_empty() || e["text"] == text))
            .unwrap_or_else(|| panic!("no {kind} {text:?} in {events:?}"))
    };
    let first = at("log", "bootstrap: $ echo prepared > ready.txt");
    let second = at("log", "bootstrap: $ echo to stderr >&2; echo to stdout");
    assert!(
        first < second && second < at("log", "to stderr"),
        "{events:?}"
    );
    assert!(at("log", "to stdout") < at("started", ""), "{events:?}");
    seqs(&events);
    // Never kept: not in what the run was started with, not in git.
    let config = lab.started_with(&id).to_string();
    assert!(!config.contains("ready.txt"), "{config}");
    let all = lab.everything_in_git();
    assert!(all.contains("Boot first"), "the witness sees records");
    assert!(!all.contains("ready.txt"), "a bootstrap command is in git");
    lab.pm_ok(&["agent", "abort", &id]);

    // A failing command stops the start: the next ones do not run, nor does the agent.
    let text = failed(&call(
        &lab,
        lab.path(),
        "pm_session",
        json!({"action": "run", "sessionUlid": id, "prompt": "x",
               "bootstrapCommands": ["true", "echo nope; exit 3", "touch never.txt"]}),
    ));
    let why = "the bootstrap command `echo nope; exit 3` failed with exit status 3; \
               the agent was not started";
    assert_eq!(text, why);
    let events = lab.events(&id);
    assert_eq!(events.last().unwrap()["text"], why, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "log" && e["text"] == "nope"),
        "{events:?}"
    );
    assert!(!worktree.join("never.txt").exists());
    assert_eq!(kinds(&events).iter().filter(|k| *k == "started").count(), 1);
    assert_eq!(lab.run_of(&id)["state"], "exited");
    assert_eq!(lab.status(&id), "idle");

    // With a launch: the session is made, its start fails, and it is idle, not active.
    let other = lab.add("Boot fails", &[]);
    let launched = lab.session_tool(json!({
        "action": "start", "taskKey": other, "agent": "echo", "bootstrapCommands": ["exit 5"]
    }));
    let id = launched["id"].as_str().unwrap().to_string();
    assert!(
        launched["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("`exit 5` failed"))),
        "{launched}"
    );
    assert_eq!(launched["run"], Value::Null, "{launched}");
    assert_eq!(lab.status(&id), "idle");
    assert_eq!(
        lab.record_log(&id).lines().next(),
        Some("exit: active -> idle")
    );
}

#[test]
fn every_run_setting_of_pm_session_reaches_the_agent_and_config_tells_it_back() {
    use super::launchers::{TOKEN, claude_lab};
    let lab = claude_lab();
    lab.append_config(
        "[launchers.review]\nagent = \"fake\"\ntools = [\"Grep\"]\n\
         prompt = \"Review {issue.title}. {prompt}\"\nmax_runtime = 600\n",
    );
    let issue = lab.add("Check the gate", &[]);
    let env = [("PM_TEST_TOKEN", TOKEN)];
    let result = call_with_env(
        &lab,
        lab.path(),
        &env,
        "pm_session",
        json!({"action": "launch_task", "taskKey": issue, "provider": "fake",
               "launcherConfigKey": "review", "prompt": "Be brief.", "role": "gatekeeper",
               "actor": "ci-bot", "contextRef": "ticket GATE-9", "systemPrompt": "Never push.",
               "env": ["PM_TEST_TOKEN"], "tools": ["Read"], "maxRuntimeSeconds": 120}),
    );
    let launched = ok(&result).clone();
    let id = launched["id"].as_str().expect("an id").to_string();
    assert_eq!(
        launched["run"]["state"], "running",
        "run is the default: {launched}"
    );
    assert_eq!(
        launched["warnings"],
        json!(["contextRef \"ticket GATE-9\" names no issue; the agent is given it as context"])
    );

    // What the agent got, as its own arguments show.
    let system = lab.claude_arg("--append-system-prompt");
    for part in [
        "Check the gate",
        "Your role in this session: gatekeeper",
        "Context from the requester: ticket GATE-9",
    ] {
        assert!(system.contains(part), "{part:?} not in {system}");
    }
    assert!(system.ends_with("Never push."), "{system}");
    assert!(
        lab.claude_arg("--allowedTools").ends_with(",Read,Grep"),
        "{:?}",
        lab.claude_args()
    );

    // git: the record names who asked, the role, the agent and the shaped prompt.
    let record = lab.record_of(Kind::Session, &id);
    assert_eq!(record["actor"].as_str(), Some("ci-bot"));
    assert_eq!(record["role"].as_str(), Some("gatekeeper"));
    assert_eq!(record["agent"].as_str(), Some("fake"));
    assert_eq!(
        record["prompt"].as_str(),
        Some("Review Check the gate. Be brief.")
    );

    // prompt: exactly the instructions and the input; config: everything else.
    let prompt = lab.session_tool(json!({"action": "prompt", "sessionUlid": id}));
    assert_eq!(prompt["system_prompt"], system.as_str(), "{prompt}");
    assert_eq!(
        prompt["input"], "Review Check the gate. Be brief.",
        "{prompt}"
    );
    let started = lab.started_with(&id);
    assert_eq!(started["actor"], "ci-bot", "{started}");
    assert_eq!(started["context"], "ticket GATE-9", "{started}");
    assert_eq!(started["env"], json!(["PM_TEST_TOKEN"]), "{started}");
    assert_eq!(started["tools"], json!(["Read", "Grep"]), "{started}");
    assert_eq!(started["launcher"], "review", "{started}");
    assert_eq!(started["max_runtime"], 120, "the argument wins: {started}");
    assert_eq!(started["system_prompt"], system.as_str(), "{started}");
    assert!(!lab.everything_in_git().contains(TOKEN));

    // restart runs by default, with the preset; its thread continues.
    lab.session_tool(json!({"action": "close", "sessionUlid": id, "status": "completed"}));
    lab.wait_run_ended(&id);
    lab.forget_claude_args();
    let restarted = lab.session_tool(json!({
        "action": "restart", "sessionUlid": id, "launcherConfigKey": "review",
        "prompt": "Again.", "taskKey": issue, "actor": "ci-bot-2"
    }));
    assert_eq!(restarted["run"]["state"], "running", "{restarted}");
    assert_eq!(lab.claude_arg("--resume"), "fake-thread");
    let prompt = lab.session_tool(json!({"action": "prompt", "sessionUlid": id}));
    assert_eq!(prompt["input"], "Review Check the gate. Again.", "{prompt}");
    let started = lab.started_with(&id);
    assert_eq!(started["actor"], "ci-bot-2", "{started}");
    assert_eq!(
        started["context"],
        Value::Null,
        "its own issue adds nothing: {started}"
    );
    assert_eq!(started["max_runtime"], 600, "the preset's cap: {started}");
    lab.session_tool(json!({"action": "abort", "sessionUlid": id}));

    // Refusals come before anything is made or run.
    let elsewhere = lab.add("Another", &[]);
    let before = lab.git(&["for-each-ref"]);
    for (arguments, said) in [
        (
            json!({"action": "run", "sessionUlid": id, "contextRef": elsewhere}),
            "names issue",
        ),
        (
            json!({"action": "start", "taskKey": elsewhere, "agent": "fake", "env": ["A-B"]}),
            "not an environment variable name",
        ),
        (
            json!({"action": "start", "taskKey": elsewhere, "agent": "fake", "env": ["PM_TEST_TOKEN"]}),
            "is not set in pm's environment",
        ),
        (
            json!({"action": "start", "taskKey": elsewhere, "agent": "echo", "tools": ["Read"]}),
            "takes no allowed tools",
        ),
        (
            json!({"action": "start", "taskKey": elsewhere, "agent": "echo", "provider": "fake"}),
            "two different agents",
        ),
        (
            json!({"action": "start", "taskKey": elsewhere, "agent": "fake", "env": "PM_TEST_TOKEN"}),
            "must be a list of strings",
        ),
    ] {
        let text = failed(&call(&lab, lab.path(), "pm_session", arguments.clone()));
        assert!(text.contains(said), "{arguments}: {said:?} not in {text}");
    }
    assert_eq!(lab.git(&["for-each-ref"]), before, "something was made");
    assert_eq!(lab.run_of(&id)["state"], "exited");
}
