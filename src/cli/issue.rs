//! `pm issue …`: the issue commands.

use super::complete;
use super::{Ctx, print, print_json};
use crate::api;
use crate::error::Result;
use crate::model::issue::NewIssue;
use crate::model::{Issue, IssueStatus, IssueType, Priority, RecordKind};
use crate::ops::issues::{self, Changes, Filter};
use crate::render::{Column, IdPrefixes, Paint, Style, Table, clean_line, clean_text};
use crate::store::Outcome;
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum IssueCommand {
    /// Create an issue
    Add(AddArgs),
    /// List issues (open and in progress unless --all or --status)
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show one issue
    Show(IdArg),
    /// Change fields of an issue (one commit per update)
    Update(UpdateArgs),
    /// Close one or more issues
    Close(CloseArgs),
    /// Reopen a done or closed issue
    Reopen(IdArg),
    /// Show the history of an issue, newest first
    Events(IdArg),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// One-line title
    #[arg(long, short)]
    title: String,
    /// Short description (`-` reads it from stdin)
    #[arg(long, short, default_value = "")]
    description: String,
    /// Longer text, markdown (`-` reads it from stdin)
    #[arg(long, short, default_value = "")]
    body: String,
    #[arg(long, short, value_enum, default_value_t = Priority::Medium)]
    priority: Priority,
    #[arg(long = "type", value_enum, default_value_t = IssueType::Feature, value_name = "TYPE")]
    kind: IssueType,
    /// Add a tag (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only issues with this status
    #[arg(long, short, value_enum)]
    status: Option<IssueStatus>,
    /// Only issues with this priority
    #[arg(long, short, value_enum)]
    priority: Option<Priority>,
    /// Only issues with this tag
    #[arg(long)]
    tag: Option<String>,
    /// Include done and closed issues
    #[arg(long, short)]
    all: bool,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Issue id: the full id or any unique prefix, in any case
    #[arg(add = ArgValueCompleter::new(complete::issues))]
    id: String,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Issue ids: full ids or unique prefixes, in any case; each is closed on its own
    #[arg(add = ArgValueCompleter::new(complete::issues), required = true, value_name = "ID")]
    ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Issue id: the full id or any unique prefix, in any case
    #[arg(add = ArgValueCompleter::new(complete::issues))]
    id: String,
    #[arg(long, short)]
    title: Option<String>,
    /// New description (`-` reads it from stdin)
    #[arg(long, short)]
    description: Option<String>,
    /// New body (`-` reads it from stdin)
    #[arg(long, short)]
    body: Option<String>,
    #[arg(long, short, value_enum)]
    status: Option<IssueStatus>,
    #[arg(long, short, value_enum)]
    priority: Option<Priority>,
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    kind: Option<IssueType>,
    /// Add a tag (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Remove a tag (repeatable)
    #[arg(long = "untag", value_name = "TAG")]
    untags: Vec<String>,
}

pub fn run(ctx: &Ctx, command: IssueCommand) -> Result<()> {
    match command {
        IssueCommand::Add(args) => add(ctx, args),
        IssueCommand::List(args) => list(ctx, args),
        IssueCommand::Show(args) => show(ctx, &args.id),
        IssueCommand::Update(mut args) => {
            read_stdin_into([
                ("--description", args.description.as_mut()),
                ("--body", args.body.as_mut()),
            ])?;
            let changes = Changes {
                title: args.title,
                description: args.description,
                body: args.body,
                status: args.status,
                priority: args.priority,
                kind: args.kind,
                add_tags: args.tags,
                remove_tags: args.untags,
            };
            let ws = ctx.workspace()?;
            let outcome = issues::update(&ws, &args.id, changes, ctx.mode())?;
            report_outcome(ctx, &outcome)
        }
        IssueCommand::Close(args) => close(ctx, &args.ids),
        IssueCommand::Reopen(args) => {
            let ws = ctx.workspace()?;
            report_outcome(ctx, &issues::reopen(&ws, &args.id, ctx.mode())?)
        }
        IssueCommand::Events(args) => events(ctx, &args.id),
    }
}

