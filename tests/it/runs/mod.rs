//! Agents that run: `pm agent launch --run`, `logs`, `send`, `abort`, `restart`, closing and
//! liveness, with the `command` provider driving small shell scripts. The witnesses are git (the
//! session's record commits) and `/proc` (which processes are alive, in which process group).
//!
//! Every wait polls with a deadline ([`WAIT`]) and fails naming what it waited for and the last
//! state it saw. A [`Lab`] stops whatever its runs left behind when it is dropped, so a failed
//! test leaves no agent running.

mod basics;
mod closing;
mod launchers;
mod liveness;
mod mcp;
mod requests;
mod transcript;
mod turns;

use crate::common::{Kind, Repo};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long any helper waits for something to happen before it fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A command agent that starts a grandchild holding its output (`sleep 300 &`), says it is up,
/// answers each input line with `reply: LINE`, and says `bye` when its input ends.
const ECHO: &str = r#"#!/bin/sh
sleep 300 &
echo "agent up"
while IFS= read -r line; do
  echo "reply: $line"
done
echo "bye"
"#;

/// A command agent that reads nothing, ignores interrupts, and sleeps.
const SLEEPER: &str = r#"#!/bin/sh
trap '' INT
echo "sleeping"
sleep 300
"#;

/// A repository whose user config defines command agents, each a script in the test's folder.
pub(crate) struct Lab {
    repo: Repo,
}

impl std::ops::Deref for Lab {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        &self.repo
    }
}

impl Lab {
    /// A repository with the agents `echo` ([`ECHO`]) and `sleeper` ([`SLEEPER`]).
    fn new() -> Lab {
        Lab::with_agents(&[("echo", ECHO), ("sleeper", SLEEPER)])
    }

    /// A repository whose config defines a command agent per `(name, script)`.
    pub(crate) fn with_agents(agents: &[(&str, &str)]) -> Lab {
        let repo = Repo::new();
        let scripts = repo.scratch_dir("agents");
        let mut config = String::new();
        for (name, script) in agents {
            let path = scripts.join(format!("{name}.sh"));
            write_script(&path, script);
            config.push_str(&format!(
                "[agents.{name}]\nprogram = \"{}\"\nprotocol = \"command\"\n\n",
                path.display()
            ));
        }
        let dir = repo.home().join(".config").join("pm");
        std::fs::create_dir_all(&dir).expect("create the pm config folder");
        std::fs::write(dir.join("config.toml"), config).expect("write the pm config");
        Lab { repo }
    }

    /// Add an agent whose program is `program` (which may not exist) to the config.
    fn add_agent(&self, name: &str, program: &Path) {
        let path = self.home().join(".config/pm/config.toml");
        let mut config = std::fs::read_to_string(&path).expect("read the pm config");
        config.push_str(&format!(
            "[agents.{name}]\nprogram = \"{}\"\nprotocol = \"command\"\n",
            program.display()
        ));
        std::fs::write(&path, config).expect("write the pm config");
    }

    /// `pm --json agent launch --branch BRANCH --agent AGENT --run <extra…>`: the session id.
    #[track_caller]
    fn launch_run(&self, branch: &str, agent: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "--json", "agent", "launch", "--branch", branch, "--agent", agent, "--run",
        ];
        args.extend_from_slice(extra);
        let doc = self.pm(&args).ok().json();
        assert_eq!(doc["run"]["state"], "running", "{doc}");
        doc["id"].as_str().expect("an id").to_string()
    }

    /// The run folder of session `id`.
    pub(crate) fn run_dir(&self, id: &str) -> PathBuf {
        self.path().join(".git/pm/run").join(id)
    }

    /// `pm --json agent show ID`'s `run` object.
    #[track_caller]
    pub(crate) fn run_of(&self, id: &str) -> Value {
        self.pm_json(&["agent", "show", id])["run"].clone()
    }

    /// The session's status as its record in git says.
    pub(crate) fn status(&self, id: &str) -> String {
        self.status_of(Kind::Session, id)
    }

    /// The subjects of the session's record commits, newest first (`git log`).
    pub(crate) fn record_log(&self, id: &str) -> String {
        self.git(&["log", "--format=%s", &format!("refs/pm/sessions/{id}")])
    }

    /// `pm --json agent logs ID`'s events.
    #[track_caller]
    pub(crate) fn events(&self, id: &str) -> Vec<Value> {
        self.logs_json(id, 0)["events"]
            .as_array()
            .expect("an events array")
            .clone()
    }

    #[track_caller]
    fn logs_json(&self, id: &str, since: u64) -> Value {
        let since = since.to_string();
        self.pm_json(&["agent", "logs", id, "--since", &since])
    }

    /// `pm agent logs ID` as printed (not on a terminal: no colour).
    #[track_caller]
    pub(crate) fn logs(&self, id: &str) -> String {
        self.pm_ok(&["agent", "logs", id])
    }

    /// Wait until `pm agent logs ID` shows a line equal to `line`; returns the whole text.
    #[track_caller]
    fn wait_log_line(&self, id: &str, line: &str) -> String {
        wait_for(&format!("the line {line:?} in the logs of {id}"), || {
            let text = self.logs(id);
            if text.lines().any(|l| l == line) {
                Ok(text)
            } else {
                Err(text)
            }
        })
    }

    /// Wait until the run of session `id` ended (state no longer running) and return it.
    #[track_caller]
    pub(crate) fn wait_run_ended(&self, id: &str) -> Value {
        wait_for(&format!("the run of {id} to end"), || {
            let run = self.run_of(id);
            if run["state"] == "running" {
                Err(run.to_string())
            } else {
                Ok(run)
            }
        })
    }

    /// Wait until the session's record in git has status `status`.
    #[track_caller]
    pub(crate) fn wait_status(&self, id: &str, status: &str) {
        wait_for(&format!("session {id} to be {status} in git"), || {
            let now = self.status(id);
            if now == status { Ok(()) } else { Err(now) }
        })
    }

    /// The agent's pid and its supervisor's, as `show --json` gives them while it runs.
    #[track_caller]
    pub(crate) fn pids(&self, id: &str) -> (u32, u32) {
        let run = self.run_of(id);
        assert_eq!(run["state"], "running", "{run}");
        let pid = |key: &str| {
            run[key]
                .as_u64()
                .unwrap_or_else(|| panic!("no {key} in {run}")) as u32
        };
        (pid("pid"), pid("supervisor_pid"))
    }
}

