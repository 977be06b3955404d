//! `pm mcp`: JSON lines piped into the real binary, replies checked, and the repository checked
//! with `pm --json` and git to have changed exactly as the CLI would have changed it.

mod common;

use common::Repo;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// Send `messages` (one per line) to `pm mcp` in `dir`; return the replies and the exit code.
fn mcp(repo: &Repo, dir: &Path, messages: &[Value]) -> (Vec<Value>, Option<i32>) {
    let input: String = messages.iter().map(|m| format!("{m}\n")).collect();
    mcp_raw(repo, dir, input.as_bytes())
}

fn mcp_raw(repo: &Repo, dir: &Path, input: &[u8]) -> (Vec<Value>, Option<i32>) {
    let mut child = repo
        .pm_std_command(dir)
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
fn call(repo: &Repo, dir: &Path, name: &str, arguments: Value) -> Value {
    let (replies, code) = mcp(repo, dir, &[initialize(), tool(1, name, arguments)]);
    assert_eq!(code, Some(0));
    assert_eq!(replies.len(), 2, "{replies:?}");
    replies[1]["result"].clone()
}

fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "{result}");
    assert!(result["content"][0]["text"].is_string(), "{result}");
    &result["structuredContent"]
}

fn failed(result: &Value) -> String {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"]
        .as_str()
        .expect("a message")
        .to_string()
}

#[test]
fn both_protocol_generations_are_served() {
    let repo = Repo::new();
    let (replies, code) = mcp(
        &repo,
        repo.path(),
        &[
            initialize(),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            request(1, "tools/list", json!({})),
            request(2, "initialize", json!({"protocolVersion": "2024-11-05"})),
        ],
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        replies.len(),
        3,
        "a notification gets no reply: {replies:?}"
    );
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(replies[0]["result"]["serverInfo"]["name"], "pm");
    let names: Vec<&str> = replies[1]["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "pm_session",
            "pm_close_agent",
            "pm_list_issues",
            "pm_create_issue",
            "pm_update_issue"
        ]
    );
    for t in replies[1]["result"]["tools"].as_array().expect("tools") {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
    }
    assert_eq!(replies[2]["result"]["protocolVersion"], "2024-11-05");

    // The stateless revision: no handshake, discovery, the version in each request's _meta.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
    let (replies, _) = mcp(
        &repo,
        repo.path(),
        &[
            request(1, "server/discover", json!({"_meta": meta})),
            request(
                2,
                "tools/call",
                json!({"_meta": meta, "name": "pm_create_issue", "arguments": {"title": "Stateless"}}),
            ),
        ],
    );
    let versions = replies[0]["result"]["supportedVersions"]
        .as_array()
        .expect("versions");
    assert!(versions.contains(&json!("2026-07-28")) && versions.contains(&json!("2025-11-25")));
    let issue = ok(&replies[1]["result"])["issue"].clone();
    assert_eq!(issue["title"], "Stateless");
    let id = issue["id"].as_str().expect("id");
    assert_eq!(repo.record(id)["title"].as_str(), Some("Stateless"));
}

