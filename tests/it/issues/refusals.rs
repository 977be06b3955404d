//! Integration tests of `pm issue …`: the real binary on temporary repositories, with the git
//! CLI as the independent witness of what was stored.

use crate::common;
use crate::common::{CRAFTED_ID, EMAIL, NAME, Repo, id_of, record_toml};
use serde_json::Value;
use std::collections::BTreeSet;

/// A valid id for which no ref exists in any test repository.
const UNKNOWN_ID: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";

/// The keys of an issue in JSON output (a documented contract).
const ISSUE_KEYS: [&str; 11] = [
    "body",
    "closed",
    "created",
    "description",
    "id",
    "priority",
    "status",
    "tags",
    "title",
    "type",
    "updated",
];

/// The keys of a JSON object, sorted; a document's `json_version` is checked and left out.
fn keys(value: &Value) -> Vec<String> {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {value}"));
    if let Some(version) = object.get("json_version") {
        assert_eq!(version, 1, "documents are version 1");
    }
    let mut keys: Vec<String> = object
        .keys()
        .filter(|k| *k != "json_version")
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The ids of a `{"issues": [...], "errors": [...]}` document, in order.
fn listed_ids(doc: &Value) -> Vec<String> {
    doc["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no issues array in {doc}"))
        .iter()
        .map(|issue| issue["id"].as_str().expect("issue id").to_string())
        .collect()
}

/// `pm --json issue list <args…>` in `repo`; also checks the document's shape.
#[track_caller]
fn list_ids(repo: &Repo, args: &[&str]) -> Vec<String> {
    let mut all = vec!["issue", "list"];
    all.extend_from_slice(args);
    let doc = repo.pm_json(&all);
    assert_eq!(keys(&doc), ["errors", "issues"], "list document: {doc}");
    assert_eq!(doc["errors"], Value::Array(vec![]), "unexpected errors");
    for issue in doc["issues"].as_array().unwrap() {
        assert_eq!(keys(issue), ISSUE_KEYS, "issue shape: {issue}");
    }
    listed_ids(&doc)
}

