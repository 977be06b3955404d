//! The MCP server itself: protocol generations, garbage input, clients that disconnect.

use super::*;

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
            "pm_get_issue",
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

/// A prompt larger than a session record may hold is refused before a branch, a worktree or
/// a record is made (it used to make all three, and a record that could not be read back).
#[test]
fn launch_task_with_a_prompt_too_large_for_a_record_makes_nothing() {
    let repo = Repo::new();
    let issue = repo.add("Enormous prompt", &[]);
    let refs = repo.git(&["for-each-ref"]);
    let worktrees = repo.git(&["worktree", "list", "--porcelain"]);
    let result = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "launch_task", "taskKey": issue, "prompt": "p".repeat(400 * 1024), "run": false}),
    );
    let message = failed(&result);
    assert!(
        message.contains("the prompt is 409600 bytes; a session holds at most 64 KiB of prompt"),
        "{message}"
    );
    assert_eq!(repo.git(&["for-each-ref"]), refs, "no branch, no record");
    assert_eq!(repo.git(&["worktree", "list", "--porcelain"]), worktrees);
    assert!(
        !repo.root().join("repo.worktrees").exists(),
        "no worktree folder"
    );
    assert!(
        !repo.path().join(".git/pm/sessions").exists(),
        "no local note"
    );
    assert_eq!(
        repo.pm_json(&["issue", "show", &issue])["issue"]["status"],
        "open"
    );
    repo.assert_fsck_clean();
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
