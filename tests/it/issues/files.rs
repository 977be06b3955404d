//! Ref and object files as git writes them: packed refs, compression, locks, temporary
//! files, the size limit and reflogs.

use super::*;

// ---- packed refs -----------------------------------------------------------------------

#[test]
fn packed_record_refs_are_read_and_updated() {
    let repo = Repo::new();
    let id = repo.add("Packed", &[]);
    let other = repo.add("Also packed", &[]);
    repo.git(&["pack-refs", "--all"]);
    assert!(
        !repo.path().join(".git/refs/pm/issues").join(&id).exists(),
        "precondition: the ref is packed"
    );

    assert_eq!(list_ids(&repo, &[]).len(), 2);
    let before = repo.tip(&id);
    repo.pm_ok(&["issue", "update", &id, "--tag", "after-pack"]);
    assert_eq!(repo.commit_count(&id), 2);
    assert_eq!(
        repo.git(&["rev-parse", &format!("refs/pm/issues/{id}^")])
            .trim(),
        before
    );
    assert_eq!(repo.commit_count(&other), 1);
    let doc = repo.pm_json(&["issue", "show", &id]);
    assert_eq!(doc["issue"]["tags"], serde_json::json!(["after-pack"]));
    assert_eq!(repo.ref_ids().len(), 2);
    repo.assert_fsck_clean();
}

// ---- ref and object files, as git writes them ---------------------------------------------

/// The loose object file of `object` (a commit id or `<rev>:<path>`).
fn loose_object_file(repo: &Repo, object: &str) -> Vec<u8> {
    let id = repo.git(&["rev-parse", object]).trim().to_string();
    let path = repo
        .path()
        .join(".git/objects")
        .join(&id[..2])
        .join(&id[2..]);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{object} ({id}) is not loose: {e}"))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn records_are_written_uncompressed_unless_the_configuration_asks_for_compression() {
    let repo = Repo::new();
    let plain = repo.add("Stored as it is", &[]);
    let reference = format!("refs/pm/issues/{plain}");
    let blob = loose_object_file(&repo, &format!("{reference}:issue.toml"));
    assert!(contains(&blob, "title = \"Stored as it is\""));
    assert!(contains(&loose_object_file(&repo, &reference), "create"));

    repo.git(&["config", "core.looseCompression", "9"]);
    let packed = repo.add("Squeezed by zlib", &[]);
    repo.pm_ok(&["issue", "update", &plain, "--tag", "squeezed"]);
    for object in [
        format!("refs/pm/issues/{packed}:issue.toml"),
        format!("{reference}:issue.toml"),
    ] {
        let file = loose_object_file(&repo, &object);
        assert!(!contains(&file, "title = "), "{object} is compressed");
        assert!(repo.git(&["cat-file", "-p", &object]).contains("title = "));
    }
    assert_eq!(
        repo.pm_json(&["issue", "show", &plain])["issue"]["tags"],
        serde_json::json!(["squeezed"])
    );
    repo.assert_fsck_clean();
}

#[test]
fn a_ref_lock_left_behind_fails_the_update_with_one_line_and_changes_nothing() {
    let repo = Repo::new();
    let id = repo.add("Locked out", &[]);
    let before = repo.tip(&id);
    let lock = repo
        .path()
        .join(".git/refs/pm/issues")
        .join(format!("{id}.lock"));
    std::fs::write(&lock, "").expect("write a lock file");

    let started = std::time::Instant::now();
    let line = repo
        .pm(&["issue", "update", &id, "--tag", "blocked"])
        .fails_with(1);
    assert_names_a_stale_lock(&line, &format!("refs/pm/issues/{id}"), &lock);
    // Not retried for long: git gives up on a taken lock after 100 ms, pm after about 1 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(repo.tip(&id), before);
    assert!(lock.exists(), "another writer's lock is not pm's to remove");

    // The same through gix's ref transaction (taken when a reflog is kept).
    repo.git(&["config", "core.logAllRefUpdates", "always"]);
    let line = repo
        .pm(&["issue", "update", &id, "--tag", "blocked"])
        .fails_with(1);
    assert_names_a_stale_lock(&line, &format!("refs/pm/issues/{id}"), &lock);
    assert_eq!(repo.tip(&id), before);
    repo.git(&["config", "--unset", "core.logAllRefUpdates"]);

    std::fs::remove_file(&lock).expect("remove the lock");
    repo.pm_ok(&["issue", "update", &id, "--tag", "free"]);
    assert_eq!(repo.commit_count(&id), 2);
}

