//! The committed `man/man1/` pages and `completions/` scripts must match what the clap
//! definition generates today. `PM_UPDATE_GENERATED=1 cargo test --test it generated::` rewrites
//! them.
//! The pages sit in `man1/` so that `MANPATH` can point at `man/`, as man looks for sections.

use crate::common;
use clap::{ArgAction, CommandFactory};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SHELLS: &[(&str, &str)] = &[
    ("bash", "pm.bash"),
    ("zsh", "pm.zsh"),
    ("fish", "pm.fish"),
    ("elvish", "pm.elv"),
    ("powershell", "pm.ps1"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One page per command and subcommand: `pm.1`, `pm-agent.1`, `pm-agent-close.1`, ...
fn man_pages() -> BTreeMap<String, Vec<u8>> {
    fn walk(cmd: clap::Command, out: &mut BTreeMap<String, Vec<u8>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            walk(sub, out);
        }
        let synopsis = synopsis(&cmd);
        let source = format!("pm {}", cmd.get_version().unwrap_or_default());
        let man = clap_mangen::Man::new(cmd).source(source);
        let mut page = Vec::new();
        man.render(&mut page).expect("render man page");
        let page = String::from_utf8(page).expect("man page is UTF-8");
        out.insert(
            man.get_filename(),
            replace_synopsis(&page, &synopsis).into_bytes(),
        );
    }
    let mut cmd = pm::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = BTreeMap::new();
    walk(cmd, &mut out);
    out
}

/// The SYNOPSIS line of a page, with the value each option takes (`[-i|--issue <ID>]`), which
/// clap_mangen leaves out. The command's own options come first, then the options every command
/// takes, then its arguments (`<ID>...` when repeated) and its subcommand.
fn synopsis(cmd: &clap::Command) -> String {
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut parts = vec![format!("\\fB{}\\fR", roff_escape(name).replace(' ', "\\ "))];
    let options: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .collect();
    let is_help = |a: &&&clap::Arg| matches!(a.get_action(), ArgAction::Help | ArgAction::Version);
    let own = options.iter().filter(|a| !a.is_global_set() && !is_help(a));
    let global = options.iter().filter(|a| a.is_global_set() && !is_help(a));
    for arg in own.chain(global).chain(options.iter().filter(is_help)) {
        parts.push(synopsis_option(arg));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = roff_escape(&value_names(arg).join(" "));
        let text = if arg.is_required_set() {
            format!("\\fI<{value}>\\fR")
        } else {
            format!("[\\fI{value}\\fR]")
        };
        parts.push(format!("{text}{}", repeat_marker(arg)));
    }
    if cmd.has_subcommands() {
        let value = cmd.get_subcommand_value_name().unwrap_or("COMMAND");
        parts.push(
            if cmd.is_subcommand_required_set() || cmd.is_arg_required_else_help_set() {
                format!("\\fI<{value}>\\fR")
            } else {
                format!("[\\fI{value}\\fR]")
            },
        );
    }
    // `\%` keeps groff from hyphenating an option's name at the end of a line.
    parts
        .iter()
        .map(|part| format!("\\%{part}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One option as `[-s|--long <VALUE>]`, held together by unbreakable spaces.
fn synopsis_option(arg: &clap::Arg) -> String {
    let mut flags = Vec::new();
    if let Some(short) = arg.get_short() {
        flags.push(format!("\\fB\\-{}\\fR", roff_escape(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        flags.push(format!("\\fB\\-\\-{}\\fR", roff_escape(long)));
    }
    let mut text = flags.join("|");
    if arg.get_num_args().is_some_and(|n| n.takes_values()) {
        let values: Vec<String> = value_names(arg)
            .iter()
            .map(|v| format!("\\fI<{}>\\fR", roff_escape(v)))
            .collect();
        text = format!("{text}\\ {}", values.join("\\ "));
    }
    if arg.is_required_set() {
        format!("{text}{}", repeat_marker(arg))
    } else {
        format!("[{text}]{}", repeat_marker(arg))
    }
}

/// The names of the values an argument takes: its `value_name`, else its id in capitals.
fn value_names(arg: &clap::Arg) -> Vec<String> {
    match arg.get_value_names() {
        Some(names) => names.iter().map(|n| n.to_string()).collect(),
        None => vec![arg.get_id().as_str().to_uppercase()],
    }
}

/// `...` after an argument that may be given more than once.
fn repeat_marker(arg: &clap::Arg) -> &'static str {
    let many_values = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let repeated = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
    if many_values || repeated { "..." } else { "" }
}

/// Text set in roff: a backslash and a minus sign need escaping.
fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// The page with the body of its SYNOPSIS section replaced by `line`, set unjustified (`.na`)
/// so that the words of a wrapped line are not spread apart.
fn replace_synopsis(page: &str, line: &str) -> String {
    let head = ".SH SYNOPSIS\n";
    let start = page.find(head).expect("page has a SYNOPSIS") + head.len();
    let end = page[start..]
        .find("\n.SH ")
        .map_or(page.len(), |i| start + i + 1);
    format!("{}.na\n{line}\n.ad\n{}", &page[..start], &page[end..])
}

fn completion_scripts() -> BTreeMap<String, Vec<u8>> {
    SHELLS
        .iter()
        .map(|(shell, file)| {
            let output = std::process::Command::new(common::pm_bin())
                .args(["completions", shell])
                .env_remove("COMPLETE")
                .output()
                .expect("run pm completions");
            assert!(output.status.success(), "pm completions {shell} failed");
            (file.to_string(), output.stdout)
        })
        .collect()
}

/// Compare the files named in `expected` with those in `dir` (other files may be there).
fn check_files(dir: &Path, expected: &BTreeMap<String, Vec<u8>>) {
    let update = std::env::var_os("PM_UPDATE_GENERATED").is_some_and(|v| v == "1");
    for (name, bytes) in expected {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, bytes).expect("write generated file");
        } else {
            assert!(
                std::fs::read(&path).ok().as_ref() == Some(bytes),
                "{} is stale; run: PM_UPDATE_GENERATED=1 cargo test --test it generated::",
                path.display()
            );
        }
    }
}

/// Compare `expected` with the files in `dir` (no more, no fewer); rewrite them on request.
fn check(dir: &Path, expected: &BTreeMap<String, Vec<u8>>) {
    let update = std::env::var_os("PM_UPDATE_GENERATED").is_some_and(|v| v == "1");
    let present: BTreeMap<String, Vec<u8>> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    if update {
        std::fs::create_dir_all(dir).expect("create dir");
        for name in present.keys().filter(|n| !expected.contains_key(*n)) {
            std::fs::remove_file(dir.join(name)).expect("remove stale file");
        }
        for (name, bytes) in expected {
            std::fs::write(dir.join(name), bytes).expect("write generated file");
        }
        return;
    }
    let stale: Vec<&String> = expected
        .iter()
        .filter(|(name, bytes)| present.get(*name) != Some(bytes))
        .map(|(name, _)| name)
        .chain(present.keys().filter(|n| !expected.contains_key(*n)))
        .collect();
    assert!(
        stale.is_empty(),
        "{} is stale ({stale:?}); run: PM_UPDATE_GENERATED=1 cargo test --test it generated::",
        dir.display()
    );
}

#[test]
fn man_pages_are_current() {
    let pages = man_pages();
    assert!(pages.contains_key("pm-agent-close.1"));
    assert!(pages.contains_key("pm-sync.1"));
    check(&root().join("man/man1"), &pages);
}

/// The body of a page's SYNOPSIS section, as roff source.
fn synopsis_of(page: &[u8]) -> String {
    let text = String::from_utf8_lossy(page);
    let start = text.find(".SH SYNOPSIS\n").expect("page has a SYNOPSIS");
    let body = &text[start + ".SH SYNOPSIS\n".len()..];
    body[..body.find("\n.SH ").unwrap_or(body.len())].to_string()
}

/// Every option that takes a value shows its value's name in the SYNOPSIS of its page, as the
/// OPTIONS section does (`[-i|--issue <ID>]`, not a bare `[-i|--issue]`), and a repeated
/// argument is marked `...`.
#[test]
fn synopsis_shows_value_names() {
    let pages = man_pages();
    let launch = synopsis_of(&pages["pm-agent-launch.1"]);
    assert!(
        launch.contains(r"[\fB\-i\fR|\fB\-\-issue\fR\ \fI<ID>\fR]"),
        "{launch}"
    );
    let close = synopsis_of(&pages["pm-issue-close.1"]);
    assert!(close.contains(r"\fI<ID>\fR..."), "{close}");

    fn walk(cmd: &clap::Command, pages: &BTreeMap<String, Vec<u8>>, checked: &mut usize) {
        let name = cmd
            .get_bin_name()
            .unwrap_or(cmd.get_name())
            .replace(' ', "-");
        let synopsis = synopsis_of(&pages[&format!("{name}.1")]);
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let takes_values = arg.get_num_args().is_some_and(|n| n.takes_values());
            let (Some(long), Some(values), true) =
                (arg.get_long(), arg.get_value_names(), takes_values)
            else {
                continue;
            };
            let shown = format!(
                r"\fB\-\-{}\fR\ \fI<{}>\fR",
                long.replace('-', r"\-"),
                values[0]
            );
            assert!(
                synopsis.contains(&shown),
                "{name}: no {shown} in {synopsis}"
            );
            *checked += 1;
        }
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, pages, checked);
        }
    }
    let mut cmd = pm::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut checked = 0;
    walk(&cmd, &pages, &mut checked);
    assert!(checked > 20, "only {checked} options checked");
}

/// `docs/mcp-tools.json`: what `tools/list` returns, for readers of the README.
#[test]
fn mcp_tool_definitions_are_current() {
    let mut text = serde_json::to_string_pretty(&pm::mcp::tool_definitions()).expect("JSON");
    text.push('\n');
    let expected = BTreeMap::from([("mcp-tools.json".to_string(), text.into_bytes())]);
    check_files(&root().join("docs"), &expected);
}

#[test]
fn completion_scripts_are_current() {
    check(&root().join("completions"), &completion_scripts());
}

#[test]
fn generated_files_hold_no_machine_paths_or_dates() {
    let home = std::env::var("HOME").unwrap_or_default();
    let manifest = root().to_string_lossy().into_owned();
    let year = regex_free_year();
    for (name, bytes) in man_pages().into_iter().chain(completion_scripts()) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&manifest), "{name} names the source folder");
        assert!(
            home.len() < 2 || !text.contains(&home),
            "{name} names the home folder"
        );
        assert!(!text.contains("/target/"), "{name} names a build folder");
        assert!(!text.contains(&year), "{name} holds a date");
    }
}

/// This year as text, from the system clock, for spotting embedded dates.
fn regex_free_year() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Days since 1970 / 365.2425, close enough to name the year.
    (1970 + secs / 31_556_952).to_string()
}

/// `man -l` (or groff) renders the page for `pm agent close`. CI installs man-db; elsewhere the
/// test is skipped when neither tool is there.
#[test]
fn man_page_renders() {
    let page = root().join("man/man1/pm-agent-close.1");
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .ok()
    };
    let output = run("man", &["-l", "-P", "cat"]).or_else(|| run("groff", &["-man", "-Tutf8"]));
    let Some(output) = output else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install man-db (or groff) for this test"
        );
        eprintln!("neither man nor groff is installed; skipped");
        return;
    };
    assert!(output.status.success(), "rendering failed: {output:?}");
    // Drop the overstrikes (`X\bX` for bold, `_\bX` for italics) that man prints for a pager.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&output.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    assert!(text.contains("pm-agent-close"), "{text}");
    assert!(text.contains("--done"), "{text}");
    assert!(
        text.contains("pm agent close [--done] [--abandon] [--force]"),
        "{text}"
    );
    assert!(text.contains("[-C <PATH>]..."), "{text}");
}
