//! Hook commands at work: their environment, their output, a failing setup, teardown before a
//! worktree goes, and `--no-hooks`. The commands come from the user's own config here (no
//! approval needed), except where approval is the point.

use super::*;

/// The user's config runs `setup` and `teardown` (each a list of one command).
fn user_hooks(repo: &Repo, setup: &str, teardown: &str) {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    set_user_config(
        repo,
        &format!(
            "[worktree]\ncopy = [\".env\"]\nsetup = [{}]\nteardown = [{}]\n",
            quote(setup),
            quote(teardown)
        ),
    );
}

#[test]
fn hooks_get_the_sessions_environment_and_pm_port_is_stable_for_a_branch() {
    let repo = repo_with("");
    let seen = repo.root().join("seen");
    user_hooks(
        &repo,
        &format!(
            "echo \"$PM_HOOK|$PM_SESSION_ID|$PM_BRANCH|$PM_ISSUE_ID|$PM_WORKTREE|$PM_REPO|$PM_PORT|$PWD\" >> '{}'",
            seen.display()
        ),
        "true",
    );
    let issue = repo.add("Port me", &[]);
    let (a, _) = launch(&repo, "feature/a", &["--issue", &issue]);
    let (b, _) = launch(&repo, "feature/b", &[]);
    assert_eq!(b["status"], "active");
    let lines = lines_of(&seen);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let fields = |line: &str| line.split('|').map(str::to_string).collect::<Vec<_>>();
    let first = fields(&lines[0]);
    let wt_a = worktree_of(&a);
    assert_eq!(first[0], "setup");
    assert_eq!(first[1], id_of(&a));
    assert_eq!(first[2], "feature/a");
    assert_eq!(first[3], issue);
    assert_eq!(first[4], wt_a.to_str().unwrap());
    assert_eq!(first[5], repo.path().to_str().unwrap());
    assert_eq!(
        first[7],
        wt_a.to_str().unwrap(),
        "the command runs in the worktree"
    );
    let second = fields(&lines[1]);
    assert_eq!(second[3], "", "no issue, no PM_ISSUE_ID");
    let port = |f: &[String]| f[6].parse::<u16>().expect("PM_PORT is a number");
    assert!((10_000..=19_999).contains(&port(&first)), "{first:?}");
    assert!((10_000..=19_999).contains(&port(&second)), "{second:?}");
    assert_ne!(port(&first), port(&second), "two branches share a port");

    // The branch again, in a new session and worktree: the same port.
    let id = id_of(&a);
    repo.pm(&["agent", "close", &id, "--abandon"]).ok();
    repo.pm(&["agent", "purge", &id, "--delete-files", "--force"])
        .ok();
    let (again, _) = launch(&repo, "feature/a", &[]);
    let third = fields(&lines_of(&seen)[2]);
    assert_eq!(third[1], id_of(&again));
    assert_eq!(port(&third), port(&first));
}

#[test]
fn teardown_runs_before_purge_removes_the_worktree() {
    let repo = repo_with("");
    let saw = repo.root().join("teardown-saw");
    user_hooks(
        &repo,
        "true",
        &format!(
            "{{ git rev-parse --abbrev-ref HEAD; ls -A \"$PM_WORKTREE\"; }} > '{}'",
            saw.display()
        ),
    );
    let (doc, _) = launch(&repo, "feature/down", &[]);
    let id = id_of(&doc);
    let wt = worktree_of(&doc);
    repo.pm(&["agent", "close", &id, "--done"]).ok();
    assert!(
        !saw.exists(),
        "teardown ran before the worktree was removed"
    );
    let run = repo.pm(&["agent", "purge", &id, "--delete-files"]).ok();
    assert!(!wt.exists(), "the worktree is still there");
    let listed = repo.git(&["worktree", "list", "--porcelain"]);
    assert!(!listed.contains(wt.to_str().unwrap()), "{listed}");
    // What teardown saw: the worktree whole, on its branch.
    let seen = lines_of(&saw);
    assert_eq!(seen[0], "feature/down", "{seen:?}");
    assert!(seen.contains(&".gitignore".to_string()), "{seen:?}");
    assert!(seen.contains(&".git".to_string()), "{seen:?}");
    assert!(run.stderr.contains("pm: teardown: "), "{}", run.stderr);

    // --no-hooks: no teardown.
    std::fs::remove_file(&saw).unwrap();
    let (doc, _) = launch(&repo, "feature/quiet", &[]);
    let id = id_of(&doc);
    repo.pm(&["agent", "close", &id, "--done"]).ok();
    repo.pm(&["agent", "purge", &id, "--delete-files", "--no-hooks"])
        .ok();
    assert!(!worktree_of(&doc).exists());
    assert!(!saw.exists(), "teardown ran despite --no-hooks");

    // pm agent merge removes the worktree too: teardown first, none with --no-hooks.
    for (branch, quiet) in [("feature/landed", false), ("feature/landed-quietly", true)] {
        let (doc, _) = launch(&repo, branch, &[]);
        let wt = worktree_of(&doc);
        std::fs::write(wt.join("work.txt"), branch).unwrap();
        repo.git_in(&wt, &["add", "work.txt"]);
        repo.git_in(&wt, &["commit", "-q", "-m", "work"]);
        let id = id_of(&doc);
        let mut args = vec!["agent", "merge", id.as_str()];
        if quiet {
            args.push("--no-hooks");
        }
        repo.pm(&args).ok();
        assert!(!wt.exists());
        assert_eq!(
            saw.exists(),
            !quiet,
            "{branch}: teardown ran: {}",
            saw.exists()
        );
        let _ = std::fs::remove_file(&saw);
    }
}

