//! Records spreading between clones: concurrent edits, merges, racing pushes, and the
//! `pm sync` options.

use super::*;

// ---- 1. spreading a record ----------------------------------------------------------

#[test]
fn an_issue_created_in_one_clone_reaches_three_others() {
    let net = Net::new(4);
    let id = net.add(0, "Spread me", &["--tag", "sync", "--priority", "high"]);
    let doc = net.sync(0);
    assert_eq!(doc["pushed"], 1, "{doc}");
    assert_eq!(doc["rounds"], 1);

    for i in 1..4 {
        let doc = net.sync(i);
        assert_eq!(doc["created"], 1, "clone {i}: {doc}");
        assert_eq!(doc["pushed"], 0, "clone {i}: {doc}");
        assert!(rejected_refs(&doc).is_empty());
        let issue = net.issue(i, &id);
        assert_eq!(issue["title"], "Spread me");
        assert_eq!(issue["priority"], "high");
        assert_eq!(issue["tags"], serde_json::json!(["sync"]));
        // The text form works too.
        let shown = net.pm_ok(i, &["issue", "show", &id]);
        assert!(shown.contains("Spread me"), "{shown}");
    }
    // The same commit everywhere, and on the remote.
    let origin = net.tip(0, &format!("refs/pm/issues/{id}"));
    for i in 0..4 {
        assert_eq!(net.tip(i, &format!("refs/pm/issues/{id}")), origin);
        assert_eq!(net.refs(i), net.refs(0));
    }
    assert_eq!(net.remote_refs(), net.refs(0));
    // A second sync of a clone that is up to date does nothing.
    let doc = net.sync(3);
    for key in ["fetched", "created", "fast_forwarded", "merged", "pushed"] {
        assert_eq!(doc[key], 0, "{key} in {doc}");
    }
}

// ---- 2. concurrent edits of different fields ----------------------------------------

#[test]
fn concurrent_edits_of_different_fields_are_both_kept() {
    let net = Net::new(2);
    let id = net.add(0, "Original", &["--tag", "base"]);
    net.sync(0);
    net.sync(1);

    net.pm_ok(0, &["issue", "update", &id, "--title", "Renamed in A"]);
    net.pm_ok(
        1,
        &[
            "issue",
            "update",
            &id,
            "--priority",
            "high",
            "--tag",
            "from-b",
        ],
    );
    net.sync(0);
    let doc = net.sync(1);
    assert_eq!(doc["merged"], 1, "{doc}");
    assert_eq!(doc["pushed"], 1, "{doc}");
    let doc = net.sync(0);
    assert_eq!(doc["fast_forwarded"], 1, "{doc}");

    for i in 0..2 {
        let issue = net.issue(i, &id);
        assert_eq!(issue["title"], "Renamed in A", "clone {i}");
        assert_eq!(issue["priority"], "high", "clone {i}");
        assert_eq!(
            issue["tags"],
            serde_json::json!(["base", "from-b"]),
            "clone {i}"
        );
    }
    let name = format!("refs/pm/issues/{id}");
    let tip = net.tip(0, &name);
    assert_eq!(net.tip(1, &name), tip);
    // The tip is a merge of the two edits, made by pm's fixed identity.
    let parents = net.git(0, &["log", "-1", "--format=%P|%an <%ae>|%s", &tip]);
    let fields: Vec<&str> = parents.trim().split('|').collect();
    assert_eq!(fields[0].split(' ').count(), 2, "{parents}");
    assert_eq!(fields[1], "pm <pm@localhost>");
    assert_eq!(fields[2], "merge");
    assert_eq!(net.remote_refs(), net.refs(0));
}

