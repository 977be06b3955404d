//! The `pm_session` and `pm_close_agent` tools: one action per session operation.

use super::definitions::{DEFAULT_LIST_LIMIT, SESSION_ACTIONS};
use super::tools::{Args, Reply};
use crate::api;
use crate::error::{Error, Result, Setting};
use crate::lifecycle::SessionEvent;
use crate::model::{Choice, SessionStatus};
use crate::ops::runs::{self, StartRequest};
use crate::ops::sessions::{
    self, CloseRequest, LaunchRequest, ListRequest, Located, MergeRequest, PurgeRequest,
    ReactivateRequest, ReconcileRequest, Strategy,
};
use crate::store::{Event, Mode};
use crate::workspace::Workspace;
use serde_json::json;
use std::path::Path;

pub(super) fn session(ws: &Workspace, args: &Args) -> Reply {
    let action = args.required("action")?;
    let id = || args.required("sessionUlid");
    match action {
        "list" => {
            let mut request = ListRequest {
                issue: args.str("contextRef")?.map(str::to_string),
                limit: Some(args.limit()?.unwrap_or(DEFAULT_LIST_LIMIT)),
                ..ListRequest::default()
            };
            match args.str("status")? {
                None => {}
                Some("all") => request.all = true,
                Some(text) => {
                    let status = SessionStatus::parse(text).ok_or_else(|| {
                        Error::usage(format!(
                            "argument status must be active, idle, completed, abandoned or all, not {text:?}"
                        ))
                    })?;
                    request.statuses = vec![status];
                }
            }
            // As `agent list`: sessions whose worktree is gone show as abandoned.
            let reconciled = sessions::reconcile(ws, &ReconcileRequest::default(), Mode::Write)?;
            let list = sessions::list(ws, &request)?;
            let mut lines: Vec<String> = reconciled
                .abandoned
                .iter()
                .map(|s| {
                    format!(
                        "warning: session {} was abandoned: its worktree is gone",
                        s.id
                    )
                })
                .chain(reconciled.warnings.iter().map(|w| format!("warning: {w}")))
                .collect();
            if list.sessions.is_empty() {
                lines.push("No sessions.".to_string());
            }
            lines.extend(list.sessions.iter().map(|v| {
                format!(
                    "{} {} {} {}",
                    v.session.id,
                    v.session.status.as_str(),
                    v.session.branch,
                    v.session.issue.as_deref().unwrap_or("-")
                )
            }));
            if list.total > list.sessions.len() {
                lines.push(format!(
                    "({} more; pass a larger limit to see them)",
                    list.total - list.sessions.len()
                ));
            }
            Ok((lines.join("\n"), api::value(&api::SessionList::new(&list))?))
        }
        "get" | "spec" => {
            let details = sessions::show(ws, id()?)?;
            let started = runs::started_with(ws, &details.view.session.id);
            let mut view = api::SessionShow::new(&details);
            if action == "spec" {
                view = view.with_record(&details).with_started(started.as_ref());
            }
            let s = &details.view.session;
            let text = format!(
                "Session {} on {}: {}{}",
                s.id,
                s.branch,
                s.status.as_str(),
                details
                    .view
                    .worktree
                    .as_ref()
                    .map(|w| format!(", worktree {}", w.display()))
                    .unwrap_or_default()
            );
            Ok((text, api::value(&view)?))
        }
        "events" => {
            let (id, events) = sessions::events(ws, id()?)?;
            let run_events = runs::all_events(ws, &id);
            let view = api::SessionEvents {
                id: &id,
                events: &events,
                run_events: &run_events,
            };
            Ok((events_text(&events, &run_events), api::value(&view)?))
        }
        "transcript" => {
            let (id, turns) = runs::transcript(ws, id()?)?;
            let text = format!("{} turns of session {id} kept in git", turns.len());
            Ok((
                text,
                api::value(&api::Transcript {
                    id: &id,
                    turns: &turns,
                })?,
            ))
        }
        "prompt" => {
            let s = sessions::show(ws, id()?)?.view.session;
            let system = runs::system_prompt(ws, &s.id);
            let started = runs::started_with(ws, &s.id);
            let view = api::SessionPrompt {
                id: &s.id,
                prompt: &s.prompt,
                system_prompt: system.as_deref(),
                input: started.as_ref().and_then(|s| s.prompt.as_deref()),
            };
            Ok((s.prompt.clone(), api::value(&view)?))
        }
        "config" => {
            let s = sessions::show(ws, id()?)?.view.session;
            let started = runs::started_with(ws, &s.id);
            Ok((
                format!("agent {} on {} from {}", s.agent, s.branch, s.base_ref),
                api::value(&api::SessionConfig::new(&s, started.as_ref()))?,
            ))
        }
        "launch_task" | "start" => {
            // taskKey and contextRef: an issue when they name one, else context for the agent.
            let mut issue: Option<String> = None;
            let mut context = Vec::new();
            for key in ["taskKey", "contextRef"] {
                let Some(text) = args.str(key)? else { continue };
                match crate::ops::issues::find(ws, text)? {
                    Some(id) if issue.as_ref().is_some_and(|i| *i != id) => {
                        return Err(Error::usage(
                            "taskKey and contextRef name two different issues",
                        ));
                    }
                    Some(id) => issue = Some(id),
                    None => context.push((key, text.to_string())),
                }
            }
            if issue.is_none()
                && args.str("branch")?.is_none()
                && let Some((key, text)) = context.first()
            {
                return Err(Error::usage(format!(
                    "{key} {text:?} names no issue; give a branch to launch a session with it \
                     as context"
                ))
                .hint(Setting::Branch, ""));
            }
            let request = LaunchRequest {
                issue,
                branch: args.str("branch")?.map(str::to_string),
                base: args.str("base")?.map(str::to_string),
                agent: agent_argument(args)?,
                prompt: args.str("prompt")?.unwrap_or_default().to_string(),
                role: args.str("role")?.unwrap_or_default().to_string(),
                force: args.bool("force")?,
                actor: args.str("actor")?.map(str::to_string),
            };
            let mut start = start_request(args)?;
            start.context = context.iter().map(|(_, text)| text.clone()).collect();
            let mode = args.mode()?;
            // The agent runs unless asked not to (`start` always runs it).
            let run = action == "start" || args.bool_or("run", true)?;
            // The same idempotency key answers with the session it made the first time.
            let key = args.str("clientRequestId")?;
            if let Some(key) = key {
                if key.is_empty() || key.len() > 200 || key.contains(['\n', '\r']) {
                    return Err(Error::usage(
                        "argument clientRequestId must be one line of 1 to 200 characters",
                    ));
                }
                if let Some(id) = ws.local().request_session(key) {
                    let launched = sessions::launched_before(ws, &id)?;
                    return Ok((
                        format!("Session {id} was launched for this request before"),
                        api::value(&api::Launch::new(&launched, mode))?,
                    ));
                }
            }
            ws.skip_hooks(args.bool("noHooks")?);
            let mut launched = runs::launch(ws, request, start, run, mode)?;
            if let Some(key) = key
                && mode == Mode::Write
                && let Err(e) = ws.local().remember_request(key, &launched.session.id)
            {
                launched
                    .warnings
                    .push(format!("the request key was not noted: {}", e.message()));
            }
            for (key, text) in &context {
                launched.warnings.push(if run {
                    format!("{key} {text:?} names no issue; the agent is given it as context")
                } else {
                    format!("{key} {text:?} names no issue, and no agent was started to give it to")
                });
            }
            let s = &launched.session;
            let verb = match (mode == Mode::DryRun, launched.resumed) {
                (true, false) => "Would launch",
                (true, true) => "Would resume",
                (false, false) => "Launched",
                (false, true) => "Resumed",
            };
            Ok((
                format!(
                    "{verb} session {} on {} in {}",
                    s.id,
                    s.branch,
                    launched.worktree.display()
                ),
                api::value(&api::Launch::new(&launched, mode))?,
            ))
        }
        "run" => {
            let request = StartRequest {
                session: id()?.to_string(),
                prompt: args.str("prompt")?.map(str::to_string),
                context: context_argument(args)?,
                ..start_request(args)?
            };
            let run = runs::start(ws, &request)?;
            let id = sessions::resolve_session(ws, &request.session)?;
            Ok((
                format!("Started the agent of session {id}"),
                api::value(&api::RunReport { id: &id, run: &run })?,
            ))
        }
        "input" => {
            let sent = runs::send(ws, id()?, args.required("text")?)?;
            let id = sessions::resolve_session(ws, id()?)?;
            let text = if sent.started {
                format!("Started a new turn of the agent of session {id}")
            } else {
                format!("Sent to the agent of session {id}")
            };
            let view = api::RunSent {
                id: &id,
                started: sent.started,
                run: &sent.run,
            };
            Ok((text, api::value(&view)?))
        }
        "live_deltas" => {
            let since = args.seconds("sinceSeq")?.unwrap_or(0);
            let (id, events, next) = runs::events(ws, id()?, since)?;
            let text: String = events
                .iter()
                .filter_map(|e| match &e.body {
                    crate::runtime::events::Body::Text { text } => Some(text.clone()),
                    _ => None,
                })
                .collect();
            let view = api::RunEvents {
                id: &id,
                events: &events,
                next_seq: next,
            };
            Ok((text, api::value(&view)?))
        }
        "abort" => {
            let run = runs::abort(ws, id()?)?;
            let id = sessions::resolve_session(ws, id()?)?;
            Ok((
                format!("Stopped the agent of session {id}"),
                api::value(&api::RunReport { id: &id, run: &run })?,
            ))
        }
        "restart" => {
            let request = ReactivateRequest {
                session: id()?.to_string(),
                force: args.bool("force")?,
            };
            let run = args.bool_or("run", true)?;
            let start = StartRequest {
                prompt: args.str("prompt")?.map(str::to_string),
                context: context_argument(args)?,
                ..start_request(args)?
            };
            if run {
                // A request that cannot run is refused before the session is brought back.
                runs::check_request_for(ws, &request.session, &start)?;
            }
            let changed = sessions::reactivate(ws, &request, Mode::Write)?;
            let run = if run {
                Some(runs::start(
                    ws,
                    &StartRequest {
                        session: changed.after.id.clone(),
                        ..start
                    },
                )?)
            } else {
                None
            };
            let view = api::Restarted {
                change: api::SessionChange::new(&changed, Mode::Write),
                run: run.as_ref(),
            };
            Ok((
                format!("Restarted session {}", changed.after.id),
                api::value(&view)?,
            ))
        }
        "close" => {
            let request = CloseRequest {
                session: id()?.to_string(),
                event: close_event(args.str("status")?)?,
                force: args.bool("force")?,
            };
            let mode = args.mode()?;
            changed(sessions::close(ws, &request, mode)?, mode)
        }
        "reactivate" => {
            let request = ReactivateRequest {
                session: id()?.to_string(),
                force: args.bool("force")?,
            };
            let mode = args.mode()?;
            changed(sessions::reactivate(ws, &request, mode)?, mode)
        }
        "purge" => {
            let request = PurgeRequest {
                session: id()?.to_string(),
                delete_files: args.bool_or("deleteFiles", true)?,
                force: args.bool("force")?,
            };
            let mode = args.mode()?;
            ws.skip_hooks(args.bool("noHooks")?);
            let purged = sessions::purge(ws, &request, mode)?;
            Ok((
                format!(
                    "{} session {}",
                    if mode == Mode::DryRun {
                        "Would purge"
                    } else {
                        "Purged"
                    },
                    purged.session.id
                ),
                api::value(&api::Purge::new(&purged, mode))?,
            ))
        }
        "merge" => {
            let strategy = match args.str("strategy")? {
                None | Some("merge") => Strategy::Merge,
                Some("squash") => Strategy::Squash,
                Some("rebase") => Strategy::Rebase,
                Some(other) => {
                    return Err(Error::usage(format!(
                        "argument strategy is {other:?}; use merge, squash or rebase"
                    )));
                }
            };
            let request = MergeRequest {
                session: id()?.to_string(),
                strategy,
                into: args.str("into")?.map(str::to_string),
                keep: args.bool("keep")?,
                push: args.str("push")?.map(str::to_string),
            };
            ws.skip_hooks(args.bool("noHooks")?);
            let merged = sessions::merge(ws, &request, args.mode()?)?;
            let text = format!(
                "{} {} into {} ({})",
                if merged.dry_run {
                    "Would merge"
                } else {
                    "Merged"
                },
                merged.branch,
                merged.into,
                merged.how
            );
            Ok((text, api::value(&merged)?))
        }
        "help" => Ok((HELP.to_string(), json!({"actions": SESSION_ACTIONS}))),
        other => Err(Error::usage(format!(
            "unknown action {other:?}; use one of {}",
            SESSION_ACTIONS.join(", ")
        ))),
    }
}

