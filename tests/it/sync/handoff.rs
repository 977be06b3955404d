//! `pm agent resume`: handing a session over between clones.

use super::*;

// ---- 8. agent resume: handing a session over -------------------------------------------

/// Clone 0 works in a session, pushes its branch, closes the session idle and syncs; clone 1
/// takes it over with `pm agent resume`.
struct HandOff {
    net: Net,
    issue: String,
    session: String,
    branch: String,
    work_commit: String,
    a_worktree: PathBuf,
}

impl HandOff {
    fn new() -> Self {
        let net = Net::new(2);
        let issue = net.add(0, "Hand me over", &[]);
        let launched = net.json(0, &["agent", "launch", "--issue", &issue]);
        let session = launched["id"].as_str().unwrap().to_string();
        let branch = launched["branch"].as_str().unwrap().to_string();
        let a_worktree = PathBuf::from(launched["worktree"].as_str().unwrap());
        std::fs::write(a_worktree.join("work.txt"), "done in A\n").unwrap();
        net.repo.git_in(&a_worktree, &["add", "work.txt"]);
        net.repo
            .git_in(&a_worktree, &["commit", "-q", "-m", "work in A"]);
        let work_commit = net
            .repo
            .git_in(&a_worktree, &["rev-parse", "HEAD"])
            .trim()
            .to_string();
        net.repo
            .git_in(&a_worktree, &["push", "-q", "origin", &branch]);
        let closed = net.json(0, &["agent", "close", &session]);
        assert_eq!(closed["status"], "idle");
        net.sync(0);
        net.sync(1);
        HandOff {
            net,
            issue,
            session,
            branch,
            work_commit,
            a_worktree,
        }
    }

    /// Clone 1 takes the session over; returns the new worktree.
    #[track_caller]
    fn take_over(&self) -> PathBuf {
        let net = &self.net;
        let owner_before = net.session_toml(1, &self.session)["owner"].clone();
        let doc = net.json(1, &["agent", "resume", &self.session]);
        assert_eq!(doc["status"], "active", "{doc}");
        assert_eq!(doc["branch"].as_str(), Some(self.branch.as_str()));
        let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
        assert!(
            worktree.starts_with(net.root().join("c1.worktrees")),
            "{doc}"
        );
        let head = net.repo.git_in(&worktree, &["rev-parse", "HEAD"]);
        assert_eq!(head.trim(), self.work_commit);
        assert_eq!(
            std::fs::read_to_string(worktree.join("work.txt")).unwrap(),
            "done in A\n"
        );
        let status = net.repo.git_in(&worktree, &["status", "--porcelain"]);
        assert_eq!(status, "");
        let record = net.session_toml(1, &self.session);
        assert_eq!(record["status"].as_str(), Some("active"));
        assert_ne!(record["owner"], owner_before, "the owner did not change");
        assert_eq!(net.issue(1, &self.issue)["status"], "in_progress");
        let shown = net.json(1, &["agent", "show", &self.session]);
        assert_eq!(shown["session"]["mine"], true, "{shown}");
        worktree
    }
}

#[test]
fn resume_hands_a_session_over_and_the_old_owner_needs_force() {
    let h = HandOff::new();
    let net = &h.net;
    let owner_a = net.session_toml(0, &h.session)["owner"].clone();
    h.take_over();
    net.sync(1);
    net.sync(0);
    let record = net.session_toml(0, &h.session);
    assert_eq!(record["status"].as_str(), Some("active"));
    assert_ne!(record["owner"], owner_a);
    // Clone 0 no longer owns it: it is active elsewhere, so it is refused without --force.
    let before = net.tip(0, &format!("refs/pm/sessions/{}", h.session));
    let line = net.pm(0, &["agent", "resume", &h.session]).fails_with(1);
    assert!(line.contains("another clone"), "{line}");
    assert_eq!(
        net.tip(0, &format!("refs/pm/sessions/{}", h.session)),
        before
    );
    // Clone 0 is not the owner, so reconcile leaves the session alone.
    net.pm(0, &["agent", "reconcile"]).ok();
    assert_eq!(
        net.tip(0, &format!("refs/pm/sessions/{}", h.session)),
        before
    );
}