/// The first column of every row of a text table (header skipped).
fn table_first_column(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

fn strings(items: &[&String]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Run a command that must be refused with `code`, one `error:` line, and no ref changed.
#[track_caller]
fn refused(repo: &Repo, args: &[&str], code: i32) -> String {
    let before = repo.refs();
    let line = repo.pm(args).fails_with(code);
    assert_eq!(
        repo.refs(),
        before,
        "`pm {}` changed refs/pm/ although it failed",
        args.join(" ")
    );
    line
}

fn shortest_unique_prefix(id: &str, all: &[String]) -> String {
    (1..=id.len())
        .map(|n| &id[..n])
        .find(|prefix| {
            all.iter()
                .filter(|other| *other != id)
                .all(|other| !other.starts_with(prefix))
        })
        .expect("ids are distinct")
        .to_string()
}

fn common_prefix(ids: &[String]) -> String {
    let first = &ids[0];
    let n = (0..first.len())
        .take_while(|&i| ids.iter().all(|id| id.as_bytes()[i] == first.as_bytes()[i]))
        .count();
    first[..n].to_string()
}

// ---- 1. storage ------------------------------------------------------------------------

#[test]
fn add_stores_one_commit_ref_that_plain_git_can_read() {
    let repo = Repo::new();
    assert_eq!(repo.refs(), "");

    let out = repo.pm_ok(&[
        "issue",
        "add",
        "--title",
        "Add user login",
        "--priority",
        "high",
        "--type",
        "bug",
        "--tag",
        "ui",
        "--tag",
        "auth",
        "--description",
        "short text",
    ]);

    let ids = repo.ref_ids();
    assert_eq!(ids.len(), 1, "exactly one record ref: {ids:?}");
    let id = &ids[0];
    assert_eq!(id.len(), 26, "ids are ULIDs: {id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
        "ids are upper-case Crockford base 32: {id}"
    );
    assert_eq!(out, format!("Created issue {id} Add user login\n"));

    // The ref is a direct ref to a commit.
    let tip = repo.tip(id);
    assert_eq!(repo.refs(), format!("{tip} commit\trefs/pm/issues/{id}\n"));
    // The commit is a root commit whose tree holds exactly issue.toml.
    assert_eq!(repo.commit_count(id), 1);
    let parents = repo.git(&["rev-list", "--parents", "-n", "1", &tip]);
    assert_eq!(
        parents.split_whitespace().count(),
        1,
        "no parents: {parents}"
    );
    let tree = repo.git(&["ls-tree", &tip]);
    let entries: Vec<&str> = tree.lines().collect();
    assert_eq!(entries.len(), 1, "one file in the tree: {tree}");
    assert!(entries[0].starts_with("100644 blob "), "{tree}");
    assert!(entries[0].ends_with("\tissue.toml"), "{tree}");
    assert_eq!(repo.subject(&tip), "create: Add user login");

    // The record is plain TOML with what was given.
    let text = repo.record_text(id);
    for line in [
        "schema = 1".to_string(),
        format!("id = \"{id}\""),
        "title = \"Add user login\"".to_string(),
        "description = \"short text\"".to_string(),
        "status = \"open\"".to_string(),
        "priority = \"high\"".to_string(),
        "type = \"bug\"".to_string(),
        "tags = [\"auth\", \"ui\"]".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }
    let record = repo.record(id);
    assert_eq!(record["id"].as_str(), Some(id.as_str()));
    assert_eq!(record["created"], record["updated"]);
    assert!(
        !record.contains_key("closed"),
        "an open issue has no closed time"
    );

    // Nothing else in the repository moved, and the object database is sound.
    assert_eq!(repo.git(&["rev-list", "--count", "main"]).trim(), "1");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    repo.assert_fsck_clean();

    // A second issue is a second ref.
    let second = repo.add("Second", &[]);
    assert_ne!(&second, id);
    assert_eq!(repo.ref_ids().len(), 2);
    repo.assert_fsck_clean();
}

// ---- 2. one commit per change ----------------------------------------------------------

#[test]
fn every_change_is_exactly_one_commit_on_the_previous_tip() {
    let repo = Repo::new();
    let id = repo.add("First title", &[]);
    let mut count = repo.commit_count(&id);
    let mut tip = repo.tip(&id);
    assert_eq!(count, 1);

    let steps: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["issue", "update", &id, "--title", "Second title"],
            "update: title",
        ),
        (
            vec!["issue", "update", &id, "--priority", "high", "--tag", "x"],
            "update: priority medium -> high, tags +x",
        ),
        (
            vec!["issue", "update", &id, "--status", "in_progress"],
            "update: status open -> in_progress",
        ),
        (vec!["issue", "close", &id], "close: in_progress -> closed"),
        (vec!["issue", "reopen", &id], "reopen: closed -> open"),
        (
            vec!["issue", "update", &id, "--untag", "x"],
            "update: tags -x",
        ),
    ];
    for (args, message) in steps {
        let out = repo.pm_ok(&args);
        assert_eq!(out, format!("Issue {id} {message}\n"));
        let new_tip = repo.tip(&id);
        assert_eq!(
            repo.commit_count(&id),
            count + 1,
            "`{}` must add exactly one commit",
            args.join(" ")
        );
        let parents = repo.git(&["rev-list", "--parents", "-n", "1", &new_tip]);
        assert_eq!(
            parents.split_whitespace().collect::<Vec<_>>(),
            [new_tip.as_str(), tip.as_str()],
            "the new commit's only parent is the previous tip"
        );
        assert_eq!(repo.subject(&new_tip), message);
        assert_eq!(
            repo.git(&["ls-tree", "--name-only", &new_tip]),
            "issue.toml\n"
        );
        count += 1;
        tip = new_tip;

        let record = repo.record(&id);
        match message.split(':').next().unwrap() {
            "close" => assert_eq!(record["status"].as_str(), Some("closed")),
            "reopen" => {
                assert_eq!(record["status"].as_str(), Some("open"));
                assert!(!record.contains_key("closed"), "reopen clears closed");
            }
            _ => {}
        }
        if message.starts_with("close") {
            assert!(record.contains_key("closed"), "closing sets closed");
        }
    }
    assert_eq!(count, 7);
    assert_eq!(repo.record(&id)["title"].as_str(), Some("Second title"));
    assert_eq!(repo.record(&id)["priority"].as_str(), Some("high"));

    // Updates that change nothing write nothing.
    repo.pm_ok(&["issue", "update", &id, "--tag", "y"]);
    count += 1;
    tip = repo.tip(&id);
    let no_ops: Vec<Vec<&str>> = vec![
        vec!["issue", "update", &id, "--title", "Second title"],
        vec!["issue", "update", &id, "--title", "  Second title  "],
        vec!["issue", "update", &id, "--priority", "high"],
        vec!["issue", "update", &id, "--status", "open"],
        vec!["issue", "update", &id, "--tag", "y"],
        vec!["issue", "update", &id, "--untag", "never-set"],
        vec![
            "issue",
            "update",
            &id,
            "--type",
            "feature",
            "--description",
            "",
        ],
    ];
    for args in no_ops {
        let out = repo.pm_ok(&args);
        assert_eq!(out, format!("Issue {id} unchanged\n"), "{args:?}");
        assert_eq!(repo.commit_count(&id), count, "{args:?} wrote a commit");
        assert_eq!(repo.tip(&id), tip, "{args:?} moved the ref");
    }
    let doc = repo.pm_json(&["issue", "update", &id, "--tag", "y"]);
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["message"], Value::Null);
    assert_eq!(doc["issue"]["id"], id.as_str());
    assert_eq!(repo.commit_count(&id), count);

    // Refused state changes write nothing either.
    let line = refused(&repo, &["issue", "reopen", &id], 1);
    assert!(line.contains(&id), "{line}");
    repo.pm_ok(&["issue", "close", &id]);
    count += 1;
    let line = refused(&repo, &["issue", "close", &id], 1);
    assert!(line.contains("already closed"), "{line}");
    assert_eq!(repo.commit_count(&id), count);
    repo.assert_fsck_clean();
}

// ---- 3. list ---------------------------------------------------------------------------