const HELP: &str = "pm_session actions:
  list [status, limit, contextRef]  sessions, newest first (live ones unless status is given; status all
                                    for every one; at most limit, default 200)
  get sessionUlid                   the session and its local state (worktree, dirty, ahead/behind)
  events sessionUlid                the record's history, newest first
  transcript sessionUlid            the agent's turns kept in git (from every clone that ran it)
  prompt sessionUlid                the prompt and the instructions the agent was given
  config sessionUlid                the launch settings (agent, branch, base, prompt) and what the
                                    agent's last run was started with (started_with)
  spec sessionUlid                  the whole record plus local state and started_with
  launch_task taskKey [branch, base, agent|provider, prompt, role, actor, contextRef, run, force,
                       dryRun, and the run settings below]
                                    start a session on an issue (taskKey or contextRef naming no
                                    issue: context for the agent, and branch is needed)
                                    (force: even when another live session works on it)
  close sessionUlid [status, force] idle (default), completed (issue done) or abandoned (issue
                                    open unless other live sessions work on it); force: even a
                                    session active in another clone
  reactivate sessionUlid [force]    a completed or abandoned session back to idle
  purge sessionUlid [deleteFiles, force, dryRun]  remove the session (a tombstone that syncs) and,
                                    unless deleteFiles is false, the worktree and branch this clone
                                    created (refused when dirty or unmerged unless force)
  merge sessionUlid [strategy, into, keep, push, dryRun]  merge the branch into its base (merge,
                                    squash or rebase), complete the session, remove its worktree
                                    and branch unless keep
  start taskKey [...]               launch_task that always starts the agent
  run sessionUlid [prompt, contextRef, run settings]  a turn of the session's agent in its worktree
  input sessionUlid text            send text to the running agent (or start a turn with it)
  live_deltas sessionUlid [sinceSeq]  the agent's events after sinceSeq (text, tool calls, markers)
  abort sessionUlid                 stop the running agent; the session becomes idle
  restart sessionUlid [prompt, run, force, run settings]  a completed or abandoned session back,
                                    its agent running
