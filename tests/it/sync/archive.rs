//! `pm archive` and archive refs: finished records folded into one ref per kind and month,
//! their own refs removed (here and, by sync, on the remote), every command still seeing them,
//! and a record changed after it was archived coming back live.

use super::*;

/// The archive ref of `folder` (issues, sessions, runs) holding record `id`.
fn archive_ref_of(net: &Net, i: usize, folder: &str, id: &str) -> String {
    let refs = net.git(
        i,
        &[
            "for-each-ref",
            "--format=%(refname)",
            &format!("refs/pm/archive/{folder}/"),
        ],
    );
    refs.lines()
        .find(|name| {
            net.repo
                .git_run(
                    net.c(i),
                    &["cat-file", "-e", &format!("{name}:{id}/")],
                    None,
                )
                .success()
        })
        .unwrap_or_else(|| panic!("no archive ref of {folder} holds {id}:\n{refs}"))
        .to_string()
}

/// Shell completion candidates (fish) for `args` in clone `i`.
fn complete(net: &Net, i: usize, args: &[&str]) -> String {
    let mut all = vec!["--", "pm"];
    all.extend_from_slice(args);
    let output = net
        .repo
        .pm_command(net.c(i), true)
        .env("COMPLETE", "fish")
        .args(&all)
        .output()
        .expect("pm runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Names of the refs below `refs/pm/` of the remote.
fn remote_names(net: &Net) -> Vec<String> {
    net.git_remote(&["for-each-ref", "--format=%(refname)", "refs/pm/"])
        .lines()
        .map(str::to_string)
        .collect()
}

struct Archived {
    net: Net,
    open: String,
    done: String,
    closed: String,
    session: String,
}

/// Two clones that both have an open issue, a done one, a closed one and a completed
/// session; clone 0 archives (everything finished, at once) and syncs.
fn archived_by_clone_0() -> Archived {
    let net = Net::new(2);
    let open = net.add(0, "Still open", &[]);
    let done = net.add(0, "Done long ago", &[]);
    let closed = net.add(0, "Closed long ago", &["--tag", "old"]);
    net.pm_ok(0, &["issue", "update", &done, "--status", "done"]);
    net.pm_ok(0, &["issue", "close", &closed]);
    let launched = net.json(0, &["agent", "launch", "--branch", "work/finished"]);
    let session = launched["id"].as_str().unwrap().to_string();
    net.pm_ok(0, &["agent", "close", &session, "--done"]);
    net.sync_all_twice();
    let doc = net.json(0, &["archive", "--older-than", "0"]);
    assert_eq!(
        (&doc["issues"], &doc["sessions"], &doc["runs"]),
        (&Value::from(2), &Value::from(1), &Value::from(0)),
        "{doc}"
    );
    let doc = net.sync(0);
    assert_eq!(doc["removed"], 3, "{doc}");
    Archived {
        net,
        open,
        done,
        closed,
        session,
    }
}

/// After archiving, the remote holds the live records and one archive ref per kind and month;
/// the other clone learns it, drops its own refs of them and pushes nothing back; every command
/// in both clones still sees the archived records, and `git show` reads them.
#[test]
fn archived_records_leave_the_refs_and_every_command_still_sees_them() {
    let a = archived_by_clone_0();
    let net = &a.net;
    let names = remote_names(net);
    assert!(
        names.contains(&format!("refs/pm/issues/{}", a.open)),
        "{names:?}"
    );
    for gone in [&a.done, &a.closed] {
        assert!(
            !names.contains(&format!("refs/pm/issues/{gone}")),
            "{names:?}"
        );
    }
    assert!(!names.contains(&format!("refs/pm/sessions/{}", a.session)));
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("refs/pm/archive/"))
            .count(),
        2,
        "one archive ref of issues, one of sessions: {names:?}"
    );

    let remote_before = net.remote_refs();
    let doc = net.sync(1);
    assert_eq!(doc["settled"], 3, "{doc}");
    assert_eq!(doc["pushed"], 0, "{doc}");
    assert_eq!(net.remote_refs(), remote_before, "nothing pushed back");
    net.sync_all_twice();
    net.assert_converged();

    for i in 0..2 {
        assert!(!net.has_ref(i, &format!("refs/pm/issues/{}", a.done)));
        // git alone reads an archived record.
        let archive = archive_ref_of(net, i, "issues", &a.closed);
        let text = net.git(i, &["show", &format!("{archive}:{}/issue.toml", a.closed)]);
        assert!(text.contains("Closed long ago"), "{text}");
        // pm shows it, lists it, tells its history, completes it.
        let issue = net.issue(i, &a.closed);
        assert_eq!(issue["status"], "closed");
        assert_eq!(issue["tags"], serde_json::json!(["old"]));
        let all = net.json(i, &["issue", "list", "--all"]);
        let ids: Vec<&str> = all["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        for id in [&a.open, &a.done, &a.closed] {
            assert!(ids.contains(&id.as_str()), "{ids:?}");
        }
        let events = net.json(i, &["issue", "events", &a.done[..10]]);
        assert!(events["events"].as_array().unwrap().len() >= 2, "{events}");
        let session = net.json(i, &["agent", "show", &a.session]);
        assert_eq!(session["session"]["status"], "completed", "{session}");
        let history = net.json(i, &["agent", "history"]);
        assert!(history.to_string().contains(&a.session), "{history}");
        let events = net.json(i, &["agent", "events", &a.session]);
        assert!(events["events"].as_array().unwrap().len() >= 2, "{events}");
        assert!(complete(net, i, &["issue", "show", ""]).contains(&a.done));
        assert!(complete(net, i, &["agent", "show", ""]).contains(&a.session));
    }
}

