//! `pm hooks` and `pm hooks approve`: what a new worktree of a session gets, and approving the
//! repository's commands. Also how the CLI shows hooks at work (on stderr).

use super::{Ctx, print, print_json};
use crate::api;
use crate::error::Result;
use crate::ops::hooks::{self, Approval};
use crate::ops::provision::Source;
use crate::render::{Column, Table, clean_line};
use crate::workspace::HookNote;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct HooksArgs {
    #[command(subcommand)]
    command: Option<HooksCommand>,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Approve the setup and teardown commands of the repository's .pm.toml as they read now
    /// (for this repository; a changed command needs approval again)
    Approve,
}

pub fn run(ctx: &Ctx, args: HooksArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    match args.command {
        None => list(ctx, &ws),
        Some(HooksCommand::Approve) => approve(ctx, &ws),
    }
}

fn list(ctx: &Ctx, ws: &crate::workspace::Workspace) -> Result<()> {
    let listed = hooks::list(ws)?;
    if ctx.global.json {
        return print_json(&api::Hooks::new(&listed));
    }
    if listed.copy.is_empty() && listed.commands.is_empty() {
        return print(&format!(
            "No worktree hooks for {}: [worktree] in .pm.toml or in your config, and \
             .worktreeinclude, set them\n",
            listed.repository.display()
        ));
    }
    let mut table = Table::with_columns(vec![
        Column::keep("HOOK"),
        Column::keep("FROM"),
        Column::keep("STATE"),
        Column::text("WHAT", 20),
    ]);
    for copy in &listed.copy {
        let from = match copy.source {
            "user" => "your config",
            "repository" => ".pm.toml",
            _ => ".worktreeinclude",
        };
        table.row(vec![
            ("copy".to_string(), None),
            (from.to_string(), None),
            ("-".to_string(), None),
            (clean_line(&copy.pattern), None),
        ]);
    }
    for command in &listed.commands {
        let from = match command.source {
            Source::User => "your config",
            Source::Repository => ".pm.toml",
        };
        let state = match command.approval {
            Approval::NotNeeded => "runs",
            Approval::Approved => "approved",
            Approval::NotApproved => "not approved",
        };
        table.row(vec![
            (command.hook.to_string(), None),
            (from.to_string(), None),
            (state.to_string(), None),
            (clean_line(&command.command), None),
        ]);
    }
    let mut out = table.render(&ctx.style);
    if listed
        .commands
        .iter()
        .any(|c| c.approval == Approval::NotApproved)
    {
        out.push_str(&format!(
            "\nCommands not approved do not run; `pm hooks approve` approves them for {}.\n",
            listed.repository.display()
        ));
    }
    print(&out)
}

fn approve(ctx: &Ctx, ws: &crate::workspace::Workspace) -> Result<()> {
    let approved = hooks::approve(ws, ctx.mode())?;
    if ctx.global.json {
        return print_json(&api::HooksApproved::new(&approved, ctx.mode()));
    }
    let repository = approved.repository.display();
    if approved.approved.is_empty() {
        let text = if approved.already.is_empty() {
            format!("The repository's .pm.toml has no commands to approve ({repository})\n")
        } else {
            format!(
                "Every command of the repository's .pm.toml is approved already ({repository})\n"
            )
        };
        return print(&text);
    }
    let verb = if ctx.global.dry_run {
        "Would approve"
    } else {
        "Approved"
    };
    let mut out = format!("{verb} for {repository}:\n");
    for command in &approved.approved {
        out.push_str(&format!("  {}\n", clean_line(command)));
    }
    print(&out)
}

/// What the CLI shows of hooks at work, on stderr: each command as it starts, its output
/// indented, and what was copied.
pub(super) fn show_note(note: HookNote<'_>) {
    match note {
        HookNote::Started { hook, command } => {
            eprintln!("pm: {hook}: {}", clean_line(command));
        }
        HookNote::Output { text, .. } => eprintln!("  {}", clean_line(text)),
        HookNote::Done { text } => eprintln!("pm: {}", clean_line(text)),
    }
}
