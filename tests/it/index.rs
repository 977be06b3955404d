//! The local record cache (`.git/pm/index/`) is never trusted blindly: whatever moves the refs
//! behind pm's back, the next command shows the true state.

use crate::common::{Kind, Repo, age_ref_files, record_toml};

/// `(id, <field>)` of every element of the array `key` in the JSON that `pm <args>` prints,
/// sorted.
fn ids_with(repo: &Repo, args: &[&str], key: &str, field: &str) -> Vec<(String, String)> {
    let doc = repo.pm_json(args);
    let mut out: Vec<(String, String)> = doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {doc}"))
        .iter()
        .map(|item| {
            (
                item["id"].as_str().expect("id").to_string(),
                item[field].as_str().expect(field).to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The titles `pm issue list --all --json` shows, by id.
fn titles(repo: &Repo) -> Vec<(String, String)> {
    ids_with(repo, &["issue", "list", "--all"], "issues", "title")
}

/// Point `refs/pm/issues/<id>` at a new commit whose title is `title`, with plain git.
fn retitle_behind_pms_back(repo: &Repo, id: &str, title: &str) {
    let text = record_toml(id, &format!("{title:?}"), "");
    repo.craft_update(Kind::Issue, id, &text, "edited with git");
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
    let text = repo.record_text_of(Kind::Session, id);
    let mut record: toml::Table = toml::from_str(&text).expect("session record");
    record.insert("status".into(), toml::Value::String(status.into()));
    if status == "active" || status == "idle" {
        record.remove("ended");
    } else {
        record.insert("ended".into(), record["updated"].clone());
    }
    let text = toml::to_string(&record).expect("TOML");
    repo.craft_update(Kind::Session, id, &text, "edited with git");
}

/// The ids and statuses `pm agent <command> --json` shows.
fn sessions(repo: &Repo, command: &str) -> Vec<(String, String)> {
    ids_with(repo, &["agent", command], "sessions", "status")
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
        age_ref_files(&repo.path().join(".git"), &["refs/pm"]);
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

/// A cached record whose text was damaged in place (the cache files still the sizes the head
/// says): `history`, which reads the cached texts without building whole records, reads that
/// record again from git, in the table and in JSON.
#[test]
fn a_damaged_text_in_the_cache_is_read_again_by_history() {
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
    age_ref_files(&repo.path().join(".git"), &["refs/pm"]);
    let expected = sessions_in_git(&repo);
    assert_eq!(sessions(&repo, "history"), expected);
    let settled = repo.path().join(".git/pm/index/sessions.texts");
    let head = repo.path().join(".git/pm/index/sessions");
    for file in [&settled, &head] {
        let text = std::fs::read_to_string(file).expect("a cache file");
        let damaged = text.replacen("\"status\":\"", "\"statuz\":\"", 1);
        assert_eq!(damaged.len(), text.len());
        assert_ne!(damaged, text, "{text}");
        std::fs::write(file, damaged).expect("damage the cache");
        assert_eq!(sessions(&repo, "history"), expected);
        let table = repo.pm_ok(&["agent", "history"]);
        for (id, status) in &expected {
            assert!(
                table
                    .lines()
                    .any(|l| l.starts_with(id.as_str()) && l.contains(status.as_str())),
                "{table}"
            );
        }
    }
    assert_eq!(
        sessions(&repo, "list"),
        vec![(a.clone(), "active".to_string())]
    );
}

/// The overview's session counts as git shows them: every record that is not purged, by status.
fn counts_in_git(repo: &Repo) -> [usize; 4] {
    let mut counts = [0; 4];
    let listing = repo.git(&["for-each-ref", "--format=%(objectname)", "refs/pm/sessions"]);
    for tip in listing.lines() {
        let text = repo.git(&["show", &format!("{tip}:session.toml")]);
        let record: toml::Table = toml::from_str(&text).expect("record");
        if record.contains_key("purged") {
            continue;
        }
        let at = ["active", "idle", "completed", "abandoned"]
            .iter()
            .position(|s| record["status"].as_str() == Some(s))
            .expect("a status");
        counts[at] += 1;
    }
    counts
}

/// The overview's session counts.
fn overview_counts(repo: &Repo) -> [usize; 4] {
    let doc = repo.pm_json(&[]);
    let count = |status: &str| doc["sessions"][status].as_u64().expect("a count") as usize;
    [
        count("active"),
        count("idle"),
        count("completed"),
        count("abandoned"),
    ]
}

/// Issue 14 point 22: the overview counts finished sessions from the cache's tally instead of
/// reading them. Random moves with plain git — a new status on top (finished sessions coming
/// back, live ones finishing, finished ones changing or being purged), deletion, packing, ref
/// files aged so that their times are trusted — interleaved with `list` and `history`, which
/// bring the cache up to date in their own ways; after each, the overview counts what git shows.
#[test]
fn random_moves_behind_pms_back_never_miscount_the_overview() {
    const STATUSES: [&str; 5] = ["active", "idle", "completed", "abandoned", "purged"];
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let repo = Repo::new();
    let git_dir = repo.path().join(".git");
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| -> usize {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    // A record of `status` ("purged": a completed session purged), on top of `parent`.
    let craft = |repo: &Repo, id: &str, status: &str, parent: Option<&str>| -> String {
        if status != "purged" {
            return crafted_session(repo, id, status, parent);
        }
        let plain = crafted_session(repo, id, "completed", None);
        let text = repo.git(&["show", &format!("{plain}:session.toml")]);
        let text = format!("{}\npurged = \"2020-01-02T05:00:00Z\"\n", text.trim_end());
        repo.craft_commit(Kind::Session, &text, "crafted", parent)
    };
    let mut made = 0usize;
    let mut add = |repo: &Repo, status: &str| {
        let tail: String = (0..5)
            .rev()
            .map(|i| ALPHABET[(made >> (5 * i)) & 31] as char)
            .collect();
        made += 1;
        let id = format!("01ARZ3NDEKTSV4RRFFQ69{tail}");
        let commit = craft(repo, &id, status, None);
        repo.git(&["update-ref", &format!("refs/pm/sessions/{id}"), &commit]);
    };
    for i in 0..8 {
        add(&repo, STATUSES[i % 5]);
    }
    assert_eq!(overview_counts(&repo), counts_in_git(&repo));
    for step in 0..80 {
        let ids: Vec<String> = repo
            .git(&[
                "for-each-ref",
                "--format=%(refname:lstrip=3)",
                "refs/pm/sessions",
            ])
            .lines()
            .map(str::to_string)
            .collect();
        match next(9) {
            0..=3 => {
                let id = &ids[next(ids.len())];
                let name = format!("refs/pm/sessions/{id}");
                let tip = repo.git(&["rev-parse", &name]).trim().to_string();
                let commit = craft(&repo, id, STATUSES[next(5)], Some(&tip));
                repo.git(&["update-ref", &name, &commit, &tip]);
            }
            4 => {
                repo.git(&["pack-refs", "--all"]);
            }
            5 if ids.len() > 3 => {
                let id = &ids[next(ids.len())];
                repo.git(&["update-ref", "-d", &format!("refs/pm/sessions/{id}")]);
            }
            6 => add(&repo, STATUSES[next(5)]),
            _ => age_ref_files(&git_dir, &["refs/pm"]),
        }
        match next(4) {
            0 => {
                sessions(&repo, "list");
            }
            1 => {
                sessions(&repo, "history");
            }
            _ => {}
        }
        assert_eq!(
            overview_counts(&repo),
            counts_in_git(&repo),
            "overview after step {step}"
        );
    }
}

/// A session record `id` with `status`, written with git plumbing on top of `parent`.
fn crafted_session(repo: &Repo, id: &str, status: &str, parent: Option<&str>) -> String {
    let ended = if status == "active" || status == "idle" {
        String::new()
    } else {
        "ended = \"2020-01-02T04:00:00Z\"\n".to_string()
    };
    let text = format!(
        "schema = 1\nid = \"{id}\"\nbranch = \"b/{}\"\nbase = \"{}\"\nbase_ref = \"main\"\n\
         status = \"{status}\"\nagent = \"x\"\nrole = \"\"\nprompt = \"\"\nactor = \"a <a@x>\"\n\
         owner = \"01ARZ3NDEKTSV4RRFFQ69G5FAV\"\nstarted = \"2020-01-02T03:04:05Z\"\n\
         updated = \"2020-01-02T03:04:05Z\"\n{ended}epoch = 0\ncommits = 0\n",
        id.to_lowercase(),
        "0123456789abcdef0123456789abcdef01234567",
    );
    repo.craft_commit(Kind::Session, &text, "crafted", parent)
}

/// Every session id and status, as git sees the refs.
fn sessions_in_git(repo: &Repo) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let listing = repo.git(&[
        "for-each-ref",
        "--format=%(refname:lstrip=3) %(objectname)",
        "refs/pm/sessions",
    ]);
    for line in listing.lines() {
        let (id, tip) = line.split_once(' ').expect("id and tip");
        let text = repo.git(&["show", &format!("{tip}:session.toml")]);
        let record: toml::Table = toml::from_str(&text).expect("record");
        let status = record["status"].as_str().expect("status").to_string();
        out.push((id.to_string(), status));
    }
    out.sort();
    out
}

/// Random moves of session refs with plain git — new status on top, deletion, packing, ref files
/// aged so that their times are trusted — each followed by `list` or `history`, which must show
/// exactly what git shows.
#[test]
fn random_moves_behind_pms_back_never_show_a_stale_session() {
    const STATUSES: [&str; 4] = ["active", "idle", "completed", "abandoned"];
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let repo = Repo::new();
    let git_dir = repo.path().join(".git");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| -> usize {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let mut made = 0usize;
    let mut add = |repo: &Repo, status: &str| {
        let tail: String = (0..5)
            .rev()
            .map(|i| ALPHABET[(made >> (5 * i)) & 31] as char)
            .collect();
        made += 1;
        let id = format!("01ARZ3NDEKTSV4RRFFQ69{tail}");
        let commit = crafted_session(repo, &id, status, None);
        repo.git(&["update-ref", &format!("refs/pm/sessions/{id}"), &commit]);
    };
    for i in 0..6 {
        add(&repo, STATUSES[i % 4]);
    }
    for step in 0..60 {
        let truth = sessions_in_git(&repo);
        match next(8) {
            0..=2 => {
                let (id, _) = &truth[next(truth.len())];
                let name = format!("refs/pm/sessions/{id}");
                let tip = repo.git(&["rev-parse", &name]).trim().to_string();
                let commit = crafted_session(&repo, id, STATUSES[next(4)], Some(&tip));
                repo.git(&["update-ref", &name, &commit, &tip]);
            }
            3 => {
                repo.git(&["pack-refs", "--all"]);
            }
            4 if truth.len() > 3 => {
                let (id, _) = &truth[next(truth.len())];
                repo.git(&["update-ref", "-d", &format!("refs/pm/sessions/{id}")]);
            }
            5 => add(&repo, STATUSES[next(4)]),
            _ => age_ref_files(&git_dir, &["refs/pm"]),
        }
        let truth = sessions_in_git(&repo);
        if next(2) == 0 {
            let live: Vec<(String, String)> = truth
                .iter()
                .filter(|(_, s)| s == "active" || s == "idle")
                .cloned()
                .collect();
            assert_eq!(sessions(&repo, "list"), live, "list after step {step}");
        } else {
            assert_eq!(
                sessions(&repo, "history"),
                truth,
                "history after step {step}"
            );
        }
    }
}
