//! What `pm issue …` refuses, and broken records that must not hide the others.

use super::*;

// ---- 6. refusals -----------------------------------------------------------------------

#[test]
fn refuses_a_directory_outside_any_repository() {
    let repo = Repo::new();
    let plain = repo.scratch_dir("plain");
    let probe = repo.git_run(&plain, &["rev-parse", "--git-dir"], None);
    assert!(
        !probe.success(),
        "precondition: the temporary directory must not be inside a git repository"
    );
    let plain_str = plain.to_str().unwrap();

    for args in [
        vec!["-C", plain_str, "issue", "add", "--title", "x"],
        vec!["-C", plain_str, "issue", "list"],
    ] {
        let line = repo.pm_in(repo.root(), &args).fails_with(1);
        assert!(line.contains("not a git repository"), "{line}");
    }
    let line = repo.pm_in(&plain, &["issue", "list"]).fails_with(1);
    assert!(line.contains("not a git repository"), "{line}");
    let line = repo
        .pm_in(&plain, &["-C", "no-such-dir", "issue", "list"])
        .fails_with(2);
    assert!(line.contains("no-such-dir"), "{line}");

    assert_eq!(
        std::fs::read_dir(&plain).unwrap().count(),
        0,
        "nothing may be created in the plain directory"
    );
    assert_eq!(repo.refs(), "");
}

#[test]
fn refuses_a_bare_repository() {
    let repo = Repo::bare();
    let bare = repo.path().to_str().unwrap().to_string();
    for args in [
        vec!["-C", &bare, "issue", "add", "--title", "x"],
        vec!["-C", &bare, "issue", "list"],
    ] {
        let line = repo.pm_in(repo.root(), &args).fails_with(1);
        assert!(line.contains("bare"), "{line}");
    }
    let line = refused(&repo, &["issue", "add", "--title", "x"], 1);
    assert!(line.contains("bare"), "{line}");
    assert_eq!(repo.refs(), "");
}

#[test]
fn refuses_a_reftable_repository() {
    let repo = Repo::reftable();
    assert_eq!(
        repo.git(&["rev-parse", "--show-ref-format"]).trim(),
        "reftable"
    );
    // Give git something under refs/pm/ so "unchanged" means something.
    repo.git(&[
        "update-ref",
        &format!("refs/pm/issues/{CRAFTED_ID}"),
        "HEAD",
    ]);
    let before = repo.refs();
    assert_ne!(before, "");

    for args in [
        vec!["issue", "add", "--title", "x"],
        vec!["issue", "list"],
        vec!["issue", "show", CRAFTED_ID],
    ] {
        let line = refused(&repo, &args, 1);
        assert!(line.contains("reftable"), "{line}");
    }
    let sub = repo.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let line = repo.pm_in(&sub, &["issue", "list"]).fails_with(1);
    assert!(line.contains("reftable"), "{line}");
    assert_eq!(repo.refs(), before);
}

#[test]
fn unknown_id_is_refused_with_one_line() {
    let repo = Repo::new();
    repo.add("Existing", &[]);
    for args in [
        vec!["issue", "show", UNKNOWN_ID],
        vec!["issue", "update", UNKNOWN_ID, "--title", "x"],
        vec!["issue", "close", UNKNOWN_ID],
        vec!["issue", "reopen", UNKNOWN_ID],
        vec!["issue", "events", UNKNOWN_ID],
        vec!["issue", "show", "7ZZZ"],
    ] {
        let line = refused(&repo, &args, 1);
        assert!(line.contains("no issue with id"), "{line}");
        assert!(line.contains(args[2]), "{line} does not name {}", args[2]);
    }
    // Text that cannot be an id at all is a usage error.
    let line = refused(&repo, &["issue", "show", "../01"], 2);
    assert!(line.contains("not a valid issue id"), "{line}");
}

/// Run pm in the repository with `input` on stdin.
fn pm_with_stdin(repo: &Repo, args: &[&str], input: &[u8]) -> common::Run {
    let output = repo
        .pm_command(repo.path(), true)
        .args(args)
        .write_stdin(input)
        .output()
        .expect("pm can be started");
    common::Run::new(args.join(" "), output)
}

