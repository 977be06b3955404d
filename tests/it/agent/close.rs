//! `pm agent close` and `pm agent reactivate`.

use super::*;

// ---- close -----------------------------------------------------------------------------

#[test]
fn close_without_a_flag_makes_the_session_idle_and_keeps_the_issue_in_progress() {
    let repo = Repo::new();
    let issue = repo.add("Pause me", &[]);
    let doc = launch(&repo, &["--issue", &issue]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));

    let out = close(&repo, &[&id]);
    assert_eq!(out["changed"], true);
    assert_eq!(out["status"], "idle");
    assert_eq!(out["previous_status"], "active");
    assert_eq!(out["message"], "close: active -> idle");
    assert_eq!(out["issue"], issue.as_str());
    let record = repo.record_of(Kind::Session, &id);
    assert_eq!(record["status"].as_str(), Some("idle"));
    assert!(!record.contains_key("ended"), "idle sets no end time");
    assert_eq!(repo.commit_count_of(Kind::Session, &id), 2);
    assert_eq!(
        repo.subject(&Kind::Session.ref_name(&id)),
        "close: active -> idle"
    );
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    assert!(worktree_at(&repo, &wt).is_some(), "the worktree stays");
    assert!(repo.branch_exists("feature/pause-me"));

    // Closing an idle session again is idle -> idle: nothing is written.
    let tip = repo.tip_of(Kind::Session, &id);
    let issue_tip = repo.tip(&issue);
    let again = close(&repo, &[&id]);
    assert_eq!(again["changed"], false);
    assert_eq!(again["status"], "idle");
    assert_eq!(again["message"], Value::Null);
    assert_eq!(repo.tip_of(Kind::Session, &id), tip);
    assert_eq!(repo.tip(&issue), issue_tip);
    let text = repo.pm_ok(&["agent", "close", &id]);
    assert_eq!(text, format!("Session {id} is already idle\n"));
}

#[test]
fn close_done_completes_the_session_and_marks_the_issue_done() {
    let repo = Repo::new();
    let issue = repo.add("Finish me", &[]);
    let (id, wt) = {
        let doc = launch(&repo, &["--issue", &issue]);
        (str_of(&doc["id"]), PathBuf::from(str_of(&doc["worktree"])))
    };
    let text = repo
        .pm_at(2_000_000_000, &["agent", "close", "--done", &id])
        .ok();
    assert_eq!(
        text.stdout,
        format!("Session {id} close: active -> completed\n")
    );
    let record = repo.record_of(Kind::Session, &id);
    assert_eq!(record["status"].as_str(), Some("completed"));
    assert_eq!(
        record["ended"].as_str(),
        Some("2033-05-18T03:33:20Z"),
        "the end time is set: {record:?}"
    );
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    assert_eq!(
        repo.subject(&Kind::Session.ref_name(&id)),
        "close: active -> completed"
    );
    // Completing does not delete anything.
    assert!(worktree_at(&repo, &wt).is_some());

    // From idle as well.
    let other = repo.add("Finish me later", &[]);
    let id2 = str_of(&launch(&repo, &["--issue", &other])["id"]);
    close(&repo, &[&id2]);
    let out = close(&repo, &["--done", &id2]);
    assert_eq!(out["previous_status"], "idle");
    assert_eq!(out["status"], "completed");
    assert!(repo.record_of(Kind::Session, &id2).contains_key("ended"));
    assert_eq!(repo.status_of(Kind::Issue, &other), "done");
}

#[test]
fn close_abandon_abandons_the_session_and_reopens_the_issue() {
    let repo = Repo::new();
    let issue = repo.add("Give up", &[]);
    let id = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    let out = close(&repo, &["--abandon", &id]);
    assert_eq!(out["status"], "abandoned");
    assert_eq!(out["previous_status"], "active");
    let record = repo.record_of(Kind::Session, &id);
    assert_eq!(record["status"].as_str(), Some("abandoned"));
    assert!(record.contains_key("ended"), "abandoning sets the end time");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");
    assert_eq!(
        repo.subject(&Kind::Session.ref_name(&id)),
        "close: active -> abandoned"
    );

    // From idle as well.
    let other = repo.add("Give up later", &[]);
    let id2 = str_of(&launch(&repo, &["--issue", &other])["id"]);
    close(&repo, &[&id2]);
    assert_eq!(repo.status_of(Kind::Issue, &other), "in_progress");
    close(&repo, &["--abandon", &id2]);
    assert_eq!(repo.status_of(Kind::Session, &id2), "abandoned");
    assert_eq!(repo.status_of(Kind::Issue, &other), "open");
}

