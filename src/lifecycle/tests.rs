//! Unit tests of the lifecycle rules (`src/lifecycle.rs`).

use super::*;
use SessionEvent as E;
use SessionStatus as S;

#[test]
fn the_status_table_holds() {
    let table = [
        (S::Active, E::Close, Some(S::Idle)),
        (S::Active, E::Complete, Some(S::Completed)),
        (S::Active, E::Abandon, Some(S::Abandoned)),
        (S::Active, E::WorktreeGone, Some(S::Abandoned)),
        (S::Idle, E::Close, Some(S::Idle)),
        (S::Idle, E::Complete, Some(S::Completed)),
        (S::Idle, E::Abandon, Some(S::Abandoned)),
        (S::Idle, E::Resume, Some(S::Active)),
        (S::Idle, E::WorktreeGone, Some(S::Abandoned)),
        (S::Completed, E::Reactivate, Some(S::Idle)),
        (S::Abandoned, E::Reactivate, Some(S::Idle)),
        (S::Completed, E::WorktreeGone, None),
        (S::Abandoned, E::WorktreeGone, None),
    ];
    for (from, event, to) in table {
        assert_eq!(
            next_status(from, event).unwrap(),
            to,
            "{from:?} + {event:?}"
        );
    }
}

#[test]
fn forbidden_events_say_why() {
    let err = next_status(S::Active, E::Resume).unwrap_err();
    assert!(err.message().contains("already active"));
    for from in [S::Completed, S::Abandoned] {
        for event in [E::Close, E::Complete, E::Abandon] {
            let err = next_status(from, event).unwrap_err();
            assert!(
                err.message()
                    .contains(&format!("already {}", from.as_str()))
            );
        }
        assert!(next_status(from, E::Resume).is_err());
    }
    assert!(next_status(S::Idle, E::Reactivate).is_err());
    assert!(next_status(S::Active, E::Reactivate).is_err());
}

#[test]
fn cascades_to_the_issue() {
    use IssueStatus as I;
    let progress = I::InProgress;
    assert_eq!(
        issue_cascade(E::Complete, S::Completed, false, progress),
        Some(I::Done)
    );
    assert_eq!(
        issue_cascade(E::Abandon, S::Abandoned, false, progress),
        Some(I::Open)
    );
    assert_eq!(
        issue_cascade(E::WorktreeGone, S::Abandoned, false, progress),
        Some(I::Open)
    );
    assert_eq!(issue_cascade(E::Close, S::Idle, false, progress), None);
    assert_eq!(
        issue_cascade(E::Resume, S::Active, false, I::Open),
        Some(progress)
    );
    assert_eq!(
        issue_cascade(E::TakeOver, S::Active, false, I::Done),
        Some(progress)
    );
    assert_eq!(
        issue_cascade(E::Reactivate, S::Idle, false, I::Done),
        Some(progress)
    );
    // Nothing to write when the issue is there already.
    assert_eq!(issue_cascade(E::Resume, S::Active, false, progress), None);
    assert_eq!(
        issue_cascade(E::Complete, S::Completed, true, I::Done),
        None
    );
}

#[test]
fn several_sessions_on_one_issue() {
    use IssueStatus as I;
    // Abandoning one of several live sessions leaves the issue in progress.
    assert_eq!(
        issue_cascade(E::Abandon, S::Abandoned, true, I::InProgress),
        None
    );
    assert_eq!(
        issue_cascade(E::WorktreeGone, S::Abandoned, true, I::InProgress),
        None
    );
    // Completing one marks the issue done although others are live.
    assert_eq!(
        issue_cascade(E::Complete, S::Completed, true, I::InProgress),
        Some(I::Done)
    );
    // The last live session abandoned after another completed: the issue stays done.
    assert_eq!(
        issue_cascade(E::Abandon, S::Abandoned, false, I::Done),
        None
    );
    assert_eq!(
        issue_cascade(E::Abandon, S::Abandoned, false, I::Closed),
        None
    );
}

fn session(id: &str, status: S, started: i64, updated: i64) -> Session {
    Session {
        schema: 1,
        id: id.to_string(),
        issue: None,
        branch: format!("feature/{id}"),
        base: "0".repeat(40),
        base_ref: "main".into(),
        status,
        agent: String::new(),
        role: String::new(),
        prompt: String::new(),
        actor: String::new(),
        owner: "CLONEA".into(),
        started: Timestamp(started),
        updated: Timestamp(updated),
        ended: (!status.is_live()).then_some(Timestamp(updated)),
        epoch: 0,
        commits: 0,
        purged: None,
        unknown: toml::Table::new(),
    }
}

