//! `pm issue events` and record text on the terminal.

use super::*;

// ---- 11. events ------------------------------------------------------------------------

#[test]
fn events_list_the_history_newest_first() {
    let repo = Repo::new();
    let t0 = 1_000_000_000; // 2001-09-09T01:46:40Z
    let id = repo.add_at(t0, "First", &[]);
    repo.pm_at(t0 + 60, &["issue", "update", &id, "--title", "Second"])
        .ok();
    repo.pm_at(t0 + 120, &["issue", "update", &id, "--priority", "high"])
        .ok();
    repo.pm_at(t0 + 180, &["issue", "close", &id]).ok();

    let doc = repo.pm_json(&["issue", "events", &id[..12].to_lowercase()]);
    assert_eq!(keys(&doc), ["events", "id"]);
    assert_eq!(doc["id"], id.as_str());
    let events = doc["events"].as_array().expect("events array");
    for event in events {
        assert_eq!(
            keys(event),
            ["author", "commit", "email", "message", "time"],
            "{event}"
        );
        assert_eq!(event["author"], NAME);
        assert_eq!(event["email"], EMAIL);
    }
    let field = |name: &str| -> Vec<String> {
        events
            .iter()
            .map(|e| e[name].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        field("message"),
        [
            "close: open -> closed",
            "update: priority medium -> high",
            "update: title",
            "create: First",
        ]
    );
    assert_eq!(
        field("time"),
        [
            "2001-09-09T01:49:40Z",
            "2001-09-09T01:48:40Z",
            "2001-09-09T01:47:40Z",
            "2001-09-09T01:46:40Z",
        ]
    );
    let reference = format!("refs/pm/issues/{id}");
    let commits: Vec<String> = repo
        .git(&["rev-list", &reference])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(field("commit"), commits);
    assert_eq!(
        repo.git(&["log", "--format=%ct", &reference]),
        "1000000180\n1000000120\n1000000060\n1000000000\n"
    );

    let text = repo.pm_ok(&["issue", "events", &id]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("TIME"), "{text}");
    assert!(
        lines[0].contains("WHO") && lines[0].contains("WHAT"),
        "{text}"
    );
    for needle in [
        "2001-09-09T01:49:40Z",
        &format!("{NAME} <{EMAIL}>"),
        "close: open -> closed",
    ] {
        assert!(
            lines[1].contains(needle),
            "{needle:?} not in {:?}",
            lines[1]
        );
    }
    assert!(lines[4].contains("create: First"), "{text}");

    // Within one second, history order still decides.
    let quick = repo.add("Quick", &[]);
    repo.pm_ok(&["issue", "update", &quick, "--tag", "a"]);
    repo.pm_ok(&["issue", "update", &quick, "--tag", "b"]);
    let doc = repo.pm_json(&["issue", "events", &quick]);
    let messages: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["update: tags +b", "update: tags +a", "create: Quick"]
    );
}

// ---- 12. terminal safety ---------------------------------------------------------------

#[test]
fn record_text_cannot_send_escape_sequences_to_the_terminal() {
    let repo = Repo::new();
    let good = repo.add("Plain", &[]);
    let text = format!(
        "schema = 1\n\
         id = \"{CRAFTED_ID}\"\n\
         title = \"red \\u001b[31mALERT\\u001b[0m and \\u001b]0;owned\\u0007 done\"\n\
         description = \"desc \\u001b[2J cleared\"\n\
         body = \"line one\\n\\u001b[1mline two\\u009b31m\"\n\
         status = \"open\"\n\
         priority = \"high\"\n\
         type = \"bug\"\n\
         tags = [\"t\\u001b[5mblink\"]\n\
         created = \"2020-01-02T03:04:05Z\"\n\
         updated = \"2020-01-02T03:04:05Z\"\n"
    );
    let commit = repo.craft_commit(
        Kind::Issue,
        &text,
        "create: \x1b[31mred\x1b[0m message",
        None,
    );
    repo.git(&[
        "update-ref",
        &format!("refs/pm/issues/{CRAFTED_ID}"),
        &commit,
    ]);

    let is_clean = |what: &str, out: &str| {
        assert!(
            !out.contains('\x1b') && !out.contains('\x07') && !out.contains('\u{9b}'),
            "{what} printed a control sequence: {out:?}"
        );
    };

    let list = repo.pm_ok(&["issue", "list"]);
    is_clean("list", &list);
    assert!(list.contains("red ALERT and"), "{list:?}");
    assert!(list.contains(&good));
    assert!(list.contains("tblink"), "{list:?}");

    let show = repo.pm_ok(&["issue", "show", CRAFTED_ID]);
    is_clean("show", &show);
    assert!(show.contains("red ALERT and"), "{show:?}");
    assert!(show.contains("desc"), "{show:?}");
    assert!(show.contains("line two"), "{show:?}");

    let events = repo.pm_ok(&["issue", "events", CRAFTED_ID]);
    is_clean("events", &events);
    assert!(events.contains("create: red message"), "{events:?}");

    // JSON keeps the data but escapes C0 controls, so no ESC or BEL byte is printed. (C1
    // characters such as U+009B are valid unescaped JSON and are passed through as UTF-8.)
    let no_c0 = |what: &str, out: &str| {
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "{what} printed a raw ESC or BEL: {out:?}"
        );
    };
    let run = repo.pm(&["--json", "issue", "list"]).ok();
    no_c0("list --json", &run.stdout);
    let doc = run.json();
    let crafted = doc["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == CRAFTED_ID)
        .expect("crafted issue listed");
    assert!(crafted["title"].as_str().unwrap().contains('\x1b'));
    let run = repo.pm(&["--json", "issue", "show", CRAFTED_ID]).ok();
    no_c0("show --json", &run.stdout);

    // Writes on such a record keep working and the output stays clean.
    let out = repo.pm_ok(&["issue", "update", CRAFTED_ID, "--tag", "ok"]);
    is_clean("update", &out);
}
