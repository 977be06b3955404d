//! The committed `man/` pages and `completions/` scripts must match what the clap definition
//! generates today. `PM_UPDATE_GENERATED=1 cargo test --test generated` rewrites them.

mod common;

use clap::CommandFactory;
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
        let man = clap_mangen::Man::new(cmd);
        let mut page = Vec::new();
        man.render(&mut page).expect("render man page");
        out.insert(man.get_filename(), page);
    }
    let mut cmd = pm::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = BTreeMap::new();
    walk(cmd, &mut out);
    out
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
                "{} is stale; run: PM_UPDATE_GENERATED=1 cargo test --test generated",
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
        "{} is stale ({stale:?}); run: PM_UPDATE_GENERATED=1 cargo test --test generated",
        dir.display()
    );
}

#[test]
fn man_pages_are_current() {
    let pages = man_pages();
    assert!(pages.contains_key("pm-agent-close.1"));
    assert!(pages.contains_key("pm-sync.1"));
    check(&root().join("man"), &pages);
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
    let page = root().join("man/pm-agent-close.1");
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
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("pm-agent-close"), "{text}");
    assert!(text.contains("--done"), "{text}");
}