Run settings: launcherConfigKey (a [launchers.NAME] preset), systemPrompt, env (names of
variables to pass), bootstrapCommands (run in the worktree first, never stored), tools (allowed
without asking), maxRuntimeSeconds, actor. launch_task and restart start the agent unless run is
false. config returns what the agent was really started with.
To close your own session from its worktree, call pm_close_agent.";

/// The agent of a launch: `agent`, or `provider` (the name the session tool pm replaces used).
fn agent_argument(args: &Args) -> Result<Option<String>> {
    match (args.str("agent")?, args.str("provider")?) {
        (Some(a), Some(p)) if a != p => Err(Error::usage(format!(
            "arguments agent ({a}) and provider ({p}) name two different agents"
        ))),
        (Some(name), _) | (None, Some(name)) => Ok(Some(name.to_string())),
        (None, None) => Ok(None),
    }
}

/// `taskKey` and `contextRef` of a run: context for the agent (one naming the session's own
/// issue adds nothing; one naming another issue is refused).
fn context_argument(args: &Args) -> Result<Vec<String>> {
    let mut context = Vec::new();
    for key in ["taskKey", "contextRef"] {
        context.extend(args.str(key)?.map(str::to_string));
    }
    Ok(context)
}

/// The settings of a run a request gives, beside its session, prompt and context.
fn start_request(args: &Args) -> Result<StartRequest> {
    Ok(StartRequest {
        max_runtime: args.seconds("maxRuntimeSeconds")?,
        launcher: args.str("launcherConfigKey")?.map(str::to_string),
        system_prompt: args.str("systemPrompt")?.map(str::to_string),
        env: args.strings("env")?,
        bootstrap: args.strings("bootstrapCommands")?,
        tools: args.strings("tools")?,
        actor: args.str("actor")?.map(str::to_string),
        ..StartRequest::default()
    })
}

