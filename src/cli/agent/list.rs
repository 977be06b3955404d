//! `pm agent list`.

use super::{
    Ctx, complete, cyan, dim, id_prefixes, issue_cell, issue_titles, print, print_json,
    reconcile::warn_reconciled, status_color, warn_broken,
};
use crate::api;
use crate::error::Result;
use crate::model::SessionStatus;
use crate::ops::sessions::{self, ListRequest, ReconcileRequest};
use crate::render::{Column, Paint, Table, clean_line};
use crate::store::Mode;
use crate::workspace::Workspace;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

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
    /// Show at most N sessions, the newest
    #[arg(long, short = 'l', value_name = "N")]
    limit: Option<usize>,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: ListArgs) -> Result<()> {
    // Sessions whose worktree is gone show as abandoned: reconcile first (listing itself
    // writes nothing).
    if ctx.mode() == Mode::Write {
        let reconciled = sessions::reconcile(ws, &ReconcileRequest::default(), Mode::Write)?;
        warn_reconciled(ctx, &reconciled);
    }
    let request = ListRequest {
        statuses: args.status,
        all: args.all,
        issue: args.issue,
        limit: args.limit,
    };
    let list = sessions::list(ws, &request)?;
    warn_broken(ctx, &list.broken);
    if ctx.global.json {
        return print_json(&api::SessionList::new(&list));
    }
    let views = &list.sessions;
    if views.is_empty() {
        let hint = if args.all {
            ""
        } else {
            " (use --all to include completed and abandoned ones)"
        };
        return print(&format!("No sessions{hint}.\n"));
    }
    let shown: Vec<&str> = views.iter().map(|v| v.session.id.as_str()).collect();
    let ids = id_prefixes(ctx, ws, &shown)?;
    let titles = issue_titles(ws, views.iter().map(|v| v.session.issue.as_deref()))?;
    // At 80 columns the start time goes first, then the worktree (`agent show` has both).
    // The agent's column only when a listed session ran one here.
    let agents = views.iter().any(|v| v.agent.is_some());
    let mut columns = vec![
        Column::id("ID", &ids),
        Column::text("BRANCH", 12),
        Column::keep("STATUS"),
        Column::text("ISSUE", 12),
        Column::path("WORKTREE", 20).optional(2),
        Column::keep("STARTED").optional(1),
        Column::keep("LAST ACTIVITY").optional(3),
    ];
    if agents {
        columns.insert(3, Column::keep("AGENT").optional(4));
    }
    let mut table = Table::with_columns(columns);
    for view in views {
        let s = &view.session;
        let worktree = match (&view.worktree, view.mine) {
            (Some(path), _) if view.worktree_exists => path.display().to_string(),
            (Some(path), _) => format!("{} (missing)", path.display()),
            (None, false) => "(another clone)".to_string(),
            (None, true) => "-".to_string(),
        };
        let mut row = vec![
            (s.id.clone(), Some(cyan as Paint)),
            (clean_line(&s.branch), None),
            (s.status.as_str().to_string(), Some(status_color(s.status))),
            (issue_cell(s.issue.as_deref(), &titles).into_owned(), None),
            (worktree, None),
            (s.started.to_string(), Some(dim as Paint)),
            (view.last_activity.to_string(), Some(dim as Paint)),
        ];
        if agents {
            row.insert(3, (view.agent.unwrap_or("-").to_string(), None));
        }
        table.row(row);
    }
    let mut out = table.render(&ctx.style);
    if list.total > views.len() {
        out.push_str(&format!(
            "… and {} more (a larger --limit shows them)\n",
            list.total - views.len()
        ));
    }
    print(&out)
}
