//! Shell completion of session ids.

use super::*;

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

/// `count` finished sessions written with one `git fast-import`, every seventh on `issue` and
/// every eleventh purged; their ids in order of creation.
fn import_sessions(repo: &Repo, count: usize, issue: &str) -> Vec<String> {
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let mut records = Vec::new();
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
        records.push((id, text));
    }
    repo.import_records(Kind::Session, &records);
    records.into_iter().map(|(id, _)| id).collect()
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
