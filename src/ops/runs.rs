//! Runs of agents: start one in a session's worktree, send it input, stop it, read what it did,
//! and notice supervisors that died. The process work is in `runtime`; this module applies the
//! session rules around it (a running agent means an active session, its end an idle one).

use crate::error::{Error, Operation, Result};
use crate::lifecycle::SessionEvent;
use crate::model::{Session, SessionStatus, Timestamp};
use crate::ops::launchers;
use crate::ops::sessions::{self, resolve_session};
use crate::runtime::events::{self, Body, Event};
use crate::runtime::lease::{self, RunInfo, RunState};
use crate::runtime::supervisor::{self, Given, Start};
use crate::runtime::{control, provider, run_dir};
use crate::store::Mode;
use crate::workspace::Workspace;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `start` is asked to do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StartRequest {
    /// The session: id, unique prefix or branch.
    pub session: String,
    /// The input of the first turn (default: the session's prompt, for a first run).
    pub prompt: Option<String>,
    /// Stop the run after this many seconds.
    pub max_runtime: Option<u64>,
    /// A launcher preset (`[launchers.NAME]`): its arguments, model, tools, runtime cap and
    /// prompt template, under what is given here (its agent and role are a launch's: a run is
    /// of the session's agent).
    pub launcher: Option<String>,
    /// Instructions added to the ones pm builds from the session's issue.
    pub system_prompt: Option<String>,
    /// Names of variables of pm's environment the agent must get (each must be set).
    pub env: Vec<String>,
    /// Shell commands run in the worktree before the agent starts, in order; the first that
    /// fails stops the start. Never kept: they come from the request alone.
    pub bootstrap: Vec<String>,
    /// Tools the agent may use without asking, beside pm's own (claude agents).
    pub tools: Vec<String>,
    /// Who asks for the run (kept with what the run was started with).
    pub actor: Option<String>,
    /// Free text context for the agent's instructions, a piece each; a piece that names an
    /// issue must name the session's own, and adds nothing.
    pub context: Vec<String>,
}

/// A session's run as this clone sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub state: RunState,
    /// The agent waits for input between turns.
    pub waiting: bool,
    /// The agent's pid and its supervisor's, while it runs.
    pub pid: Option<u32>,
    pub supervisor_pid: Option<u32>,
    pub agent: Option<String>,
    pub provider: Option<String>,
    pub provider_session_id: Option<String>,
    pub exit_code: Option<i32>,
    /// The signal that ended the agent, when one did.
    pub exit_signal: Option<i32>,
    pub turns: u32,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    /// The sequence number of the last event.
    pub last_event: u64,
}

impl RunView {
    fn of(info: Option<&RunInfo>, last_event: u64) -> RunView {
        let state = info.map_or(RunState::None, RunInfo::state);
        let running = state == RunState::Running;
        RunView {
            state,
            waiting: running && info.is_some_and(|i| i.waiting),
            pid: info
                .filter(|_| running)
                .and_then(|i| i.agent_process)
                .map(|p| p.pid),
            supervisor_pid: info
                .filter(|_| running)
                .and_then(|i| i.supervisor)
                .map(|p| p.pid),
            agent: info.map(|i| i.agent.clone()),
            provider: info.map(|i| i.provider.clone()),
            provider_session_id: info.and_then(|i| i.provider_session_id.clone()),
            exit_code: info.and_then(|i| i.exit_code),
            exit_signal: info.and_then(|i| i.exit_signal),
            turns: info.map_or(0, |i| i.turns),
            started: info.and_then(|i| i.started),
            ended: info.and_then(|i| i.ended),
            last_event,
        }
    }
}

/// The run of session `id` (a full id) in this clone.
pub fn view(ws: &Workspace, id: &str) -> RunView {
    let dir = run_dir(ws.local(), id);
    let info = lease::read(&dir).ok().flatten();
    let last = last_seq(ws, id);
    RunView::of(info.as_ref(), last)
}

fn last_seq(ws: &Workspace, id: &str) -> u64 {
    let path = events::log_path(&run_dir(ws.local(), id));
    events::last_seq(&path).unwrap_or(0)
}

