//! `pm agent …`: launch agent sessions and manage their lifecycle. One file per command; the
//! doc comments of [`AgentCommand`] are the help.

mod attach;
mod close;
mod discover;
mod history;
mod launch;
mod list;
mod logs;
mod merge;
mod purge;
mod reactivate;
mod reconcile;
mod resume;
mod run;
mod show;
mod transcript;

use super::complete;
use super::{Ctx, print, print_json};
use crate::api;
use crate::error::{Error, Result};
use crate::model::issue::IssueSummary;
use crate::model::{Issue, RecordKind, Session, SessionStatus};
use crate::ops::sessions::{self, Changed, Located};
use crate::render::{IdPrefixes, Paint, Style, clean, clean_line};
use crate::store::{Broken, Scope};
use crate::workspace::Workspace;
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::IsTerminal;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AgentCommand {
    /// Start an agent session on a new branch and worktree (or resume the branch's idle session)
    Launch(launch::LaunchArgs),
    /// List live sessions (after noticing worktrees that disappeared)
    #[command(visible_alias = "ls")]
    List(list::ListArgs),
    /// Every session, newest first, with commit counts and durations
    History(history::HistoryArgs),
    /// Show one session and its local state
    Show(SessionArg),
    /// Show the history of a session's record, newest first
    Events(SessionArg),
    /// Close a session: idle by default, or --done / --abandon
    Close(close::CloseArgs),
    /// Make an idle session active again here; take over another clone's session
    Resume(resume::ResumeArgs),
    /// Bring a completed or abandoned session back as idle
    Reactivate(reactivate::ReactivateArgs),
    /// Abandon this clone's sessions whose worktree is gone; prune stale worktree entries;
    /// repair issue statuses; report worktrees of sessions handed over to another clone
    Reconcile(reconcile::ReconcileArgs),
    /// Merge the session's branch into its base, complete it, remove its worktree and branch
    Merge(merge::MergeArgs),
    /// List worktrees made without pm (git worktree add); --adopt records an idle session for each
    Discover(discover::DiscoverArgs),
    /// Remove a session for good (a tombstone that syncs), optionally with its worktree and branch
    Purge(purge::PurgeArgs),
    /// Start the session's agent in its worktree for a turn (continuing its earlier thread)
    Run(run::RunArgs),
    /// Send input to the session's running agent, or start a new turn with it
    Send(run::SendArgs),
    /// Show what the session's agent did (and, with --follow, does)
    Logs(logs::LogsArgs),
    /// Show the turns of the session's agent kept in git (from every clone that ran it)
    Transcript(SessionArg),
    /// Stop the session's running agent (its whole process group); the session becomes idle
    Abort(run::AbortArgs),
    /// Bring a completed or abandoned session back and run its agent again
    Restart(run::RestartArgs),
    /// Follow the session's running agent and send it what you type (Ctrl-D detaches)
    Attach(attach::AttachArgs),
}

#[derive(Debug, Args)]
pub struct SessionArg {
    /// Session id (full or unique prefix, any case) or branch (default: the session whose
    /// worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::any_session))]
    id: Option<String>,
}

pub fn run(ctx: &Ctx, command: AgentCommand) -> Result<()> {
    let ws = ctx.workspace()?;
    match command {
        AgentCommand::Launch(args) => launch::run(ctx, &ws, args),
        AgentCommand::List(args) => list::run(ctx, &ws, args),
        AgentCommand::History(args) => history::run(ctx, &ws, args),
        AgentCommand::Show(args) => show::run(ctx, &ws, args),
        AgentCommand::Events(args) => show::events(ctx, &ws, args),
        AgentCommand::Close(args) => close::run(ctx, &ws, args),
        AgentCommand::Resume(args) => resume::run(ctx, &ws, args),
        AgentCommand::Reactivate(args) => reactivate::run(ctx, &ws, args),
        AgentCommand::Reconcile(args) => reconcile::run(ctx, &ws, args),
        AgentCommand::Purge(args) => purge::run(ctx, &ws, args),
        AgentCommand::Discover(args) => discover::run(ctx, &ws, args),
        AgentCommand::Merge(args) => merge::run(ctx, &ws, args),
        AgentCommand::Run(args) => run::run(ctx, &ws, args),
        AgentCommand::Send(args) => run::send(ctx, &ws, args),
        AgentCommand::Logs(args) => logs::run(ctx, &ws, args),
        AgentCommand::Transcript(args) => transcript::run(ctx, &ws, args),
        AgentCommand::Abort(args) => run::abort(ctx, &ws, args),
        AgentCommand::Restart(args) => run::restart(ctx, &ws, args),
        AgentCommand::Attach(args) => attach::run(ctx, &ws, args),
    }
}

fn warn_all(ctx: &Ctx, warnings: &[String]) {
    for warning in warnings {
        ctx.warn(&clean_line(warning));
    }
}

