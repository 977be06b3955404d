//! What the server refuses before any operation runs: a `Host` that is not the served address
//! (DNS rebinding), changes from another origin or without a JSON body, requests without the
//! token on a server bound to more than loopback; and what it never sends (CORS headers, record
//! text that is not JSON-encoded).

use super::*;
use serde_json::json;

#[test]
fn a_host_that_is_not_the_served_address_is_refused() {
    let repo = Repo::new();
    repo.add("Secret plans", &[]);
    let server = Served::start(&repo, &[]);
    let port = server.host.rsplit(':').next().unwrap().to_string();
    // A page of another site whose name resolves to 127.0.0.1 names its own host.
    for host in [
        "evil.example",
        "evil.example:80",
        &format!("attacker.test:{port}"),
        "",
    ] {
        let answer = server.raw("GET", "/api/v1/issues", &[("Host", host)], None);
        let (code, message) = answer.error(403);
        assert_eq!(code, "forbidden");
        assert!(!answer.body.contains("Secret plans"), "{}", answer.body);
        assert!(message.contains("host"), "{message}");
    }
    let before = repo.refs();
    let origin = format!("http://evil.example:{port}");
    let answer = server.raw(
        "POST",
        "/api/v1/issues",
        &[
            ("Host", &format!("evil.example:{port}")),
            ("Origin", &origin),
            ("Content-Type", "application/json"),
        ],
        Some("{\"title\": \"planted\"}"),
    );
    assert_eq!(answer.error(403).0, "forbidden");
    assert_eq!(repo.refs(), before);
    // The served address, by number or as localhost, is answered.
    let localhost = format!("localhost:{port}");
    let ok = server.raw("GET", "/api/v1/issues", &[("Host", &localhost)], None);
    assert_eq!(ok.status, 200);
    assert!(ok.body.contains("Secret plans"));
    assert_eq!(server.get("/api/v1/issues").status, 200);
}