/// How long `start` waits for the supervisor to report the agent started.
const START_WAIT: Duration = Duration::from_secs(10);

/// Start the agent of a session of this clone in its worktree: a new run with `prompt` as
/// its first input (a first run without one takes the session's prompt), continuing the
/// provider thread of an earlier run. The session becomes active.
pub fn start(ws: &Workspace, request: &StartRequest) -> Result<RunView> {
    let id = resolve_session(ws, &request.session)?;
    let session = ws.store().read::<Session>(&id)?.record;
    check_runnable(ws, &session)?;
    let dir = run_dir(ws.local(), &id);
    let before = lease::read(&dir)?;
    if before.as_ref().map(RunInfo::state) == Some(RunState::Running) {
        return Err(Error::invalid(format!(
            "the agent of session {id} is already running; send it input instead"
        )));
    }
    let Checked {
        preset,
        provider,
        tools,
        max_runtime,
    } = check(ws, &session.agent, request)?;
    let worktree = match ws.local().session(&id) {
        Some(note) if note.worktree.is_dir() => note.worktree,
        _ => {
            return Err(Error::invalid(format!(
                "the worktree of session {id} is not here; resume the session first"
            ))
            .step(Operation::TakeOver, &id, "makes it here"));
        }
    };
    let resume = before.as_ref().and_then(|i| i.provider_session_id.clone());
    // The issue and how to finish go into the agent's instructions, kept beside the run so
    // that they can be read back.
    let issue = match &session.issue {
        Some(issue) => ws
            .store()
            .read::<crate::model::Issue>(issue)
            .ok()
            .map(|i| i.record),
        None => None,
    };
    let mut pieces = Vec::new();
    for text in &request.context {
        match crate::ops::issues::find(ws, text)? {
            Some(named) if session.issue.as_deref() == Some(named.as_str()) => {}
            Some(named) => {
                return Err(Error::usage(format!(
                    "{text:?} names issue {named}, but session {id} works on {}",
                    session.issue.as_deref().unwrap_or("no issue")
                )));
            }
            None if text.trim().is_empty() => {}
            None => pieces.push(text.trim()),
        }
    }
    let context = (!pieces.is_empty()).then(|| pieces.join("\n"));
    let system = instructions(
        issue.as_ref(),
        &session.role,
        context.as_deref(),
        request.system_prompt.as_deref(),
    );
    let fill = launchers::Fill {
        issue: issue.as_ref(),
        role: &session.role,
        prompt: "",
    };
    let template = preset.as_ref().filter(|p| p.prompt.is_some());
    let prompt = match (&request.prompt, &resume, template) {
        (Some(prompt), _, Some(preset)) => Some(preset.shape(prompt, fill)?),
        (Some(prompt), _, None) => Some(prompt.clone()),
        (None, None, _) if !session.prompt.trim().is_empty() => Some(session.prompt.clone()),
        (None, _, Some(preset)) => Some(preset.shape("", fill)?),
        (None, None, None) if issue.is_some() => {
            Some("Work on the issue in your instructions.".into())
        }
        (None, _, None) => None,
    };
    if prompt.is_none() && provider.protocol == provider::Protocol::Codex {
        return Err(Error::usage(format!(
            "agent {} needs a prompt for each run",
            provider.agent
        )));
    }
    let pm = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the pm program itself: {e}")))?;
    // A sandboxed agent (codex) must be able to write the worktree's git folders to commit.
    let git_dirs = match provider.protocol {
        provider::Protocol::Codex => git_dirs(&worktree)?,
        _ => Vec::new(),
    };
    let model = preset.as_ref().and_then(|p| p.model.clone());
    let args = provider.arguments(&provider::Invocation {
        prompt: prompt.as_deref().unwrap_or_default(),
        system: system.as_deref(),
        resume: resume.as_deref(),
        pm: &pm,
        git_dirs: &git_dirs,
        model: model.as_deref(),
        tools: &tools,
    });
    let run = crate::model::new_id();
    let start = Start {
        run: run.clone(),
        agent: provider.agent.clone(),
        program: provider.program.clone(),
        args,
        protocol: provider.protocol.as_str().to_string(),
        prompt,
        resume,
        max_runtime,
        worktree: worktree.clone(),
        given: Given {
            launcher: preset.as_ref().map(|p| p.name.clone()),
            model,
            tools,
            env: request.env.clone(),
            system_prompt: system.clone(),
            actor: request.actor.clone(),
            context,
        },
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::failed(format!("could not create {}: {e}", dir.display())))?;
    if !request.bootstrap.is_empty()
        && let Err(e) = bootstrap(&dir, &id, &worktree, &request.bootstrap, max_runtime)
    {
        // Nothing runs: a session made active for this run (by its launch) is idle again.
        if session.status == SessionStatus::Active {
            let _ = sessions::agent_exited(ws, &id);
        }
        return Err(e);
    }
    let system_file = dir.join("system-prompt.txt");
    match &system {
        Some(system) => crate::store::local::write_atomic(&system_file, system)?,
        None => {
            let _ = std::fs::remove_file(&system_file);
        }
    }
    let text = serde_json::to_string(&start)
        .map_err(|e| Error::failed(format!("cannot encode the start request: {e}")))?;
    crate::store::local::write_atomic(&supervisor::start_path(&dir), &text)?;
    if session.status == SessionStatus::Idle {
        sessions::resume_for_run(ws, &id)?;
    }
    spawn_supervisor(ws, &id)?;
    wait_started(ws, &id, &run)
}

