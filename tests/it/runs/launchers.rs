//! Launcher presets (`[launchers.NAME]` in the user's config and in `.pm.toml`) and the run
//! settings beside them on the command line: what reaches the agent (its arguments, its
//! environment, its input), what git keeps (the record, never a value of the environment), and
//! the refusals (an unknown preset, a repository's preset naming an agent nobody configured).

use super::*;

/// A command agent that shows its arguments one a line, says whether it got the token of the
/// tests (without ever printing it), then answers each input line as `ECHO` does.
const SHOW: &str = r#"#!/bin/sh
for a in "$@"; do echo "arg: $a"; done
if [ "$PM_TEST_TOKEN" = "s3cret-v4lue" ]; then echo "token ok"; else echo "no token"; fi
while IFS= read -r line; do
  echo "reply: $line"
done
"#;

/// The value of `PM_TEST_TOKEN` in these tests: it must reach the agent and never git.
pub(crate) const TOKEN: &str = "s3cret-v4lue";

impl Lab {
    /// Append `text` to the user's config.
    pub(crate) fn append_config(&self, text: &str) {
        let path = self.home().join(".config/pm/config.toml");
        let mut config = std::fs::read_to_string(&path).expect("read the pm config");
        config.push_str(text);
        std::fs::write(&path, config).expect("write the pm config");
    }

    /// Write the repository's `.pm.toml` (in the main worktree; not committed).
    fn write_repo_config(&self, text: &str) {
        std::fs::write(self.path().join(".pm.toml"), text).expect("write .pm.toml");
    }

    /// Run pm with the token in its environment.
    fn pm_token(&self, args: &[&str]) -> crate::common::Run {
        self.pm_full(self.path(), &[("PM_TEST_TOKEN", TOKEN)], args)
    }

    /// Everything git holds that a value could hide in: every commit of every ref with its
    /// changes (`git log --all -p`, records under refs/pm included) and every object.
    pub(crate) fn everything_in_git(&self) -> String {
        let mut all = self.git(&["log", "--all", "-p", "--format=%H %s%n%b"]);
        all.push_str(&self.git(&["log", "-p", "--format=%H %s%n%b", "--glob=refs/pm"]));
        for line in self
            .git(&["cat-file", "--batch-all-objects", "--batch-check"])
            .lines()
        {
            let mut words = line.split_whitespace();
            if let (Some(object), Some("blob")) = (words.next(), words.next()) {
                all.push_str(&self.git(&["cat-file", "-p", object]));
            }
        }
        all
    }
}

fn lab() -> Lab {
    Lab::with_agents(&[("show", SHOW), ("echo", super::ECHO)])
}

const FAST: &str = r#"
[launchers.fast]
agent = "show"
role = "tester"
model = "m-1"
args = ["--fast", "two words"]
prompt = "Do {issue.title} as {role}: {prompt}"
max_runtime = 60
"#;

