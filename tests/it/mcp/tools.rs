//! `pm mcp`: JSON lines piped into the real binary, replies checked, and the repository checked
//! with `pm --json` and git to have changed exactly as the CLI would have changed it.

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

/// Issue 14 point 17: the tools that take a session take its branch too, through the same
/// resolution as the CLI.
#[test]
fn tools_name_a_session_by_its_branch() {
    let repo = Repo::new();
    let issue = repo.add("By branch", &[]);
    let doc = repo.pm_json(&["agent", "launch", "--issue", &issue]);
    let id = doc["id"].as_str().expect("id").to_string();
    let branch = "feature/by-branch";
    assert_eq!(doc["branch"], branch);
    for action in ["get", "events", "prompt", "config", "spec"] {
        let result = call(
            &repo,
            repo.path(),
            "pm_session",
            json!({"action": action, "sessionUlid": branch}),
        );
        let structured = ok(&result);
        let named = structured["id"]
            .as_str()
            .or(structured["session"]["id"].as_str());
        assert_eq!(named, Some(id.as_str()), "{action}: {result}");
    }
    let closed = call(
        &repo,
        repo.path(),
        "pm_close_agent",
        json!({"session_id": branch, "status": "completed"}),
    );
    assert_eq!(ok(&closed)["id"], id.as_str());
    let record = repo.git(&["show", &format!("refs/pm/sessions/{id}:session.toml")]);
    assert!(record.contains("status = \"completed\""), "{record}");
    let unknown = failed(&call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "get", "sessionUlid": "feature/nobody"}),
    ));
    assert!(unknown.contains("feature/nobody"), "{unknown}");
}

/// Issue 14 point 15: a dry run of `launch_task` says it would launch, and makes nothing.
#[test]
fn launch_task_dry_run_says_would_launch_and_makes_nothing() {
    let repo = Repo::new();
    let issue = repo.add("Only looking", &[]);
    let refs = repo.git(&["for-each-ref"]);
    let worktrees = repo.git(&["worktree", "list", "--porcelain"]);
    let result = call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "launch_task", "taskKey": issue, "dryRun": true}),
    );
    let structured = ok(&result);
    assert_eq!(structured["dry_run"], true);
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.starts_with("Would launch session "), "{text}");
    assert!(!text.contains("Launched"), "{text}");
    assert_eq!(repo.git(&["for-each-ref"]), refs, "nothing was written");
    assert_eq!(repo.git(&["worktree", "list", "--porcelain"]), worktrees);
    assert!(!repo.root().join("repo.worktrees").exists());
}

/// Issue 14 point 15: `purge` deletes the worktree and branch this clone made unless
/// `deleteFiles` is false, and still refuses uncommitted changes.
#[test]
fn purge_deletes_files_by_default_but_never_uncommitted_work() {
    let repo = Repo::new();
    std::fs::write(repo.path().join("README"), "base\n").expect("write");
    repo.git(&["add", "README"]);
    repo.git(&["commit", "-q", "-m", "readme"]);
    let mut launched = Vec::new();
    for branch in ["feature/kept", "feature/gone", "feature/dirty"] {
        let doc = repo.pm_json(&["agent", "launch", "--branch", branch]);
        let id = doc["id"].as_str().expect("id").to_string();
        repo.pm_ok(&["agent", "close", &id]);
        launched.push((id, doc["worktree"].as_str().expect("worktree").to_string()));
    }
    let purge = |id: &str, extra: Value| {
        let mut args = json!({"action": "purge", "sessionUlid": id});
        args.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        call(&repo, repo.path(), "pm_session", args)
    };
    let worktree_listed = |path: &str| {
        repo.git(&["worktree", "list", "--porcelain"])
            .contains(&format!("worktree {path}\n"))
    };
    let has_branch = |branch: &str| repo.branch_exists(branch);

    // Explicitly false: the record goes, the files stay.
    let (id, path) = &launched[0];
    ok(&purge(id, json!({"deleteFiles": false})));
    assert!(worktree_listed(path) && has_branch("feature/kept"));

    // Not given: worktree and branch are deleted.
    let (id, path) = &launched[1];
    let structured = ok(&purge(id, json!({}))).clone();
    assert_eq!(structured["removed_worktree"], path.as_str());
    assert_eq!(structured["deleted_branch"], "feature/gone");
    assert!(!worktree_listed(path) && !Path::new(path).exists());
    assert!(!has_branch("feature/gone"));

    // Not given, but the worktree has uncommitted changes: refused, nothing changes.
    let (id, path) = &launched[2];
    std::fs::write(Path::new(path).join("README"), "unsaved\n").expect("write");
    let refs = repo.git(&["for-each-ref"]);
    let message = failed(&purge(id, json!({})));
    assert!(message.contains("uncommitted"), "{message}");
    assert_eq!(repo.git(&["for-each-ref"]), refs);
    assert!(worktree_listed(path) && has_branch("feature/dirty"));
    assert_eq!(
        std::fs::read_to_string(Path::new(path).join("README")).expect("kept"),
        "unsaved\n"
    );
    repo.assert_fsck_clean();
}