/// The old owner takes the session back with `--force`, while its own worktree of the
/// session is still there.
#[test]
fn resume_force_takes_a_session_back_into_the_old_worktree() {
    let h = HandOff::new();
    let net = &h.net;
    h.take_over();
    net.sync(1);
    net.sync(0);
    let doc = net.json(0, &["agent", "resume", &h.session, "--force"]);
    assert_eq!(doc["status"], "active", "{doc}");
    assert_eq!(
        PathBuf::from(doc["worktree"].as_str().unwrap()),
        h.a_worktree
    );
    let record = net.session_toml(0, &h.session);
    assert_eq!(record["status"].as_str(), Some("active"));
    net.sync(0);
    net.sync(1);
    assert_eq!(net.refs(0), net.refs(1));
}

/// Clone 1 takes the session over, closes it idle and syncs; clone 0, which still has its
/// old worktree of the session, resumes it (no `--force` needed: it is idle).
#[test]
fn resume_hands_an_idle_session_back_to_the_clone_with_the_old_worktree() {
    let h = HandOff::new();
    let net = &h.net;
    let b_worktree = h.take_over();
    std::fs::write(b_worktree.join("more.txt"), "done in B\n").unwrap();
    net.repo.git_in(&b_worktree, &["add", "more.txt"]);
    net.repo
        .git_in(&b_worktree, &["commit", "-q", "-m", "work in B"]);
    net.repo
        .git_in(&b_worktree, &["push", "-q", "origin", &h.branch]);
    net.json(1, &["agent", "close", &h.session]);
    net.sync(1);
    net.sync(0);
    let doc = net.json(0, &["agent", "resume", &h.session]);
    assert_eq!(doc["status"], "active", "{doc}");
    assert_eq!(
        net.session_toml(0, &h.session)["status"].as_str(),
        Some("active")
    );
}

/// `--force` in a third clone, which has neither the branch nor a worktree.
#[test]
fn resume_force_takes_over_an_active_session() {
    let h = HandOff::new();
    let net = &h.net;
    h.take_over();
    net.sync(1);
    // A third clone joins.
    let root = net.root().to_path_buf();
    let third = root.join("c2");
    net.repo.git_in(
        &root,
        &[
            "clone",
            "-q",
            &format!("file://{}", net.remote_s()),
            third.to_str().unwrap(),
        ],
    );
    let net3 = |args: &[&str]| net.repo.pm_in(&third, args);
    net3(&["sync"]).ok();
    let line = net3(&["agent", "resume", &h.session]).fails_with(1);
    assert!(
        line.contains("another clone") && line.contains("--force"),
        "{line}"
    );
    assert!(!root.join("c2.worktrees").exists());
    let doc = net3(&["--json", "agent", "resume", &h.session, "--force"])
        .ok()
        .json();
    assert_eq!(doc["status"], "active");
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    assert_eq!(
        net.repo.git_in(&worktree, &["rev-parse", "HEAD"]).trim(),
        h.work_commit
    );
    net3(&["sync"]).ok();
    net.sync(1);
    net.sync(0);
    let owner = |dir: &Path| -> String {
        net.repo.git_in(
            dir,
            &[
                "show",
                &format!("refs/pm/sessions/{}:session.toml", h.session),
            ],
        )
    };
    assert_eq!(owner(net.c(0)), owner(&third));
    assert_eq!(owner(net.c(1)), owner(&third));
    assert!(h.a_worktree.exists());
}