#[test]
fn a_user_preset_gives_the_agent_its_arguments_model_prompt_and_cap_and_flags_override_it() {
    let lab = lab();
    lab.append_config(FAST);
    let issue = lab.add("Paint the fence", &[]);
    let doc = lab
        .pm_token(&[
            "--json",
            "agent",
            "launch",
            "--issue",
            &issue,
            "--launcher",
            "fast",
            "--prompt",
            "carefully",
            "--run",
            "--env",
            "PM_TEST_TOKEN",
        ])
        .ok()
        .json();
    assert_eq!(doc["run"]["state"], "running", "{doc}");
    assert_eq!(doc["run"]["agent"], "show", "the preset's agent: {doc}");
    let id = doc["id"].as_str().expect("an id").to_string();

    // The agent got the preset's arguments (after its own), the model, the named variable and
    // the template filled in as its input.
    let text = lab.wait_log_line(&id, "reply: Do Paint the fence as tester: carefully");
    let args: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("arg: "))
        .collect();
    assert_eq!(args, ["--fast", "two words", "--model", "m-1"], "{text}");
    assert!(text.lines().any(|l| l == "token ok"), "{text}");

    // git: the record holds the shaped prompt and the preset's role and agent.
    let record = lab.record_of(Kind::Session, &id);
    assert_eq!(
        record["prompt"].as_str(),
        Some("Do Paint the fence as tester: carefully")
    );
    assert_eq!(record["role"].as_str(), Some("tester"));
    assert_eq!(record["agent"].as_str(), Some("show"));

    // What the run was started with: the preset, its cap, the name of the variable.
    let started = lab.started_with(&id);
    assert_eq!(started["launcher"], "fast", "{started}");
    assert_eq!(started["max_runtime"], 60, "{started}");
    assert_eq!(started["model"], "m-1", "{started}");
    assert_eq!(
        started["env"],
        serde_json::json!(["PM_TEST_TOKEN"]),
        "{started}"
    );

    // `run` with the preset: its template wraps the new prompt; an explicit cap wins.
    lab.pm_ok(&["agent", "abort", &id]);
    lab.pm(&[
        "agent",
        "run",
        &id,
        "--launcher",
        "fast",
        "--prompt",
        "again",
        "--max-runtime",
        "30",
    ])
    .ok();
    lab.wait_log_line(&id, "reply: Do Paint the fence as tester: again");
    let started = lab.started_with(&id);
    assert_eq!(started["max_runtime"], 30, "{started}");
    // Without the variable asked for, the agent does not have it (pm's environment lacks it).
    lab.wait_log_line(&id, "no token");

    // `restart` takes a preset too.
    lab.pm_ok(&["agent", "close", &id, "--done"]);
    lab.wait_run_ended(&id);
    lab.pm_token(&[
        "agent",
        "restart",
        &id,
        "--launcher",
        "fast",
        "--prompt",
        "once more",
        "--env",
        "PM_TEST_TOKEN",
    ])
    .ok();
    lab.wait_log_line(&id, "reply: Do Paint the fence as tester: once more");
    assert_eq!(lab.started_with(&id)["launcher"], "fast");
    lab.pm_ok(&["agent", "abort", &id]);

    // An explicit agent overrides the preset's; the preset's other settings still apply, and a
    // template that needs an issue is refused for a session on none, before anything is made.
    let before = lab.git(&["for-each-ref"]);
    let line = lab
        .pm(&[
            "agent",
            "launch",
            "--branch",
            "o",
            "--launcher",
            "fast",
            "--run",
        ])
        .fails_with(2);
    assert!(
        line.contains("{issue.title}") && line.contains("no issue"),
        "{line}"
    );
    assert_eq!(lab.git(&["for-each-ref"]), before);
    lab.append_config("[launchers.plain]\nagent = \"echo\"\nargs = [\"--x\"]\n");
    let other = lab.launch_run("o", "show", &["--launcher", "plain", "--prompt", "p"]);
    lab.wait_log_line(&other, "arg: --x");
    lab.wait_log_line(&other, "reply: p");
    assert_eq!(
        lab.record_of(Kind::Session, &other)["agent"].as_str(),
        Some("show")
    );
    lab.pm_ok(&["agent", "abort", &other]);

    // The value of the variable is nowhere in git, nor in the run's files.
    let all = lab.everything_in_git();
    assert!(all.contains("Paint the fence"), "the witness sees records");
    assert!(!all.contains(TOKEN), "the token's value is in git");
    for entry in std::fs::read_dir(lab.run_dir(&id)).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains(TOKEN),
            "{} holds the value",
            entry.path().display()
        );
    }
}

#[test]
fn a_repository_preset_cannot_name_an_unknown_agent_nor_give_a_program_or_arguments() {
    let lab = lab();
    let rogue = "[launchers.rogue]\nagent = \"nosuch\"\n";
    lab.write_repo_config(rogue);
    let before = lab.git(&["for-each-ref"]);
    for extra in [&["--run"][..], &[]] {
        let mut args = vec!["agent", "launch", "--branch", "b", "--launcher", "rogue"];
        args.extend_from_slice(extra);
        let line = lab.pm(&args).fails_with(2);
        assert!(
            line.contains("launcher rogue")
                && line.contains(".pm.toml")
                && line.contains("\"nosuch\"")
                && line.contains("not a configured agent"),
            "{line}"
        );
        assert_eq!(
            lab.git(&["for-each-ref"]),
            before,
            "a launch was left behind"
        );
    }
    assert!(!lab.root().join("repo.worktrees/b").exists());

    lab.write_repo_config(&format!(
        r#"{rogue}
[launchers.team]
agent = "echo"
program = "/bin/sh"
args = ["--mcp-config", "{{}}"]
prompt = "Team: {{prompt}}"
modl = "x"
"#
    ));

    // The team's preset runs its agent, without the program and arguments it tried to give;
    // each ignored key is said, a misspelt one with the key it was meant to be.
    let run = lab.pm(&[
        "--json",
        "agent",
        "launch",
        "--branch",
        "t",
        "--launcher",
        "team",
        "--prompt",
        "hi",
        "--run",
    ]);
    let stderr = run.stderr.clone();
    let doc = run.ok().json();
    let id = doc["id"].as_str().unwrap().to_string();
    for said in [
        "program is ignored",
        "args is ignored",
        "unknown key \"modl\" in [launchers.team]",
        "did you mean \"model\"?",
    ] {
        assert!(stderr.contains(said), "{said:?} not in:\n{stderr}");
    }
    lab.wait_log_line(&id, "reply: Team: hi");
    let started = lab.started_with(&id);
    assert!(
        started["program"]
            .as_str()
            .is_some_and(|p| p.ends_with("echo.sh")),
        "{started}"
    );
    assert_eq!(started["args"], serde_json::json!([]), "{started}");
    lab.pm_ok(&["agent", "abort", &id]);

    // The user's own preset of the same name replaces the repository's as a whole.
    lab.append_config("[launchers.team]\nagent = \"echo\"\nrole = \"own\"\n");
    let id = lab.launch_run("u", "echo", &["--launcher", "team", "--prompt", "hi"]);
    lab.wait_log_line(&id, "reply: hi");
    assert_eq!(
        lab.record_of(Kind::Session, &id)["role"].as_str(),
        Some("own")
    );
    lab.pm_ok(&["agent", "abort", &id]);
}