/// Two clones that merge the same two versions independently write the same merge commit:
/// clone 0 takes clone 1's version straight from clone 1 (a peer remote), clone 1 takes clone
/// 0's from the shared remote.
#[test]
fn independent_merges_of_the_same_versions_are_the_same_commit() {
    let net = Net::new(2);
    let id = net.add(0, "Shared", &[]);
    net.sync(0);
    net.sync(1);
    net.pm_ok(0, &["issue", "update", &id, "--description", "from A"]);
    net.pm_ok(
        1,
        &["issue", "update", &id, "--type", "chore", "--tag", "b"],
    );
    let name = format!("refs/pm/issues/{id}");
    let (a_version, b_version) = (net.tip(0, &name), net.tip(1, &name));
    net.sync(0);

    let c1 = net.c(1).to_str().unwrap().to_string();
    net.git(0, &["remote", "add", "peer", &c1]);
    let doc = net.json(0, &["sync", "peer", "--fetch-only"]);
    assert_eq!(doc["merged"], 1, "{doc}");
    let doc = net.json(1, &["sync", "--fetch-only"]);
    assert_eq!(doc["merged"], 1, "{doc}");

    let merge = net.tip(0, &name);
    assert_eq!(
        net.tip(1, &name),
        merge,
        "the two clones wrote different merges"
    );
    let parents = net.git(0, &["log", "-1", "--format=%P", &merge]);
    let parents: BTreeSet<&str> = parents.split_whitespace().collect();
    assert_eq!(
        parents,
        BTreeSet::from([a_version.as_str(), b_version.as_str()])
    );
    let issue = net.issue(0, &id);
    assert_eq!(
        (issue["description"].as_str(), issue["type"].as_str()),
        (Some("from A"), Some("chore"))
    );
    net.sync(1);
    let doc = net.sync(0);
    assert_eq!(doc["merged"], 0, "{doc}");
    assert_eq!(net.refs(0), net.refs(1));
    assert_eq!(net.remote_refs(), net.refs(0));
}

// ---- 3. sessions closed concurrently in two clones ----------------------------------

#[test]
fn completed_beats_idle_in_every_clone_and_the_issue_ends_done() {
    let net = Net::new(3);
    // Two sessions launched in clone 0. The first is completed in clone 0 and idled in clone
    // 1, the second the other way round.
    let mut cases = Vec::new();
    for title in ["Done here", "Done there"] {
        let issue = net.add(0, title, &[]);
        let launched = net.json(0, &["agent", "launch", "--issue", &issue]);
        cases.push((issue, launched["id"].as_str().unwrap().to_string()));
    }
    net.sync_all_twice();
    for (n, (issue, session)) in cases.iter().enumerate() {
        let (done_in, idle_in) = if n == 0 { (0, 1) } else { (1, 0) };
        // Clone 1 does not own the sessions, which are active as far as it knows: closing
        // them there needs --force.
        let idle = net.json(idle_in, &["agent", "close", session, "--force"]);
        assert_eq!(idle["status"], "idle", "{idle}");
        let done = net.json(done_in, &["agent", "close", session, "--done", "--force"]);
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(net.issue(done_in, issue)["status"], "done");
        assert_eq!(net.issue(idle_in, issue)["status"], "in_progress");
    }
    net.sync(0);
    let doc = net.sync(1);
    // Both sessions merge; the first issue fast-forwards to done.
    assert_eq!(
        (doc["merged"].as_u64(), doc["fast_forwarded"].as_u64()),
        (Some(2), Some(1)),
        "{doc}"
    );
    net.sync_all_twice();

    for (issue, session) in &cases {
        for i in 0..3 {
            let record = net.session_toml(i, session);
            assert_eq!(record["status"].as_str(), Some("completed"), "clone {i}");
            assert!(record.contains_key("ended"), "clone {i}: {record}");
            assert_eq!(net.issue(i, issue)["status"], "done", "clone {i}");
            let shown = net.json(i, &["agent", "show", session]);
            assert_eq!(shown["session"]["status"], "completed", "{shown}");
        }
    }
    net.assert_converged();
}

/// The same, with the idle close on the remote first and the completing clone merging it.
#[test]
fn completed_beats_idle_when_the_idle_clone_pushes_first() {
    let net = Net::new(2);
    let issue = net.add(0, "Race of closes", &[]);
    let session = net.json(0, &["agent", "launch", "--issue", &issue])["id"]
        .as_str()
        .unwrap()
        .to_string();
    net.sync(0);
    net.sync(1);
    net.json(0, &["agent", "close", &session, "--done"]);
    net.json(1, &["agent", "close", &session, "--force"]);
    net.sync(1);
    let doc = net.sync(0);
    assert_eq!(doc["merged"], 1, "{doc}");
    net.sync(1);
    for i in 0..2 {
        assert_eq!(
            net.session_toml(i, &session)["status"].as_str(),
            Some("completed")
        );
        assert_eq!(net.issue(i, &issue)["status"], "done");
    }
    net.assert_converged();
}

