//! `pm sync` and `pm init`: sharing records through a git remote.

use super::complete;
use super::{Ctx, print, print_json};
use crate::error::{Error, Result};
use crate::ops::sync::{self, Phase, SyncOptions, SyncReport};
use crate::render::clean_line;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The git remote to sync with (default: the configured remote, else origin)
    #[arg(add = ArgValueCompleter::new(complete::remotes))]
    remote: Option<String>,
    /// Only fetch and merge; push nothing
    #[arg(long, conflicts_with = "push_only")]
    fetch_only: bool,
    /// Only push; fetch nothing
    #[arg(long)]
    push_only: bool,
    /// Also push the branches of this clone's live sessions, never forced, so that another
    /// clone can resume them (default: the config's `[sync] branches`)
    #[arg(long, overrides_with = "no_branches")]
    branches: bool,
    /// Push no branches, whatever the config says
    #[arg(long)]
    no_branches: bool,
    /// The automatic sync of `[sync] auto`, started by pm itself after a write
    #[arg(long, hide = true, conflicts_with_all = ["remote", "fetch_only", "push_only", "branches", "no_branches"])]
    background: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The remote whose `git fetch` should also bring records (default: the configured remote)
    #[arg(add = ArgValueCompleter::new(complete::remotes), long, value_name = "REMOTE")]
    remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Archive the issues done or closed and the sessions completed, abandoned or purged whose
    /// last change is at least this many days old
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    older_than: u32,
}

pub fn run_archive(ctx: &Ctx, args: ArchiveArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    let cutoff = crate::model::Timestamp(ws.now().seconds() - i64::from(args.older_than) * 86_400);
    let archived = sync::archive(&ws, cutoff, ctx.mode())?;
    if ctx.global.json {
        #[derive(serde::Serialize)]
        struct ArchiveJson<'a> {
            #[serde(flatten)]
            archived: &'a crate::store::archive::Archived,
            dry_run: bool,
        }
        return print_json(&ArchiveJson {
            archived: &archived,
            dry_run: ctx.global.dry_run,
        });
    }
    let what = format!(
        "{} issue(s), {} session(s) and {} transcript(s)",
        archived.issues, archived.sessions, archived.runs
    );
    let mut text = if archived.total() == 0 {
        format!(
            "Nothing to archive: no finished record is {} day(s) old\n",
            args.older_than
        )
    } else if ctx.global.dry_run {
        format!(
            "Would archive {what} into {} archive ref(s)\n",
            archived.refs.len()
        )
    } else {
        format!(
            "Archived {what} into {} archive ref(s); pm sync shares them\n",
            archived.refs.len()
        )
    };
    if archived.kept_live > 0 {
        text.push_str(&format!(
            "{} record(s) changed meanwhile or differ from their archived version: they stay live\n",
            archived.kept_live
        ));
    }
    print(&text)
}

