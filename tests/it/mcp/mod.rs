//! `pm mcp`: JSON lines piped into the real binary, replies checked, and the repository checked
//! with `pm --json` and git to have changed exactly as the CLI would have changed it.

mod documents;
mod install;
mod server;
mod tools;

use crate::common;
use crate::common::{Repo, id_of};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Send `messages` (one per line) to `pm mcp` in `dir`; return the replies and the exit code.
fn mcp(repo: &Repo, dir: &Path, messages: &[Value]) -> (Vec<Value>, Option<i32>) {
    let input: String = messages.iter().map(|m| format!("{m}\n")).collect();
    mcp_raw(repo, dir, input.as_bytes())
}

fn mcp_raw(repo: &Repo, dir: &Path, input: &[u8]) -> (Vec<Value>, Option<i32>) {
    mcp_env(repo, dir, &[], input)
}

/// [`mcp_raw`] with extra variables in the server's environment.
fn mcp_env(
    repo: &Repo,
    dir: &Path,
    env: &[(&str, &str)],
    input: &[u8],
) -> (Vec<Value>, Option<i32>) {
    let mut child = repo
        .pm_std_command(dir)
        .envs(env.iter().copied())
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pm mcp starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write requests");
    let output = child.wait_with_output().expect("pm mcp ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let replies = String::from_utf8(output.stdout)
        .expect("UTF-8 replies")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (replies, output.status.code())
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn tool(id: u64, name: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    )
}

fn initialize() -> Value {
    request(
        0,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
    )
}

/// Call one tool after the handshake; return its result.
pub(crate) fn call(repo: &Repo, dir: &Path, name: &str, arguments: Value) -> Value {
    call_with_env(repo, dir, &[], name, arguments)
}

/// [`call`] with extra variables in the server's environment.
pub(crate) fn call_with_env(
    repo: &Repo,
    dir: &Path,
    env: &[(&str, &str)],
    name: &str,
    arguments: Value,
) -> Value {
    let input: String = [initialize(), tool(1, name, arguments)]
        .iter()
        .map(|m| format!("{m}\n"))
        .collect();
    let (replies, code) = mcp_env(repo, dir, env, input.as_bytes());
    assert_eq!(code, Some(0));
    assert_eq!(replies.len(), 2, "{replies:?}");
    replies[1]["result"].clone()
}

pub(crate) fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "{result}");
    assert!(result["content"][0]["text"].is_string(), "{result}");
    &result["structuredContent"]
}

pub(crate) fn failed(result: &Value) -> String {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"]
        .as_str()
        .expect("a message")
        .to_string()
}
