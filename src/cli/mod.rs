//! The command line: clap definitions, global options, and the mapping of results to output
//! and exit status. One file per command group; the decisions live in the core API.

mod agent;
mod complete;
mod hooks;
mod issue;
mod mcp;
mod mcp_status;
mod overview;
mod serve;
mod sync;
mod values;

use crate::error::{Error, NextStep, Operation, Result, Setting, Vocabulary};
use crate::render::{ColorChoice, Style};
use crate::store::{Mode, Store};
use crate::workspace::Workspace;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Manage AI coding-agent sessions and issues, with all state kept in the git repository.
///
/// Records live under refs/pm/ as commits holding TOML; read them with plain git, share them by
/// pushing refs.
#[derive(Debug, Parser)]
#[command(name = "pm", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Run as if pm was started in PATH (may be repeated; each is relative to the previous)
    #[arg(short = 'C', global = true, value_name = "PATH")]
    pub dir: Vec<PathBuf>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Show what would change without writing anything
    #[arg(short = 'n', long, global = true)]
    pub dry_run: bool,
    /// Say more about what is being done (on stderr)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to colour the output; `auto` honours NO_COLOR and colours only terminals
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create, list, show and change issues
    #[command(subcommand, arg_required_else_help = true)]
    Issue(issue::IssueCommand),
    /// Launch agent sessions and manage their lifecycle
    #[command(subcommand, arg_required_else_help = true)]
    Agent(agent::AgentCommand),
    /// Fetch, merge and push records through a git remote
    Sync(sync::SyncArgs),
    /// Show what a new worktree gets (copied files, setup and teardown commands); approve the
    /// repository's commands
    Hooks(hooks::HooksArgs),
    /// Make a plain `git fetch` of a remote bring records too (optional, idempotent)
    Init(sync::InitArgs),
    /// Fold finished records into one archive ref per month, so the remote keeps few refs
    Archive(sync::ArchiveArgs),
    /// Print the shell script that turns on completion (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Serve MCP on stdio for agents (`pm mcp install` registers it with the client)
    Mcp(mcp::McpArgs),
    /// Serve the JSON API over HTTP for this repository and others (loopback by default)
    Serve(serve::ServeArgs),
    /// The supervisor of a running agent (started by pm itself, detached)
    #[command(name = "__supervise", hide = true)]
    Supervise(SuperviseArgs),
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The session whose agent runs
    session: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print the registration script for
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
    shell: String,
}

/// What a command hands back to be printed.
pub struct Ctx {
    pub global: GlobalArgs,
    pub style: Style,
    /// The config files were checked for unknown keys (done once per run).
    config_checked: std::cell::Cell<bool>,
}

impl Ctx {
    /// The directory the command runs in, after every `-C`.
    pub fn dir(&self) -> Result<PathBuf> {
        let mut dir = std::env::current_dir()
            .map_err(|e| Error::failed(format!("cannot read the current directory: {e}")))?;
        for step in &self.global.dir {
            dir = dir.join(step);
        }
        Ok(dir)
    }

    /// The repository the command runs in, opened once for the command.
    pub fn workspace(&self) -> Result<Workspace> {
        let mut store = Store::open(&self.dir()?)?;
        if self.global.dry_run {
            store = store.without_cache_writes();
        }
        self.note(&format!(
            "repository: {}",
            store.repo().common_dir().display()
        ));
        let ws = Workspace::with_store(store);
        ws.share_automatically(!self.global.dry_run);
        self.warn_config(&ws);
        ws.hear_hooks(std::sync::Arc::new(hooks::show_note));
        Ok(ws)
    }

    /// Name the keys of the config files that no setting uses, once per run. A file that
    /// cannot be read is left to the commands that need it to report.
    pub fn warn_config(&self, ws: &Workspace) {
        if self.config_checked.replace(true) {
            return;
        }
        let Ok(main) = ws.main_workdir() else {
            return;
        };
        if let Ok((_, warnings)) = crate::config::Config::load_with_warnings(main) {
            for warning in warnings {
                self.warn(&crate::render::clean_line(&warning));
            }
        }
    }

    pub fn mode(&self) -> Mode {
        if self.global.dry_run {
            Mode::DryRun
        } else {
            Mode::Write
        }
    }

    /// A `--verbose` note on stderr.
    pub fn note(&self, text: &str) {
        if self.global.verbose {
            eprintln!("pm: {text}");
        }
    }

    /// A warning on stderr (always shown).
    pub fn warn(&self, text: &str) {
        eprintln!("warning: {text}");
    }
}

/// Write to stdout; a closed pipe (`pm issue list | head`) is not an error.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::failed(format!("cannot write to stdout: {e}"))),
    }
}