fn add(ctx: &Ctx, mut args: AddArgs) -> Result<()> {
    read_stdin_into([
        ("--description", Some(&mut args.description)),
        ("--body", Some(&mut args.body)),
    ])?;
    let ws = ctx.workspace()?;
    let new = NewIssue {
        title: args.title,
        description: args.description,
        body: args.body,
        priority: args.priority,
        kind: args.kind,
        tags: args.tags,
    };
    let added = issues::add(&ws, new, ctx.mode())?;
    let (issue, dry) = (&added.issue, ctx.global.dry_run);
    if ctx.global.json {
        return print_json(&api::IssueChange::created(
            issue,
            &added.message,
            ctx.mode(),
        ));
    }
    let verb = if dry { "Would create" } else { "Created" };
    ctx.note(&format!("ref: refs/pm/issues/{}", issue.id));
    print(&format!(
        "{verb} issue {} {}\n",
        ctx.style.cyan(&issue.id),
        clean_line(&issue.title)
    ))
}

fn list(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    let filter = Filter {
        status: args.status,
        priority: args.priority,
        tag: args.tag,
        all: args.all,
    };
    let (found, broken) = issues::list(&ws, &filter)?;
    for bad in &broken {
        ctx.warn(&clean_line(&format!(
            "issue {} cannot be read: {}",
            bad.id, bad.message
        )));
    }
    if ctx.global.json {
        return print_json(&api::IssueList::new(&found, &broken));
    }
    if found.is_empty() {
        let hint = if args.all || args.status.is_some() {
            ""
        } else {
            " (done and closed ones are hidden; use --all)"
        };
        return print(&format!("No issues{hint}.\n"));
    }
    let ids = IdPrefixes::new(ws.store().ids(RecordKind::Issue)?);
    let mut table = Table::with_columns(vec![
        Column::id("ID", &ids),
        Column::keep("STATUS"),
        Column::keep("PRIORITY"),
        Column::keep("TYPE"),
        Column::text("TITLE", 20),
        Column::text("TAGS", 8).optional(1),
    ]);
    for issue in &found {
        table.row(vec![
            (issue.id.clone(), Some(cyan)),
            (
                issue.status.as_str().to_string(),
                Some(status_color(issue.status)),
            ),
            (
                issue.priority.as_str().to_string(),
                Some(priority_color(issue.priority)),
            ),
            (issue.kind.as_str().to_string(), None),
            (clean_line(&issue.title), None),
            (clean_line(&issue.tags.join(",")), Some(dim)),
        ]);
    }
    print(&table.render(&ctx.style))
}

fn show(ctx: &Ctx, id: &str) -> Result<()> {
    let ws = ctx.workspace()?;
    let issue = issues::show(&ws, id)?;
    let sessions = crate::ops::sessions::of_issue(&ws, &issue.id)?;
    if ctx.global.json {
        return print_json(&api::IssueShow::new(&issue, &sessions));
    }
    print(&issue_text(&issue, &sessions, &ctx.style))
}

/// `issue close A B C`: each issue is closed on its own; a failure is reported and the others
/// still closed. One id prints as before; several print a line (or JSON entry) each.
fn close(ctx: &Ctx, ids: &[String]) -> Result<()> {
    let ws = ctx.workspace()?;
    if let [id] = ids {
        return report_outcome(ctx, &issues::close(&ws, id, ctx.mode())?);
    }
    let mut closed = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match issues::close(&ws, id, ctx.mode()) {
            Ok(outcome) => closed.push(outcome),
            Err(e) => failed.push((id, e)),
        }
    }
    for (_, e) in &failed {
        eprintln!("error: {}", clean_line(&super::worded(e)));
    }
    if ctx.global.json {
        print_json(&api::IssuesClosed {
            dry_run: ctx.global.dry_run,
            closed: closed
                .iter()
                .map(|outcome| api::IssueChange::of(outcome, ctx.mode()))
                .collect(),
            errors: failed
                .iter()
                .map(|(id, e)| api::IssueError {
                    id,
                    message: super::worded(e),
                })
                .collect(),
        })?;
    } else {
        for outcome in &closed {
            report_outcome(ctx, outcome)?;
        }
    }
    match failed.len() {
        0 => Ok(()),
        n => Err(crate::error::Error::failed(format!(
            "{n} of {} issues could not be closed",
            ids.len()
        ))),
    }
}

