//! Providers: how pm starts an agent and talks with it. The program comes from the user's own
//! config (`[agents.NAME]`) or from the built-ins below, never from a record: a record names
//! only the agent.
//!
//! * `claude`: Claude Code headless, stream-json both ways; follow-ups are user messages on
//!   stdin; a later run continues the thread with `--resume <id>`. pm registers itself as the
//!   agent's MCP server `pm`, so the agent can call `pm_close_agent` when it is done.
//! * `codex`: `codex exec --json` (one turn a process; `codex exec resume <id>` continues).
//!   Its sandbox lets it write in the worktree and the worktree's git folders (so that it can
//!   commit), it never stops to ask for approval, and pm registers itself as its MCP server
//!   `pm` (with pm's tools approved), all as `-c` settings of the run: nothing is written into
//!   the user's Codex configuration.
//! * `command`: any program; its output lines are text, input lines go to its stdin.

use super::events::Body;
use crate::config::{AgentConfig, Config};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The protocol pm speaks with an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Claude,
    Codex,
    Command,
}

impl Protocol {
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "claude" => Some(Protocol::Claude),
            "codex" => Some(Protocol::Codex),
            "command" => Some(Protocol::Command),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Claude => "claude",
            Protocol::Codex => "codex",
            Protocol::Command => "command",
        }
    }

    /// Whether the process stays alive between turns, taking follow-ups on stdin.
    pub fn keeps_running(self) -> bool {
        matches!(self, Protocol::Claude | Protocol::Command)
    }
}

/// The tools of pm's MCP server an agent may call without approval.
const PM_TOOLS: &[&str] = &[
    "mcp__pm__pm_close_agent",
    "mcp__pm__pm_get_issue",
    "mcp__pm__pm_list_issues",
];

/// The variables Codex passes on to pm's MCP server (it gives MCP servers only a few of its
/// own): the run's mark, and what pm reads to act as the same user with the same settings.
const CODEX_MCP_ENV: &[&str] = &[
    super::lease::MARK,
    "XDG_CONFIG_HOME",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
];

/// An agent to run: its program and arguments, and the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub agent: String,
    pub program: String,
    pub args: Vec<String>,
    pub protocol: Protocol,
}

/// The provider of agent `name`: the user's `[agents.NAME]`, else a built-in.
pub fn resolve(config: &Config, name: &str) -> Result<Provider> {
    let (program, args, protocol) = match config.agents.get(name) {
        Some(AgentConfig {
            program,
            args,
            protocol,
        }) => {
            let protocol = Protocol::parse(protocol).ok_or_else(|| {
                Error::usage(format!(
                    "agent {name}: protocol {protocol:?} is none of claude, codex, command"
                ))
            })?;
            (program.clone(), args.clone(), protocol)
        }
        None => match name {
            "claude" => ("claude".to_string(), Vec::new(), Protocol::Claude),
            "codex" => ("codex".to_string(), Vec::new(), Protocol::Codex),
            _ => {
                return Err(Error::usage(format!(
                    "no agent named {name:?}: the built-in ones are claude and codex; \
                     define others as [agents.{name}] in your config"
                )));
            }
        },
    };
    if program.trim().is_empty() {
        return Err(Error::usage(format!("agent {name}: its program is empty")));
    }
    Ok(Provider {
        agent: name.to_string(),
        program,
        args,
        protocol,
    })
}

