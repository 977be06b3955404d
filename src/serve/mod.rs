//! `pm serve`: the HTTP front end. One process serves a JSON API under `/api/v1/` for one or
//! more repositories (each a project) over the same operations (`crate::ops`) and views
//! (`crate::api`) as the command line and MCP; it decides no rule of its own.
//!
//! The async runtime (tokio, one thread) starts here and nowhere else: every operation runs on
//! tokio's blocking threads with a [`Workspace`](crate::workspace::Workspace) taken from the
//! project's pool, and streams (a run's events, the change feed) are fed by threads of their
//! own. What a request may do is checked first, in `guard` (Host, token, Origin, JSON body).

mod changes;
mod guard;
mod issues;
mod projects;
mod reply;
mod routes;
mod runs;
mod sessions;
mod worktrees;

use crate::error::{Error, Result};
use projects::Project;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use guard::TOKEN_VAR;
pub use reply::HttpWords;

/// `value` as one line of compact JSON (`json_version` first), escaped as `--json` escapes.
pub fn encode_line<T: serde::Serialize>(value: &T) -> Result<String> {
    let bytes = reply::encode(&crate::api::document(value))?;
    String::from_utf8(bytes).map_err(|e| Error::failed(format!("cannot encode JSON: {e}")))
}

/// The port `pm serve` listens on unless told otherwise ("pm" twice on a phone keypad).
pub const DEFAULT_PORT: u16 = 7676;

/// What `pm serve` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The repositories to serve, each a project; the first is the default one.
    pub repos: Vec<PathBuf>,
    pub bind: IpAddr,
    pub port: u16,
    /// The token every API request must carry (any bind but loopback), or that may stand in
    /// for a same-origin `Origin` (loopback).
    pub token: Option<String>,
}

/// A server that listens but has not started serving: its address is known, so that the
/// front end can print it (and open it) before [`Bound::serve`] blocks.
pub struct Bound {
    listener: std::net::TcpListener,
    state: Arc<Server>,
}

/// What every request handler can reach.
pub struct Server {
    projects: Vec<Arc<Project>>,
    guard: guard::Guard,
    /// Set when the server stops: streams end, and the threads that feed them.
    stopping: Arc<AtomicBool>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Server {
    /// The project named `name`, or the default one (the first) for `None`.
    fn project(&self, name: Option<&str>) -> Option<&Arc<Project>> {
        match name {
            None => self.projects.first(),
            Some(name) => self.projects.iter().find(|p| p.name == name),
        }
    }
}

impl Bound {
    /// Open every repository and listen on the address asked for. Nothing is served yet.
    pub fn bind(options: &Options) -> Result<Bound> {
        let stopping = Arc::new(AtomicBool::new(false));
        let projects = projects::open_all(&options.repos, &stopping)?;
        let addr = SocketAddr::new(options.bind, options.port);
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::failed(format!("could not listen on {}: {e}", show_addr(addr))))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::failed(format!("could not listen on {}: {e}", show_addr(addr))))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::failed(format!("could not read the address listened on: {e}")))?;
        let guard = guard::Guard::new(local, options.token.clone());
        let (stop, _) = tokio::sync::watch::channel(false);
        Ok(Bound {
            listener,
            state: Arc::new(Server {
                projects,
                guard,
                stopping,
                stop,
            }),
        })
    }

    /// The address listened on (with the port picked, for port 0).
    pub fn addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::failed(format!("could not read the address listened on: {e}")))
    }

    /// The address to give a browser or a client: `http://HOST:PORT/`.
    pub fn url(&self) -> Result<String> {
        Ok(format!("http://{}/", show_addr(self.addr()?)))
    }

    /// The projects served: name and main worktree folder, the default one first.
    pub fn projects(&self) -> Vec<(String, PathBuf)> {
        self.state
            .projects
            .iter()
            .map(|p| (p.name.clone(), p.path.clone()))
            .collect()
    }

    /// Serve until SIGINT or SIGTERM; then stop taking connections, end the streams, let the
    /// requests under way finish (for at most ten seconds) and return.
    pub fn serve(self) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::failed(format!("could not start the server: {e}")))?;
        let state = self.state.clone();
        let served = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let app = routes::router(state.clone());
            let stopped = stop_signal(state.clone())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        });
        self.state.stopping.store(true, Ordering::SeqCst);
        runtime.shutdown_timeout(std::time::Duration::from_secs(10));
        served.map_err(|e| Error::failed(format!("the server failed: {e}")))
    }
}

/// A future that ends at the first SIGINT or SIGTERM, having told every stream to end. A
/// second signal ends the process at once.
fn stop_signal(
    state: Arc<Server>,
) -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        state.stopping.store(true, Ordering::SeqCst);
        state.stop.send_replace(true);
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            std::process::exit(130);
        });
    })
}

/// `127.0.0.1:7676`, `[::1]:7676`.
fn show_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// Whether `ip` reaches only this machine.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A token made for this run: 32 random bytes from the system, in hex.
pub fn new_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::failed(format!("could not make a token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Check a token given in the environment: long enough to guess at no better than chance.
pub fn check_token(token: &str) -> Result<()> {
    let printable = token.bytes().all(|b| b.is_ascii_graphic());
    if token.len() < 16 || !printable {
        return Err(Error::usage(format!(
            "{TOKEN_VAR} must be at least 16 characters, without spaces or control characters"
        )));
    }
    Ok(())
}
