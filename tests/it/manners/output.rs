//! The manners of the command line: shell completion in a real shell, output snapshots for a
//! fixed repository, no escape codes where they do not belong, the overview, and the picker's
//! refusal without a terminal.

use crate::common;
use crate::common::Repo;
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
    // The snapshots live in tests/snapshots/, named by the snapshot alone.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    let _snapshots = settings.bind_to_scope();
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
    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/man1");
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

/// The Unicode bidi controls: embeddings and overrides, isolates, and the marks.
const BIDI: [char; 12] = [
    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
];

/// Bidi controls from records (U+202E, RIGHT-TO-LEFT OVERRIDE, turns `login` into `nigol` on
/// the screen and can reorder the columns after it) never reach the terminal; their text does.
/// `--json` escapes them and still holds exactly what the record holds.
#[test]
fn bidi_controls_from_records_never_reach_the_terminal() {
    let repo = Repo::new();
    let title = "Fix \u{202e}nigol\u{202c} now \u{2066}x\u{2069} \u{200e}\u{200f}\u{61c}\u{202a}\u{202b}\u{202d}\u{2067}\u{2068}end";
    let issue = repo.add(title, &[]);
    let launched = repo
        .pm(&[
            "--json",
            "agent",
            "launch",
            "--issue",
            &issue,
            "--branch",
            "fix/\u{202e}nigol",
            "--prompt",
            "do \u{202e}this",
            "--agent",
            "agent\u{202e}",
            "--role",
            "role\u{202e}",
        ])
        .ok()
        .json();
    let session = launched["id"].as_str().expect("launch prints the id");
    for args in [
        vec!["issue", "list"],
        vec!["issue", "show", &issue],
        vec!["agent", "list"],
        vec!["agent", "show", session],
        vec!["agent", "history"],
        vec![],
    ] {
        for color in ["never", "always"] {
            let mut all = vec!["--color", color];
            all.extend_from_slice(&args);
            let text = repo.pm_ok(&all);
            assert!(
                !text.contains(BIDI),
                "pm {all:?} printed a bidi control:\n{text}"
            );
            assert!(text.contains("nigol"), "pm {all:?} lost the text:\n{text}");
        }
    }
    let show = repo.pm_ok(&["agent", "show", session]);
    assert!(
        show.contains("  agent\n") && show.contains("  role\n"),
        "{show}"
    );
    assert!(show.contains("do this"), "{show}");
    // JSON: escaped as \uXXXX, so the document is safe to print and reads back the same.
    for args in [
        vec!["--json", "issue", "show", &issue],
        vec!["--json", "issue", "list"],
        vec!["--json", "agent", "list"],
    ] {
        let run = repo.pm(&args).ok();
        assert!(!run.stdout.contains(BIDI), "pm {args:?}:\n{}", run.stdout);
        assert!(
            run.stdout.contains("\\u202e"),
            "pm {args:?}:\n{}",
            run.stdout
        );
        run.json();
    }
    let doc = repo.pm_json(&["issue", "show", &issue]);
    assert_eq!(doc["issue"]["title"], title);
    let doc = repo.pm_json(&["agent", "show", session]);
    assert_eq!(doc["session"]["prompt"], "do \u{202e}this");
    assert_eq!(doc["session"]["branch"], "fix/\u{202e}nigol");
    // git, the witness, holds the title as given.
    assert!(repo.record_text(&issue).contains('\u{202e}'));
}

/// Runs its arguments with stdout on a new pseudo-terminal whose size is set to `sys.argv[1]`
/// columns (0: a terminal that does not know its width), and prints what they printed there.
const ON_TERMINAL: &str = r#"
import fcntl, os, struct, subprocess, sys, termios
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, int(sys.argv[1]), 0, 0))
child = subprocess.Popen(sys.argv[2:], stdout=slave, stdin=subprocess.DEVNULL)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(child.wait())
"#;