#[test]
fn list_filters_and_sorts_by_status_priority_and_age() {
    let repo = Repo::new();
    let t0 = 1_700_000_000;
    let a = repo.add_at(t0 + 100, "A open low", &["--priority", "low", "--tag", "x"]);
    let b = repo.add_at(t0 + 200, "B open high", &["--priority", "high"]);
    let c = repo.add_at(t0 + 300, "C open high newer", &["-p", "high", "--tag", "x"]);
    let d = repo.add_at(t0 + 400, "D in progress", &["--priority", "low"]);
    let e = repo.add_at(t0 + 500, "E done", &["--priority", "high", "--tag", "x"]);
    let f = repo.add_at(t0 + 600, "F closed high", &["--priority", "high"]);
    let g = repo.add_at(t0 + 700, "G closed low", &["--priority", "low"]);
    let h = repo.add_at(t0 + 800, "H open medium", &[]);
    // Created last (largest id) but with the oldest creation time: age decides, not the id.
    let b0 = repo.add_at(t0 + 50, "B0 open high oldest", &["--priority", "high"]);
    repo.pm_ok(&["issue", "update", &d, "--status", "in_progress"]);
    repo.pm_ok(&["issue", "update", &e, "--status", "done"]);
    repo.pm_ok(&["issue", "close", &f]);
    repo.pm_ok(&["issue", "close", &g]);

    let default = strings(&[&d, &c, &b, &b0, &h, &a]);
    assert_eq!(list_ids(&repo, &[]), default);
    let all = strings(&[&d, &c, &b, &b0, &h, &a, &e, &f, &g]);
    assert_eq!(list_ids(&repo, &["--all"]), all);
    assert_eq!(list_ids(&repo, &["-a"]), all);
    assert_eq!(list_ids(&repo, &["--status", "closed"]), strings(&[&f, &g]));
    assert_eq!(list_ids(&repo, &["--status", "done"]), strings(&[&e]));
    assert_eq!(
        list_ids(&repo, &["--status", "in_progress"]),
        strings(&[&d])
    );
    assert_eq!(
        list_ids(&repo, &["--status", "in-progress"]),
        strings(&[&d])
    );
    assert_eq!(
        list_ids(&repo, &["--status", "open"]),
        strings(&[&c, &b, &b0, &h, &a])
    );
    assert_eq!(
        list_ids(&repo, &["--priority", "high"]),
        strings(&[&c, &b, &b0])
    );
    assert_eq!(
        list_ids(&repo, &["--priority", "high", "--all"]),
        strings(&[&c, &b, &b0, &e, &f])
    );
    assert_eq!(list_ids(&repo, &["--tag", "x"]), strings(&[&c, &a]));
    assert_eq!(
        list_ids(&repo, &["--tag", "x", "--all"]),
        strings(&[&c, &a, &e])
    );
    assert_eq!(
        list_ids(&repo, &["--status", "done", "--tag", "x"]),
        strings(&[&e])
    );
    assert_eq!(
        list_ids(&repo, &["--status", "closed", "--priority", "low"]),
        strings(&[&g])
    );
    assert_eq!(
        list_ids(&repo, &["--tag", "nope", "--all"]),
        Vec::<String>::new()
    );

    // The JSON issue carries the stored fields.
    let doc = repo.pm_json(&["issue", "list", "--all"]);
    let issues = doc["issues"].as_array().unwrap();
    let c_json = &issues[1];
    assert_eq!(c_json["id"], c.as_str());
    assert_eq!(c_json["title"], "C open high newer");
    assert_eq!(c_json["status"], "open");
    assert_eq!(c_json["priority"], "high");
    assert_eq!(c_json["type"], "feature");
    assert_eq!(c_json["tags"], serde_json::json!(["x"]));
    assert_eq!(c_json["created"], "2023-11-14T22:18:20Z");
    assert_eq!(c_json["closed"], Value::Null);
    let f_json = &issues[7];
    assert_eq!(f_json["id"], f.as_str());
    assert_eq!(f_json["status"], "closed");
    assert!(f_json["closed"].is_string(), "closed issues have a time");

    // The text table shows the same rows in the same order.
    let text = repo.pm_ok(&["issue", "list"]);
    assert!(
        text.starts_with("ID\tSTATUS\t"),
        "a pipe gets tab-separated rows: {text}"
    );
    assert_eq!(table_first_column(&text), default);
    assert!(text.contains("C open high newer"));
    assert!(!text.contains("E done") && !text.contains("F closed"));
    let text = repo.pm_ok(&["issue", "ls", "--all"]);
    assert_eq!(table_first_column(&text), all);

    assert_eq!(
        repo.pm_ok(&["issue", "list", "--status", "done", "--priority", "low"]),
        "No issues.\n"
    );
    let empty = Repo::new();
    assert_eq!(
        empty.pm_ok(&["issue", "list"]),
        "No issues (done and closed ones are hidden; use --all).\n"
    );
    assert_eq!(list_ids(&empty, &["--all"]), Vec::<String>::new());
}

// ---- 4. ids ----------------------------------------------------------------------------

#[test]
fn ids_resolve_by_full_id_unique_prefix_and_any_case() {
    let repo = Repo::new();
    let ids: Vec<String> = (0..3)
        .map(|i| repo.add(&format!("Issue {i}"), &[]))
        .collect();

    for id in &ids {
        let prefix = shortest_unique_prefix(id, &ids);
        assert!(prefix.len() < id.len());
        for query in [
            id.clone(),
            id.to_lowercase(),
            prefix.clone(),
            prefix.to_lowercase(),
        ] {
            let doc = repo.pm_json(&["issue", "show", &query]);
            assert_eq!(id_of(&doc), *id, "`show {query}`");
            let text = repo.pm_ok(&["issue", "show", &query]);
            assert!(text.starts_with(&format!("{id}  ")), "{text}");
        }
        // Writes resolve the same way and touch only that record.
        let before = repo.commit_count(id);
        repo.pm_ok(&[
            "issue",
            "update",
            &prefix.to_lowercase(),
            "--tag",
            "via-prefix",
        ]);
        assert_eq!(repo.commit_count(id), before + 1);
    }
    for id in &ids {
        assert_eq!(repo.commit_count(id), 2);
    }

    let line = refused(&repo, &["issue", "show", UNKNOWN_ID], 1);
    assert!(line.contains(UNKNOWN_ID), "{line}");
    let line = refused(&repo, &["issue", "show", &UNKNOWN_ID.to_lowercase()], 1);
    assert!(line.contains(UNKNOWN_ID), "{line}");

    let shared = common_prefix(&ids);
    assert!(shared.len() >= 2, "ULIDs of one moment share a prefix");
    for query in [shared.clone(), shared.to_lowercase()] {
        let line = refused(&repo, &["issue", "show", &query], 1);
        assert!(line.contains("ambiguous"), "{line}");
        for id in &ids {
            assert!(line.contains(id.as_str()), "{id} not listed in {line}");
        }
    }
}

