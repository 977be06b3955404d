//! `pm mcp` (the stdio server) and `pm mcp install` (register it with an MCP client).

use super::{Ctx, print, print_json};
use crate::error::{Error, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    command: Option<McpCommand>,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum McpCommand {
    /// Add pm to the MCP client configuration without touching other servers
    Install(InstallArgs),
    /// Where pm is registered (.mcp.json, ~/.claude.json), with which command, and whether it runs
    Status,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// project: `.mcp.json` at the repository root; user: `~/.claude.json`
    #[arg(long, value_enum, default_value_t = Scope::Project)]
    scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    Project,
    User,
}

pub fn run(ctx: &Ctx, args: McpArgs) -> Result<()> {
    match args.command {
        None => {
            let dir = ctx.dir()?;
            // Config warnings go to stderr, the client's log; stdout carries only protocol.
            if let Ok(store) = crate::store::Store::open(&dir) {
                ctx.warn_config(&store);
            }
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            // A closed stdout means the client is gone: that ends the session, it is no error.
            let _ = crate::mcp::serve(dir, stdin, stdout);
            Ok(())
        }
        Some(McpCommand::Install(install_args)) => install(ctx, install_args.scope),
        Some(McpCommand::Status) => super::mcp_status::run(ctx),
    }
}

/// The entry pm adds under `mcpServers`.
fn server_entry() -> Value {
    json!({"type": "stdio", "command": "pm", "args": ["mcp"]})
}

fn install(ctx: &Ctx, scope: Scope) -> Result<()> {
    let path = match scope {
        Scope::Project => {
            let store = ctx.store()?;
            crate::git::worktree::main_workdir(store.repo())?.join(".mcp.json")
        }
        Scope::User => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    Error::failed("HOME is not set, so the user configuration cannot be found")
                })?;
            PathBuf::from(home).join(".claude.json")
        }
    };
    let mut config: Value = match fs_err::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => json!({}),
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Error::failed(format!(
                "{} is not valid JSON ({e}); fix it first, nothing was changed",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let Some(root) = config.as_object_mut() else {
        return Err(Error::failed(format!(
            "{} does not hold a JSON object; nothing was changed",
            path.display()
        )));
    };
    let servers = root
        .entry("mcpServers")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| {
            Error::failed(format!(
                "mcpServers in {} is not an object; nothing was changed",
                path.display()
            ))
        })?;
    let already = servers.get("pm") == Some(&server_entry());
    servers.insert("pm".into(), server_entry());
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::failed(format!("cannot encode JSON: {e}")))?
        + "\n";
    if ctx.global.dry_run {
        if ctx.global.json {
            return print_json(&json!({"path": path, "dry_run": true, "config": config}));
        }
        return print(&format!("Would write {}:\n{text}", path.display()));
    }
    if !already {
        crate::store::local::write_atomic(&path, &text)?;
    }
    if ctx.global.json {
        return print_json(&json!({"path": path, "dry_run": false, "changed": !already}));
    }
    let mut text = if already {
        format!("pm is already in {}\n", path.display())
    } else {
        format!("Added pm to the MCP servers in {}\n", path.display())
    };
    if scope == Scope::Project {
        // A session's worktree is a checkout: it has the file only once it is committed.
        text.push_str("Commit .mcp.json so that new session worktrees have it too.\n");
    }
    print(&text)
}
