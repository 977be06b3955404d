//! Session operations: launch (and dry run), list, show, close, reactivate, purge.

use super::*;

#[test]
fn launch_dry_run_writes_nothing_and_launch_makes_branch_worktree_and_record() {
    let repo = Repo::new();
    let ws = repo.workspace();
    let issue = issues::add(&ws, new_issue("Login page", &[]), Mode::Write)
        .unwrap()
        .issue;
    let main_tip = repo.branch_tip("main").expect("main exists");
    let refs_before = repo.pm_refs();
    let worktrees_before = repo.worktrees();

    let dry = sessions::launch(&ws, launch_request(Some(&issue.id), None), Mode::DryRun).unwrap();
    assert_eq!(repo.pm_refs(), refs_before, "a dry run writes no record");
    assert_eq!(
        repo.worktrees(),
        worktrees_before,
        "a dry run adds no worktree"
    );
    assert_eq!(repo.branch_tip("feature/login-page"), None, "nor a branch");
    assert!(!dry.worktree.exists());
    let keys = [
        "dry_run",
        "resumed",
        "recreated_worktree",
        "id",
        "branch",
        "worktree",
        "status",
        "issue",
        "warnings",
        "run",
    ];
    let doc = assert_document(&api::Launch::new(&dry, Mode::DryRun), &keys);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["branch"], "feature/login-page");

    let launched =
        sessions::launch(&ws, launch_request(Some(&issue.id), None), Mode::Write).unwrap();
    let s = &launched.session;
    assert_eq!(s.status, SessionStatus::Active);
    assert_eq!(s.branch, "feature/login-page");
    assert_eq!(s.started, NOW);
    assert_eq!(s.base, main_tip);
    assert!(!launched.resumed && !launched.recreated_worktree);
    // git: the branch at main's commit, checked out in the new worktree, and the record.
    assert_eq!(repo.branch_tip("feature/login-page"), Some(main_tip));
    assert!(launched.worktree.is_dir());
    assert!(
        repo.lists_worktree(&launched.worktree),
        "{:?}",
        repo.worktrees()
    );
    assert!(
        repo.worktrees()
            .contains(&"branch refs/heads/feature/login-page".to_string())
    );
    assert!(
        repo.pm_refs()
            .contains(&format!("refs/pm/sessions/{} ", s.id))
    );
    assert!(
        launched
            .worktree
            .starts_with(repo.main.parent().unwrap().join("repo.worktrees"))
    );
    // The issue is in progress now.
    assert_eq!(
        issues::show(&ws, &issue.id).unwrap().status,
        IssueStatus::InProgress
    );

    let doc = assert_document(&api::Launch::new(&launched, Mode::Write), &keys);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["id"], s.id.as_str());
    assert_eq!(doc["status"], "active");
    assert_eq!(doc["issue"], issue.id.as_str());
    assert_eq!(doc["worktree"], launched.worktree.to_str().unwrap());

    // A second launch on the issue is refused while the first is live.
    let refs = repo.pm_refs();
    let refused = sessions::launch(
        &ws,
        launch_request(Some(&issue.id), Some("other")),
        Mode::Write,
    )
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("is already being worked on by session"),
        "{refused}"
    );
    assert_eq!(repo.pm_refs(), refs);
    assert_eq!(repo.branch_tip("other"), None);
}

#[test]
fn list_and_show_see_a_launched_session() {
    let repo = Repo::new();
    let ws = repo.workspace();
    let launched = sessions::launch(&ws, launch_request(None, Some("topic")), Mode::Write).unwrap();
    let id = launched.session.id.clone();

    let list = sessions::list(&ws, &ListRequest::default()).unwrap();
    assert_eq!(list.total, 1);
    let view = &list.sessions[0];
    assert_eq!(view.session.id, id);
    assert!(view.mine && view.worktree_exists);
    assert_eq!(view.worktree.as_deref(), Some(launched.worktree.as_path()));
    let doc = assert_document(
        &api::SessionList::new(&list),
        &["sessions", "errors", "total"],
    );
    assert_eq!(doc["sessions"][0]["id"], id.as_str());
    assert_eq!(doc["sessions"][0]["mine"], true);
    assert_eq!(doc["sessions"][0]["branch"], "topic");

    let details = sessions::show(&ws, &id[..20]).unwrap();
    assert_eq!(details.view.session.id, id);
    assert_eq!(details.dirty, Some(false));
    assert!(!details.branch_missing);
    assert_eq!(details.ahead_behind, Some((0, 0)));
    let doc = assert_document(
        &api::SessionShow::new(&details),
        &[
            "session",
            "dirty",
            "branch_missing",
            "ahead",
            "behind",
            "host",
            "purged",
            "run",
            "setup",
        ],
    );
    assert_eq!(doc["session"]["status"], "active");
    // Shown by branch too.
    assert_eq!(sessions::show(&ws, "topic").unwrap().view.session.id, id);

    // Completed sessions leave the default list but stay in the whole one.
    let close = CloseRequest {
        session: id.clone(),
        event: SessionEvent::Complete,
        force: false,
    };
    sessions::close(&ws, &close, Mode::Write).unwrap();
    assert_eq!(
        sessions::list(&ws, &ListRequest::default()).unwrap().total,
        0
    );
    let all = ListRequest {
        all: true,
        ..ListRequest::default()
    };
    assert_eq!(sessions::list(&ws, &all).unwrap().total, 1);
}

