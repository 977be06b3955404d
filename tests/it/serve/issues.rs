//! Issues over HTTP: list, show, create, update, close, reopen, events; each success checked
//! against git, each failure for its status and code.

use super::*;
use crate::common::Kind;
use serde_json::json;

/// The record's tags, as git holds them.
fn tags(record: &toml::Table) -> Vec<&str> {
    record["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t.as_str().expect("a tag"))
        .collect()
}

#[test]
fn issues_are_created_listed_shown_and_changed_as_with_the_cli() {
    let repo = Repo::new();
    let server = Served::start(&repo, &[]);
    let created = server
        .post(
            "/api/v1/issues",
            &json!({"title": "Add user login", "priority": "high", "type": "bug",
                    "tags": ["auth"], "description": "why", "body": "how"}),
        )
        .with_status(201);
    let id = created["issue"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["message"], "create: Add user login");
    let record = repo.record_of(Kind::Issue, &id);
    assert_eq!(record["title"].as_str(), Some("Add user login"));
    assert_eq!(record["priority"].as_str(), Some("high"));
    assert_eq!(record["type"].as_str(), Some("bug"));
    assert_eq!(tags(&record), ["auth"]);
    assert_eq!(
        server.get(&format!("/api/v1/issues/{id}")).ok(),
        repo.pm_json(&["issue", "show", &id])
    );
    assert_eq!(
        server.get("/api/v1/issues").ok(),
        repo.pm_json(&["issue", "list"])
    );

    let updated = server
        .send(
            "PATCH",
            &format!("/api/v1/issues/{}", &id[..10]),
            &json!({"status": "in_progress", "tags": ["ui"], "untags": ["auth"], "title": "Login"}),
        )
        .ok();
    assert_eq!(updated["changed"], true);
    let record = repo.record_of(Kind::Issue, &id);
    assert_eq!(record["status"].as_str(), Some("in_progress"));
    assert_eq!(tags(&record), ["ui"]);
    assert_eq!(record["title"].as_str(), Some("Login"));
    assert_eq!(
        repo.subject(&format!("refs/pm/issues/{id}")),
        updated["message"].as_str().unwrap()
    );

    let closed = server
        .post(&format!("/api/v1/issues/{id}/close"), &json!({}))
        .ok();
    assert_eq!(closed["issue"]["status"], "closed");
    assert_eq!(repo.status_of(Kind::Issue, &id), "closed");
    // Done and closed issues only with all=true or their status.
    assert_eq!(server.get("/api/v1/issues").ok()["issues"], json!([]));
    let all = server.get("/api/v1/issues?all=true").ok();
    assert_eq!(all["issues"][0]["id"], json!(id));
    let by_status = server.get("/api/v1/issues?status=closed&tag=ui").ok();
    assert_eq!(by_status["issues"][0]["id"], json!(id));
    let reopened = server
        .post(&format!("/api/v1/issues/{id}/reopen"), &json!({}))
        .ok();
    assert_eq!(reopened["issue"]["status"], "open");
    assert_eq!(repo.status_of(Kind::Issue, &id), "open");
    let events = server.get(&format!("/api/v1/issues/{id}/events")).ok();
    assert_eq!(events, repo.pm_json(&["issue", "events", &id]));
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 4, "{messages:?}");

    // A dry run says what would be, and writes nothing.
    let before = repo.refs();
    let dry = server
        .post(
            "/api/v1/issues",
            &json!({"title": "Not yet", "dry_run": true}),
        )
        .ok();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(repo.refs(), before);
    repo.assert_fsck_clean();
}

