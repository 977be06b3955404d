use super::*;
use gix::error::ErrorExt;

#[test]
fn a_full_disk_is_called_so_with_the_path_being_written() {
    let enospc = std::io::Error::from_raw_os_error(28);
    assert!(is_disk_full(&enospc));
    assert!(is_disk_full(&std::io::Error::from(
        std::io::ErrorKind::StorageFull
    )));
    assert!(!is_disk_full(&std::io::Error::from(
        std::io::ErrorKind::PermissionDenied
    )));
    let path = std::path::Path::new("/repo/.git/refs/pm/issues/X.lock");
    assert_eq!(
        write_failed(path, &enospc),
        "disk full while writing /repo/.git/refs/pm/issues/X.lock"
    );

    // Deep inside a gix error, as a ref transaction reports it.
    let err: gix::Error = std::io::Error::from_raw_os_error(28)
        .and_raise(gix::error::message("Could not write reference"));
    assert_eq!(blocked_by(&err), Some(Blocked::DiskFull));
    let common = std::path::Path::new("/repo/.git");
    assert_eq!(
        ref_edit_failed(common, &["refs/heads/x"], "could not create branch x", &err).message(),
        "could not create branch x: disk full while writing /repo/.git/refs/heads/x"
    );
}

#[test]
fn a_lock_in_the_way_is_named_with_how_to_clear_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let common = dir.path();
    std::fs::create_dir_all(common.join("refs/heads")).expect("folders");
    let lock = common.join("refs/heads/topic.lock");
    std::fs::write(&lock, "").expect("a stale lock");
    // gix's own lock, failing as it does inside a ref transaction.
    let err: gix::Error = gix::lock::File::acquire_to_update_resource(
        common.join("refs/heads/topic"),
        gix::lock::acquire::Fail::Immediately,
        None,
        0,
    )
    .map(|_| ())
    .expect_err("the lock is taken");
    assert_eq!(blocked_by(&err), Some(Blocked::Locked));
    let line = ref_edit_failed(
        common,
        &["refs/heads/topic"],
        "could not create branch topic",
        &err,
    )
    .message()
    .to_string();
    assert_eq!(
        line,
        format!(
            "could not create branch topic: refs/heads/topic is locked: {} exists (a git or \
             pm process is writing it, or one that crashed left it behind); remove that file \
             if no git or pm process is running",
            lock.display()
        )
    );

    // A lock somewhere below a folder of refs, and packed-refs' lock.
    std::fs::remove_file(&lock).expect("clear it");
    let deep = common.join("refs/pm-remote/origin/issues");
    std::fs::create_dir_all(&deep).expect("folders");
    std::fs::write(deep.join("01ARZ3NDEKTSV4RRFFQ69G5FAV.lock"), "").expect("lock");
    let reason = ref_edit_reason(common, &["refs/pm-remote/origin/"], &err);
    assert!(
        reason.starts_with("refs/pm-remote/origin/issues/01ARZ3NDEKTSV4RRFFQ69G5FAV is locked"),
        "{reason}"
    );
    std::fs::write(common.join("packed-refs.lock"), "").expect("lock");
    let reason = ref_edit_reason(common, &["refs/heads/topic"], &err);
    assert!(reason.starts_with("packed-refs is locked: "), "{reason}");

    // Released meanwhile: no file to name.
    let empty = tempfile::tempdir().expect("temp dir");
    let reason = ref_edit_reason(empty.path(), &["refs/heads/topic"], &err);
    assert_eq!(
        reason,
        "refs/heads/topic was locked by another git or pm process; try again"
    );
}

#[test]
fn other_failures_keep_gix_s_words_on_one_line() {
    let err: gix::Error = std::io::Error::from(std::io::ErrorKind::PermissionDenied)
        .and_raise(gix::error::message("Could not write reference"));
    assert_eq!(blocked_by(&err), None);
    let line = ref_edit_reason(std::path::Path::new("/r"), &["refs/heads/x"], &err);
    assert!(line.contains("Could not write reference"), "{line}");
    assert!(!line.contains('\n'));
}
