//! Sessions over HTTP: the routes of the lifecycle pm replaces (`/agent/close`, `/agent/launch`,
//! `/agent/resume`) and `/sessions` (list with filters and pages, show, events, close,
//! reactivate, purge), reconcile, the overview, and projects.

use super::*;
use crate::common::Kind;
use serde_json::json;

/// A repository with one issue; returns it and the issue's id.
fn with_issue(title: &str) -> (Repo, String) {
    let repo = Repo::new();
    let issue = repo.add(title, &[]);
    (repo, issue)
}

#[test]
fn launch_then_close_completed_completes_the_session_and_marks_its_issue_done() {
    let (repo, issue) = with_issue("Add user login");
    let server = Served::start(&repo, &[]);
    let launched = server
        .post("/api/v1/agent/launch", &json!({"issue": issue}))
        .ok();
    let id = launched["id"].as_str().expect("an id").to_string();
    assert_eq!(launched["status"], "active");
    assert_eq!(launched["branch"], "feature/add-user-login");
    assert_eq!(launched["run"], Value::Null);
    // The same document as the command line's, and git holds what it says.
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    assert!(repo.branch_exists("feature/add-user-login"));
    let worktree = launched["worktree"].as_str().unwrap();
    assert!(
        repo.git(&["worktree", "list", "--porcelain"])
            .contains(&format!("worktree {worktree}\n")),
    );

    let closed = server
        .post(
            "/api/v1/agent/close",
            &json!({"session_id": id, "status": "completed"}),
        )
        .ok();
    assert_eq!(closed["status"], "completed");
    assert_eq!(closed["previous_status"], "active");
    assert_eq!(closed["changed"], true);
    assert_eq!(repo.status_of(Kind::Session, &id), "completed");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    let shown = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(shown["session"]["status"], "completed");
    repo.assert_fsck_clean();
}

#[test]
fn agent_close_is_idle_by_default_and_refuses_what_the_cli_refuses() {
    let (repo, issue) = with_issue("Pause me");
    let id = repo.pm_json(&["agent", "launch", "--issue", &issue])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Served::start(&repo, &[]);
    let doc = server
        .post("/api/v1/agent/close", &json!({"session_id": id}))
        .ok();
    assert_eq!(doc["status"], "idle");
    assert_eq!(repo.status_of(Kind::Session, &id), "idle");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    // Idle again: said, not refused (as `pm agent close`).
    let again = server
        .post("/api/v1/agent/close", &json!({"session_id": id}))
        .ok();
    assert_eq!(again["changed"], false);

    // A dry run writes nothing.
    let before = repo.refs();
    let dry = server
        .post(
            "/api/v1/agent/close",
            &json!({"session_id": id, "status": "abandoned", "dry_run": true}),
        )
        .ok();
    assert_eq!(
        (dry["dry_run"].clone(), dry["status"].clone()),
        (json!(true), json!("abandoned"))
    );
    assert_eq!(repo.refs(), before);

    // Failures: each with its status and the core's code.
    let bad_status = server.post(
        "/api/v1/agent/close",
        &json!({"session_id": id, "status": "finished"}),
    );
    let (code, message) = bad_status.error(400);
    assert_eq!(code, "usage");
    assert!(
        message.contains("idle, completed or abandoned"),
        "{message}"
    );
    let (code, _) = server
        .post(
            "/api/v1/agent/close",
            &json!({"session_id": "nosuchbranch"}),
        )
        .error(404);
    assert_eq!(code, "not_found");
    let (code, message) = server
        .post("/api/v1/agent/close", &json!({"status": "idle"}))
        .error(422);
    assert_eq!(code, "usage");
    assert!(message.contains("session_id"), "{message}");
    server
        .post(
            "/api/v1/agent/close",
            &json!({"session_id": id, "status": "abandoned"}),
        )
        .ok();
    let (code, message) = server
        .post(
            "/api/v1/agent/close",
            &json!({"session_id": id, "status": "completed"}),
        )
        .error(409);
    assert_eq!(code, "conflict");
    assert!(message.contains("abandoned"), "{message}");
    assert_eq!(repo.status_of(Kind::Session, &id), "abandoned");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");
}