/// The git folders a commit in `worktree` writes: its own (`.git/worktrees/NAME` for a linked
/// worktree) and the repository's common one, absolute.
fn git_dirs(worktree: &std::path::Path) -> Result<Vec<PathBuf>> {
    let repo = crate::git::open::open_repository(worktree)?;
    let mut dirs = Vec::new();
    for dir in [repo.git_dir(), repo.common_dir()] {
        let dir = dir.canonicalize().map_err(|e| {
            Error::failed(format!(
                "cannot find the git folder {} of the worktree {}: {e}",
                dir.display(),
                worktree.display()
            ))
        })?;
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// The instructions of a run: the issue and how to finish, the session's role, the context
/// and the instructions the asker gave, in that order.
fn instructions(
    issue: Option<&crate::model::Issue>,
    role: &str,
    context: Option<&str>,
    extra: Option<&str>,
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(issue.map(provider::system_prompt));
    if !role.trim().is_empty() {
        parts.push(format!("Your role in this session: {}\n", role.trim()));
    }
    if let Some(context) = context {
        parts.push(format!("Context from the requester: {context}\n"));
    }
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        parts.push(extra.to_string());
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// A start request checked against the agent it would run, with the preset applied.
struct Checked {
    preset: Option<launchers::Preset>,
    provider: provider::Provider,
    tools: Vec<String>,
    max_runtime: Option<u64>,
}

fn check(ws: &Workspace, agent: &str, request: &StartRequest) -> Result<Checked> {
    let preset = match &request.launcher {
        Some(name) => Some(launchers::resolve(ws, name)?),
        None => None,
    };
    let mut provider = provider::resolve(ws.config()?, agent)?;
    let mut tools = request.tools.clone();
    if let Some(preset) = &preset {
        provider.args.extend(preset.args.iter().cloned());
        for tool in &preset.tools {
            if !tools.contains(tool) {
                tools.push(tool.clone());
            }
        }
    }
    launchers::check_tools(&tools)?;
    if !tools.is_empty() && provider.protocol != provider::Protocol::Claude {
        return Err(Error::usage(format!(
            "agent {agent} speaks the {} protocol, which takes no allowed tools; only claude \
             agents do",
            provider.protocol.as_str()
        )));
    }
    check_env_names(&request.env)?;
    if let Some(text) = &request.system_prompt {
        crate::model::session::check_text("system prompt", text)?;
    }
    crate::model::session::check_text("context", &request.context.join("\n"))?;
    if let Some(actor) = &request.actor {
        crate::model::session::check_name("actor", actor)?;
    }
    if let Some(command) = request
        .bootstrap
        .iter()
        .find(|c| c.trim().is_empty() || c.contains('\0'))
    {
        return Err(Error::usage(format!(
            "the bootstrap command {command:?} is empty or holds a NUL character"
        )));
    }
    let max_runtime = request
        .max_runtime
        .or(preset.as_ref().and_then(|p| p.max_runtime));
    if max_runtime == Some(0) {
        return Err(Error::usage("the runtime cap must be at least 1 second"));
    }
    Ok(Checked {
        preset,
        provider,
        tools,
        max_runtime,
    })
}

/// Names of environment variables to pass: each a valid name, set in pm's environment, and
/// not the one pm marks an agent's processes with.
fn check_env_names(names: &[String]) -> Result<()> {
    for name in names {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::usage(format!(
                "{name:?} is not an environment variable name (letters, digits and _, not \
                 starting with a digit)"
            )));
        }
        if name == crate::runtime::lease::MARK {
            return Err(Error::usage(format!(
                "{name} is pm's own mark of an agent's processes; it cannot be passed"
            )));
        }
        if std::env::var_os(name).is_none() {
            return Err(Error::usage(format!(
                "environment variable {name} is not set in pm's environment, so there is \
                 nothing to pass to the agent"
            )));
        }
    }
    Ok(())
}

/// Check a start request before a launch that is to start agent `agent` (default: the
/// configured one), so that a launch is not left behind for a run that cannot start.
pub fn check_request(ws: &Workspace, agent: Option<&str>, request: &StartRequest) -> Result<()> {
    let config = ws.config()?;
    check(ws, agent.unwrap_or(&config.agent), request).map(|_| ())
}

/// [`check_request`] for a run of session `session` (id, unique prefix or branch), before
/// anything is changed for it (a restart).
pub fn check_request_for(ws: &Workspace, session: &str, request: &StartRequest) -> Result<()> {
    let id = resolve_session(ws, session)?;
    let agent = ws.store().read::<Session>(&id)?.record.agent;
    check(ws, &agent, request).map(|_| ())
}

/// How many lines of a bootstrap command's output go to the run log.
const BOOTSTRAP_LINES: usize = 1000;

/// Run the bootstrap commands of a start in the worktree, one after the other, each with its
/// output (both streams, in a file of the run folder while it runs) turned into log events.
/// The first that fails, or outlives the runtime cap, stops the start with an event naming
/// it. No supervisor runs yet, so this is the log's one writer.
fn bootstrap(
    dir: &std::path::Path,
    id: &str,
    worktree: &std::path::Path,
    commands: &[String],
    limit: Option<u64>,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let mut log = events::Log::open(dir)?;
    let out = dir.join("bootstrap.out");
    let until = limit.map(|secs| Instant::now() + Duration::from_secs(secs));
    for command in commands {
        log.append(Body::Log {
            text: format!("bootstrap: $ {command}"),
        })?;
        let file = std::fs::File::create(&out)
            .map_err(|e| Error::failed(format!("could not create {}: {e}", out.display())))?;
        let err = file
            .try_clone()
            .map_err(|e| Error::failed(format!("could not open {}: {e}", out.display())))?;
        let mut output = OutputTail::open(&out)?;
        let child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .current_dir(worktree)
            .env(crate::runtime::lease::MARK, id)
            .stdin(std::process::Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0)
            .spawn();
        let failure = match child {
            Err(e) => Some(format!("could not be started: {e}")),
            Ok(mut child) => loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => break None,
                    Ok(Some(status)) => {
                        use std::os::unix::process::ExitStatusExt;
                        break Some(match (status.code(), status.signal()) {
                            (Some(code), _) => format!("failed with exit status {code}"),
                            (None, Some(signal)) => format!("was ended by signal {signal}"),
                            (None, None) => "failed".to_string(),
                        });
                    }
                    Ok(None) if until.is_some_and(|u| Instant::now() > u) => {
                        // SAFETY: signals the command's own process group, made just now.
                        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                        let _ = child.wait();
                        break Some(format!(
                            "did not finish within the runtime cap of {} s",
                            limit.unwrap_or_default()
                        ));
                    }
                    Ok(None) => {
                        // What it has written so far is in the log while it runs.
                        output.pump(&mut log, false)?;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => break Some(format!("could not be waited for: {e}")),
                }
            },
        };
        output.pump(&mut log, true)?;
        let _ = std::fs::remove_file(&out);
        if let Some(how) = failure {
            let why = format!("the bootstrap command `{command}` {how}; the agent was not started");
            log.append(Body::Log { text: why.clone() })?;
            return Err(Error::failed(why));
        }
    }
    Ok(())
}

