//! `pm mcp install` and `pm mcp status`, and a real client (the Python SDK).

use super::*;

/// The official Python SDK starts `pm mcp` inside a worktree, lists the tools and closes the
/// session as completed without naming it. CI installs the pinned SDK (`.ci/run`).
#[test]
fn the_python_sdk_closes_a_session_from_its_worktree() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the MCP Python SDK (see .ci/run)"
        );
        eprintln!("the mcp Python package is not installed; skipped");
        return;
    }
    let repo = Repo::new();
    let issue = repo.add("SDK close", &[]);
    let launched = repo.pm_json(&["agent", "launch", "--issue", &issue]);
    let id = launched["id"].as_str().expect("id");
    let worktree = launched["worktree"].as_str().expect("worktree");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .arg(common::pm_bin())
        .arg(worktree)
        .env_clear()
        .envs(common::base_env(repo.home()))
        .envs(common::identity_env());
    for var in ["PYTHONPATH", "PYENV_ROOT", "VIRTUAL_ENV"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    let output = cmd.output().expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(seen["is_error"], false, "{seen}");
    assert!(
        seen["tools"]
            .as_array()
            .expect("tools")
            .contains(&json!("pm_close_agent"))
    );
    assert_eq!(seen["structured"]["id"], id);
    assert_eq!(
        repo.pm_json(&["agent", "show", id])["session"]["status"],
        "completed"
    );
    assert_eq!(
        repo.pm_json(&["issue", "show", &issue])["issue"]["status"],
        "done"
    );
}

