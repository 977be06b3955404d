//! `pm agent …`: launch agent sessions and manage their lifecycle.

use super::complete;
use super::{Ctx, JSON_VERSION, print, print_json};
use crate::error::{Error, Result};
use crate::lifecycle::SessionEvent;
use crate::model::issue::IssueSummary;
use crate::model::time::format_duration;
use crate::model::{Issue, IssueStatus, RecordKind, Session, SessionStatus, Timestamp};
use crate::render::EscapeControls;
use crate::render::json::{self, SessionJson};
use crate::render::{
    Column, IdPrefixes, Paint, Style, Table, clean, clean_line, clean_text, push_tab_separated,
};
use crate::sessions::{
    self, Changed, HistoryView, LaunchRequest, ListFilter, Located, SessionView,
};
use crate::store::{Broken, Event, Scope, Store};
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::IsTerminal;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AgentCommand {
    /// Start an agent session on a new branch and worktree (or resume the branch's idle session)
    Launch(LaunchArgs),
    /// List live sessions (after noticing worktrees that disappeared)
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Every session, newest first, with commit counts and durations
    History(HistoryArgs),
    /// Show one session and its local state
    Show(SessionArg),
    /// Show the history of a session's record, newest first
    Events(SessionArg),
    /// Close a session: idle by default, or --done / --abandon
    Close(CloseArgs),
    /// Make an idle session active again here; take over another clone's session
    Resume(ResumeArgs),
    /// Bring a completed or abandoned session back as idle
    Reactivate(ReactivateArgs),
    /// Abandon this clone's sessions whose worktree is gone; prune stale worktree entries;
    /// repair issue statuses; report worktrees of sessions handed over to another clone
    Reconcile(ReconcileArgs),
    /// Remove a session for good (a tombstone that syncs), optionally with its worktree and branch
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Issue to work on (full id or unique prefix); the branch name derives from its title
    #[arg(add = ArgValueCompleter::new(complete::issues), long, short, value_name = "ID")]
    issue: Option<String>,
    /// Branch to work on (created if missing)
    #[arg(add = ArgValueCompleter::new(complete::branches), long, short)]
    branch: Option<String>,
    /// Where a new branch starts (default: the main worktree's HEAD)
    #[arg(add = ArgValueCompleter::new(complete::branches), long, value_name = "REV")]
    base: Option<String>,
    /// Agent name recorded with the session (default from configuration)
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// The prompt the agent was given
    #[arg(long, value_name = "TEXT", default_value = "")]
    prompt: String,
    /// A role for the agent (free text)
    #[arg(long, value_name = "TEXT", default_value = "")]
    role: String,
    /// Launch even when another live session already works on the issue
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ReactivateArgs {
    /// Session id (full or unique prefix) or branch
    #[arg(add = ArgValueCompleter::new(complete::finished_sessions))]
    id: String,
    /// Reactivate even when another live session already works on the issue
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Session id (full or unique prefix) or branch
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: String,
    /// Take over a session that is active in another clone
    #[arg(long)]
    force: bool,
    /// Remote to fetch the session's branch from when it is not here (default: configured)
    #[arg(add = ArgValueCompleter::new(complete::remotes), long, value_name = "REMOTE")]
    remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include completed and abandoned sessions
    #[arg(long, short)]
    all: bool,
    /// Only these statuses (comma-separated)
    #[arg(long, short, value_enum, value_delimiter = ',')]
    status: Vec<SessionStatus>,
    /// Only sessions of this issue (full id or unique prefix)
    #[arg(add = ArgValueCompleter::new(complete::issues), long, short, value_name = "ID")]
    issue: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show at most N sessions
    #[arg(long, short = 'l', value_name = "N")]
    limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SessionArg {
    /// Session id (full or unique prefix, any case) or branch (default: the session whose
    /// worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::any_session))]
    id: Option<String>,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Session id or branch (default: the session whose worktree contains the current directory)
    #[arg(add = ArgValueCompleter::new(complete::live_sessions))]
    id: Option<String>,
    /// The work is finished: the session is completed and its issue done
    #[arg(long, conflicts_with = "abandon")]
    done: bool,
    /// Give up: the session is abandoned and its issue open again (unless other live sessions
    /// work on it)
    #[arg(long)]
    abandon: bool,
    /// Close a session that is active in another clone
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Remove this clone's old worktrees of sessions another clone took over, each only when it
    /// has no uncommitted changes or untracked files and all its commits are on a remote
    #[arg(long)]
    remove_handed_off: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Session id (full or unique prefix, any case) or branch
    #[arg(add = ArgValueCompleter::new(complete::any_session))]
    id: String,
    /// Also delete the worktree and branch this clone created for the session
    #[arg(long)]
    delete_files: bool,
    /// Delete even a dirty worktree, a branch with unmerged commits, or an active session
    /// (also one active in another clone)
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Ctx, command: AgentCommand) -> Result<()> {
    let store = ctx.store()?;
    match command {
        AgentCommand::Launch(args) => launch(ctx, &store, args),
        AgentCommand::List(args) => list(ctx, &store, args),
        AgentCommand::History(args) => history(ctx, &store, args),
        AgentCommand::Show(args) => show(ctx, &store, &session_or_here(ctx, &store, args.id)?),
        AgentCommand::Events(args) => events(ctx, &store, &session_or_here(ctx, &store, args.id)?),
        AgentCommand::Close(args) => close(ctx, &store, args),
        AgentCommand::Resume(args) => resume(ctx, &store, args),
        AgentCommand::Reactivate(args) => {
            let changed = sessions::reactivate(&store, &args.id, args.force, ctx.mode())?;
            report_change(ctx, &changed)
        }
        AgentCommand::Reconcile(args) => reconcile(ctx, &store, args),
        AgentCommand::Purge(args) => purge(ctx, &store, args),
    }
}

fn warn_all(ctx: &Ctx, warnings: &[String]) {
    for warning in warnings {
        ctx.warn(&clean_line(warning));
    }
}

fn launch(ctx: &Ctx, store: &Store, args: LaunchArgs) -> Result<()> {
    let request = LaunchRequest {
        issue: args.issue,
        branch: args.branch,
        base: args.base,
        agent: args.agent,
        prompt: args.prompt,
        role: args.role,
        force: args.force,
    };
    let launched = sessions::launch(store, request, ctx.mode())?;
    if !ctx.global.dry_run {
        ctx.note(&format!("ref: refs/pm/sessions/{}", launched.session.id));
        ctx.note(&format!("branch: refs/heads/{}", launched.session.branch));
    }
    print_launched(ctx, &launched)
}

fn resume(ctx: &Ctx, store: &Store, args: ResumeArgs) -> Result<()> {
    let remote = super::sync::remote_or_default(store, args.remote)?;
    let launched = sessions::resume_session(store, &args.id, args.force, &remote, ctx.mode())?;
    print_launched(ctx, &launched)
}

fn print_launched(ctx: &Ctx, launched: &sessions::Launched) -> Result<()> {
    warn_all(ctx, &launched.warnings);
    let s = &launched.session;
    if ctx.global.json {
        #[derive(Serialize)]
        struct LaunchJson<'a> {
            dry_run: bool,
            resumed: bool,
            recreated_worktree: bool,
            id: &'a str,
            branch: &'a str,
            worktree: &'a std::path::Path,
            status: SessionStatus,
            issue: Option<&'a str>,
        }
        return print_json(&LaunchJson {
            dry_run: ctx.global.dry_run,
            resumed: launched.resumed,
            recreated_worktree: launched.recreated_worktree,
            id: &s.id,
            branch: &s.branch,
            worktree: &launched.worktree,
            status: s.status,
            issue: s.issue.as_deref(),
        });
    }
    let verb = match (ctx.global.dry_run, launched.resumed) {
        (true, false) => "Would launch",
        (true, true) => "Would resume",
        (false, false) => "Launched",
        (false, true) => "Resumed",
    };
    let mut out = format!("{verb} session {}\n", ctx.style.cyan(&s.id));
    out.push_str(&format!("  branch    {}\n", clean_line(&s.branch)));
    out.push_str(&format!("  worktree  {}\n", launched.worktree.display()));
    if let Some(issue) = &s.issue {
        out.push_str(&format!("  issue     {issue}\n"));
    }
    print(&out)
}

fn list(ctx: &Ctx, store: &Store, args: ListArgs) -> Result<()> {
    let filter = ListFilter {
        statuses: args.status,
        all: args.all,
        issue: args.issue,
    };
    let (views, broken, reconciled) = sessions::list(store, &filter, ctx.mode())?;
    warn_broken(ctx, &broken);
    warn_all(ctx, &reconciled.warnings);
    for s in &reconciled.abandoned {
        ctx.warn(&format!(
            "session {} on {} was abandoned: its worktree is gone",
            s.id,
            clean_line(&s.branch)
        ));
    }
    for line in repaired_lines(&reconciled.repaired) {
        ctx.warn(&line);
    }
    for h in &reconciled.handed_off {
        ctx.warn(&format!(
            "{}; `pm agent reconcile --remove-handed-off` removes it when it is clean and pushed",
            handed_off_line(h)
        ));
    }
    if ctx.global.json {
        return print_sessions_json(&views, &broken);
    }
    if views.is_empty() {
        let hint = if args.all {
            ""
        } else {
            " (use --all to include completed and abandoned ones)"
        };
        return print(&format!("No sessions{hint}.\n"));
    }
    let shown: Vec<&str> = views.iter().map(|v| v.session.id.as_str()).collect();
    let ids = id_prefixes(ctx, store, &shown)?;
    let titles = issue_titles(store, views.iter().map(|v| v.session.issue.as_deref()))?;
    // At 80 columns the start time goes first, then the worktree (`agent show` has both).
    let mut table = Table::with_columns(vec![
        Column::id("ID", &ids),
        Column::text("BRANCH", 12),
        Column::keep("STATUS"),
        Column::text("ISSUE", 12),
        Column::path("WORKTREE", 20).optional(2),
        Column::keep("STARTED").optional(1),
        Column::keep("LAST ACTIVITY").optional(3),
    ]);
    for view in &views {
        let s = &view.session;
        let worktree = match (&view.worktree, view.mine) {
            (Some(path), _) if view.worktree_exists => path.display().to_string(),
            (Some(path), _) => format!("{} (missing)", path.display()),
            (None, false) => "(another clone)".to_string(),
            (None, true) => "-".to_string(),
        };
        table.row(vec![
            (s.id.clone(), Some(cyan as Paint)),
            (clean_line(&s.branch), None),
            (s.status.as_str().to_string(), Some(status_color(s.status))),
            (issue_cell(s.issue.as_deref(), &titles).into_owned(), None),
            (worktree, None),
            (s.started.to_string(), Some(dim as Paint)),
            (view.last_activity.to_string(), Some(dim as Paint)),
        ]);
    }
    print(&table.render(&ctx.style))
}

fn history(ctx: &Ctx, store: &Store, args: HistoryArgs) -> Result<()> {
    sessions::history(store, args.limit, |views, broken| {
        warn_broken(ctx, broken);
        if ctx.global.json {
            return print_history_json(views, broken);
        }
        if views.is_empty() {
            return print("No sessions.\n");
        }
        print_history_table(ctx, store, views)
    })
}

/// The history as a table. Off a terminal, rows are written as they come (on several threads,
/// in order): a history can hold many thousands, and a script wants them all.
fn print_history_table(ctx: &Ctx, store: &Store, views: &[HistoryView<'_>]) -> Result<()> {
    let now = Timestamp::now();
    let shown: Vec<&str> = views.iter().map(|v| &*v.session.id).collect();
    let ids = id_prefixes(ctx, store, &shown)?;
    let titles = issue_titles(store, views.iter().map(|v| v.session.issue.as_deref()))?;
    let mut table = Table::with_columns(vec![
        Column::id("ID", &ids),
        Column::text("BRANCH", 12),
        Column::keep("STATUS"),
        Column::text("ISSUE", 12),
        Column::keep("COMMITS"),
        Column::keep("DURATION"),
        Column::text("LAST COMMIT", 36).optional(1),
    ]);
    if ctx.style.aligned() {
        for view in views {
            let cells = history_cells(view, &titles, now);
            table.row(cells.map(|(text, paint)| (text.into_owned(), paint)).into());
        }
        return print(&table.render(&ctx.style));
    }
    let style = ctx.style;
    let write = |part: &[HistoryView<'_>]| {
        let mut out = String::with_capacity(part.len() * 96);
        for view in part {
            let cells = history_cells(view, &titles, now);
            push_tab_separated(
                &mut out,
                cells.iter().map(|(t, p)| (t.as_ref(), *p)),
                &style,
            );
        }
        out
    };
    let mut out = table.tab_separated_header();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || views.len() < 2048 {
        out.push_str(&write(views));
        return print(&out);
    }
    let parts: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = views
            .chunks(views.len().div_ceil(threads))
            .map(|part| scope.spawn(move || write(part)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    print(&out)?;
    for part in &parts {
        print(part)?;
    }
    Ok(())
}

/// What session tables need to show `shown` by their shortest unique prefixes. Only aligned
/// tables shorten ids; for a few, only their neighbours among all ids are looked up.
pub(super) fn id_prefixes(ctx: &Ctx, store: &Store, shown: &[&str]) -> Result<IdPrefixes> {
    if !ctx.style.aligned() || shown.is_empty() {
        return Ok(IdPrefixes::new(Vec::new()));
    }
    let ids = if shown.len() > 64 {
        store.ids(RecordKind::Session)?
    } else {
        store.ids_near(RecordKind::Session, shown)?
    };
    Ok(IdPrefixes::new(ids))
}

/// The cells of one session in the history table.
fn history_cells<'v>(
    view: &'v HistoryView<'_>,
    titles: &'v HashMap<String, String>,
    now: Timestamp,
) -> [(Cow<'v, str>, Option<Paint>); 7] {
    let s = view.session;
    let last = match &view.last_commit {
        Some((time, commit, subject)) => Cow::Owned(format!(
            "{} {} {}",
            time,
            &commit[..commit.len().min(8)],
            clean_line(subject)
        )),
        None => Cow::Borrowed("-"),
    };
    [
        (Cow::Borrowed(&*s.id), Some(cyan as Paint)),
        (clean(&s.branch), None),
        (
            Cow::Borrowed(s.status.as_str()),
            Some(status_color(s.status)),
        ),
        (issue_cell(s.issue.as_deref(), titles), None),
        (Cow::Owned(view.commits.to_string()), None),
        (Cow::Owned(format_duration(s.duration(now))), None),
        (last, Some(dim as Paint)),
    ]
}

fn print_history_json(views: &[HistoryView<'_>], broken: &[Broken]) -> Result<()> {
    let now = Timestamp::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    // Below this many, threads gain little, and lose when the other cores are busy.
    if threads < 2 || views.len() < 16_384 {
        /// Serialized one by one, never collected.
        struct Each<'a>(&'a [HistoryView<'a>], Timestamp);
        impl Serialize for Each<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let now = self.1;
                s.collect_seq(self.0.iter().map(|v| SessionJson::of_history(v, now)))
            }
        }
        #[derive(Serialize)]
        struct SessionsJson<'a> {
            sessions: Each<'a>,
            errors: &'a [Broken],
        }
        return print_json(&SessionsJson {
            sessions: Each(views, now),
            errors: broken,
        });
    }
    // Many: the sessions are written in parts on several threads (each escaped as print_json
    // escapes) and joined into the document print_json writes.
    let written: std::io::Result<Vec<Vec<u8>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = views
            .chunks(views.len().div_ceil(threads))
            .map(|part| {
                scope.spawn(move || {
                    let escaped = EscapeControls::new(Vec::with_capacity(part.len() * 768));
                    let mut out = std::io::BufWriter::with_capacity(64 * 1024, escaped);
                    let sessions = part.iter().map(|v| SessionJson::of_history(v, now));
                    json::pretty_elements(&mut out, sessions, 2)?;
                    out.into_inner().map_err(|e| e.into_error())?.finish()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a writer thread failed")))
            })
            .collect()
    });
    let parts = written.map_err(|e| Error::failed(format!("cannot write the history: {e}")))?;
    let mut errors = EscapeControls::new(Vec::new());
    broken
        .serialize(&mut serde_json::Serializer::with_formatter(
            &mut errors,
            json::PrettyAt::new(1),
        ))
        .map_err(|e| Error::failed(format!("cannot write the history: {e}")))?;
    let errors = errors
        .finish()
        .map_err(|e| Error::failed(format!("cannot write the history: {e}")))?;
    let head = format!("{{\n  \"json_version\": {JSON_VERSION},\n  \"sessions\": [");
    let mut pieces: Vec<&[u8]> = vec![head.as_bytes()];
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            pieces.push(b",");
        }
        pieces.push(part);
    }
    pieces.extend([&b"\n  ],\n  \"errors\": "[..], &errors, b"\n}\n"]);
    print_bytes(&pieces)
}

/// Write `pieces` to stdout one after the other; a closed pipe is not an error (as [`print`]).
fn print_bytes(pieces: &[&[u8]]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = pieces
        .iter()
        .try_for_each(|piece| out.write_all(piece))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::failed(format!("cannot write to stdout: {e}"))),
    }
}