// ---- 5. concurrency --------------------------------------------------------------------

#[test]
fn concurrent_updates_from_many_processes_are_never_lost() {
    const WORKERS: usize = 8;
    const ROUNDS: usize = 25;
    let repo = Repo::new();
    let id = repo.add("Contended", &[]);

    // Each worker thread runs its 25 `pm` processes one after another; the 8 run at once.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..=WORKERS)
            .map(|i| {
                let (repo, id) = (&repo, &id);
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for j in 1..=ROUNDS {
                        let tag = format!("p{i}-{j}");
                        let output = repo
                            .pm_std_command(repo.path())
                            .args(["issue", "update", id, "--tag", &tag])
                            .output()
                            .expect("pm can be started");
                        let stdout = String::from_utf8_lossy(&output.stdout);
                        if !output.status.success()
                            || stdout != format!("Issue {id} update: tags +{tag}\n")
                        {
                            failures.push(format!(
                                "{tag}: {:?} {stdout} {}",
                                output.status,
                                String::from_utf8_lossy(&output.stderr)
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "failed updates:\n{}",
        failures.join("\n")
    );

    let expected: BTreeSet<String> = (1..=WORKERS)
        .flat_map(|i| (1..=ROUNDS).map(move |j| format!("p{i}-{j}")))
        .collect();
    let record = repo.record(&id);
    let tags: Vec<String> = record["tags"]
        .as_array()
        .expect("tags array")
        .iter()
        .map(|t| t.as_str().expect("tag string").to_string())
        .collect();
    assert_eq!(tags.len(), WORKERS * ROUNDS, "no tag lost or doubled");
    assert_eq!(tags.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(repo.commit_count(&id), WORKERS * ROUNDS + 1);

    // A straight line of commits, one per tag.
    let reference = format!("refs/pm/issues/{id}");
    assert_eq!(repo.git(&["rev-list", "--merges", &reference]), "");
    let subjects: BTreeSet<String> = repo
        .git(&["log", "--format=%s", &reference])
        .lines()
        .filter(|s| !s.starts_with("create:"))
        .map(|s| {
            s.strip_prefix("update: tags +")
                .unwrap_or_else(|| panic!("unexpected subject {s}"))
                .to_string()
        })
        .collect();
    assert_eq!(subjects, expected);
    repo.assert_fsck_clean();
}

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
    repo.craft_record(CRAFTED_ID, "this is = = not toml\n[[[\n");
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
    repo.craft_record(CRAFTED_ID, &record_toml(UNKNOWN_ID, "\"Impostor\"", ""));
    assert_broken_record_is_isolated(&repo, &good, "disagrees");
    // The id in the file does not make a record appear under that id.
    let line = refused(&repo, &["issue", "show", UNKNOWN_ID], 1);
    assert!(line.contains("no issue with id"), "{line}");
}

// ---- 7. forward compatibility ----------------------------------------------------------

#[test]
fn unknown_toml_fields_survive_a_rewrite() {
    let repo = Repo::new();
    let text = record_toml(
        CRAFTED_ID,
        "\"Old title\"",
        "estimate = 3\n\n[future]\nnote = \"kept\"\nlevels = [1, 2]\n",
    );
    let first = repo.craft_record(CRAFTED_ID, &text);

    let doc = repo.pm_json(&["issue", "show", CRAFTED_ID]);
    assert_eq!(doc["issue"]["title"], "Old title");

    let out = repo.pm_ok(&["issue", "update", CRAFTED_ID, "--title", "New"]);
    assert_eq!(out, format!("Issue {CRAFTED_ID} update: title\n"));
    assert_eq!(repo.commit_count(CRAFTED_ID), 2);
    assert_eq!(
        repo.git(&["rev-parse", &format!("refs/pm/issues/{CRAFTED_ID}^")])
            .trim(),
        first
    );

    let raw = repo.record_text(CRAFTED_ID);
    assert!(raw.contains("estimate = 3"), "{raw}");
    assert!(raw.contains("[future]"), "{raw}");
    let record = repo.record(CRAFTED_ID);
    assert_eq!(record["title"].as_str(), Some("New"));
    assert_eq!(record["estimate"].as_integer(), Some(3));
    assert_eq!(record["future"]["note"].as_str(), Some("kept"));
    assert_eq!(
        record["future"]["levels"],
        toml::Value::Array(vec![1.into(), 2.into()])
    );
    assert_eq!(record["tags"], toml::Value::Array(vec!["crafted".into()]));
    assert_eq!(record["created"].as_str(), Some("2020-01-02T03:04:05Z"));

    // And through a status change too.
    repo.pm_ok(&["issue", "close", CRAFTED_ID]);
    let record = repo.record(CRAFTED_ID);
    assert_eq!(record["estimate"].as_integer(), Some(3));
    assert_eq!(record["future"]["note"].as_str(), Some("kept"));
    repo.assert_fsck_clean();
}

// ---- 8. dry run ------------------------------------------------------------------------

#[test]
fn dry_run_writes_nothing_but_reports_the_change() {
    let repo = Repo::new();
    let open = repo.add("Open one", &[]);
    let closed = repo.add("Closed one", &[]);
    repo.pm_ok(&["issue", "close", &closed]);
    let refs = repo.refs();
    let objects = repo.object_counts();
    let unchanged = |what: &str| {
        assert_eq!(repo.refs(), refs, "{what} changed refs/pm/");
        assert_eq!(repo.object_counts(), objects, "{what} wrote objects");
    };

    // add
    let out = repo.pm_ok(&[
        "--dry-run",
        "issue",
        "add",
        "--title",
        "Dry add",
        "--tag",
        "t",
    ]);
    assert!(out.starts_with("Would create issue "), "{out}");
    assert!(out.trim_end().ends_with(" Dry add"), "{out}");
    unchanged("dry-run add");
    let doc = repo.pm_json(&["-n", "issue", "add", "--title", "Dry add"]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["message"], "create: Dry add");
    assert_eq!(doc["issue"]["title"], "Dry add");
    assert_eq!(doc["issue"]["status"], "open");
    unchanged("dry-run add --json");

    // update
    let out = repo.pm_ok(&[
        "issue",
        "update",
        &open,
        "-n",
        "--title",
        "Renamed",
        "--priority",
        "high",
    ]);
    assert_eq!(
        out,
        format!("Would change issue {open}: update: title, priority medium -> high\n")
    );
    unchanged("dry-run update");
    let doc = repo.pm_json(&["-n", "issue", "update", &open, "--title", "Renamed"]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["message"], "update: title");
    assert_eq!(doc["issue"]["title"], "Renamed");
    unchanged("dry-run update --json");
    assert_eq!(repo.record(&open)["title"].as_str(), Some("Open one"));

    // close
    let out = repo.pm_ok(&["-n", "issue", "close", &open]);
    assert_eq!(
        out,
        format!("Would change issue {open}: close: open -> closed\n")
    );
    let doc = repo.pm_json(&["--dry-run", "issue", "close", &open]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["message"], "close: open -> closed");
    assert_eq!(doc["issue"]["status"], "closed");
    unchanged("dry-run close");

    // reopen
    let out = repo.pm_ok(&["-n", "issue", "reopen", &closed]);
    assert_eq!(
        out,
        format!("Would change issue {closed}: reopen: closed -> open\n")
    );
    let doc = repo.pm_json(&["-n", "issue", "reopen", &closed]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["message"], "reopen: closed -> open");
    assert_eq!(doc["issue"]["status"], "open");
    assert_eq!(doc["issue"]["closed"], Value::Null);
    unchanged("dry-run reopen");

    // A dry run that would change nothing says so; one that would be refused is refused.
    let doc = repo.pm_json(&["-n", "issue", "update", &open, "--title", "Open one"]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["message"], Value::Null);
    refused(&repo, &["-n", "issue", "close", &closed], 1);
    unchanged("refused dry runs");

    // Real writes still work afterwards (no lock or stray state left behind).
    repo.pm_ok(&["issue", "close", &open]);
    assert_eq!(repo.commit_count(&open), 2);
}

// ---- 9. identity -----------------------------------------------------------------------

fn author_and_committer(repo: &Repo, id: &str) -> String {
    repo.git(&[
        "log",
        "-1",
        "--format=%an <%ae> / %cn <%ce>",
        &format!("refs/pm/issues/{id}"),
    ])
    .trim_end()
    .to_string()
}

#[test]
fn add_works_without_any_configured_identity() {
    let repo = Repo::new();
    let probe = repo.git_run(repo.path(), &["config", "--get", "user.name"], None);
    assert!(!probe.success(), "precondition: no user.name anywhere");

    // HOME is empty, GIT_CONFIG_NOSYSTEM=1, and no GIT_AUTHOR_*/GIT_COMMITTER_* at all.
    let output = repo
        .pm_command(repo.path(), false)
        .args(["--json", "issue", "add", "--title", "Anonymous"])
        .output()
        .unwrap();
    let run = common::Run::new("pm issue add (no identity)".into(), output).ok();
    let id = id_of(&run.json());
    assert_eq!(
        author_and_committer(&repo, &id),
        "pm <pm@localhost> / pm <pm@localhost>"
    );
    let output = repo
        .pm_command(repo.path(), false)
        .args(["issue", "close", &id])
        .output()
        .unwrap();
    common::Run::new("pm issue close (no identity)".into(), output).ok();
    assert_eq!(repo.commit_count(&id), 2);
    repo.assert_fsck_clean();
}

#[test]
fn commits_carry_the_configured_identity() {
    let repo = Repo::new();
    let add = |env: &[(&str, &str)]| {
        let output = repo
            .pm_command(repo.path(), false)
            .envs(env.iter().copied())
            .args(["--json", "issue", "add", "--title", "Who am I"])
            .output()
            .unwrap();
        id_of(&common::Run::new("pm issue add".into(), output).ok().json())
    };

    // Global configuration in $HOME.
    std::fs::write(
        repo.home().join(".gitconfig"),
        "[user]\n\tname = Global Person\n\temail = global@example.com\n",
    )
    .unwrap();
    let id = add(&[]);
    assert_eq!(
        author_and_committer(&repo, &id),
        "Global Person <global@example.com> / Global Person <global@example.com>"
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an", &format!("refs/pm/issues/{id}")]),
        "Global Person\n"
    );

    // Repository configuration wins over global.
    repo.git(&["config", "user.name", "Local Person"]);
    repo.git(&["config", "user.email", "local@example.com"]);
    let id = add(&[]);
    assert_eq!(
        author_and_committer(&repo, &id),
        "Local Person <local@example.com> / Local Person <local@example.com>"
    );

    // The environment wins over configuration.
    let id = add(&[
        ("GIT_AUTHOR_NAME", "Env Person"),
        ("GIT_AUTHOR_EMAIL", "env@example.com"),
        ("GIT_COMMITTER_NAME", "Env Person"),
        ("GIT_COMMITTER_EMAIL", "env@example.com"),
    ]);
    assert_eq!(
        author_and_committer(&repo, &id),
        "Env Person <env@example.com> / Env Person <env@example.com>"
    );

    // The fixture's own identity reaches the events.
    let id = repo.add("Fixture identity", &[]);
    assert_eq!(
        author_and_committer(&repo, &id),
        format!("{NAME} <{EMAIL}> / {NAME} <{EMAIL}>")
    );
}

/// Like git, pm takes the author from `GIT_AUTHOR_*` (or `author.*`) and the
/// committer from `GIT_COMMITTER_*` (or `committer.*`), each falling back to `user.*`.
#[test]
fn author_identity_is_taken_from_the_author_settings() {
    let repo = Repo::new();
    let output = repo
        .pm_command(repo.path(), false)
        .envs([
            ("GIT_AUTHOR_NAME", "Alice Author"),
            ("GIT_AUTHOR_EMAIL", "alice@example.com"),
        ])
        .args(["--json", "issue", "add", "--title", "Authored"])
        .output()
        .unwrap();
    let id = id_of(&common::Run::new("pm issue add".into(), output).ok().json());
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%an <%ae>",
            &format!("refs/pm/issues/{id}")
        ]),
        "Alice Author <alice@example.com>\n"
    );

    let output = repo
        .pm_command(repo.path(), false)
        .envs([
            ("GIT_AUTHOR_NAME", "Alice Author"),
            ("GIT_AUTHOR_EMAIL", "alice@example.com"),
            ("GIT_COMMITTER_NAME", "Bob Committer"),
            ("GIT_COMMITTER_EMAIL", "bob@example.com"),
        ])
        .args(["--json", "issue", "add", "--title", "Committed"])
        .output()
        .unwrap();
    let id = id_of(&common::Run::new("pm issue add".into(), output).ok().json());
    assert_eq!(
        author_and_committer(&repo, &id),
        "Alice Author <alice@example.com> / Bob Committer <bob@example.com>"
    );
}

// ---- 10. subdirectories and worktrees --------------------------------------------------

#[test]
fn subdirectories_and_linked_worktrees_share_one_store() {
    let repo = Repo::new();
    let first = repo.add("Made in the main worktree", &[]);

    let wt = repo.root().join("linked");
    repo.git(&["worktree", "add", "-q", "--detach", wt.to_str().unwrap()]);
    let sub = wt.join("sub").join("deeper");
    std::fs::create_dir_all(&sub).unwrap();
    let main_sub = repo.path().join("src");
    std::fs::create_dir_all(&main_sub).unwrap();

    let only_first = vec![first.clone()];
    let list_from = |dir: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["issue", "list"]);
        listed_ids(&repo.pm_in(dir, &all).ok().json())
    };
    assert_eq!(list_from(&sub, &[]), only_first);
    assert_eq!(list_from(&wt, &["-C", "sub"]), only_first);
    assert_eq!(list_from(&wt, &["-C", "sub", "-C", "deeper"]), only_first);
    assert_eq!(list_from(repo.root(), &["-C", "linked/sub"]), only_first);
    assert_eq!(list_from(&main_sub, &[]), only_first);
    assert_eq!(list_from(repo.path(), &["-C", "src"]), only_first);

    // Written from the linked worktree, seen in the main one (by pm and by git).
    let run = repo
        .pm_in(
            &sub,
            &[
                "--json",
                "issue",
                "add",
                "--title",
                "Made in the linked worktree",
            ],
        )
        .ok();
    let second = id_of(&run.json());
    assert!(repo.ref_ids().contains(&second));
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    let mut seen = list_from(repo.path(), &[]);
    seen.sort();
    assert_eq!(seen, both);
    assert_eq!(
        repo.git(&["rev-parse", "--git-common-dir"]).trim(),
        ".git",
        "main worktree layout"
    );
    assert!(
        repo.path()
            .join(".git/refs/pm/issues")
            .join(&second)
            .is_file(),
        "the record ref lives in the common git directory"
    );

    // Updates in either place are seen in the other.
    repo.pm_ok(&["issue", "update", &second, "--tag", "from-main"]);
    let doc = repo
        .pm_in(&sub, &["--json", "issue", "show", &second])
        .ok()
        .json();
    assert_eq!(doc["issue"]["tags"], serde_json::json!(["from-main"]));
    repo.pm_in(&wt, &["issue", "close", &first]).ok();
    assert_eq!(repo.record(&first)["status"].as_str(), Some("closed"));
    repo.assert_fsck_clean();
}

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
    let commit = repo.craft_commit(&text, "create: \x1b[31mred\x1b[0m message", None);
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