impl Provider {
    /// The arguments of one run (see [`Invocation`]).
    pub fn arguments(&self, run: &Invocation) -> Vec<String> {
        if self.protocol == Protocol::Codex {
            return self.codex_arguments(run);
        }
        let Invocation {
            system,
            resume,
            pm,
            model,
            tools,
            ..
        } = *run;
        let mut args = self.args.clone();
        match self.protocol {
            Protocol::Claude => {
                let mcp = json!({"mcpServers": {"pm": {
                    "type": "stdio",
                    "command": pm.to_string_lossy(),
                    "args": ["mcp"],
                }}});
                args.extend(
                    [
                        "-p",
                        "--output-format",
                        "stream-json",
                        "--input-format",
                        "stream-json",
                        "--verbose",
                        "--include-partial-messages",
                        "--strict-mcp-config",
                        "--mcp-config",
                    ]
                    .map(String::from),
                );
                args.push(mcp.to_string());
                // pm's own tools need no approval: closing its session is what the agent must
                // be able to do unattended.
                args.push("--allowedTools".into());
                let allowed: Vec<&str> = PM_TOOLS
                    .iter()
                    .copied()
                    .chain(tools.iter().map(String::as_str))
                    .collect();
                args.push(allowed.join(","));
                if let Some(model) = model {
                    args.push("--model".into());
                    args.push(model.to_string());
                }
                if let Some(system) = system {
                    args.push("--append-system-prompt".into());
                    args.push(system.to_string());
                }
                if let Some(id) = resume {
                    args.push("--resume".into());
                    args.push(id.to_string());
                }
            }
            Protocol::Codex => {}
            Protocol::Command => {
                if let Some(model) = model {
                    args.push("--model".into());
                    args.push(model.to_string());
                }
            }
        }
        args
    }

    /// `codex [settings] [user's arguments] exec --json [resume ID] -- PROMPT`. pm's settings
    /// come first, so that a `-c` among the user's arguments overrides them; the prompt comes
    /// after `--`, so that one starting with a dash is still the prompt.
    fn codex_arguments(&self, run: &Invocation) -> Vec<String> {
        let Invocation {
            prompt,
            system,
            resume,
            pm,
            git_dirs,
            model,
            ..
        } = *run;
        let mut settings = vec![
            format!("sandbox_mode={}", toml_string("workspace-write")),
            format!("approval_policy={}", toml_string("never")),
        ];
        if !git_dirs.is_empty() {
            settings.push(format!(
                "sandbox_workspace_write.writable_roots={}",
                toml_list(git_dirs.iter().map(|d| d.to_string_lossy()))
            ));
        }
        settings.push(format!(
            "mcp_servers.pm.command={}",
            toml_string(&pm.to_string_lossy())
        ));
        settings.push(format!("mcp_servers.pm.args={}", toml_list(["mcp"])));
        settings.push(format!(
            "mcp_servers.pm.env_vars={}",
            toml_list(CODEX_MCP_ENV.iter().copied())
        ));
        // pm's own tools need no approval: closing its session is what the agent must be able
        // to do unattended (`exec` never asks, it refuses).
        for tool in PM_TOOLS {
            if let Some(tool) = tool.strip_prefix("mcp__pm__") {
                settings.push(format!(
                    "mcp_servers.pm.tools.{tool}.approval_mode={}",
                    toml_string("approve")
                ));
            }
        }
        let mut args = Vec::new();
        for setting in settings {
            args.push("-c".to_string());
            args.push(setting);
        }
        args.extend(self.args.iter().cloned());
        args.extend(["exec".to_string(), "--json".to_string()]);
        // A thread keeps the model it began with.
        if let (Some(model), None) = (model, resume) {
            args.push("--model".into());
            args.push(model.to_string());
        }
        if let Some(id) = resume {
            args.push("resume".into());
            args.push(id.to_string());
        }
        args.push("--".into());
        match system {
            Some(system) if resume.is_none() => args.push(format!("{system}\n\n{prompt}")),
            _ => args.push(prompt.to_string()),
        }
        args
    }

    /// What goes to the agent's stdin for `text` (a prompt or a follow-up), if anything.
    pub fn input_line(&self, text: &str) -> Option<String> {
        match self.protocol {
            Protocol::Claude => Some(format!(
                "{}\n",
                json!({"type": "user", "message": {"role": "user", "content": text}})
            )),
            Protocol::Command => Some(format!("{}\n", text.trim_end_matches('\n'))),
            Protocol::Codex => None,
        }
    }

    /// The events one line of the agent's output stands for.
    pub fn parse_line(&self, line: &str) -> Vec<Body> {
        match self.protocol {
            Protocol::Command => vec![Body::Text {
                text: format!("{line}\n"),
            }],
            Protocol::Claude => parse_claude(line),
            Protocol::Codex => parse_codex(line),
        }
    }
}