/// The error line names what is locked and the lock file, says a crashed process may have
/// left it, and when to remove it.
#[track_caller]
fn assert_names_a_stale_lock(line: &str, what: &str, lock: &std::path::Path) {
    let expected = format!(
        "{what} is locked: {} exists (a git or pm process is writing it, or one that crashed \
         left it behind); remove that file if no git or pm process is running",
        lock.display()
    );
    assert!(line.ends_with(&expected), "{line}");
}

/// Neither a new record nor an update needs `packed-refs.lock` (git takes none for them
/// either), so one that a crashed process left behind stops neither; pm leaves it alone.
#[test]
fn a_packed_refs_lock_left_behind_stops_no_create_or_update() {
    let repo = Repo::new();
    let id = repo.add("Packed away", &[]);
    repo.git(&["pack-refs", "--all"]);
    let lock = repo.path().join(".git/packed-refs.lock");
    std::fs::write(&lock, "").expect("write a lock file");

    let new = repo.add("New", &[]);
    assert_eq!(repo.ref_ids().len(), 2);
    assert_eq!(repo.commit_count(&new), 1);
    repo.pm_ok(&["issue", "update", &id, "--tag", "still-fine"]);
    assert_eq!(repo.commit_count(&id), 2);
    assert!(
        lock.exists(),
        "a lock pm did not take is not pm's to remove"
    );
    std::fs::remove_file(&lock).expect("remove the lock");
    repo.assert_fsck_clean();
}

/// Set the modification time of `path` back to 2001, as if written long ago.
fn make_old(path: &std::path::Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "2001-01-01 00:00:00"])
        .arg(path)
        .status()
        .expect("touch runs");
    assert!(status.success());
}