// ---- packed refs -----------------------------------------------------------------------

#[test]
fn packed_record_refs_are_read_and_updated() {
    let repo = Repo::new();
    let id = repo.add("Packed", &[]);
    let other = repo.add("Also packed", &[]);
    repo.git(&["pack-refs", "--all"]);
    assert!(
        !repo.path().join(".git/refs/pm/issues").join(&id).exists(),
        "precondition: the ref is packed"
    );

    assert_eq!(list_ids(&repo, &[]).len(), 2);
    let before = repo.tip(&id);
    repo.pm_ok(&["issue", "update", &id, "--tag", "after-pack"]);
    assert_eq!(repo.commit_count(&id), 2);
    assert_eq!(
        repo.git(&["rev-parse", &format!("refs/pm/issues/{id}^")])
            .trim(),
        before
    );
    assert_eq!(repo.commit_count(&other), 1);
    let doc = repo.pm_json(&["issue", "show", &id]);
    assert_eq!(doc["issue"]["tags"], serde_json::json!(["after-pack"]));
    assert_eq!(repo.ref_ids().len(), 2);
    repo.assert_fsck_clean();
}

// ---- ref and object files, as git writes them ---------------------------------------------

/// The loose object file of `object` (a commit id or `<rev>:<path>`).
fn loose_object_file(repo: &Repo, object: &str) -> Vec<u8> {
    let id = repo.git(&["rev-parse", object]).trim().to_string();
    let path = repo
        .path()
        .join(".git/objects")
        .join(&id[..2])
        .join(&id[2..]);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{object} ({id}) is not loose: {e}"))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn records_are_written_uncompressed_unless_the_configuration_asks_for_compression() {
    let repo = Repo::new();
    let plain = repo.add("Stored as it is", &[]);
    let reference = format!("refs/pm/issues/{plain}");
    let blob = loose_object_file(&repo, &format!("{reference}:issue.toml"));
    assert!(contains(&blob, "title = \"Stored as it is\""));
    assert!(contains(&loose_object_file(&repo, &reference), "create"));

    repo.git(&["config", "core.looseCompression", "9"]);
    let packed = repo.add("Squeezed by zlib", &[]);
    repo.pm_ok(&["issue", "update", &plain, "--tag", "squeezed"]);
    for object in [
        format!("refs/pm/issues/{packed}:issue.toml"),
        format!("{reference}:issue.toml"),
    ] {
        let file = loose_object_file(&repo, &object);
        assert!(!contains(&file, "title = "), "{object} is compressed");
        assert!(repo.git(&["cat-file", "-p", &object]).contains("title = "));
    }
    assert_eq!(
        repo.pm_json(&["issue", "show", &plain])["issue"]["tags"],
        serde_json::json!(["squeezed"])
    );
    repo.assert_fsck_clean();
}

