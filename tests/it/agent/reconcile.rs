//! `pm agent reconcile`, `pm agent list` (which reconciles first) and `pm agent purge`.

use super::*;

// ---- reconcile and list ----------------------------------------------------------------

/// Copy a real record's layout into a teammate's session (another owner), stored by hand,
/// together with stale local data that points at a missing folder, so only the owner check
/// keeps this clone from abandoning it.
fn craft_teammate_session(repo: &Repo, template_id: &str) -> String {
    let text = repo.record_text_of(Kind::Session, template_id);
    let mine = clone_id(repo);
    assert!(text.contains(&mine));
    let crafted: String = text
        .lines()
        .filter(|l| !l.starts_with("issue ="))
        .map(|l| {
            if l.starts_with("id =") {
                format!("id = \"{TEAMMATE_SESSION}\"")
            } else if l.starts_with("owner =") {
                format!("owner = \"{TEAMMATE_CLONE}\"")
            } else if l.starts_with("branch =") {
                "branch = \"feature/teammate\"".to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert!(crafted.contains(TEAMMATE_CLONE) && !crafted.contains(&mine));
    repo.craft_record(
        Kind::Session,
        TEAMMATE_SESSION,
        &crafted,
        "launch: active on teammate",
    );
    let missing = repo.root().join("teammate-folder-not-here");
    std::fs::write(
        repo.path()
            .join(format!(".git/pm/sessions/{TEAMMATE_SESSION}.toml")),
        format!(
            "worktree = \"{}\"\nhost = \"elsewhere\"\n",
            missing.display()
        ),
    )
    .unwrap();
    repo.tip_of(Kind::Session, TEAMMATE_SESSION)
}

#[test]
fn reconcile_abandons_live_sessions_whose_worktree_is_gone_and_prunes_git() {
    let repo = repo_with_file();
    let lost_issue = repo.add("Lost worktree", &[]);
    let lost = str_of(&launch(&repo, &["--issue", &lost_issue])["id"]);
    let lost_wt = default_worktree(&repo, "feature/lost-worktree");
    let (idle_lost, idle_wt) = launch_branch(&repo, "feature/idle-lost");
    close(&repo, &[&idle_lost]);
    let (kept, kept_wt) = launch_branch(&repo, "feature/kept");
    let (finished, finished_wt) = launch_branch(&repo, "feature/finished");
    close(&repo, &["--done", &finished]);
    let teammate_tip = craft_teammate_session(&repo, &kept);

    for wt in [&lost_wt, &idle_wt, &finished_wt] {
        std::fs::remove_dir_all(wt).unwrap();
        assert!(
            worktree_at(&repo, wt).unwrap().prunable,
            "git still lists it"
        );
    }
    let kept_tip = repo.tip_of(Kind::Session, &kept);
    let finished_tip = repo.tip_of(Kind::Session, &finished);

    // A dry run reports and changes nothing.
    let before = snapshot(&repo);
    let dry = repo.pm_json(&["agent", "reconcile", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let mut abandoned: Vec<String> = dry["abandoned"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    abandoned.sort();
    let mut expected = vec![lost.clone(), idle_lost.clone()];
    expected.sort();
    assert_eq!(abandoned, expected);
    assert_eq!(dry["pruned"].as_array().unwrap().len(), 3, "{dry}");
    assert_eq!(snapshot(&repo), before, "--dry-run wrote something");
    assert_eq!(repo.status_of(Kind::Issue, &lost_issue), "in_progress");
    let text = repo.pm_ok(&["--dry-run", "agent", "reconcile"]);
    assert!(
        text.contains(&format!("Would abandon session {lost}")),
        "{text}"
    );
    assert_eq!(snapshot(&repo), before);

    // The real thing.
    let doc = repo.pm_json(&["agent", "reconcile"]);
    assert_eq!(doc["dry_run"], false);
    let mut abandoned: Vec<String> = doc["abandoned"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    abandoned.sort();
    assert_eq!(abandoned, expected);
    let mut pruned: Vec<String> = doc["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    pruned.sort();
    let mut gone: Vec<String> = [&lost_wt, &idle_wt, &finished_wt]
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    gone.sort();
    assert_eq!(pruned, gone);

    for id in [&lost, &idle_lost] {
        assert_eq!(repo.status_of(Kind::Session, id), "abandoned");
        assert!(repo.record_of(Kind::Session, id).contains_key("ended"));
        assert!(
            repo.subject(&Kind::Session.ref_name(id))
                .starts_with("reconcile: ")
        );
    }
    assert_eq!(repo.status_of(Kind::Issue, &lost_issue), "open");
    // Terminal, intact and foreign sessions are left alone.
    assert_eq!(repo.tip_of(Kind::Session, &finished), finished_tip);
    assert_eq!(repo.tip_of(Kind::Session, &kept), kept_tip);
    assert_eq!(repo.tip_of(Kind::Session, TEAMMATE_SESSION), teammate_tip);
    // Git's stale entries are gone; the intact worktree stays.
    let listed: Vec<PathBuf> = worktrees(&repo).into_iter().map(|w| w.path).collect();
    assert_eq!(listed, [repo.path().to_path_buf(), kept_wt.clone()]);
    assert_eq!(status_porcelain(&repo, &kept_wt), "");

    // A second run has nothing to do.
    let text = repo.pm_ok(&["agent", "reconcile"]);
    assert_eq!(text, "Nothing to reconcile.\n");

    // An abandoned session can come back: reactivate makes its worktree again.
    repo.pm_ok(&["agent", "reactivate", &lost]);
    assert_eq!(repo.status_of(Kind::Session, &lost), "idle");
    assert_eq!(repo.status_of(Kind::Issue, &lost_issue), "in_progress");
    let entry = worktree_at(&repo, &lost_wt).expect("the worktree is back");
    assert_eq!(
        entry.branch.as_deref(),
        Some("refs/heads/feature/lost-worktree")
    );
    assert_eq!(status_porcelain(&repo, &lost_wt), "");
    repo.assert_fsck_clean();
}

#[test]
fn list_reconciles_first_but_never_touches_a_teammates_session() {
    let repo = Repo::new();
    let (gone, gone_wt) = launch_branch(&repo, "feature/gone");
    let (kept, _) = launch_branch(&repo, "feature/kept");
    let teammate_tip = craft_teammate_session(&repo, &kept);
    std::fs::remove_dir_all(&gone_wt).unwrap();

    let run = repo.pm(&["--json", "agent", "list"]).ok();
    assert!(
        run.stderr.contains(&gone) && run.stderr.contains("abandoned"),
        "list warns about what it reconciled: {}",
        run.stderr
    );
    let doc = run.json();
    let mut ids = ids_of(&doc);
    ids.sort();
    let mut expected = vec![kept.clone(), TEAMMATE_SESSION.to_string()];
    expected.sort();
    assert_eq!(ids, expected, "the abandoned one is no longer live");
    assert_eq!(repo.status_of(Kind::Session, &gone), "abandoned");
    assert!(
        worktree_at(&repo, &gone_wt).is_none(),
        "list pruned git's entry"
    );

    let theirs = find_session(&doc, TEAMMATE_SESSION);
    assert_eq!(theirs["mine"], false);
    assert_eq!(theirs["owner"], TEAMMATE_CLONE);
    assert_eq!(theirs["worktree"], Value::Null);
    assert_eq!(theirs["status"], "active");
    assert_eq!(find_session(&doc, &kept)["mine"], true);

    // Neither list nor reconcile, however often, abandons it.
    repo.pm_ok(&["agent", "list", "--all"]);
    let doc = repo.pm_json(&["agent", "reconcile"]);
    assert_eq!(doc["abandoned"], Value::Array(vec![]));
    assert_eq!(repo.tip_of(Kind::Session, TEAMMATE_SESSION), teammate_tip);
    assert_eq!(repo.status_of(Kind::Session, TEAMMATE_SESSION), "active");
    let text = repo.pm_ok(&["agent", "list"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "WORKTREE",
            "STARTED",
            "LAST ACTIVITY",
        ],
    );
    let row = rows
        .iter()
        .find(|r| r[0] == TEAMMATE_SESSION)
        .expect("the teammate's session is shown");
    assert_eq!(row[1], "feature/teammate");
    assert_eq!(row[2], "active");
    assert_eq!(row[4], "(another clone)");
}

#[test]
fn list_shows_live_sessions_by_default_and_filters_on_request() {
    let repo = Repo::new();
    assert_eq!(
        repo.pm_ok(&["agent", "list"]),
        "No sessions (use --all to include completed and abandoned ones).\n"
    );
    let (active, _) = launch_branch(&repo, "s-active");
    let (idle, _) = launch_branch(&repo, "s-idle");
    close(&repo, &[&idle]);
    let (completed, _) = launch_branch(&repo, "s-completed");
    close(&repo, &["--done", &completed]);
    let (abandoned, _) = launch_branch(&repo, "s-abandoned");
    close(&repo, &["--abandon", &abandoned]);

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let set = |ids: &[&String]| sorted(ids.iter().map(|s| s.to_string()).collect());

    assert_eq!(sorted(list_ids(&repo, &[])), set(&[&active, &idle]));
    assert_eq!(
        sorted(list_ids(&repo, &["--all"])),
        set(&[&active, &idle, &completed, &abandoned])
    );
    assert_eq!(
        list_ids(&repo, &["--status", "completed"]),
        [completed.as_str()]
    );
    assert_eq!(list_ids(&repo, &["--status", "idle"]), [idle.as_str()]);
    assert_eq!(
        sorted(list_ids(&repo, &["--status", "abandoned,active"])),
        set(&[&abandoned, &active])
    );
    assert_eq!(
        sorted(list_ids(&repo, &["-s", "completed", "-s", "abandoned"])),
        set(&[&completed, &abandoned])
    );
    // Newest first.
    let all = list_ids(&repo, &["--all"]);
    let mut started: Vec<String> = {
        let doc = repo.pm_json(&["agent", "list", "--all"]);
        all.iter()
            .map(|id| str_of(&find_session(&doc, id)["started"]))
            .collect()
    };
    let listed = started.clone();
    started.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, started, "newest first");

    // The text table shows the same rows.
    let text = repo.pm_ok(&["agent", "list"]);
    let rows = table_rows(
        &text,
        &[
            "ID",
            "BRANCH",
            "STATUS",
            "ISSUE",
            "WORKTREE",
            "STARTED",
            "LAST ACTIVITY",
        ],
    );
    let mut shown: Vec<(String, String)> =
        rows.iter().map(|r| (r[0].clone(), r[2].clone())).collect();
    shown.sort();
    let mut expected = vec![
        (active.clone(), "active".into()),
        (idle.clone(), "idle".into()),
    ];
    expected.sort();
    assert_eq!(shown, expected);

    let line = refused(&repo, &["agent", "list", "--status", "sleeping"], 2);
    assert!(line.contains("sleeping"), "{line}");
}

// ---- purge -----------------------------------------------------------------------------

#[test]
fn purge_refuses_a_dirty_worktree_and_an_active_session_without_force() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/dirty");

    let line = refused(&repo, &["agent", "purge", &id], 1);
    assert!(line.contains("active"), "{line}");

    close(&repo, &[&id]);
    std::fs::write(wt.join("README.txt"), "uncommitted and longer\n").unwrap();
    let before_tip = repo.tip_of(Kind::Session, &id);
    let line = refused(&repo, &["agent", "purge", "--delete-files", &id], 1);
    assert!(line.contains("uncommitted"), "{line}");
    assert!(wt.join("README.txt").is_file());
    assert_eq!(
        std::fs::read_to_string(wt.join("README.txt")).unwrap(),
        "uncommitted and longer\n"
    );
    assert!(worktree_at(&repo, &wt).is_some());
    assert!(repo.branch_exists("feature/dirty"));
    assert_eq!(repo.tip_of(Kind::Session, &id), before_tip);
    assert_eq!(
        list_ids(&repo, &["--all"]),
        [id.as_str()],
        "the record is still there"
    );

    // With --force it goes, changes and all.
    let doc = repo.pm_json(&["agent", "purge", "--delete-files", "--force", &id]);
    assert_eq!(doc["removed_worktree"], wt.to_str().unwrap());
    assert!(!wt.exists());
    assert!(worktree_at(&repo, &wt).is_none());
    assert!(!repo.branch_exists("feature/dirty"));
}

#[test]
fn purge_dry_run_changes_nothing() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/dry");
    close(&repo, &[&id]);
    let before = snapshot(&repo);
    let doc = repo.pm_json(&["--dry-run", "agent", "purge", "--delete-files", &id]);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["removed_worktree"], wt.to_str().unwrap());
    assert_eq!(doc["deleted_branch"], "feature/dry");
    let text = repo.pm_ok(&["agent", "purge", "-n", "--delete-files", &id]);
    assert!(
        text.starts_with(&format!("Would purge session {id}\n")),
        "{text}"
    );
    assert_eq!(snapshot(&repo), before);
    assert!(wt.is_dir());
    assert_eq!(list_ids(&repo, &[]), [id.as_str()]);
    assert!(!repo.record_text_of(Kind::Session, &id).contains("purged"));
}

#[test]
fn purge_with_delete_files_removes_a_merged_sessions_worktree_and_branch() {
    let repo = repo_with_file();
    let issue = repo.add("Merged work", &[]);
    let doc = launch(&repo, &["--issue", &issue]);
    let id = str_of(&doc["id"]);
    let wt = PathBuf::from(str_of(&doc["worktree"]));
    let branch = "feature/merged-work";
    let head = commit_file(&repo, &wt, "feature.txt", "done\n", "the feature");
    close(&repo, &["--done", &id]);
    repo.git(&["merge", "-q", "--ff-only", branch]);
    assert_eq!(repo.git(&["rev-parse", "main"]).trim(), head);
    let count = repo.commit_count_of(Kind::Session, &id);

    let doc = repo.pm_json(&["agent", "purge", "--delete-files", &id]);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["removed_worktree"], wt.to_str().unwrap());
    assert_eq!(doc["deleted_branch"], branch);

    // Files and branch are gone, git agrees.
    assert!(!wt.exists());
    assert!(worktree_at(&repo, &wt).is_none());
    assert_eq!(worktrees(&repo).len(), 1);
    assert!(!repo.branch_exists(branch));
    assert_eq!(
        repo.git(&["rev-parse", "main"]).trim(),
        head,
        "main is untouched"
    );

    // The record stays as a tombstone: one more commit, marked purged.
    assert_eq!(repo.record_ids(Kind::Session), [id.as_str()]);
    assert_eq!(repo.commit_count_of(Kind::Session, &id), count + 1);
    assert_eq!(
        repo.subject(&Kind::Session.ref_name(&id)),
        "purge: completed"
    );
    let record = repo.record_of(Kind::Session, &id);
    assert!(record.contains_key("purged"), "tombstone: {record:?}");
    assert_eq!(record["status"].as_str(), Some("completed"));
    // … and pm no longer shows it.
    assert!(list_ids(&repo, &["--all"]).is_empty());
    assert!(ids_of(&repo.pm_json(&["agent", "history"])).is_empty());
    assert!(!repo.pm_json(&["agent", "show", &id])["purged"].is_null());
    let line = refused(&repo, &["agent", "purge", &id], 1);
    assert!(line.contains("already purged"), "{line}");
    // The issue keeps its state.
    assert_eq!(repo.status_of(Kind::Issue, &issue), "done");
    repo.assert_fsck_clean();
}

#[test]
fn reactivating_a_purged_session_fails_without_making_anything() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/purged");
    close(&repo, &["--done", &id]);
    repo.pm_ok(&["agent", "purge", "--delete-files", &id]);
    assert!(!repo.branch_exists("feature/purged"));

    let line = refused(&repo, &["agent", "reactivate", &id], 1);
    assert!(line.contains("purged"), "{line}");
    assert!(!wt.exists());
    assert!(!repo.branch_exists("feature/purged"));
}

#[test]
fn purge_without_delete_files_keeps_worktree_and_branch() {
    let repo = Repo::new();
    let (id, wt) = launch_branch(&repo, "feature/keep-files");
    close(&repo, &["--abandon", &id]);
    let doc = repo.pm_json(&["agent", "purge", &id]);
    assert_eq!(doc["removed_worktree"], Value::Null);
    assert_eq!(doc["deleted_branch"], Value::Null);
    assert!(worktree_at(&repo, &wt).is_some());
    assert!(repo.branch_exists("feature/keep-files"));
    assert!(repo.record_of(Kind::Session, &id).contains_key("purged"));
    assert!(list_ids(&repo, &["--all"]).is_empty());
}

#[test]
fn purge_refuses_a_branch_with_unmerged_commits_without_force() {
    let repo = repo_with_file();
    let (id, wt) = launch_branch(&repo, "feature/unmerged");
    let head = commit_file(&repo, &wt, "only-here.txt", "precious\n", "only here");
    close(&repo, &["--abandon", &id]);

    let line = refused(&repo, &["agent", "purge", "--delete-files", &id], 1);
    assert!(
        line.contains("feature/unmerged") && line.contains("1 commit"),
        "{line}"
    );
    assert!(wt.join("only-here.txt").is_file());
    assert!(!repo.record_text_of(Kind::Session, &id).contains("purged"));

    // Once another branch holds the commit, it may go.
    repo.git(&["branch", "keeper", &head]);
    let doc = repo.pm_json(&["agent", "purge", "--delete-files", &id]);
    assert_eq!(doc["deleted_branch"], "feature/unmerged");
    assert!(!repo.branch_exists("feature/unmerged"));
    assert!(!wt.exists());
    assert_eq!(repo.git(&["rev-parse", "keeper"]).trim(), head);

    // --force deletes a branch whose commits are nowhere else.
    let (id2, wt2) = launch_branch(&repo, "feature/forced");
    commit_file(&repo, &wt2, "lost.txt", "lost\n", "lost");
    close(&repo, &[&id2]);
    refused(&repo, &["agent", "purge", "--delete-files", &id2], 1);
    let doc = repo.pm_json(&["agent", "purge", "--delete-files", "--force", &id2]);
    assert_eq!(doc["deleted_branch"], "feature/forced");
    assert!(!repo.branch_exists("feature/forced"));
    assert!(worktree_at(&repo, &wt2).is_none());
    repo.assert_fsck_clean();
}
