//! The local record cache (`.git/pm/index/`) is never trusted blindly: whatever moves the refs
//! behind pm's back, the next command shows the true state.

mod common;

use common::{Repo, record_toml};

/// The titles `pm issue list --all --json` shows, by id.
fn titles(repo: &Repo) -> Vec<(String, String)> {
    let doc = repo.pm_json(&["issue", "list", "--all"]);
    let mut out: Vec<(String, String)> = doc["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id").to_string(),
                i["title"].as_str().expect("title").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Point `refs/pm/issues/<id>` at a new commit whose title is `title`, with plain git.
fn retitle_behind_pms_back(repo: &Repo, id: &str, title: &str) {
    let tip = repo.tip(id);
    let text = record_toml(id, &format!("{title:?}"), "");
    let commit = repo.craft_commit(&text, "edited with git", Some(&tip));
    repo.git(&["update-ref", &format!("refs/pm/issues/{id}"), &commit, &tip]);
}

#[test]
fn refs_moved_by_git_are_seen_loose_and_packed() {
    let repo = Repo::new();
    let a = repo.add("Alpha", &[]);
    let b = repo.add("Bravo", &[]);
    for packed in [false, true] {
        if packed {
            repo.git(&["pack-refs", "--all"]);
        }
        titles(&repo); // warm the cache
        titles(&repo);
        // Same length titles, one after the other within the same second.
        for round in 0..5 {
            let title = format!("Title{round}");
            retitle_behind_pms_back(&repo, &a, &title);
            if packed {
                repo.git(&["pack-refs", "--all"]);
            }
            let shown = titles(&repo);
            assert!(shown.contains(&(a.clone(), title.clone())), "{shown:?}");
            assert_eq!(
                repo.pm_json(&["issue", "show", &a])["issue"]["title"],
                title.as_str()
            );
        }
    }
    // A deleted ref disappears from the list.
    repo.git(&["update-ref", "-d", &format!("refs/pm/issues/{b}")]);
    let shown = titles(&repo);
    assert!(shown.iter().all(|(id, _)| *id != b), "{shown:?}");
}

#[test]
fn a_damaged_or_missing_cache_is_rebuilt() {
    let repo = Repo::new();
    let a = repo.add("Alpha", &[]);
    let expected = titles(&repo);
    let cache = repo.path().join(".git/pm/index/issues");
    assert!(cache.is_file(), "listing writes the cache");
    let bytes = std::fs::read(&cache).expect("read cache");
    for damage in [
        bytes[..bytes.len() / 2].to_vec(),
        b"pm-index 3\nv1-0000000000000000-0\n".to_vec(),
        b"garbage".to_vec(),
        Vec::new(),
    ] {
        std::fs::write(&cache, &damage).expect("damage the cache");
        assert_eq!(titles(&repo), expected);
    }
    // A cache that claims to be complete for the current refs but lies about a record: the
    // fingerprint no longer matches once the ref moves, so the lie is never shown.
    retitle_behind_pms_back(&repo, &a, "Changed");
    std::fs::write(&cache, &bytes).expect("restore the old cache");
    assert_eq!(titles(&repo), vec![(a.clone(), "Changed".to_string())]);
    std::fs::remove_file(&cache).expect("remove cache");
    assert_eq!(titles(&repo), vec![(a, "Changed".to_string())]);
}

#[test]
fn records_fetched_by_plain_git_fetch_are_seen() {
    let upstream = Repo::new();
    let id = upstream.add("From upstream", &[]);
    let repo = Repo::new();
    repo.add("Local", &[]);
    titles(&repo);
    let url = upstream.path().to_str().expect("UTF-8").to_string();
    repo.git(&["fetch", "-q", &url, "+refs/pm/*:refs/pm/*"]);
    let shown = titles(&repo);
    assert!(
        shown.contains(&(id.clone(), "From upstream".to_string())),
        "{shown:?}"
    );
    upstream.pm_ok(&["issue", "update", &id, "--title", "Changed upstream"]);
    repo.git(&["fetch", "-q", &url, "+refs/pm/*:refs/pm/*"]);
    assert!(titles(&repo).contains(&(id, "Changed upstream".to_string())));
}

/// Point `refs/pm/sessions/<id>` at a new commit whose record has `status`, with plain git.
fn set_session_status_behind_pms_back(repo: &Repo, id: &str, status: &str) {
    let name = format!("refs/pm/sessions/{id}");
    let tip = repo.git(&["rev-parse", &name]).trim().to_string();
    let text = repo.git(&["show", &format!("{tip}:session.toml")]);
    let mut record: toml::Table = toml::from_str(&text).expect("session record");
    record.insert("status".into(), toml::Value::String(status.into()));
    if status == "active" || status == "idle" {
        record.remove("ended");
    } else {
        record.insert("ended".into(), record["updated"].clone());
    }
    let blob = repo.write_blob(&toml::to_string(&record).expect("TOML"));
    let tree = repo.git_stdin(
        &["mktree"],
        format!("100644 blob {blob}\tsession.toml\n").as_bytes(),
    );
    let commit = repo.git(&[
        "commit-tree",
        "-p",
        &tip,
        "-m",
        "edited with git",
        tree.trim(),
    ]);
    repo.git(&["update-ref", &name, commit.trim(), &tip]);
}

/// Make `packed-refs` and every loose ref under `refs/pm/` an hour old.
fn age_ref_files(git_dir: &std::path::Path) {
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut stack = vec![git_dir.join("refs/pm"), git_dir.join("packed-refs")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read refs") {
                stack.push(entry.expect("entry").path());
            }
        } else if path.is_file() {
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open ref file");
            file.set_modified(hour_ago).expect("set time");
        }
    }
}

