//! The MCP tools: definitions (names, descriptions, JSON schemas) and adapters that turn
//! arguments into calls of the core API and its results into text plus `structuredContent`.
//! A failure of the call itself is a result with `isError: true` and a message a model can act
//! on; nothing here decides a rule.

use crate::api;
use crate::error::{Error, NextStep, Operation, Result, Setting, Vocabulary};
use crate::lifecycle::SessionEvent;
use crate::model::issue::NewIssue;
use crate::model::{Choice, IssueStatus, IssueType, Priority, SessionStatus};
use crate::ops::issues::{self, Changes, Filter};
use crate::ops::sessions::{
    self, CloseRequest, LaunchRequest, ListRequest, Located, PurgeRequest, ReactivateRequest,
    ReconcileRequest,
};
use crate::store::{Event, Mode, Outcome};
use crate::workspace::Workspace;
use serde_json::{Map, Value, json};
use std::path::Path;

const TOOLS: &[&str] = &[
    "pm_session",
    "pm_close_agent",
    "pm_list_issues",
    "pm_get_issue",
    "pm_create_issue",
    "pm_update_issue",
];

/// How many sessions `list` returns when no `limit` is given (as the tool pm replaces).
const DEFAULT_LIST_LIMIT: usize = 200;

const SESSION_ACTIONS: &[&str] = &[
    "list",
    "get",
    "events",
    "prompt",
    "config",
    "spec",
    "launch_task",
    "close",
    "reactivate",
    "purge",
    "help",
];

pub fn exists(name: &str) -> bool {
    TOOLS.contains(&name)
}

/// The `tools/list` entries.
pub fn definitions() -> Value {
    json!([
        {
            "name": "pm_session",
            "title": "Agent sessions",
            "description": "Inspect and manage agent sessions (one agent, one issue, one branch and worktree). \
                action: list | get | events | prompt | config | spec | launch_task | close | reactivate | purge | help.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": SESSION_ACTIONS},
                    "sessionUlid": {"type": "string", "description": "Session id, unique prefix or branch (get, events, prompt, config, spec, close, reactivate, purge)"},
                    "limit": {"type": "integer", "minimum": 1, "default": DEFAULT_LIST_LIMIT, "description": "list: at most this many sessions, newest first (default 200)"},
                    "status": {"type": "string", "description": "list: active, idle, completed, abandoned or all (default: live ones); close: idle, completed or abandoned (default idle)"},
                    "contextRef": {"type": "string", "description": "list: only sessions of this issue"},
                    "taskKey": {"type": "string", "description": "launch_task: the issue to work on"},
                    "branch": {"type": "string", "description": "launch_task: branch (default: from the issue title)"},
                    "base": {"type": "string", "description": "launch_task: where a new branch starts"},
                    "agent": {"type": "string", "description": "launch_task: agent name"},
                    "prompt": {"type": "string", "description": "launch_task: the agent's prompt"},
                    "role": {"type": "string", "description": "launch_task: a role for the agent (free text)"},
                    "deleteFiles": {"type": "boolean", "default": true, "description": "purge: also delete the worktree and branch this clone created (default true; a worktree with uncommitted changes or a branch with unmerged commits is still refused without force)"},
                    "force": {"type": "boolean", "description": "launch_task, reactivate: even when another live session works on the issue; close, purge: even a session active in another clone; purge: even with uncommitted changes or unmerged commits"},
                    "dryRun": {"type": "boolean", "description": "launch_task, close, reactivate, purge: show what would change, write nothing"}
                },
                "required": ["action"]
            }
        },
        {
            "name": "pm_close_agent",
            "title": "Close my session",
            "description": "Close the calling agent's session. Without session_id, the session whose worktree contains the server's working directory. status completed marks its issue done; abandoned reopens it; idle (default) keeps the worktree for later.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "session_id": {"type": "string", "description": "Session id, unique prefix or branch (default: the session whose worktree holds the server's working directory)"},
                    "status": {"type": "string", "enum": ["idle", "completed", "abandoned"]},
                    "force": {"type": "boolean", "description": "close even a session that is active in another clone"}
                }
            }
        },
        {
            "name": "pm_list_issues",
            "title": "List issues",
            "description": "Issues sorted by status, priority (high first), newest first. Done and closed ones only with all or status.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["open", "in_progress", "done", "closed"]},
                    "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    "tag": {"type": "string"},
                    "all": {"type": "boolean"}
                }
            }
        },
        {
            "name": "pm_get_issue",
            "title": "Show an issue",
            "description": "One issue (full id or unique prefix) with its sessions, newest first.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Issue id or unique prefix"}
                },
                "required": ["id"]
            }
        },
        {
            "name": "pm_create_issue",
            "title": "Create an issue",
            "description": "Create an issue; returns it with its id.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "body": {"type": "string"},
                    "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    "type": {"type": "string", "enum": ["feature", "bug", "chore"]},
                    "tags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["title"]
            }
        },
        {
            "name": "pm_update_issue",
            "title": "Update an issue",
            "description": "Change fields of an issue as one commit. tags adds tags, untags removes them.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "body": {"type": "string"},
                    "status": {"type": "string", "enum": ["open", "in_progress", "done", "closed"]},
                    "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    "type": {"type": "string", "enum": ["feature", "bug", "chore"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "untags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["id"]
            }
        }
    ])
}

