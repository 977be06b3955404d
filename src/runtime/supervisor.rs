//! The supervisor: `pm` started again, detached (its own session, no terminal), for one run of
//! one session's agent. It starts the agent in the worktree in a process group of its own, turns
//! its output into events, serves the control socket, stops the agent on abort or when its
//! runtime cap is reached, and when the agent exits records how and moves the session to idle
//! (unless it was completed or abandoned meanwhile).

use super::control::{self, Reply, Request};
use super::events::{Body, Log};
use super::lease::{self, Proc, RunInfo};
use super::provider::{Protocol, Provider};
use crate::error::{Error, Result};
use crate::model::{Session, Timestamp};
use crate::workspace::Workspace;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a run is asked to do, written by the operation that starts it (`start.json` in the
/// run folder) and read once by the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Start {
    /// This run's own id, which the run state names once the supervisor took it.
    pub run: String,
    pub agent: String,
    pub program: String,
    pub args: Vec<String>,
    pub protocol: String,
    /// The first input (for the protocols that take it on stdin).
    pub prompt: Option<String>,
    /// The provider thread this run continues.
    pub resume: Option<String>,
    /// Stop the run after this many seconds.
    pub max_runtime: Option<u64>,
    pub worktree: PathBuf,
    /// What else the run was started with, as asked (all of it already in `args` or `prompt`
    /// where the agent takes it).
    #[serde(flatten)]
    pub given: Given,
}

/// The settings a run was started with beside its program and arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Given {
    /// The launcher preset used.
    pub launcher: Option<String>,
    pub model: Option<String>,
    /// Tools allowed beside pm's own.
    pub tools: Vec<String>,
    /// The names of the environment variables passed from pm's environment (never values).
    pub env: Vec<String>,
    /// The instructions the agent was given (also in `system-prompt.txt`).
    pub system_prompt: Option<String>,
    /// Who asked for the run.
    pub actor: Option<String>,
    /// Free text context the asker gave.
    pub context: Option<String>,
}

/// The file a start request is handed over in.
pub fn start_path(run_dir: &Path) -> PathBuf {
    run_dir.join("start.json")
}

/// What the last run was started with.
pub fn started_path(run_dir: &Path) -> PathBuf {
    run_dir.join("started.json")
}

/// Grace periods of an abort: interrupt, then terminate, then kill.
const GRACE: Duration = Duration::from_secs(2);

struct Shared {
    session: String,
    run_dir: PathBuf,
    /// The log and the connections that follow it (written together, so a follower that
    /// joins sees every event once).
    log: Mutex<(Log, Vec<UnixStream>)>,
    stdin: Mutex<Option<ChildStdin>>,
    info: Mutex<RunInfo>,
    provider: Provider,
    /// The agent's process group (its pid).
    group: i32,
    exited: AtomicBool,
    finish_after_turn: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn emit(&self, body: Body) {
        let mut guard = lock(&self.log);
        let (log, followers) = &mut *guard;
        if let Ok((_, line)) = log.append(body) {
            followers.retain_mut(|f| f.write_all(line.as_bytes()).is_ok());
        }
    }

    /// Write the run's state. The lock is held while the file is written, so that a thread
    /// that changed it first never writes over a later change with what it saw.
    fn save(&self) {
        let info = lock(&self.info);
        let _ = lease::write(&self.run_dir, &info);
    }

    fn input(&self, text: &str) -> std::result::Result<(), String> {
        let Some(line) = self.provider.input_line(text) else {
            return Err(format!(
                "agent {} takes no input while it runs",
                self.provider.agent
            ));
        };
        let mut stdin = lock(&self.stdin);
        let Some(pipe) = stdin.as_mut() else {
            return Err("the run is ending; it takes no more input".into());
        };
        // Logged first: what the agent answers comes after it in the log.
        self.emit(Body::Input {
            text: text.to_string(),
        });
        if let Err(e) = pipe.write_all(line.as_bytes()).and_then(|()| pipe.flush()) {
            let why = format!("could not write to the agent: {e}");
            drop(stdin);
            self.emit(Body::Log { text: why.clone() });
            return Err(why);
        }
        drop(stdin);
        lock(&self.info).waiting = false;
        self.save();
        Ok(())
    }

