//! The real Claude Code CLI run by pm (`claude -p`, stream-json both ways, pm's own MCP server),
//! talking to a scripted stand-in for the Messages API on 127.0.0.1 ([`standin`]): what the
//! model says streams into `pm agent logs`, follow-ups make turns, the agent closes its own
//! session through `mcp__pm__pm_close_agent`, `abort` leaves nothing running, `restart`
//! continues the same Claude Code session. The witnesses are git (the records), `/proc` (the
//! processes) and the requests Claude Code sent to the stand-in.
//!
//! These tests need `claude` on the PATH (`.ci/run` installs the pinned npm package); without
//! it they fail, saying how to install it.

mod closing;
pub(crate) mod standin;
mod turns;

use crate::common::Kind;
use crate::runs::{Lab, proc_stat, wait_for};
use serde_json::Value;
use standin::{StandIn, Step};
use std::path::Path;

/// The Claude Code release these tests were written against (`.ci/run` installs it).
const PINNED: &str = "2.1.332";

/// The tool of pm's MCP server that closes the agent's own session, as Claude Code names it.
const CLOSE_TOOL: &str = "mcp__pm__pm_close_agent";

/// A repository whose runs use the real `claude`, pointed at a stand-in playing `script`.
pub(crate) struct Claude {
    // Dropped first: the runs' processes are stopped before the stand-in goes away.
    lab: Lab,
    standin: StandIn,
    pub(crate) env: Vec<(String, String)>,
}

impl std::ops::Deref for Claude {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl Claude {
    #[track_caller]
    pub(crate) fn new(script: Vec<Step>) -> Claude {
        require_claude();
        let lab = Lab::with_agents(&[]);
        let standin = StandIn::start(script);
        let tmp = lab.scratch_dir("tmp");
        let tmp = tmp.to_str().expect("a UTF-8 temporary path").to_string();
        let env = [
            ("ANTHROPIC_BASE_URL", standin.url()),
            ("ANTHROPIC_API_KEY", "test".to_string()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_string()),
            ("CLAUDE_CODE_MAX_RETRIES", "0".to_string()),
            ("TMPDIR", tmp.clone()),
            ("CLAUDE_CODE_TMPDIR", tmp),
        ]
        .map(|(k, v)| (k.to_string(), v));
        Claude {
            lab,
            standin,
            env: env.to_vec(),
        }
    }

    /// `pm --json ARGS…` with the environment that points Claude Code at the stand-in (which
    /// the supervisor and the agent inherit); asserts success.
    #[track_caller]
    fn pm_env_json(&self, args: &[&str]) -> Value {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.pm_full(self.path(), &env, &all).ok().json()
    }

    /// `pm agent launch --issue ISSUE --run --prompt PROMPT` (the default agent, claude): the
    /// session id.
    #[track_caller]
    fn launch(&self, issue: &str, prompt: &str) -> String {
        let doc = self.pm_env_json(&[
            "agent", "launch", "--issue", issue, "--run", "--prompt", prompt,
        ]);
        assert_eq!(doc["run"]["state"], "running", "{doc}");
        assert_eq!(doc["run"]["agent"], "claude", "{doc}");
        doc["id"].as_str().expect("an id").to_string()
    }

    /// Wait until the events of session `id` hold `n` finished turns; returns the events.
    #[track_caller]
    fn wait_turns(&self, id: &str, n: usize) -> Vec<Value> {
        wait_for(&format!("{n} finished turns of {id}"), || {
            let events = self.events(id);
            if of_kind(&events, "turn_finished").len() >= n {
                Ok(events)
            } else {
                Err(format!("{events:#?}"))
            }
        })
    }

    /// The requests the stand-in answered.
    fn requests(&self) -> Vec<Value> {
        self.standin.requests()
    }
}

impl Drop for Claude {
    /// Runs still going are aborted, so that Claude Code ends as it would for a user and its
    /// supervisor reaps it; whatever is left after that is killed by the [`Lab`].
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.path().join(".git/pm/run")) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(id) = entry.file_name().to_str() {
                let _ = self.pm(&["agent", "abort", id]);
            }
        }
    }
}

/// Fail (not skip) when Claude Code is not installed, saying how to install it.
#[track_caller]
fn require_claude() {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join("claude")))
    });
    assert!(
        found,
        "Claude Code (`claude`) is not on the PATH; these tests run the real CLI. Install it \
         with `npm install -g @anthropic-ai/claude-code@{PINNED}` (or run .ci/run)"
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The events of kind `kind`.
pub(crate) fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// The text the agent wrote, all `text` events joined.
pub(crate) fn text_of(events: &[Value]) -> String {
    of_kind(events, "text")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect()
}

/// Every piece of text in a request's `messages` (strings, text blocks, tool results).
fn message_texts(request: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => out.push(text.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&request["messages"], &mut out);
    out
}

/// Whether one of the request's messages by `role` has a piece of text equal to `text`
/// (Claude Code adds its own reminders as separate blocks).
fn said(request: &Value, role: &str, text: &str) -> bool {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == role)
        .any(|m| {
            message_texts(&serde_json::json!({"messages": [m]}))
                .iter()
                .any(|t| t == text)
        })
}

/// The parent pid of process `pid` (`/proc/PID/stat` field 4).
fn parent_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    after.get(1)?.parse().ok()
}

/// The live descendants of `root` (children, their children, …) as `(pid, start time)`.
pub(crate) fn descendants(root: u32) -> Vec<(u32, u64)> {
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for &pid in &all {
            if !found.contains(&pid) && parent_of(pid).is_some_and(|p| found.contains(&p)) {
                found.push(pid);
                grew = true;
            }
        }
    }
    found
        .into_iter()
        .skip(1)
        .filter_map(proc_stat)
        .filter(|s| s.state != 'Z')
        .map(|s| (s.pid, s.start))
        .collect()
}

/// The command line of process `pid`, its arguments apart.
pub(crate) fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The issue's status as its record in git says.
pub(crate) fn issue_status(lab: &Lab, issue: &str) -> String {
    lab.status_of(Kind::Issue, issue)
}
