//! The manners of the command line: shell completion in a real shell, output snapshots for a
//! fixed repository, no escape codes where they do not belong, the overview, and the picker's
//! refusal without a terminal.

mod common;

use common::Repo;
use std::path::Path;

/// A fixed moment, so times in the output are stable.
const NOW: i64 = 1_790_000_000;

/// A repository with one issue, an active session on it, an idle one and a completed one.
struct Fixture {
    repo: Repo,
    issue: String,
    active: String,
    idle: String,
    done: String,
}

fn launch(repo: &Repo, args: &[&str]) -> String {
    let mut all = vec!["--json", "agent", "launch"];
    all.extend_from_slice(args);
    let now = NOW.to_string();
    let doc = repo
        .pm_full(repo.path(), &[("PM_NOW", &now)], &all)
        .ok()
        .json();
    doc["id"]
        .as_str()
        .expect("launch prints the id")
        .to_string()
}

fn fixture() -> Fixture {
    let repo = Repo::new();
    std::fs::write(repo.path().join("README"), "hello\n").expect("write a file");
    repo.git(&["add", "README"]);
    let date = format!("@{} +0000", NOW - 7200);
    let status = repo
        .git_command(repo.path())
        .args(["commit", "-q", "-m", "readme"])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .status()
        .expect("git commit runs");
    assert!(status.success());
    let issue = repo.add_at(NOW - 3600, "Add user login", &["--priority", "high"]);
    let active = launch(&repo, &["--issue", &issue, "--prompt", "Implement login"]);
    let idle = launch(&repo, &["--branch", "fix/typo"]);
    let done = launch(&repo, &["--branch", "chore/deps"]);
    let at = NOW.to_string();
    repo.pm_full(repo.path(), &[("PM_NOW", &at)], &["agent", "close", &idle])
        .ok();
    repo.pm_full(
        repo.path(),
        &[("PM_NOW", &at)],
        &["agent", "close", "--done", &done],
    )
    .ok();
    Fixture {
        repo,
        issue,
        active,
        idle,
        done,
    }
}