/// Print a view as the command's one JSON document, `json_version` first.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let document = crate::api::document(value);
    // Streamed: a listing of thousands is never held whole in memory.
    let stdout = std::io::stdout().lock();
    let mut out =
        std::io::BufWriter::with_capacity(64 * 1024, crate::render::EscapeControls::new(stdout));
    let written = serde_json::to_writer_pretty(&mut out, &document)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.into_inner().map_err(|e| e.into_error()))
        .and_then(|escape| escape.finish())
        .and_then(|mut stdout| stdout.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::failed(format!("cannot write to stdout: {e}"))),
    }
}

/// A record's history as a table: time, who, what.
pub fn print_events(events: &[crate::store::Event], style: &Style) -> Result<()> {
    use crate::render::{Column, Table, clean_line};
    let mut table = Table::with_columns(vec![
        Column::keep("TIME"),
        Column::text("WHO", 12),
        Column::text("WHAT", 20),
    ]);
    for event in events {
        table.row(vec![
            (event.time.to_string(), Some(|s: &Style, t: &str| s.dim(t))),
            (
                clean_line(&format!("{} <{}>", event.author, event.email)),
                None,
            ),
            (clean_line(&event.message), None),
        ]);
    }
    print(&table.render(style))
}

/// Parse the arguments, run the command, and turn the result into an exit status.
pub fn main() -> ExitCode {
    // `COMPLETE=<shell> pm ...` is the shell asking for completions; answer and exit.
    clap_complete::CompleteEnv::with_factory(|| {
        use clap::CommandFactory;
        Cli::command()
    })
    .var(complete::VAR)
    .completer("pm")
    .shells(complete::SHELLS)
    .complete();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_exit(err),
    };
    let ctx = Ctx {
        style: Style::resolve(cli.global.color),
        global: cli.global,
        config_checked: std::cell::Cell::new(false),
    };
    let result = match cli.command {
        Some(Command::Issue(command)) => issue::run(&ctx, command),
        Some(Command::Agent(command)) => agent::run(&ctx, command),
        Some(Command::Sync(args)) => sync::run_sync(&ctx, args),
        Some(Command::Hooks(args)) => hooks::run(&ctx, args),
        Some(Command::Init(args)) => sync::run_init(&ctx, args),
        Some(Command::Archive(args)) => sync::run_archive(&ctx, args),
        Some(Command::Completions(args)) => match complete::registration(&args.shell) {
            Some(script) => print(&script),
            None => Err(Error::usage(format!("unknown shell {}", args.shell))),
        },
        Some(Command::Mcp(args)) => mcp::run(&ctx, args),
        Some(Command::Serve(args)) => serve::run(&ctx, args),
        Some(Command::Supervise(args)) => ctx
            .dir()
            .and_then(|dir| crate::runtime::supervisor::main(&dir, &args.session)),
        None => overview::run(&ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", crate::render::clean_line(&worded(&err)));
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

/// Help and version go to stdout with status 0; a usage error is one line on stderr, status 2.
fn usage_exit(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        // `pm agent` without a subcommand: the group's help, as a usage error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(2)
        }
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = err.render().to_string();
            let first_block: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = first_block.join(" ");
            let line = line.strip_prefix("error: ").unwrap_or(&line);
            // clap's "tip: a similar subcommand exists" is a block of its own: keep it.
            let tip = match suggestion(&err) {
                Some(names) => format!("; did you mean {names}?"),
                None => String::new(),
            };
            eprintln!("error: {line}{tip} (see pm --help)");
            ExitCode::from(2)
        }
    }
}

/// What clap suggests for a mistyped subcommand, option or value: `'list'`, or `'a' or 'b'`.
fn suggestion(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .find_map(|kind| match err.get(kind)? {
        ContextValue::String(name) => Some(format!("'{name}'")),
        ContextValue::Strings(names) if !names.is_empty() => Some(
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    })
}

/// An error's message and hints, the settings named by their flags.
pub(crate) fn worded(err: &Error) -> String {
    err.worded(&Flags)
}

/// Settings are flags, operations are commands.
struct Flags;

impl Vocabulary for Flags {
    fn setting(&self, setting: Setting) -> String {
        match setting {
            Setting::Force => "--force",
            Setting::Branch => "--branch",
            Setting::Issue => "--issue",
            Setting::Base => "--base",
            Setting::DeleteFiles => "--delete-files",
            Setting::Into => "--into BRANCH",
            Setting::IssueFields => {
                "one of --title, --description, --body, --status, --priority, --type, --tag, --untag"
            }
        }
        .to_string()
    }
    fn step(&self, step: &NextStep) -> String {
        let id = &step.session;
        let command = match step.operation {
            Operation::Reactivate => format!("pm agent reactivate {id}"),
            Operation::TakeOver => format!("pm agent resume {id}"),
            Operation::PurgeWithFiles => format!("pm agent purge {id} --delete-files"),
        };
        format!("`{command}` {}", step.purpose)
    }
}
