//! `pm agent history`.

use super::{
    Ctx, cyan, dim, id_prefixes, issue_cell, issue_titles, print, print_json, status_color,
    warn_broken,
};
use crate::api::{self, SessionJson};
use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::model::time::format_duration;
use crate::ops::sessions::{self, HistoryView};
use crate::render::json;
use crate::render::{Column, EscapeControls, Paint, Table, clean, clean_line, push_tab_separated};
use crate::store::Broken;
use crate::workspace::Workspace;
use clap::Args;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show at most N sessions
    #[arg(long, short = 'l', value_name = "N")]
    limit: Option<usize>,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: HistoryArgs) -> Result<()> {
    sessions::history(ws, args.limit, |views, broken| {
        warn_broken(ctx, broken);
        if ctx.global.json {
            return print_history_json(views, broken);
        }
        if views.is_empty() {
            return print("No sessions.\n");
        }
        print_history_table(ctx, ws, views)
    })
}

/// The history as a table. Off a terminal, rows are written as they come (on several threads,
/// in order): a history can hold many thousands, and a script wants them all.
fn print_history_table(ctx: &Ctx, ws: &Workspace, views: &[HistoryView<'_>]) -> Result<()> {
    let now = Timestamp::now();
    let shown: Vec<&str> = views.iter().map(|v| &*v.session.id).collect();
    let ids = id_prefixes(ctx, ws, &shown)?;
    let titles = issue_titles(ws, views.iter().map(|v| v.session.issue.as_deref()))?;
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
    let head = format!(
        "{{\n  \"json_version\": {},\n  \"sessions\": [",
        api::JSON_VERSION
    );
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
