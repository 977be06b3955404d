//! `pm init`, unknown remotes, locks left behind, bulk pushes and the overview's sync counts.

use super::*;

// ---- 9. pm init, unknown remotes -------------------------------------------------------

#[test]
fn init_adds_the_fetch_refspec_once_and_git_fetch_brings_records() {
    let net = Net::new(2);
    let original = net.git(0, &["config", "--get-all", "remote.origin.fetch"]);
    assert_eq!(original.trim(), "+refs/heads/*:refs/remotes/origin/*");

    let dry = net.json(0, &["-n", "init"]);
    assert_eq!(
        (dry["added"].as_bool(), dry["dry_run"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(
        net.git(0, &["config", "--get-all", "remote.origin.fetch"]),
        original
    );

    let first = net.pm(0, &["init"]).ok();
    assert!(
        first
            .stdout
            .starts_with("Added +refs/pm/*:refs/pm-remote/origin/*"),
        "{}",
        first.stdout
    );
    let second = net.json(0, &["init"]);
    assert_eq!(second["added"], false, "{second}");
    let third = net.json(0, &["init", "--remote", "origin"]);
    assert_eq!(third["added"], false, "{third}");
    let specs = net.git(0, &["config", "--get-all", "remote.origin.fetch"]);
    let specs: Vec<&str> = specs.lines().collect();
    assert_eq!(
        specs,
        [
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/pm/*:refs/pm-remote/origin/*"
        ]
    );

    // A plain git fetch now brings the records into the tracking namespace.
    let id = net.add(1, "Fetched by git", &[]);
    net.sync(1);
    net.git(0, &["fetch", "-q"]);
    assert!(net.has_ref(0, &format!("refs/pm-remote/origin/issues/{id}")));
    assert!(net.has_ref(0, "refs/remotes/origin/main"));
    assert!(!net.has_ref(0, &format!("refs/pm/issues/{id}")));
    // …and the next sync takes it from there.
    let doc = net.sync(0);
    assert_eq!(doc["created"], 1, "{doc}");
    assert_eq!(doc["fetched"], 0, "{doc}");
    assert_eq!(net.issue(0, &id)["title"], "Fetched by git");
}

#[test]
fn unknown_remotes_fail_with_one_line() {
    let net = Net::new(1);
    let config = net.git(0, &["config", "--list", "--local"]);
    let line = net.pm(0, &["init", "--remote", "nosuch"]).fails_with(1);
    assert!(line.contains("nosuch"), "{line}");
    let line = net.pm(0, &["sync", "nosuch"]).fails_with(1);
    assert!(line.contains("nosuch"), "{line}");
    let line = net.pm(0, &["--json", "sync", "nosuch"]).fails_with(1);
    assert!(line.contains("nosuch"), "{line}");
    for odd in ["-x", "", "a b", "../x", "origin/../x"] {
        let run = net.pm(0, &["sync", "--", odd]);
        assert!(matches!(run.code, Some(1 | 2)), "{odd:?}: {run:?}");
        run.fails_with(run.code.unwrap());
    }
    assert_eq!(net.git(0, &["config", "--list", "--local"]), config);
    // A repository without any remote: the default remote is missing.
    let line = net.repo.pm(&["sync"]).fails_with(1);
    assert!(line.contains("origin"), "{line}");
    let line = net.repo.pm(&["init"]).fails_with(1);
    assert!(line.contains("origin"), "{line}");
    // A remote that is configured but unreachable: one line as well.
    net.git(0, &["remote", "add", "gone", "/nonexistent/remote.git"]);
    let line = net.pm(0, &["sync", "gone"]).fails_with(1);
    assert!(line.contains("gone"), "{line}");
}

/// A lock file a crashed process left on a tracking ref, then on `packed-refs`: the sync fails
/// with one line naming the file and how to clear it, and leaves every ref as it was.
#[test]
fn a_lock_left_behind_fails_sync_with_one_line_naming_it() {
    let net = Net::new(2);
    let id = net.add(0, "Locked tracking", &[]);
    net.sync(0);
    net.sync(1);
    net.pm_ok(0, &["issue", "update", &id, "--title", "Moved on"]);
    net.sync(0);

    let git_dir = net.c(1).join(".git");
    let tracking = git_dir.join(format!("refs/pm-remote/origin/issues/{id}.lock"));
    let packed = git_dir.join("packed-refs.lock");
    for (lock, what) in [
        (&tracking, format!("refs/pm-remote/origin/issues/{id}")),
        (&packed, "packed-refs".to_string()),
    ] {
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        std::fs::write(lock, "").unwrap();
        let refs = net.all_refs(1);
        let line = net.pm(1, &["sync"]).fails_with(1);
        assert_eq!(
            line,
            format!(
                "error: could not fetch from remote origin: {what} is locked: {} exists (a git \
                 or pm process is writing it, or one that crashed left it behind); remove that \
                 file if no git or pm process is running",
                lock.display()
            )
        );
        assert_eq!(net.all_refs(1), refs, "nothing changed");
        let pack_dir = git_dir.join("objects/pack");
        let keeps: Vec<_> = std::fs::read_dir(&pack_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".keep") || n.starts_with(".tmp") || n.starts_with("tmp_"))
            .collect();
        assert!(keeps.is_empty(), "the failed fetch left {keeps:?}");
        assert!(
            lock.exists(),
            "a lock pm did not take is not pm's to remove"
        );
        std::fs::remove_file(lock).unwrap();
    }

    net.sync(1);
    assert_eq!(net.issue(1, &id)["title"], "Moved on");
    net.fsck(Some(1));
}

/// A valid id for the `n`th bulk record (time part from 2016, so pm never makes it).
fn bulk_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let tail: String = (0..5)
        .rev()
        .map(|i| ALPHABET[(n >> (5 * i)) & 31] as char)
        .collect();
    format!("01ARZ3NDEKTSV4RRFFQ69{tail}")
}

/// Records `ids` written into clone `i` with plain git, as fast-import makes them.
fn bulk_issues(net: &Net, i: usize, ids: &[String]) {
    let stream: String = ids
        .iter()
        .map(|id| {
            let text = record_toml(id, "\"Bulk\"", "");
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
}

#[test]
fn many_records_are_pushed_at_once_and_a_ref_that_is_no_record_stays_home() {
    let net = Net::new(2);
    // Many new records of one kind: one wildcard refspec pushes them (see `push_specs`).
    let first: Vec<String> = (0..70).map(bulk_id).collect();
    bulk_issues(&net, 0, &first);
    let doc = net.sync(0);
    assert_eq!(doc["pushed"], 70, "{doc}");
    assert!(rejected_refs(&doc).is_empty(), "{doc}");
    assert_eq!(net.remote_refs(), net.refs(0));
    assert_eq!(net.sync(0)["pushed"], 0, "up to date");

    // A local ref under refs/pm/issues/ that is no record is never pushed, however many
    // records go with it.
    let second: Vec<String> = (100..170).map(bulk_id).collect();
    bulk_issues(&net, 0, &second);
    let tip = net.tip(0, &format!("refs/pm/issues/{}", second[0]));
    net.git(0, &["update-ref", "refs/pm/issues/not-a-record", &tip]);
    let doc = net.sync(0);
    assert_eq!(doc["pushed"], 70, "{doc}");
    let remote = net.remote_refs();
    assert!(!remote.contains("not-a-record"), "{remote}");
    assert_eq!(remote.lines().count(), 140, "{remote}");

    let doc = net.sync(1);
    assert_eq!(doc["created"], 140, "{doc}");
    assert_eq!(net.remote_refs(), net.refs(1));
}

/// What git says the overview's sync line should count in clone `i`: records whose tip differs
/// from the one last fetched, and fetched records whose tip differs from the local one.
fn sync_counts_in_git(net: &Net, i: usize) -> (usize, usize) {
    let tips = |prefix: &str| -> BTreeMap<String, String> {
        net.git(
            i,
            &["for-each-ref", "--format=%(refname) %(objectname)", prefix],
        )
        .lines()
        .map(|line| {
            let (name, tip) = line.split_once(' ').expect("name and tip");
            let below = name.strip_prefix(prefix).expect("under the prefix");
            (below.to_string(), tip.to_string())
        })
        .collect()
    };
    let ours = tips("refs/pm/");
    let theirs = tips("refs/pm-remote/origin/");
    let to_push = ours
        .iter()
        .filter(|(n, t)| theirs.get(*n) != Some(t))
        .count();
    let to_merge = theirs
        .iter()
        .filter(|(n, t)| ours.get(*n) != Some(t))
        .count();
    (to_push, to_merge)
}

/// Issue 14 point 22: the overview keeps its sync counts in the local cache while the ref files
/// stay the same; whatever moves a record or a tracking ref — pm, plain git, packing — the next
/// overview counts what git shows, also when every ref file is old enough to be trusted by its
/// time.
#[test]
fn the_overview_sync_counts_follow_every_move_of_the_refs() {
    let net = Net::new(2);
    let check = |what: &str| {
        let doc = net.json(0, &[]);
        let (to_push, to_merge) = sync_counts_in_git(&net, 0);
        assert_eq!(doc["sync"]["fetched"], true, "{what}: {doc}");
        assert_eq!(doc["sync"]["to_push"], to_push, "{what}: {doc}");
        assert_eq!(doc["sync"]["to_merge"], to_merge, "{what}: {doc}");
        (to_push, to_merge)
    };
    assert_eq!(net.json(0, &[])["sync"]["fetched"], false);
    let a = net.add(0, "Alpha", &[]);
    let b = net.add(0, "Bravo", &[]);
    net.sync(0);
    for aged in [false, true] {
        let age = || {
            if aged {
                age_ref_files(&net.c(0).join(".git"), &["refs/pm", "refs/pm-remote"]);
            }
        };
        age();
        assert_eq!(check("after a sync"), (0, 0));
        // A local change: one record to push.
        net.pm_ok(0, &["issue", "update", &a, "--title", "Alpha 2"]);
        age();
        assert_eq!(check("after a local change"), (1, 1));
        // The same record again, its loose ref rewritten: no ref file more or less. Then back
        // to the tip last fetched.
        let fetched = net.tip(0, &format!("refs/pm-remote/origin/issues/{a}"));
        net.pm_ok(0, &["issue", "update", &a, "--title", "Alpha 2b"]);
        age();
        assert_eq!(check("after a second local change"), (1, 1));
        net.git(0, &["update-ref", &format!("refs/pm/issues/{a}"), &fetched]);
        age();
        assert_eq!(check("after a record moved back by git"), (0, 0));
        net.pm_ok(0, &["issue", "update", &a, "--title", "Alpha 2"]);
        age();
        assert_eq!(check("after a third local change"), (1, 1));
        // Another clone changes the other record; a plain git fetch brings it.
        net.sync(1);
        net.pm_ok(1, &["issue", "update", &b, "--title", "Bravo 2"]);
        net.sync(1);
        net.git(
            0,
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/pm/*:refs/pm-remote/origin/*",
            ],
        );
        age();
        assert_eq!(check("after a fetch by git"), (2, 2));
        net.git(0, &["pack-refs", "--all"]);
        age();
        assert_eq!(check("after packing"), (2, 2));
        // A tracking ref moved back by hand, then deleted.
        let tracking = format!("refs/pm-remote/origin/issues/{a}");
        let local = net.tip(0, &format!("refs/pm/issues/{a}"));
        net.git(0, &["update-ref", &tracking, &local]);
        age();
        assert_eq!(check("after a tracking ref moved"), (1, 1));
        net.git(0, &["update-ref", "-d", &tracking]);
        age();
        assert_eq!(check("after a tracking ref was deleted"), (2, 1));
        net.sync(0);
        age();
        assert_eq!(check("after the next sync"), (0, 0));
        net.pm_ok(0, &["issue", "update", &a, "--title", "Alpha 3"]);
        net.pm_ok(0, &["issue", "update", &b, "--title", "Bravo 3"]);
        net.sync(0);
    }
}