    /// Close the agent's stdin: an agent that keeps running between turns ends.
    fn end_input(&self) {
        lock(&self.stdin).take();
    }

    fn abort(&self, why: &str) {
        if self.exited.load(Ordering::SeqCst) {
            return;
        }
        self.emit(Body::Aborted {
            why: why.to_string(),
        });
        self.end_input();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
            signal_run(self.group, signal);
            let until = Instant::now() + GRACE;
            while Instant::now() < until {
                if self.exited.load(Ordering::SeqCst) && run_processes(self.group).is_empty() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The agent exited: the processes it left running in its group (background jobs holding its
/// output open) are stopped, terminated first, then killed.
fn stop_leftovers(shared: &Shared) {
    let wait_empty = |within: Duration| {
        let until = Instant::now() + within;
        while !run_processes(shared.group).is_empty() {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    };
    if wait_empty(GRACE / 4) {
        return;
    }
    shared.emit(Body::Log {
        text: "the agent exited; stopping the processes it left running".into(),
    });
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        signal_run(shared.group, signal);
        if wait_empty(GRACE) {
            return;
        }
    }
}

/// The live processes of the run (zombies, which only wait to be reaped, aside): those in the
/// agent's process group, and every descendant of this supervisor, which is a child subreaper
/// so that processes the agent left in groups or sessions of their own (Claude Code runs its
/// shell commands so) stay below it.
#[cfg(target_os = "linux")]
fn run_processes(group: i32) -> Vec<i32> {
    let me = std::process::id();
    let live: Vec<lease::Stat> = lease::processes()
        .into_iter()
        .filter(|p| p.state != 'Z' && p.pid != me)
        .collect();
    let mut ours: Vec<u32> = live
        .iter()
        .filter(|p| p.group == group)
        .map(|p| p.pid)
        .collect();
    ours.extend(lease::descendants(&live, me).iter().map(|p| p.pid));
    ours.sort_unstable();
    ours.dedup();
    ours.into_iter().map(|pid| pid as i32).collect()
}

#[cfg(not(target_os = "linux"))]
fn run_processes(group: i32) -> Vec<i32> {
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(-group, 0) } == 0 {
        vec![group]
    } else {
        Vec::new()
    }
}

/// Send `signal` to the agent's group and to every other process of the run.
fn signal_run(group: i32, signal: i32) {
    // SAFETY: signals to the run's own processes, found just now; no memory involved.
    unsafe { libc::kill(-group, signal) };
    for pid in run_processes(group) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Make this process the reaper of its orphaned descendants (Linux), so none escapes the run.
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Run the supervisor of `session` for the repository in `dir`; returns when the run ended.
pub fn main(dir: &Path, session: &str) -> Result<()> {
    let ws = Workspace::open(dir)?;
    // What the run changes (the session idle at its end) is shared as a command's would be.
    ws.share_automatically(true);
    let run_dir = super::run_dir(ws.local(), session);
    let start_file = start_path(&run_dir);
    let text = std::fs::read_to_string(&start_file)
        .map_err(|e| Error::failed(format!("could not read {}: {e}", start_file.display())))?;
    // Kept as what the last run was started with (`config` shows it).
    let _ = std::fs::rename(&start_file, started_path(&run_dir));
    let start: Start = serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("{} cannot be read: {e}", start_file.display())))?;
    let protocol = Protocol::parse(&start.protocol)
        .ok_or_else(|| Error::failed(format!("unknown protocol {}", start.protocol)))?;
    let provider = Provider {
        agent: start.agent.clone(),
        program: start.program.clone(),
        args: start.args.clone(),
        protocol,
    };
    become_subreaper();
    let socket = control::socket_path(ws.local().dir(), session);
    control::prepare_folder(&socket)?;
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|e| Error::failed(format!("could not listen on {}: {e}", socket.display())))?;

    let mut info = lease::read(&run_dir)?.unwrap_or_default();
    info.agent = start.agent.clone();
    info.provider = protocol.as_str().to_string();
    if start.resume.is_some() {
        info.provider_session_id = start.resume.clone();
    }
    info.supervisor = Proc::me();
    info.agent_process = None;
    info.socket = Some(socket.clone());
    info.host = crate::store::local::host_name();
    info.started = Some(Timestamp::now());
    info.run = Some(start.run.clone());
    info.waiting = false;
    info.exit_code = None;
    info.exit_signal = None;
    info.ended = None;
    lease::write(&run_dir, &info)?;
    let mut log = Log::open(&run_dir)?;

    let child = Command::new(&provider.program)
        .args(&provider.args)
        .current_dir(&start.worktree)
        .env(super::lease::MARK, session)
        .envs(
            start
                .given
                .env
                .iter()
                .filter_map(|name| Some((name, std::env::var_os(name)?))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child: Child = match child {
        Ok(child) => child,
        Err(e) => {
            let why = format!("could not start {}: {e}", provider.program);
            let _ = log.append(Body::Log { text: why.clone() });
            let _ = log.append(Body::Exited {
                code: None,
                signal: None,
            });
            crate::ops::runs::agent_ended(&ws, session);
            info.supervisor = None;
            info.socket = None;
            info.ended = Some(Timestamp::now());
            lease::write(&run_dir, &info)?;
            let _ = std::fs::remove_file(&socket);
            return Err(Error::failed(why));
        }
    };
    let pid = child.id();
    info.agent_process = Proc::of(pid);
    lease::write(&run_dir, &info)?;
    let _ = log.append(Body::Started {
        agent: provider.agent.clone(),
        provider: protocol.as_str().to_string(),
        pid,
        resumed: start.resume.clone(),
    });
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let shared = Arc::new(Shared {
        session: session.to_string(),
        run_dir: run_dir.clone(),
        log: Mutex::new((log, Vec::new())),
        stdin: Mutex::new(child.stdin.take()),
        info: Mutex::new(info),
        provider: provider.clone(),
        group: pid as i32,
        exited: AtomicBool::new(false),
        finish_after_turn: AtomicBool::new(false),
    });
    match (&start.prompt, protocol) {
        (Some(prompt), Protocol::Claude | Protocol::Command) => {
            if let Err(why) = shared.input(prompt) {
                shared.emit(Body::Log { text: why });
            }
        }
        (Some(prompt), Protocol::Codex) => shared.emit(Body::Input {
            text: prompt.clone(),
        }),
        (None, _) => {}
    }
    if !protocol.keeps_running() {
        shared.end_input();
    }

    {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || serve(&shared, listener));
    }
    if let Some(stderr) = stderr {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
            {
                shared.emit(Body::Log { text: line });
            }
        });
    }
    if let Some(limit) = start.max_runtime {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(limit));
            shared.abort(&format!("the runtime cap of {limit} s was reached"));
        });
    }

    // The agent's exit is watched apart from its output: processes it left in its group may
    // hold the output open, and would keep the run going after the agent ended.
    let waiter = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            let status = child.wait();
            stop_leftovers(&shared);
            status
        })
    };
    if let Some(stdout) = stdout {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            for body in provider.parse_line(&line) {
                on_event(&ws, &shared, &body);
                let turn_ended = matches!(body, Body::TurnFinished { .. });
                shared.emit(body);
                if turn_ended {
                    keep_transcript(&ws, &shared, false);
                }
            }
        }
    }
    let status = waiter.join();
    shared.exited.store(true, Ordering::SeqCst);
    let (code, signal) = match &status {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            (status.code(), status.signal())
        }
        _ => (None, None),
    };
    shared.emit(Body::Exited { code, signal });
    keep_transcript(&ws, &shared, true);
    // The session is idle before the run says it ended: whoever waits for the end (abort)
    // sees the session as it is now.
    crate::ops::runs::agent_ended(&ws, session);
    {
        let mut info = lock(&shared.info);
        info.supervisor = None;
        info.agent_process = None;
        info.socket = None;
        info.waiting = false;
        info.exit_code = code;
        info.exit_signal = signal;
        info.ended = Some(Timestamp::now());
    }
    shared.save();
    // Followers see the end of the stream.
    lock(&shared.log).1.clear();
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// What the supervisor does on an event of the agent, before it is logged.
fn on_event(ws: &Workspace, shared: &Shared, body: &Body) {
    match body {
        Body::ProviderSession { id } => {
            lock(&shared.info).provider_session_id = Some(id.clone());
            shared.save();
        }
        Body::TurnFinished { .. } => {
            {
                let mut info = lock(&shared.info);
                info.turns += 1;
                info.waiting = true;
            }
            shared.save();
            // A session completed or abandoned meanwhile (by the agent itself, most often)
            // ends its run once the turn is done.
            let finished = ws
                .store()
                .read::<Session>(&shared.session)
                .map(|s| !s.record.is_live())
                .unwrap_or(false);
            if finished || shared.finish_after_turn.load(Ordering::SeqCst) {
                shared.end_input();
            }
        }
        _ => {}
    }
}