/// What one run of an agent is started with, beside the provider itself.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// Given on stdin for the protocols that keep running, on the command line for the others.
    pub prompt: &'a str,
    /// The instructions (issue, how to finish, ...).
    pub system: Option<&'a str>,
    /// A provider thread to continue.
    pub resume: Option<&'a str>,
    /// This program, registered as the agent's MCP server.
    pub pm: &'a Path,
    /// The worktree's git folders, which a sandboxed agent must be able to write to commit.
    pub git_dirs: &'a [PathBuf],
    /// Given as `--model` (codex keeps the model a thread began with).
    pub model: Option<&'a str>,
    /// Allowed beside pm's own (claude only: the caller refuses them for the others).
    pub tools: &'a [String],
}

/// The instructions an agent gets for a session on `issue`: the issue itself, and how to end
/// the session when the work is done.
pub fn system_prompt(issue: &crate::model::Issue) -> String {
    let mut text = format!("You are working on issue {}: {}\n", issue.id, issue.title);
    for part in [&issue.description, &issue.body] {
        if !part.trim().is_empty() {
            text.push('\n');
            text.push_str(part.trim());
            text.push('\n');
        }
    }
    text.push_str(
        "\nWork in the current folder, a git worktree on the session's own branch; commit your \
         work there. When the issue is done, call the tool pm_close_agent (server pm) with \
         status \"completed\" (or run `pm agent close --done`); if you cannot finish it, call it \
         with status \"abandoned\" and say why.\n",
    );
    text
}

/// A tool result or input shown in a log is cut to this many characters.
const SHOWN: usize = 2000;

pub(crate) fn shortened(text: &str) -> String {
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Claude Code's stream-json: text comes from the partial-message deltas, tool calls from the
/// whole assistant messages, tool results from the user messages it sends itself, the thread
/// id from `system`/`result`, the end of a turn from `result`.
fn parse_claude(line: &str) -> Vec<Body> {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return vec![Body::Log {
            text: shortened(line),
        }];
    };
    let mut out = Vec::new();
    let session = message["session_id"].as_str().map(str::to_string);
    match message["type"].as_str() {
        Some("system") => {
            if message["subtype"] == "init"
                && let Some(id) = session
            {
                out.push(Body::ProviderSession { id });
            }
        }
        Some("stream_event") => {
            let event = &message["event"];
            if event["type"] == "content_block_delta"
                && event["delta"]["type"] == "text_delta"
                && let Some(text) = event["delta"]["text"].as_str()
            {
                out.push(Body::Text {
                    text: text.to_string(),
                });
            }
        }
        Some("assistant") => {
            for block in message["message"]["content"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if block["type"] == "tool_use" {
                    out.push(Body::ToolCall {
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                        input: block["input"].clone(),
                    });
                }
            }
        }
        Some("user") => {
            for block in message["message"]["content"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if block["type"] == "tool_result" {
                    out.push(Body::ToolResult {
                        text: shortened(&tool_result_text(&block["content"])),
                        is_error: block["is_error"].as_bool().unwrap_or(false),
                    });
                }
            }
        }
        Some("result") => {
            if let Some(id) = session {
                out.push(Body::ProviderSession { id });
            }
            out.push(Body::TurnFinished {
                is_error: message["is_error"].as_bool().unwrap_or(false),
            });
        }
        _ => {}
    }
    out
}

fn tool_result_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// A TOML basic string (JSON's string syntax is one).
fn toml_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// A TOML array of strings.
fn toml_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| toml_string(i.as_ref())).collect();
    format!("[{}]", items.join(","))
}