#[test]
fn issue_tools_change_the_repository_like_the_cli() {
    let repo = Repo::new();
    let created = call(
        &repo,
        repo.path(),
        "pm_create_issue",
        json!({"title": "From MCP", "priority": "high", "type": "bug", "tags": ["mcp"]}),
    );
    let id = ok(&created)["issue"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let shown = repo.pm_json(&["issue", "show", &id]);
    assert_eq!(
        shown["issue"],
        ok(&created)["issue"],
        "MCP and CLI show the same issue"
    );
    assert_eq!(repo.commit_count(&id), 1);

    let updated = call(
        &repo,
        repo.path(),
        "pm_update_issue",
        json!({"id": id[..10].to_lowercase(), "status": "in_progress", "tags": ["two"], "untags": ["mcp"]}),
    );
    assert_eq!(ok(&updated)["issue"]["status"], "in_progress");
    assert_eq!(repo.commit_count(&id), 2, "one update, one commit");
    assert_eq!(
        repo.pm_json(&["issue", "show", &id])["issue"]["tags"],
        json!(["two"])
    );

    let listed = call(&repo, repo.path(), "pm_list_issues", json!({}));
    assert_eq!(ok(&listed)["issues"][0]["id"], id.as_str());
    let listed = call(
        &repo,
        repo.path(),
        "pm_list_issues",
        json!({"status": "done"}),
    );
    assert_eq!(ok(&listed)["issues"], json!([]));

    // Failures are results a model can act on, and write nothing.
    let before = repo.refs();
    assert!(failed(&call(&repo, repo.path(), "pm_create_issue", json!({}))).contains("title"));
    assert!(
        failed(&call(
            &repo,
            repo.path(),
            "pm_create_issue",
            json!({"title": "  "})
        ))
        .contains("title")
    );
    assert!(
        failed(&call(
            &repo,
            repo.path(),
            "pm_update_issue",
            json!({"id": "ZZZZ", "title": "x"})
        ))
        .contains("ZZZZ")
    );
    let message = failed(&call(
        &repo,
        repo.path(),
        "pm_update_issue",
        json!({"id": id, "priority": "urgent"}),
    ));
    assert!(message.contains("low, medium, high"), "{message}");
    assert!(
        failed(&call(
            &repo,
            repo.path(),
            "pm_list_issues",
            json!({"all": "yes"})
        ))
        .contains("all")
    );
    assert_eq!(repo.refs(), before);
    repo.assert_fsck_clean();
}

#[test]
fn sessions_launch_inspect_and_close_through_the_tools() {
    let repo = Repo::new();
    let issue = repo.add("Login page", &[]);
    let launched = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "launch_task", "taskKey": issue, "prompt": "Build it"}),
    );
    let s = ok(&launched).clone();
    let id = s["id"].as_str().expect("id").to_string();
    assert_eq!(s["branch"], "feature/login-page");
    let worktree = s["worktree"].as_str().expect("worktree").to_string();
    let porcelain = repo.git(&["worktree", "list", "--porcelain"]);
    assert!(
        porcelain.contains(&format!("worktree {worktree}")),
        "{porcelain}"
    );
    assert_eq!(
        repo.pm_json(&["issue", "show", &issue])["issue"]["status"],
        "in_progress"
    );

    for action in ["get", "spec", "events", "prompt", "config"] {
        let result = call(
            &repo,
            repo.path(),
            "pm_session",
            json!({"action": action, "sessionUlid": id.to_lowercase()}),
        );
        let structured = ok(&result);
        assert!(structured.is_object(), "{action}: {result}");
    }
    let prompt = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "prompt", "sessionUlid": id}),
    );
    assert_eq!(ok(&prompt)["prompt"], "Build it");
    let listed = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "list", "contextRef": issue, "limit": 5}),
    );
    assert_eq!(ok(&listed)["sessions"][0]["id"], id.as_str());
    let help = call(&repo, repo.path(), "pm_session", json!({"action": "help"}));
    assert!(ok(&help)["actions"].as_array().is_some());

    // Close as idle through pm_session, then completed through pm_close_agent from a
    // subdirectory of the worktree, without an id.
    let closed = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "close", "sessionUlid": id, "status": "idle"}),
    );
    assert_eq!(ok(&closed)["status"], "idle");
    let nested = Path::new(&worktree).join("deep/er");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let done = call(
        &repo,
        &nested,
        "pm_close_agent",
        json!({"status": "completed"}),
    );
    assert_eq!(ok(&done)["status"], "completed");
    assert_eq!(ok(&done)["previous_status"], "idle");
    let cli = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(cli["session"]["status"], "completed");
    assert_eq!(
        repo.pm_json(&["issue", "show", &issue])["issue"]["status"],
        "done"
    );

    // Failures: already completed, unknown action, unknown id, not inside a worktree.
    let again = failed(&call(
        &repo,
        &nested,
        "pm_close_agent",
        json!({"status": "completed"}),
    ));
    assert!(again.contains("already completed"), "{again}");
    assert!(
        failed(&call(
            &repo,
            repo.path(),
            "pm_session",
            json!({"action": "fly"})
        ))
        .contains("fly")
    );
    assert!(
        failed(&call(
            &repo,
            repo.path(),
            "pm_session",
            json!({"action": "get", "sessionUlid": "0000"})
        ))
        .contains("0000")
    );
    let outside = failed(&call(&repo, repo.path(), "pm_close_agent", json!({})));
    assert!(outside.contains("worktree"), "{outside}");
    assert!(
        failed(&call(
            &repo,
            repo.path(),
            "pm_close_agent",
            json!({"status": "finished"})
        ))
        .contains("status")
    );

    let reactivated = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "reactivate", "sessionUlid": id}),
    );
    assert_eq!(ok(&reactivated)["status"], "idle");
    let dry = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "purge", "sessionUlid": id, "deleteFiles": true, "dryRun": true}),
    );
    assert_eq!(ok(&dry)["dry_run"], true);
    assert!(Path::new(&worktree).exists(), "a dry run deletes nothing");
    repo.assert_fsck_clean();
}