#[test]
fn a_ref_lock_left_behind_fails_the_update_with_one_line_and_changes_nothing() {
    let repo = Repo::new();
    let id = repo.add("Locked out", &[]);
    let before = repo.tip(&id);
    let lock = repo
        .path()
        .join(".git/refs/pm/issues")
        .join(format!("{id}.lock"));
    std::fs::write(&lock, "").expect("write a lock file");

    let started = std::time::Instant::now();
    let line = repo
        .pm(&["issue", "update", &id, "--tag", "blocked"])
        .fails_with(1);
    assert_names_a_stale_lock(&line, &format!("refs/pm/issues/{id}"), &lock);
    // Not retried for long: git gives up on a taken lock after 100 ms, pm after about 1 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(repo.tip(&id), before);
    assert!(lock.exists(), "another writer's lock is not pm's to remove");

    // The same through gix's ref transaction (taken when a reflog is kept).
    repo.git(&["config", "core.logAllRefUpdates", "always"]);
    let line = repo
        .pm(&["issue", "update", &id, "--tag", "blocked"])
        .fails_with(1);
    assert_names_a_stale_lock(&line, &format!("refs/pm/issues/{id}"), &lock);
    assert_eq!(repo.tip(&id), before);
    repo.git(&["config", "--unset", "core.logAllRefUpdates"]);

    std::fs::remove_file(&lock).expect("remove the lock");
    repo.pm_ok(&["issue", "update", &id, "--tag", "free"]);
    assert_eq!(repo.commit_count(&id), 2);
}