#[test]
fn closing_a_finished_session_fails_and_changes_nothing() {
    let repo = Repo::new();
    let done_issue = repo.add("Completed one", &[]);
    let gone_issue = repo.add("Abandoned one", &[]);
    let done = str_of(&launch(&repo, &["--issue", &done_issue])["id"]);
    let gone = str_of(&launch(&repo, &["--issue", &gone_issue])["id"]);
    close(&repo, &["--done", &done]);
    close(&repo, &["--abandon", &gone]);

    for (id, status) in [(&done, "completed"), (&gone, "abandoned")] {
        for flag in [None, Some("--done"), Some("--abandon")] {
            let mut args = vec!["agent", "close", id.as_str()];
            args.extend(flag);
            let line = refused(&repo, &args, 1);
            assert!(
                line.contains(&format!("already {status}")),
                "`{}`: {line}",
                args.join(" ")
            );
            assert!(line.contains(id.as_str()), "{line}");
        }
    }
    assert_eq!(repo.status_of(Kind::Issue, &done_issue), "done");
    assert_eq!(repo.status_of(Kind::Issue, &gone_issue), "open");
}

#[test]
fn done_and_abandon_together_is_a_usage_error() {
    let repo = Repo::new();
    let (id, _) = launch_branch(&repo, "both");
    let line = refused(&repo, &["agent", "close", "--done", "--abandon", &id], 2);
    assert!(
        line.contains("--done") && line.contains("--abandon"),
        "{line}"
    );
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
}

#[test]
fn close_with_an_unknown_or_ambiguous_id_fails() {
    let repo = Repo::new();
    let (a, _) = launch_branch(&repo, "first");
    let (b, _) = launch_branch(&repo, "second");

    let line = refused(&repo, &["agent", "close", UNKNOWN_ID], 1);
    assert!(
        line.contains("no session") && line.contains(UNKNOWN_ID),
        "{line}"
    );

    let prefix = common_prefix(&[&a, &b]);
    assert!(
        prefix.len() >= 2,
        "ULIDs of this century share a prefix: {a} {b}"
    );
    for typed in [prefix.clone(), prefix.to_lowercase()] {
        let line = refused(&repo, &["agent", "close", "--done", &typed], 1);
        assert!(line.contains("ambiguous"), "{line}");
        assert!(line.contains(&a) && line.contains(&b), "{line}");
    }
    // A text that could be a branch but names no session is not found; one that can be
    // neither an id nor a branch is a usage error.
    let line = refused(&repo, &["agent", "close", "not-an-id!"], 1);
    assert!(
        line.contains("no session with id or branch not-an-id!"),
        "{line}"
    );
    let line = refused(&repo, &["agent", "close", "not an id"], 2);
    assert!(line.contains("not an id"), "{line}");

    // A longer, unique prefix (any case) works.
    let unique = &b[..prefix.len() + 1];
    close(&repo, &["--done", &unique.to_lowercase()]);
    assert_eq!(repo.status_of(Kind::Session, &b), "completed");
    assert_eq!(repo.status_of(Kind::Session, &a), "active");
}

#[test]
fn close_without_an_id_finds_the_session_from_a_nested_folder() {
    let repo = Repo::new();
    let (a, wt_a) = launch_branch(&repo, "feature/one");
    let (b, wt_b) = launch_branch(&repo, "feature/two");
    let nested = wt_a.join("a/b");
    std::fs::create_dir_all(&nested).unwrap();

    let out = close_in(&repo, &nested, &["--done"]);
    assert_eq!(out["id"], a.as_str());
    assert_eq!(repo.status_of(Kind::Session, &a), "completed");
    assert_eq!(
        repo.status_of(Kind::Session, &b),
        "active",
        "the other one is untouched"
    );

    // From the top of the other worktree.
    let out = close_in(&repo, &wt_b, &[]);
    assert_eq!(out["id"], b.as_str());
    assert_eq!(repo.status_of(Kind::Session, &b), "idle");
    assert_eq!(repo.status_of(Kind::Session, &a), "completed");
}

#[test]
fn close_without_an_id_follows_symlinks_to_the_worktree() {
    let repo = Repo::new();
    let (a, _wt_a) = launch_branch(&repo, "feature/left");
    let (b, wt_b) = launch_branch(&repo, "feature/right");
    std::fs::create_dir_all(wt_b.join("src/deep")).unwrap();
    let link = repo.root().join("link-to-right");
    std::os::unix::fs::symlink(&wt_b, &link).unwrap();

    // The current folder reached through the link.
    let out = close_in(&repo, &link.join("src/deep"), &[]);
    assert_eq!(out["id"], b.as_str());
    assert_eq!(repo.status_of(Kind::Session, &b), "idle");

    // `-C` through the link, from the main worktree: the path reaches pm unresolved.
    let through = link.join("src");
    let out = repo
        .pm(&[
            "--json",
            "-C",
            through.to_str().unwrap(),
            "agent",
            "close",
            "--abandon",
        ])
        .ok()
        .json();
    assert_eq!(out["id"], b.as_str());
    assert_eq!(repo.status_of(Kind::Session, &b), "abandoned");
    assert_eq!(repo.status_of(Kind::Session, &a), "active");
}