/// The output file of a bootstrap command, read as it grows: each whole line becomes a log
/// event (the first [`BOOTSTRAP_LINES`] of them; then how many more there were).
struct OutputTail {
    file: std::fs::File,
    path: PathBuf,
    /// Bytes read that do not end a line yet.
    partial: Vec<u8>,
    lines: usize,
}

impl OutputTail {
    fn open(path: &std::path::Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::failed(format!("could not open {}: {e}", path.display())))?;
        Ok(OutputTail {
            file,
            path: path.to_path_buf(),
            partial: Vec::new(),
            lines: 0,
        })
    }

    /// Log the whole lines written since the last call; at the `end`, the rest too.
    fn pump(&mut self, log: &mut events::Log, end: bool) -> Result<()> {
        use std::io::Read;
        let mut read = Vec::new();
        self.file
            .read_to_end(&mut read)
            .map_err(|e| Error::failed(format!("could not read {}: {e}", self.path.display())))?;
        self.partial.extend_from_slice(&read);
        let mut start = 0;
        while let Some(at) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(&self.partial[start..start + at]).into_owned();
            self.line(log, &line)?;
            start += at + 1;
        }
        self.partial.drain(..start);
        // A line that never ends is logged in pieces.
        if self.partial.len() > 64 * 1024 {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.line(log, &line)?;
            self.partial.clear();
        }
        if end {
            if !self.partial.is_empty() {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.line(log, &line)?;
                self.partial.clear();
            }
            if self.lines > BOOTSTRAP_LINES {
                log.append(Body::Log {
                    text: format!("({} more lines)", self.lines - BOOTSTRAP_LINES),
                })?;
            }
        }
        Ok(())
    }

    fn line(&mut self, log: &mut events::Log, line: &str) -> Result<()> {
        self.lines += 1;
        if self.lines <= BOOTSTRAP_LINES {
            let line = line.strip_suffix('\r').unwrap_or(line);
            log.append(Body::Log {
                text: provider::shortened(line),
            })?;
        }
        Ok(())
    }
}