/// The error line names what is locked and the lock file, says a crashed process may have
/// left it, and when to remove it.
#[track_caller]
fn assert_names_a_stale_lock(line: &str, what: &str, lock: &std::path::Path) {
    let expected = format!(
        "{what} is locked: {} exists (a git or pm process is writing it, or one that crashed \
         left it behind); remove that file if no git or pm process is running",
        lock.display()
    );
    assert!(line.ends_with(&expected), "{line}");
}

/// Neither a new record nor an update needs `packed-refs.lock` (git takes none for them
/// either), so one that a crashed process left behind stops neither; pm leaves it alone.
#[test]
fn a_packed_refs_lock_left_behind_stops_no_create_or_update() {
    let repo = Repo::new();
    let id = repo.add("Packed away", &[]);
    repo.git(&["pack-refs", "--all"]);
    let lock = repo.path().join(".git/packed-refs.lock");
    std::fs::write(&lock, "").expect("write a lock file");

    let new = repo.add("New", &[]);
    assert_eq!(repo.ref_ids().len(), 2);
    assert_eq!(repo.commit_count(&new), 1);
    repo.pm_ok(&["issue", "update", &id, "--tag", "still-fine"]);
    assert_eq!(repo.commit_count(&id), 2);
    assert!(
        lock.exists(),
        "a lock pm did not take is not pm's to remove"
    );
    std::fs::remove_file(&lock).expect("remove the lock");
    repo.assert_fsck_clean();
}

/// Set the modification time of `path` back to 2001, as if written long ago.
fn make_old(path: &std::path::Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "2001-01-01 00:00:00"])
        .arg(path)
        .status()
        .expect("touch runs");
    assert!(status.success());
}