/// What `pm <args>` prints on a terminal `columns` wide (`env` may set `COLUMNS`), colour
/// and all, with the terminal's line ends turned back into `\n`.
fn on_terminal(repo: &Repo, columns: u16, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(ON_TERMINAL)
        .arg(columns.to_string())
        .arg(common::pm_bin())
        .args(args)
        .current_dir(repo.path())
        .env_clear()
        .envs(common::base_env(repo.home()))
        .envs(common::identity_env())
        .envs(env.iter().copied());
    for var in ["PYENV_ROOT", "PYENV_VERSION"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    let output = cmd.output().expect("python3 runs");
    assert!(output.status.success(), "pm {args:?}: {output:?}");
    String::from_utf8(output.stdout)
        .expect("pm prints UTF-8")
        .replace("\r\n", "\n")
}

/// `text` without its colour (SGR escape sequences).
fn without_colour(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// The ids under `prefix`, as git lists them.
fn git_ids(repo: &Repo, prefix: &str) -> Vec<String> {
    repo.git(&["for-each-ref", "--format=%(refname:lstrip=3)", prefix])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The shortest prefix of `id`, of at least 8 characters, that no other of `all` starts with,
/// and its shortest unique prefix of any length.
fn unique_prefix(id: &str, all: &[String]) -> (String, String) {
    let unique = (1..=id.len())
        .map(|n| &id[..n])
        .find(|p| all.iter().filter(|other| other.starts_with(p)).count() == 1)
        .unwrap_or(id);
    let shown = if unique.len() >= 8 { unique } else { &id[..8] };
    (shown.to_string(), unique.to_string())
}

/// `text`, printed by `pm <args>` on a terminal 80 columns wide, fits in it, and shows each of
/// `shown` by its shortest unique prefix among `all` (at least 8 characters), the unique part
/// highlighted, and never in full.
#[track_caller]
fn assert_fits_with_unique_ids(text: &str, args: &[&str], all: &[String], shown: &[&String]) {
    let plain = without_colour(text);
    for line in plain.lines() {
        assert!(
            line.chars().count() <= 80,
            "pm {args:?}: a line is wider than 80 columns:\n{plain}"
        );
    }
    for id in shown {
        let (prefix, unique) = unique_prefix(id, all);
        assert!(prefix.len() >= 8 && id.starts_with(&prefix));
        assert!(
            plain
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{prefix} "))),
            "pm {args:?}: {id} is not shown as {prefix}:\n{plain}"
        );
        assert!(
            text.contains(&format!("\x1b[1;36m{unique}\x1b[0m")),
            "pm {args:?}: the unique part {unique} of {id} is not highlighted:\n{text:?}"
        );
        assert!(!plain.contains(id.as_str()), "pm {args:?}:\n{plain}");
    }
}

/// On a terminal 80 columns wide every table fits: long titles, branches and paths are cut
/// with `…`, columns that do not fit are left out, ids are shown by their shortest unique
/// prefix (of at least 8 characters, the unique part highlighted) and never cut. `agent list`
/// and `history` name the issue by its title. Piped, every row is whole: full ids, full text.
#[test]
fn tables_fit_the_terminal_and_show_ids_by_unique_prefix() {
    let f = fixture();
    let r = &f.repo;
    let title = "Make every table fit in eighty columns without ever cutting an id short";
    let issue = r.add_at(NOW, title, &["--tag", "output", "--tag", "terminal-width"]);
    let branch = "feature/tables-that-fit-the-terminal-width-whatever-it-happens-to-be";
    let long = launch(r, &["--issue", &issue, "--branch", branch]);
    let worktree = r.pm_json(&["agent", "show", &long])["session"]["worktree"]
        .as_str()
        .expect("the session has a worktree")
        .to_string();
    let subject = "A commit whose subject is as long as the ones people really write";
    r.git_in(
        Path::new(&worktree),
        &["commit", "-q", "--allow-empty", "-m", subject],
    );
    // git, the witness, lists the ids that exist.
    let sessions = git_ids(r, "refs/pm/sessions/");
    let issues = git_ids(r, "refs/pm/issues/");
    assert_eq!(sessions.len(), 4);
    let live = [&f.active, &f.idle, &long];
    let cases: [(Vec<&str>, &[String], Vec<&String>); 6] = [
        (vec!["agent", "list"], &sessions, live.to_vec()),
        (
            vec!["agent", "list", "--all"],
            &sessions,
            sessions.iter().collect(),
        ),
        (
            vec!["agent", "history"],
            &sessions,
            sessions.iter().collect(),
        ),
        (
            vec!["issue", "list", "--all"],
            &issues,
            issues.iter().collect(),
        ),
        (vec![], &sessions, live.to_vec()),
        (vec!["issue", "events", &issue], &[], vec![]),
    ];
    for (args, all, shown) in &cases {
        let text = on_terminal(r, 0, &[("COLUMNS", "80")], args);
        assert_fits_with_unique_ids(&text, args, all, shown);
        // Piped: tab-separated, nothing cut, full ids.
        let piped = r.pm_ok(args);
        assert!(
            !piped.contains('…') && !piped.contains('\x1b'),
            "pm {args:?}:\n{piped}"
        );
        for id in shown {
            assert!(piped.contains(&format!("{id}\t")), "pm {args:?}:\n{piped}");
        }
    }
    let list = without_colour(&on_terminal(r, 0, &[("COLUMNS", "80")], &["agent", "list"]));
    assert!(list.contains("feature/tables-th"), "{list}");
    assert!(!list.contains(branch) && list.contains('…'), "{list}");
    assert!(
        list.contains("Make every table"),
        "the issue by its title:\n{list}"
    );
    assert!(!list.contains(&issue), "not by its id:\n{list}");
    let piped = r.pm_ok(&["agent", "history"]);
    for whole in [title, branch, subject] {
        assert!(piped.contains(whole), "{whole} is cut:\n{piped}");
    }
    assert!(r.pm_ok(&["agent", "list"]).contains(&worktree));
    assert!(
        r.pm_ok(&["issue", "list"])
            .contains(&format!("\t{title}\t"))
    );
    // The width the terminal reports (TIOCGWINSZ) when COLUMNS is not set.
    let narrow = without_colour(&on_terminal(r, 60, &[], &["agent", "list", "--all"]));
    assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
    assert!(narrow.contains('…'), "{narrow}");
    // Wide enough for everything: nothing is cut or left out.
    let wide = without_colour(&on_terminal(
        r,
        0,
        &[("COLUMNS", "400")],
        &["agent", "history"],
    ));
    assert!(
        wide.contains(branch) && wide.contains(title) && wide.contains(subject),
        "{wide}"
    );
    let wide = without_colour(&on_terminal(
        r,
        0,
        &[("COLUMNS", "400")],
        &["agent", "list"],
    ));
    assert!(
        wide.contains(&worktree) && wide.contains("STARTED"),
        "{wide}"
    );
    // --json keeps full ids.
    let doc = r.pm_json(&["agent", "list", "--all"]);
    let ids: Vec<&str> = doc["sessions"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(
        ids.iter().all(|id| sessions.iter().any(|s| s == id)),
        "{doc}"
    );
    // Ids in packed-refs count as much as loose ones.
    r.git(&["pack-refs", "--all"]);
    let loose = launch(r, &["--branch", "after/packing"]);
    let sessions = git_ids(r, "refs/pm/sessions/");
    let folder = r.path().join(".git/refs/pm/sessions");
    assert!(!folder.join(&long).exists() && folder.join(&loose).exists());
    let args = ["agent", "list", "--all"];
    let text = on_terminal(r, 0, &[("COLUMNS", "80")], &args);
    assert_fits_with_unique_ids(
        &text,
        &args,
        &sessions,
        &sessions.iter().collect::<Vec<_>>(),
    );
}

/// `count` finished sessions written with one `git fast-import`, every seventh on `issue` and
/// every eleventh purged; their ids in order of creation.
fn import_sessions(repo: &Repo, count: usize, issue: &str) -> Vec<String> {
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let mut stream = String::new();
    let mut ids = Vec::new();
    for i in 0..count {
        let id = format!("01ARZ3NDEKTSV4RRFFQ69G{i:04}");
        let on_issue = if i % 7 == 0 {
            format!("issue = \"{issue}\"\n")
        } else {
            String::new()
        };
        let purged = if i % 11 == 0 {
            "purged = \"2020-01-03T00:00:00Z\"\n"
        } else {
            ""
        };
        let status = if i % 2 == 0 { "completed" } else { "abandoned" };
        let text = format!(
            "schema = 1\nid = \"{id}\"\n{on_issue}branch = \"old/{i}\"\nbase = \"{base}\"\n\
             status = \"{status}\"\nowner = \"01ARZ3NDEKTSV4RRFFQ69G5FAV\"\n\
             started = \"2020-01-02T03:04:05Z\"\nupdated = \"2020-01-02T03:04:05Z\"\n\
             ended = \"2020-01-02T04:04:05Z\"\n{purged}"
        );
        stream.push_str(&format!(
            "commit refs/pm/sessions/{id}\ncommitter a <a@x> 1577934245 +0000\ndata 6\nlaunch\n\
             M 100644 inline session.toml\ndata {}\n{text}\n",
            text.len()
        ));
        ids.push(id);
    }
    repo.git_stdin(&["fast-import", "--quiet"], stream.as_bytes());
    ids
}

/// Issue 14 point 22: completion of a long id list is written by pm itself, in each shell's
/// format as clap's shells write it: every session that is not purged, newest first, with its
/// branch, status and issue title, then clap's own candidates (the flags).
#[test]
fn completion_of_many_ids_is_whole_in_every_shell() {
    let f = fixture();
    // A title with a colon and a backslash, which zsh's format escapes.
    let other = f.repo.add("Odd: a \\ title", &[]);
    let imported = import_sessions(&f.repo, 300, &other);
    // What git holds: every session ref, and which of them are purged.
    let mut expected: Vec<String> = f
        .repo
        .git(&[
            "for-each-ref",
            "--format=%(refname:lstrip=3)",
            "refs/pm/sessions",
        ])
        .lines()
        .filter(|id| {
            let text = f
                .repo
                .git(&["show", &format!("refs/pm/sessions/{id}:session.toml")]);
            !text.contains("purged")
        })
        .map(str::to_string)
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(expected.len(), 3 + 300 - 28);
    let complete = |shell: &str, words: &[&str], env: &[(&str, &str)]| -> String {
        let mut args = vec!["--", "pm"];
        args.extend_from_slice(words);
        let mut command = f.repo.pm_command(f.repo.path(), true);
        command.env("COMPLETE", shell).args(&args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("pm runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let flags = [
        "-C",
        "--json",
        "--dry-run",
        "--verbose",
        "--color",
        "--help",
        "--version",
    ];

    // fish (and powershell): "<id>\t<help>" lines, then the flags.
    for shell in ["fish", "powershell"] {
        let text = complete(shell, &["agent", "show", ""], &[]);
        let lines: Vec<&str> = text.lines().collect();
        let ids: Vec<&str> = lines
            .iter()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert_eq!(ids[..expected.len()], expected[..], "{shell}");
        assert_eq!(ids[expected.len()..], flags, "{shell}");
        let of = |id: &str| lines.iter().find(|l| l.starts_with(id)).copied().unwrap();
        assert_eq!(
            of(&imported[7]),
            format!("{}\told/7 · abandoned · Odd: a \\ title", imported[7])
        );
        assert_eq!(
            of(&imported[8]),
            format!("{}\told/8 · completed", imported[8])
        );
        assert_eq!(
            of(&f.active),
            format!(
                "{}\tfeature/add-user-login · active · Add user login",
                f.active
            )
        );
    }

    // bash (and elvish): values only, separated by _CLAP_IFS.
    for shell in ["bash", "elvish"] {
        let text = complete(
            shell,
            &["agent", "show", ""],
            &[("_CLAP_COMPLETE_INDEX", "3")],
        );
        let values: Vec<&str> = text.split('\n').collect();
        assert_eq!(values[..expected.len()], expected[..], "{shell}");
        assert_eq!(values[expected.len()..], flags, "{shell}");
        let text = complete(
            shell,
            &["agent", "show", ""],
            &[("_CLAP_COMPLETE_INDEX", "3"), ("_CLAP_IFS", "\u{b}")],
        );
        assert_eq!(
            text.split('\u{b}').count(),
            expected.len() + flags.len(),
            "{shell}"
        );
    }

    // zsh: "<id>:<help>", backslashes in the help doubled.
    let text = complete(
        "zsh",
        &["agent", "show", ""],
        &[("_CLAP_COMPLETE_INDEX", "3"), ("_CLAP_IFS", "\n")],
    );
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), expected.len() + flags.len());
    assert!(
        lines.contains(&format!("{}:old/7 · abandoned · Odd: a \\\\ title", imported[7]).as_str()),
        "{text}"
    );

    // What was typed narrows the list; finished and live sessions apart.
    let typed = &imported[123][..24];
    let text = complete("fish", &["agent", "show", &typed.to_lowercase()], &[]);
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let narrowed: Vec<&String> = expected.iter().filter(|id| id.starts_with(typed)).collect();
    assert_eq!(ids.len(), narrowed.len(), "{text}");
    assert!(ids.iter().zip(&narrowed).all(|(a, b)| a == b), "{text}");
    let text = complete("fish", &["agent", "reactivate", ""], &[]);
    let ids = text.lines().filter(|l| !l.starts_with('-')).count();
    assert_eq!(ids, expected.len() - 2, "{text}");
    assert!(
        !text.contains(&f.active) && !text.contains(&f.idle),
        "{text}"
    );
    let text = complete("fish", &["agent", "close", ""], &[]);
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let mut live = [f.active.as_str(), f.idle.as_str()];
    live.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids[..2], live[..], "{text}");

    // Issues: in the list order (in progress first), with their titles.
    let text = complete("fish", &["issue", "show", ""], &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("{}\tAdd user login · in_progress", f.issue)
    );
    assert_eq!(lines[1], format!("{other}\tOdd: a \\ title · open"));
}
