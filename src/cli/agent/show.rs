//! `pm agent show` and `pm agent events`.

use super::{Ctx, SessionArg, print, print_json, session_or_here, status_color};
use crate::api;
use crate::error::Result;
use crate::model::time::format_duration;
use crate::model::{Issue, Timestamp};
use crate::ops::provision::SetupReport;
use crate::ops::sessions::{self, SessionDetails};
use crate::render::{Style, clean_line, clean_text};
use crate::runtime::events::HookOutcome;
use crate::workspace::Workspace;

pub fn run(ctx: &Ctx, ws: &Workspace, args: SessionArg) -> Result<()> {
    let id = session_or_here(ctx, ws, args.id)?;
    let details = sessions::show(ws, &id)?;
    let view = &details.view;
    if ctx.global.json {
        return print_json(&api::SessionShow::new(&details));
    }
    let title = view
        .session
        .issue
        .as_deref()
        .and_then(|id| ws.store().read::<Issue>(id).ok())
        .map(|issue| issue.record.title);
    print(&session_text(&details, title.as_deref(), &ctx.style))
}

fn session_text(details: &SessionDetails, issue_title: Option<&str>, style: &Style) -> String {
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
        "setup",
        details.setup.as_ref().map(setup_text).unwrap_or_default(),
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

/// How provisioning the worktree went: `succeeded (time)`, or what failed or did not run.
fn setup_text(report: &SetupReport) -> String {
    let mut parts: Vec<String> = report
        .commands
        .iter()
        .filter(|c| c.outcome != HookOutcome::Succeeded)
        .map(|c| match c.outcome {
            HookOutcome::Failed => format!("{:?} failed ({})", c.command, c.detail),
            _ => format!("{:?} did not run ({})", c.command, c.detail),
        })
        .collect();
    parts.extend(report.problems.iter().cloned());
    let state = report.state.as_str();
    let text = if parts.is_empty() {
        format!("{state} ({})", report.time)
    } else {
        format!("{state}: {}", parts.join("; "))
    };
    clean_line(&text)
}

/// `pm agent events`.
pub fn events(ctx: &Ctx, ws: &Workspace, args: SessionArg) -> Result<()> {
    let id = session_or_here(ctx, ws, args.id)?;
    let (id, events) = sessions::events(ws, &id)?;
    if ctx.global.json {
        let run_events = crate::ops::runs::all_events(ws, &id);
        return print_json(&api::SessionEvents {
            id: &id,
            events: &events,
            run_events: &run_events,
        });
    }
    super::super::print_events(&events, &ctx.style)
}