/// Run tool `name` in `ws` (the repository of the server's folder `dir`); always a
/// `CallToolResult`.
pub fn call(ws: Result<&Workspace>, dir: &Path, name: &str, arguments: &Value) -> Value {
    let args = Args(arguments.as_object().cloned().unwrap_or_default());
    let outcome = ws.and_then(|ws| match name {
        "pm_session" => session(ws, &args),
        "pm_close_agent" => close_agent(ws, dir, &args),
        "pm_list_issues" => list_issues(ws, &args),
        "pm_get_issue" => get_issue(ws, &args),
        "pm_create_issue" => create_issue(ws, &args),
        "pm_update_issue" => update_issue(ws, &args),
        _ => Err(Error::usage(format!("unknown tool {name}"))),
    });
    match outcome {
        // The same document as the command's `--json` (an `api` view), version included.
        Ok((text, structured)) => json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": structured,
            "isError": false,
        }),
        Err(e) => json!({
            "content": [{"type": "text", "text": crate::render::clean_line(&worded(&e))}],
            "isError": true,
        }),
    }
}

type Reply = Result<(String, Value)>;

/// An error's message and hints, the settings named by the tools' arguments.
fn worded(err: &Error) -> String {
    err.worded(&Arguments)
}

/// Settings are tool arguments, operations are tool actions.
struct Arguments;

impl Vocabulary for Arguments {
    fn step(&self, step: &NextStep) -> String {
        let id = &step.session;
        let call = match step.operation {
            Operation::Reactivate => {
                format!("pm_session with action reactivate and sessionUlid {id}")
            }
            // No tool takes a session over; the command line does.
            Operation::TakeOver => format!("`pm agent resume {id}` on the command line"),
            Operation::PurgeWithFiles => {
                format!("pm_session with action purge and sessionUlid {id}")
            }
        };
        format!("{call} {}", step.purpose)
    }
    fn setting(&self, setting: Setting) -> String {
        match setting {
            Setting::Force => "force",
            Setting::Branch => "branch",
            Setting::Issue => "taskKey",
            Setting::Base => "base",
            Setting::DeleteFiles => "deleteFiles",
            Setting::IssueFields => {
                "one of title, description, body, status, priority, type, tags, untags"
            }
        }
        .to_string()
    }
}

/// Typed access to the arguments, with messages that name the argument.
struct Args(Map<String, Value>);