#[test]
fn resume_of_a_branch_that_exists_nowhere_fails_cleanly() {
    let net = Net::new(2);
    let launched = net.json(0, &["agent", "launch", "--branch", "feature/nowhere"]);
    let session = launched["id"].as_str().unwrap().to_string();
    net.json(0, &["agent", "close", &session]);
    net.sync(0);
    net.sync(1);
    let name = format!("refs/pm/sessions/{session}");
    let tip = net.tip(1, &name);
    let all_refs = net.all_refs(1);
    let files = tree_outside_git(net.root());
    let line = net.pm(1, &["agent", "resume", &session]).fails_with(1);
    assert!(line.contains("feature/nowhere"), "{line}");
    assert_eq!(net.tip(1, &name), tip);
    assert_eq!(net.all_refs(1), all_refs);
    assert!(!net.has_ref(1, "refs/heads/feature/nowhere"));
    assert_eq!(tree_outside_git(net.root()), files);
    assert!(!net.root().join("c1.worktrees").exists());
    let worktrees = net.git(1, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    // A dry run says the same and writes nothing either.
    let line = net
        .pm(1, &["-n", "agent", "resume", &session])
        .fails_with(1);
    assert!(line.contains("feature/nowhere"), "{line}");
    assert_eq!(net.all_refs(1), all_refs);
}

/// The id clone `i` gave itself (`.git/pm/clone-id`).
fn clone_id(net: &Net, i: usize) -> String {
    std::fs::read_to_string(net.c(i).join(".git/pm/clone-id"))
        .expect("the clone has an id")
        .trim()
        .to_string()
}

/// After a hand-off the old clone still has its worktree and its local note of the session,
/// but closing or purging the session, which is active in the new clone, needs --force there.
#[test]
fn the_old_clone_closes_or_purges_a_session_active_in_the_new_one_only_with_force() {
    let h = HandOff::new();
    let net = &h.net;
    h.take_over();
    net.sync(1);
    net.sync(0);
    let new_owner = clone_id(net, 1);
    let name = format!("refs/pm/sessions/{}", h.session);
    let issue_ref = format!("refs/pm/issues/{}", h.issue);
    let (tip, issue_tip) = (net.tip(0, &name), net.tip(0, &issue_ref));
    let files = tree_outside_git(net.root());

    for flag in [None, Some("--done"), Some("--abandon")] {
        let mut args = vec!["agent", "close"];
        args.extend(flag);
        // In the old worktree, without an id (it finds the session from the local note).
        let line = net.repo.pm_in(&h.a_worktree, &args).fails_with(1);
        assert!(
            line.contains(&h.session) && line.contains(&new_owner) && line.contains("force"),
            "{line}"
        );
        // By id in the old clone's main worktree.
        args.push(&h.session);
        let line = net.pm(0, &args).fails_with(1);
        assert!(line.contains(&new_owner), "{line}");
    }
    for extra in [None, Some("--delete-files")] {
        let mut args = vec!["agent", "purge", h.session.as_str()];
        args.extend(extra);
        let line = net.pm(0, &args).fails_with(1);
        assert!(
            line.contains(&h.session) && line.contains(&new_owner) && line.contains("force"),
            "{line}"
        );
    }
    assert_eq!(net.tip(0, &name), tip);
    assert_eq!(net.tip(0, &issue_ref), issue_tip);
    assert_eq!(tree_outside_git(net.root()), files);

    // The new owner closes it as usual; the old one may with --force.
    assert_eq!(
        net.json(1, &["agent", "close", &h.session])["status"],
        "idle"
    );
    let doc = net.json(0, &["agent", "close", &h.session, "--done", "--force"]);
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(net.issue(0, &h.issue)["status"], "done");
}

#[test]
fn reconcile_reports_a_handed_off_worktree_and_removes_it_only_when_clean_and_pushed() {
    let h = HandOff::new();
    let net = &h.net;
    h.take_over();
    net.sync(1);
    net.sync(0);
    let name = format!("refs/pm/sessions/{}", h.session);
    let tip = net.tip(0, &name);
    let report = format!(
        "session {} was handed over to clone {}; its old worktree at {} is still here",
        h.session,
        clone_id(net, 1),
        h.a_worktree.display()
    );
    let run = net.pm(0, &["agent", "list"]).ok();
    assert!(run.stderr.contains(&report), "{}", run.stderr);
    let text = net.pm_ok(0, &["agent", "reconcile"]);
    assert!(text.contains(&report), "{text}");
    // The new owner has no such worktree to report.
    assert!(
        !net.pm(1, &["agent", "list"])
            .ok()
            .stderr
            .contains("handed over")
    );

    let note = net
        .c(0)
        .join(format!(".git/pm/sessions/{}.toml", h.session));
    let listed = || {
        net.git(0, &["worktree", "list", "--porcelain"])
            .contains(&format!("worktree {}\n", h.a_worktree.display()))
    };
    let kept = |why: &str| {
        let doc = net.json(0, &["agent", "reconcile", "--remove-handed-off"]);
        let entry = &doc["handed_off"][0];
        assert_eq!(entry["removed"], false, "{doc}");
        let reason = entry["kept_because"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{doc}");
        assert!(h.a_worktree.exists() && listed() && note.exists());
    };
    let wt = |args: &[&str]| net.repo.git_in(&h.a_worktree, args);
    std::fs::write(h.a_worktree.join("notes.txt"), "mine\n").unwrap();
    kept("untracked files");
    std::fs::remove_file(h.a_worktree.join("notes.txt")).unwrap();
    std::fs::write(h.a_worktree.join("work.txt"), "changed\n").unwrap();
    kept("uncommitted changes");
    wt(&["checkout", "-q", "--", "work.txt"]);
    std::fs::write(h.a_worktree.join("late.txt"), "late\n").unwrap();
    wt(&["add", "late.txt"]);
    wt(&["commit", "-q", "-m", "late work, never pushed"]);
    kept("1 commit(s)");
    wt(&["reset", "-q", "--hard", "HEAD~1"]);

    // Clean, and all its commits are on the remote: a dry run only says so.
    let files = tree_outside_git(net.root());
    let dry = net.json(0, &["-n", "agent", "reconcile", "--remove-handed-off"]);
    assert_eq!(dry["handed_off"][0]["removed"], true, "{dry}");
    assert_eq!(tree_outside_git(net.root()), files);
    assert!(listed() && note.exists());

    let doc = net.json(0, &["agent", "reconcile", "--remove-handed-off"]);
    assert_eq!(doc["handed_off"][0]["removed"], true, "{doc}");
    assert!(!h.a_worktree.exists());
    assert!(!listed(), "git still lists the worktree");
    assert!(!note.exists(), "the local note is still there");
    // The branch and the session's record are not touched.
    assert!(net.has_ref(0, &format!("refs/heads/{}", h.branch)));
    assert_eq!(net.tip(0, &name), tip);
    let run = net.pm(0, &["agent", "list"]).ok();
    assert!(!run.stderr.contains("handed over"), "{}", run.stderr);
    net.fsck(Some(0));
}

#[test]
fn sync_branches_carries_session_branches_so_resume_needs_no_manual_push() {
    let net = Net::new(2);
    let issue = net.add(0, "Travel with the records", &[]);
    let launched = net.json(0, &["agent", "launch", "--issue", &issue]);
    let session = launched["id"].as_str().unwrap().to_string();
    let branch = launched["branch"].as_str().unwrap().to_string();
    let wt = PathBuf::from(launched["worktree"].as_str().unwrap());
    let commit = |dir: &Path, text: &str| {
        std::fs::write(dir.join("work.txt"), text).unwrap();
        net.repo.git_in(dir, &["add", "work.txt"]);
        net.repo.git_in(dir, &["commit", "-q", "-m", text]);
        net.repo
            .git_in(dir, &["rev-parse", "HEAD"])
            .trim()
            .to_string()
    };
    let work = commit(&wt, "done in A");
    let remote_branch = |name: &str| net.git_remote(&["branch", "--list", name]);

    // A plain sync sends records only.
    let doc = net.sync(0);
    assert_eq!(doc["branches_pushed"], serde_json::json!([]), "{doc}");
    assert_eq!(remote_branch(&branch), "");
    let doc = net.json(0, &["--dry-run", "sync", "--branches"]);
    assert_eq!(doc["branches_pushed"], serde_json::json!([branch]), "{doc}");
    assert_eq!(remote_branch(&branch), "");
    let doc = net.json(0, &["sync", "--branches"]);
    assert_eq!(doc["branches_pushed"], serde_json::json!([branch]), "{doc}");
    assert_eq!(net.git_remote(&["rev-parse", &branch]).trim(), work);
    // Pushed once: the next sync has nothing more to send.
    let doc = net.json(0, &["sync", "--branches"]);
    assert_eq!(doc["branches_pushed"], serde_json::json!([]), "{doc}");

    // Clone 1 resumes it with nobody having pushed by hand.
    net.json(0, &["agent", "close", &session]);
    net.sync(0);
    net.sync(1);
    let doc = net.json(1, &["agent", "resume", &session]);
    let b_wt = PathBuf::from(doc["worktree"].as_str().unwrap());
    assert_eq!(net.repo.git_in(&b_wt, &["rev-parse", "HEAD"]).trim(), work);

    // The config makes it the default; the branch moves on by fast-forward only.
    let config = net.repo.home().join(".config/pm");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[sync]\nbranches = true\n").unwrap();
    let more = commit(&b_wt, "more in B");
    let doc = net.sync(1);
    assert_eq!(doc["branches_pushed"], serde_json::json!([branch]), "{doc}");
    assert_eq!(net.git_remote(&["rev-parse", &branch]).trim(), more);
    let doc = net.json(1, &["sync", "--no-branches"]);
    assert_eq!(doc["branches_pushed"], serde_json::json!([]), "{doc}");

    // A rewritten branch is never forced over the remote's.
    net.repo.git_in(&b_wt, &["reset", "-q", "--hard", &work]);
    let rewritten = commit(&b_wt, "rewritten in B");
    assert_ne!(rewritten, more);
    let out = net.pm(1, &["sync"]).ok();
    assert!(
        out.stderr
            .contains(&format!("branch not pushed to origin: refs/heads/{branch}")),
        "{}",
        out.stderr
    );
    assert_eq!(net.git_remote(&["rev-parse", &branch]).trim(), more);
}