/// The session named on the command line (id or branch), else the one whose worktree
/// contains the current directory, else one picked from the live sessions.
pub(super) fn session_or_here(ctx: &Ctx, ws: &Workspace, named: Option<String>) -> Result<String> {
    match named {
        Some(text) => Ok(text),
        None => match sessions::locate(ws, &ctx.dir()?)? {
            Located::Here(id) => Ok(id),
            Located::Candidates(candidates) => pick(&candidates),
        },
    }
}

/// Choose among live sessions: a numbered prompt on a terminal, otherwise a one-line error
/// that names the candidates.
fn pick(candidates: &[Session]) -> Result<String> {
    if candidates.is_empty() {
        return Err(Error::not_found(
            "not inside a session's worktree, and there are no live sessions",
        ));
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        let list: Vec<String> = candidates
            .iter()
            .map(|s| format!("{} ({})", s.id, clean_line(&s.branch)))
            .collect();
        return Err(Error::invalid(format!(
            "not inside a session's worktree; give a session id: {}",
            list.join(", ")
        )));
    }
    eprintln!("Not inside a session's worktree. Which session?");
    for (n, s) in candidates.iter().enumerate() {
        eprintln!(
            "  {}) {}  {}  {}",
            n + 1,
            s.id,
            s.status.as_str(),
            clean_line(&s.branch)
        );
    }
    eprint!("Number (empty to cancel): ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::failed(format!("could not read the answer: {e}")))?;
    let answer = answer.trim();
    if answer.is_empty() {
        return Err(Error::invalid("cancelled"));
    }
    answer
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| candidates.get(n))
        .map(|s| s.id.clone())
        .ok_or_else(|| Error::usage(format!("{answer:?} is not one of the numbers shown")))
}

/// What `close` and `reactivate` print.
pub(super) fn report_change(ctx: &Ctx, changed: &Changed) -> Result<()> {
    warn_all(ctx, &changed.warnings);
    let s = &changed.after;
    if changed.written && !ctx.global.dry_run {
        ctx.note(&format!("ref: refs/pm/sessions/{}", s.id));
    }
    if ctx.global.json {
        return print_json(&api::SessionChange::new(changed, ctx.mode()));
    }
    let text = match (changed.written, ctx.global.dry_run) {
        (false, _) => format!(
            "Session {} is already {}\n",
            ctx.style.cyan(&s.id),
            s.status.as_str()
        ),
        (true, false) => format!("Session {} {}\n", ctx.style.cyan(&s.id), changed.message),
        (true, true) => format!(
            "Would change session {}: {}\n",
            ctx.style.cyan(&s.id),
            changed.message
        ),
    };
    print(&text)
}

/// What session tables need to show `shown` by their shortest unique prefixes. Only aligned
/// tables shorten ids; for a few, only their neighbours among all ids are looked up.
pub(super) fn id_prefixes(ctx: &Ctx, ws: &Workspace, shown: &[&str]) -> Result<IdPrefixes> {
    if !ctx.style.aligned() || shown.is_empty() {
        return Ok(IdPrefixes::new(Vec::new()));
    }
    let ids = if shown.len() > 64 {
        ws.store().ids(RecordKind::Session)?
    } else {
        ws.store().ids_near(RecordKind::Session, shown)?
    };
    Ok(IdPrefixes::new(ids))
}

/// The titles of issues by id, if one of `issues` names one (issues are read only then, from
/// the summaries the local cache keeps of them).
pub(super) fn issue_titles<'a>(
    ws: &Workspace,
    mut issues: impl Iterator<Item = Option<&'a str>>,
) -> Result<HashMap<String, String>> {
    if !issues.any(|issue| issue.is_some()) {
        return Ok(HashMap::new());
    }
    let texts = ws.store().briefs::<Issue>(Scope::All)?;
    Ok(texts
        .records()
        .filter_map(|issue| {
            let summary: IssueSummary<'_> = serde_json::from_str(issue.summary).ok()?;
            Some((issue.id.to_string(), summary.title.into_owned()))
        })
        .collect())
}

/// A session's issue in a table: its title, or its id when the issue is not here.
pub(super) fn issue_cell<'a>(
    issue: Option<&'a str>,
    titles: &'a HashMap<String, String>,
) -> Cow<'a, str> {
    match issue {
        Some(id) => titles
            .get(id)
            .map_or(Cow::Borrowed(id), |title| clean(title)),
        None => Cow::Borrowed("-"),
    }
}

pub(super) fn warn_broken(ctx: &Ctx, broken: &[Broken]) {
    for bad in broken {
        ctx.warn(&clean_line(&format!(
            "session {} cannot be read: {}",
            bad.id, bad.message
        )));
    }
}

pub(super) fn cyan(style: &Style, text: &str) -> String {
    style.cyan(text)
}
pub(super) fn dim(style: &Style, text: &str) -> String {
    style.dim(text)
}
/// Active green, idle yellow, completed cyan, abandoned dim.
pub(super) fn status_color(status: SessionStatus) -> Paint {
    match status {
        SessionStatus::Active => |s, t| s.green(t),
        SessionStatus::Idle => |s, t| s.yellow(t),
        SessionStatus::Completed => |s, t| s.cyan(t),
        SessionStatus::Abandoned => |s, t| s.dim(t),
    }
}
