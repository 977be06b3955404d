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