#[test]
fn a_second_live_session_needs_force_and_names_the_holder() {
    let holder = session("A", S::Idle, 10, 20);
    let err = check_second_session("ISSUE", &[&holder], false).unwrap_err();
    assert!(err.message().contains("issue ISSUE"), "{}", err.message());
    assert!(
        err.message().contains("session A (idle on feature/A)"),
        "{}",
        err.message()
    );
    assert!(check_second_session("ISSUE", &[&holder], true).is_ok());
    assert!(check_second_session("ISSUE", &[], false).is_ok());
}

#[test]
fn only_the_owner_touches_an_active_session_without_force() {
    let active = session("A", S::Active, 10, 10);
    let err = check_owner(&active, Some("CLONEB"), false, "closing").unwrap_err();
    assert!(err.message().contains("session A"));
    assert!(err.message().contains("CLONEA"));
    assert!(check_owner(&active, None, false, "closing").is_err());
    assert!(check_owner(&active, Some("CLONEA"), false, "closing").is_ok());
    assert!(check_owner(&active, Some("CLONEB"), true, "closing").is_ok());
    // An idle or finished session of another clone is not at work there.
    for status in [S::Idle, S::Completed, S::Abandoned] {
        let s = session("A", status, 10, 10);
        assert!(check_owner(&s, Some("CLONEB"), false, "purging").is_ok());
    }
}

fn implied(sessions: &[Session]) -> Option<(IssueStatus, i64)> {
    let refs: Vec<&Session> = sessions.iter().collect();
    implied_issue_status(&refs).map(|i| (i.status, i.at.0))
}

#[test]
fn the_implied_issue_status_replays_the_cascades() {
    use IssueStatus as I;
    assert_eq!(implied(&[]), None);
    // One session: launched, then completed or abandoned.
    assert_eq!(
        implied(&[session("A", S::Active, 10, 10)]),
        Some((I::InProgress, 10))
    );
    assert_eq!(
        implied(&[session("A", S::Idle, 10, 30)]),
        Some((I::InProgress, 10))
    );
    assert_eq!(
        implied(&[session("A", S::Completed, 10, 30)]),
        Some((I::Done, 30))
    );
    assert_eq!(
        implied(&[session("A", S::Abandoned, 10, 30)]),
        Some((I::Open, 30))
    );
    // Resumed (active again at 40) after another one completed.
    let both = [
        session("A", S::Completed, 10, 30),
        session("B", S::Active, 20, 40),
    ];
    assert_eq!(implied(&both), Some((I::InProgress, 40)));
    // Completed while another one is still live: done; that one stays as it is.
    let both = [
        session("A", S::Completed, 10, 30),
        session("B", S::Idle, 20, 40),
    ];
    assert_eq!(implied(&both), Some((I::Done, 30)));
    // Abandoned while another one is live: no change of its own.
    let both = [
        session("A", S::Abandoned, 10, 30),
        session("B", S::Idle, 20, 40),
    ];
    assert_eq!(implied(&both), Some((I::InProgress, 20)));
    // The last of two abandoned: open again.
    let both = [
        session("A", S::Abandoned, 10, 30),
        session("B", S::Abandoned, 20, 40),
    ];
    assert_eq!(implied(&both), Some((I::Open, 40)));
    // Abandoned after another completed: the issue stays done.
    let both = [
        session("A", S::Completed, 10, 30),
        session("B", S::Abandoned, 20, 40),
    ];
    assert_eq!(implied(&both), Some((I::Done, 30)));
    // A new session after an abandoned one: in progress.
    let both = [
        session("A", S::Abandoned, 10, 30),
        session("B", S::Active, 50, 50),
    ];
    assert_eq!(implied(&both), Some((I::InProgress, 50)));
}

#[test]
fn a_missing_cascade_is_repaired_only_when_the_issue_is_older() {
    use IssueStatus as I;
    let done = session("A", S::Completed, 10, 30);
    let refs = [&done];
    // The issue last changed at the launch (10): the completion's update is missing.
    let repair = missing_cascade(I::InProgress, Timestamp(10), &refs).unwrap();
    assert_eq!(
        (repair.status, repair.at, repair.by),
        (I::Done, Timestamp(30), 0)
    );
    // Set by hand after the session ended: left alone, whatever it says.
    assert_eq!(missing_cascade(I::InProgress, Timestamp(31), &refs), None);
    assert_eq!(missing_cascade(I::Open, Timestamp(40), &refs), None);
    // In the same second: the order is unknown, so it is left alone.
    assert_eq!(missing_cascade(I::InProgress, Timestamp(30), &refs), None);
    // Already right: nothing to do.
    assert_eq!(missing_cascade(I::Done, Timestamp(5), &refs), None);
    // A launch whose update is missing.
    let active = session("B", S::Active, 50, 50);
    let repair = missing_cascade(I::Done, Timestamp(30), &[&done, &active]).unwrap();
    assert_eq!(repair.status, I::InProgress);
    assert_eq!(repair.by, 1);
}
