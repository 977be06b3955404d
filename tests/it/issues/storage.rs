//! `pm issue …` storage: one commit per change, listing, ids, concurrent updates.

use super::*;

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

/// A write that cannot succeed however often it is tried (here a file sits where the folder
/// of the ref's reflog must be, which stops root as well) fails at once with one line naming
/// the ref and why; it is not taken for another writer's move and retried.
#[test]
fn a_ref_write_that_cannot_succeed_fails_at_once_and_is_not_retried() {
    let repo = Repo::new();
    let id = repo.add("Blocked log", &[]);
    let before = repo.tip(&id);
    let refs_before = repo.refs();
    // A reflog is then kept for every ref, which sends the write through gix's transaction.
    repo.git(&["config", "core.logAllRefUpdates", "always"]);
    let logs = repo.path().join(".git/logs/refs/pm");
    if logs.exists() {
        std::fs::remove_dir_all(&logs).expect("remove the reflogs of records");
    }
    std::fs::write(&logs, "not a folder\n").expect("a file in the way");

    let line = repo
        .pm(&["issue", "update", &id, "--tag", "blocked"])
        .fails_with(1);
    let name = format!("refs/pm/issues/{id}");
    assert!(
        line.starts_with(&format!("error: could not update {name}: ")),
        "{line}"
    );
    assert!(
        line.contains("reflog") && line.contains("Not a directory"),
        "{line}"
    );
    assert!(
        !line.contains("kept changing") && !line.contains("attempts"),
        "a permanent failure was retried: {line}"
    );
    assert_eq!(repo.tip(&id), before);
    assert_eq!(repo.refs(), refs_before, "no ref changed");
    let lock = repo
        .path()
        .join(".git/refs/pm/issues")
        .join(format!("{id}.lock"));
    assert!(!lock.exists(), "the lock was left behind");
    repo.assert_fsck_clean();

    // Once the way is clear, the same update goes through.
    std::fs::remove_file(&logs).expect("clear the way");
    repo.pm_ok(&["issue", "update", &id, "--tag", "blocked"]);
    assert_eq!(repo.commit_count(&id), 2);
}
