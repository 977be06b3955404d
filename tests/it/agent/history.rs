//! `pm agent history`, `show` and `events`.

use super::*;

// ---- history, show, events -------------------------------------------------------------

#[test]
fn commits_are_counted_for_real() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/counted");
    // Still at its base: no commit of its own to show.
    let doc = repo.pm_json(&["agent", "history"]);
    assert!(find_session(&doc, &id)["last_commit"].is_null(), "{doc}");
    commit_file(&repo, &wt, "one.txt", "1\n", "first change");
    let second = commit_file(&repo, &wt, "two.txt", "2\n", "second change");
    assert_eq!(
        repo.git(&["rev-list", "--count", "main..feature/counted"])
            .trim(),
        "2",
        "git's own count"
    );

    let doc = repo.pm_json(&["agent", "history"]);
    let s = find_session(&doc, &id);
    assert_eq!(s["commits"], 2);
    assert_eq!(s["last_commit"]["commit"], second.as_str());
    assert_eq!(s["last_commit"]["subject"], "second change");
    let text = repo.pm_ok(&["agent", "history"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "COMMITS",
            "DURATION",
            "LAST COMMIT",
        ],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], id);
    assert_eq!(rows[0][4], "2");
    assert!(rows[0][6].contains(&second[..8]), "{:?}", rows[0]);
    assert_eq!(
        find_session(&repo.pm_json(&["agent", "list"]), &id)["commits"],
        2
    );

    // Commits on main do not count; the stored count is right once the session is finished.
    repo.git(&["commit", "-q", "--allow-empty", "-m", "main moves on"]);
    close(&repo, &["--done", &id]);
    assert_eq!(
        repo.record_of(Kind::Session, &id)["commits"].as_integer(),
        Some(2)
    );
    let doc = repo.pm_json(&["agent", "history"]);
    assert_eq!(find_session(&doc, &id)["commits"], 2);
    assert_eq!(find_session(&doc, &id)["status"], "completed");
}

/// `count` finished session records owned by clone `owner`, written with one `git fast-import`
/// (as another tool, or a clone that lost its notes, would leave them): no local notes.
fn import_finished_sessions(repo: &Repo, owner: &str, count: usize) -> Vec<String> {
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let mut records = Vec::new();
    for i in 0..count {
        let id = format!("01ARZ3NDEKTSV4RRFFQ69{i:05}");
        let text = format!(
            "schema = 1\nid = \"{id}\"\nbranch = \"old/{i}\"\nbase = \"{base}\"\n\
             base_ref = \"main\"\nstatus = \"completed\"\nagent = \"x\"\nowner = \"{owner}\"\n\
             started = \"2020-01-02T03:04:05Z\"\nupdated = \"2020-01-02T03:04:05Z\"\n\
             ended = \"2020-01-02T04:04:05Z\"\ncommits = 1\n"
        );
        records.push((id, text));
    }
    repo.import_records(Kind::Session, &records);
    records.into_iter().map(|(id, _)| id).collect()
}

/// Issue 14 point 21: the history of many sessions lists this clone's notes once instead of
/// trying to open a note for each session of the clone; a session whose note exists still
/// shows its worktree, the others none.
#[test]
fn a_long_history_still_shows_the_worktrees_this_clone_noted() {
    let repo = repo_with_file();
    let (noted, wt) = launch_branch(&repo, "feature/noted");
    close(&repo, &["--done", &noted]);
    let me = std::fs::read_to_string(repo.path().join(".git/pm/clone-id")).unwrap();
    let imported = import_finished_sessions(&repo, me.trim(), 100);
    let in_git = repo.git(&["for-each-ref", "--format=%(refname)", "refs/pm/sessions/"]);
    assert_eq!(in_git.lines().count(), 101, "git's own count");

    let doc = repo.pm_json(&["agent", "history"]);
    let mut shown = ids_of(&doc);
    shown.sort();
    let mut expected: Vec<String> = imported.clone();
    expected.push(noted.clone());
    expected.sort();
    assert_eq!(shown, expected);
    let s = find_session(&doc, &noted);
    assert_eq!(s["worktree"], wt.to_str().unwrap(), "{s}");
    assert_eq!(s["worktree_exists"], true);
    assert_eq!(s["mine"], true);
    for id in &imported {
        let s = find_session(&doc, id);
        assert_eq!(s["mine"], true, "{s}");
        assert!(s["worktree"].is_null(), "{s}");
        assert_eq!(s["commits"], 1);
        assert_eq!(s["duration"], 3600);
    }
    // The table has every session once, ids whole, newest first.
    let text = repo.pm_ok(&["agent", "history"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "COMMITS",
            "DURATION",
            "LAST COMMIT",
        ],
    );
    assert_eq!(rows.len(), 101);
    assert_eq!(rows[0][0], noted, "the newest first");
    let mut ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    ids.sort();
    assert_eq!(ids, expected);
    let old = rows.iter().find(|r| r[0] == imported[7]).expect("a row");
    assert_eq!(old[1..6], ["old/7", "completed", "-", "1", "1h 0m"]);
    // --limit keeps the newest.
    let doc = repo.pm_json(&["agent", "history", "--limit", "1"]);
    assert_eq!(ids_of(&doc), vec![noted]);
}