#[test]
fn close_in_the_main_worktree_lists_the_candidates_and_fails() {
    let repo = Repo::new();
    // No live session at all.
    let line = refused(&repo, &["agent", "close"], 1);
    assert!(line.contains("no live sessions"), "{line}");

    // One live session is not silently chosen.
    let (a, _) = launch_branch(&repo, "feature/alpha");
    let line = refused(&repo, &["agent", "close", "--done"], 1);
    assert!(
        line.contains(&a) && line.contains("feature/alpha"),
        "{line}"
    );

    // Several: all are named, and none is closed (stdin is not a terminal here).
    let (b, _) = launch_branch(&repo, "feature/beta");
    let (c, _) = launch_branch(&repo, "feature/gamma");
    close(&repo, &[&c]);
    let (d, _) = launch_branch(&repo, "feature/delta");
    close(&repo, &["--done", &d]);
    let sub = repo.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for dir in [repo.path().to_path_buf(), sub] {
        let line = refused_in(&repo, &dir, &["agent", "close", "--done"], 1);
        for live in [&a, &b, &c] {
            assert!(line.contains(live.as_str()), "{live} missing: {line}");
        }
        assert!(
            !line.contains(&d),
            "a completed session is no candidate: {line}"
        );
    }
    assert_eq!(repo.status_of(Kind::Session, &a), "active");
    assert_eq!(repo.status_of(Kind::Session, &b), "active");
    assert_eq!(repo.status_of(Kind::Session, &c), "idle");
}

/// Issue 14 point 17: every command that takes a session takes its branch too; a live session
/// on the branch wins, else the newest one; an exact branch wins over an id prefix.
#[test]
fn a_session_is_named_by_its_branch_everywhere() {
    let repo = Repo::new();
    let (id, worktree) = launch_branch(&repo, "feature/x");
    let shown = repo.pm_json(&["agent", "show", "feature/x"]);
    assert_eq!(shown["session"]["id"], id.as_str());
    assert_eq!(
        repo.pm_json(&["agent", "events", "feature/x"])["id"],
        id.as_str()
    );

    assert_eq!(close(&repo, &["feature/x"])["id"], id.as_str());
    assert_eq!(repo.status_of(Kind::Session, &id), "idle");
    repo.pm_ok(&["agent", "resume", "feature/x"]);
    assert_eq!(repo.status_of(Kind::Session, &id), "active");
    close(&repo, &["--done", "feature/x"]);
    assert_eq!(repo.status_of(Kind::Session, &id), "completed");
    repo.pm_ok(&["agent", "reactivate", "feature/x"]);
    assert_eq!(repo.status_of(Kind::Session, &id), "idle");
    let purged = repo.pm_json(&["agent", "purge", "feature/x", "--delete-files"]);
    assert_eq!(purged["id"], id.as_str());
    assert!(repo.record_of(Kind::Session, &id).contains_key("purged"));
    assert!(!repo.branch_exists("feature/x"));
    assert!(worktree_at(&repo, &worktree).is_none());

    // A new session on the branch is the one the branch names now.
    let (second, _) = launch_branch(&repo, "feature/x");
    close(&repo, &["--done", "feature/x"]);
    assert_eq!(repo.status_of(Kind::Session, &second), "completed");
    assert_eq!(
        repo.status_of(Kind::Session, &id),
        "idle",
        "the purged one is left alone"
    );
    repo.git(&["worktree", "remove", worktree.to_str().unwrap()]);
    let (third, _) = launch_branch(&repo, "feature/x");
    close(&repo, &["--done", &third]);
    // Two finished sessions on the branch (and a purged one): the newest is named.
    let shown = repo.pm_json(&["agent", "show", "feature/x"]);
    assert_eq!(shown["session"]["id"], third.as_str());

    // A branch spelt like a prefix of another session's id names its own session.
    let prefix = third[..10].to_lowercase();
    let (on_prefix, _) = launch_branch(&repo, &prefix);
    assert_ne!(on_prefix, third);
    let shown = repo.pm_json(&["agent", "show", &prefix]);
    assert_eq!(shown["session"]["id"], on_prefix.as_str());
    // ... while the upper-case prefix (no such branch) still names the session by id.
    let shown = repo.pm_json(&["agent", "show", &third[..10]]);
    assert_eq!(shown["session"]["id"], third.as_str());

    let line = refused(&repo, &["agent", "show", "no/such-branch"], 1);
    assert!(
        line.contains("no session with id or branch no/such-branch"),
        "{line}"
    );
    repo.assert_fsck_clean();
}