/// Commit the run's finished turns (with `all`, also what is left of one) to the session's
/// transcript in git; a failure is logged, never fatal to the run.
fn keep_transcript(ws: &Workspace, shared: &Shared, all: bool) {
    if let Err(e) = crate::ops::runs::keep_transcript(ws, &shared.session, all) {
        shared.emit(Body::Log {
            text: format!("the turn was not kept in git: {e}"),
        });
    }
}

/// Serve the control socket until the run ends.
fn serve(shared: &Arc<Shared>, listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        std::thread::spawn(move || handle(&shared, stream));
    }
}

fn handle(shared: &Shared, stream: UnixStream) {
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut line = String::new();
    if BufReader::new(reader).read_line(&mut line).is_err() {
        return;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Follow { since }) => {
            follow(shared, stream, since);
            return;
        }
        Ok(Request::Input { text }) => shared.input(&text),
        Ok(Request::Abort { why }) => {
            shared.abort(&why);
            Ok(())
        }
        Ok(Request::Finish) => {
            shared.finish_after_turn.store(true, Ordering::SeqCst);
            // A command has no turns: its input ends now, and it ends when it has read it.
            if lock(&shared.info).waiting || shared.provider.protocol == Protocol::Command {
                shared.end_input();
            }
            Ok(())
        }
        Err(e) => Err(format!("not a request: {e}")),
    };
    let reply = match reply {
        Ok(()) => Reply {
            ok: true,
            error: None,
        },
        Err(error) => Reply {
            ok: false,
            error: Some(error),
        },
    };
    if let Ok(text) = serde_json::to_string(&reply) {
        let mut stream = stream;
        let _ = stream.write_all(format!("{text}\n").as_bytes());
    }
}

/// Send the events after `since`, then register the connection for every new one.
fn follow(shared: &Shared, mut stream: UnixStream, since: u64) {
    let mut guard = lock(&shared.log);
    let path = super::events::log_path(&shared.run_dir);
    let Ok(backlog) = super::events::read_since(&path, since) else {
        return;
    };
    for event in backlog {
        let Ok(line) = serde_json::to_string(&event) else {
            continue;
        };
        if stream.write_all(format!("{line}\n").as_bytes()).is_err() {
            return;
        }
    }
    if !shared.exited.load(Ordering::SeqCst) {
        guard.1.push(stream);
    }
}