/// A record changed after it was archived comes back live, in the clone that changes it and,
/// by sync, everywhere; the archive still holds the older version, and archiving it again
/// replaces that.
#[test]
fn a_record_changed_after_it_was_archived_comes_back_live() {
    let a = archived_by_clone_0();
    let net = &a.net;
    // Clone 1 has not synced since: it reopens the issue on its live ref.
    net.pm_ok(1, &["issue", "reopen", &a.done]);
    // Clone 0 changes the other archived issue: its ref is made again on the archived tip.
    let archived_tip = {
        let archive = archive_ref_of(net, 0, "issues", &a.closed);
        let tips = net.git(0, &["show", &format!("{archive}:tips")]);
        tips.lines()
            .find(|l| l.starts_with(&a.closed))
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .to_string()
    };
    net.pm_ok(0, &["issue", "update", &a.closed, "--tag", "revived"]);
    let parent = net.tip(0, &format!("refs/pm/issues/{}^", a.closed));
    assert_eq!(
        parent, archived_tip,
        "the live ref continues the archived history"
    );

    net.sync_all_twice();
    net.assert_converged();
    let names = remote_names(net);
    for id in [&a.done, &a.closed] {
        assert!(names.contains(&format!("refs/pm/issues/{id}")), "{names:?}");
    }
    for i in 0..2 {
        assert_eq!(net.issue(i, &a.done)["status"], "open");
        let tags = net.issue(i, &a.closed)["tags"].clone();
        assert_eq!(tags, serde_json::json!(["old", "revived"]), "clone {i}");
    }

    // Finished and archived again: the archive now holds the later version.
    net.pm_ok(0, &["issue", "close", &a.done]);
    net.json(0, &["archive", "--older-than", "0"]);
    net.sync_all_twice();
    net.assert_converged();
    for i in 0..2 {
        assert!(!net.has_ref(i, &format!("refs/pm/issues/{}", a.done)));
        assert_eq!(net.issue(i, &a.done)["status"], "closed");
        assert_eq!(
            net.issue(i, &a.closed)["tags"],
            serde_json::json!(["old", "revived"])
        );
    }
}