// ---- 4. convergence ---------------------------------------------------------------

#[test]
fn after_two_rounds_every_clone_has_the_same_refs_and_fsck_is_clean() {
    let net = Net::new(3);
    let shared: Vec<String> = (0..3)
        .map(|n| net.add(0, &format!("Shared {n}"), &[]))
        .collect();
    net.sync_all_twice();
    // Every clone edits every shared record (some fields conflict), adds its own records,
    // and clone 2 launches a session.
    for i in 0..3 {
        for (n, id) in shared.iter().enumerate() {
            let title = format!("Title by {i}");
            let tag = format!("t{i}");
            let prio = ["low", "medium", "high"][(i + n) % 3];
            net.pm_ok(
                i,
                &[
                    "issue",
                    "update",
                    id,
                    "--title",
                    &title,
                    "--tag",
                    &tag,
                    "--priority",
                    prio,
                ],
            );
        }
        net.add(i, &format!("Own of {i}"), &[]);
    }
    let issue = net.add(2, "Worked on in clone 2", &[]);
    net.json(2, &["agent", "launch", "--issue", &issue]);
    net.sync_all_twice();
    net.assert_converged();

    // Every clone's tags survive on every shared record; the records are identical.
    for id in &shared {
        let first = net.issue(0, id);
        assert_eq!(
            first["tags"],
            serde_json::json!(["t0", "t1", "t2"]),
            "{first}"
        );
        for i in 1..3 {
            assert_eq!(net.issue(i, id), first);
        }
        // The tip is a merge commit, and its id is the same everywhere (same refs).
        let tip = net.tip(0, &format!("refs/pm/issues/{id}"));
        let parents = net.git(0, &["log", "-1", "--format=%P", &tip]);
        assert_eq!(parents.split_whitespace().count(), 2, "{id}: {parents}");
    }
    let ids = net.git(
        0,
        &["for-each-ref", "--format=%(refname)", "refs/pm/issues/"],
    );
    assert_eq!(ids.lines().count(), 3 + 3 + 1);
    // One more round changes nothing anywhere.
    let before = net.refs(0);
    for i in 0..3 {
        let doc = net.sync(i);
        assert_eq!(doc["merged"], 0, "{doc}");
        assert_eq!(doc["pushed"], 0, "{doc}");
    }
    assert_eq!(net.refs(0), before);
}

// ---- 5. racing pushes ----------------------------------------------------------------

#[test]
fn concurrent_syncs_lose_nothing() {
    let net = Net::new(3);
    let shared = net.add(0, "Raced over", &[]);
    net.sync_all_twice();
    let mut created: Vec<String> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for round in 0..3 {
        for i in 0..3 {
            created.push(net.add(i, &format!("Round {round} clone {i}"), &[]));
            let tag = format!("r{round}c{i}");
            net.pm_ok(i, &["issue", "update", &shared, "--tag", &tag]);
            tags.push(tag);
        }
        net.pm_ok(
            round % 3,
            &[
                "issue",
                "update",
                &shared,
                "--title",
                &format!("Title {round}"),
            ],
        );
        let children: Vec<Child> = (0..3)
            .map(|i| spawn_pm(&net, i, &["--json", "sync"]))
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let run = finish(child, &format!("pm sync in clone {i}, round {round}"));
            let run = run.ok();
            let doc = run.json();
            assert!(doc["push_rejected"].as_array().unwrap().is_empty(), "{doc}");
        }
    }
    net.sync_all_twice();
    net.assert_converged();
    for i in 0..3 {
        for id in &created {
            net.issue(i, id);
        }
        let issue = net.issue(i, &shared);
        assert_eq!(issue["title"], "Title 2", "clone {i}");
        let mut have: Vec<&str> = issue["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        have.sort_unstable();
        let mut want: Vec<&str> = tags.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(have, want, "clone {i}");
    }
}

