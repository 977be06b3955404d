//! `pm mcp`: a Model Context Protocol server on stdio (JSON-RPC 2.0, one message per line).
//!
//! Both protocol generations are served: the `initialize` handshake (2024-11-05 through
//! 2025-11-25) and the stateless revision (2026-07-28), where a client calls `server/discover`
//! and carries the version in each request's `_meta`. Only protocol messages go to stdout.
//! Every tool is a thin adapter over the core API the CLI uses (`tools`), so the two can never
//! disagree about a rule.

mod definitions;
mod session_tool;
mod tools;

use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Protocol versions with the `initialize` handshake, oldest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The stateless revision: no handshake, `server/discover` instead.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// The largest message read; longer lines are refused and skipped.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

const INSTRUCTIONS: &str = "pm manages agent sessions and issues stored in this git repository. \
When your work in a session's worktree is finished, call pm_close_agent with status \"completed\" \
(no session id needed inside the worktree). Use pm_session with action \"help\" for more.";

/// Serve MCP on `input`/`output` until the input ends. `dir` is where tools act (the server's
/// working directory). Fails only when the output cannot be written.
pub fn serve(dir: PathBuf, input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
    let mut server = Server { dir, ws: None };
    let mut reader = input;
    loop {
        let line = match read_line(&mut reader, MAX_MESSAGE_BYTES) {
            Ok(Line::Eof) => return Ok(()),
            Ok(Line::Text(line)) => line,
            Ok(Line::TooLong) => {
                let reply = error_reply(
                    Value::Null,
                    INVALID_REQUEST,
                    &format!("message larger than {MAX_MESSAGE_BYTES} bytes"),
                );
                send(&mut output, &reply)?;
                continue;
            }
            Err(e) => {
                eprintln!("pm mcp: cannot read input: {e}");
                return Ok(());
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(reply) = server.handle_text(&line) {
            send(&mut output, &reply)?;
        }
    }
}

enum Line {
    Text(String),
    TooLong,
    Eof,
}

/// Read one line of at most `max` bytes; a longer one is consumed and reported as too long.
fn read_line(reader: &mut impl BufRead, max: usize) -> std::io::Result<Line> {
    let mut bytes = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            if bytes.is_empty() && !too_long {
                return Ok(Line::Eof);
            }
            break;
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if bytes.len() + chunk.len() > max {
                too_long = true;
                bytes = Vec::new();
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    Ok(Line::Text(String::from_utf8_lossy(&bytes).into_owned()))
}

fn send(output: &mut impl Write, reply: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    output.write_all(text.as_bytes())?;
    output.write_all(b"\n")?;
    output.flush()
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn result_reply(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

struct Server {
    dir: PathBuf,
    /// The repository, opened by the first tool call that needs it and kept for the others
    /// (refreshed before each, so that configuration edits are seen).
    ws: Option<crate::workspace::Workspace>,
}

impl Server {
    fn workspace(&mut self) -> crate::error::Result<&crate::workspace::Workspace> {
        match &mut self.ws {
            Some(ws) => ws.refresh(),
            None => self.ws = Some(crate::workspace::Workspace::open(&self.dir)?),
        }
        self.ws
            .as_ref()
            .ok_or_else(|| crate::error::Error::failed("the repository could not be opened"))
    }
}

impl Server {
    /// Answer one line; `None` for notifications and for responses sent to us.
    fn handle_text(&mut self, line: &str) -> Option<Value> {
        let message: Value = match serde_json::from_str(line) {
            Ok(message) => message,
            Err(e) => {
                return Some(error_reply(
                    Value::Null,
                    PARSE_ERROR,
                    &format!("parse error: {e}"),
                ));
            }
        };
        let Value::Object(message) = message else {
            return Some(error_reply(
                Value::Null,
                INVALID_REQUEST,
                "a message must be a JSON object (batches are not supported)",
            ));
        };
        let id = message.get("id").cloned();
        let valid_id = matches!(id, None | Some(Value::String(_)) | Some(Value::Number(_)));
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || !valid_id {
            return Some(error_reply(
                if valid_id {
                    id.unwrap_or(Value::Null)
                } else {
                    Value::Null
                },
                INVALID_REQUEST,
                "not a JSON-RPC 2.0 request",
            ));
        }
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            // A response to something we never asked: nothing to answer.
            if message.contains_key("result") || message.contains_key("error") {
                return None;
            }
            return Some(error_reply(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "a request needs a method",
            ));
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = id else {
            // Notifications (initialized, cancelled, ...) need no answer.
            return None;
        };
        if !(params.is_null() || params.is_object()) {
            return Some(error_reply(id, INVALID_PARAMS, "params must be an object"));
        }
        Some(match self.call(method, &params) {
            Ok(result) => result_reply(id, result),
            Err((code, message)) => error_reply(id, code, &message),
        })
    }

    fn call(&mut self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
        match method {
            "initialize" => {
                let asked = params.get("protocolVersion").and_then(Value::as_str);
                let version = match asked {
                    Some(v) if HANDSHAKE_VERSIONS.contains(&v) => v,
                    _ => HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1],
                };
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": capabilities(),
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }))
            }
            "server/discover" => {
                let mut versions: Vec<&str> = HANDSHAKE_VERSIONS.to_vec();
                versions.push(STATELESS_VERSION);
                Ok(json!({
                    "supportedVersions": versions,
                    "capabilities": capabilities(),
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": tools::definitions() })),
            "tools/call" => {
                let Some(name) = params.get("name").and_then(Value::as_str) else {
                    return Err((INVALID_PARAMS, "tools/call needs a tool name".into()));
                };
                let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
                if !arguments.is_object() {
                    return Err((INVALID_PARAMS, "arguments must be an object".into()));
                }
                if !tools::exists(name) {
                    return Err((INVALID_PARAMS, format!("unknown tool: {name}")));
                }
                let dir = self.dir.clone();
                let reply = tools::call(self.workspace(), &dir, name, &arguments);
                if let Some(ws) = &self.ws {
                    ws.share_automatically(true);
                    ws.share_writes();
                }
                Ok(reply)
            }
            _ => Err((METHOD_NOT_FOUND, format!("method not found: {method}"))),
        }
    }
}

/// The tools as `tools/list` describes them (names, descriptions, JSON-schema inputs).
pub fn tool_definitions() -> Value {
    tools::definitions()
}

fn capabilities() -> Value {
    json!({ "tools": { "listChanged": false } })
}

fn server_info() -> Value {
    json!({ "name": "pm", "title": "pm", "version": env!("CARGO_PKG_VERSION") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Vec<Value> {
        let mut out = Vec::new();
        serve(PathBuf::from("."), input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn protocol_errors_follow_json_rpc() {
        let replies = run(concat!(
            "{not json\n",
            "[1,2]\n",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}\n",
            "{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"ping\"}\n",
            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}",
        ));
        let codes: Vec<Value> = replies.iter().map(|r| r["error"]["code"].clone()).collect();
        assert_eq!(
            codes,
            [
                json!(-32700),
                json!(-32600),
                json!(-32601),
                json!(-32600),
                json!(-32602),
                Value::Null
            ]
        );
        assert_eq!(replies[5]["result"], json!({}));
    }

    #[test]
    fn the_handshake_settles_on_a_supported_version() {
        let replies = run(concat!(
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\"}}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"1999-01-01\"}}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"server/discover\"}\n",
        ));
        assert_eq!(replies[0]["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(replies[1]["result"]["protocolVersion"], "2025-11-25");
        let versions = replies[2]["result"]["supportedVersions"]
            .as_array()
            .unwrap();
        assert!(versions.contains(&json!("2026-07-28")));
    }

    #[test]
    fn an_oversized_line_is_refused_and_the_next_one_read() {
        let big = "x".repeat(MAX_MESSAGE_BYTES + 10);
        let input = format!("{big}\n{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}}\n");
        let replies = run(&input);
        assert_eq!(replies[0]["error"]["code"], -32600);
        assert_eq!(replies[1]["id"], 9);
    }
}