/// Two clones archive the same records independently, with different other changes: their
/// archive commits merge into one, the same in both, and nothing is lost.
#[test]
fn archives_made_in_two_clones_merge_and_converge() {
    let net = Net::new(2);
    let first = net.add(0, "First", &[]);
    let second = net.add(0, "Second", &[]);
    net.pm_ok(0, &["issue", "close", &first]);
    net.sync_all_twice();
    // Clone 1 closes the second one too and archives both; clone 0 archives only the first.
    net.pm_ok(1, &["issue", "close", &second]);
    net.json(1, &["archive", "--older-than", "0"]);
    net.json(0, &["archive", "--older-than", "0"]);
    net.sync_all_twice();
    net.assert_converged();
    for i in 0..2 {
        for id in [&first, &second] {
            assert!(!net.has_ref(i, &format!("refs/pm/issues/{id}")));
            assert_eq!(net.issue(i, id)["status"], "closed");
        }
    }
    let names = remote_names(&net);
    assert_eq!(names.len(), 1, "{names:?}");
}

/// `pm archive --dry-run` says what it would archive and writes nothing; `--older-than`
/// leaves recent records alone; a sync with `[sync] archive_after_days` archives first.
#[test]
fn archive_dry_run_cutoff_and_the_sync_setting() {
    let net = Net::new(1);
    let id = net.add(0, "Finished", &[]);
    net.pm_ok(0, &["issue", "close", &id]);
    let before = net.all_refs(0);
    let dry = net.pm(0, &["-n", "archive", "--older-than", "0"]).ok();
    assert_eq!(
        dry.stdout,
        "Would archive 1 issue(s), 0 session(s) and 0 transcript(s) into 1 archive ref(s)\n"
    );
    assert_eq!(net.all_refs(0), before);
    let recent = net.pm(0, &["archive"]).ok();
    assert_eq!(
        recent.stdout,
        "Nothing to archive: no finished record is 30 day(s) old\n"
    );
    assert_eq!(net.all_refs(0), before);
    // Forty days later (PM_NOW), the default cutoff takes it.
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 40 * 86_400)
        .to_string();
    std::fs::write(
        net.c(0).join(".pm.toml"),
        "[sync]\narchive_after_days = 30\n",
    )
    .unwrap();
    let run = net
        .repo
        .pm_full(net.c(0), &[("PM_NOW", &later)], &["--json", "sync"])
        .ok();
    let doc = run.json();
    assert_eq!(doc["archived"], 1, "{doc}");
    assert!(!net.has_ref(0, &format!("refs/pm/issues/{id}")));
    assert_eq!(remote_names(&net).len(), 1);
    assert_eq!(net.issue(0, &id)["status"], "closed");
    net.fsck(Some(0));
    net.fsck(None);
}

/// An archive commit planted on the remote that lies (its `tips` names a record of another
/// month) is not taken and is reported; the records around it sync as before.
#[test]
fn a_forged_archive_is_not_taken() {
    let net = Net::new(2);
    let id = net.add(0, "Honest", &[]);
    net.pm_ok(0, &["issue", "close", &id]);
    net.sync_all_twice();
    net.json(0, &["archive", "--older-than", "0"]);
    net.sync(0);
    // Forge: the same commit under a month it does not belong to.
    let archive = archive_ref_of(&net, 0, "issues", &id);
    let tip = net.tip(0, &archive);
    net.scratch_fetch();
    net.plant(&tip, "refs/pm/archive/issues/2001-01");
    let doc = net.sync(1);
    assert!(
        rejected_refs(&doc).contains("refs/pm/archive/issues/2001-01"),
        "{doc}"
    );
    assert!(!net.has_ref(1, "refs/pm/archive/issues/2001-01"));
    assert_eq!(net.issue(1, &id)["status"], "closed");
}

/// `count` closed issues written into clone `i` with plain git (ids of 2016); their ids.
fn closed_issues(net: &Net, i: usize, count: usize) -> Vec<String> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let id = |n: usize| -> String {
        let tail: String = (0..5)
            .rev()
            .map(|i| ALPHABET[(n >> (5 * i)) & 31] as char)
            .collect();
        format!("01ARZ3NDEKTSV4RRFFQ69{tail}")
    };
    let ids: Vec<String> = (0..count).map(id).collect();
    let stream: String = ids
        .iter()
        .map(|id| {
            let text = record_toml(id, "\"Old\"", "").replace("\"open\"", "\"closed\"");
            format!(
                "commit refs/pm/issues/{id}\ncommitter A <a@example.com> 1600000000 +0000\n\
                 data 5\nbulk\nM 100644 inline issue.toml\ndata {}\n{text}\n",
                text.len()
            )
        })
        .collect();
    net.repo
        .git_run(
            net.c(i),
            &["fast-import", "--quiet"],
            Some(stream.as_bytes()),
        )
        .ok();
    ids
}