impl Args {
    fn str(&self, key: &str) -> Result<Option<&str>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::usage(format!("argument {key} must be a string"))),
        }
    }
    fn required(&self, key: &str) -> Result<&str> {
        self.str(key)?
            .ok_or_else(|| Error::usage(format!("argument {key} is required")))
    }
    fn bool(&self, key: &str) -> Result<bool> {
        self.bool_or(key, false)
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Error::usage(format!(
                "argument {key} must be true or false"
            ))),
        }
    }
    fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        Error::usage(format!("argument {key} must be a list of strings"))
                    })
                })
                .collect(),
            Some(_) => Err(Error::usage(format!(
                "argument {key} must be a list of strings"
            ))),
        }
    }
    fn limit(&self) -> Result<Option<usize>> {
        match self.0.get("limit") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| Some(n as usize))
                .ok_or_else(|| Error::usage("argument limit must be a positive integer")),
        }
    }
    fn mode(&self) -> Result<Mode> {
        Ok(if self.bool("dryRun")? {
            Mode::DryRun
        } else {
            Mode::Write
        })
    }
    /// One of a fixed set of values (a status, a priority, a type), by its name.
    fn choice<T: Choice>(&self, key: &str) -> Result<Option<T>> {
        let Some(text) = self.str(key)? else {
            return Ok(None);
        };
        T::parse(text).map(Some).ok_or_else(|| {
            Error::usage(format!(
                "argument {key} must be one of {}, not {text:?}",
                T::names().join(", ")
            ))
        })
    }
}