/// Issue 14 point 17: `show` and `events` inside a session's worktree need no id, as `close`.
#[test]
fn show_and_events_inside_a_worktree_default_to_its_session() {
    let repo = Repo::new();
    let (a, wt_a) = launch_branch(&repo, "feature/here");
    let (b, _) = launch_branch(&repo, "feature/there");
    let nested = wt_a.join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let shown = repo
        .pm_in(&nested, &["--json", "agent", "show"])
        .ok()
        .json();
    assert_eq!(shown["session"]["id"], a.as_str());
    assert_eq!(shown["session"]["worktree"], wt_a.to_str().unwrap());
    let events = repo
        .pm_in(&nested, &["--json", "agent", "events"])
        .ok()
        .json();
    assert_eq!(events["id"], a.as_str());
    let subjects = repo.git(&["log", "--format=%s", &Kind::Session.ref_name(&a)]);
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        subjects.lines().count()
    );
    // In the main worktree no session is chosen silently.
    for command in ["show", "events"] {
        let line = refused(&repo, &["agent", command], 1);
        assert!(line.contains(&a) && line.contains(&b), "{line}");
    }
}

/// Issue 14 point 17: `pm agent list --issue ID` lists only that issue's sessions.
#[test]
fn list_filters_by_issue() {
    let repo = Repo::new();
    let first = repo.add("First issue", &[]);
    let second = repo.add("Second issue", &[]);
    let one = str_of(&launch(&repo, &["--issue", &first])["id"]);
    let two = str_of(&launch(&repo, &["--issue", &second])["id"]);
    let free = launch_branch(&repo, "no-issue").0;
    let done = str_of(
        &launch(
            &repo,
            &["--issue", &first, "--branch", "first-again", "--force"],
        )["id"],
    );
    close(&repo, &["--done", &done]);

    let prefix = first[..first.len() - 4].to_lowercase();
    assert_eq!(list_ids(&repo, &["--issue", &prefix]), vec![one.clone()]);
    assert_eq!(
        list_ids(&repo, &["--issue", &first, "--all"]),
        vec![done, one]
    );
    assert_eq!(list_ids(&repo, &["-i", &second]), vec![two]);
    assert_eq!(
        list_ids(&repo, &[]).len(),
        3,
        "{free} is listed without a filter"
    );
    let line = refused(&repo, &["agent", "list", "--issue", UNKNOWN_ID], 1);
    assert!(
        line.contains("no issue") && line.contains(UNKNOWN_ID),
        "{line}"
    );
}

// ---- reactivate ------------------------------------------------------------------------

#[test]
fn reactivate_brings_finished_sessions_back_as_idle() {
    let repo = Repo::new();
    let done_issue = repo.add("Not really done", &[]);
    let gone_issue = repo.add("Not really abandoned", &[]);
    let done = str_of(&launch(&repo, &["--issue", &done_issue])["id"]);
    let gone = str_of(&launch(&repo, &["--issue", &gone_issue])["id"]);
    close(&repo, &["--done", &done]);
    close(&repo, &["--abandon", &gone]);
    assert_eq!(repo.status_of(Kind::Issue, &done_issue), "done");
    assert_eq!(repo.status_of(Kind::Issue, &gone_issue), "open");

    for (id, issue, from) in [
        (&done, &done_issue, "completed"),
        (&gone, &gone_issue, "abandoned"),
    ] {
        let out = repo.pm_json(&["agent", "reactivate", id]);
        assert_eq!(out["changed"], true);
        assert_eq!(out["previous_status"], from);
        assert_eq!(out["status"], "idle");
        let record = repo.record_of(Kind::Session, id);
        assert_eq!(record["status"].as_str(), Some("idle"));
        assert!(!record.contains_key("ended"), "a live session has no end");
        assert_eq!(
            repo.subject(&Kind::Session.ref_name(id)),
            format!("reactivate: {from} -> idle")
        );
        assert_eq!(repo.status_of(Kind::Issue, issue), "in_progress");
        // Live again: it can be resumed by launching on its branch.
        let doc = launch(&repo, &["--issue", issue]);
        assert_eq!(doc["id"], id.as_str());
        assert_eq!(repo.status_of(Kind::Session, id), "active");
    }

    // Only finished sessions can be reactivated.
    let line = refused(&repo, &["agent", "reactivate", &done], 1);
    assert!(line.contains("active"), "{line}");
    close(&repo, &[&done]);
    let line = refused(&repo, &["agent", "reactivate", &done], 1);
    assert!(line.contains("idle"), "{line}");
}