#[test]
fn close_complete_marks_the_issue_done_and_reactivate_brings_it_back() {
    let repo = Repo::new();
    let ws = repo.workspace();
    let issue = issues::add(&ws, new_issue("Login page", &[]), Mode::Write)
        .unwrap()
        .issue;
    let launched =
        sessions::launch(&ws, launch_request(Some(&issue.id), None), Mode::Write).unwrap();
    let id = launched.session.id.clone();
    let request = CloseRequest {
        session: id.clone(),
        event: SessionEvent::Complete,
        force: false,
    };
    let keys = [
        "dry_run",
        "changed",
        "message",
        "id",
        "status",
        "previous_status",
        "issue",
        "warnings",
    ];

    let refs = repo.pm_refs();
    let dry = sessions::close(&ws, &request, Mode::DryRun).unwrap();
    assert_eq!(repo.pm_refs(), refs, "a dry-run close writes nothing");
    assert_eq!(dry.after.status, SessionStatus::Completed);
    let doc = assert_document(&api::SessionChange::new(&dry, Mode::DryRun), &keys);
    assert_eq!(doc["dry_run"], true);

    let closed = sessions::close(&ws, &request, Mode::Write).unwrap();
    assert!(closed.written);
    assert_eq!(closed.after.status, SessionStatus::Completed);
    assert_eq!(closed.after.ended, Some(NOW));
    assert_ne!(repo.pm_refs(), refs);
    let doc = assert_document(&api::SessionChange::new(&closed, Mode::Write), &keys);
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["previous_status"], "active");
    assert_eq!(doc["changed"], true);
    assert_eq!(
        issues::show(&ws, &issue.id).unwrap().status,
        IssueStatus::Done
    );
    // Ending a session deletes nothing: branch and worktree stay.
    assert!(repo.branch_tip(&launched.session.branch).is_some());
    assert!(repo.lists_worktree(&launched.worktree));

    let reactivated = sessions::reactivate(
        &ws,
        &ReactivateRequest {
            session: id.clone(),
            force: false,
        },
        Mode::Write,
    )
    .unwrap();
    assert!(reactivated.written);
    assert_eq!(reactivated.after.status, SessionStatus::Idle);
    assert_eq!(reactivated.after.ended, None);
    assert_eq!(
        issues::show(&ws, &issue.id).unwrap().status,
        IssueStatus::InProgress
    );
    let doc = assert_document(&api::SessionChange::new(&reactivated, Mode::Write), &keys);
    assert_eq!(doc["status"], "idle");
    assert_eq!(doc["previous_status"], "completed");
}

#[test]
fn purge_with_delete_files_removes_worktree_and_branch_then_the_record_is_gone() {
    let repo = Repo::new();
    let ws = repo.workspace();
    let launched =
        sessions::launch(&ws, launch_request(None, Some("scratch")), Mode::Write).unwrap();
    let id = launched.session.id.clone();
    let close = CloseRequest {
        session: id.clone(),
        event: SessionEvent::Abandon,
        force: false,
    };
    sessions::close(&ws, &close, Mode::Write).unwrap();
    let request = PurgeRequest {
        session: id.clone(),
        delete_files: true,
        force: false,
    };
    let keys = [
        "dry_run",
        "id",
        "removed_worktree",
        "deleted_branch",
        "warnings",
    ];

    let refs = repo.pm_refs();
    let dry = sessions::purge(&ws, &request, Mode::DryRun).unwrap();
    assert_eq!(repo.pm_refs(), refs, "a dry-run purge writes nothing");
    assert!(launched.worktree.is_dir() && repo.branch_tip("scratch").is_some());
    assert_document(&api::Purge::new(&dry, Mode::DryRun), &keys);

    let purged = sessions::purge(&ws, &request, Mode::Write).unwrap();
    assert_eq!(
        purged.removed_worktree.as_deref(),
        Some(launched.worktree.as_path())
    );
    assert_eq!(purged.deleted_branch.as_deref(), Some("scratch"));
    assert!(purged.session.purged.is_some());
    // git: folder, worktree entry and branch gone; the record stays as a tombstone.
    assert!(!launched.worktree.exists());
    assert!(
        !repo.lists_worktree(&launched.worktree),
        "{:?}",
        repo.worktrees()
    );
    assert_eq!(repo.branch_tip("scratch"), None);
    assert!(repo.pm_refs().contains(&format!("refs/pm/sessions/{id} ")));
    let doc = assert_document(&api::Purge::new(&purged, Mode::Write), &keys);
    assert_eq!(doc["deleted_branch"], "scratch");
    assert_eq!(doc["id"], id.as_str());

    let all = ListRequest {
        all: true,
        ..ListRequest::default()
    };
    assert_eq!(
        sessions::list(&ws, &all).unwrap().total,
        0,
        "purged sessions are not listed"
    );
}
