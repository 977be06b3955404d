//! Sharing records through a git remote: fetch into `refs/pm-remote/<remote>/*` with gix,
//! integrate every changed record (create, fast-forward or merge), push `refs/pm/*` with the
//! git binary (gix cannot push), and on a rejected push fetch, merge and try again.
//!
//! Nothing fetched is trusted: each remote record is checked before it is taken, a record that
//! fails is reported by name and skipped, and the others go on.
//!
//! `fetch.rs` brings the remote's records in and integrates them; `push.rs` sends the local
//! ones; this file holds the rounds, the report and what both share.

mod fetch;
mod push;

pub use fetch::fetch_refs;

use crate::error::{Error, Result};
use crate::model::RecordKind;
use crate::model::id::is_canonical_id;
use crate::store::{Mode, Store};
use crate::workspace::Workspace;
use fetch::{fetch, integrate_all, list_remote_records};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use push::{outgoing, push};
use std::collections::HashMap;

/// How many fetch-merge-push rounds a sync makes while pushes are rejected.
pub const MAX_ROUNDS: usize = 5;

/// Above this many ref updates in one sync, refs are packed afterwards.
const PACK_REFS_THRESHOLD: usize = 256;

/// The private namespace remote records are fetched into.
pub fn tracking_prefix(remote: &str) -> String {
    format!("refs/pm-remote/{remote}/")
}

/// The fetch refspec `pm sync` uses and `pm init` configures.
pub fn fetch_refspec(remote: &str) -> String {
    format!("+refs/pm/*:{}*", tracking_prefix(remote))
}

#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    pub fetch: bool,
    pub push: bool,
    /// Also push the branches of this clone's live sessions.
    pub branches: bool,
    pub mode: Mode,
}

/// A record of the remote that was not taken, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub reason: String,
}

/// What a sync did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub remote: String,
    /// Remote refs that were new or had moved since the last fetch.
    pub fetched: usize,
    /// Records that were new here.
    pub created: usize,
    pub fast_forwarded: usize,
    pub merged: usize,
    pub pushed: usize,
    /// Remote records that were not taken.
    pub rejected: Vec<Rejected>,
    /// Local refs the remote refused after every retry.
    pub push_rejected: Vec<Rejected>,
    /// Branches of this clone's live sessions pushed (with `branches`; in a dry run, those
    /// that would be).
    pub branches_pushed: Vec<String>,
    /// Branches the remote refused (it has other commits on them; never forced).
    pub branches_rejected: Vec<Rejected>,
    pub rounds: usize,
    pub dry_run: bool,
}

impl SyncReport {
    /// Every refused push is of a record whose remote version was itself not taken: another
    /// round cannot help (the remote's version has to be repaired there).
    pub fn push_is_stuck(&self) -> bool {
        !self.push_rejected.is_empty()
            && self
                .push_rejected
                .iter()
                .all(|p| self.rejected.iter().any(|r| r.ref_name == p.ref_name))
    }
}

/// Phases reported to a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Fetching,
    Merging,
    Pushing,
}

/// Fetch, merge and push the records of `remote`.
pub fn sync(
    ws: &Workspace,
    remote: &str,
    options: SyncOptions,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Result<SyncReport> {
    let store = ws.store();
    check_remote_name(store.repo(), remote)?;
    let mut report = SyncReport {
        remote: remote.to_string(),
        dry_run: options.mode == Mode::DryRun,
        ..SyncReport::default()
    };
    if options.mode == Mode::DryRun {
        if options.push && options.branches {
            report.branches_pushed = push::session_branches(ws, remote)?
                .into_iter()
                .map(|(branch, _)| branch)
                .collect();
        }
        return preview(store, remote, options, report);
    }
    let mut writes = 0;
    for round in 1..=MAX_ROUNDS {
        report.rounds = round;
        if options.fetch {
            progress(Phase::Fetching, 0, 0);
            report.rejected.clear();
            let fetched = fetch(store.repo(), remote, &mut report.rejected)?;
            report.fetched += fetched;
            writes += fetched;
            integrate_all(store, remote, &mut report, progress)?;
            report.rejected.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));
            report.rejected.dedup_by(|a, b| a.ref_name == b.ref_name);
        }
        if !options.push {
            break;
        }
        progress(Phase::Pushing, 0, 0);
        let pushed = push(store, remote)?;
        report.pushed += pushed.pushed;
        writes += pushed.pushed;
        report.push_rejected = pushed.rejected;
        if report.push_rejected.is_empty() || !options.fetch || report.push_is_stuck() {
            break;
        }
    }
    if options.push && options.branches {
        let branches = push::session_branches(ws, remote)?;
        let (pushed, rejected) = push::push_branches(ws, remote, &branches)?;
        report.branches_pushed = pushed;
        report.branches_rejected = rejected;
    }
    writes += report.created + report.fast_forwarded + report.merged;
    if writes > PACK_REFS_THRESHOLD {
        pack_refs(store.repo());
    }
    Ok(report)
}