#[test]
fn issue_requests_that_cannot_be_done_are_refused_with_the_cores_codes() {
    let repo = Repo::new();
    let id = repo.add("There", &[]);
    let server = Served::start(&repo, &[]);
    let before = repo.refs();
    let refusals = [
        (
            server.post("/api/v1/issues", &json!({"title": ""})),
            400,
            "usage",
            "title",
        ),
        (
            server.post(
                "/api/v1/issues",
                &json!({"title": "x", "priority": "urgent"}),
            ),
            400,
            "usage",
            "priority",
        ),
        (
            server.post("/api/v1/issues", &json!({"title": "x", "tags": ["a b"]})),
            400,
            "usage",
            "tag",
        ),
        (
            server.post("/api/v1/issues", &json!({"titel": "x"})),
            422,
            "usage",
            "titel",
        ),
        (
            server.post("/api/v1/issues", &json!({"title": 5})),
            422,
            "usage",
            "string",
        ),
        (
            server.post("/api/v1/issues", &json!(["x"])),
            400,
            "usage",
            "object",
        ),
        (
            server.raw(
                "POST",
                "/api/v1/issues",
                &[
                    ("Content-Type", "application/json"),
                    ("Origin", &server.base),
                ],
                Some("{\"title\": "),
            ),
            400,
            "usage",
            "JSON",
        ),
        (
            server.get("/api/v1/issues/01ARZ3NDEK"),
            404,
            "not_found",
            "01ARZ3NDEK",
        ),
        (
            server.send("PATCH", &format!("/api/v1/issues/{id}"), &json!({})),
            400,
            "usage",
            "\"title\"",
        ),
        (
            server.send(
                "PATCH",
                &format!("/api/v1/issues/{id}"),
                &json!({"status": "gone"}),
            ),
            400,
            "usage",
            "status",
        ),
        (
            server.post(&format!("/api/v1/issues/{id}/reopen"), &json!({})),
            409,
            "conflict",
            "not done or closed",
        ),
        (
            server.get("/api/v1/issues?priority=urgent"),
            400,
            "usage",
            "priority",
        ),
        (server.get("/api/v1/issues?all=maybe"), 400, "usage", "all"),
        (server.get("/api/v1/issues?label=x"), 400, "usage", "label"),
        (
            server.send("PUT", "/api/v1/issues", &json!({})),
            405,
            "method_not_allowed",
            "PUT",
        ),
    ];
    for (answer, status, code, word) in refusals {
        let (got, message) = answer.error(status);
        assert_eq!(got, code, "{message}");
        assert!(message.contains(word), "{word:?} not in {message:?}");
    }
    assert_eq!(repo.refs(), before);
    server
        .post(&format!("/api/v1/issues/{id}/close"), &json!({}))
        .ok();
    let (code, message) = server
        .post(&format!("/api/v1/issues/{id}/close"), &json!({}))
        .error(409);
    assert_eq!(code, "conflict");
    assert!(message.contains("already closed"), "{message}");
}

#[test]
fn concurrent_requests_each_take_a_workspace_and_lose_no_update() {
    let repo = Repo::new();
    let id = repo.add("Busy", &[]);
    let server = Served::start(&repo, &[]);
    let (threads, rounds) = (8, 6);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (server, id) = (&server, &id);
            scope.spawn(move || {
                for r in 0..rounds {
                    let tag = format!("t{t}r{r}");
                    server
                        .send(
                            "PATCH",
                            &format!("/api/v1/issues/{id}"),
                            &json!({"tags": [tag]}),
                        )
                        .ok();
                    // Reads in between, on other workspaces of the pool.
                    let listed = server.get("/api/v1/sessions").ok();
                    assert_eq!(listed["total"], 0);
                    server.get(&format!("/api/v1/issues/{id}")).ok();
                }
            });
        }
    });
    // Every update is a commit of its own, and every tag is there: none was lost.
    let mut tags = tags(&repo.record_of(Kind::Issue, &id))
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    tags.sort();
    let mut wanted: Vec<String> = (0..threads)
        .flat_map(|t| (0..rounds).map(move |r| format!("t{t}r{r}")))
        .collect();
    wanted.sort();
    assert_eq!(tags, wanted);
    assert_eq!(repo.commit_count_of(Kind::Issue, &id), 1 + threads * rounds);
    repo.assert_fsck_clean();
}