/// Issue 14 point 17: `--body -` and `--description -` take the text from stdin.
#[test]
fn body_and_description_read_stdin() {
    let repo = Repo::new();
    let body = "# Steps\r\n\r\n1. open the page\r\n2. log in\r\n\r\n";
    let doc = pm_with_stdin(
        &repo,
        &[
            "--json",
            "issue",
            "add",
            "--title",
            "From stdin",
            "--body",
            "-",
        ],
        body.as_bytes(),
    )
    .ok()
    .json();
    let id = common::id_of(&doc);
    let record = repo.record(&id);
    assert_eq!(
        record["body"].as_str(),
        Some("# Steps\n\n1. open the page\n2. log in")
    );
    assert_eq!(record["description"].as_str(), Some(""));

    pm_with_stdin(
        &repo,
        &["issue", "update", &id, "--description", "-"],
        b"Short one\n",
    )
    .ok();
    let record = repo.record(&id);
    assert_eq!(record["description"].as_str(), Some("Short one"));
    assert_eq!(
        repo.subject(&format!("refs/pm/issues/{id}")),
        "update: description"
    );

    // Only one of them can have stdin; a text that is not UTF-8 is refused.
    let before = repo.refs();
    let both = pm_with_stdin(
        &repo,
        &["issue", "update", &id, "--body", "-", "-d", "-"],
        b"x",
    );
    let line = both.fails_with(2);
    assert!(
        line.contains("--description") && line.contains("--body"),
        "{line}"
    );
    let line =
        pm_with_stdin(&repo, &["issue", "update", &id, "--body", "-"], b"\xff\xfe").fails_with(2);
    assert!(line.contains("UTF-8"), "{line}");
    assert_eq!(repo.refs(), before);
}