impl Drop for Lab {
    /// Stop every supervisor and agent group the runs of this repository left behind.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.repo.path().join(".git/pm/run")) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path().join("run.json")) else {
                continue;
            };
            let Ok(run) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for key in ["agent_process", "supervisor"] {
                let (Some(pid), Some(start)) =
                    (run[key]["pid"].as_u64(), run[key]["start"].as_u64())
                else {
                    continue;
                };
                // The process itself, or its pid free while processes it left hold its group.
                match proc_stat(pid as u32) {
                    Some(stat) if stat.start != start => {}
                    _ => signal_group(pid as u32, libc::SIGKILL),
                }
            }
            if let Some(socket) = run["socket"].as_str() {
                let _ = std::fs::remove_file(socket);
            }
        }
    }
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write an agent script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("make an agent script executable");
}

/// Poll `probe` every 50 ms until it gives `Ok`; after [`WAIT`], fail naming `what` and the
/// last state the probe described.
#[track_caller]
pub(crate) fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let until = Instant::now() + WAIT;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(state) if Instant::now() > until => {
                panic!(
                    "timed out after {} s waiting for {what}; last seen:\n{state}",
                    WAIT.as_secs()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---- /proc --------------------------------------------------------------------------------

/// What `/proc/PID/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stat {
    pub(crate) pid: u32,
    pub(crate) state: char,
    pub(crate) pgid: u32,
    /// Start time in clock ticks since boot (field 22).
    pub(crate) start: u64,
}

pub(crate) fn proc_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        pid,
        state: after.first()?.chars().next()?,
        pgid: after.get(2)?.parse().ok()?,
        start: after.get(19)?.parse().ok()?,
    })
}

/// Whether process `pid` runs (exists and is not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z')
}

/// The live processes of process group `pgid`, found by scanning `/proc/*/stat`.
pub(crate) fn group_members(pgid: u32) -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .filter(|s| s.pgid == pgid && s.state != 'Z')
        .collect()
}

/// Wait until process group `pgid` has at least `n` live processes; returns them.
#[track_caller]
fn wait_group_size(pgid: u32, n: usize) -> Vec<Stat> {
    wait_for(&format!("{n} processes in group {pgid}"), || {
        let members = group_members(pgid);
        if members.len() >= n {
            Ok(members)
        } else {
            Err(format!("{members:?}"))
        }
    })
}

/// Wait until no process of group `pgid` is alive.
#[track_caller]
fn wait_group_gone(pgid: u32) {
    wait_for(&format!("every process of group {pgid} to be gone"), || {
        let members = group_members(pgid);
        if members.is_empty() {
            Ok(())
        } else {
            Err(format!("{members:?}"))
        }
    })
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory effects; the pid is one this test looked up.
    unsafe { libc::kill(pid as i32, signal) };
}

fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: as above, for a process group this test looked up.
    unsafe { libc::kill(-(pgid as i32), signal) };
}

/// The kinds of `events`, in order.
pub(crate) fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().expect("a kind").to_string())
        .collect()
}

/// The sequence numbers of `events`, checked to grow by one.
#[track_caller]
pub(crate) fn seqs(events: &[Value]) -> Vec<u64> {
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("a seq"))
        .collect();
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "sequence numbers {seqs:?}");
    }
    seqs
}

/// The keys of a JSON document at every depth (`run.pid`, …), for comparing shapes.
fn shape(value: &Value) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        if let Value::Object(map) = value {
            for (key, inner) in map {
                let path = format!("{prefix}{key}");
                out.push(path.clone());
                walk(&format!("{path}."), inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out.sort();
    out
}

/// A `sleep` that is no agent of any test: it must outlive whatever pm does.
struct Bystander(std::process::Child);

impl Bystander {
    fn spawn() -> Bystander {
        Bystander(
            std::process::Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("start sleep"),
        )
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
