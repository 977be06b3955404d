//! `pm agent reconcile`.

use super::{Ctx, print, print_json, warn_all};
use crate::api;
use crate::error::Result;
use crate::ops::sessions::{self, HandedOff, ReconcileRequest, Reconciled, Repaired};
use crate::render::clean_line;
use crate::workspace::Workspace;
use clap::Args;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Remove this clone's old worktrees of sessions another clone took over, each only when it
    /// has no uncommitted changes or untracked files and all its commits are on a remote
    #[arg(long)]
    remove_handed_off: bool,
}

pub fn run(ctx: &Ctx, ws: &Workspace, args: ReconcileArgs) -> Result<()> {
    let request = ReconcileRequest {
        remove_handed_off: args.remove_handed_off,
    };
    let report = sessions::reconcile(ws, &request, ctx.mode())?;
    warn_all(ctx, &report.warnings);
    if ctx.global.json {
        return print_json(&api::Reconcile::new(&report, ctx.mode()));
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

/// What a reconcile before a listing did, as warnings (the listing is the command's output).
pub(super) fn warn_reconciled(ctx: &Ctx, reconciled: &Reconciled) {
    warn_all(ctx, &reconciled.warnings);
    for s in &reconciled.abandoned {
        ctx.warn(&format!(
            "session {} on {} was abandoned: its worktree is gone",
            s.id,
            clean_line(&s.branch)
        ));
    }
    for path in &reconciled.pruned {
        ctx.warn(&format!(
            "pruned the stale worktree entry {}: its folder is gone",
            path.display()
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
}

/// "session X was handed over to clone Y; its old worktree at PATH is still here".
fn handed_off_line(h: &HandedOff) -> String {
    format!(
        "session {} was handed over to clone {}; its old worktree at {} is still here",
        h.session,
        h.owner,
        h.worktree.display()
    )
}

fn repaired_lines(repaired: &[Repaired]) -> Vec<String> {
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
