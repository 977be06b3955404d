//! Sharing at fleet scale: many syncs at once in one clone, packs that would pile up, and
//! contention for the same records between clones.

use super::*;

/// The files under the clone's `objects/pack` that a finished fetch must not leave: `.keep`
/// files and temporary files (git's `tmp_*`, gix's `.tmp*`).
fn leftovers_in_packs(net: &Net, i: usize) -> Vec<String> {
    let dir = net.c(i).join(".git/objects/pack");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .expect("objects/pack can be read")
        .map(|e| e.expect("a directory entry").file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".keep") || n.starts_with("tmp_") || n.starts_with(".tmp"))
        .collect();
    out.sort();
    out
}

/// Ten `pm sync` at once in one clone, five rounds, with records to fetch, merge and push each
/// time: every one succeeds, nothing is lost, and the clone is left clean (fsck, no `.keep` or
/// temporary files among its packs).
#[test]
fn ten_syncs_at_once_in_one_clone_all_succeed() {
    let net = Net::new(2);
    let shared = net.add(0, "Shared", &[]);
    net.sync_all_twice();
    let mut created = Vec::new();
    let mut tags = Vec::new();
    for round in 0..5 {
        // The other clone moves records, so the remote has something to fetch and merge.
        for n in 0..3 {
            created.push(net.add(1, &format!("From clone 1, round {round} #{n}"), &[]));
        }
        let tag = format!("one{round}");
        net.pm_ok(1, &["issue", "update", &shared, "--tag", &tag]);
        tags.push(tag);
        net.sync(1);
        // This clone has its own changes to push.
        created.push(net.add(0, &format!("From clone 0, round {round}"), &[]));
        let tag = format!("zero{round}");
        net.pm_ok(0, &["issue", "update", &shared, "--tag", &tag]);
        tags.push(tag);
        let children: Vec<Child> = (0..10)
            .map(|_| spawn_pm(&net, 0, &["--json", "sync"]))
            .collect();
        for (n, child) in children.into_iter().enumerate() {
            let run = finish(child, &format!("pm sync #{n} in round {round}"));
            assert!(
                run.success(),
                "sync #{n} of round {round} failed:\n{}",
                run.stderr
            );
            let doc = run.json();
            assert!(doc["push_rejected"].as_array().unwrap().is_empty(), "{doc}");
            assert!(doc["rejected"].as_array().unwrap().is_empty(), "{doc}");
        }
        assert_eq!(
            leftovers_in_packs(&net, 0),
            Vec::<String>::new(),
            "round {round}"
        );
        net.fsck(Some(0));
    }
    net.sync_all_twice();
    net.assert_converged();
    for i in 0..2 {
        for id in &created {
            net.issue(i, id);
        }
        let issue = net.issue(i, &shared);
        let have: BTreeSet<&str> = issue["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
        assert_eq!(have, want, "clone {i}");
        assert_eq!(leftovers_in_packs(&net, i), Vec::<String>::new());
    }
}

/// A sync that finds another one running in its clone waits for it (it does not fail), and an
/// interrupt still ends the wait at once. The other sync is played by this test holding the
/// clone's sync mutex.
#[test]
fn a_second_sync_waits_for_the_first_and_can_be_interrupted() {
    let net = Net::new(2);
    let id = net.add(0, "Waited for", &[]);
    let mutex_path = net.c(0).join(".git/pm/sync.mutex");
    std::fs::create_dir_all(mutex_path.parent().unwrap()).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&mutex_path)
        .expect("open the sync mutex");
    held.lock().expect("lock the sync mutex");

    let waiting = spawn_pm(&net, 0, &["--json", "sync"]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let interrupted = spawn_pm(&net, 0, &["sync"]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(
        net.remote_refs().is_empty(),
        "nothing was pushed while the mutex was held"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &interrupted.id().to_string()])
        .status()
        .expect("kill can be run");
    assert!(status.success());
    let started = std::time::Instant::now();
    let run = finish(interrupted, "the interrupted sync");
    assert!(!run.success(), "an interrupted sync does not succeed");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    held.unlock().expect("unlock the sync mutex");
    let run = finish(waiting, "the waiting sync").ok();
    assert_eq!(run.json()["pushed"], 1);
    assert_eq!(
        net.git_remote(&["rev-parse", &format!("refs/pm/issues/{id}")]),
        net.git(0, &["rev-parse", &format!("refs/pm/issues/{id}")])
    );
}
