//! How sessions decide their issue's status: several sessions on one issue, and issue
//! updates lost to a crash.

use super::*;

// ---- several sessions on one issue -----------------------------------------------------

#[test]
fn a_second_live_session_on_one_issue_needs_force_and_the_last_one_decides_the_issue() {
    let repo = Repo::new();
    let issue = repo.add("Shared work", &[]);
    let first = str_of(&launch(&repo, &["--issue", &issue])["id"]);
    let second_args = [
        "agent",
        "launch",
        "--issue",
        &issue,
        "--branch",
        "feature/second",
    ];

    // Refused, naming the session that holds the issue; nothing is made, not even in a dry run.
    let line = refused(&repo, &second_args, 1);
    assert!(
        line.contains(&issue) && line.contains(&first) && line.contains("force"),
        "{line}"
    );
    let mut dry = vec!["--dry-run"];
    dry.extend_from_slice(&second_args);
    assert!(refused(&repo, &dry, 1).contains(&first));
    assert!(!repo.branch_exists("feature/second"));
    assert_eq!(repo.record_ids(Kind::Session), vec![first.clone()]);

    let mut forced = second_args.to_vec();
    forced.push("--force");
    let second = str_of(&repo.pm_json(&forced)["id"]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");

    // Abandoning one while the other is live leaves the issue in progress; the last one
    // abandoned reopens it.
    close(&repo, &["--abandon", &first]);
    assert_eq!(repo.status_of(Kind::Session, &first), "abandoned");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    close(&repo, &["--abandon", &second]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");

    // Reactivating follows the same rule as launching.
    repo.pm_ok(&["agent", "reactivate", &first]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    let line = refused(&repo, &["agent", "reactivate", &second], 1);
    assert!(line.contains(&first) && line.contains("force"), "{line}");
    assert_eq!(repo.status_of(Kind::Session, &second), "abandoned");
    repo.pm_ok(&["agent", "reactivate", &second, "--force"]);
    assert_eq!(repo.status_of(Kind::Session, &second), "idle");

    // A worktree gone while the other session is live: abandoned, the issue stays in progress.
    let second_wt = default_worktree(&repo, "feature/second");
    std::fs::remove_dir_all(&second_wt).unwrap();
    repo.pm_ok(&["agent", "list"]);
    assert_eq!(repo.status_of(Kind::Session, &second), "abandoned");
    assert_eq!(repo.status_of(Kind::Issue, &issue), "in_progress");
    repo.pm_ok(&["agent", "reactivate", &second, "--force"]);
    assert!(second_wt.exists());

    // Completing one marks the issue done; the other stays as it is, and abandoning it
    // afterwards does not reopen an issue that was finished.
    close(&repo, &["--done", &first]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    assert_eq!(repo.status_of(Kind::Session, &second), "idle");
    let issue_commits = repo.commit_count(&issue);
    repo.pm_ok(&["agent", "list"]);
    assert_eq!(
        repo.commit_count(&issue),
        issue_commits,
        "list changed the issue"
    );
    close(&repo, &["--abandon", &second]);
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    repo.assert_fsck_clean();
}

// ---- issue updates lost to a crash -----------------------------------------------------

/// `secs` (less than a day) as the record's time format.
fn record_time(secs: i64) -> String {
    format!(
        "1970-01-01T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Move session `id` to `status` at `secs` the way pm writes a change (one commit on the
/// record's tip), but without the issue update that must follow: what a process killed between
/// the two writes leaves behind.
fn change_session_without_its_issue(repo: &Repo, id: &str, status: &str, secs: i64) {
    let old_status = repo.status_of(Kind::Session, id);
    let time = record_time(secs);
    let message = format!("close: {old_status} -> {status}");
    let mut text = String::new();
    for line in repo.record_text_of(Kind::Session, id).lines() {
        if line.starts_with("status =") {
            text.push_str(&format!("status = \"{status}\"\n"));
        } else if line.starts_with("updated =") {
            text.push_str(&format!("updated = \"{time}\"\n"));
            if status == "completed" || status == "abandoned" {
                text.push_str(&format!("ended = \"{time}\"\n"));
            }
        } else if !line.starts_with("ended =") {
            text.push_str(line);
            text.push('\n');
        }
    }
    repo.craft_update(Kind::Session, id, &text, &message);
    assert_eq!(repo.status_of(Kind::Session, id), status);
}

#[test]
fn issue_updates_lost_to_a_crash_are_repaired_by_the_next_list() {
    let repo = Repo::new();
    let launch_at = |secs: i64, issue: &str, branch: &str| -> String {
        let run = repo.pm_at(
            secs,
            &[
                "--json", "agent", "launch", "--issue", issue, "--branch", branch,
            ],
        );
        str_of(&run.ok().json()["id"])
    };
    // Completed, but the issue was not marked done.
    let done_issue = repo.add_at(1000, "Crash after done", &[]);
    let done = launch_at(1000, &done_issue, "feature/done");
    change_session_without_its_issue(&repo, &done, "completed", 2000);
    // Abandoned, but the issue was not reopened.
    let open_issue = repo.add_at(1000, "Crash after abandon", &[]);
    let abandoned = launch_at(1000, &open_issue, "feature/abandoned");
    change_session_without_its_issue(&repo, &abandoned, "abandoned", 2000);
    // Paused, the issue set back to open by hand, then resumed: the resume's update is lost.
    let resumed_issue = repo.add_at(1000, "Crash after resume", &[]);
    let resumed = launch_at(1000, &resumed_issue, "feature/resumed");
    repo.pm_at(1100, &["agent", "close", &resumed]).ok();
    repo.pm_at(
        1200,
        &["issue", "update", &resumed_issue, "--status", "open"],
    )
    .ok();
    change_session_without_its_issue(&repo, &resumed, "active", 2000);
    for issue in [&done_issue, &open_issue] {
        assert_eq!(repo.status_of(Kind::Issue, issue), "in_progress");
    }
    assert_eq!(repo.status_of(Kind::Issue, &resumed_issue), "open");

    // A dry run only says so.
    let before = snapshot(&repo);
    let dry = repo.pm_full(
        repo.path(),
        &[("PM_NOW", "3000")],
        &["--json", "--dry-run", "agent", "reconcile"],
    );
    assert_eq!(dry.ok().json()["repaired"].as_array().unwrap().len(), 3);
    assert_eq!(snapshot(&repo), before, "--dry-run wrote something");

    let run = repo.pm_at(3000, &["agent", "list"]).ok();
    assert!(
        run.stderr.contains(&done_issue) && run.stderr.contains(&done),
        "list says what it repaired: {}",
        run.stderr
    );
    assert_eq!(repo.status_of(Kind::Issue, &done_issue), "done");
    assert!(repo.record(&done_issue).contains_key("closed"));
    assert_eq!(repo.status_of(Kind::Issue, &open_issue), "open");
    assert_eq!(repo.status_of(Kind::Issue, &resumed_issue), "in_progress");
    let subject = repo.subject(&format!("refs/pm/issues/{done_issue}"));
    assert!(
        subject.starts_with("update: status in_progress -> done") && subject.contains(&done),
        "{subject}"
    );
    // Sessions are left as they are, and a second run has nothing to do.
    assert_eq!(repo.status_of(Kind::Session, &done), "completed");
    let tips: Vec<String> = [&done_issue, &open_issue, &resumed_issue]
        .iter()
        .map(|id| repo.tip(id))
        .collect();
    let doc = repo.pm_json(&["agent", "reconcile"]);
    assert_eq!(doc["repaired"], Value::Array(vec![]), "{doc}");
    let after: Vec<String> = [&done_issue, &open_issue, &resumed_issue]
        .iter()
        .map(|id| repo.tip(id))
        .collect();
    assert_eq!(after, tips);
    repo.assert_fsck_clean();
}

#[test]
fn a_status_set_by_hand_after_the_session_change_is_never_undone() {
    let repo = Repo::new();
    let issue = repo.add_at(1000, "Keep my status", &[]);
    let doc = repo
        .pm_at(1000, &["--json", "agent", "launch", "--issue", &issue])
        .ok()
        .json();
    let id = str_of(&doc["id"]);
    change_session_without_its_issue(&repo, &id, "completed", 2000);
    // Somebody sets the issue by hand, later than the session ended.
    repo.pm_at(2500, &["issue", "update", &issue, "--status", "open"])
        .ok();
    let commits = repo.commit_count(&issue);
    repo.pm_at(3000, &["agent", "list"]).ok();
    repo.pm_at(3000, &["agent", "reconcile"]).ok();
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");
    assert_eq!(repo.commit_count(&issue), commits);

    // Within the same second the order of the two changes is unknown: left alone as well.
    let other = repo.add_at(4000, "Same second", &[]);
    let doc = repo
        .pm_at(4000, &["--json", "agent", "launch", "--issue", &other])
        .ok()
        .json();
    change_session_without_its_issue(&repo, &str_of(&doc["id"]), "completed", 4000);
    repo.pm_at(5000, &["agent", "list"]).ok();
    assert_eq!(repo.status_of(Kind::Issue, &other), "in_progress");
}

#[test]
fn a_lost_cascade_is_repaired_even_after_other_edits_of_the_issue() {
    let repo = Repo::new();
    let issue = repo.add_at(1000, "Edited later", &[]);
    let doc = repo
        .pm_at(1000, &["--json", "agent", "launch", "--issue", &issue])
        .ok()
        .json();
    let id = str_of(&doc["id"]);
    change_session_without_its_issue(&repo, &id, "completed", 2000);
    // A later edit that is not a status change does not hide the missing cascade.
    repo.pm_at(2500, &["issue", "update", &issue, "--priority", "high"])
        .ok();
    repo.pm_at(3000, &["agent", "list"]).ok();
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    assert_eq!(repo.record(&issue)["priority"].as_str(), Some("high"));
}