/// Issue 14 point 15: `list` returns at most 200 sessions (the newest) unless `limit` says
/// otherwise. The 205 records are written with `git fast-import`, as another clone's.
#[test]
fn list_returns_the_newest_200_sessions_by_default() {
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let repo = Repo::new();
    let mut stream = String::new();
    let mut ids = Vec::new();
    for n in 0..205usize {
        let suffix: String = [n / 1024, (n / 32) % 32, n % 32]
            .iter()
            .map(|d| CROCKFORD[*d] as char)
            .collect();
        let id = format!("01ARZ3NDEKTSV4RRFFQ69G5{suffix}");
        let text = format!(
            "schema = 1\nid = \"{id}\"\nbranch = \"b/{n}\"\n\
             base = \"{}\"\nbase_ref = \"main\"\nstatus = \"idle\"\nagent = \"claude\"\n\
             role = \"\"\nprompt = \"\"\nactor = \"\"\nowner = \"01BX5ZZKBKACTAV9WEVGEMMVR1\"\n\
             started = \"2020-01-01T00:{:02}:{:02}Z\"\nupdated = \"2020-01-01T00:00:00Z\"\n\
             epoch = 0\ncommits = 0\n",
            "0".repeat(40),
            n / 60,
            n % 60
        );
        stream.push_str(&format!(
            "commit refs/pm/sessions/{id}\ncommitter T <t@e> 1577836800 +0000\n\
             data 6\nlaunch\nM 100644 inline session.toml\ndata {}\n{text}\n",
            text.len()
        ));
        ids.push(id);
    }
    repo.git_stdin(&["fast-import", "--quiet"], stream.as_bytes());
    let count = repo
        .git(&["for-each-ref", "refs/pm/sessions/"])
        .lines()
        .count();
    assert_eq!(count, 205);

    let listed = |arguments: Value| -> Vec<String> {
        let result = call(&repo, repo.path(), "pm_session", arguments);
        ok(&result)["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect()
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed(json!({"action": "list"})), newest_first[..200]);
    assert_eq!(
        listed(json!({"action": "list", "limit": 300})),
        newest_first
    );
    assert_eq!(
        listed(json!({"action": "list", "limit": 3})),
        newest_first[..3]
    );
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
        json!({"action": "launch_task", "taskKey": issue, "prompt": "p".repeat(400 * 1024)}),
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

/// Issue 14 point 19: `pm mcp status` says where pm is registered (.mcp.json, ~/.claude.json
/// and its per-folder entries), with which command, and whether that command runs; it never
/// runs a program of the repository named by a committed file.
#[test]
fn status_says_where_pm_is_registered_and_whether_its_command_runs() {
    let repo = Repo::new();
    let bin = repo.scratch_dir("bin");
    std::os::unix::fs::symlink(common::pm_bin(), bin.join("pm")).expect("symlink");
    let empty_bin = repo.scratch_dir("empty-bin");
    let status_in = |dir: &Path, path: &Path| {
        let path = path.to_str().expect("UTF-8 path");
        let run = repo
            .pm_full(dir, &[("PATH", path)], &["--json", "mcp", "status"])
            .ok();
        run.json()
    };
    let status = |path: &Path| status_in(repo.path(), path);
    let place = |doc: &Value, scope: &str, n: usize| -> Value {
        doc["places"]
            .as_array()
            .expect("places")
            .iter()
            .filter(|p| p["scope"] == scope)
            .nth(n)
            .unwrap_or_else(|| panic!("no place {scope} #{n} in {doc}"))
            .clone()
    };

    // Nowhere yet.
    let doc = status(&bin);
    assert_eq!(doc["registered"], false);
    assert_eq!(doc["works"], false);
    let scopes: Vec<&str> = doc["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["project", "user", "local"]);
    assert_eq!(place(&doc, "project", 0)["state"], "no_file");
    let claude = repo.home().join(".claude.json");
    assert_eq!(place(&doc, "user", 0)["file"], claude.to_str().unwrap());
    let text = repo
        .pm_full(repo.path(), &[], &["mcp", "status"])
        .ok()
        .stdout;
    assert!(
        text.contains("not registered") && text.contains("pm mcp install"),
        "{text}"
    );

    // `pm mcp install` writes .mcp.json; `pm` on PATH runs, and is found there.
    repo.pm_ok(&["mcp", "install"]);
    let doc = status(&bin);
    let project = place(&doc, "project", 0);
    assert_eq!(project["state"], "registered");
    assert_eq!(
        project["file"],
        repo.path().join(".mcp.json").to_str().unwrap()
    );
    assert_eq!(project["command"], "pm");
    assert_eq!(project["args"], json!(["mcp"]));
    assert_eq!(project["check"]["path"], bin.join("pm").to_str().unwrap());
    assert_eq!(project["check"]["runs"], true);
    assert_eq!(
        project["check"]["version"],
        format!("pm {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        (doc["registered"].clone(), doc["works"].clone()),
        (json!(true), json!(true))
    );
    // Without pm on PATH the same registration does not work.
    let doc = status(&empty_bin);
    let project = place(&doc, "project", 0);
    assert_eq!(project["check"]["runs"], false);
    assert!(
        project["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("not found on PATH")
    );
    assert_eq!(doc["works"], false);

    // The user file: a command that hangs is stopped, a missing one is named; the per-folder
    // entry is read too.
    let tools = repo.scratch_dir("tools");
    let slow = tools.join("slow-pm");
    let sleep = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|dir| dir.join("sleep"))
        .find(|p| p.is_file())
        .expect("sleep is installed");
    std::fs::write(&slow, format!("#!/bin/sh\nexec {} 30\n", sleep.display())).expect("write");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let user = json!({
        "mcpServers": {"pm": {"command": slow, "args": ["mcp"]}, "other": {"command": "x"}},
        "projects": {repo.path().to_str().unwrap(): {"mcpServers": {"pm": {"command": "/no/such/pm"}}}},
    });
    std::fs::write(&claude, user.to_string()).expect("write");
    let started = std::time::Instant::now();
    let doc = status(&bin);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "not bounded"
    );
    let user = place(&doc, "user", 0);
    assert_eq!(user["state"], "registered");
    assert_eq!(user["check"]["runs"], false);
    assert!(
        user["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("did not finish"),
        "{user}"
    );
    let local = place(&doc, "local", 0);
    assert_eq!(local["project"], repo.path().to_str().unwrap());
    assert_eq!(local["command"], "/no/such/pm");
    assert!(
        local["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("not an executable"),
        "{local}"
    );
    assert_eq!(doc["works"], false);
    let text = repo
        .pm_full(
            repo.path(),
            &[("PATH", bin.to_str().unwrap())],
            &["mcp", "status"],
        )
        .ok()
        .stdout;
    assert!(
        text.contains("registered in 3 places") && text.contains("of 2 does not run"),
        "{text}"
    );

    // A committed .mcp.json naming a program of the repository: found, never run.
    let marker = repo.root().join("it-ran");
    std::fs::write(
        repo.path().join("evil.sh"),
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    )
    .expect("write");
    std::fs::set_permissions(
        repo.path().join("evil.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::write(
        repo.path().join(".mcp.json"),
        r#"{"mcpServers": {"pm": {"command": "./evil.sh", "args": ["mcp"]}}}"#,
    )
    .expect("write");
    repo.git(&["add", ".mcp.json", "evil.sh"]);
    repo.git(&["commit", "-q", "-m", "register"]);
    std::fs::write(&claude, "{not json").expect("write");
    let doc = status(&bin);
    let project = place(&doc, "project", 0);
    assert!(
        project["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("not run"),
        "{project}"
    );
    assert!(
        !marker.exists(),
        "pm ran a program named by a committed file"
    );
    let user = place(&doc, "user", 0);
    assert_eq!(user["state"], "unreadable");
    assert!(
        user["problem"].as_str().unwrap().contains("not valid JSON"),
        "{user}"
    );

    // Inside a session's worktree: its own .mcp.json is reported (committed, so it is there).
    std::fs::remove_file(&claude).expect("remove");
    repo.pm_ok(&["mcp", "install"]);
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/tool"]);
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    let doc = status_in(&worktree, &bin);
    let here = place(&doc, "worktree", 0);
    assert_eq!(here["file"], worktree.join(".mcp.json").to_str().unwrap());
    assert_eq!(
        here["command"], "./evil.sh",
        "the committed file, not the one just installed"
    );
    assert_eq!(
        repo.git_in(&worktree, &["ls-files", ".mcp.json"]),
        ".mcp.json\n"
    );
    assert_eq!(place(&doc, "project", 0)["command"], "pm");
    assert_eq!(place(&doc, "project", 0)["check"]["runs"], true);
    assert_eq!(
        place(&doc, "local", 1)["project"],
        worktree.to_str().unwrap()
    );
    assert!(!marker.exists());
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

/// A refusal's hint names the setting in the caller's own vocabulary: flags on the command
/// line, arguments over MCP (never the other's).
#[test]
fn hints_name_flags_on_the_command_line_and_arguments_over_mcp() {
    let repo = Repo::new();
    let id = repo.add("Hinted", &[]);
    let line = repo.pm(&["issue", "update", &id]).fails_with(2);
    assert!(line.contains("--tag") && line.contains("--untag"), "{line}");
    let text = failed(&call(
        &repo,
        repo.path(),
        "pm_update_issue",
        json!({"id": id}),
    ));
    assert!(text.contains("tags") && text.contains("untags"), "{text}");
    assert!(!text.contains("--"), "{text}");

    let doc = repo.pm_json(&["agent", "launch", "--issue", &id, "--branch", "first"]);
    assert!(doc["id"].is_string());
    let line = repo
        .pm(&["agent", "launch", "--issue", &id, "--branch", "second"])
        .fails_with(1);
    assert!(line.contains("give --force"), "{line}");
    let text = failed(&call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "launch_task", "taskKey": id, "branch": "second"}),
    ));
    assert!(
        text.contains("give force") && !text.contains("--"),
        "{text}"
    );
}

/// Assert that `mcp` (a tool's `structuredContent`) is the CLI's `--json` document `cli`: every
/// key with the same value (but those in `ignore`, which must still be there), and no other key
/// but those in `extras`.
#[track_caller]
fn same_document(what: &str, cli: &Value, mcp: &Value, extras: &[&str], ignore: &[&str]) {
    // A live session's duration is counted to the second the document was made.
    let (cli, mcp) = (&without_durations(cli), &without_durations(mcp));
    let (Some(cli), Some(mcp)) = (cli.as_object(), mcp.as_object()) else {
        panic!("{what}: not two objects: {cli} / {mcp}");
    };
    for (key, value) in cli {
        let Some(theirs) = mcp.get(key) else {
            panic!("{what}: MCP lacks {key:?}: {mcp:?}");
        };
        if !ignore.contains(&key.as_str()) {
            assert_eq!(theirs, value, "{what}: {key} differs");
        }
    }
    for key in mcp.keys() {
        assert!(
            cli.contains_key(key) || extras.contains(&key.as_str()),
            "{what}: MCP has {key:?}, which --json lacks"
        );
    }
}

/// `value` without its `duration` keys, at any depth.
fn without_durations(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "duration")
                .map(|(k, v)| (k.clone(), without_durations(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_durations).collect()),
        other => other.clone(),
    }
}

/// The README promises that each tool's `structuredContent` is the matching command's `--json`
/// document, plus the warnings the command prints on stderr (and `spec`'s whole record).
#[test]
fn structured_content_is_the_cli_json_document() {
    let repo = Repo::new();
    let dir = repo.path();
    let session = |args: Value| ok(&call(&repo, dir, "pm_session", args)).clone();

    // Issues: created and updated twice the same way through each front end.
    let cli = repo.pm_json(&["issue", "add", "--title", "Twin", "--tag", "t"]);
    let mcp = ok(&call(
        &repo,
        dir,
        "pm_create_issue",
        json!({"title": "Twin", "tags": ["t"]}),
    ))
    .clone();
    same_document("create", &cli, &mcp, &[], &["issue"]);
    same_document(
        "created issue",
        &cli["issue"],
        &mcp["issue"],
        &[],
        &["id", "created", "updated"],
    );
    let (a, b) = (id_of(&cli), id_of(&mcp));
    for round in ["changed", "unchanged"] {
        let cli = repo.pm_json(&["issue", "update", &a, "--priority", "high"]);
        let mcp = ok(&call(
            &repo,
            dir,
            "pm_update_issue",
            json!({"id": b, "priority": "high"}),
        ))
        .clone();
        assert_eq!(cli["changed"], round == "changed");
        same_document(round, &cli, &mcp, &[], &["issue"]);
    }
    same_document(
        "list issues",
        &repo.pm_json(&["issue", "list", "--all"]),
        ok(&call(&repo, dir, "pm_list_issues", json!({"all": true}))),
        &[],
        &[],
    );

    // Sessions: a dry-run launch from the same state, then real ones.
    same_document(
        "dry-run launch",
        &repo.pm_json(&["agent", "launch", "--issue", &a, "--dry-run"]),
        &session(json!({"action": "launch_task", "taskKey": a, "dryRun": true})),
        &["warnings"],
        &["id"],
    );
    let cli = repo.pm_json(&["agent", "launch", "--issue", &a, "--prompt", "p"]);
    let mcp =
        session(json!({"action": "launch_task", "taskKey": b, "branch": "twin-b", "prompt": "p"}));
    same_document(
        "launch",
        &cli,
        &mcp,
        &["warnings"],
        &["id", "issue", "branch", "worktree"],
    );
    let (sa, sb) = (cli["id"].as_str().unwrap(), mcp["id"].as_str().unwrap());
    same_document(
        "list",
        &repo.pm_json(&["agent", "list"]),
        &session(json!({"action": "list"})),
        &[],
        &[],
    );
    let shown = repo.pm_json(&["agent", "show", sa]);
    same_document(
        "get",
        &shown,
        &session(json!({"action": "get", "sessionUlid": sa})),
        &[],
        &[],
    );
    same_document(
        "spec",
        &shown,
        &session(json!({"action": "spec", "sessionUlid": sa})),
        &["record"],
        &[],
    );
    same_document(
        "events",
        &repo.pm_json(&["agent", "events", sa]),
        &session(json!({"action": "events", "sessionUlid": sa})),
        &[],
        &[],
    );
    same_document(
        "dry-run close",
        &repo.pm_json(&["agent", "close", sa, "--done", "--dry-run"]),
        &session(
            json!({"action": "close", "sessionUlid": sa, "status": "completed", "dryRun": true}),
        ),
        &["warnings"],
        &[],
    );
    let cli = repo.pm_json(&["agent", "close", sa, "--done"]);
    let mcp = ok(&call(
        &repo,
        dir,
        "pm_close_agent",
        json!({"session_id": sb, "status": "completed"}),
    ))
    .clone();
    same_document("close", &cli, &mcp, &["warnings"], &["id", "issue"]);
    same_document(
        "dry-run reactivate",
        &repo.pm_json(&["agent", "reactivate", sa, "--dry-run"]),
        &session(json!({"action": "reactivate", "sessionUlid": sa, "dryRun": true})),
        &["warnings"],
        &[],
    );
    same_document(
        "dry-run purge",
        &repo.pm_json(&["agent", "purge", sa, "--delete-files", "--dry-run"]),
        &session(json!({"action": "purge", "sessionUlid": sa, "dryRun": true})),
        &["warnings"],
        &[],
    );
    same_document(
        "list all",
        &repo.pm_json(&["agent", "list", "--all"]),
        &session(json!({"action": "list", "status": "all"})),
        &[],
        &[],
    );
}