/// `force` on launch_task (a second live session on an issue) and on close (a session that is
/// active in another clone), as `--force` on the command line.
#[test]
fn force_is_needed_for_a_second_session_and_for_another_clones_session() {
    let repo = Repo::new();
    let issue = repo.add("Shared", &[]);
    let session = |args: Value| call(&repo, repo.path(), "pm_session", args);
    let first = ok(&session(json!({"action": "launch_task", "taskKey": issue})))["id"]
        .as_str()
        .expect("id")
        .to_string();
    let second = json!({"action": "launch_task", "taskKey": issue, "branch": "feature/second"});
    let refused = failed(&session(second.clone()));
    assert!(
        refused.contains(&first) && refused.contains("force"),
        "{refused}"
    );
    assert!(!repo.git(&["branch", "--list"]).contains("feature/second"));
    let mut forced = second;
    forced["force"] = json!(true);
    assert_eq!(ok(&session(forced))["status"], "active");

    // The first session now belongs to another clone, as if taken over there.
    let name = format!("refs/pm/sessions/{first}");
    let text = repo.git(&["show", &format!("{name}:session.toml")]);
    let foreign = "01BX5ZZKBKACTAV9WEVGEMMVR1";
    let text: String = text
        .lines()
        .map(|l| match l.starts_with("owner =") {
            true => format!("owner = \"{foreign}\"\n"),
            false => format!("{l}\n"),
        })
        .collect();
    let blob = repo.write_blob(&text);
    let tree = repo.git_stdin(
        &["mktree"],
        format!("100644 blob {blob}\tsession.toml\n").as_bytes(),
    );
    let old = repo.git(&["rev-parse", &name]).trim().to_string();
    let commit = repo.git(&[
        "commit-tree",
        "-m",
        "resume: taken over",
        "-p",
        &old,
        tree.trim(),
    ]);
    repo.git(&["update-ref", &name, commit.trim(), &old]);

    let close = json!({"action": "close", "sessionUlid": first, "status": "completed"});
    let refused = failed(&session(close.clone()));
    assert!(
        refused.contains(foreign) && refused.contains("force"),
        "{refused}"
    );
    assert_eq!(repo.git(&["rev-parse", &name]).trim(), commit.trim());
    let mut forced = close;
    forced["force"] = json!(true);
    assert_eq!(ok(&session(forced))["status"], "completed");
    repo.assert_fsck_clean();
}

#[test]
fn garbage_never_breaks_the_server() {
    let repo = Repo::new();
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(5 * 1024 * 1024)
    );
    let mut input = Vec::new();
    for line in [
        "{broken",
        "\u{0}\u{1}binary",
        "42",
        "[]",
        "{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\",\"arguments\":{}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"pm_session\",\"arguments\":{\"action\":7}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"pm_session\",\"arguments\":[1]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":\"x\"}",
        &big,
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}",
    ] {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    let (replies, code) = mcp_raw(&repo, repo.path(), &input);
    assert_eq!(code, Some(0));
    let codes: Vec<Value> = replies.iter().map(|r| r["error"]["code"].clone()).collect();
    assert_eq!(
        codes,
        [
            json!(-32700),
            json!(-32700),
            json!(-32600),
            json!(-32600),
            json!(-32600),
            json!(-32601),
            json!(-32602),
            Value::Null,
            json!(-32602),
            json!(-32602),
            json!(-32600),
            Value::Null,
        ],
        "{replies:?}"
    );
    assert_eq!(
        replies[7]["result"]["isError"], true,
        "a wrong argument type is a tool error"
    );
    assert_eq!(replies[11]["id"], 6);
}