/// A push that loses a race is retried: the remote's `pre-receive` hook lets clone 0 push its
/// own edit of the same record while clone 1's push waits, so clone 1's update is refused
/// (the ref moved) and its sync has to fetch, merge and push again.
#[test]
fn a_push_that_loses_a_race_is_merged_and_retried() {
    let net = Net::new(2);
    let id = net.add(0, "Contended", &[]);
    net.sync(0);
    net.sync(1);
    net.pm_ok(0, &["issue", "update", &id, "--title", "A's title"]);
    net.pm_ok(1, &["issue", "update", &id, "--priority", "low"]);
    let fresh = net.add(1, "New in B", &[]);

    let marker = net.remote.join("race-once");
    std::fs::write(&marker, "").unwrap();
    let env: String = common::base_env(net.repo.home())
        .into_iter()
        .chain(common::identity_env())
        .map(|(k, v)| format!("{}='{}' ", k.to_str().unwrap(), v.to_str().unwrap()))
        .collect();
    let hook = format!(
        "#!/bin/sh\ncat >/dev/null\nif [ -e '{marker}' ]; then\n  rm -f '{marker}'\n  \
         env -i {env} '{pm}' -C '{a}' sync --push-only >'{log}' 2>&1 || exit 1\nfi\nexit 0\n",
        marker = marker.display(),
        pm = common::pm_bin().display(),
        a = net.c(0).display(),
        log = net.remote.join("race.log").display(),
    );
    let hook_path = net.remote.join("hooks/pre-receive");
    std::fs::write(&hook_path, hook).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = net.pm(1, &["--json", "sync"]).ok();
    let doc = run.json();
    assert!(!marker.exists(), "the hook did not run");
    let log = std::fs::read_to_string(net.remote.join("race.log")).unwrap();
    assert!(
        log.contains("pushed 1"),
        "clone 0's push in the hook: {log}"
    );
    assert_eq!(doc["rounds"], 2, "{doc}");
    assert_eq!(doc["merged"], 1, "{doc}");
    assert!(doc["push_rejected"].as_array().unwrap().is_empty(), "{doc}");
    // Round 1 pushed the new issue (the contended one was refused); round 2 the merge.
    assert_eq!(doc["pushed"], 2, "{doc}");
    std::fs::remove_file(&hook_path).unwrap();

    net.sync(0);
    for i in 0..2 {
        let issue = net.issue(i, &id);
        assert_eq!(issue["title"], "A's title");
        assert_eq!(issue["priority"], "low");
        net.issue(i, &fresh);
    }
    net.assert_converged();
}