/// The ids and statuses `pm agent <command> --json` shows.
fn sessions(repo: &Repo, command: &str) -> Vec<(String, String)> {
    let doc = repo.pm_json(&["agent", command]);
    let mut out: Vec<(String, String)> = doc["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_string(),
                s["status"].as_str().expect("status").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn sessions_that_finish_or_wake_behind_pms_back_are_seen() {
    let repo = Repo::new();
    let launched = |branch: &str| -> String {
        repo.pm_json(&["agent", "launch", "--branch", branch])["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let a = launched("a");
    let b = launched("b");
    repo.pm_ok(&["agent", "close", &b, "--done"]);
    for packed in [false, true] {
        if packed {
            repo.git(&["pack-refs", "--all"]);
        }
        // Ref files an hour old are trusted by their identity and time alone.
        age_ref_files(&repo.path().join(".git"));
        sessions(&repo, "history"); // warm both cache files
        assert_eq!(sessions(&repo, "list"), vec![(a.clone(), "active".into())]);

        // A live session finishes: it leaves the list and the history shows it finished.
        set_session_status_behind_pms_back(&repo, &a, "completed");
        assert_eq!(sessions(&repo, "list"), vec![]);
        assert_eq!(
            sessions(&repo, "history"),
            vec![
                (a.clone(), "completed".into()),
                (b.clone(), "completed".into())
            ]
        );

        // Both come back to life, one listed first, the other after the history.
        set_session_status_behind_pms_back(&repo, &a, "idle");
        set_session_status_behind_pms_back(&repo, &b, "idle");
        assert_eq!(
            sessions(&repo, "list"),
            vec![(a.clone(), "idle".into()), (b.clone(), "idle".into())]
        );
        set_session_status_behind_pms_back(&repo, &a, "active");
        set_session_status_behind_pms_back(&repo, &b, "completed");
        assert_eq!(
            sessions(&repo, "history"),
            vec![
                (a.clone(), "active".into()),
                (b.clone(), "completed".into())
            ]
        );
        assert_eq!(sessions(&repo, "list"), vec![(a.clone(), "active".into())]);
    }

    // A truncated settled file, then a deleted ref.
    let settled = repo.path().join(".git/pm/index/sessions.settled");
    let bytes = std::fs::read(&settled).expect("the settled log exists");
    std::fs::write(&settled, &bytes[..bytes.len() / 2]).expect("truncate");
    assert_eq!(
        sessions(&repo, "history"),
        vec![
            (a.clone(), "active".into()),
            (b.clone(), "completed".into())
        ]
    );
    repo.git(&["update-ref", "-d", &format!("refs/pm/sessions/{b}")]);
    assert_eq!(
        sessions(&repo, "history"),
        vec![(a.clone(), "active".into())]
    );
    repo.git(&["update-ref", "-d", &format!("refs/pm/sessions/{a}")]);
    assert_eq!(sessions(&repo, "list"), vec![]);
}