/// Refuse remote names that are not configured or would make an odd tracking ref.
pub(crate) fn check_remote_name(repo: &gix::Repository, remote: &str) -> Result<()> {
    let valid = !remote.is_empty()
        && !remote.starts_with('-')
        && gix::refs::FullName::try_from(format!("{}x", tracking_prefix(remote)).as_str()).is_ok();
    let known = repo
        .remote_names()
        .iter()
        .any(|name| name.as_bytes() == remote.as_bytes());
    if !valid || !known {
        return Err(Error::invalid(format!(
            "no remote named {remote:?} in this repository (see `git remote -v`)"
        )));
    }
    Ok(())
}

/// Direct refs under `prefix`, keyed by the rest of their name.
fn refs_under(repo: &gix::Repository, prefix: &str) -> Result<HashMap<String, Option<ObjectId>>> {
    Ok(crate::git::refs::under(repo, prefix)?.into_iter().collect())
}

/// What a ref below `refs/pm/` holds: a record, or a session's transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Record(RecordKind),
    Transcript,
}

impl Family {
    const ALL: [Family; 3] = [
        Family::Record(RecordKind::Issue),
        Family::Record(RecordKind::Session),
        Family::Transcript,
    ];

    /// The folder below `refs/pm/`.
    fn folder(self) -> &'static str {
        match self {
            Family::Record(kind) => kind.plural(),
            Family::Transcript => "runs",
        }
    }
}

/// Split `issues/<id>` (or `sessions/<id>`, `runs/<id>`) into its family and id, or say why it
/// is nothing this pm shares.
fn parse_record_path(path: &str) -> std::result::Result<(Family, &str), String> {
    let (folder, id) = path
        .split_once('/')
        .ok_or_else(|| "is not a record this pm knows".to_string())?;
    let family = Family::ALL
        .into_iter()
        .find(|f| f.folder() == folder)
        .ok_or_else(|| "is not a record this pm knows".to_string())?;
    if !is_canonical_id(id) {
        return Err("is not named by a valid id".into());
    }
    Ok((family, id))
}

/// What a sync with `remote` would do, as far as this clone knows without asking the remote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Records were fetched from the remote at least once.
    pub fetched: bool,
    /// Local records a push would send (as `sync` pushes them).
    pub to_push: usize,
    /// Fetched records that differ from the local ones (not merged yet).
    pub to_merge: usize,
}

/// [`Pending`] for `remote`, from the refs of the records and of their last fetched state.
pub fn pending(repo: &gix::Repository, remote: &str) -> Result<Pending> {
    let ours = refs_under(repo, "refs/pm/")?;
    let theirs = refs_under(repo, &tracking_prefix(remote))?;
    Ok(Pending {
        fetched: !theirs.is_empty(),
        to_push: outgoing(&ours, &theirs).len(),
        to_merge: theirs
            .iter()
            .filter(|(path, tip)| ours.get(*path) != Some(tip))
            .count(),
    })
}

/// Pack loose refs after a bulk update, so later listings stay fast. Best effort.
fn pack_refs(repo: &gix::Repository) {
    crate::git::command::run_quietly(repo, &["pack-refs", "--all"]);
}

/// A dry run: what fetching and pushing would move, from the remote's advertised refs, with
/// nothing written.
fn preview(
    store: &Store,
    remote: &str,
    options: SyncOptions,
    mut report: SyncReport,
) -> Result<SyncReport> {
    let repo = store.repo();
    let advertised = list_remote_records(repo, remote)?;
    let ours = refs_under(repo, "refs/pm/")?;
    if options.fetch {
        for (path, tip) in &advertised {
            match ours.get(path) {
                None => report.created += 1,
                Some(Some(local)) if local == tip => {}
                Some(_) => report.fetched += 1,
            }
        }
    }
    if options.push {
        report.pushed = ours
            .iter()
            .filter(|(path, tip)| tip.is_some() && advertised.get(*path) != tip.as_ref())
            .count();
    }
    Ok(report)
}

/// Add the fetch refspec to `remote` so that a plain `git fetch` also brings records into the
/// tracking namespace. Returns whether it was added (false: it was there already).
pub fn init_remote(ws: &Workspace, remote: &str, mode: Mode) -> Result<bool> {
    let repo = ws.repo();
    check_remote_name(repo, remote)?;
    let key = format!("remote.{remote}.fetch");
    let spec = fetch_refspec(remote);
    let present = crate::git::command::run(repo, &["config", "--get-all", &key])?;
    if present.stdout.lines().any(|l| l.trim() == spec) {
        return Ok(false);
    }
    if mode == Mode::Write {
        let added = crate::git::command::run(repo, &["config", "--add", &key, &spec])?;
        if !added.success {
            return Err(Error::failed(format!(
                "could not add {spec} to {key}: {}",
                added.error_line()
            )));
        }
    }
    Ok(true)
}