/// A push-only sync whose push is refused fails with a clear message; a full sync then
/// merges and pushes.
#[test]
fn a_refused_push_only_sync_fails_and_a_full_sync_repairs_it() {
    let net = Net::new(2);
    let id = net.add(0, "Contended", &[]);
    net.sync(0);
    net.sync(1);
    net.pm_ok(0, &["issue", "update", &id, "--title", "A's title"]);
    net.pm_ok(1, &["issue", "update", &id, "--priority", "high"]);
    net.sync(0);
    let remote_before = net.remote_refs();
    let run = net.pm(1, &["--json", "sync", "--push-only"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let doc = run.json();
    let refused: Vec<&str> = doc["push_rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refused, [format!("refs/pm/issues/{id}")]);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("pm sync"),
        "{}",
        run.stderr
    );
    assert_eq!(net.remote_refs(), remote_before);

    let doc = net.sync(1);
    assert_eq!(doc["merged"], 1, "{doc}");
    assert_eq!(doc["pushed"], 1, "{doc}");
    net.sync(0);
    for i in 0..2 {
        let issue = net.issue(i, &id);
        assert_eq!(
            (issue["title"].as_str(), issue["priority"].as_str()),
            (Some("A's title"), Some("high"))
        );
    }
    net.assert_converged();
}

// ---- 6. --fetch-only, --push-only, --dry-run, --json --------------------------------

#[test]
fn fetch_only_push_only_and_dry_run_do_what_they_say() {
    let net = Net::new(2);
    let theirs = net.add(1, "From clone 1", &[]);
    net.sync(1);
    let ours = net.add(0, "From clone 0", &[]);

    // --dry-run / -n: nothing written here nor on the remote; the counts say what would be.
    let remote_all = net.git_remote(&["for-each-ref"]);
    let here_all = net.all_refs(0);
    let objects = net.git(0, &["count-objects", "-v"]);
    let files = tree_outside_git(net.root());
    let (clone_files, remote_files) = (snapshot(net.c(0)), snapshot(&net.remote));
    for flag in ["--dry-run", "-n"] {
        let run = net.pm(0, &[flag, "sync"]).ok();
        assert!(
            run.stdout
                .starts_with("Would sync with origin: 1 new, 0 changed, 1 to push"),
            "{}",
            run.stdout
        );
        let doc = net.pm(0, &["--json", flag, "sync"]).ok().json();
        assert_eq!(doc["dry_run"], true);
        assert_eq!(doc["created"], 1, "{doc}");
        assert_eq!(doc["pushed"], 1, "{doc}");
        for args in [
            &[flag, "sync", "--fetch-only"][..],
            &[flag, "sync", "--push-only"],
        ] {
            net.pm(0, args).ok();
        }
    }
    assert_eq!(net.all_refs(0), here_all);
    assert_eq!(net.git_remote(&["for-each-ref"]), remote_all);
    assert_eq!(net.git(0, &["count-objects", "-v"]), objects);
    assert_eq!(tree_outside_git(net.root()), files);
    assert_same_files(&clone_files, &snapshot(net.c(0)));
    assert_same_files(&remote_files, &snapshot(&net.remote));

    // --fetch-only: clone 1's record arrives, nothing is pushed.
    let remote_pm = net.remote_refs();
    let doc = net.json(0, &["sync", "--fetch-only"]);
    assert_eq!(
        (doc["created"].as_u64(), doc["pushed"].as_u64()),
        (Some(1), Some(0)),
        "{doc}"
    );
    assert_eq!(net.remote_refs(), remote_pm);
    assert_eq!(net.issue(0, &theirs)["title"], "From clone 1");

    // --push-only: clone 0's record goes out; clone 1's new record does not come in.
    let later = net.add(1, "Later from clone 1", &[]);
    let later_tip = {
        net.sync(1);
        net.tip(1, &format!("refs/pm/issues/{later}"))
    };
    let tracking_before = net.git(0, &["for-each-ref", "refs/pm-remote/"]);
    let doc = net.json(0, &["sync", "--push-only"]);
    assert_eq!(
        (
            doc["fetched"].as_u64(),
            doc["created"].as_u64(),
            doc["pushed"].as_u64()
        ),
        (Some(0), Some(0), Some(1)),
        "{doc}"
    );
    assert!(
        net.remote_refs()
            .contains(&format!("refs/pm/issues/{ours}"))
    );
    assert!(!net.has_ref(0, &format!("refs/pm/issues/{later}")));
    assert!(!net.has_ref(0, &format!("refs/pm-remote/origin/issues/{later}")));
    let have_object = net
        .repo
        .git_run(net.c(0), &["cat-file", "-e", &later_tip], None)
        .success();
    assert!(!have_object, "--push-only fetched {later_tip}");
    // The only tracking change is the record just pushed (remembered as the remote's state).
    let tracking_after = net.git(0, &["for-each-ref", "refs/pm-remote/"]);
    let added: Vec<&str> = tracking_after
        .lines()
        .filter(|l| !tracking_before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(added.len(), 1, "{tracking_after}");
    assert!(added[0].ends_with(&format!("refs/pm-remote/origin/issues/{ours}")));

    // The two together are a usage error.
    let run = net.pm(0, &["sync", "--fetch-only", "--push-only"]);
    assert_eq!(run.code, Some(2), "{run:?}");
}

#[test]
fn json_sync_prints_one_document_with_the_summary() {
    let net = Net::new(2);
    net.add(1, "One", &[]);
    net.sync(1);
    net.add(0, "Two", &[]);
    let run = net.pm(0, &["--json", "sync"]).ok();
    assert_eq!(run.stderr, "");
    // Exactly one document: parsing the whole of stdout as one value succeeds.
    let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let keys: BTreeSet<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "remote",
        "fetched",
        "created",
        "fast_forwarded",
        "merged",
        "pushed",
        "rejected",
        "push_rejected",
        "rounds",
        "dry_run",
    ] {
        assert!(keys.contains(key), "{key} missing from {doc}");
    }
    assert_eq!(doc["remote"], "origin");
    assert_eq!(doc["fetched"], 1);
    assert_eq!(doc["created"], 1);
    assert_eq!(doc["pushed"], 1);
    assert_eq!(doc["dry_run"], false);
    // The text form is one summary line.
    let run = net.pm(1, &["sync"]).ok();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with("Synced with origin: fetched 1, new 1,"),
        "{}",
        run.stdout
    );
}