pub fn run_sync(ctx: &Ctx, args: SyncArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    // A sync shares what it finds: it starts no other.
    ws.share_automatically(false);
    if args.background {
        return sync::auto::run_background(&ws);
    }
    let remote = ws.remote_or_default(args.remote.as_deref())?;
    let options = SyncOptions {
        fetch: !args.push_only,
        push: !args.fetch_only,
        branches: args.branches || (!args.no_branches && ws.config()?.sync_branches),
        archive_before: sync::archive_cutoff(&ws)?,
        mode: ctx.mode(),
    };
    let mut bar = ProgressBar::new();
    let report = sync::sync(&ws, &remote, options, &mut |phase, done, total| {
        bar.show(phase, done, total)
    });
    bar.clear();
    let report = report?;
    sync::auto::note_manual(&ws, &report);
    if ctx.global.json {
        print_json(&report)?;
    } else {
        print_report(ctx, &report)?;
    }
    if report.push_is_stuck() {
        return Err(Error::failed(format!(
            "{} record(s) cannot be pushed: the remote {remote} holds a version that was not taken (see the warnings)",
            report.push_rejected.len()
        )));
    }
    if !report.push_rejected.is_empty() && args.push_only {
        return Err(Error::failed(format!(
            "the remote {remote} refused {} record(s) it has other changes of; run pm sync to merge them first",
            report.push_rejected.len(),
        )));
    }
    if let Some(first) = report.push_rejected.first() {
        let others = match report.push_rejected.len() - 1 {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        return Err(Error::failed(clean_line(&format!(
            "the remote {remote} still refused {} record(s) after {} rounds ({} {}{others}); run pm sync again",
            report.push_rejected.len(),
            report.rounds,
            first.ref_name,
            first.reason,
        ))));
    }
    Ok(())
}

fn print_report(ctx: &Ctx, report: &SyncReport) -> Result<()> {
    for rejected in &report.rejected {
        ctx.warn(&clean_line(&format!(
            "not taken from {}: {} {}",
            report.remote, rejected.ref_name, rejected.reason
        )));
    }
    for rejected in &report.branches_rejected {
        ctx.warn(&clean_line(&format!(
            "branch not pushed to {}: {} {}",
            report.remote, rejected.ref_name, rejected.reason
        )));
    }
    for rejected in &report.push_rejected {
        ctx.warn(&clean_line(&format!(
            "refused by {}: {} {}",
            report.remote, rejected.ref_name, rejected.reason
        )));
    }
    if let Some(first) = report.remove_rejected.first() {
        let others = match report.remove_rejected.len() - 1 {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        ctx.warn(&clean_line(&format!(
            "{} archived record(s) not removed from {}, which refused ({} {}{others}); a later sync tries again",
            report.remove_rejected.len(),
            report.remote,
            first.ref_name,
            first.reason,
        )));
    }
    let line = if report.dry_run {
        format!(
            "Would sync with {}: {} new, {} changed, {} to push\n",
            report.remote, report.created, report.fetched, report.pushed
        )
    } else {
        format!(
            "Synced with {}: fetched {}, new {}, fast-forwarded {}, merged {}, pushed {}, rejected {}\n",
            report.remote,
            report.fetched,
            report.created,
            report.fast_forwarded,
            report.merged,
            report.pushed,
            report.rejected.len() + report.push_rejected.len()
        )
    };
    let mut out = line;
    if report.archived + report.settled + report.removed > 0 {
        out.push_str(&format!(
            "Archived {} record(s) first; {} record(s) no longer live here, {} removed from {} (the archive holds them)\n",
            report.archived, report.settled, report.removed, report.remote
        ));
    }
    if !report.branches_pushed.is_empty() {
        out.push_str(&format!(
            "{} {} branch(es): {}\n",
            if report.dry_run {
                "Would push"
            } else {
                "Pushed"
            },
            report.branches_pushed.len(),
            clean_line(&report.branches_pushed.join(", "))
        ));
    }
    print(&out)
}

pub fn run_init(ctx: &Ctx, args: InitArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    let remote = ws.remote_or_default(args.remote.as_deref())?;
    let added = sync::init_remote(&ws, &remote, ctx.mode())?;
    let spec = sync::fetch_refspec(&remote);
    if ctx.global.json {
        #[derive(serde::Serialize)]
        struct InitJson<'a> {
            remote: &'a str,
            refspec: &'a str,
            added: bool,
            dry_run: bool,
        }
        return print_json(&InitJson {
            remote: &remote,
            refspec: &spec,
            added,
            dry_run: ctx.global.dry_run,
        });
    }
    let text = match (added, ctx.global.dry_run) {
        (false, _) => format!("remote.{remote}.fetch already has {spec}"),
        (true, true) => format!("Would add {spec} to remote.{remote}.fetch"),
        (true, false) => format!(
            "Added {spec} to remote.{remote}.fetch: `git fetch {remote}` now brings records too"
        ),
    };
    print(&format!("{}\n", clean_line(&text)))
}

/// A one-line progress bar on stderr, drawn only on a terminal and only for big syncs.
struct ProgressBar {
    enabled: bool,
    drawn: bool,
    last: Option<Instant>,
}

/// Fewer records than this are done before a bar would be worth seeing.
const PROGRESS_MIN: usize = 200;

impl ProgressBar {
    fn new() -> Self {
        ProgressBar {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
            last: None,
        }
    }

    fn show(&mut self, phase: Phase, done: usize, total: usize) {
        if self.enabled && phase == Phase::Waiting {
            let _ = write!(
                std::io::stderr().lock(),
                "\rwaiting for another pm sync of this clone to end"
            );
            self.drawn = true;
            return;
        }
        if self.enabled && phase == Phase::Refused {
            let _ = write!(
                std::io::stderr().lock(),
                "\r\x1b[2Kround {done}: {total} record(s) refused, changed by others first; trying again"
            );
            self.drawn = true;
            return;
        }
        if !self.enabled || phase != Phase::Merging || total < PROGRESS_MIN {
            return;
        }
        let now = Instant::now();
        if done < total
            && self
                .last
                .is_some_and(|t| now - t < Duration::from_millis(80))
        {
            return;
        }
        self.last = Some(now);
        const WIDTH: usize = 30;
        let filled = done * WIDTH / total.max(1);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rmerging [{}{}] {done}/{total}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled)
        );
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}
