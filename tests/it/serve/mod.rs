//! `pm serve`: the real server (`pm serve --port 0` on 127.0.0.1, its URL read from what it
//! prints) driven by a real HTTP client (ureq), with `pm --json` and git as the witnesses.
//! A [`Served`] kills its server when it is dropped, so a failed test leaves none running.

mod issues;
mod lifecycle;
mod runs;
mod security;
mod sessions;
mod worktrees;

use crate::common::Repo;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a helper waits for the server (to start, to answer, to send an event).
const WAIT: Duration = Duration::from_secs(15);

/// A running `pm serve`.
pub(crate) struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// What the server printed first (its URL, its projects, a token).
    pub banner: String,
    /// The rest of its stdout, line by line.
    lines: std::sync::Mutex<Receiver<String>>,
    agent: ureq::Agent,
    token: Option<String>,
}

/// An HTTP answer: status and body (parsed as JSON when it is).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}:\n{}", self.status, self.body))
    }

    /// The document of a success (status 200, or `status`), `json_version` first.
    #[track_caller]
    pub fn ok(&self) -> Value {
        self.with_status(200)
    }

    #[track_caller]
    pub fn with_status(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        assert!(
            self.body.starts_with("{\"json_version\":1,"),
            "not a document: {}",
            self.body
        );
        self.json()
    }

    /// The `{"error": {"code", "message"}}` of a failure with `status`; returns code and message.
    #[track_caller]
    pub fn error(&self, status: u16) -> (String, String) {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        let doc = self.json();
        let keys: Vec<&String> = doc.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["error"], "{doc}");
        let code = doc["error"]["code"].as_str().expect("a code").to_string();
        let message = doc["error"]["message"]
            .as_str()
            .expect("a message")
            .to_string();
        assert!(!message.is_empty() && !message.contains('\n'), "{doc}");
        (code, message)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .proxy(None)
        .build()
        .into()
}

impl Served {
    /// `pm serve --port 0 <args…>` in the repository.
    #[track_caller]
    pub fn start(repo: &Repo, args: &[&str]) -> Served {
        Self::start_with(repo, repo.path(), &[], args)
    }

    /// The same in `dir`, with `env` added.
    #[track_caller]
    pub fn start_with(repo: &Repo, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Served {
        let mut cmd = repo.pm_std_command(dir);
        cmd.args(["serve", "--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("pm serve can be started");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let banner = match lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("wait for pm serve");
                panic!(
                    "pm serve printed no URL; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {banner:?}"));
        let url = url.split('#').next().unwrap_or(url);
        let base = url.trim_end_matches('/').to_string();
        let host = base.trim_start_matches("http://").to_string();
        Served {
            child,
            base,
            host,
            banner,
            lines: std::sync::Mutex::new(lines),
            agent: client(),
            token: None,
        }
    }

    /// Send this token with every request from now on.
    pub fn use_token(&mut self, token: &str) {
        self.token = Some(token.to_string());
    }

    /// The next line the server prints on stdout.
    pub fn next_line(&self) -> Option<String> {
        self.lines.lock().ok()?.recv_timeout(WAIT).ok()
    }

    /// A request with exactly these extra headers (no Origin or Content-Type unless given).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = match body {
            Some(body) => self
                .agent
                .run(request.body(body.to_string()).expect("a request")),
            None => self.agent.run(request.body(()).expect("a request")),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Answer {
            status: response.status().as_u16(),
            body: response
                .body_mut()
                .read_to_string()
                .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}")),
            headers,
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.raw("GET", path, &[], None)
    }

    /// A request that changes something, as the server's own page sends it: a JSON body and
    /// this server's Origin.
    pub fn send(&self, method: &str, path: &str, body: &Value) -> Answer {
        let origin = self.base.clone();
        self.raw(
            method,
            path,
            &[("Content-Type", "application/json"), ("Origin", &origin)],
            Some(&body.to_string()),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, body)
    }

    /// Follow the server-sent events at `path` (with these extra headers); each event comes
    /// out of the receiver as it arrives.
    pub fn events(&self, path: &str, headers: &[(&str, &str)]) -> Events {
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder().uri(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        let response = agent
            .run(request.body(()).expect("a request"))
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let reader = BufReader::new(response.into_body().into_reader());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut event = SseEvent::default();
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.is_empty() {
                    if !event.data.is_empty() || !event.event.is_empty() {
                        let done = std::mem::take(&mut event);
                        if tx.send(done).is_err() {
                            return;
                        }
                    }
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((&line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => event.id = value.to_string(),
                    "event" => event.event = value.to_string(),
                    "data" => event.data.push_str(value),
                    _ => {}
                }
            }
            let _ = tx.send(SseEvent {
                event: "(end of stream)".into(),
                ..SseEvent::default()
            });
        });
        Events {
            status,
            content_type,
            rx,
        }
    }

    /// Send `signal` to the server and wait for it to end; its exit status and stderr.
    pub fn stop_with(mut self, signal: i32) -> (Option<i32>, String) {
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let until = Instant::now() + WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    let mut stderr = String::new();
                    if let Some(mut err) = self.child.stderr.take() {
                        use std::io::Read;
                        let _ = err.read_to_string(&mut stderr);
                    }
                    return (status.code(), stderr);
                }
                _ if Instant::now() > until => panic!("pm serve did not stop within {WAIT:?}"),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server-sent event.
#[derive(Debug, Default, Clone)]
pub(crate) struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A stream of server-sent events being read.
pub(crate) struct Events {
    pub status: u16,
    pub content_type: String,
    rx: Receiver<SseEvent>,
}

impl Events {
    /// The next event, or `None` after [`WAIT`].
    pub fn next(&self) -> Option<SseEvent> {
        self.next_within(WAIT)
    }

    pub fn next_within(&self, wait: Duration) -> Option<SseEvent> {
        match self.rx.recv_timeout(wait) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Events until one passes `wanted` (returned with those before it); fails after [`WAIT`].
    #[track_caller]
    pub fn until(&self, what: &str, wanted: impl Fn(&SseEvent) -> bool) -> Vec<SseEvent> {
        let until = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.next_within(left) {
                Some(event) => {
                    let done = wanted(&event);
                    seen.push(event);
                    if done {
                        return seen;
                    }
                }
                None => panic!("no event {what} within {WAIT:?}; seen: {seen:#?}"),
            }
        }
    }
}

/// The JSON of `text`.
pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}