/// A session may run its agent here when this clone owns it and it is live.
fn check_runnable(ws: &Workspace, session: &Session) -> Result<()> {
    if session.is_purged() {
        return Err(Error::invalid(format!("session {} was purged", session.id)));
    }
    if !ws.owns(session) {
        return Err(Error::invalid(format!(
            "session {} belongs to another clone; its agent runs there",
            session.id
        ))
        .step(Operation::TakeOver, &session.id, "takes it over"));
    }
    if !session.is_live() {
        return Err(Error::invalid(format!(
            "session {} is {}; restart it to run its agent again",
            session.id,
            session.status.as_str()
        )));
    }
    Ok(())
}

/// Launch a session and, with `run`, start its agent: the one path of every front end. A
/// launcher preset (`settings.launcher`) fills what the request leaves out; with `run` the
/// run's settings are checked before anything is made, and an agent that does not start once
/// the session exists is said in the warnings (the session stays launched).
pub fn launch(
    ws: &Workspace,
    mut request: sessions::LaunchRequest,
    mut settings: StartRequest,
    run: bool,
    mode: Mode,
) -> Result<sessions::Launched> {
    if let Some(name) = &settings.launcher {
        launchers::resolve(ws, name)?.fill_launch(ws, &mut request)?;
    }
    if run {
        check_request(ws, request.agent.as_deref(), &settings)?;
    }
    let mut launched = sessions::launch(ws, request, mode)?;
    if run && mode == Mode::Write {
        settings.session = launched.session.id.clone();
        match start(ws, &settings) {
            Ok(run) => launched.run = Some(run),
            Err(e) => launched
                .warnings
                .push(format!("the agent did not start: {}", e.message())),
        }
    }
    Ok(launched)
}