/// A history of thousands is written in parts on several threads: the document is the one
/// a short history gets (compared with `--limit`, which stays below the threshold), whole.
#[test]
fn a_history_of_thousands_is_one_whole_document() {
    let repo = repo_with_file();
    let imported = import_finished_sessions(&repo, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 17_000);
    let run = repo.pm(&["--json", "agent", "history"]).ok();
    assert!(
        run.stdout
            .starts_with("{\n  \"json_version\": 1,\n  \"sessions\": [\n    {\n")
    );
    assert!(
        run.stdout.ends_with("\n  ],\n  \"errors\": []\n}\n"),
        "{}",
        &run.stdout[run.stdout.len() - 200..]
    );
    let doc = run.json();
    let all = doc["sessions"].as_array().expect("sessions");
    assert_eq!(all.len(), imported.len());
    let mut expected = imported.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids_of(&doc), expected, "newest first, every one");
    let few = repo
        .pm(&["--json", "agent", "history", "--limit", "2000"])
        .ok();
    let few_doc = few.json();
    assert_eq!(few_doc["sessions"].as_array().unwrap()[..], all[..2000]);
    // The text itself: the first 2,000 sessions are laid out byte for byte the same.
    let cut = |text: &str| {
        text.match_indices("\n    },")
            .nth(1998)
            .map(|(at, _)| at)
            .unwrap()
    };
    assert_eq!(
        few.stdout[..cut(&few.stdout)],
        run.stdout[..cut(&run.stdout)]
    );
}

#[test]
fn show_reports_the_worktree_its_state_and_ahead_behind() {
    let repo = repo_with_file();
    let issue = repo.add("Show me", &[]);
    let doc = launch(&repo, &["--issue", &issue, "--role", "reviewer"]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));

    let show = repo.pm_json(&["agent", "show", &id[..10]]);
    let s = &show["session"];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["issue"], issue.as_str());
    assert_eq!(s["role"], "reviewer");
    assert_eq!(s["worktree"], wt.to_str().unwrap());
    assert_eq!(s["worktree_exists"], true);
    assert_eq!(s["mine"], true);
    assert_eq!(show["dirty"], false);
    assert_eq!(show["ahead"], 0);
    assert_eq!(show["behind"], 0);
    assert_eq!(show["purged"], Value::Null);

    // Two commits on the branch, one on main, a tracked file changed.
    commit_file(&repo, &wt, "a.txt", "a\n", "a");
    commit_file(&repo, &wt, "b.txt", "b\n", "b");
    repo.git(&["commit", "-q", "--allow-empty", "-m", "main moves on"]);
    std::fs::write(wt.join("README.txt"), "changed, and longer than before\n").unwrap();
    assert_ne!(status_porcelain(&repo, &wt), "", "git sees the change");
    let show = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(show["dirty"], true);
    assert_eq!(show["ahead"], 2);
    assert_eq!(show["behind"], 1);
    assert_eq!(show["session"]["commits"], 2);
    let text = repo.pm_ok(&["agent", "show", &id]);
    assert!(
        text.contains(&format!("{} (dirty)", wt.display())),
        "{text}"
    );
    assert!(text.contains("2 ahead, 1 behind main"), "{text}");

    // Clean again.
    repo.git_in(&wt, &["checkout", "--", "README.txt"]);
    assert_eq!(repo.pm_json(&["agent", "show", &id])["dirty"], false);

    // The folder gone: reported as missing, no dirty state.
    std::fs::remove_dir_all(&wt).unwrap();
    let show = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(show["session"]["worktree_exists"], false);
    assert_eq!(show["dirty"], Value::Null);
    let text = repo.pm_ok(&["agent", "show", &id]);
    assert!(
        text.contains(&format!("{} (missing)", wt.display())),
        "{text}"
    );

    let line = refused(&repo, &["agent", "show", UNKNOWN_ID], 1);
    assert!(line.contains(UNKNOWN_ID), "{line}");
}

#[test]
fn events_list_every_change_newest_first_one_commit_each() {
    let repo = Repo::new();
    let issue = repo.add("Eventful", &[]);
    let id = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    close(&repo, &[&id]);
    close(&repo, &[&id]); // idle -> idle writes nothing
    launch(&repo, &["--issue", &issue]);
    close(&repo, &["--done", &id]);
    repo.pm_ok(&["agent", "reactivate", &id]);
    close(&repo, &["--abandon", &id]);

    let expected = [
        "close: idle -> abandoned",
        "reactivate: completed -> idle",
        "close: active -> completed",
        "resume: idle -> active",
        "close: active -> idle",
        "launch: active on feature/eventful",
    ];
    assert_eq!(repo.commit_count_of(Kind::Session, &id), expected.len());
    let doc = repo.pm_json(&["agent", "events", &id[..12].to_lowercase()]);
    assert_eq!(doc["id"], id.as_str());
    let events = doc["events"].as_array().unwrap();
    let messages: Vec<String> = events.iter().map(|e| str_of(&e["message"])).collect();
    assert_eq!(messages, expected);
    let commits: Vec<String> = events.iter().map(|e| str_of(&e["commit"])).collect();
    let rev_list: Vec<String> = repo
        .git(&["rev-list", &Kind::Session.ref_name(&id)])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(commits, rev_list, "one commit per event, newest first");
    for event in events {
        assert_eq!(event["author"], NAME);
        assert_eq!(event["email"], EMAIL);
    }

    let text = repo.pm_ok(&["agent", "events", &id]);
    let rows = table_rows(&text, &["TIME", "WHO", "WHAT"]);
    let whats: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(whats, expected);
    assert!(rows.iter().all(|r| r[1] == format!("{NAME} <{EMAIL}>")));

    refused(&repo, &["agent", "events", UNKNOWN_ID], 1);
}