fn show(ctx: &Ctx, store: &Store, id: &str) -> Result<()> {
    let details = sessions::show(store, id)?;
    let view = &details.view;
    if ctx.global.json {
        #[derive(Serialize)]
        struct ShowJson<'a> {
            session: SessionJson<'a>,
            dirty: Option<bool>,
            branch_missing: bool,
            ahead: Option<u32>,
            behind: Option<u32>,
            host: Option<&'a str>,
            purged: Option<Timestamp>,
        }
        return print_json(&ShowJson {
            session: SessionJson::from(view),
            dirty: details.dirty,
            branch_missing: details.branch_missing,
            ahead: details.ahead_behind.map(|(a, _)| a),
            behind: details.ahead_behind.map(|(_, b)| b),
            host: details.host.as_deref(),
            purged: view.session.purged,
        });
    }
    let title = view
        .session
        .issue
        .as_deref()
        .and_then(|id| store.read::<Issue>(id).ok())
        .map(|issue| issue.record.title);
    print(&session_text(&details, title.as_deref(), &ctx.style))
}

/// The titles of issues by id, if one of `issues` names one (issues are read only then, from
/// the summaries the local cache keeps of them).
pub(super) fn issue_titles<'a>(
    store: &Store,
    mut issues: impl Iterator<Item = Option<&'a str>>,
) -> Result<HashMap<String, String>> {
    if !issues.any(|issue| issue.is_some()) {
        return Ok(HashMap::new());
    }
    let texts = store.briefs::<Issue>(Scope::All)?;
    Ok(texts
        .records()
        .filter_map(|issue| {
            let summary: IssueSummary<'_> = serde_json::from_str(issue.summary).ok()?;
            Some((issue.id.to_string(), summary.title.into_owned()))
        })
        .collect())
}