fn session(ws: &Workspace, args: &Args) -> Reply {
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
            let mut view = api::SessionShow::new(&details);
            if action == "spec" {
                view = view.with_record(&details);
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
            let view = api::Events {
                id: &id,
                events: &events,
            };
            Ok((events_text(&events), api::value(&view)?))
        }
        "prompt" => {
            let s = sessions::show(ws, id()?)?.view.session;
            let view = api::SessionPrompt {
                id: &s.id,
                prompt: &s.prompt,
            };
            Ok((s.prompt.clone(), api::value(&view)?))
        }
        "config" => {
            let s = sessions::show(ws, id()?)?.view.session;
            Ok((
                format!("agent {} on {} from {}", s.agent, s.branch, s.base_ref),
                api::value(&api::SessionConfig::new(&s))?,
            ))
        }
        "launch_task" => {
            let request = LaunchRequest {
                issue: Some(args.required("taskKey")?.to_string()),
                branch: args.str("branch")?.map(str::to_string),
                base: args.str("base")?.map(str::to_string),
                agent: args.str("agent")?.map(str::to_string),
                prompt: args.str("prompt")?.unwrap_or_default().to_string(),
                role: args.str("role")?.unwrap_or_default().to_string(),
                force: args.bool("force")?,
            };
            let mode = args.mode()?;
            let launched = sessions::launch(ws, request, mode)?;
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
  prompt sessionUlid                the prompt the agent was given
  config sessionUlid                the launch settings (agent, branch, base, prompt)
  spec sessionUlid                  the whole record plus local state
  launch_task taskKey [branch, base, agent, prompt, role, force, dryRun]  start a session on an issue
                                    (force: even when another live session works on it)
  close sessionUlid [status, force] idle (default), completed (issue done) or abandoned (issue
                                    open unless other live sessions work on it); force: even a
                                    session active in another clone
  reactivate sessionUlid [force]    a completed or abandoned session back to idle
  purge sessionUlid [deleteFiles, force, dryRun]  remove the session (a tombstone that syncs) and,
                                    unless deleteFiles is false, the worktree and branch this clone
                                    created (refused when dirty or unmerged unless force)
To close your own session from its worktree, call pm_close_agent.";

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

fn close_agent(ws: &Workspace, dir: &Path, args: &Args) -> Reply {
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

fn events_text(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| format!("{} {} {}", e.time, e.author, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn issue_text(verb: &str, issue: &crate::model::Issue) -> String {
    format!(
        "{verb} issue {} {} [{}]",
        issue.id,
        issue.title,
        issue.status.as_str()
    )
}

fn list_issues(ws: &Workspace, args: &Args) -> Reply {
    let filter = Filter {
        status: args.choice::<IssueStatus>("status")?,
        priority: args.choice::<Priority>("priority")?,
        tag: args.str("tag")?.map(str::to_string),
        all: args.bool("all")?,
    };
    let (list, broken) = issues::list(ws, &filter)?;
    let text = if list.is_empty() {
        "No issues.".to_string()
    } else {
        list.iter()
            .map(|i| {
                format!(
                    "{} {} {} {}",
                    i.id,
                    i.status.as_str(),
                    i.priority.as_str(),
                    i.title
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok((text, api::value(&api::IssueList::new(&list, &broken))?))
}

fn get_issue(ws: &Workspace, args: &Args) -> Reply {
    let issue = issues::show(ws, args.required("id")?)?;
    let sessions = sessions::of_issue(ws, &issue.id)?;
    let mut text = issue_text("Issue", &issue);
    for s in &sessions {
        text.push_str(&format!(
            "\nsession {} {} {}",
            s.id,
            s.status.as_str(),
            s.branch
        ));
    }
    Ok((text, api::value(&api::IssueShow::new(&issue, &sessions))?))
}

fn create_issue(ws: &Workspace, args: &Args) -> Reply {
    let new = NewIssue {
        title: args.required("title")?.to_string(),
        description: args.str("description")?.unwrap_or_default().to_string(),
        body: args.str("body")?.unwrap_or_default().to_string(),
        priority: args
            .choice::<Priority>("priority")?
            .unwrap_or(Priority::Medium),
        kind: args
            .choice::<IssueType>("type")?
            .unwrap_or(IssueType::Feature),
        tags: args.strings("tags")?,
    };
    let added = issues::add(ws, new, Mode::Write)?;
    let view = api::IssueChange::created(&added.issue, &added.message, Mode::Write);
    Ok((issue_text("Created", &added.issue), api::value(&view)?))
}

fn update_issue(ws: &Workspace, args: &Args) -> Reply {
    let changes = Changes {
        title: args.str("title")?.map(str::to_string),
        description: args.str("description")?.map(str::to_string),
        body: args.str("body")?.map(str::to_string),
        status: args.choice::<IssueStatus>("status")?,
        priority: args.choice::<Priority>("priority")?,
        kind: args.choice::<IssueType>("type")?,
        add_tags: args.strings("tags")?,
        remove_tags: args.strings("untags")?,
    };
    let outcome = issues::update(ws, args.required("id")?, changes, Mode::Write)?;
    let verb = match &outcome {
        Outcome::Changed { .. } => "Updated",
        Outcome::Unchanged(_) => "Unchanged",
    };
    let issue = &issues::outcome_record(&outcome).record;
    let view = api::IssueChange::of(&outcome, Mode::Write);
    Ok((issue_text(verb, issue), api::value(&view)?))
}

/// Which field of which core request each tool argument fills: the tools' input schemas are
/// checked against the request types by the test below, so an argument cannot be offered that
/// nothing reads, nor a request field be left out of MCP unnoticed. `-` is an argument that
/// fills no request field (the action, the dry run, the id of a query).
#[cfg(test)]
const ARGUMENTS: &[(&str, &str, &str, &str)] = &[
    ("pm_session", "action", "-", "-"),
    ("pm_session", "dryRun", "-", "-"),
    ("pm_session", "sessionUlid", "CloseRequest", "session"),
    ("pm_session", "sessionUlid", "ReactivateRequest", "session"),
    ("pm_session", "sessionUlid", "PurgeRequest", "session"),
    ("pm_session", "limit", "ListRequest", "limit"),
    ("pm_session", "status", "ListRequest", "statuses"),
    ("pm_session", "status", "ListRequest", "all"),
    ("pm_session", "status", "CloseRequest", "event"),
    ("pm_session", "contextRef", "ListRequest", "issue"),
    ("pm_session", "taskKey", "LaunchRequest", "issue"),
    ("pm_session", "branch", "LaunchRequest", "branch"),
    ("pm_session", "base", "LaunchRequest", "base"),
    ("pm_session", "agent", "LaunchRequest", "agent"),
    ("pm_session", "prompt", "LaunchRequest", "prompt"),
    ("pm_session", "role", "LaunchRequest", "role"),
    ("pm_session", "force", "LaunchRequest", "force"),
    ("pm_session", "force", "CloseRequest", "force"),
    ("pm_session", "force", "ReactivateRequest", "force"),
    ("pm_session", "force", "PurgeRequest", "force"),
    ("pm_session", "deleteFiles", "PurgeRequest", "delete_files"),
    ("pm_close_agent", "session_id", "CloseRequest", "session"),
    ("pm_close_agent", "status", "CloseRequest", "event"),
    ("pm_close_agent", "force", "CloseRequest", "force"),
    ("pm_list_issues", "status", "Filter", "status"),
    ("pm_list_issues", "priority", "Filter", "priority"),
    ("pm_list_issues", "tag", "Filter", "tag"),
    ("pm_list_issues", "all", "Filter", "all"),
    ("pm_get_issue", "id", "-", "-"),
    ("pm_create_issue", "title", "NewIssue", "title"),
    ("pm_create_issue", "description", "NewIssue", "description"),
    ("pm_create_issue", "body", "NewIssue", "body"),
    ("pm_create_issue", "priority", "NewIssue", "priority"),
    ("pm_create_issue", "type", "NewIssue", "kind"),
    ("pm_create_issue", "tags", "NewIssue", "tags"),
    ("pm_update_issue", "id", "-", "-"),
    ("pm_update_issue", "title", "Changes", "title"),
    ("pm_update_issue", "description", "Changes", "description"),
    ("pm_update_issue", "body", "Changes", "body"),
    ("pm_update_issue", "status", "Changes", "status"),
    ("pm_update_issue", "priority", "Changes", "priority"),
    ("pm_update_issue", "type", "Changes", "kind"),
    ("pm_update_issue", "tags", "Changes", "add_tags"),
    ("pm_update_issue", "untags", "Changes", "remove_tags"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names of each request type MCP offers, read from the type itself.
    fn request_fields() -> Vec<(&'static str, Vec<String>)> {
        let fields = |value: Value| -> Vec<String> {
            value
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let of =
            |v: std::result::Result<Value, serde_json::Error>| fields(v.unwrap_or(Value::Null));
        vec![
            (
                "LaunchRequest",
                of(serde_json::to_value(LaunchRequest::default())),
            ),
            (
                "ListRequest",
                of(serde_json::to_value(ListRequest::default())),
            ),
            (
                "ReactivateRequest",
                of(serde_json::to_value(ReactivateRequest::default())),
            ),
            (
                "PurgeRequest",
                of(serde_json::to_value(PurgeRequest::default())),
            ),
            (
                "CloseRequest",
                of(serde_json::to_value(CloseRequest {
                    session: String::new(),
                    event: SessionEvent::Close,
                    force: false,
                })),
            ),
            ("Filter", of(serde_json::to_value(Filter::default()))),
            ("Changes", of(serde_json::to_value(Changes::default()))),
            (
                "NewIssue",
                of(serde_json::to_value(NewIssue {
                    title: String::new(),
                    description: String::new(),
                    body: String::new(),
                    priority: Priority::Medium,
                    kind: IssueType::Feature,
                    tags: Vec::new(),
                })),
            ),
        ]
    }

    #[test]
    fn every_argument_fills_a_request_field_and_every_field_has_an_argument() {
        let tools = definitions();
        let tools = tools.as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(tools.len(), TOOLS.len());
        for tool in tools {
            let name = tool["name"].as_str().unwrap_or_default();
            let offered: Vec<&str> = tool["inputSchema"]["properties"]
                .as_object()
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            for argument in &offered {
                assert!(
                    ARGUMENTS
                        .iter()
                        .any(|(t, a, _, _)| *t == name && a == argument),
                    "{name} offers {argument}, which fills no request field"
                );
            }
            for (_, argument, _, _) in ARGUMENTS.iter().filter(|(t, ..)| *t == name) {
                assert!(
                    offered.contains(argument),
                    "{name} lacks {argument} in its input schema"
                );
            }
        }
        for (request, fields) in request_fields() {
            assert!(!fields.is_empty(), "{request} has fields");
            for field in &fields {
                assert!(
                    ARGUMENTS
                        .iter()
                        .any(|(_, _, r, f)| *r == request && f == field),
                    "{request}.{field} cannot be set through MCP"
                );
            }
        }
        for (tool, argument, request, field) in ARGUMENTS {
            if *request == "-" {
                continue;
            }
            let known = request_fields()
                .into_iter()
                .any(|(r, fields)| r == *request && fields.iter().any(|f| f == field));
            assert!(known, "{tool} {argument}: {request}.{field} does not exist");
        }
    }
}
