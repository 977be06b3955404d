//! Stable output, no escape codes where they do not belong, help and man pages.

use super::*;

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
