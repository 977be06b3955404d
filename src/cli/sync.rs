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
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The remote whose `git fetch` should also bring records (default: the configured remote)
    #[arg(add = ArgValueCompleter::new(complete::remotes), long, value_name = "REMOTE")]
    remote: Option<String>,
}

pub fn run_sync(ctx: &Ctx, args: SyncArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    let remote = ws.remote_or_default(args.remote.as_deref())?;
    let options = SyncOptions {
        fetch: !args.push_only,
        push: !args.fetch_only,
        branches: args.branches || (!args.no_branches && ws.config()?.sync_branches),
        mode: ctx.mode(),
    };
    let mut bar = ProgressBar::new();
    let report = sync::sync(&ws, &remote, options, &mut |phase, done, total| {
        bar.show(phase, done, total)
    });
    bar.clear();
    let report = report?;
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
    if !report.push_rejected.is_empty() {
        return Err(Error::failed(format!(
            "the remote {remote} refused {} record(s) after {} round(s); run pm sync again",
            report.push_rejected.len(),
            report.rounds
        )));
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