/// Issue 14 point 17: `pm issue close A B C` closes each; a failure is reported by id, the
/// others are still closed, and the exit status is 1.
#[test]
fn close_takes_several_ids_and_reports_each_failure() {
    let repo = Repo::new();
    let a = repo.add("First", &[]);
    let b = repo.add("Second", &[]);
    let c = repo.add("Third", &[]);
    let out = repo.pm(&["issue", "close", &a, UNKNOWN_ID, &b.to_lowercase()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&a) && out.stdout.contains(&b),
        "{}",
        out.stdout
    );
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert!(
        errors.iter().all(|l| l.starts_with("error: ")),
        "{}",
        out.stderr
    );
    assert!(errors[0].contains(UNKNOWN_ID), "{}", out.stderr);
    for (id, status) in [(&a, "closed"), (&b, "closed"), (&c, "open")] {
        assert_eq!(repo.record(id)["status"].as_str(), Some(status), "{id}");
    }

    // All good: exit 0; JSON lists each closed issue and each error.
    let d = repo.add("Fourth", &[]);
    let doc = repo.pm_json(&["issue", "close", &c, &d]);
    assert_eq!(doc["errors"], serde_json::json!([]));
    let closed: Vec<&str> = doc["closed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["issue"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(closed, [c.as_str(), d.as_str()]);
    let out = repo.pm(&["--json", "issue", "close", &a, &c]);
    assert_eq!(out.code, Some(1));
    let doc = out.json();
    assert_eq!(doc["errors"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["errors"][0]["id"], a.as_str());
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already closed")
    );
    assert_eq!(repo.commit_count(&a), 2, "closing again wrote nothing");
}

/// Issue 14 point 17: `pm issue show` lists the issue's sessions (id, status, branch), and
/// its JSON holds them.
#[test]
fn show_lists_the_sessions_of_the_issue() {
    let repo = Repo::new();
    let issue = repo.add("Login page", &[]);
    let other = repo.add("Other", &[]);
    let launch = |args: &[&str]| {
        let mut all = vec!["--json", "agent", "launch"];
        all.extend_from_slice(args);
        repo.pm(&all).ok().json()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = launch(&["--issue", &issue]);
    repo.pm(&["agent", "close", "--done", &first]).ok();
    let second = launch(&["--issue", &issue, "--branch", "login-2"]);
    launch(&["--issue", &other]);

    let doc = repo.pm_json(&["issue", "show", &issue]);
    let sessions = doc["sessions"].as_array().expect("sessions");
    let rows: Vec<(&str, &str, &str)> = sessions
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                s["branch"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (second.as_str(), "active", "login-2"),
            (first.as_str(), "completed", "feature/login-page"),
        ]
    );
    // git agrees on which records name the issue.
    for id in [&first, &second] {
        let text = repo.git(&["show", &format!("refs/pm/sessions/{id}:session.toml")]);
        assert!(text.contains(&format!("issue = \"{issue}\"")), "{text}");
    }
    let text = repo.pm_ok(&["issue", "show", &issue]);
    for (id, status, branch) in &rows {
        let line = text
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains(status) && line.contains(branch), "{line}");
    }
    assert_eq!(
        repo.pm_json(&["issue", "show", &other])["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn ambiguous_id_is_refused_with_one_line_naming_the_candidates() {
    let repo = Repo::new();
    let ids = vec![repo.add("One", &[]), repo.add("Two", &[])];
    let shared = common_prefix(&ids);
    assert!(shared.len() >= 2 && shared.len() < 26);
    for args in [
        vec!["issue", "show", &shared],
        vec!["issue", "update", &shared, "--title", "x"],
        vec!["issue", "close", &shared],
        vec!["issue", "events", &shared],
        vec!["issue", "show", "01"],
    ] {
        let line = refused(&repo, &args, 1);
        assert!(line.contains("ambiguous"), "{line}");
        for id in &ids {
            assert!(line.contains(id.as_str()), "{id} not listed in {line}");
        }
    }
    for id in &ids {
        assert_eq!(repo.commit_count(id), 1);
    }
}

#[test]
fn invalid_status_value_is_a_usage_error() {
    let repo = Repo::new();
    let id = repo.add("Existing", &[]);
    for args in [
        vec!["issue", "list", "--status", "bogus"],
        vec!["issue", "update", &id, "--status", "bogus"],
        vec!["issue", "update", &id, "--status", ""],
    ] {
        let line = refused(&repo, &args, 2);
        assert!(line.contains("--status"), "{line}");
    }
    assert_eq!(repo.commit_count(&id), 1);
}

#[test]
fn invalid_priority_value_is_a_usage_error() {
    let repo = Repo::new();
    let id = repo.add("Existing", &[]);
    for args in [
        vec!["issue", "add", "--title", "x", "--priority", "urgent"],
        vec!["issue", "update", &id, "--priority", "5"],
        vec!["issue", "list", "--priority", "HIGHEST"],
    ] {
        let line = refused(&repo, &args, 2);
        assert!(line.contains("--priority"), "{line}");
    }
    assert_eq!(repo.ref_ids(), std::slice::from_ref(&id));
    assert_eq!(repo.commit_count(&id), 1);
}

#[test]
fn empty_title_is_a_usage_error() {
    let repo = Repo::new();
    let id = repo.add("Existing", &[]);
    let objects = repo.object_counts();
    for args in [
        vec!["issue", "add", "--title", ""],
        vec!["issue", "add", "--title", "   "],
        vec!["issue", "update", &id, "--title", ""],
        vec!["issue", "update", &id, "--title", "   "],
    ] {
        let line = refused(&repo, &args, 2);
        assert!(line.contains("title must not be empty"), "{line}");
    }
    // Other malformed input is refused the same way.
    let line = refused(&repo, &["issue", "update", &id], 2);
    assert!(line.contains("nothing to update"), "{line}");
    let line = refused(&repo, &["issue", "add", "--title", "two\nlines"], 2);
    assert!(line.contains("title"), "{line}");
    let line = refused(&repo, &["issue", "add", "--title", "x", "--tag", "a b"], 2);
    assert!(line.contains("tag"), "{line}");
    let line = refused(&repo, &["issue", "add"], 2);
    assert!(line.contains("--title"), "{line}");

    assert_eq!(repo.object_counts(), objects, "refusals write no objects");
    assert_eq!(repo.ref_ids(), std::slice::from_ref(&id));
    assert_eq!(repo.record(&id)["title"].as_str(), Some("Existing"));
}

/// Shared checks for a repository holding two good issues and one broken record at
/// [`CRAFTED_ID`]: it is refused by id, reported by `list`, and hides nothing else.
fn assert_broken_record_is_isolated(repo: &Repo, good: &[String], reason: &str) {
    let before = repo.refs();
    for args in [
        vec!["issue", "show", CRAFTED_ID],
        vec!["issue", "show", "01arz3"],
        vec!["issue", "update", CRAFTED_ID, "--title", "x"],
        vec!["issue", "close", CRAFTED_ID],
    ] {
        let line = refused(repo, &args, 1);
        assert!(line.contains(CRAFTED_ID), "{line} does not name the record");
        assert!(line.contains(reason), "{line} does not say {reason:?}");
    }

    // The text list shows the good issues, exits 0 and warns once about the broken one.
    let run = repo.pm(&["issue", "list", "--all"]).ok();
    let mut shown = table_first_column(&run.stdout);
    shown.sort();
    let mut expected = good.to_vec();
    expected.sort();
    assert_eq!(shown, expected, "{}", run.stdout);
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].starts_with("warning: "), "{}", warnings[0]);
    assert!(warnings[0].contains(CRAFTED_ID), "{}", warnings[0]);
    assert!(warnings[0].contains(reason), "{}", warnings[0]);

    // JSON lists it under "errors".
    let run = repo.pm(&["--json", "issue", "list"]).ok();
    let doc = run.json();
    let mut listed = listed_ids(&doc);
    listed.sort();
    assert_eq!(listed, expected);
    let errors = doc["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 1, "{doc}");
    assert_eq!(keys(&errors[0]), ["id", "message", "ref"]);
    assert_eq!(errors[0]["id"], CRAFTED_ID);
    assert_eq!(errors[0]["ref"], format!("refs/pm/issues/{CRAFTED_ID}"));
    assert!(
        errors[0]["message"].as_str().unwrap().contains(reason),
        "{doc}"
    );

    // The good issues stay fully usable.
    for id in good {
        repo.pm_ok(&["issue", "show", id]);
        repo.pm_ok(&["issue", "update", id, "--tag", "still-works"]);
    }
    for id in good {
        assert_eq!(repo.commit_count(id), 2);
    }
    let after = repo.refs();
    assert!(
        after
            .lines()
            .any(|l| l.ends_with(&format!("refs/pm/issues/{CRAFTED_ID}"))),
        "the broken ref is left alone"
    );
    let broken_line = |refs: &str| {
        refs.lines()
            .find(|l| l.contains(CRAFTED_ID))
            .map(str::to_string)
    };
    assert_eq!(broken_line(&after), broken_line(&before));
}

#[test]
fn record_that_is_not_toml_is_reported_and_does_not_hide_others() {
    let repo = Repo::new();
    let good = vec![repo.add("Good one", &[]), repo.add("Good two", &[])];
    repo.craft_record(
        Kind::Issue,
        CRAFTED_ID,
        "this is = = not toml\n[[[\n",
        "crafted by hand",
    );
    assert_broken_record_is_isolated(&repo, &good, "not a valid record");
}

#[test]
fn ref_pointing_at_a_blob_is_reported_and_does_not_hide_others() {
    let repo = Repo::new();
    let good = vec![repo.add("Good one", &[]), repo.add("Good two", &[])];
    let blob = repo.write_blob(&record_toml(CRAFTED_ID, "\"Blob\"", ""));
    repo.git(&["update-ref", &format!("refs/pm/issues/{CRAFTED_ID}"), &blob]);
    assert_eq!(
        repo.git(&["cat-file", "-t", &format!("refs/pm/issues/{CRAFTED_ID}")]),
        "blob\n"
    );
    assert_broken_record_is_isolated(&repo, &good, "not a commit");
    let run = repo.pm(&["issue", "events", CRAFTED_ID]);
    run.fails_with(1);
}

#[test]
fn record_whose_id_disagrees_with_its_ref_is_reported() {
    let repo = Repo::new();
    let good = vec![repo.add("Good one", &[]), repo.add("Good two", &[])];
    repo.craft_record(
        Kind::Issue,
        CRAFTED_ID,
        &record_toml(UNKNOWN_ID, "\"Impostor\"", ""),
        "crafted by hand",
    );
    assert_broken_record_is_isolated(&repo, &good, "disagrees");
    // The id in the file does not make a record appear under that id.
    let line = refused(&repo, &["issue", "show", UNKNOWN_ID], 1);
    assert!(line.contains("no issue with id"), "{line}");
}
