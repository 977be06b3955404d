//! `launch --run`, `logs` (plain, `--json`, `--since`, `--follow`), `show`, `list` and `send`.

use super::*;
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

#[test]
fn launch_run_starts_the_agent_and_its_output_reaches_the_logs() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);

    // The people's view: the start marker, the input, then the agent's lines in order.
    let text = lab.wait_log_line(&id, "reply: hello");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("[started echo (pid "),
        "first line of:\n{text}"
    );
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("{line:?} not in:\n{text}"))
    };
    assert!(at("> hello") < at("reply: hello"), "{text}");
    at("agent up");

    // The JSON view: sequence numbers from 1 that grow by one, the kinds, and the cursor.
    let doc = lab.logs_json(&id, 0);
    let events = doc["events"].as_array().expect("events").clone();
    let seqs = seqs(&events);
    assert_eq!(seqs[0], 1);
    assert_eq!(doc["next_seq"], *seqs.last().unwrap(), "{doc}");
    let kinds = kinds(&events);
    assert_eq!(kinds[0], "started", "{kinds:?}");
    assert_eq!(events[0]["agent"], "echo");
    assert_eq!(events[0]["provider"], "command");
    assert!(events.iter().all(|e| e["time"].is_string()), "{doc}");
    let input = events
        .iter()
        .position(|e| e["kind"] == "input" && e["text"] == "hello")
        .expect("the prompt is an input event");
    let reply = events
        .iter()
        .position(|e| e["kind"] == "text" && e["text"] == "reply: hello\n")
        .expect("the reply is a text event");
    assert!(input < reply, "{kinds:?}");
    // --since gives only the later events; the last sequence number gives none.
    let later = lab.logs_json(&id, seqs[1]);
    assert_eq!(later["events"].as_array().unwrap()[..], events[2..]);
    let none = lab.logs_json(&id, *seqs.last().unwrap());
    assert_eq!(none["events"], Value::Array(vec![]));
    assert_eq!(none["next_seq"], doc["next_seq"]);

    // `show --json`: running, with an agent pid and a supervisor pid that /proc knows alive.
    let run = lab.run_of(&id);
    assert_eq!(run["state"], "running", "{run}");
    assert_eq!(run["agent"], "echo");
    assert_eq!(run["provider"], "command");
    let (pid, supervisor) = lab.pids(&id);
    assert_eq!(events[0]["pid"], pid);
    assert!(alive(pid) && alive(supervisor), "{run}");
    assert_ne!(pid, supervisor);
    // The agent leads a process group of its own; the supervisor leads its own session.
    assert_eq!(proc_stat(pid).unwrap().pgid, pid);
    assert_eq!(proc_stat(supervisor).unwrap().pgid, supervisor);

    // `list` has the AGENT column, saying the agent runs; git says the session is active.
    let out = lab.pm_ok(&["agent", "list"]);
    let mut rows = out.lines().map(|l| l.split('\t').collect::<Vec<_>>());
    let header = rows.next().expect("a header");
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row = rows.next().expect("a row");
    assert_eq!(row[column("AGENT")], "running", "{out}");
    assert_eq!(row[column("STATUS")], "active", "{out}");
    assert_eq!(lab.status(&id), "active");
    assert_eq!(lab.record_log(&id), "launch: active on b\n");
}

#[test]
fn send_gives_input_to_the_running_agent_from_an_argument_or_stdin() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");

    let out = lab.pm_ok(&["agent", "send", &id, "second"]);
    assert_eq!(out, format!("Sent to the agent of session {id}\n"));
    let text = lab.wait_log_line(&id, "reply: second");
    let lines: Vec<&str> = text.lines().collect();
    let input = lines.iter().position(|l| *l == "> second").expect(&text);
    let reply = lines.iter().position(|l| *l == "reply: second").unwrap();
    assert!(input < reply, "the reply comes after the input:\n{text}");

    // `-` reads the text from stdin (its last newline is not part of it).
    let output = lab
        .pm_command(lab.path(), true)
        .args(["--json", "agent", "send", &id, "-"])
        .write_stdin("from stdin\n")
        .output()
        .expect("pm runs");
    let sent = crate::common::Run::new("pm agent send ID -".into(), output).ok();
    let doc = sent.json();
    assert_eq!(doc["started"], false, "{doc}");
    assert_eq!(doc["run"]["state"], "running", "{doc}");
    lab.wait_log_line(&id, "reply: from stdin");
    let events = lab.events(&id);
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "input" && e["text"] == "from stdin"),
        "{events:?}"
    );
    seqs(&events);
    // Still the one run: one start.
    assert_eq!(kinds(&events).iter().filter(|k| *k == "started").count(), 1);
}