/// Many records archived at once leave the remote in one pruning push (not a refspec each);
/// when another clone changes one of them while that push is on the wire, the push removes
/// none (it is atomic), the change survives, and a later sync removes the rest.
#[test]
fn many_archived_records_leave_the_remote_at_once_and_a_change_meanwhile_survives() {
    let net = Net::new(2);
    let ids = closed_issues(&net, 0, 600);
    net.sync_all_twice();
    assert_eq!(remote_names(&net).len(), 600);
    net.json(0, &["archive", "--older-than", "0"]);

    // While clone 0's removal is on the wire, clone 1 reopens one of them and pushes.
    let marker = net.remote.join("race-once");
    std::fs::write(&marker, "").unwrap();
    let env: String = common::base_env(net.repo.home())
        .into_iter()
        .chain(common::identity_env())
        .map(|(k, v)| format!("{}='{}' ", k.to_str().unwrap(), v.to_str().unwrap()))
        .collect();
    let hook = format!(
        "#!/bin/sh\nif grep -q '^[0-9a-f]* 0000000000000000000000000000000000000000 ' && \
         [ -e '{marker}' ]; then\n  rm -f '{marker}'\n  \
         env -i {env} '{pm}' -C '{b}' issue reopen {id} >/dev/null 2>&1\n  \
         env -i {env} '{pm}' -C '{b}' sync --push-only >'{log}' 2>&1\nfi\nexit 0\n",
        marker = marker.display(),
        pm = common::pm_bin().display(),
        b = net.c(1).display(),
        id = ids[7],
        log = net.remote.join("race.log").display(),
    );
    let hook_path = net.remote.join("hooks/pre-receive");
    std::fs::write(&hook_path, hook).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let doc = net.sync(0);
    assert!(!marker.exists(), "the hook did not run");
    assert_eq!(doc["removed"], 0, "{doc}");
    assert_eq!(
        remote_names(&net).len(),
        601,
        "nothing removed, the archive added"
    );
    std::fs::remove_file(&hook_path).unwrap();

    let doc = net.sync(0);
    assert_eq!(doc["removed"], 599, "{doc}");
    net.sync_all_twice();
    net.assert_converged();
    let names = remote_names(&net);
    assert!(
        names.contains(&format!("refs/pm/issues/{}", ids[7])),
        "{names:?}"
    );
    assert_eq!(names.len(), 2, "{names:?}");
    for i in 0..2 {
        assert_eq!(net.issue(i, &ids[7])["status"], "open");
        assert_eq!(net.issue(i, &ids[8])["status"], "closed");
        assert!(!net.has_ref(i, &format!("refs/pm/issues/{}", ids[8])));
        assert!(net.all_refs(i).lines().all(|l| !l.contains("refs/pm-tmp/")));
    }
}

