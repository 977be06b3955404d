//! Queries never write; reconcile is the one op that abandons a session whose worktree folder
//! is gone; the overview counts before and after.

use super::*;

#[test]
fn queries_never_write_and_reconcile_abandons_a_session_whose_worktree_is_gone() {
    let repo = Repo::new();
    let ws = repo.workspace();
    let issue = issues::add(&ws, new_issue("Login page", &[]), Mode::Write)
        .unwrap()
        .issue;
    issues::add(&ws, new_issue("Later", &[]), Mode::Write).unwrap();
    let gone = sessions::launch(&ws, launch_request(Some(&issue.id), None), Mode::Write).unwrap();
    let kept = sessions::launch(&ws, launch_request(None, Some("kept")), Mode::Write).unwrap();
    std::fs::remove_dir_all(&gone.worktree).unwrap();

    let refs = repo.pm_refs();
    let worktrees = repo.worktrees();
    let live = sessions::list(&ws, &ListRequest::default()).unwrap();
    let all = sessions::list(
        &ws,
        &ListRequest {
            all: true,
            ..ListRequest::default()
        },
    )
    .unwrap();
    let details = sessions::show(&ws, &gone.session.id).unwrap();
    let before = overview::overview(&ws).unwrap();
    assert_eq!(
        repo.pm_refs(),
        refs,
        "list, show and overview write no record"
    );
    assert_eq!(repo.worktrees(), worktrees, "nor prune a worktree entry");
    assert_eq!(live.total, 2);
    assert_eq!(all.total, 2);
    let view = live
        .sessions
        .iter()
        .find(|v| v.session.id == gone.session.id)
        .unwrap();
    assert_eq!(
        view.session.status,
        SessionStatus::Active,
        "listing does not reconcile"
    );
    assert!(!view.worktree_exists);
    assert!(!details.view.worktree_exists);
    assert_eq!(
        (before.sessions.active, before.sessions.abandoned),
        (2, 0),
        "{:?}",
        before.sessions
    );
    assert_eq!((before.issues.open, before.issues.in_progress), (1, 1));
    assert_eq!(before.live.len(), 2);
    assert_eq!(
        before
            .live
            .iter()
            .find(|l| l.id == gone.session.id)
            .and_then(|l| l.issue_title.as_deref()),
        Some("Login page")
    );

    let dry = sessions::reconcile(&ws, &ReconcileRequest::default(), Mode::DryRun).unwrap();
    assert_eq!(repo.pm_refs(), refs, "a dry-run reconcile writes nothing");
    assert_eq!(repo.worktrees(), worktrees);
    assert_document(
        &api::Reconcile::new(&dry, Mode::DryRun),
        &[
            "dry_run",
            "abandoned",
            "pruned",
            "repaired",
            "handed_off",
            "warnings",
        ],
    );

    let report = sessions::reconcile(&ws, &ReconcileRequest::default(), Mode::Write).unwrap();
    let abandoned: Vec<&str> = report.abandoned.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(abandoned, [gone.session.id.as_str()]);
    assert_ne!(
        repo.pm_refs(),
        refs,
        "reconcile writes the abandoned record"
    );
    assert!(
        !repo.lists_worktree(&gone.worktree),
        "its stale entry is pruned: {:?}",
        repo.worktrees()
    );
    assert!(
        repo.lists_worktree(&kept.worktree),
        "the other worktree stays"
    );
    let doc = assert_document(
        &api::Reconcile::new(&report, Mode::Write),
        &[
            "dry_run",
            "abandoned",
            "pruned",
            "repaired",
            "handed_off",
            "warnings",
        ],
    );
    assert_eq!(doc["abandoned"], serde_json::json!([gone.session.id]));
    // Abandoning the issue's only session reopens the issue.
    assert_eq!(
        issues::show(&ws, &issue.id).unwrap().status,
        IssueStatus::Open
    );

    let after = overview::overview(&ws).unwrap();
    assert_eq!((after.sessions.active, after.sessions.abandoned), (1, 1));
    assert_eq!((after.issues.open, after.issues.in_progress), (2, 0));
    assert_eq!(after.live.len(), 1);
    assert_eq!(
        after.sync.to_push, 4,
        "every record is still to push: {:?}",
        after.sync
    );

    // Reconciling again finds nothing to do and writes nothing.
    let refs = repo.pm_refs();
    let again = sessions::reconcile(&ws, &ReconcileRequest::default(), Mode::Write).unwrap();
    assert!(again.abandoned.is_empty());
    assert_eq!(repo.pm_refs(), refs);
}