#[test]
fn launch_resumes_the_idle_session_of_its_branch_and_resume_takes_an_idle_one() {
    let repo = Repo::new();
    let server = Served::start(&repo, &[]);
    let first = server
        .post("/api/v1/agent/launch", &json!({"branch": "work"}))
        .ok();
    let id = first["id"].as_str().unwrap().to_string();
    server
        .post("/api/v1/agent/close", &json!({"session_id": id}))
        .ok();
    // Launch on the branch of an idle session: the same session, active again.
    let again = server
        .post("/api/v1/agent/launch", &json!({"branch": "work"}))
        .ok();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["resumed"], true);
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    // An active session cannot be launched on again, nor resumed.
    let (code, _) = server
        .post("/api/v1/agent/launch", &json!({"branch": "work"}))
        .error(409);
    assert_eq!(code, "conflict");
    let (code, _) = server
        .post("/api/v1/agent/resume", &json!({"session_id": id}))
        .error(409);
    assert_eq!(code, "conflict");
    server
        .post("/api/v1/agent/close", &json!({"session_id": "work"}))
        .ok();
    let resumed = server
        .post("/api/v1/agent/resume", &json!({"session_id": id}))
        .ok();
    assert_eq!(
        (resumed["id"].clone(), resumed["resumed"].clone()),
        (json!(id), json!(true))
    );
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    // Launch failures: nothing to launch on, an unknown issue, a bad branch name.
    let (code, _) = server.post("/api/v1/agent/launch", &json!({})).error(400);
    assert_eq!(code, "usage");
    let (code, _) = server
        .post("/api/v1/agent/launch", &json!({"issue": "01ARZ3NDEK"}))
        .error(404);
    assert_eq!(code, "not_found");
    let (code, message) = server
        .post("/api/v1/agent/launch", &json!({"branch": "a..b"}))
        .error(400);
    assert_eq!(code, "usage");
    assert!(message.contains("a..b"), "{message}");
    // A launch with an agent that cannot run is refused before anything is made.
    let before = repo.refs();
    let (code, _) = server
        .post(
            "/api/v1/agent/launch",
            &json!({"branch": "other", "agent": "nosuchagent", "run": true}),
        )
        .error(400);
    assert_eq!(code, "usage");
    assert_eq!(repo.refs(), before);
    assert!(!repo.branch_exists("other"));
}

