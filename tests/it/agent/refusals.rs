//! Bad input to `pm agent …`: one clear line, and nothing left behind.

use super::*;

// ---- bad input -------------------------------------------------------------------------

#[test]
fn launch_outside_a_repository_fails_cleanly() {
    let repo = Repo::new();
    let outside = repo.scratch_dir("outside");
    let line = refused_in(&repo, &outside, &["agent", "launch", "--branch", "x"], 1);
    assert!(line.contains("not a git repository"), "{line}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!repo.root().join("outside.worktrees").exists());
}

#[test]
fn launch_refusals_leave_nothing_behind() {
    let repo = Repo::new();
    let issue = repo.add("Real issue", &[]);

    // Neither --issue nor --branch.
    let line = refused(&repo, &["agent", "launch"], 2);
    assert!(
        line.contains("--issue") && line.contains("--branch"),
        "{line}"
    );

    // An unknown issue.
    let line = refused(&repo, &["agent", "launch", "--issue", UNKNOWN_ID], 1);
    assert!(
        line.contains("no issue") && line.contains(UNKNOWN_ID),
        "{line}"
    );

    // A title that gives no branch name.
    let symbols = repo.add("!!!", &[]);
    let line = refused(&repo, &["agent", "launch", "--issue", &symbols], 2);
    assert!(line.contains("--branch"), "{line}");

    // Invalid branch names.
    for bad in [
        "bad..name",
        "--branch=-x",
        "has space",
        "HEAD",
        "refs/heads/x",
        "x.lock",
    ] {
        let args = if bad.starts_with("--branch=") {
            vec!["agent", "launch", bad]
        } else {
            vec!["agent", "launch", "--branch", bad]
        };
        let line = refused(&repo, &args, 2);
        assert!(line.contains("invalid branch name"), "{bad}: {line}");
    }
    // Valid names that a new branch would be mistaken for another ref by.
    for ambiguous in ["remotes/origin/main", "heads/x", "tags/v1"] {
        let line = refused(&repo, &["agent", "launch", "--branch", ambiguous], 2);
        assert!(
            line.contains("would be mistaken for another ref"),
            "{ambiguous}: {line}"
        );
        assert!(!repo.branch_exists(ambiguous));
    }

    // The main worktree's branch, and a branch checked out in another worktree.
    let line = refused(&repo, &["agent", "launch", "--branch", "main"], 1);
    assert!(line.contains("already checked out"), "{line}");
    let elsewhere = repo.root().join("elsewhere");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "taken",
        elsewhere.to_str().unwrap(),
    ]);
    let line = refused(&repo, &["agent", "launch", "--branch", "taken"], 1);
    assert!(
        line.contains("already checked out") && line.contains("elsewhere"),
        "{line}"
    );

    // An existing, non-empty folder where the worktree would go.
    let folder = default_worktree(&repo, "feature/real-issue");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("keep.txt"), "mine\n").unwrap();
    let line = refused(&repo, &["agent", "launch", "--issue", &issue], 1);
    assert!(line.contains("not empty"), "{line}");
    assert_eq!(
        std::fs::read_to_string(folder.join("keep.txt")).unwrap(),
        "mine\n"
    );
    assert!(!repo.branch_exists("feature/real-issue"));

    // An unknown base.
    let line = refused(
        &repo,
        &[
            "agent",
            "launch",
            "--branch",
            "new",
            "--base",
            "no-such-rev",
        ],
        1,
    );
    assert!(line.contains("no-such-rev"), "{line}");

    assert!(repo.record_ids(Kind::Session).is_empty());
    assert_eq!(repo.status_of(Kind::Issue, &issue), "open");

    // An empty folder is fine to use.
    std::fs::remove_file(folder.join("keep.txt")).unwrap();
    let doc = launch(&repo, &["--issue", &issue]);
    assert_eq!(doc["worktree"], folder.to_str().unwrap());
    assert_eq!(status_porcelain(&repo, &folder), "");
}