/// A record whose id is dated after the year 9999 (a valid id, but no month of four digits to
/// file it under) is not archived: it stays live, here and on the remote, and no archive ref is
/// made for it; the others are archived as always.
#[test]
fn records_dated_after_9999_stay_live() {
    let net = Net::new(2);
    let far = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ";
    let text = record_toml(far, "\"Far away\"", "").replace("\"open\"", "\"closed\"");
    net.repo
        .git_run(
            net.c(0),
            &["fast-import", "--quiet"],
            Some(
                format!(
                    "commit refs/pm/issues/{far}\ncommitter A <a@example.com> 1600000000 +0000\n\
                     data 5\nfar!\nM 100644 inline issue.toml\ndata {}\n{text}\n",
                    text.len()
                )
                .as_bytes(),
            ),
        )
        .ok();
    let near = net.add(0, "Near", &[]);
    net.pm_ok(0, &["issue", "close", &near]);
    net.sync_all_twice();
    let doc = net.json(0, &["archive", "--older-than", "0"]);
    assert_eq!(doc["issues"], 1, "{doc}");
    let archives = net.git(
        0,
        &["for-each-ref", "--format=%(refname)", "refs/pm/archive/"],
    );
    assert_eq!(archives.lines().count(), 1, "{archives}");
    assert!(!archives.contains("10889"), "{archives}");
    assert!(net.has_ref(0, &format!("refs/pm/issues/{far}")));
    net.sync_all_twice();
    net.assert_converged();
    let names = remote_names(&net);
    assert!(
        names.contains(&format!("refs/pm/issues/{far}")),
        "{names:?}"
    );
    assert!(
        !names.contains(&format!("refs/pm/issues/{near}")),
        "{names:?}"
    );
    for i in 0..2 {
        assert_eq!(net.issue(i, far)["title"], "Far away");
        assert_eq!(net.issue(i, &near)["status"], "closed");
    }
}

