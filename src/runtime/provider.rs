//! Providers: how pm starts an agent and talks with it. The program comes from the user's own
//! config (`[agents.NAME]`) or from the built-ins below, never from a record: a record names
//! only the agent.
//!
//! * `claude`: Claude Code headless, stream-json both ways; follow-ups are user messages on
//!   stdin; a later run continues the thread with `--resume <id>`. pm registers itself as the
//!   agent's MCP server `pm`, so the agent can call `pm_close_agent` when it is done.
//! * `codex`: `codex exec --json` (one turn a process; `codex exec resume <id>` continues).
//! * `command`: any program; its output lines are text, input lines go to its stdin.

use super::events::Body;
use crate::config::{AgentConfig, Config};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::path::Path;

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
    /// The arguments of one run: `prompt` is given on stdin for the protocols that keep
    /// running, on the command line for the others; `resume` continues a provider thread.
    /// `pm` is this program, registered as the agent's MCP server. `model` is given as
    /// `--model` (codex keeps the model a thread began with); `tools` are allowed beside pm's
    /// own (claude only: the caller refuses them for the others).
    pub fn arguments(
        &self,
        prompt: &str,
        system: Option<&str>,
        resume: Option<&str>,
        pm: &Path,
        model: Option<&str>,
        tools: &[String],
    ) -> Vec<String> {
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
            Protocol::Codex => {
                args.push("exec".into());
                if let (Some(model), None) = (model, resume) {
                    args.push("--model".into());
                    args.push(model.to_string());
                }
                if let Some(id) = resume {
                    args.push("resume".into());
                    args.push(id.to_string());
                }
                args.push("--json".into());
                match system {
                    Some(system) if resume.is_none() => args.push(format!("{system}\n\n{prompt}")),
                    _ => args.push(prompt.to_string()),
                }
            }
            Protocol::Command => {
                if let Some(model) = model {
                    args.push("--model".into());
                    args.push(model.to_string());
                }
            }
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

/// Codex's `exec --json`: the thread id, agent messages, commands, the end of the turn.
fn parse_codex(line: &str) -> Vec<Body> {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return vec![Body::Log {
            text: shortened(line),
        }];
    };
    let item = &message["item"];
    match message["type"].as_str() {
        Some("thread.started") => message["thread_id"]
            .as_str()
            .map(|id| Body::ProviderSession { id: id.to_string() })
            .into_iter()
            .collect(),
        Some("item.completed") if item["type"] == "agent_message" => vec![Body::Text {
            text: format!("{}\n", item["text"].as_str().unwrap_or_default()),
        }],
        Some("item.started") if item["type"] == "command_execution" => vec![Body::ToolCall {
            name: "shell".into(),
            input: json!({"command": item["command"]}),
        }],
        Some("turn.completed") => vec![Body::TurnFinished { is_error: false }],
        Some("turn.failed") | Some("error") => vec![Body::TurnFinished { is_error: true }],
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
