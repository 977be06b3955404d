//! MCP results are the CLI's documents; hints speak each front end's vocabulary.

use super::*;

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
        json!({"action": "launch_task", "taskKey": id, "branch": "second", "run": false}),
    ));
    assert!(
        text.contains("give force") && !text.contains("--"),
        "{text}"
    );

    // A way on is an operation: a command on the command line, a tool action over MCP.
    let first = doc["id"].as_str().expect("id");
    repo.pm_ok(&["agent", "close", first, "--done"]);
    let line = repo
        .pm(&["agent", "launch", "--branch", "first"])
        .fails_with(1);
    assert!(
        line.contains(&format!(
            "`pm agent purge {first} --delete-files` removes its worktree"
        )),
        "{line}"
    );
    let text = failed(&call(
        &repo,
        repo.path(),
        "pm_session",
        json!({"action": "launch_task", "taskKey": id, "branch": "first", "run": false}),
    ));
    assert!(
        text.contains(&format!(
            "pm_session with action reactivate and sessionUlid {first} resumes it"
        )) && !text.contains("pm agent"),
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
/// document (`spec` adds the whole record): both are built from the same views, so every key is
/// there in both and has the same value (ids, paths and times of different records aside).
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
        "show issue",
        &repo.pm_json(&["issue", "show", &a]),
        ok(&call(&repo, dir, "pm_get_issue", json!({"id": a}))),
        &[],
        &[],
    );
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
        &[],
        &["id"],
    );
    let cli = repo.pm_json(&["agent", "launch", "--issue", &a, "--prompt", "p"]);
    let mcp = session(
        json!({"action": "launch_task", "taskKey": b, "branch": "twin-b", "prompt": "p", "run": false}),
    );
    same_document(
        "launch",
        &cli,
        &mcp,
        &[],
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
        &[],
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
    same_document("close", &cli, &mcp, &[], &["id", "issue"]);
    same_document(
        "dry-run reactivate",
        &repo.pm_json(&["agent", "reactivate", sa, "--dry-run"]),
        &session(json!({"action": "reactivate", "sessionUlid": sa, "dryRun": true})),
        &[],
        &[],
    );
    let cli = repo.pm_json(&["agent", "reactivate", sa]);
    let mcp = session(json!({"action": "reactivate", "sessionUlid": sb}));
    assert_eq!(cli["status"], "idle");
    // The warning names each one's own issue.
    assert_eq!(cli["warnings"].as_array().map(Vec::len), Some(1), "{cli}");
    assert_eq!(mcp["warnings"].as_array().map(Vec::len), Some(1), "{mcp}");
    same_document("reactivate", &cli, &mcp, &[], &["id", "issue", "warnings"]);
    same_document(
        "dry-run purge",
        &repo.pm_json(&["agent", "purge", sa, "--delete-files", "--dry-run"]),
        &session(json!({"action": "purge", "sessionUlid": sa, "dryRun": true})),
        &[],
        &[],
    );
    same_document(
        "list all",
        &repo.pm_json(&["agent", "list", "--all"]),
        &session(json!({"action": "list", "status": "all"})),
        &[],
        &[],
    );
    let cli = repo.pm_json(&["agent", "purge", sa, "--delete-files"]);
    let mcp = session(json!({"action": "purge", "sessionUlid": sb}));
    for purged in [&cli, &mcp] {
        assert!(purged["removed_worktree"].is_string(), "{purged}");
        assert!(purged["deleted_branch"].is_string(), "{purged}");
    }
    same_document(
        "purge",
        &cli,
        &mcp,
        &[],
        &["id", "removed_worktree", "deleted_branch"],
    );
    let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/heads/"]);
    assert!(!refs.contains("twin"), "both branches deleted: {refs}");
}