/// Records archived here and still live on the remote (until the next sync removes them) are
/// not counted as incoming, by the dry run of sync nor by the overview; a later version of one
/// on the remote is.
#[test]
fn records_archived_here_are_not_counted_as_incoming() {
    let net = Net::new(2);
    let first = net.add(0, "First", &[]);
    let second = net.add(0, "Second", &[]);
    net.add(0, "Open", &[]);
    for id in [&first, &second] {
        net.pm_ok(0, &["issue", "close", id]);
    }
    net.sync_all_twice();
    net.json(0, &["archive", "--older-than", "0"]);
    let remote_before = net.remote_refs();
    let dry = net.json(0, &["-n", "sync"]);
    assert_eq!(
        (&dry["created"], &dry["fetched"], &dry["pushed"]),
        (&Value::from(0), &Value::from(0), &Value::from(1)),
        "only the archive ref to push: {dry}"
    );
    let text = net.pm_ok(0, &["-n", "sync"]);
    assert_eq!(
        text,
        "Would sync with origin: 0 new, 0 changed, 1 to push\n"
    );
    let overview = net.json(0, &[]);
    assert_eq!(overview["sync"]["to_merge"], 0, "{overview}");
    assert_eq!(overview["sync"]["to_push"], 1, "{overview}");
    assert_eq!(net.remote_refs(), remote_before, "a dry run moves nothing");

    // Clone 1 reopens one of them meanwhile: that is incoming.
    net.pm_ok(1, &["issue", "reopen", &first]);
    net.sync(1);
    let dry = net.json(0, &["-n", "sync"]);
    assert_eq!(
        (&dry["created"], &dry["fetched"]),
        (&Value::from(0), &Value::from(1)),
        "{dry}"
    );
    net.git(
        0,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/pm/*:refs/pm-remote/origin/*",
        ],
    );
    let overview = net.json(0, &[]);
    assert_eq!(overview["sync"]["to_merge"], 1, "{overview}");
}

/// When the remote refuses to remove the records its archive holds (here a hook declines
/// every deletion; `receive.denyDeletes` guards only branches), `pm sync` says so, in a
/// warning and in `remove_rejected` of its report, and succeeds; once the remote allows it,
/// a later sync removes them.
#[test]
fn removals_the_remote_refuses_are_reported() {
    let net = Net::new(1);
    let ids: Vec<String> = ["First", "Second"]
        .into_iter()
        .map(|title| net.add(0, title, &[]))
        .collect();
    for id in &ids {
        net.pm_ok(0, &["issue", "close", id]);
    }
    net.sync(0);
    let hook = net.remote.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\ncase \"$3\" in 0000000000000000000000000000000000000000)\n  \
         echo 'no deletions here' >&2; exit 1;;\nesac\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    net.json(0, &["archive", "--older-than", "0"]);

    let run = net.pm(0, &["sync"]).ok();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("2 archived record(s) not removed from origin")
            && warnings[0].contains("hook declined"),
        "{}",
        run.stderr
    );
    let doc = net.sync(0);
    assert_eq!(doc["removed"], 0, "{doc}");
    let refused: Vec<&str> = doc["remove_rejected"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            assert!(
                r["reason"].as_str().unwrap().contains("hook declined"),
                "{doc}"
            );
            r["ref"].as_str().unwrap()
        })
        .collect();
    let mut expected: Vec<String> = ids
        .iter()
        .map(|id| format!("refs/pm/issues/{id}"))
        .collect();
    expected.sort();
    assert_eq!(refused, expected, "{doc}");
    let names = remote_names(&net);
    for name in &expected {
        assert!(names.contains(name), "{names:?}");
    }

    std::fs::remove_file(&hook).unwrap();
    let doc = net.sync(0);
    assert_eq!(doc["removed"], 2, "{doc}");
    assert_eq!(doc["remove_rejected"], serde_json::json!([]), "{doc}");
    assert_eq!(remote_names(&net).len(), 1);
}

/// A session kept live by `pm archive` (it diverged from its archived version) keeps its
/// transcript live too: only the transcripts of sessions whose live refs went are archived.
#[test]
fn a_session_kept_live_keeps_its_transcript_live() {
    let net = Net::new(1);
    let launched = net.json(0, &["agent", "launch", "--branch", "work/kept"]);
    let id = launched["id"].as_str().unwrap().to_string();
    net.pm_ok(0, &["agent", "close", &id, "--done"]);
    // A transcript of one turn, written with git.
    let turn = |text: &str, parent: Option<&str>| -> String {
        let blob = net
            .repo
            .git_stdin(&["hash-object", "-w", "--stdin"], text.as_bytes());
        let tree = net.repo.git_stdin(
            &["mktree"],
            format!("100644 blob {}\tturn.json\n", blob.trim()).as_bytes(),
        );
        let mut args = vec!["commit-tree", tree.trim(), "-m", "turn"];
        args.extend(parent.iter().flat_map(|p| ["-p", *p]));
        net.repo.git(&args).trim().to_string()
    };
    let runs = format!("refs/pm/runs/{id}");
    let first_turn = turn("{\"turn\": 1}", None);
    net.git(
        0,
        &[
            "fetch",
            "-q",
            net.repo.path().to_str().unwrap(),
            &first_turn,
        ],
    );
    net.git(0, &["update-ref", &runs, &first_turn]);
    let doc = net.json(0, &["archive", "--older-than", "0"]);
    assert_eq!(
        (&doc["sessions"], &doc["runs"]),
        (&Value::from(1), &Value::from(1)),
        "{doc}"
    );
    assert!(!net.has_ref(0, &runs));

    // The session comes back on a version beside the archived one (same content, another
    // commit on the same parent), and its transcript gets a second turn.
    let session = format!("refs/pm/sessions/{id}");
    let archive = archive_ref_of(&net, 0, "sessions", &id);
    let archived = net.tip(0, &format!("{archive}:tips"));
    let archived_tip = net
        .git(0, &["cat-file", "-p", &archived])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let beside = net
        .git(
            0,
            &[
                "commit-tree",
                &format!("{archived_tip}^{{tree}}"),
                "-p",
                &format!("{archived_tip}^"),
                "-m",
                "beside",
            ],
        )
        .trim()
        .to_string();
    net.git(0, &["update-ref", &session, &beside]);
    let second_turn = turn("{\"turn\": 2}", Some(&first_turn));
    net.git(
        0,
        &[
            "fetch",
            "-q",
            net.repo.path().to_str().unwrap(),
            &second_turn,
        ],
    );
    net.git(0, &["update-ref", &runs, &second_turn]);

    let doc = net.json(0, &["archive", "--older-than", "0"]);
    assert_eq!(doc["kept_live"], 1, "{doc}");
    assert_eq!(doc["runs"], 0, "{doc}");
    assert_eq!(net.tip(0, &session), beside);
    assert_eq!(net.tip(0, &runs), second_turn, "the transcript stays live");
    let runs_archive = archive_ref_of(&net, 0, "runs", &id);
    let tips = net.git(0, &["show", &format!("{runs_archive}:tips")]);
    assert_eq!(tips, format!("{id} {first_turn}\n"));
}