/// A session's issue in a table: its title, or its id when the issue is not here.
fn issue_cell<'a>(issue: Option<&'a str>, titles: &'a HashMap<String, String>) -> Cow<'a, str> {
    match issue {
        Some(id) => titles
            .get(id)
            .map_or(Cow::Borrowed(id), |title| clean(title)),
        None => Cow::Borrowed("-"),
    }
}

fn session_text(
    details: &sessions::SessionDetails,
    issue_title: Option<&str>,
    style: &Style,
) -> String {
    let view = &details.view;
    let s = &view.session;
    let mut out = format!(
        "{}  {}\n",
        style.cyan(&s.id),
        style.bold(&clean_line(&s.branch))
    );
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("{}  {value}\n", style.dim(&format!("{name:<10}"))));
        }
    };
    field("status", status_color(s.status)(style, s.status.as_str()));
    let issue = match (&s.issue, issue_title) {
        (Some(id), Some(title)) => format!("{id}  {}", clean_line(title)),
        (Some(id), None) => id.clone(),
        (None, _) => String::new(),
    };
    field("issue", issue);
    field("agent", clean_line(&s.agent));
    field("role", clean_line(&s.role));
    field("actor", clean_line(&s.actor));
    field(
        "base",
        format!(
            "{} ({})",
            clean_line(&s.base_ref),
            &s.base[..s.base.len().min(12)]
        ),
    );
    field("started", s.started.to_string());
    field("ended", s.ended.map(|t| t.to_string()).unwrap_or_default());
    field("duration", format_duration(s.duration(Timestamp::now())));
    field("commits", view.commits.to_string());
    if let Some((ahead, behind)) = details.ahead_behind {
        field(
            "ahead",
            format!("{ahead} ahead, {behind} behind {}", clean_line(&s.base_ref)),
        );
    }
    let worktree = match &view.worktree {
        Some(path) => {
            let state = match (view.worktree_exists, details.dirty) {
                (false, _) => "missing",
                (true, _) if details.branch_missing => "branch missing",
                (true, Some(true)) => "dirty",
                (true, Some(false)) => "clean",
                (true, None) => "exists",
            };
            format!("{} ({state})", path.display())
        }
        None if view.mine => "-".to_string(),
        None => "in another clone".to_string(),
    };
    field("worktree", worktree);
    field(
        "host",
        details
            .host
            .clone()
            .map(|h| clean_line(&h))
            .unwrap_or_default(),
    );
    field(
        "purged",
        s.purged.map(|t| t.to_string()).unwrap_or_default(),
    );
    if !s.prompt.trim().is_empty() {
        out.push('\n');
        out.push_str(clean_text(&s.prompt).trim_end());
        out.push('\n');
    }
    out
}