/// Replace a `-` among `fields` (flag name, value) with the text read from stdin: line
/// endings made `\n`, trailing newlines removed. Only one field can read stdin.
fn read_stdin_into<const N: usize>(fields: [(&str, Option<&mut String>); N]) -> Result<()> {
    use crate::error::Error;
    use std::io::Read;
    let mut reader: Option<&str> = None;
    for (flag, value) in fields {
        let Some(value) = value.filter(|v| v.as_str() == "-") else {
            continue;
        };
        if let Some(first) = reader {
            return Err(Error::usage(format!(
                "{first} and {flag} cannot both read stdin"
            )));
        }
        reader = Some(flag);
        // More than any field may hold (the core says how much that is), without reading
        // an endless stream to the end.
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(1024 * 1024 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::failed(format!("cannot read {flag} from stdin: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::usage(format!("{flag} from stdin is not UTF-8 text")))?;
        *value = text
            .replace("\r\n", "\n")
            .trim_end_matches('\n')
            .to_string();
    }
    Ok(())
}

fn events(ctx: &Ctx, id: &str) -> Result<()> {
    let ws = ctx.workspace()?;
    let (id, events) = issues::events(&ws, id)?;
    if ctx.global.json {
        return print_json(&api::Events {
            id: &id,
            events: &events,
        });
    }
    super::print_events(&events, &ctx.style)
}

fn report_outcome(ctx: &Ctx, outcome: &Outcome<Issue>) -> Result<()> {
    let dry = ctx.global.dry_run;
    let (issue, message) = match outcome {
        Outcome::Changed { after, message, .. } => (&after.record, Some(message.as_str())),
        Outcome::Unchanged(stored) => (&stored.record, None),
    };
    if let Outcome::Changed { after, .. } = outcome
        && !dry
    {
        ctx.note(&format!("refs/pm/issues/{} -> {}", issue.id, after.tip));
    }
    if ctx.global.json {
        return print_json(&api::IssueChange::of(outcome, ctx.mode()));
    }
    let text = match (message, dry) {
        (None, _) => format!("Issue {} unchanged\n", ctx.style.cyan(&issue.id)),
        (Some(message), false) => format!(
            "Issue {} {}\n",
            ctx.style.cyan(&issue.id),
            clean_line(message)
        ),
        (Some(message), true) => format!(
            "Would change issue {}: {}\n",
            ctx.style.cyan(&issue.id),
            clean_line(message)
        ),
    };
    print(&text)
}

fn issue_text(issue: &Issue, sessions: &[crate::model::Session], style: &Style) -> String {
    let mut out = format!(
        "{}  {}\n",
        style.cyan(&issue.id),
        style.bold(&clean_line(&issue.title))
    );
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("{}  {value}\n", style.dim(&format!("{name:<11}"))));
        }
    };
    field(
        "status",
        status_color(issue.status)(style, issue.status.as_str()),
    );
    field(
        "priority",
        priority_color(issue.priority)(style, issue.priority.as_str()),
    );
    field("type", issue.kind.as_str().to_string());
    field("tags", clean_line(&issue.tags.join(", ")));
    field("created", issue.created.to_string());
    field("updated", issue.updated.to_string());
    field(
        "closed",
        issue.closed.map(|t| t.to_string()).unwrap_or_default(),
    );
    field("description", clean_line(&issue.description));
    for (n, s) in sessions.iter().enumerate() {
        let label = if n == 0 { "sessions" } else { "" };
        out.push_str(&format!(
            "{}  {}  {}  {}\n",
            style.dim(&format!("{label:<11}")),
            style.cyan(&s.id),
            super::agent::status_color(s.status)(style, &format!("{:<9}", s.status.as_str())),
            clean_line(&s.branch)
        ));
    }
    if !issue.body.trim().is_empty() {
        out.push('\n');
        out.push_str(clean_text(&issue.body).trim_end());
        out.push('\n');
    }
    out
}

fn cyan(style: &Style, text: &str) -> String {
    style.cyan(text)
}
fn dim(style: &Style, text: &str) -> String {
    style.dim(text)
}
fn status_color(status: IssueStatus) -> Paint {
    match status {
        IssueStatus::Open => |s, t| s.green(t),
        IssueStatus::InProgress => |s, t| s.yellow(t),
        IssueStatus::Done | IssueStatus::Closed => |s, t| s.dim(t),
    }
}
fn priority_color(priority: Priority) -> Paint {
    match priority {
        Priority::High => |s, t| s.red(t),
        Priority::Medium => |_, t| t.to_string(),
        Priority::Low => |s, t| s.dim(t),
    }
}