fn close_event(status: Option<&str>) -> Result<SessionEvent> {
    match status.unwrap_or("idle") {
        "idle" => Ok(SessionEvent::Close),
        "completed" | "done" => Ok(SessionEvent::Complete),
        "abandoned" => Ok(SessionEvent::Abandon),
        other => Err(Error::usage(format!(
            "status must be idle, completed or abandoned, not {other:?}"
        ))),
    }
}

fn changed(changed: sessions::Changed, mode: Mode) -> Reply {
    let s = &changed.after;
    let text = if changed.written {
        format!("Session {} {}", s.id, changed.message)
    } else {
        format!("Session {} is already {}", s.id, s.status.as_str())
    };
    Ok((text, api::value(&api::SessionChange::new(&changed, mode))?))
}

pub(super) fn close_agent(ws: &Workspace, dir: &Path, args: &Args) -> Reply {
    let event = close_event(args.str("status")?)?;
    let id = match args.str("session_id")? {
        Some(id) => id.to_string(),
        None => match sessions::locate(ws, dir)? {
            Located::Here(id) => id,
            Located::Candidates(candidates) => {
                let list: Vec<String> = candidates
                    .iter()
                    .map(|s| format!("{} ({})", s.id, s.branch))
                    .collect();
                return Err(Error::invalid(if list.is_empty() {
                    "the server is not running inside a session's worktree and there are no live sessions".to_string()
                } else {
                    format!(
                        "the server is not running inside a session's worktree; pass session_id, one of: {}",
                        list.join(", ")
                    )
                }));
            }
        },
    };
    let request = CloseRequest {
        session: id,
        event,
        force: args.bool("force")?,
    };
    changed(sessions::close(ws, &request, Mode::Write)?, Mode::Write)
}

/// The record's changes and the run's events, one line each, in the order they happened.
fn events_text(events: &[Event], run: &[crate::runtime::events::Event]) -> String {
    let mut lines: Vec<(crate::model::Timestamp, String)> = events
        .iter()
        .rev()
        .map(|e| (e.time, format!("{} {} {}", e.time, e.author, e.message)))
        .collect();
    lines.extend(run.iter().map(|e| {
        let what = match &e.body {
            crate::runtime::events::Body::Text { text } => text.trim_end().to_string(),
            crate::runtime::events::Body::Input { text } => format!("> {text}"),
            crate::runtime::events::Body::ToolCall { name, input } => {
                format!("tool {name} {input}")
            }
            other => format!("[{}]", other.kind()),
        };
        (e.time, format!("{} #{} {what}", e.time, e.seq))
    }));
    // Stable: within a second, record changes and run events keep their own order.
    lines.sort_by_key(|(time, _)| *time);
    lines
        .into_iter()
        .map(|(_, line)| line)
        .collect::<Vec<_>>()
        .join("\n")
}