/// The file of a run's folder that holds what its supervisor wrote on stderr.
const SUPERVISOR_ERRORS: &str = "supervisor.err";

/// The last line the supervisor of the run in `dir` wrote on stderr, if any.
fn supervisor_said(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read(dir.join(SUPERVISOR_ERRORS)).ok()?;
    let text = String::from_utf8_lossy(&text);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(
        crate::render::clean_line(line.trim())
            .chars()
            .take(300)
            .collect(),
    )
}

/// Start `pm __supervise ID` detached: its own session, no terminal, no inherited stdio
/// (stderr into the run folder).
fn spawn_supervisor(ws: &Workspace, id: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let pm = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the pm program itself: {e}")))?;
    let main = ws.main_workdir()?;
    // What the supervisor says on stderr (a panic, an error it could not log) is kept in the
    // run folder, so that a run that died says why.
    let stderr = std::fs::File::create(run_dir(ws.local(), id).join(SUPERVISOR_ERRORS))
        .map(std::process::Stdio::from)
        .unwrap_or_else(|_| std::process::Stdio::null());
    let mut command = std::process::Command::new(pm);
    command
        .args(["__supervise", id])
        // The supervisor itself is no process of another session's run (pm may be started
        // from inside one): only its agent gets the mark.
        .env_remove(crate::runtime::lease::MARK)
        .current_dir(main)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::failed(format!("could not start the agent's supervisor: {e}")))?;
    // Reaped by a thread so that it never lingers as a zombie of a long-lived pm (MCP).
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Wait until the run `run` has its agent running, or ended.
fn wait_started(ws: &Workspace, id: &str, run: &str) -> Result<RunView> {
    let dir = run_dir(ws.local(), id);
    let until = Instant::now() + START_WAIT;
    loop {
        let info = lease::read(&dir)?;
        if let Some(info) = &info
            && info.run.as_deref() == Some(run)
            && (info.agent_process.is_some() || info.ended.is_some())
        {
            if info.ended.is_some() && info.agent_process.is_none() {
                let why = events::read_since(&events::log_path(&dir), 0)?
                    .into_iter()
                    .rev()
                    .find_map(|e| match e.body {
                        Body::Log { text } => Some(text),
                        _ => None,
                    })
                    .unwrap_or_else(|| "the agent did not start".into());
                return Err(Error::failed(why));
            }
            return Ok(view(ws, id));
        }
        if Instant::now() > until {
            return Err(Error::failed(format!(
                "the agent of session {id} did not start within {} s",
                START_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What `send` did.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    /// A new run was started with the text as its input (no agent was running).
    pub started: bool,
    pub run: RunView,
}

/// Send `text` to the running agent of a session, or start a new turn with it.
pub fn send(ws: &Workspace, session: &str, text: &str) -> Result<Sent> {
    if text.trim().is_empty() {
        return Err(Error::usage("the input is empty"));
    }
    let id = resolve_session(ws, session)?;
    let info = lease::read(&run_dir(ws.local(), &id))?;
    if let Some(info) = &info
        && info.state() == RunState::Running
        && let Some(socket) = &info.socket
    {
        let reply = control::send(
            socket,
            &control::Request::Input {
                text: text.to_string(),
            },
        )?;
        if let Some(error) = reply.error {
            return Err(Error::invalid(error));
        }
        return Ok(Sent {
            started: false,
            run: view(ws, &id),
        });
    }
    let run = start(
        ws,
        &StartRequest {
            session: id,
            prompt: Some(text.to_string()),
            ..StartRequest::default()
        },
    )?;
    Ok(Sent { started: true, run })
}

/// How long `abort` waits for the run to end.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// Stop the running agent of a session (its whole process group); the session becomes idle.
pub fn abort(ws: &Workspace, session: &str) -> Result<RunView> {
    let id = resolve_session(ws, session)?;
    stop(ws, &id, "aborted on request")?;
    Ok(view(ws, &id))
}

/// Stop the run of session `id` if one is alive, and wait for it to end.
fn stop(ws: &Workspace, id: &str, why: &str) -> Result<()> {
    let dir = run_dir(ws.local(), id);
    let Some(info) = lease::read(&dir)? else {
        return Err(Error::invalid(format!(
            "session {id} has no agent running here"
        )));
    };
    if info.state() != RunState::Running {
        return Err(Error::invalid(format!(
            "the agent of session {id} is not running"
        )));
    }
    let reached = info.socket.as_ref().is_some_and(|socket| {
        control::send(
            socket,
            &control::Request::Abort {
                why: why.to_string(),
            },
        )
        .is_ok()
    });
    if !reached {
        if let Some(agent) = info.agent_process.filter(|p| p.owns_its_group()) {
            // SAFETY: signals to the agent's own process group, named by a live pid.
            unsafe { libc::kill(-(agent.pid as i32), libc::SIGKILL) };
        }
        crate::runtime::lease::kill_marked(id);
    }
    let until = Instant::now() + ABORT_WAIT;
    while lease::read(&dir)?.is_some_and(|i| i.state() == RunState::Running) {
        if Instant::now() > until {
            return Err(Error::failed(format!(
                "the agent of session {id} did not stop within {} s",
                ABORT_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A session's status changed: a run that must not go on is told so. Idle (pause) and
/// abandoned stop the agent at once; completed lets it finish its turn.
pub fn session_closed(ws: &Workspace, id: &str, event: SessionEvent) -> Option<String> {
    let info = lease::read(&run_dir(ws.local(), id)).ok().flatten()?;
    if info.state() != RunState::Running {
        return None;
    }
    let socket = info.socket.clone()?;
    let request = match event {
        SessionEvent::Complete => control::Request::Finish,
        _ => control::Request::Abort {
            why: match event {
                SessionEvent::Abandon => "the session was abandoned".to_string(),
                _ => "the session was paused (closed as idle)".to_string(),
            },
        },
    };
    // The agent closing its own session calls this from inside its run: never wait for it.
    match control::send(&socket, &request) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the agent of session {id} was not told to stop: {e}"
        )),
    }
}

/// The events of a session's runs after `since`, and the sequence number to ask from next.
pub fn events(ws: &Workspace, session: &str, since: u64) -> Result<(String, Vec<Event>, u64)> {
    let id = resolve_session(ws, session)?;
    let path = events::log_path(&run_dir(ws.local(), &id));
    let list = events::read_since(&path, since)?;
    let next = list.last().map_or(since, |e| e.seq);
    Ok((id, list, next))
}

/// Where to follow the run of session `id`, while it runs.
pub fn follow_socket(ws: &Workspace, id: &str) -> Option<PathBuf> {
    let info = lease::read(&run_dir(ws.local(), id)).ok().flatten()?;
    (info.state() == RunState::Running)
        .then_some(info.socket)
        .flatten()
}

/// The supervisor of session `id` ended its run: an active session becomes idle.
pub fn agent_ended(ws: &Workspace, id: &str) {
    let _ = sessions::agent_exited(ws, id);
}

/// Runs of this clone whose supervisor is gone without having ended them: each gets a "died"
/// event and its session becomes idle. Returns what was done, as warnings.
pub fn reap_dead(ws: &Workspace, mode: Mode) -> Vec<String> {
    let root = ws.local().dir().join("run");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut said = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        let Ok(Some(mut info)) = lease::read(&dir) else {
            continue;
        };
        if info.state() != RunState::Dead {
            continue;
        }
        said.push(format!(
            "the agent supervisor of session {id} died; the session is idle"
        ));
        if mode == Mode::DryRun {
            continue;
        }
        // The orphaned agent's group, also when the agent itself is gone but left processes.
        if let Some(agent) = info.agent_process.filter(|p| p.owns_its_group()) {
            // SAFETY: signals the agent's own process group; no memory involved.
            unsafe { libc::kill(-(agent.pid as i32), libc::SIGKILL) };
        }
        // What the agent started in groups and sessions of their own (Claude Code's shell
        // commands) was reparented away from the dead supervisor: found by the session mark.
        crate::runtime::lease::kill_marked(&id);
        if let Some(socket) = &info.socket {
            let _ = std::fs::remove_file(socket);
        }
        let why = match supervisor_said(&dir) {
            Some(said) => format!("the supervisor was gone; it last said: {said}"),
            None => "the supervisor was gone (killed, or the machine stopped)".to_string(),
        };
        if let Ok(mut log) = events::Log::open(&dir) {
            let _ = log.append(Body::Died { why: why.clone() });
        }
        if let Err(e) = keep_transcript(ws, &id, true) {
            said.push(format!(
                "what the agent of session {id} did was not kept in git: {e}"
            ));
        }
        info.supervisor = None;
        info.agent_process = None;
        info.socket = None;
        info.waiting = false;
        info.ended = Some(Timestamp::now());
        let _ = lease::write(&dir, &info);
        let _ = sessions::agent_exited(ws, &id);
    }
    said
}

/// The instructions the agent of session `id` was last started with, if any.
pub fn system_prompt(ws: &Workspace, id: &str) -> Option<String> {
    std::fs::read_to_string(run_dir(ws.local(), id).join("system-prompt.txt")).ok()
}

/// What the last run of session `id` was started with (program, arguments, prompt, thread).
pub fn started_with(ws: &Workspace, id: &str) -> Option<Start> {
    let text = std::fs::read_to_string(supervisor::started_path(&run_dir(ws.local(), id))).ok()?;
    serde_json::from_str(&text).ok()
}

/// Every event of a session's runs, oldest first.
pub fn all_events(ws: &Workspace, id: &str) -> Vec<Event> {
    events::read_since(&events::log_path(&run_dir(ws.local(), id)), 0).unwrap_or_default()
}

/// The file that says up to which event a session's turns are kept in git.
fn kept_path(dir: &std::path::Path) -> PathBuf {
    dir.join("kept")
}

/// Commit the turns of session `id`'s runs that are not in git yet, each one commit of
/// `refs/pm/runs/<id>`. Only whole turns (ended by the agent) unless `all`, which also keeps
/// what is left of a turn the run ended in the middle of. Returns how many turns were kept.
pub fn keep_transcript(ws: &Workspace, id: &str, all: bool) -> Result<usize> {
    use crate::runtime::transcript::{RunFacts, condense};
    let dir = run_dir(ws.local(), id);
    let kept = kept_path(&dir);
    let since = std::fs::read_to_string(&kept)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let events = events::read_since(&events::log_path(&dir), since)?;
    let end = if all {
        events.len()
    } else {
        events
            .iter()
            .rposition(|e| matches!(e.body, Body::TurnFinished { .. }))
            .map_or(0, |at| at + 1)
    };
    let Some(last) = events[..end].last().map(|e| e.seq) else {
        return Ok(0);
    };
    let info = lease::read(&dir)?.unwrap_or_default();
    let facts = RunFacts {
        session: id,
        agent: &info.agent,
        provider_session: info.provider_session_id.as_deref(),
    };
    let mut count = 0;
    for turn in events[..end]
        .split_inclusive(|e| matches!(e.body, Body::TurnFinished { .. }))
        .filter_map(|events| condense(events, &facts))
    {
        ws.store().append_turn(&turn)?;
        count += 1;
    }
    crate::store::local::write_atomic(&kept, &last.to_string())?;
    Ok(count)
}

/// The turns of session `id` kept in git (from every clone that ran it), oldest first.
pub fn transcript(
    ws: &Workspace,
    session: &str,
) -> Result<(String, Vec<crate::model::transcript::Turn>)> {
    let id = resolve_session(ws, session)?;
    let turns = ws.store().transcript(&id)?;
    Ok((id, turns))
}