/// Issue 14 point 19: `pm mcp status` says where pm is registered (.mcp.json, ~/.claude.json
/// and its per-folder entries), with which command, and whether that command runs; it never
/// runs a program of the repository named by a committed file.
#[test]
fn status_says_where_pm_is_registered_and_whether_its_command_runs() {
    let repo = Repo::new();
    let bin = repo.scratch_dir("bin");
    std::os::unix::fs::symlink(common::pm_bin(), bin.join("pm")).expect("symlink");
    let empty_bin = repo.scratch_dir("empty-bin");
    let status_in = |dir: &Path, path: &Path| {
        let path = path.to_str().expect("UTF-8 path");
        let run = repo
            .pm_full(dir, &[("PATH", path)], &["--json", "mcp", "status"])
            .ok();
        run.json()
    };
    let status = |path: &Path| status_in(repo.path(), path);
    let place = |doc: &Value, scope: &str, n: usize| -> Value {
        doc["places"]
            .as_array()
            .expect("places")
            .iter()
            .filter(|p| p["scope"] == scope)
            .nth(n)
            .unwrap_or_else(|| panic!("no place {scope} #{n} in {doc}"))
            .clone()
    };

    // Nowhere yet.
    let doc = status(&bin);
    assert_eq!(doc["registered"], false);
    assert_eq!(doc["works"], false);
    let scopes: Vec<&str> = doc["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["project", "user", "local"]);
    assert_eq!(place(&doc, "project", 0)["state"], "no_file");
    let claude = repo.home().join(".claude.json");
    assert_eq!(place(&doc, "user", 0)["file"], claude.to_str().unwrap());
    let text = repo
        .pm_full(repo.path(), &[], &["mcp", "status"])
        .ok()
        .stdout;
    assert!(
        text.contains("not registered") && text.contains("pm mcp install"),
        "{text}"
    );

    // `pm mcp install` writes .mcp.json; `pm` on PATH runs, and is found there.
    repo.pm_ok(&["mcp", "install"]);
    let doc = status(&bin);
    let project = place(&doc, "project", 0);
    assert_eq!(project["state"], "registered");
    assert_eq!(
        project["file"],
        repo.path().join(".mcp.json").to_str().unwrap()
    );
    assert_eq!(project["command"], "pm");
    assert_eq!(project["args"], json!(["mcp"]));
    assert_eq!(project["check"]["path"], bin.join("pm").to_str().unwrap());
    assert_eq!(project["check"]["runs"], true);
    assert_eq!(
        project["check"]["version"],
        format!("pm {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        (doc["registered"].clone(), doc["works"].clone()),
        (json!(true), json!(true))
    );
    // Without pm on PATH the same registration does not work.
    let doc = status(&empty_bin);
    let project = place(&doc, "project", 0);
    assert_eq!(project["check"]["runs"], false);
    assert!(
        project["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("not found on PATH")
    );
    assert_eq!(doc["works"], false);

    // The user file: a command that hangs is stopped, a missing one is named; the per-folder
    // entry is read too.
    let tools = repo.scratch_dir("tools");
    let slow = tools.join("slow-pm");
    let sleep = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|dir| dir.join("sleep"))
        .find(|p| p.is_file())
        .expect("sleep is installed");
    std::fs::write(&slow, format!("#!/bin/sh\nexec {} 30\n", sleep.display())).expect("write");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let user = json!({
        "mcpServers": {"pm": {"command": slow, "args": ["mcp"]}, "other": {"command": "x"}},
        "projects": {repo.path().to_str().unwrap(): {"mcpServers": {"pm": {"command": "/no/such/pm"}}}},
    });
    std::fs::write(&claude, user.to_string()).expect("write");
    let started = std::time::Instant::now();
    let doc = status(&bin);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "not bounded"
    );
    let user = place(&doc, "user", 0);
    assert_eq!(user["state"], "registered");
    assert_eq!(user["check"]["runs"], false);
    assert!(
        user["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("did not finish"),
        "{user}"
    );
    let local = place(&doc, "local", 0);
    assert_eq!(local["project"], repo.path().to_str().unwrap());
    assert_eq!(local["command"], "/no/such/pm");
    assert!(
        local["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("not an executable"),
        "{local}"
    );
    assert_eq!(doc["works"], false);
    let text = repo
        .pm_full(
            repo.path(),
            &[("PATH", bin.to_str().unwrap())],
            &["mcp", "status"],
        )
        .ok()
        .stdout;
    assert!(
        text.contains("registered in 3 places") && text.contains("of 2 does not run"),
        "{text}"
    );

    // A committed .mcp.json naming a program of the repository: found, never run.
    let marker = repo.root().join("it-ran");
    std::fs::write(
        repo.path().join("evil.sh"),
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    )
    .expect("write");
    std::fs::set_permissions(
        repo.path().join("evil.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::write(
        repo.path().join(".mcp.json"),
        r#"{"mcpServers": {"pm": {"command": "./evil.sh", "args": ["mcp"]}}}"#,
    )
    .expect("write");
    repo.git(&["add", ".mcp.json", "evil.sh"]);
    repo.git(&["commit", "-q", "-m", "register"]);
    std::fs::write(&claude, "{not json").expect("write");
    let doc = status(&bin);
    let project = place(&doc, "project", 0);
    assert!(
        project["check"]["problem"]
            .as_str()
            .unwrap()
            .contains("not run"),
        "{project}"
    );
    assert!(
        !marker.exists(),
        "pm ran a program named by a committed file"
    );
    let user = place(&doc, "user", 0);
    assert_eq!(user["state"], "unreadable");
    assert!(
        user["problem"].as_str().unwrap().contains("not valid JSON"),
        "{user}"
    );

    // Inside a session's worktree: its own .mcp.json is reported (committed, so it is there).
    std::fs::remove_file(&claude).expect("remove");
    repo.pm_ok(&["mcp", "install"]);
    let doc = repo.pm_json(&["agent", "launch", "--branch", "feature/tool"]);
    let worktree = PathBuf::from(doc["worktree"].as_str().unwrap());
    let doc = status_in(&worktree, &bin);
    let here = place(&doc, "worktree", 0);
    assert_eq!(here["file"], worktree.join(".mcp.json").to_str().unwrap());
    assert_eq!(
        here["command"], "./evil.sh",
        "the committed file, not the one just installed"
    );
    assert_eq!(
        repo.git_in(&worktree, &["ls-files", ".mcp.json"]),
        ".mcp.json\n"
    );
    assert_eq!(place(&doc, "project", 0)["command"], "pm");
    assert_eq!(place(&doc, "project", 0)["check"]["runs"], true);
    assert_eq!(
        place(&doc, "local", 1)["project"],
        worktree.to_str().unwrap()
    );
    assert!(!marker.exists());
}

#[test]
fn install_adds_pm_without_clobbering_other_servers() {
    let repo = Repo::new();
    let config = repo.path().join(".mcp.json");
    std::fs::write(
        &config,
        r#"{"mcpServers": {"other": {"command": "other-server"}}, "keep": 1}"#,
    )
    .expect("write");
    let dry = repo.pm(&["mcp", "install", "--dry-run"]).ok();
    assert!(dry.stdout.contains("\"pm\""), "{}", dry.stdout);
    let untouched = std::fs::read_to_string(&config).expect("read");
    assert!(!untouched.contains("\"pm\""), "a dry run writes nothing");
    repo.pm(&["mcp", "install"]).ok();
    repo.pm(&["mcp", "install"]).ok();
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("JSON");
    assert_eq!(written["mcpServers"]["other"]["command"], "other-server");
    assert_eq!(written["mcpServers"]["pm"]["command"], "pm");
    assert_eq!(written["mcpServers"]["pm"]["args"], json!(["mcp"]));
    assert_eq!(written["keep"], 1);
    // User scope writes into HOME; a broken file is refused and left as it was.
    repo.pm(&["mcp", "install", "--scope", "user"]).ok();
    let user: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.home().join(".claude.json")).expect("read"),
    )
    .expect("JSON");
    assert_eq!(user["mcpServers"]["pm"]["command"], "pm");
    std::fs::write(&config, "{not json").expect("write");
    let line = repo.pm(&["mcp", "install"]).fails_with(1);
    assert!(line.contains(".mcp.json"), "{line}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), "{not json");
}