/// Issue 14 point 16: a branch whose ref file name or worktree folder name would be too long
/// is refused up front with the reason, not an internal failure of the ref or worktree step.
#[test]
fn over_long_branch_names_are_refused_as_file_names_too_long() {
    let repo = Repo::new();
    let long_part = format!("x/{}", "a".repeat(300));
    let line = refused(&repo, &["agent", "launch", "--branch", &long_part], 2);
    assert!(
        line.contains("invalid branch name") && line.contains("file name too long"),
        "{line}"
    );
    // Every part fits, but the folder name (parts joined by `-`) would not.
    let long_folder = format!("{}/{}", "a".repeat(200), "b".repeat(200));
    let line = refused(&repo, &["agent", "launch", "--branch", &long_folder], 2);
    assert!(
        line.contains("file name too long") && line.contains("worktree folder"),
        "{line}"
    );
    assert!(!repo.branch_exists(&long_folder));
    assert!(!repo.root().join("repo.worktrees").exists());
    assert!(repo.record_ids(Kind::Session).is_empty());
    // The longest part git can lock (250 bytes) still works, as it does with git.
    let longest = format!("x/{}", "a".repeat(250));
    let (_, worktree) = launch_branch(&repo, &longest);
    let entry = worktree_at(&repo, &worktree).expect("git lists the worktree");
    assert_eq!(entry.branch, Some(format!("refs/heads/{longest}")));
}

/// Issue 14 point 16: a misspelt key in `.pm.toml` or the user's config is not dropped
/// silently: each is named once on stderr, with its file and the closest known key.
#[test]
fn unknown_config_keys_are_named_once_with_the_closest_key() {
    let repo = Repo::new();
    std::fs::write(
        repo.path().join(".pm.toml"),
        "worktree_dirr = \"trees/{branch}\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let user = repo.home().join(".config/pm/config.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "branch-prefix = \"agent/\"\n").unwrap();
    let issue = repo.add("Configured", &[]);

    let run = repo
        .pm(&["--json", "agent", "launch", "--issue", &issue])
        .ok();
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        warnings.len(),
        3,
        "one line per unknown key:\n{}",
        run.stderr
    );
    let pm_toml = repo.path().join(".pm.toml");
    let expect = [
        (
            "\"worktree_dirr\"",
            pm_toml.display().to_string(),
            "did you mean \"worktree_dir\"",
        ),
        (
            "\"colour\"",
            pm_toml.display().to_string(),
            "known keys are",
        ),
        (
            "\"branch-prefix\"",
            user.display().to_string(),
            "did you mean \"branch_prefix\"",
        ),
    ];
    for (key, file, hint) in expect {
        let line = warnings
            .iter()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no warning names {key}:\n{}", run.stderr));
        assert!(line.starts_with("warning: unknown key"), "{line}");
        assert!(line.contains(&file) && line.contains(hint), "{line}");
    }
    // The misspelt settings had no effect: default branch prefix and worktree folder.
    let doc = run.json();
    assert_eq!(doc["branch"], "feature/configured");
    let wt = default_worktree(&repo, "feature/configured");
    assert_eq!(doc["worktree"], wt.to_str().unwrap());
    assert!(worktree_at(&repo, &wt).is_some());
    // Any command warns, once.
    let run = repo.pm(&["issue", "list"]).ok();
    assert_eq!(
        run.stderr.matches("worktree_dirr").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_launch_that_fails_part_way_rolls_back_the_branch_and_folders() {
    let repo = Repo::new();
    // git's worktree admin folder is a file: the branch can be made, the worktree cannot.
    std::fs::write(repo.path().join(".git/worktrees"), "in the way\n").unwrap();
    let line = refused(&repo, &["agent", "launch", "--branch", "feature/half"], 1);
    assert!(line.contains("feature/half"), "{line}");
    assert!(!repo.branch_exists("feature/half"));
    assert!(!repo.root().join("repo.worktrees").exists());
    assert!(repo.record_ids(Kind::Session).is_empty());
    assert_eq!(
        repo.git(&["for-each-ref", "--format=%(refname)", "refs/heads/"]),
        "refs/heads/main\n"
    );
}
