//! Issue operations: add (and dry run), update, list, show.

use super::*;

#[test]
fn issue_add_update_list_show() {
    let repo = Repo::new();
    let ws = repo.workspace();

    let dry = issues::add(&ws, new_issue("Dry issue", &[]), Mode::DryRun).unwrap();
    assert_eq!(repo.pm_refs(), "", "a dry-run add writes no record");
    let doc = assert_document(
        &api::IssueChange::created(&dry.issue, &dry.message, Mode::DryRun),
        &["dry_run", "changed", "message", "issue"],
    );
    assert_eq!(doc["dry_run"], true);

    let added = issues::add(&ws, new_issue("Login page", &["web"]), Mode::Write).unwrap();
    let id = added.issue.id.clone();
    assert_eq!(added.message, "create: Login page");
    assert!(
        repo.pm_refs().contains(&format!("refs/pm/issues/{id} ")),
        "{}",
        repo.pm_refs()
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", &format!("refs/pm/issues/{id}")])
            .trim(),
        "create: Login page"
    );
    let doc = assert_document(
        &api::IssueChange::created(&added.issue, &added.message, Mode::Write),
        &["dry_run", "changed", "message", "issue"],
    );
    assert_eq!(doc["issue"]["id"], id.as_str());
    assert_eq!(doc["issue"]["status"], "open");
    assert_eq!(doc["issue"]["created"], "2027-01-15T08:00:00Z");

    let other = issues::add(&ws, new_issue("Other", &[]), Mode::Write).unwrap();

    let changes = issues::Changes {
        priority: Some(Priority::High),
        add_tags: vec!["urgent".into()],
        ..issues::Changes::default()
    };
    let before = repo.pm_refs();
    let updated = issues::update(&ws, &id[..20], changes.clone(), Mode::Write).unwrap();
    assert_ne!(repo.pm_refs(), before, "an update moves the record's ref");
    let doc = assert_document(
        &api::IssueChange::of(&updated, Mode::Write),
        &["dry_run", "changed", "message", "issue"],
    );
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["issue"]["priority"], "high");
    assert_eq!(doc["issue"]["tags"], serde_json::json!(["urgent", "web"]));
    assert_eq!(
        doc["message"].as_str().map(|m| m.starts_with("update: ")),
        Some(true),
        "{doc}"
    );

    // The same change again leaves the record as it is: nothing written.
    let before = repo.pm_refs();
    let again = issues::update(&ws, &id, changes, Mode::Write).unwrap();
    assert_eq!(repo.pm_refs(), before);
    assert_eq!(
        api::value(&api::IssueChange::of(&again, Mode::Write)).unwrap()["changed"],
        false
    );

    let filter = issues::Filter {
        tag: Some("urgent".into()),
        ..issues::Filter::default()
    };
    let (listed, broken) = issues::list(&ws, &filter).unwrap();
    assert!(broken.is_empty());
    assert_eq!(
        listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    let (all, _) = issues::list(&ws, &issues::Filter::default()).unwrap();
    assert_eq!(all.len(), 2);
    let doc = assert_document(&api::IssueList::new(&all, &broken), &["issues", "errors"]);
    assert_eq!(doc["issues"].as_array().map(Vec::len), Some(2));

    let shown = issues::show(&ws, &other.issue.id[..20]).unwrap();
    assert_eq!(shown.title, "Other");
    let doc = assert_document(&api::IssueShow::new(&shown, &[]), &["issue", "sessions"]);
    assert_eq!(doc["issue"]["title"], "Other");
    assert!(issues::show(&ws, "zzzz").is_err());
    // Both ids were made in the same second: their common prefix names neither.
    let common = id
        .chars()
        .zip(other.issue.id.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let ambiguous = issues::show(&ws, &id[..common]).unwrap_err();
    assert!(ambiguous.to_string().contains("ambiguous"), "{ambiguous}");
}