#[test]
fn temporary_files_that_a_killed_run_left_are_removed_by_the_next_write() {
    let repo = Repo::new();
    let id = repo.add("Tidy up", &[]);
    let git = repo.path().join(".git");
    std::fs::create_dir_all(git.join("pm/index")).unwrap();
    // Left by a pm that was killed between writing a temporary file and renaming it.
    let left = [
        git.join("pm/.tmp-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        git.join("pm/index/.tmp-index-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        git.join("objects/tmp_obj_pm-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ];
    // Not pm's to remove: other names (git's own temporary object among them), and a
    // temporary file of pm's that is being written right now.
    let kept = [
        git.join("pm/.tmp-notes"),
        git.join("pm/index/.tmp-4242-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        git.join("pm/keep.toml"),
        git.join("objects/tmp_obj_Xq3z9A"),
        git.join("objects/tmp_obj_4242_1f"),
    ];
    let young = git.join("pm/.tmp-4343-01ARZ3NDEKTSV4RRFFQ69G5FAW");
    for path in left.iter().chain(&kept).chain([&young]) {
        std::fs::write(path, "partial").unwrap();
    }
    for path in left.iter().chain(&kept) {
        make_old(path);
    }

    // A dry run, which writes nothing, leaves them; the next write clears pm's old ones.
    repo.pm_ok(&["--dry-run", "issue", "update", &id, "--tag", "tidy"]);
    assert!(left.iter().all(|p| p.exists()), "a dry run deletes nothing");
    repo.pm_ok(&["issue", "update", &id, "--tag", "tidy"]);
    for path in &left {
        assert!(!path.exists(), "{} is still there", path.display());
    }
    for path in kept.iter().chain([&young]) {
        assert!(path.exists(), "{} was removed", path.display());
    }
    assert_eq!(repo.commit_count(&id), 2);
    for path in &kept[3..] {
        std::fs::remove_file(path).unwrap();
    }
    repo.assert_fsck_clean();
}

/// Text that TOML stores two bytes for each character: backslashes, after a `'''` that
/// rules out a literal string.
fn escaped_text(len: usize) -> String {
    format!("'''{}", "\\".repeat(len - 3))
}

#[test]
fn an_update_that_would_outgrow_the_record_limit_is_refused_naming_the_field() {
    let repo = Repo::new();
    // Each text is inside its own 64 KiB limit; together, stored, they take more than the
    // 256 KiB a record may hold (and pm reads back).
    let description = escaped_text(64 * 1024 - 16);
    let body = escaped_text(64 * 1024);
    let id = repo.add("Grows", &["--description", &description]);
    let refs = repo.git(&["for-each-ref"]);

    for dry_run in [true, false] {
        let mut args = vec!["issue", "update", &id, "--body", &body];
        if dry_run {
            args.push("--dry-run");
        }
        let line = repo.pm(&args).fails_with(1);
        assert!(
            line.starts_with(&format!("error: cannot store issue {id}: it would take ")),
            "{line}"
        );
        assert!(
            line.contains("more than the 256 KiB a record may hold"),
            "{line}"
        );
        assert!(line.contains("its largest field is body"), "{line}");
        assert_eq!(repo.git(&["for-each-ref"]), refs, "nothing was written");
    }

    // Every record stays readable, by pm and by git.
    let listed = repo.pm_json(&["issue", "list"]);
    assert_eq!(listed["errors"], serde_json::json!([]), "{listed}");
    assert_eq!(repo.commit_count(&id), 1);
    repo.assert_fsck_clean();

    // A body that fits is taken.
    repo.pm_ok(&["issue", "update", &id, "--body", &escaped_text(60 * 1024)]);
    assert_eq!(repo.commit_count(&id), 2);
    let stored = repo.git(&["cat-file", "-s", &format!("refs/pm/issues/{id}:issue.toml")]);
    assert!(stored.trim().parse::<usize>().expect("a size") <= 256 * 1024);

    // So is a new issue: refused before anything is written, in a dry run too.
    for dry_run in [true, false] {
        let mut args = vec!["issue", "add", "--title", "Too big"];
        args.extend(["--description", &description, "--body", &body]);
        if dry_run {
            args.push("--dry-run");
        }
        let line = repo.pm(&args).fails_with(1);
        assert!(line.contains("its largest field is body"), "{line}");
    }
    assert_eq!(repo.ref_ids(), vec![id.clone()]);
    repo.assert_fsck_clean();
}

#[test]
fn a_reflog_that_is_kept_gets_every_update() {
    let repo = Repo::new();
    let kept = repo.add("With a reflog", &[]);
    let reference = format!("refs/pm/issues/{kept}");
    // An empty log file is a reflog that git keeps and appends to.
    let logs = repo.path().join(".git/logs/refs/pm/issues");
    std::fs::create_dir_all(&logs).expect("create the log folder");
    std::fs::write(logs.join(&kept), "").expect("start a reflog");
    repo.pm_ok(&["issue", "update", &kept, "--tag", "logged"]);
    let log = repo.git(&["reflog", "show", "--format=%H %gs", &reference]);
    assert!(
        log.starts_with(&format!("{} pm: update: tags +logged", repo.tip(&kept))),
        "{log}"
    );

    // Without a reflog and without core.logAllRefUpdates=always, none is started.
    let plain = repo.add("Without one", &[]);
    repo.pm_ok(&["issue", "update", &plain, "--tag", "quiet"]);
    let reflog = format!("refs/pm/issues/{plain}");
    assert!(
        !repo
            .git_run(repo.path(), &["reflog", "exists", &reflog], None)
            .success()
    );
    repo.git(&["config", "core.logAllRefUpdates", "always"]);
    repo.pm_ok(&["issue", "update", &plain, "--tag", "loud"]);
    let log = repo.git(&["reflog", "show", "--format=%gs", &reflog]);
    assert_eq!(log.lines().next(), Some("pm: update: tags +loud"), "{log}");
    repo.assert_fsck_clean();
}