#[test]
fn an_unknown_preset_or_placeholder_is_one_line_and_nothing_is_made() {
    let lab = lab();
    lab.append_config(
        "[launchers.alpha]\nagent = \"echo\"\n\n[launchers.beta]\nprompt = \"{issue.name} {x}\"\n",
    );
    let before = lab.git(&["for-each-ref"]);
    let line = lab
        .pm(&[
            "agent",
            "launch",
            "--branch",
            "b",
            "--launcher",
            "gamma",
            "--run",
        ])
        .fails_with(2);
    assert_eq!(
        line,
        "error: no launcher named \"gamma\"; the known ones are alpha, beta"
    );
    let line = lab
        .pm(&["agent", "launch", "--branch", "b", "--launcher", "beta"])
        .fails_with(2);
    assert!(
        line.contains("launcher beta")
            && line.contains("unknown placeholders {issue.name}, {x}")
            && line.contains("{issue.title}"),
        "{line}"
    );
    assert_eq!(
        lab.git(&["for-each-ref"]),
        before,
        "a launch was left behind"
    );

    // The same on `run` and over MCP.
    let id = lab.launch_run("c", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "abort", &id]);
    let events = lab.events(&id).len();
    let line = lab
        .pm(&["agent", "run", &id, "--launcher", "gamma"])
        .fails_with(2);
    assert!(line.contains("the known ones are alpha, beta"), "{line}");
    let text = crate::mcp::failed(&crate::mcp::call(
        &lab,
        lab.path(),
        "pm_session",
        serde_json::json!({"action": "run", "sessionUlid": id, "launcherConfigKey": "gamma"}),
    ));
    assert_eq!(
        text,
        "no launcher named \"gamma\"; the known ones are alpha, beta"
    );
    assert_eq!(lab.events(&id).len(), events, "no run was started");
    assert_eq!(lab.status(&id), "idle");
}

/// A stand-in for Claude Code that writes its arguments to `claude-args` beside itself
/// (NUL-separated: instructions span lines; whole, by a rename), then speaks just enough
/// stream-json.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
d="$(dirname "$0")"
printf '%s\0' "$@" > "$d/claude-args.tmp" && mv "$d/claude-args.tmp" "$d/claude-args"
echo '{"type":"system","subtype":"init","session_id":"fake-thread"}'
while IFS= read -r line; do
  echo '{"type":"result","subtype":"success","is_error":false,"session_id":"fake-thread"}'
done
"#;

/// A lab with the agent `fake` (protocol claude) and `echo`.
pub(crate) fn claude_lab() -> Lab {
    let lab = Lab::with_agents(&[("echo", super::ECHO)]);
    let path = lab.root().join("agents/fake.sh");
    super::write_script(&path, FAKE_CLAUDE);
    lab.append_config(&format!(
        "[agents.fake]\nprogram = \"{}\"\nprotocol = \"claude\"\n",
        path.display()
    ));
    lab
}

impl Lab {
    /// Forget the arguments the fake Claude Code was started with, before starting it again.
    pub(crate) fn forget_claude_args(&self) {
        let _ = std::fs::remove_file(self.root().join("agents/claude-args"));
    }