#[test]
fn a_change_needs_a_json_body_and_this_servers_origin() {
    let repo = Repo::new();
    let server = Served::start(&repo, &[]);
    let body = "{\"title\": \"planted\"}";
    let json_type = ("Content-Type", "application/json");
    let refusals = [
        // A cross-origin fetch or form post.
        (
            server.raw(
                "POST",
                "/api/v1/issues",
                &[json_type, ("Origin", "http://evil.example")],
                Some(body),
            ),
            403,
            "forbidden",
        ),
        // Another port of the same machine is another origin.
        (
            server.raw(
                "POST",
                "/api/v1/issues",
                &[json_type, ("Origin", "http://127.0.0.1:1")],
                Some(body),
            ),
            403,
            "forbidden",
        ),
        (
            server.raw(
                "POST",
                "/api/v1/issues",
                &[json_type, ("Origin", "null")],
                Some(body),
            ),
            403,
            "forbidden",
        ),
        // No Origin and no token.
        (
            server.raw("POST", "/api/v1/issues", &[json_type], Some(body)),
            403,
            "forbidden",
        ),
        // What an HTML form can send.
        (
            server.raw(
                "POST",
                "/api/v1/issues",
                &[("Content-Type", "text/plain"), ("Origin", &server.base)],
                Some(body),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            server.raw(
                "POST",
                "/api/v1/issues",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Origin", &server.base),
                ],
                Some("title=planted"),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            server.raw(
                "POST",
                "/api/v1/worktrees/prune",
                &[("Origin", &server.base)],
                None,
            ),
            415,
            "unsupported_media_type",
        ),
    ];
    for (answer, status, code) in refusals {
        assert_eq!(answer.error(status).0, code, "{}", answer.body);
    }
    assert_eq!(repo.refs(), "");
    // A preflight is answered without any CORS header: the browser then sends nothing.
    let preflight = server.raw(
        "OPTIONS",
        "/api/v1/issues",
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        None,
    );
    assert!(preflight.status >= 400, "{preflight:?}");
    for answer in [&preflight, &server.get("/api/v1/issues")] {
        assert!(
            answer
                .headers
                .iter()
                .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
            "{:?}",
            answer.headers
        );
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    }
    // The server's own page: a JSON body and its Origin.
    server
        .post("/api/v1/issues", &json!({"title": "welcome"}))
        .with_status(201);
    assert_eq!(repo.record_ids(crate::common::Kind::Issue).len(), 1);
}

#[test]
fn a_token_stands_in_for_the_origin_and_a_wrong_one_does_not() {
    let repo = Repo::new();
    let token = "a-token-of-the-test-0123456789";
    let mut server = Served::start_with(&repo, repo.path(), &[("PM_SERVE_TOKEN", token)], &[]);
    // Loopback: reading needs no token, and the token given is not printed.
    assert!(!server.banner.contains(token), "{}", server.banner);
    assert_eq!(server.get("/api/v1/issues").status, 200);
    let body = Some("{\"title\": \"by a script\"}");
    let json_type = ("Content-Type", "application/json");
    let wrong = server.raw(
        "POST",
        "/api/v1/issues",
        &[json_type, ("Authorization", "Bearer wrong")],
        body,
    );
    assert_eq!(wrong.error(403).0, "forbidden");
    server.use_token(token);
    let created = server.raw("POST", "/api/v1/issues", &[json_type], body);
    created.with_status(201);
    assert_eq!(repo.record_ids(crate::common::Kind::Issue).len(), 1);
    // A token too short to be one is refused before anything is served.
    let run = repo.pm_full(
        repo.path(),
        &[("PM_SERVE_TOKEN", "short")],
        &["serve", "--port", "0"],
    );
    let line = run.fails_with(2);
    assert!(line.contains("PM_SERVE_TOKEN"), "{line}");
}

#[test]
fn a_server_bound_beyond_loopback_answers_only_requests_with_its_token() {
    let repo = Repo::new();
    repo.add("Shared", &[]);
    // No token given: one is made and printed, never one that was asked for.
    let mut server = Served::start(&repo, &["--bind", "0.0.0.0"]);
    let token_line = server.next_line().expect("a token line");
    let token = token_line
        .strip_prefix("Token: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token in {token_line:?}"))
        .to_string();
    assert_eq!(token.len(), 64, "{token_line}");
    assert!(
        server.banner.contains(&format!("#token={token}")),
        "{}",
        server.banner
    );
    // The server prints 0.0.0.0; it is reached on loopback here.
    let port = server.host.rsplit(':').next().unwrap().to_string();
    server.base = format!("http://127.0.0.1:{port}");
    server.host = format!("127.0.0.1:{port}");
    let (code, message) = server.get("/api/v1/issues").error(401);
    assert_eq!(code, "unauthorized");
    assert!(message.contains("token"), "{message}");
    let wrong = server.raw(
        "GET",
        "/api/v1/issues",
        &[("Authorization", "Bearer nope")],
        None,
    );
    assert_eq!(wrong.error(401).0, "unauthorized");
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    let in_query = server.get(&format!("/api/v1/issues?access_token={token}"));
    assert_eq!(in_query.ok()["issues"][0]["title"], "Shared");
    server.use_token(&token);
    assert_eq!(
        server.get("/api/v1/issues").ok()["issues"][0]["title"],
        "Shared"
    );
    // With the token a change needs no Origin.
    let created = server.raw(
        "POST",
        "/api/v1/issues",
        &[("Content-Type", "application/json")],
        Some("{\"title\": \"from afar\"}"),
    );
    created.with_status(201);
}

#[test]
fn record_text_is_only_ever_sent_json_encoded() {
    let repo = Repo::new();
    // A record written by anyone (here by hand, with git) may hold any text.
    let title = "<img src=x onerror=alert(1)> \u{1b}[31mred\u{202e}";
    let id = crate::common::CRAFTED_ID;
    let title_toml = "\"<img src=x onerror=alert(1)> \\u001b[31mred\\u202e\"";
    repo.craft_record(
        crate::common::Kind::Issue,
        id,
        &crate::common::record_toml(id, title_toml, ""),
        "create: by hand",
    );
    let server = Served::start(&repo, &[]);
    let answer = server.get(&format!("/api/v1/issues/{id}"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    // Escape and bidi controls are escaped as \uXXXX, as `--json` writes them; the document
    // still holds the title exactly.
    assert!(
        answer.body.contains("\\u001b[31mred\\u202e"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains('\u{1b}') && !answer.body.contains('\u{202e}'));
    assert_eq!(answer.ok()["issue"]["title"], json!(title));
    // The page at / holds no record text (the UI fetches it and renders it as text), runs
    // only this server's own script, and may load nothing from elsewhere.
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!page.body.contains("red"), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<script type="module" src="/ui/app.js">"#)
    );
    let policy = page.header("content-security-policy").unwrap().to_string();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let script = server.get("/ui/app.js");
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        !script.body.contains("innerHTML"),
        "record text only as text"
    );
}