/// `pm agent logs ID --follow`, its output read line by line in a thread.
struct Follower {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn spawn(lab: &Lab, id: &str) -> Follower {
        let mut child = lab
            .pm_std_command(lab.path())
            .args(["agent", "logs", id, "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pm agent logs --follow starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Read until the follower printed `line`.
    #[track_caller]
    fn wait_line(&mut self, line: &str) {
        let until = Instant::now() + WAIT;
        while !self.seen.iter().any(|l| l == line) {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) => self.seen.push(got),
                Err(e) => panic!(
                    "the follower did not print {line:?} within {} s ({e}); it printed:\n{}",
                    WAIT.as_secs(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Read until the follower's output ends, then wait for it to exit; its exit code.
    #[track_caller]
    fn wait_end(&mut self) -> Option<i32> {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) => self.seen.push(got),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "the follower did not end within {} s; it printed:\n{}",
                    WAIT.as_secs(),
                    self.seen.join("\n")
                ),
            }
        }
        wait_for("the follower to exit", || match self.child.try_wait() {
            Ok(Some(status)) => Ok(status.code()),
            other => Err(format!("{other:?}")),
        })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn logs_follow_prints_what_the_agent_writes_later_and_ends_with_the_run() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");

    let mut follower = Follower::spawn(&lab, &id);
    // The backlog first, then what the agent writes after the follow began.
    follower.wait_line("reply: hello");
    lab.pm_ok(&["agent", "send", &id, "after the follow began"]);
    follower.wait_line("> after the follow began");
    follower.wait_line("reply: after the follow began");

    // The run ends: the follower prints the end markers and exits by itself.
    lab.pm_ok(&["agent", "abort", &id]);
    assert_eq!(follower.wait_end(), Some(0), "{:?}", follower.seen);
    assert!(
        follower
            .seen
            .iter()
            .any(|l| l == "[aborted: aborted on request]"),
        "{:?}",
        follower.seen
    );
    let last = follower.seen.last().expect("lines");
    assert!(
        last.starts_with("[ended by signal") || last.starts_with("[exited"),
        "{:?}",
        follower.seen
    );
    // Each event printed once.
    let replies = follower
        .seen
        .iter()
        .filter(|l| *l == "reply: hello")
        .count();
    assert_eq!(replies, 1, "{:?}", follower.seen);
}

#[test]
fn show_and_list_read_the_last_event_from_the_end_of_the_log() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    lab.pm_ok(&["agent", "abort", &id]);
    lab.wait_run_ended(&id);
    let last = *seqs(&lab.events(&id)).last().expect("events");
    assert_eq!(lab.run_of(&id)["last_event"], last);

    // What a listing costs must not grow with the log, so the log is read from its end: bytes
    // before the last event that are not even text are never read, and a last line cut short
    // by a crash (longer than what is read at a time) is skipped as a reader of the whole log
    // skips it.
    let path = lab.run_dir(&id).join("events.jsonl");
    let log = std::fs::read(&path).expect("read the event log");
    let mut damaged = b"\xff\xfe not an event\n".to_vec();
    damaged.extend_from_slice(&log);
    damaged.extend_from_slice(
        format!(
            "{{\"seq\":{},\"time\":\"2030-01-01T00:00:00Z\",\"kind\":\"text\",\"text\":\"{}",
            last + 1,
            "x".repeat(20_000)
        )
        .as_bytes(),
    );
    std::fs::write(&path, damaged).expect("write the event log");
    assert_eq!(lab.run_of(&id)["last_event"], last, "{}", lab.run_of(&id));
    let list = lab.pm_json(&["agent", "list"]);
    let row = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {list}"))
        .clone();
    assert_eq!(row["status"], "idle", "{row}");
}