    /// The arguments the fake Claude Code was last started with, once it wrote them.
    pub(crate) fn claude_args(&self) -> Vec<String> {
        let path = self.root().join("agents/claude-args");
        wait_for("the fake claude's arguments", || {
            std::fs::read(&path).map_err(|e| e.to_string())
        })
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
    }

    /// The value after `flag` in the fake claude's arguments.
    pub(crate) fn claude_arg(&self, flag: &str) -> String {
        let args = self.claude_args();
        let at = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
        args[at + 1].clone()
    }

    /// `started_with` of `config` over MCP: what the last run was started with.
    pub(crate) fn started_with(&self, id: &str) -> Value {
        crate::mcp::ok(&crate::mcp::call(
            self,
            self.path(),
            "pm_session",
            serde_json::json!({"action": "config", "sessionUlid": id}),
        ))["started_with"]
            .clone()
    }
}

#[test]
fn system_prompt_tools_and_env_flags_reach_a_claude_agent_and_are_told_back() {
    let lab = claude_lab();
    lab.append_config("[launchers.careful]\nmodel = \"opus-x\"\ntools = [\"Read\"]\n");
    let issue = lab.add("Count the sheep", &[]);
    let doc = lab
        .pm_token(&[
            "--json",
            "agent",
            "launch",
            "--issue",
            &issue,
            "--agent",
            "fake",
            "--role",
            "shepherd",
            "--launcher",
            "careful",
            "--run",
            "--system-prompt",
            "Answer in French.",
            "--tool",
            "Bash(git diff:*)",
            "--env",
            "PM_TEST_TOKEN",
        ])
        .ok()
        .json();
    let id = doc["id"].as_str().unwrap().to_string();
    let system = lab.claude_arg("--append-system-prompt");
    assert!(system.contains("Count the sheep"), "{system}");
    assert!(system.contains("pm_close_agent"), "{system}");
    assert!(
        system.contains("Your role in this session: shepherd"),
        "{system}"
    );
    assert!(system.ends_with("Answer in French."), "{system}");
    assert_eq!(
        lab.claude_arg("--allowedTools"),
        "mcp__pm__pm_close_agent,mcp__pm__pm_get_issue,mcp__pm__pm_list_issues,\
         Bash(git diff:*),Read"
    );
    assert_eq!(lab.claude_arg("--model"), "opus-x");

    // `prompt` returns exactly what the agent got; `config` and `spec` what it was started with.
    let prompt = crate::mcp::ok(&crate::mcp::call(
        &lab,
        lab.path(),
        "pm_session",
        serde_json::json!({"action": "prompt", "sessionUlid": id}),
    ))
    .clone();
    assert_eq!(prompt["system_prompt"], system.as_str(), "{prompt}");
    assert_eq!(
        prompt["input"], "Work on the issue in your instructions.",
        "{prompt}"
    );
    let started = lab.started_with(&id);
    assert_eq!(started["system_prompt"], system.as_str());
    assert_eq!(
        started["tools"],
        serde_json::json!(["Bash(git diff:*)", "Read"])
    );
    assert_eq!(started["env"], serde_json::json!(["PM_TEST_TOKEN"]));
    assert_eq!(started["launcher"], "careful");
    assert_eq!(
        started["args"].as_array().unwrap().len(),
        lab.claude_args().len()
    );
    let spec = crate::mcp::ok(&crate::mcp::call(
        &lab,
        lab.path(),
        "pm_session",
        serde_json::json!({"action": "spec", "sessionUlid": id}),
    ))
    .clone();
    assert_eq!(spec["started_with"], started, "{spec}");

    // Tools are refused for an agent that is not claude; a bad or unset variable name too.
    let before = lab.git(&["for-each-ref"]);
    for (args, said) in [
        (&["--tool", "Read"][..], "takes no allowed tools"),
        (&["--env", "1BAD"], "not an environment variable name"),
        (
            &["--env", "PM_NOT_SET_ANYWHERE"],
            "is not set in pm's environment",
        ),
        (&["--env", "PM_SESSION"], "pm's own mark"),
    ] {
        let mut all = vec![
            "agent", "launch", "--branch", "x", "--agent", "echo", "--run",
        ];
        all.extend_from_slice(args);
        let line = lab.pm(&all).fails_with(2);
        assert!(line.contains(said), "{said:?} not in {line}");
    }
    assert_eq!(
        lab.git(&["for-each-ref"]),
        before,
        "a launch was left behind"
    );
    // Run settings need --run.
    let refused = lab.pm(&["agent", "launch", "--branch", "x", "--tool", "Read"]);
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--run"), "{refused:?}");
    assert_eq!(lab.git(&["for-each-ref"]), before);
}
