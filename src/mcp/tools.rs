//! The MCP tools: adapters that turn arguments into requests of the core API and its results
//! into text plus `structuredContent` (an `api` view, the CLI's `--json` document). A failure
//! of the call itself is a result with `isError: true` and a message a model can act on;
//! nothing here decides a rule. The session tool is in `session_tool`.

use super::definitions::TOOLS;
use super::session_tool;
use crate::api;
use crate::error::{Error, NextStep, Operation, Result, Setting, Vocabulary};
use crate::model::Choice;
use crate::model::issue::NewIssue;
use crate::model::{IssueStatus, IssueType, Priority};
use crate::ops::issues::{self, Changes, Filter};
use crate::ops::sessions;
use crate::store::{Mode, Outcome};
use crate::workspace::Workspace;
use serde_json::{Map, Value, json};
use std::path::Path;

pub use super::definitions::definitions;

pub fn exists(name: &str) -> bool {
    TOOLS.contains(&name)
}

/// Run tool `name` in `ws` (the repository of the server's folder `dir`); always a
/// `CallToolResult`.
pub fn call(ws: Result<&Workspace>, dir: &Path, name: &str, arguments: &Value) -> Value {
    let args = Args(arguments.as_object().cloned().unwrap_or_default());
    let outcome = ws.and_then(|ws| match name {
        "pm_session" => session_tool::session(ws, &args),
        "pm_close_agent" => session_tool::close_agent(ws, dir, &args),
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

pub(super) type Reply = Result<(String, Value)>;

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
            Setting::Into => "into",
            Setting::IssueFields => {
                "one of title, description, body, status, priority, type, tags, untags"
            }
        }
        .to_string()
    }
}

/// Typed access to the arguments, with messages that name the argument.
pub(super) struct Args(Map<String, Value>);

impl Args {
    pub(super) fn str(&self, key: &str) -> Result<Option<&str>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::usage(format!("argument {key} must be a string"))),
        }
    }
    pub(super) fn required(&self, key: &str) -> Result<&str> {
        self.str(key)?
            .ok_or_else(|| Error::usage(format!("argument {key} is required")))
    }
    pub(super) fn bool(&self, key: &str) -> Result<bool> {
        self.bool_or(key, false)
    }
    pub(super) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Error::usage(format!(
                "argument {key} must be true or false"
            ))),
        }
    }
    pub(super) fn strings(&self, key: &str) -> Result<Vec<String>> {
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
    /// A whole number of at least zero (seconds, a sequence number).
    pub(super) fn seconds(&self, key: &str) -> Result<Option<u64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::usage(format!("argument {key} must be a whole number"))),
        }
    }
    pub(super) fn limit(&self) -> Result<Option<usize>> {
        match self.0.get("limit") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| Some(n as usize))
                .ok_or_else(|| Error::usage("argument limit must be a positive integer")),
        }
    }
    pub(super) fn mode(&self) -> Result<Mode> {
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