/// Replace what differs between runs (ids, commit ids, the temporary folder) by names.
fn redact(f: &Fixture, text: &str) -> String {
    let mut text = text.replace(&f.repo.root().display().to_string(), "<ROOT>");
    let clone_id = std::fs::read_to_string(f.repo.path().join(".git/pm/clone-id"))
        .expect("the clone has an id");
    text = text.replace(clone_id.trim(), "<CLONE>");
    let host = f.repo.pm_json(&["agent", "show", &f.active])["host"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !host.is_empty() {
        text = text.replace(&format!("\"{host}\""), "\"<HOST>\"");
        text = text.replace(&format!("host        {host}"), "host        <HOST>");
    }
    for (id, name) in [
        (&f.issue, "<ISSUE>"),
        (&f.active, "<ACTIVE>"),
        (&f.idle, "<IDLE>"),
        (&f.done, "<DONE>"),
    ] {
        text = text.replace(id.as_str(), name);
    }
    // Commit ids (full or abbreviated) depend on the fixture's commit times.
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.len() >= 7 && word.chars().all(|c| c.is_ascii_hexdigit());
        if hex && word.chars().any(|c| c.is_ascii_digit()) {
            out.push_str("<SHA>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn pm_now(repo: &Repo, args: &[&str]) -> String {
    let now = (NOW + 600).to_string();
    repo.pm_full(repo.path(), &[("PM_NOW", &now)], args)
        .ok()
        .stdout
}

#[test]
fn list_history_and_show_output_is_stable() {
    let f = fixture();
    let r = &f.repo;
    insta::assert_snapshot!("agent_list", redact(&f, &pm_now(r, &["agent", "list"])));
    insta::assert_snapshot!(
        "agent_list_all_json",
        redact(&f, &pm_now(r, &["--json", "agent", "list", "--all"]))
    );
    insta::assert_snapshot!(
        "agent_history",
        redact(&f, &pm_now(r, &["agent", "history"]))
    );
    insta::assert_snapshot!(
        "agent_history_json",
        redact(&f, &pm_now(r, &["--json", "agent", "history"]))
    );
    insta::assert_snapshot!(
        "agent_show",
        redact(&f, &pm_now(r, &["agent", "show", &f.active]))
    );
    insta::assert_snapshot!(
        "agent_show_json",
        redact(&f, &pm_now(r, &["--json", "agent", "show", &f.active]))
    );
    insta::assert_snapshot!("issue_list", redact(&f, &pm_now(r, &["issue", "list"])));
    insta::assert_snapshot!(
        "issue_show_json",
        redact(&f, &pm_now(r, &["--json", "issue", "show", &f.issue]))
    );
}

#[test]
fn no_escape_codes_in_a_pipe_or_with_no_color() {
    let f = fixture();
    let r = &f.repo;
    for args in [
        vec!["agent", "list", "--all"],
        vec!["agent", "history"],
        vec!["issue", "list", "--all"],
        vec![],
    ] {
        let piped = r.pm(&args).ok();
        assert!(!piped.stdout.contains('\x1b'), "{args:?}: {}", piped.stdout);
        let no_color = r.pm_full(r.path(), &[("NO_COLOR", "1")], &args).ok();
        assert!(!no_color.stdout.contains('\x1b'), "{args:?}");
    }
    // Asked for explicitly, colour is given even to a pipe: active green, completed cyan.
    let forced = r.pm(&["--color", "always", "agent", "list", "--all"]).ok();
    assert!(
        forced.stdout.contains("\x1b[32mactive"),
        "{}",
        forced.stdout
    );
    assert!(
        forced.stdout.contains("\x1b[36mcompleted"),
        "{}",
        forced.stdout
    );
}

/// The bash script from `pm completions bash`, sourced in a real bash, completes
/// `pm agent close ` with the live sessions only.
#[test]
fn bash_completes_live_session_ids() {
    let f = fixture();
    let bin_dir = common::pm_bin()
        .parent()
        .expect("the binary has a folder")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = r#"
        source <(pm completions bash) || exit 3
        COMP_WORDS=(pm agent close "")
        COMP_CWORD=3
        COMP_LINE="pm agent close "
        COMP_POINT=${#COMP_LINE}
        COMP_TYPE=9
        _clap_complete_pm pm "" close
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let output = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .current_dir(f.repo.path())
        .env_clear()
        .envs(common::base_env(f.repo.home()))
        .env("PATH", path)
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{output:?}");
    let offered = String::from_utf8_lossy(&output.stdout);
    let offered: Vec<&str> = offered.lines().map(str::trim).collect();
    assert!(offered.contains(&f.active.as_str()), "{offered:?}");
    assert!(offered.contains(&f.idle.as_str()), "{offered:?}");
    assert!(!offered.contains(&f.done.as_str()), "{offered:?}");
    // Completing from a lower-case prefix still finds the id.
    let prefix = f.active[..4].to_lowercase();
    let complete = |shell: &str, words: &[&str]| {
        let mut args = vec!["--", "pm"];
        args.extend_from_slice(words);
        let output = f
            .repo
            .pm_command(f.repo.path(), true)
            .env("COMPLETE", shell)
            .args(&args)
            .output()
            .expect("pm runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let fish = complete("fish", &["agent", "close", &prefix]);
    let line = fish
        .lines()
        .find(|l| l.starts_with(&f.active))
        .unwrap_or_else(|| panic!("no candidate for {}: {fish}", f.active));
    // fish gets "<id>\t<help>": the branch, the status and the issue title.
    assert_eq!(
        line.split_once('\t').map(|(_, help)| help),
        Some("feature/add-user-login · active · Add user login"),
        "{fish}"
    );
    let fish = complete("fish", &["agent", "reactivate", ""]);
    assert!(
        fish.contains(&f.done) && !fish.contains(&f.active),
        "{fish}"
    );
    let fish = complete("fish", &["issue", "show", ""]);
    assert!(
        fish.contains(&format!("{}\tAdd user login", f.issue)),
        "{fish}"
    );
    // Outside any repository completers offer nothing and stay quiet.
    let outside = f.repo.scratch_dir("outside");
    let output = f
        .repo
        .pm_command(&outside, true)
        .env("COMPLETE", "fish")
        .args(["--", "pm", "agent", "close", ""])
        .output()
        .expect("pm runs");
    assert!(output.status.success());
    assert!(output.stderr.is_empty(), "{output:?}");
}

#[test]
fn the_overview_names_sessions_issues_and_sync_state() {
    let f = fixture();
    let text = f.repo.pm_ok(&[]);
    assert!(
        text.contains("Sessions: 1 active, 1 idle, 1 completed, 0 abandoned"),
        "{text}"
    );
    assert!(text.contains(&f.active) && text.contains(&f.idle), "{text}");
    assert!(!text.contains(&f.done), "{text}");
    assert!(text.contains("Issues: 0 open, 1 in progress"), "{text}");
    assert!(text.contains("Sync: no remote origin"), "{text}");
    let doc = f.repo.pm_json(&[]);
    assert_eq!(doc["sessions"]["active"], 1);
    assert_eq!(doc["issues"]["in_progress"], 1);
    assert_eq!(doc["sync"]["configured"], false);
}

#[test]
fn close_without_id_and_without_a_terminal_lists_candidates_and_fails() {
    let f = fixture();
    let before = f.repo.refs();
    let run = f.repo.pm(&["agent", "close"]);
    let line = run.fails_with(1);
    assert!(line.contains(&f.active) && line.contains(&f.idle), "{line}");
    assert_eq!(f.repo.refs(), before, "nothing was written");
}

/// Issue 14 point 16: a mistyped subcommand, option or value gets clap's suggestion, still on
/// the one error line, with the usage exit status.
#[test]
fn mistyped_commands_get_a_did_you_mean() {
    let repo = Repo::new();
    for (args, typed, meant) in [
        (vec!["isue", "list"], "'isue'", "did you mean 'issue'?"),
        (vec!["agent", "lunch"], "'lunch'", "did you mean 'launch'?"),
        (
            vec!["agent", "list", "--stauts", "idle"],
            "'--stauts'",
            "did you mean '--status'?",
        ),
        (
            vec!["issue", "list", "--status", "opn"],
            "'opn'",
            "did you mean 'open'?",
        ),
    ] {
        let line = repo.pm(&args).fails_with(2);
        assert!(
            line.contains(typed) && line.contains(meant),
            "{args:?}: {line}"
        );
    }
    assert_eq!(repo.refs(), "");
}

/// `man` finds the page by path and it documents the flags.
#[test]
fn every_subcommand_has_a_man_page() {
    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    for page in [
        "pm.1",
        "pm-agent-close.1",
        "pm-agent-launch.1",
        "pm-sync.1",
        "pm-issue-add.1",
    ] {
        assert!(man.join(page).is_file(), "{page} is missing");
    }
}
