//! `pm serve`: the JSON API over HTTP, for this repository and others.

use super::{Ctx, print};
use crate::error::{Error, Result};
use crate::serve::{Bound, DEFAULT_PORT, Options, TOKEN_VAR};
use serde::Serialize;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one (the URL printed names it)
    #[arg(long, short, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on; any but loopback needs a token (PM_SERVE_TOKEN, else one is made
    /// and printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Open the served page in a browser
    #[arg(long)]
    open: bool,
    /// Repositories to serve, each a project (default: the current one; the first is the
    /// default project)
    #[arg(value_name = "REPO", value_hint = clap::ValueHint::DirPath)]
    repos: Vec<PathBuf>,
}

pub fn run(ctx: &Ctx, args: ServeArgs) -> Result<()> {
    if ctx.global.dry_run {
        return Err(Error::usage("pm serve has no dry run"));
    }
    let here = ctx.dir()?;
    let repos = if args.repos.is_empty() {
        vec![here]
    } else {
        args.repos.iter().map(|r| here.join(r)).collect()
    };
    let from_env = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
    if let Some(token) = &from_env {
        crate::serve::check_token(token)?;
    }
    let needs_token = !crate::serve::is_loopback(args.bind);
    let made = match (&from_env, needs_token) {
        (None, true) => Some(crate::serve::new_token()?),
        _ => None,
    };
    let token = from_env.or(made.clone());
    let bound = Bound::bind(&Options {
        repos,
        bind: args.bind,
        port: args.port,
        token,
    })
    .map_err(|e| match args.port {
        0 => e,
        _ if e.message().contains("in use") => Error::new(
            e.kind(),
            format!(
                "{} (give another --port, or 0 for any free one)",
                e.message()
            ),
        ),
        _ => e,
    })?;
    let url = bound.url()?;
    // A made token rides in the fragment, which browsers never send: the page reads it there.
    let shown = match &made {
        Some(token) => format!("{url}#token={token}"),
        None => url.clone(),
    };
    let projects = bound.projects();
    if ctx.global.json {
        #[derive(Serialize)]
        struct Started<'a> {
            url: &'a str,
            token: Option<&'a str>,
            projects: Vec<Project<'a>>,
        }
        #[derive(Serialize)]
        struct Project<'a> {
            name: &'a str,
            path: &'a std::path::Path,
        }
        let started = Started {
            url: &url,
            token: made.as_deref(),
            projects: projects
                .iter()
                .map(|(name, path)| Project { name, path })
                .collect(),
        };
        let line = crate::serve::encode_line(&started)?;
        print(&line)?;
    } else {
        let names: Vec<&str> = projects.iter().map(|(n, _)| n.as_str()).collect();
        let mut out = format!(
            "Serving {shown} (projects: {}; Ctrl-C stops)\n",
            crate::render::clean_line(&names.join(", "))
        );
        if let Some(token) = &made {
            out.push_str(&format!(
                "Token: {token} (API clients send Authorization: Bearer TOKEN; set {TOKEN_VAR} \
                 to choose it)\n"
            ));
        }
        print(&out)?;
    }
    if args.open {
        open_browser(ctx, &shown);
    }
    bound.serve()
}

/// Ask the desktop to open `url` (`xdg-open`, or `open` on macOS); a failure is a warning.
fn open_browser(ctx: &Ctx, url: &str) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match started {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => ctx.warn(&format!("could not open a browser with {program}: {e}")),
    }
}
