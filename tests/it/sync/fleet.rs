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

/// How many packs clone `i` holds.
fn packs(net: &Net, i: usize) -> usize {
    std::fs::read_dir(net.c(i).join(".git/objects/pack"))
        .expect("objects/pack can be read")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        })
        .count()
}

/// The most packs a clone keeps after a sync that fetched (pm's `PACK_LIMIT`).
const PACK_LIMIT: usize = 16;

/// Every fetch leaves a pack; a clone that syncs often keeps a bounded number of them, and
/// every record stays readable.
#[test]
fn packs_do_not_pile_up() {
    let net = Net::new(2);
    let mut ids = Vec::new();
    let mut most = 0;
    for n in 0..24 {
        ids.push(net.add(1, &format!("Issue {n}"), &[]));
        net.sync(1);
        let doc = net.sync(0);
        assert_eq!(doc["created"], 1, "{doc}");
        most = most.max(packs(&net, 0));
    }
    assert!(most <= PACK_LIMIT, "clone 0 held {most} packs");
    assert!(packs(&net, 0) >= 1);
    net.fsck(Some(0));
    assert_eq!(leftovers_in_packs(&net, 0), Vec::<String>::new());
    for id in &ids {
        net.issue(0, id);
    }
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

/// gix sizes its table of pack indexes once, when the repository is opened (32, or a tenth
/// more than the packs then on disk). When other processes add packs to the clone while a sync
/// runs (here: 40 of them, made while its first push is on the wire, and a race that makes that
/// push be refused), the next fetch finds more packs than slots. The sync opens the object
/// database again and finishes instead of failing.
#[test]
fn packs_added_during_a_sync_do_not_make_it_fail() {
    let net = Net::new(2);
    let id = net.add(0, "Contended", &[]);
    net.sync(0);
    net.sync(1);
    net.pm_ok(0, &["issue", "update", &id, "--title", "A's title"]);
    net.pm_ok(1, &["issue", "update", &id, "--priority", "low"]);

    let marker = net.remote.join("race-once");
    std::fs::write(&marker, "").unwrap();
    let env: String = common::base_env(net.repo.home())
        .into_iter()
        .chain(common::identity_env())
        .map(|(k, v)| format!("{}='{}' ", k.to_str().unwrap(), v.to_str().unwrap()))
        .collect();
    let make_packs = net.root().join("make-packs");
    std::fs::write(
        &make_packs,
        format!(
            "#!/bin/sh\nset -e\ncd '{b}'\nfor i in $(seq 1 40); do\n  \
             oid=$(printf 'pack filler %s\\n' \"$i\" | git hash-object -w --stdin)\n  \
             echo \"$oid\" | git pack-objects -q .git/objects/pack/pack >/dev/null\ndone\n",
            b = net.c(1).display()
        ),
    )
    .unwrap();
    let hook = format!(
        "#!/bin/sh\ncat >/dev/null\nif [ -e '{marker}' ]; then\n  rm -f '{marker}'\n  \
         env -i {env} '{pm}' -C '{a}' sync --push-only >'{log}' 2>&1 || exit 1\n  \
         env -i {env} sh '{packs}' >>'{log}' 2>&1 || exit 1\nfi\nexit 0\n",
        marker = marker.display(),
        pm = common::pm_bin().display(),
        a = net.c(0).display(),
        packs = make_packs.display(),
        log = net.remote.join("race.log").display(),
    );
    let hook_path = net.remote.join("hooks/pre-receive");
    std::fs::write(&hook_path, hook).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = net.pm(1, &["--json", "sync"]);
    let log = std::fs::read_to_string(net.remote.join("race.log")).unwrap_or_default();
    assert!(!marker.exists(), "the hook did not run");
    let doc = run.ok().json();
    assert!(
        log.contains("pushed 1"),
        "clone 0's push in the hook: {log}"
    );
    assert_eq!(doc["merged"], 1, "{doc}");
    assert!(doc["push_rejected"].as_array().unwrap().is_empty(), "{doc}");
    std::fs::remove_file(&hook_path).unwrap();
    let left = packs(&net, 1);
    assert!(
        left <= PACK_LIMIT,
        "the 40 packs were rolled up: {left} left"
    );

    net.sync(0);
    for i in 0..2 {
        let issue = net.issue(i, &id);
        assert_eq!(issue["title"], "A's title");
        assert_eq!(issue["priority"], "low");
    }
    net.assert_converged();
}

/// Twelve clones edit the same two records and sync all at once, four times over: every sync
/// succeeds (a refused push is fetched, merged and pushed again after a random pause, for as
/// long as rounds make progress), and nothing anyone wrote is lost.
#[test]
fn twelve_clones_syncing_the_same_records_at_once_all_succeed() {
    const CLONES: usize = 12;
    let net = Net::new(CLONES);
    let a = net.add(0, "Contended A", &[]);
    let b = net.add(0, "Contended B", &[]);
    net.sync(0);
    for i in 1..CLONES {
        net.sync(i);
    }
    let mut tags = Vec::new();
    for round in 0..4 {
        for i in 0..CLONES {
            let tag = format!("r{round}c{i}");
            let id = if i % 2 == 0 { &a } else { &b };
            net.pm_ok(i, &["issue", "update", id, "--tag", &tag]);
            tags.push((id.clone(), tag));
        }
        let children: Vec<Child> = (0..CLONES)
            .map(|i| spawn_pm(&net, i, &["--json", "sync"]))
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let run = finish(child, &format!("pm sync in clone {i}, round {round}"));
            assert!(
                run.success(),
                "clone {i} failed in round {round}:\n{}",
                run.stderr
            );
        }
    }
    net.sync_all_twice();
    net.assert_converged();
    for i in [0, CLONES - 1] {
        for (id, tag) in &tags {
            let issue = net.issue(i, id);
            let has = issue["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.as_str() == Some(tag));
            assert!(has, "clone {i} lost tag {tag} of {id}");
        }
    }
}

/// A remote that refuses every push of a record (its hook declines): the sync stops after
/// five rounds without progress and says, in one line, which record was refused and why.
#[test]
fn a_push_refused_every_round_stops_with_the_reason() {
    let net = Net::new(1);
    let id = net.add(0, "Never accepted", &[]);
    let hook_path = net.remote.join("hooks/pre-receive");
    std::fs::write(&hook_path, "#!/bin/sh\ncat >/dev/null\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = net.pm(0, &["--json", "sync"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "error: the remote origin still refused 1 record(s) after 5 rounds \
             (refs/pm/issues/{id} [remote rejected] (pre-receive hook declined)); run pm sync again"
        )
    );
    assert_eq!(run.json()["rounds"], 5);
    assert!(net.remote_refs().is_empty());
}