#[test]
fn a_failing_setup_leaves_the_session_launched_and_marked() {
    let repo = repo_with("");
    let later = repo.root().join("later-ran");
    set_user_config(
        &repo,
        &format!(
            "[worktree]\nsetup = [\"echo half way; exit 3\", \"touch '{}'\"]\n",
            later.display()
        ),
    );
    let (doc, run) = launch(&repo, "feature/broken", &[]);
    let id = id_of(&doc);
    assert_eq!(doc["status"], "active");
    assert!(worktree_of(&doc).is_dir());
    assert!(!later.exists(), "a setup command ran after one failed");
    let warnings = warnings_of(&doc);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("\"echo half way; exit 3\" failed (exit status 3)")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("is launched, but its worktree was not fully set up")),
        "{warnings:?}"
    );
    assert!(run.stderr.contains("  half way"), "{}", run.stderr);
    assert_eq!(
        repo.record_of(crate::common::Kind::Session, &id)["status"].as_str(),
        Some("active")
    );

    let shown = repo.pm_json(&["agent", "show", &id]);
    let setup = &shown["setup"];
    assert_eq!(setup["state"], "failed", "{shown}");
    assert_eq!(setup["commands"][0]["outcome"], "failed");
    assert_eq!(setup["commands"][0]["detail"], "exit status 3");
    assert_eq!(setup["commands"][1]["outcome"], "skipped");
    assert_eq!(
        setup["commands"][1]["detail"],
        "an earlier setup command failed"
    );
    let text = repo.pm_ok(&["agent", "show", &id]);
    let line = text
        .lines()
        .find(|l| l.starts_with("setup"))
        .unwrap_or_else(|| panic!("no setup line in:\n{text}"));
    assert!(
        line.contains("failed: \"echo half way; exit 3\" failed (exit status 3)"),
        "{line}"
    );

    let events = run_events(&repo, &id);
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "hook_output" && e["hook"] == "setup" && e["text"] == "half way"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["kind"] == "hook_ended"
            && e["outcome"] == "failed"
            && e["detail"] == "exit status 3"),
        "{events:?}"
    );
}

#[test]
fn no_hooks_skips_setup_but_still_copies() {
    let repo = repo_with("");
    let marker = repo.root().join("setup-ran");
    user_hooks(&repo, &format!("touch '{}'", marker.display()), "true");
    std::fs::write(repo.path().join(".env"), "A=1\n").unwrap();
    let (doc, _) = launch(&repo, "feature/fast", &["--no-hooks"]);
    assert!(!marker.exists(), "setup ran despite --no-hooks");
    let wt = worktree_of(&doc);
    assert_eq!(std::fs::read_to_string(wt.join(".env")).unwrap(), "A=1\n");
    let shown = repo.pm_json(&["agent", "show", &id_of(&doc)]);
    assert_eq!(shown["setup"]["state"], "skipped", "{shown}");
    assert_eq!(
        shown["setup"]["commands"][0]["detail"],
        "hooks were skipped"
    );
}

#[test]
fn hook_output_reaches_the_terminal_sanitised_and_the_log_whole() {
    let repo = repo_with("");
    user_hooks(
        &repo,
        "printf 'plain\\n\\033[2Jcleared\\n'; echo err >&2",
        "true",
    );
    let (doc, run) = launch(&repo, "feature/noisy", &[]);
    assert!(run.stderr.contains("  plain\n"), "{}", run.stderr);
    assert!(run.stderr.contains("cleared"), "{}", run.stderr);
    assert!(run.stderr.contains("  err\n"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "an escape sequence reached the terminal"
    );
    let id = id_of(&doc);
    let events = run_events(&repo, &id);
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "hook_output")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["plain", "\u{1b}[2Jcleared", "err"]);
    let logs = repo.pm_ok(&["agent", "logs", &id]);
    assert!(logs.contains("setup: plain"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "{logs}");
}