#[test]
fn temporary_files_that_a_killed_run_left_are_removed_by_the_next_write() {
    let repo = Repo::new();
    let id = repo.add("Tidy up", &[]);
    let git = repo.path().join(".git");
    std::fs::create_dir_all(git.join("pm/index")).unwrap();
    // Left by a pm that was killed between writing a temporary file and renaming it.
    let left = [
        git.join("pm/.tmp-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        git.join("pm/index/.tmp-index-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        git.join("objects/tmp_obj_pm-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ];
    // Not pm's to remove: other names (git's own temporary object among them), and a
    // temporary file of pm's that is being written right now.
    let kept = [
        git.join("pm/.tmp-notes"),
        git.join("pm/index/.tmp-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        git.join("pm/keep.toml"),
        git.join("objects/tmp_obj_Xq3z9A"),
        git.join("objects/tmp_obj_4242_1f"),
    ];
    let young = git.join("pm/.tmp-4343-01ARZ3NDEKTSV4RRFFQ69G5FAW");
    for path in left.iter().chain(&kept).chain([&young]) {
        std::fs::write(path, "partial").unwrap();
    }
    for path in left.iter().chain(&kept) {
        make_old(path);
    }

    // A dry run, which writes nothing, leaves them; the next write clears pm's old ones.
    repo.pm_ok(&["--dry-run", "issue", "update", &id, "--tag", "tidy"]);
    assert!(left.iter().all(|p| p.exists()), "a dry run deletes nothing");
    repo.pm_ok(&["issue", "update", &id, "--tag", "tidy"]);
    for path in &left {
        assert!(!path.exists(), "{} is still there", path.display());
    }
    for path in kept.iter().chain([&young]) {
        assert!(path.exists(), "{} was removed", path.display());
    }
    assert_eq!(repo.commit_count(&id), 2);
    for path in &kept[3..] {
        std::fs::remove_file(path).unwrap();
    }
    repo.assert_fsck_clean();
}

/// Text that TOML stores two bytes for each character: backslashes, after a `'''` that
/// rules out a literal string.
fn escaped_text(len: usize) -> String {
    format!("'''{}", "\\".repeat(len - 3))
}

#[test]
fn an_update_that_would_outgrow_the_record_limit_is_refused_naming_the_field() {
    let repo = Repo::new();
    // Each text is inside its own 64 KiB limit; together, stored, they take more than the
    // 256 KiB a record may hold (and pm reads back).
    let description = escaped_text(64 * 1024 - 16);
    let body = escaped_text(64 * 1024);
    let id = repo.add("Grows", &["--description", &description]);
    let refs = repo.git(&["for-each-ref"]);

    for dry_run in [true, false] {
        let mut args = vec!["issue", "update", &id, "--body", &body];
        if dry_run {
            args.push("--dry-run");
        }
        let line = repo.pm(&args).fails_with(1);
        assert!(
            line.starts_with(&format!("error: cannot store issue {id}: it would take ")),
            "{line}"
        );
        assert!(
            line.contains("more than the 256 KiB a record may hold"),
            "{line}"
        );
        assert!(line.contains("its largest field is body"), "{line}");
        assert_eq!(repo.git(&["for-each-ref"]), refs, "nothing was written");
    }

    // Every record stays readable, by pm and by git.
    let listed = repo.pm_json(&["issue", "list"]);
    assert_eq!(listed["errors"], serde_json::json!([]), "{listed}");
    assert_eq!(repo.commit_count(&id), 1);
    repo.assert_fsck_clean();

    // A body that fits is taken.
    repo.pm_ok(&["issue", "update", &id, "--body", &escaped_text(60 * 1024)]);
    assert_eq!(repo.commit_count(&id), 2);
    let stored = repo.git(&["cat-file", "-s", &format!("refs/pm/issues/{id}:issue.toml")]);
    assert!(stored.trim().parse::<usize>().expect("a size") <= 256 * 1024);

    // So is a new issue: refused before anything is written, in a dry run too.
    for dry_run in [true, false] {
        let mut args = vec!["issue", "add", "--title", "Too big"];
        args.extend(["--description", &description, "--body", &body]);
        if dry_run {
            args.push("--dry-run");
        }
        let line = repo.pm(&args).fails_with(1);
        assert!(line.contains("its largest field is body"), "{line}");
    }
    assert_eq!(repo.ref_ids(), vec![id.clone()]);
    repo.assert_fsck_clean();
}

#[test]
fn a_reflog_that_is_kept_gets_every_update() {
    let repo = Repo::new();
    let kept = repo.add("With a reflog", &[]);
    let reference = format!("refs/pm/issues/{kept}");
    // An empty log file is a reflog that git keeps and appends to.
    let logs = repo.path().join(".git/logs/refs/pm/issues");
    std::fs::create_dir_all(&logs).expect("create the log folder");
    std::fs::write(logs.join(&kept), "").expect("start a reflog");
    repo.pm_ok(&["issue", "update", &kept, "--tag", "logged"]);
    let log = repo.git(&["reflog", "show", "--format=%H %gs", &reference]);
    assert!(
        log.starts_with(&format!("{} pm: update: tags +logged", repo.tip(&kept))),
        "{log}"
    );

    // Without a reflog and without core.logAllRefUpdates=always, none is started.
    let plain = repo.add("Without one", &[]);
    repo.pm_ok(&["issue", "update", &plain, "--tag", "quiet"]);
    let reflog = format!("refs/pm/issues/{plain}");
    assert!(
        !repo
            .git_run(repo.path(), &["reflog", "exists", &reflog], None)
            .success()
    );
    repo.git(&["config", "core.logAllRefUpdates", "always"]);
    repo.pm_ok(&["issue", "update", &plain, "--tag", "loud"]);
    let log = repo.git(&["reflog", "show", "--format=%gs", &reflog]);
    assert_eq!(log.lines().next(), Some("pm: update: tags +loud"), "{log}");
    repo.assert_fsck_clean();
}