/// A record that others keep changing first: while every round finds it moved on the remote
/// (others get their changes in), the sync goes on past five rounds until its turn comes; the
/// packs its many fetches leave are rolled up as it goes, so it never runs out of index slots.
/// The remote's hook plays the others: before each of clone 1's first 34 pushes, clone 0 tags
/// the record and pushes.
#[test]
fn a_sync_outlasted_by_others_goes_on_while_they_make_progress() {
    const RACES: usize = 34;
    let net = Net::new(2);
    let id = net.add(0, "Hot", &[]);
    net.sync(0);
    net.sync(1);
    net.pm_ok(1, &["issue", "update", &id, "--tag", "mine"]);
    let count = net.remote.join("races");
    let busy = net.remote.join("busy");
    let seen = net.remote.join("packs-seen");
    std::fs::write(&count, "0").unwrap();
    let env: String = common::base_env(net.repo.home())
        .into_iter()
        .chain(common::identity_env())
        .map(|(k, v)| format!("{}='{}' ", k.to_str().unwrap(), v.to_str().unwrap()))
        .collect();
    let hook = format!(
        "#!/bin/sh\ncat >/dev/null\n[ -e '{busy}' ] && exit 0\nn=$(cat '{count}')\n\
         [ \"$n\" -ge {RACES} ] && exit 0\ntouch '{busy}'\necho $((n + 1)) >'{count}'\n\
         env -i {env} '{pm}' -C '{a}' issue update {id} --tag \"race$n\" >/dev/null 2>&1\n\
         env -i {env} '{pm}' -C '{a}' sync --push-only >>'{log}' 2>&1\n\
         ls '{b}/.git/objects/pack' | grep -c '\\.pack$' >>'{seen}'\nrm -f '{busy}'\nexit 0\n",
        busy = busy.display(),
        count = count.display(),
        pm = common::pm_bin().display(),
        a = net.c(0).display(),
        b = net.c(1).display(),
        seen = seen.display(),
        log = net.remote.join("race.log").display(),
    );
    let hook_path = net.remote.join("hooks/pre-receive");
    std::fs::write(&hook_path, hook).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let doc = net.sync(1);
    let most = std::fs::read_to_string(&seen)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse::<usize>().unwrap())
        .max()
        .unwrap();
    assert!(
        most <= PACK_LIMIT + 1,
        "clone 1 held {most} packs during its sync"
    );
    assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "34");
    assert!(doc["rounds"].as_u64().unwrap() > RACES as u64, "{doc}");
    assert!(doc["push_rejected"].as_array().unwrap().is_empty(), "{doc}");
    let left = packs(&net, 1);
    assert!(left <= PACK_LIMIT, "{left} packs left");
    std::fs::remove_file(&hook_path).unwrap();
    net.sync(0);
    let tags = net.issue(0, &id)["tags"].clone();
    let tags: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags.len(), RACES + 1, "{tags:?}");
    assert!(tags.contains(&"mine"));
    net.assert_converged();
}
