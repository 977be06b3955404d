//! The real Codex CLI run by pm (`codex exec --json`, one turn a process, `codex exec resume`
//! for the next), talking to a scripted stand-in for the Responses API on 127.0.0.1
//! ([`standin`]): what the model says lands in `pm agent logs`, a second `pm agent run`
//! continues the same Codex thread, a command the agent runs can commit in its worktree (the
//! sandbox lets it), the agent closes its own session through pm's MCP server, and `abort`
//! leaves nothing running. The witnesses are git (the records and the session's branch),
//! `/proc` (the processes) and the requests Codex sent to the stand-in.
//!
//! Codex gets a `CODEX_HOME` of the test's own whose `config.toml` names the stand-in as its
//! model provider and turns off analytics and plugin sync (the two things that reach outside
//! 127.0.0.1). These tests need `codex` on the PATH (`.ci/run` installs the pinned npm
//! package); without it they are skipped with a message, except under CI, where they fail.

mod closing;
mod standin;
mod turns;

use crate::claude::{cmdline, descendants, issue_status, of_kind, text_of};
use crate::runs::{Lab, proc_stat, wait_for};
use serde_json::Value;
use standin::{Request, StandIn, Step};
use std::path::{Path, PathBuf};

/// The Codex CLI release these tests were written against (`.ci/run` installs it).
const PINNED: &str = "0.171.0";

/// pm's tool that closes the agent's own session, as pm's events name a Codex MCP call.
const CLOSE_TOOL: &str = "mcp__pm__pm_close_agent";

/// A repository whose runs use the real `codex`, pointed at a stand-in playing a script.
struct Codex {
    // Dropped first: the runs' processes are stopped before the stand-in goes away.
    lab: Lab,
    standin: StandIn,
    codex_home: PathBuf,
}

impl std::ops::Deref for Codex {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl Codex {
    /// The lab, or `None` (the test is skipped) when Codex is not installed here.
    #[track_caller]
    fn new(script: Vec<Step>) -> Option<Codex> {
        if !codex_installed() {
            return None;
        }
        let lab = Lab::with_agents(&[]);
        let standin = StandIn::start(script);
        let codex_home = lab.scratch_dir("codex-home");
        let config = format!(
            "model_provider = \"standin\"\n\
             model = \"test-model\"\n\
             \n\
             [analytics]\n\
             enabled = false\n\
             \n\
             [features]\n\
             plugins = false\n\
             \n\
             [model_providers.standin]\n\
             name = \"stand-in\"\n\
             base_url = \"{}\"\n\
             wire_api = \"responses\"\n\
             env_key = \"OPENAI_API_KEY\"\n\
             supports_websockets = false\n\
             request_max_retries = 0\n\
             stream_max_retries = 0\n",
            standin.base_url()
        );
        std::fs::write(codex_home.join("config.toml"), config).expect("write Codex's config");
        Some(Codex {
            lab,
            standin,
            codex_home,
        })
    }

    /// `pm --json ARGS…` with the environment that points Codex at the stand-in (which the
    /// supervisor and the agent inherit); asserts success.
    #[track_caller]
    fn pm_env_json(&self, args: &[&str]) -> Value {
        let home = self.codex_home.to_str().expect("a UTF-8 temporary path");
        let env = [("CODEX_HOME", home), ("OPENAI_API_KEY", "test")];
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.pm_full(self.path(), &env, &all).ok().json()
    }

    /// `pm agent launch --issue ISSUE --agent codex --run --prompt PROMPT`: the session id.
    #[track_caller]
    fn launch(&self, issue: &str, prompt: &str) -> String {
        let doc = self.pm_env_json(&[
            "agent", "launch", "--issue", issue, "--agent", "codex", "--run", "--prompt", prompt,
        ]);
        assert_eq!(doc["run"]["agent"], "codex", "{doc}");
        assert_eq!(doc["run"]["provider"], "codex", "{doc}");
        // One turn a process: it may have ended already.
        assert!(
            ["running", "exited"].contains(&doc["run"]["state"].as_str().unwrap_or_default()),
            "{doc}"
        );
        doc["id"].as_str().expect("an id").to_string()
    }

    /// Wait until the run of session `id` ended; returns the run and the events.
    #[track_caller]
    fn wait_ended(&self, id: &str) -> (Value, Vec<Value>) {
        let run = self.wait_run_ended(id);
        let events = self.events(id);
        crate::runs::seqs(&events);
        (run, events)
    }

    /// The requests the stand-in answered.
    fn requests(&self) -> Vec<Request> {
        self.standin.requests()
    }

    /// Whether Codex keeps the transcript (its "rollout") of thread `thread` in its home.
    fn rollout(&self, thread: &str) -> bool {
        fn find(dir: &Path, thread: &str) -> bool {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.flatten().any(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        find(&path, thread)
                    } else {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| n.starts_with("rollout-") && n.contains(thread))
                    }
                })
            })
        }
        find(&self.codex_home.join("sessions"), thread)
    }
}

impl Drop for Codex {
    /// Runs still going are aborted, so that Codex ends as it would for a user and its
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

/// Whether `codex` is on the PATH. Without it a test is skipped, saying so and how to install
/// it; under CI (`CI` set), where `.ci/run` installs it, its absence fails the test.
#[track_caller]
fn codex_installed() -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join("codex")))
    });
    let why = format!(
        "the Codex CLI (`codex`) is not on the PATH; these tests run the real CLI. Install it \
         with `npm install -g @openai/codex@{PINNED}` (or run .ci/run)"
    );
    if !found && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{why}");
    }
    if !found {
        eprintln!("skipped: {why}");
    }
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The request's `input` items of role `role` (messages) as their texts, joined per item.
fn said(request: &Request, role: &str) -> Vec<String> {
    request.body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "message" && i["role"] == role)
        .map(|i| {
            i["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        })
        .collect()
}

/// The request's `input` items of type `kind` (`function_call`, `function_call_output`).
fn items<'a>(request: &'a Request, kind: &str) -> Vec<&'a Value> {
    request.body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == kind)
        .collect()
}

/// The turn metadata Codex sends with a request (thread, sandbox mode, …).
fn turn_metadata(request: &Request) -> Value {
    request
        .header("x-codex-turn-metadata")
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}
