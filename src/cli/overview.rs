//! `pm` with no command: a short overview of the repository.

use super::{Ctx, print, print_json};
use crate::error::Result;
use crate::ops::overview::{Overview, overview};
use crate::render::{Column, IdPrefixes, Table, clean_line};

/// At most this many live sessions are listed.
const SHOWN: usize = 10;

pub fn run(ctx: &Ctx) -> Result<()> {
    let ws = ctx.workspace()?;
    let overview = overview(&ws)?;
    if ctx.global.json {
        return print_json(&overview);
    }
    let shown: Vec<&str> = overview
        .live
        .iter()
        .take(SHOWN)
        .map(|l| l.id.as_str())
        .collect();
    let ids = super::agent::id_prefixes(ctx, &ws, &shown)?;
    print(&render(ctx, &overview, &ids))
}

fn render(ctx: &Ctx, o: &Overview, ids: &IdPrefixes) -> String {
    let style = &ctx.style;
    let s = &o.sessions;
    let mut out = format!(
        "Sessions: {} active, {} idle, {} completed, {} abandoned\n",
        s.active, s.idle, s.completed, s.abandoned
    );
    if !o.live.is_empty() {
        let mut table = Table::with_columns(vec![
            Column::id("ID", ids),
            Column::text("BRANCH", 12),
            Column::keep("STATUS"),
            Column::text("ISSUE", 12),
        ]);
        for l in o.live.iter().take(SHOWN) {
            table.row(vec![
                (l.id.clone(), None),
                (clean_line(&l.branch), None),
                (
                    l.status.as_str().to_string(),
                    Some(super::agent::status_color(l.status)),
                ),
                (
                    l.issue_title
                        .as_deref()
                        .map(clean_line)
                        .unwrap_or_else(|| "-".into()),
                    None,
                ),
            ]);
        }
        for line in table.render(&style.indented(2)).lines() {
            out.push_str(&format!("  {line}\n"));
        }
        if o.live.len() > SHOWN {
            out.push_str(&format!(
                "  … and {} more (pm agent list)\n",
                o.live.len() - SHOWN
            ));
        }
    }
    let i = &o.issues;
    out.push_str(&format!(
        "Issues: {} open, {} in progress, {} done, {} closed\n",
        i.open, i.in_progress, i.done, i.closed
    ));
    let sync = &o.sync;
    let line = match (sync.configured, sync.fetched) {
        (false, _) => format!("no remote {} (pm sync needs one)", sync.remote),
        (true, false) => format!("{}: never synced (pm sync)", sync.remote),
        (true, true) if sync.to_push == 0 && sync.to_merge == 0 => {
            format!("{}: up to date as of the last fetch", sync.remote)
        }
        (true, true) => format!(
            "{}: {} to push, {} fetched but not merged (pm sync)",
            sync.remote, sync.to_push, sync.to_merge
        ),
    };
    out.push_str(&format!("Sync: {line}\n"));
    if sync.auto {
        let ago = |at: crate::model::Timestamp| {
            crate::model::time::format_duration(
                crate::model::Timestamp::now().seconds() - at.seconds(),
            )
        };
        let line = match &sync.last_auto {
            None => "on, nothing shared yet".to_string(),
            Some(last) if last.ok => format!(
                "on, last shared {} ago ({} pushed)",
                ago(last.at),
                last.pushed
            ),
            Some(last) => clean_line(&format!(
                "on, last try failed {} ago: {}; the next command tries again",
                ago(last.at),
                last.error.as_deref().unwrap_or("unknown error")
            )),
        };
        out.push_str(&format!("Auto sync: {line}\n"));
    }
    if o.broken > 0 {
        out.push_str(&format!(
            "{} record(s) cannot be read (see pm issue list, pm agent list)\n",
            o.broken
        ));
    }
    out.push_str(&style.dim("Commands: pm --help\n"));
    out
}