fn events(ctx: &Ctx, store: &Store, id: &str) -> Result<()> {
    let (id, events) = sessions::events(store, id)?;
    if ctx.global.json {
        #[derive(Serialize)]
        struct EventsJson<'a> {
            id: &'a str,
            events: &'a [Event],
        }
        return print_json(&EventsJson {
            id: &id,
            events: &events,
        });
    }
    super::print_events(&events, &ctx.style)
}

fn close(ctx: &Ctx, store: &Store, args: CloseArgs) -> Result<()> {
    let event = match (args.done, args.abandon) {
        (true, _) => SessionEvent::Complete,
        (_, true) => SessionEvent::Abandon,
        _ => SessionEvent::Close,
    };
    let id = session_or_here(ctx, store, args.id)?;
    let changed = sessions::close(store, &id, event, args.force, ctx.mode())?;
    report_change(ctx, &changed)
}

/// The session named on the command line (id or branch), else the one whose worktree
/// contains the current directory, else one picked from the live sessions.
fn session_or_here(ctx: &Ctx, store: &Store, named: Option<String>) -> Result<String> {
    match named {
        Some(text) => Ok(text),
        None => match sessions::locate(store, &ctx.dir()?)? {
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

fn report_change(ctx: &Ctx, changed: &Changed) -> Result<()> {
    warn_all(ctx, &changed.warnings);
    let s = &changed.after;
    if changed.written && !ctx.global.dry_run {
        ctx.note(&format!("ref: refs/pm/sessions/{}", s.id));
    }
    if ctx.global.json {
        #[derive(Serialize)]
        struct ChangeJson<'a> {
            dry_run: bool,
            changed: bool,
            message: Option<&'a str>,
            id: &'a str,
            status: SessionStatus,
            previous_status: SessionStatus,
            issue: Option<&'a str>,
        }
        return print_json(&ChangeJson {
            dry_run: ctx.global.dry_run,
            changed: changed.written,
            message: changed.written.then_some(changed.message.as_str()),
            id: &s.id,
            status: s.status,
            previous_status: changed.before.status,
            issue: s.issue.as_deref(),
        });
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

fn reconcile(ctx: &Ctx, store: &Store, args: ReconcileArgs) -> Result<()> {
    let report = sessions::reconcile(store, args.remove_handed_off, ctx.mode())?;
    warn_all(ctx, &report.warnings);
    if ctx.global.json {
        #[derive(Serialize)]
        struct RepairedJson<'a> {
            issue: &'a str,
            from: IssueStatus,
            to: IssueStatus,
            session: &'a str,
        }
        #[derive(Serialize)]
        struct HandedOffJson<'a> {
            id: &'a str,
            owner: &'a str,
            worktree: &'a std::path::Path,
            removed: bool,
            kept_because: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct ReconcileJson<'a> {
            dry_run: bool,
            abandoned: Vec<&'a str>,
            pruned: &'a [std::path::PathBuf],
            repaired: Vec<RepairedJson<'a>>,
            handed_off: Vec<HandedOffJson<'a>>,
        }
        return print_json(&ReconcileJson {
            dry_run: ctx.global.dry_run,
            abandoned: report.abandoned.iter().map(|s| s.id.as_str()).collect(),
            pruned: &report.pruned,
            repaired: report
                .repaired
                .iter()
                .map(|r| RepairedJson {
                    issue: &r.issue,
                    from: r.from,
                    to: r.to,
                    session: &r.session,
                })
                .collect(),
            handed_off: report
                .handed_off
                .iter()
                .map(|h| HandedOffJson {
                    id: &h.session,
                    owner: &h.owner,
                    worktree: &h.worktree,
                    removed: h.removed,
                    kept_because: h.kept_because.as_deref(),
                })
                .collect(),
        });
    }
    let dry = ctx.global.dry_run;
    let verb = if dry { "Would abandon" } else { "Abandoned" };
    let mut out = String::new();
    for s in &report.abandoned {
        out.push_str(&format!(
            "{verb} session {} ({}): its worktree is gone\n",
            s.id,
            clean_line(&s.branch)
        ));
    }
    let verb = if dry { "Would prune" } else { "Pruned" };
    for path in &report.pruned {
        out.push_str(&format!("{verb} stale worktree entry {}\n", path.display()));
    }
    for line in repaired_lines(&report.repaired) {
        out.push_str(&format!(
            "{}{}\n",
            if dry { "Would repair: " } else { "" },
            line
        ));
    }
    for h in &report.handed_off {
        let line = match (h.removed, &h.kept_because) {
            (true, _) => format!(
                "{} the old worktree {} of session {}, handed over to clone {}",
                if dry { "Would remove" } else { "Removed" },
                h.worktree.display(),
                h.session,
                h.owner
            ),
            (false, Some(why)) => format!("{}; kept: {}", handed_off_line(h), clean_line(why)),
            (false, None) => handed_off_line(h),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("Nothing to reconcile.\n");
    }
    print(&out)
}

/// "session X was handed over to clone Y; its old worktree at PATH is still here".
fn handed_off_line(h: &sessions::HandedOff) -> String {
    format!(
        "session {} was handed over to clone {}; its old worktree at {} is still here",
        h.session,
        h.owner,
        h.worktree.display()
    )
}

fn repaired_lines(repaired: &[sessions::Repaired]) -> Vec<String> {
    repaired
        .iter()
        .map(|r| {
            format!(
                "issue {} moved from {} to {}, as its sessions imply: the update after a change of session {} was missing",
                r.issue,
                r.from.as_str(),
                r.to.as_str(),
                r.session
            )
        })
        .collect()
}

fn purge(ctx: &Ctx, store: &Store, args: PurgeArgs) -> Result<()> {
    let purged = sessions::purge(store, &args.id, args.delete_files, args.force, ctx.mode())?;
    warn_all(ctx, &purged.warnings);
    if ctx.global.json {
        #[derive(Serialize)]
        struct PurgeJson<'a> {
            dry_run: bool,
            id: &'a str,
            removed_worktree: Option<&'a std::path::Path>,
            deleted_branch: Option<&'a str>,
        }
        return print_json(&PurgeJson {
            dry_run: ctx.global.dry_run,
            id: &purged.session.id,
            removed_worktree: purged.removed_worktree.as_deref(),
            deleted_branch: purged.deleted_branch.as_deref(),
        });
    }
    let dry = ctx.global.dry_run;
    let mut out = format!(
        "{} session {}\n",
        if dry { "Would purge" } else { "Purged" },
        purged.session.id
    );
    if let Some(path) = &purged.removed_worktree {
        out.push_str(&format!(
            "  {} worktree {}\n",
            if dry { "would remove" } else { "removed" },
            path.display()
        ));
    }
    if let Some(branch) = &purged.deleted_branch {
        out.push_str(&format!(
            "  {} branch {}\n",
            if dry { "would delete" } else { "deleted" },
            clean_line(branch)
        ));
    }
    print(&out)
}

fn warn_broken(ctx: &Ctx, broken: &[Broken]) {
    for bad in broken {
        ctx.warn(&clean_line(&format!(
            "session {} cannot be read: {}",
            bad.id, bad.message
        )));
    }
}

fn print_sessions_json(views: &[SessionView], broken: &[Broken]) -> Result<()> {
    /// Serialized one by one, never collected: a history can hold many thousands.
    struct Each<'a>(&'a [SessionView]);
    impl Serialize for Each<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(SessionJson::from))
        }
    }
    #[derive(Serialize)]
    struct SessionsJson<'a> {
        sessions: Each<'a>,
        errors: &'a [Broken],
    }
    print_json(&SessionsJson {
        sessions: Each(views),
        errors: broken,
    })
}

fn cyan(style: &Style, text: &str) -> String {
    style.cyan(text)
}
fn dim(style: &Style, text: &str) -> String {
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
