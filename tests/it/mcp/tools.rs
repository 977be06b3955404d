//! The MCP tools change the repository as the CLI does.

use super::*;

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
        json!({"action": "launch_task", "taskKey": issue, "prompt": "Build it", "run": false}),
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
    let first = ok(&session(
        json!({"action": "launch_task", "taskKey": issue, "run": false}),
    ))["id"]
        .as_str()
        .expect("id")
        .to_string();
    let second = json!({"action": "launch_task", "taskKey": issue, "branch": "feature/second", "run": false});
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
fn a_task_key_that_names_no_issue_is_context_and_one_that_names_an_issue_is_the_issue() {
    let repo = Repo::new();
    let issue = repo.add("Login page", &[]);
    let session = |arguments: Value| call(&repo, repo.path(), "pm_session", arguments);
    // Free text with no branch: the launch needs one, and says so in one line.
    let text = failed(&session(
        json!({"action": "launch_task", "taskKey": "JIRA-77 fix login", "run": false}),
    ));
    assert!(
        text.starts_with("taskKey \"JIRA-77 fix login\" names no issue; give a branch"),
        "{text}"
    );
    assert_eq!(repo.record_ids(common::Kind::Session), Vec::<String>::new());

    let launched = ok(&session(json!({
        "action": "launch_task", "taskKey": "JIRA-77 fix login", "branch": "jira-77",
        "run": false, "actor": "planner"
    })))
    .clone();
    assert_eq!(launched["issue"], Value::Null, "{launched}");
    assert_eq!(
        launched["warnings"],
        json!([
            "taskKey \"JIRA-77 fix login\" names no issue, and no agent was started to give it to"
        ])
    );
    let id = launched["id"].as_str().unwrap();
    let record = repo.record_of(common::Kind::Session, id);
    assert_eq!(record["actor"].as_str(), Some("planner"));
    assert!(record.get("issue").is_none(), "{record:?}");

    // An id prefix of an issue, as contextRef: the issue.
    let prefix = &issue[..issue.len() - 4];
    let launched = ok(&session(
        json!({"action": "launch_task", "contextRef": prefix.to_lowercase(), "run": false}),
    ))
    .clone();
    assert_eq!(launched["issue"], issue.as_str(), "{launched}");
    assert_eq!(launched["warnings"], json!([]), "{launched}");
    // Two different issues, or an actor of two lines: refused.
    let other = repo.add("Other", &[]);
    let text = failed(&session(json!({
        "action": "launch_task", "taskKey": issue, "contextRef": other, "run": false
    })));
    assert!(text.contains("two different issues"), "{text}");
    let text = failed(&session(json!({
        "action": "launch_task", "taskKey": other, "actor": "a\nb", "run": false
    })));
    assert!(text.contains("actor"), "{text}");
}