#[test]
fn the_session_list_filters_by_status_and_issue_and_pages_with_a_cursor() {
    let (repo, issue) = with_issue("Paged");
    let mut ids = Vec::new();
    for n in 0..5 {
        // Each a second apart, so that newest first is a known order.
        let branch = format!("b{n}");
        let secs = (1_800_000_000 + n).to_string();
        let mut args = vec!["--json", "agent", "launch", "--branch", &branch];
        if n == 2 {
            args.extend(["--issue", &issue]);
        }
        let doc = repo
            .pm_full(repo.path(), &[("PM_NOW", &secs)], &args)
            .ok()
            .json();
        ids.push(doc["id"].as_str().unwrap().to_string());
    }
    repo.pm_ok(&["agent", "close", &ids[0], "--done"]);
    repo.pm_ok(&["agent", "close", &ids[1]]);
    let server = Served::start(&repo, &[]);
    let listed = |query: &str| -> Vec<String> {
        server.get(&format!("/api/v1/sessions{query}")).ok()["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let newest: Vec<String> = ids.iter().rev().cloned().collect();
    // Every session by default, newest first; as `pm agent history` lists them.
    assert_eq!(listed(""), newest);
    let history: Vec<String> = repo.pm_json(&["agent", "history"])["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, newest);
    assert_eq!(listed("?status=completed"), [ids[0].clone()]);
    assert_eq!(
        listed("?status=idle,completed"),
        [ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(listed("?status=live"), newest[..4].to_vec());
    assert_eq!(listed("?status=all"), newest);
    assert_eq!(
        listed(&format!("?issue={}", &issue[..10])),
        [ids[2].clone()]
    );

    // Pages of two: each with the total and where the next one starts.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let page = server.get(&format!("/api/v1/sessions{query}")).ok();
        assert_eq!(page["total"], 5, "{page}");
        seen.extend(
            page["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, newest);
    assert_eq!(cursor, None);
    // A session purged meanwhile does not move the pages after it.
    let first = server.get("/api/v1/sessions?limit=2").ok();
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    repo.pm_ok(&["agent", "purge", &ids[3], "--force"]);
    let second = server
        .get(&format!("/api/v1/sessions?limit=2&cursor={cursor}"))
        .ok();
    let second: Vec<&str> = second["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(second, [ids[2].as_str(), ids[1].as_str()]);

    // Refusals: each names what is wrong.
    for (query, word) in [
        ("?status=finished", "status"),
        ("?limit=0", "limit"),
        ("?limit=x", "limit"),
        ("?cursor=nonsense", "cursor"),
        ("?stauts=idle", "stauts"),
        ("?status=idle&status=active", "twice"),
    ] {
        let (code, message) = server.get(&format!("/api/v1/sessions{query}")).error(400);
        assert_eq!(code, "usage", "{query}");
        assert!(message.contains(word), "{query}: {message}");
    }
    let (code, _) = server.get("/api/v1/sessions?issue=01ARZ3NDEK").error(404);
    assert_eq!(code, "not_found");
}

#[test]
fn a_session_shows_its_record_its_events_and_the_same_documents_as_the_cli() {
    let (repo, issue) = with_issue("Shown");
    let id = repo.pm_json(&["agent", "launch", "--issue", &issue, "--branch", "shown"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(repo.root().join("repo.worktrees/shown/new.txt"), "x").unwrap();
    repo.git_in(
        &repo.root().join("repo.worktrees/shown"),
        &["add", "new.txt"],
    );
    let server = Served::start(&repo, &[]);
    let shown = server.get(&format!("/api/v1/sessions/{}", &id[..10])).ok();
    let cli = repo.pm_json(&["agent", "show", &id]);
    // The same document, but for what changes with the clock.
    let strip = |mut doc: Value| {
        doc["session"]["duration"] = Value::Null;
        doc
    };
    assert_eq!(strip(shown.clone()), strip(cli));
    assert_eq!(shown["dirty"], true);
    // By branch, too.
    let by_branch = server.get("/api/v1/sessions/shown").ok();
    assert_eq!(by_branch["session"]["id"], json!(id));
    let events = server.get(&format!("/api/v1/sessions/{id}/events")).ok();
    assert_eq!(events["id"], json!(id));
    assert_eq!(events["events"][0]["message"], "launch: active on shown");
    assert_eq!(events["run_events"], json!([]));
    let (code, _) = server.get("/api/v1/sessions/nosuch").error(404);
    assert_eq!(code, "not_found");
    let (code, _) = server.get("/api/v1/sessions/nosuch/events").error(404);
    assert_eq!(code, "not_found");
    let (code, message) = server.get("/api/v1/sessions/a..b").error(400);
    assert_eq!(code, "usage");
    assert!(message.contains("a..b"), "{message}");
}

#[test]
fn reactivate_and_purge_change_the_record_as_the_cli_would() {
    let (repo, issue) = with_issue("Back again");
    let id = repo.pm_json(&["agent", "launch", "--issue", &issue, "--branch", "back"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Served::start(&repo, &[]);
    let (code, _) = server
        .post(&format!("/api/v1/sessions/{id}/reactivate"), &json!({}))
        .error(409);
    assert_eq!(code, "conflict");
    server
        .post(
            &format!("/api/v1/sessions/{id}/close"),
            &json!({"status": "abandoned"}),
        )
        .ok();
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");
    let doc = server
        .post(&format!("/api/v1/sessions/{id}/reactivate"), &json!({}))
        .ok();
    assert_eq!(
        (doc["status"].clone(), doc["previous_status"].clone()),
        (json!("idle"), json!("abandoned"))
    );
    assert_eq!(repo.status_of(Kind::Session, &id), "idle");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");

    // Purge: refused while the branch holds commits on no other branch, unless forced; then
    // a tombstone in git, and the worktree and branch this clone made are gone.
    let worktree = repo.root().join("repo.worktrees/back");
    std::fs::write(worktree.join("work.txt"), "work").unwrap();
    repo.git_in(&worktree, &["add", "work.txt"]);
    repo.git_in(&worktree, &["commit", "-q", "-m", "work"]);
    let (code, message) = server
        .post(
            &format!("/api/v1/sessions/{id}/purge"),
            &json!({"delete_files": true}),
        )
        .error(409);
    assert_eq!(code, "conflict");
    assert!(message.contains("\"force\": true"), "{message}");
    assert!(worktree.exists());
    let purged = server
        .post(
            &format!("/api/v1/sessions/{id}/purge"),
            &json!({"delete_files": true, "force": true}),
        )
        .ok();
    assert_eq!(purged["deleted_branch"], "back");
    assert!(!worktree.exists());
    assert!(!repo.branch_exists("back"));
    let record = repo.git(&["show", &format!("refs/pm/sessions/{id}:session.toml")]);
    assert!(record.contains("purged = "), "{record}");
    let (code, _) = server
        .post(&format!("/api/v1/sessions/{id}/purge"), &json!({}))
        .error(409);
    assert_eq!(code, "conflict");
    let (code, message) = server
        .post(
            &format!("/api/v1/sessions/{id}/purge"),
            &json!({"delete": true}),
        )
        .error(422);
    assert_eq!(code, "usage");
    assert!(message.contains("delete"), "{message}");
}

#[test]
fn listing_reconciles_first_and_reconcile_and_the_overview_have_routes() {
    let repo = Repo::new();
    let id = repo.pm_json(&["agent", "launch", "--branch", "gone"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_dir_all(repo.root().join("repo.worktrees/gone")).unwrap();
    let server = Served::start(&repo, &[]);
    let dry = server
        .post("/api/v1/reconcile", &json!({"dry_run": true}))
        .ok();
    assert_eq!(dry["abandoned"], json!([id]));
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    // As `pm agent list`: sessions whose worktree is gone are abandoned first.
    let list = server.get("/api/v1/sessions?status=live").ok();
    assert_eq!(list["sessions"], json!([]));
    assert_eq!(repo.status_of(Kind::Session, &id), "abandoned");
    let again = server.post("/api/v1/reconcile", &json!({})).ok();
    assert_eq!(again["abandoned"], json!([]));
    let overview = server.get("/api/v1/overview").ok();
    assert_eq!(overview["sessions"]["abandoned"], 1);
    assert_eq!(overview, repo.pm_json(&[]));
}

#[test]
fn several_repositories_are_projects_and_the_first_is_the_default() {
    let first = Repo::new();
    let second = Repo::new();
    let issue = second.add("Only in the second", &[]);
    let second_path = second.path().to_str().unwrap().to_string();
    let server = Served::start_with(
        &first,
        first.path(),
        &[],
        &[first.path().to_str().unwrap(), &second_path],
    );
    let projects = server.get("/api/v1/projects").ok();
    let list = projects["projects"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{projects}");
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["name"], "repo");
    // Both repositories are folders named `repo`: the second is told apart by a number.
    assert_eq!(list[1]["name"], "repo-2");
    assert_eq!(list[1]["path"], json!(second_path));
    assert_eq!(server.get("/api/v1/issues").ok()["issues"], json!([]));
    let there = server.get("/api/v1/projects/repo-2/issues").ok();
    assert_eq!(there["issues"][0]["id"], json!(issue));
    let launched = server
        .post(
            "/api/v1/projects/repo-2/agent/launch",
            &json!({"issue": issue}),
        )
        .ok();
    let id = launched["id"].as_str().unwrap();
    assert_eq!(second.status_of(Kind::Session, id), "active");
    assert_eq!(first.refs(), "");
    let (code, message) = server.get("/api/v1/projects/nope/issues").error(404);
    assert_eq!(code, "not_found");
    assert!(message.contains("nope"), "{message}");
    drop(server);
    // The same repository twice is refused before anything is served.
    let run = first.pm(&[
        "serve",
        "--port",
        "0",
        first.path().to_str().unwrap(),
        first.path().join(".git").to_str().unwrap(),
    ]);
    let line = run.fails_with(2);
    assert!(line.contains("same repository"), "{line}");
}

#[test]
fn every_route_answers_its_failures_as_documented() {
    let repo = Repo::new();
    let server = Served::start(&repo, &[]);
    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    // Each route that names a record: an unknown one is 404 with the core's code.
    let gets = [
        format!("/api/v1/sessions/{unknown}"),
        format!("/api/v1/sessions/{unknown}/events"),
        format!("/api/v1/sessions/{unknown}/run/events"),
        format!("/api/v1/sessions/{unknown}/run/stream"),
        format!("/api/v1/issues/{unknown}"),
        format!("/api/v1/issues/{unknown}/events"),
        "/api/v1/projects/other/overview".to_string(),
        "/api/v1/projects/other/worktrees".to_string(),
        "/api/v1/projects/other/changes".to_string(),
    ];
    for path in &gets {
        assert_eq!(server.get(path).error(404).0, "not_found", "{path}");
    }
    let posts = [
        (
            "POST",
            "/api/v1/agent/close".to_string(),
            json!({"session_id": unknown}),
        ),
        (
            "POST",
            "/api/v1/agent/resume".to_string(),
            json!({"session_id": unknown}),
        ),
        (
            "POST",
            format!("/api/v1/sessions/{unknown}/close"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/v1/sessions/{unknown}/reactivate"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/v1/sessions/{unknown}/purge"),
            json!({}),
        ),
        ("POST", format!("/api/v1/sessions/{unknown}/run"), json!({})),
        (
            "POST",
            format!("/api/v1/sessions/{unknown}/input"),
            json!({"text": "x"}),
        ),
        (
            "POST",
            format!("/api/v1/sessions/{unknown}/abort"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/v1/sessions/{unknown}/restart"),
            json!({}),
        ),
        (
            "PATCH",
            format!("/api/v1/issues/{unknown}"),
            json!({"title": "x"}),
        ),
        ("POST", format!("/api/v1/issues/{unknown}/close"), json!({})),
        (
            "POST",
            format!("/api/v1/issues/{unknown}/reopen"),
            json!({}),
        ),
    ];
    for (method, path, body) in &posts {
        assert_eq!(
            server.send(method, path, body).error(404).0,
            "not_found",
            "{method} {path}"
        );
    }
    // Each route that takes a body: a key it does not take is 422, a body that is no JSON
    // object 400.
    let bodies = [
        "/api/v1/agent/launch",
        "/api/v1/agent/close",
        "/api/v1/agent/resume",
        "/api/v1/reconcile",
        "/api/v1/worktrees/prune",
        "/api/v1/issues",
    ];
    for path in bodies {
        let (code, message) = server.post(path, &json!({"bogus": 1})).error(422);
        assert_eq!(code, "usage", "{path}");
        assert!(message.contains("bogus"), "{path}: {message}");
        assert_eq!(
            server.post(path, &json!("text")).error(400).0,
            "usage",
            "{path}"
        );
    }
    // Routes that take no query refuse one; GET-only routes refuse other methods.
    assert_eq!(
        server.get("/api/v1/sessions/x?verbose=1").error(400).0,
        "usage"
    );
    assert_eq!(
        server.post("/api/v1/sessions", &json!({})).error(405).0,
        "method_not_allowed"
    );
    assert_eq!(
        server.post("/api/v1/overview", &json!({})).error(405).0,
        "method_not_allowed"
    );
    assert_eq!(
        server.get("/api/v1/agent/close").error(405).0,
        "method_not_allowed"
    );
    assert_eq!(server.get("/api/v2/sessions").error(404).0, "not_found");
    // A body larger than the server takes: just over 1 MiB, so that the server has read
    // nearly all of it when it answers and closes (a body far over the limit can still be
    // being written then, and the client sees a broken pipe instead of the answer).
    let big = json!({"title": "x".repeat(1024 * 1024)});
    assert_eq!(
        server.post("/api/v1/issues", &big).error(413).0,
        "too_large"
    );
    assert_eq!(repo.refs(), "");
}

#[test]
fn merge_lands_the_branch_on_its_base_and_completes_the_session() {
    let (repo, issue) = with_issue("Land over HTTP");
    let server = Served::start(&repo, &[]);
    let launched = server
        .post("/api/v1/agent/launch", &json!({"issue": issue}))
        .ok();
    let id = launched["id"].as_str().expect("an id").to_string();
    let worktree = std::path::PathBuf::from(launched["worktree"].as_str().unwrap());
    std::fs::write(worktree.join("work.txt"), "work\n").unwrap();
    repo.git_in(&worktree, &["add", "work.txt"]);
    repo.git_in(&worktree, &["commit", "-q", "-m", "the work"]);
    let tip = repo
        .git_in(&worktree, &["rev-parse", "HEAD"])
        .trim()
        .to_string();

    let refused = server.post(
        &format!("/api/v1/sessions/{id}/merge"),
        &json!({"strategy": "octopus"}),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    let dry = server
        .post(
            &format!("/api/v1/sessions/{id}/merge"),
            &json!({"dry_run": true}),
        )
        .ok();
    assert_eq!(dry["how"], "fast_forward", "{dry}");
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    let merged = server
        .post(&format!("/api/v1/sessions/{id}/merge"), &json!({}))
        .ok();
    assert_eq!(merged["after"], tip.as_str(), "{merged}");
    assert_eq!(repo.git(&["rev-parse", "main"]).trim(), tip);
    assert_eq!(repo.status_of(Kind::Session, &id), "completed");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    assert!(!worktree.exists());
}

/// Archived records (`pm archive`) are still served: listed, shown, with their history, and a
/// change over HTTP brings one back live.
#[test]
fn archived_sessions_and_issues_are_still_served() {
    let (repo, issue) = with_issue("Archived long ago");
    let id = repo.pm_json(&["agent", "launch", "--issue", &issue])["id"]
        .as_str()
        .unwrap()
        .to_string();
    repo.pm_ok(&["agent", "close", &id, "--done"]);
    let archived = repo.pm_json(&["archive", "--older-than", "0"]);
    assert_eq!(
        (&archived["issues"], &archived["sessions"]),
        (&json!(1), &json!(1))
    );
    let live = repo.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/pm/sessions/",
        "refs/pm/issues/",
    ]);
    assert_eq!(live.trim(), "", "no live refs are left");

    let server = Served::start(&repo, &[]);
    let page = server.get("/api/v1/sessions").ok();
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["sessions"][0]["id"], id.as_str(), "{page}");
    assert_eq!(page["sessions"][0]["status"], "completed", "{page}");
    let shown = server.get(&format!("/api/v1/sessions/{id}")).ok();
    assert_eq!(shown["session"]["status"], "completed", "{shown}");
    let events = server.get(&format!("/api/v1/sessions/{id}/events")).ok();
    assert!(events["events"].as_array().unwrap().len() >= 2, "{events}");
    let shown = server.get(&format!("/api/v1/issues/{issue}")).ok();
    assert_eq!(shown["issue"]["status"], "done", "{shown}");
    let list = server.get("/api/v1/issues?all=true").ok();
    assert!(list.to_string().contains(&issue), "{list}");

    // Reopened over HTTP, the issue is live again; the archive keeps the older version.
    server
        .post(&format!("/api/v1/issues/{issue}/reopen"), &json!({}))
        .ok();
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");
    assert!(
        repo.git(&["for-each-ref", "--format=%(refname)", "refs/pm/issues/"])
            .contains(&issue)
    );
    repo.assert_fsck_clean();
}

/// A launch over HTTP takes what `pm agent launch` takes: a launcher preset and `no_hooks`; a
/// kept workspace runs the hooks again for the next launch, and an unknown preset is refused
/// before anything is made.
#[test]
fn launch_takes_a_launcher_preset_and_no_hooks_like_the_command_line() {
    let repo = Repo::new();
    let dir = repo.home().join(".config/pm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[worktree]\nsetup = [\"touch made-by-setup\"]\n\n[launchers.review]\nrole = \"reviewer\"\n",
    )
    .unwrap();
    let server = Served::start(&repo, &[]);
    let first = server
        .post(
            "/api/v1/agent/launch",
            &json!({"branch": "work/quiet", "launcher": "review", "no_hooks": true}),
        )
        .ok();
    let worktree = Path::new(first["worktree"].as_str().unwrap()).to_path_buf();
    assert!(worktree.is_dir());
    assert!(
        !worktree.join("made-by-setup").exists(),
        "no_hooks ran setup"
    );
    let id = first["id"].as_str().unwrap();
    let shown = repo.pm_json(&["agent", "show", id]);
    assert_eq!(shown["session"]["role"], "reviewer", "{shown}");

    let second = server
        .post("/api/v1/agent/launch", &json!({"branch": "work/hooked"}))
        .ok();
    let worktree = Path::new(second["worktree"].as_str().unwrap());
    assert!(worktree.join("made-by-setup").exists(), "setup ran again");

    let before = repo.git(&["for-each-ref", "refs/pm/sessions/"]);
    let (code, message) = server
        .post(
            "/api/v1/agent/launch",
            &json!({"branch": "work/never", "launcher": "nope"}),
        )
        .error(400);
    assert!(message.contains("nope"), "{code}: {message}");
    assert_eq!(repo.git(&["for-each-ref", "refs/pm/sessions/"]), before);
    assert!(!repo.branch_exists("work/never"));
}