#[test]
fn a_worktree_made_again_is_provisioned_again() {
    let repo = repo_with("");
    let seen = repo.root().join("seen");
    user_hooks(
        &repo,
        &format!("echo $PM_SESSION_ID >> '{}'", seen.display()),
        "true",
    );
    std::fs::write(repo.path().join(".env"), "A=1\n").unwrap();
    let (doc, _) = launch(&repo, "feature/again", &[]);
    let id = id_of(&doc);
    let wt = worktree_of(&doc);
    repo.pm(&["agent", "close", &id]).ok();
    // Resuming into the worktree as it is runs nothing.
    repo.pm(&["agent", "resume", &id]).ok();
    assert_eq!(lines_of(&seen), [id.as_str()]);
    repo.pm(&["agent", "close", &id]).ok();
    std::fs::remove_dir_all(&wt).unwrap();
    let resumed = repo.pm_json(&["agent", "resume", &id]);
    assert_eq!(resumed["recreated_worktree"], true, "{resumed}");
    assert_eq!(lines_of(&seen), [id.clone(), id]);
    assert_eq!(std::fs::read_to_string(wt.join(".env")).unwrap(), "A=1\n");
}

#[test]
fn mcp_launch_task_skips_setup_with_no_hooks() {
    let repo = repo_with("");
    let seen = repo.root().join("seen");
    user_hooks(
        &repo,
        &format!("echo $PM_BRANCH >> '{}'", seen.display()),
        "true",
    );
    let issue = repo.add("Over MCP", &[]);
    let launch = |branch: &str, no_hooks: bool| {
        let result = crate::mcp::call(
            &repo,
            repo.path(),
            "pm_session",
            serde_json::json!({"action": "launch_task", "taskKey": issue, "branch": branch,
                               "run": false, "noHooks": no_hooks, "force": true}),
        );
        crate::mcp::ok(&result).clone()
    };
    let quiet = launch("mcp-quiet", true);
    assert!(worktree_of(&quiet).is_dir(), "{quiet}");
    assert!(!seen.exists(), "setup ran despite noHooks");
    launch("mcp-set-up", false);
    assert_eq!(lines_of(&seen), ["mcp-set-up"]);
}

#[test]
fn a_repository_without_hooks_gets_nothing_run_and_no_log() {
    let repo = repo_with("");
    std::fs::write(repo.path().join(".env"), "A=1\n").unwrap();
    let (doc, run) = launch(&repo, "feature/bare", &[]);
    let wt = worktree_of(&doc);
    assert!(!wt.join(".env").exists(), "copied without a copy pattern");
    assert!(!run.stderr.contains("pm: "), "{}", run.stderr);
    let id = id_of(&doc);
    assert_eq!(repo.pm_json(&["agent", "show", &id])["setup"], Value::Null);
    assert!(
        !repo.path().join(".git/pm/run").join(&id).exists(),
        "a run folder was made for a session that ran nothing"
    );
    repo.pm(&["agent", "close", &id, "--done"]).ok();
    repo.pm(&["agent", "purge", &id, "--delete-files"]).ok();
    assert!(!repo.path().join(".git/pm/run").join(&id).exists());
}

#[test]
fn teardown_runs_before_merge_removes_the_worktree() {
    let repo = repo_with("");
    let saw = repo.root().join("teardown-saw");
    user_hooks(
        &repo,
        "true",
        &format!("ls -A \"$PM_WORKTREE\" > '{}'", saw.display()),
    );
    let (doc, _) = launch(&repo, "feature/landed", &[]);
    let wt = worktree_of(&doc);
    std::fs::write(wt.join("work.txt"), "done\n").unwrap();
    repo.git_in(&wt, &["add", "work.txt"]);
    repo.git_in(&wt, &["commit", "-q", "-m", "work"]);
    repo.pm(&["agent", "merge", &id_of(&doc)]).ok();
    assert!(!wt.exists(), "merge left the worktree");
    assert!(
        lines_of(&saw).contains(&"work.txt".to_string()),
        "{:?}",
        lines_of(&saw)
    );
    assert_eq!(repo.git(&["show", "main:work.txt"]), "done\n");
}

/// A setup command that does not end is stopped after `[worktree] timeout` seconds, with what
/// it started; the session is launched and says why its setup failed.
#[test]
fn a_setup_command_that_hangs_is_stopped_after_the_timeout() {
    let repo = repo_with("");
    let pids = repo.root().join("pids");
    set_user_config(
        &repo,
        &format!(
            "[worktree]\ntimeout = 1\nsetup = [\"sleep 300 & echo $! > '{p}'; echo $$ >> '{p}'; echo waiting; wait\"]\n",
            p = pids.display()
        ),
    );
    let started = std::time::Instant::now();
    let (doc, run) = launch(&repo, "feature/stuck", &[]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the launch waited for the command"
    );
    assert_eq!(doc["status"], "active");
    let warnings = warnings_of(&doc);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("failed (stopped after 1 s ([worktree] timeout))")),
        "{warnings:?}"
    );
    assert!(run.stderr.contains("waiting"), "{}", run.stderr);
    let shown = repo.pm_json(&["agent", "show", &id_of(&doc)]);
    assert_eq!(shown["setup"]["state"], "failed", "{shown}");
    // Neither the shell nor the sleep it started is left running.
    for pid in lines_of(&pids) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("gone");
        assert!(
            state == "gone" || state == "Z",
            "process {pid} is still running: {stat}"
        );
    }
}