/// The client goes away in the middle of a call: the server finishes the write or never starts
/// it, exits cleanly, and the record is whole.
#[test]
fn a_client_that_disconnects_leaves_no_half_written_record() {
    let repo = Repo::new();
    let issue = repo.add("Disconnect", &[]);
    let mut child = repo
        .pm_std_command(repo.path())
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pm mcp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let line = tool(
        1,
        "pm_update_issue",
        json!({"id": issue, "title": "Renamed"}),
    );
    // Half a message, then the whole one, then the pipe closes; stdout is closed unread.
    stdin
        .write_all(format!("{{\"jsonrpc\":\"2.0\",\"id\":9,\"meth\n{line}\n").as_bytes())
        .expect("write");
    drop(stdin);
    drop(child.stdout.take());
    let status = child.wait().expect("pm mcp ends");
    assert!(status.code().is_some(), "ended by a signal: {status:?}");
    let title = repo.record(&issue)["title"].as_str().map(str::to_string);
    assert!(
        matches!(title.as_deref(), Some("Disconnect" | "Renamed")),
        "{title:?}"
    );
    assert!(repo.commit_count(&issue) <= 2);
    repo.assert_fsck_clean();
}

/// The official Python SDK starts `pm mcp` inside a worktree, lists the tools and closes the
/// session as completed without naming it. CI installs the pinned SDK (`.ci/run`).
#[test]
fn the_python_sdk_closes_a_session_from_its_worktree() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the MCP Python SDK (see .ci/run)"
        );
        eprintln!("the mcp Python package is not installed; skipped");
        return;
    }
    let repo = Repo::new();
    let issue = repo.add("SDK close", &[]);
    let launched = repo.pm_json(&["agent", "launch", "--issue", &issue]);
    let id = launched["id"].as_str().expect("id");
    let worktree = launched["worktree"].as_str().expect("worktree");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .arg(common::pm_bin())
        .arg(worktree)
        .env_clear()
        .envs(common::base_env(repo.home()))
        .envs(common::identity_env());
    for var in ["PYTHONPATH", "PYENV_ROOT", "VIRTUAL_ENV"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    let output = cmd.output().expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(seen["is_error"], false, "{seen}");
    assert!(
        seen["tools"]
            .as_array()
            .expect("tools")
            .contains(&json!("pm_close_agent"))
    );
    assert_eq!(seen["structured"]["id"], id);
    assert_eq!(
        repo.pm_json(&["agent", "show", id])["session"]["status"],
        "completed"
    );
    assert_eq!(
        repo.pm_json(&["issue", "show", &issue])["issue"]["status"],
        "done"
    );
}

#[test]
fn install_adds_pm_without_clobbering_other_servers() {
    let repo = Repo::new();
    let config = repo.path().join(".mcp.json");
    std::fs::write(
        &config,
        r#"{"mcpServers": {"other": {"command": "other-server"}}, "keep": 1}"#,
    )
    .expect("write");
    let dry = repo.pm(&["mcp", "install", "--dry-run"]).ok();
    assert!(dry.stdout.contains("\"pm\""), "{}", dry.stdout);
    let untouched = std::fs::read_to_string(&config).expect("read");
    assert!(!untouched.contains("\"pm\""), "a dry run writes nothing");
    repo.pm(&["mcp", "install"]).ok();
    repo.pm(&["mcp", "install"]).ok();
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("JSON");
    assert_eq!(written["mcpServers"]["other"]["command"], "other-server");
    assert_eq!(written["mcpServers"]["pm"]["command"], "pm");
    assert_eq!(written["mcpServers"]["pm"]["args"], json!(["mcp"]));
    assert_eq!(written["keep"], 1);
    // User scope writes into HOME; a broken file is refused and left as it was.
    repo.pm(&["mcp", "install", "--scope", "user"]).ok();
    let user: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.home().join(".claude.json")).expect("read"),
    )
    .expect("JSON");
    assert_eq!(user["mcpServers"]["pm"]["command"], "pm");
    std::fs::write(&config, "{not json").expect("write");
    let line = repo.pm(&["mcp", "install"]).fails_with(1);
    assert!(line.contains(".mcp.json"), "{line}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), "{not json");
}
