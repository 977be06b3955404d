//! Tables on a terminal: they fit its width and show ids by unique prefix.

use super::*;

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