/// Codex's `exec --json`: the thread id (`thread.started`), the agent's messages (whole: Codex
/// prints no deltas), the shell commands and MCP tool calls it makes and their results, its
/// notes and errors, the end of the turn (`turn.completed`, `turn.failed`). A top-level
/// `error` does not end the turn: Codex prints one for each retry of a request.
fn parse_codex(line: &str) -> Vec<Body> {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return vec![Body::Log {
            text: shortened(line),
        }];
    };
    let item = &message["item"];
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    match (message["type"].as_str(), item["type"].as_str()) {
        (Some("thread.started"), _) => message["thread_id"]
            .as_str()
            .map(|id| Body::ProviderSession { id: id.to_string() })
            .into_iter()
            .collect(),
        (Some("item.completed"), Some("agent_message")) => vec![Body::Text {
            text: format!("{}\n", text(&item["text"])),
        }],
        (Some("item.started"), Some("command_execution")) => vec![Body::ToolCall {
            name: "shell".into(),
            input: json!({"command": item["command"]}),
        }],
        (Some("item.completed"), Some("command_execution")) => vec![Body::ToolResult {
            text: shortened(&text(&item["aggregated_output"])),
            is_error: item["status"] != "completed"
                || item["exit_code"].as_i64().is_some_and(|code| code != 0),
        }],
        (Some("item.started"), Some("mcp_tool_call")) => vec![Body::ToolCall {
            name: format!("mcp__{}__{}", text(&item["server"]), text(&item["tool"])),
            input: item["arguments"].clone(),
        }],
        (Some("item.completed"), Some("mcp_tool_call")) => {
            let failed = item["status"] != "completed";
            let answer = if failed {
                text(&item["error"]["message"])
            } else {
                tool_result_text(&item["result"]["content"])
            };
            vec![Body::ToolResult {
                text: shortened(&answer),
                is_error: failed,
            }]
        }
        (Some("item.completed"), Some("file_change")) => vec![Body::ToolCall {
            name: "file_change".into(),
            input: json!({"changes": item["changes"], "status": item["status"]}),
        }],
        (Some("item.completed"), Some("error")) => vec![Body::Log {
            text: shortened(&text(&item["message"])),
        }],
        (Some("error"), _) => vec![Body::Log {
            text: shortened(&text(&message["message"])),
        }],
        (Some("turn.completed"), _) => vec![Body::TurnFinished { is_error: false }],
        (Some("turn.failed"), _) => vec![
            Body::Log {
                text: shortened(&text(&message["error"]["message"])),
            },
            Body::TurnFinished { is_error: true },
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_stream_json_becomes_events() {
        let lines = [
            r#"{"type":"system","subtype":"init","session_id":"abc"}"#,
            r#"{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"mcp__pm__pm_close_agent","input":{"status":"completed"}}]}}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"done"}]}]}}"#,
            r#"{"type":"result","subtype":"success","is_error":false,"session_id":"abc"}"#,
            "not json",
        ];
        let events: Vec<Body> = lines.iter().flat_map(|l| parse_claude(l)).collect();
        assert_eq!(
            events,
            vec![
                Body::ProviderSession { id: "abc".into() },
                Body::Text { text: "Hel".into() },
                Body::ToolCall {
                    name: "mcp__pm__pm_close_agent".into(),
                    input: json!({"status": "completed"}),
                },
                Body::ToolResult {
                    text: "done".into(),
                    is_error: false
                },
                Body::ProviderSession { id: "abc".into() },
                Body::TurnFinished { is_error: false },
                Body::Log {
                    text: "not json".into()
                },
            ]
        );
    }

    /// Lines as Codex 0.171.0 printed them (`codex exec --json`).
    #[test]
    fn codex_exec_json_becomes_events() {
        let lines = [
            r#"{"type":"thread.started","thread_id":"01a22ee4-de38"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `m` not found."}}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Running it."}}"#,
            r#"{"type":"item.started","item":{"id":"item_2","type":"command_execution","command":"/bin/bash -lc 'ls'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"/bin/bash -lc 'ls'","aggregated_output":"a\n","exit_code":1,"status":"failed"}}"#,
            r#"{"type":"item.started","item":{"id":"item_3","type":"mcp_tool_call","server":"pm","tool":"pm_close_agent","arguments":{"status":"completed"},"result":null,"error":null,"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_3","type":"mcp_tool_call","server":"pm","tool":"pm_close_agent","arguments":{"status":"completed"},"result":{"content":[{"type":"text","text":"closed"}],"structured_content":{}},"error":null,"status":"completed"}}"#,
            r#"{"type":"error","message":"Reconnecting... 1/5"}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":20,"output_tokens":10}}"#,
            r#"{"type":"turn.failed","error":{"message":"stream disconnected"}}"#,
        ];
        let events: Vec<Body> = lines.iter().flat_map(|l| parse_codex(l)).collect();
        assert_eq!(
            events,
            vec![
                Body::ProviderSession {
                    id: "01a22ee4-de38".into()
                },
                Body::Log {
                    text: "Model metadata for `m` not found.".into()
                },
                Body::Text {
                    text: "Running it.\n".into()
                },
                Body::ToolCall {
                    name: "shell".into(),
                    input: json!({"command": "/bin/bash -lc 'ls'"}),
                },
                Body::ToolResult {
                    text: "a\n".into(),
                    is_error: true
                },
                Body::ToolCall {
                    name: "mcp__pm__pm_close_agent".into(),
                    input: json!({"status": "completed"}),
                },
                Body::ToolResult {
                    text: "closed".into(),
                    is_error: false
                },
                Body::Log {
                    text: "Reconnecting... 1/5".into()
                },
                Body::TurnFinished { is_error: false },
                Body::Log {
                    text: "stream disconnected".into()
                },
                Body::TurnFinished { is_error: true },
            ]
        );
    }

    #[test]
    fn codex_runs_get_pms_settings_first_and_the_prompt_after_a_double_dash() {
        let mut config = Config::default();
        config.agents.insert(
            "codex".into(),
            AgentConfig {
                program: "codex".into(),
                args: vec!["-m".into(), "o3".into()],
                protocol: "codex".into(),
            },
        );
        let codex = resolve(&config, "codex").unwrap();
        let pm = Path::new(r#"/bin/pm "x""#);
        let dirs = [
            PathBuf::from("/r/.git/worktrees/w"),
            PathBuf::from("/r/.git"),
        ];
        let args = codex.arguments(&Invocation {
            prompt: "-v",
            system: Some("Rules."),
            resume: None,
            pm,
            git_dirs: &dirs,
            model: None,
            tools: &[],
        });
        let settings: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "-c")
            .map(|w| w[1].as_str())
            .collect();
        for wanted in [
            r#"sandbox_mode="workspace-write""#,
            r#"approval_policy="never""#,
            r#"sandbox_workspace_write.writable_roots=["/r/.git/worktrees/w","/r/.git"]"#,
            r#"mcp_servers.pm.command="/bin/pm \"x\"""#,
            r#"mcp_servers.pm.args=["mcp"]"#,
            r#"mcp_servers.pm.tools.pm_close_agent.approval_mode="approve""#,
        ] {
            assert!(settings.contains(&wanted), "{wanted} not in {settings:?}");
        }
        assert!(
            settings
                .iter()
                .any(|s| s.starts_with(r#"mcp_servers.pm.env_vars=["PM_SESSION","#)),
            "{settings:?}"
        );
        // pm's settings, then the user's arguments, then the command.
        let tail = &args[2 * settings.len()..];
        assert_eq!(tail, ["-m", "o3", "exec", "--json", "--", "Rules.\n\n-v"]);

        let args = codex.arguments(&Invocation {
            prompt: "more",
            system: Some("Rules."),
            resume: Some("t-1"),
            pm,
            git_dirs: &[],
            model: None,
            tools: &[],
        });
        assert!(!args.iter().any(|a| a.contains("writable_roots")));
        assert!(
            args.ends_with(&["exec", "--json", "resume", "t-1", "--", "more"].map(String::from)),
            "{args:?}"
        );
    }

    #[test]
    fn programs_come_from_the_users_config_or_the_built_ins() {
        let mut config = Config::default();
        assert_eq!(
            resolve(&config, "claude").unwrap().protocol,
            Protocol::Claude
        );
        assert!(resolve(&config, "rm").is_err());
        config.agents.insert(
            "echo".into(),
            AgentConfig {
                program: "/bin/cat".into(),
                args: vec![],
                protocol: "command".into(),
            },
        );
        let p = resolve(&config, "echo").unwrap();
        assert_eq!(
            (p.program.as_str(), p.protocol),
            ("/bin/cat", Protocol::Command)
        );
    }
}
