//! Sharing records through a git remote: fetch into `refs/pm-remote/<remote>/*` with gix,
//! integrate every changed record (create, fast-forward or merge), push `refs/pm/*` with the
//! git binary (gix cannot push), and on a rejected push fetch, merge and try again.
//!
//! Nothing fetched is trusted: each remote record is checked before it is taken, a record that
//! fails is reported by name and skipped, and the others go on.
//!
//! `fetch.rs` brings the remote's records in and integrates them; `push.rs` sends the local
//! ones; this file holds the rounds, the report and what both share.

pub mod auto;
mod fetch;
mod push;

pub use fetch::fetch_refs;

use crate::error::{Error, Result};
use crate::model::RecordKind;
use crate::model::id::is_canonical_id;
use crate::store::archive::{Shelf, is_month};
use crate::store::{Mode, Store};
use crate::workspace::Workspace;
use fetch::{fetch, fetch_named, integrate_all, list_remote_records};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use push::{outgoing, push};
use std::collections::HashMap;

/// How many fetch-merge-push rounds a sync makes at least while pushes are refused; beyond
/// that, rounds go on only while each one makes progress (something is pushed, or fewer
/// records are refused, or the refused ones moved on the remote), up to [`MAX_ROUNDS_IN_ALL`]
/// or [`PATIENCE`].
pub const MAX_ROUNDS: usize = 5;

/// The most rounds a sync makes.
pub const MAX_ROUNDS_IN_ALL: usize = 1000;

/// How long a sync goes on making rounds while they make progress. With 32 clones on two
/// cores tagging three records all the time, one sync in a few hundred needs a minute or two
/// (others keep getting in first); a cap of 100 rounds made one in 200 fail.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

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
    /// First archive the finished records last changed before this time.
    pub archive_before: Option<crate::model::Timestamp>,
    pub mode: Mode,
}

/// The time before which `[sync] archive_after_days` has a sync archive finished records.
pub fn archive_cutoff(ws: &Workspace) -> Result<Option<crate::model::Timestamp>> {
    Ok(ws
        .config()?
        .sync_archive_after_days
        .map(|days| crate::model::Timestamp(ws.now().seconds() - i64::from(days) * 86_400)))
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
    /// Records this sync archived first (with `archive_before`).
    pub archived: usize,
    /// Local records whose live ref was removed because the archive holds them.
    pub settled: usize,
    /// Record refs removed from the remote because its archive holds them.
    pub removed: usize,
    /// Record refs the remote refused to remove though its archive holds them (a hook or a
    /// rule of the remote's), with its reason; a later sync tries again.
    pub remove_rejected: Vec<Rejected>,
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
    /// Another sync of this clone is running; this one waits for it to end.
    Waiting,
    Fetching,
    Merging,
    Pushing,
    /// Round `done` ends with `total` records refused (others changed them first): another
    /// round comes.
    Refused,
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
    // Syncs of one clone share its tracking refs and pack folder: one at a time.
    let _one_at_a_time = ws.local().lock_sync(|| progress(Phase::Waiting, 0, 0))?;
    // The workspace opened again, when its object database ran out of index slots.
    let mut reopened: Option<Workspace> = None;
    let mut reopens = 0;
    if let Some(cutoff) = options.archive_before {
        report.archived = ws.store().archive(cutoff, Mode::Write)?.total();
    }
    let mut writes = 0;
    let mut round = 0;
    let started = std::time::Instant::now();
    // The refs the remote refused in the last round: the next one fetches only those.
    let mut refused: Option<Vec<String>> = None;
    let mut no_progress = 0;
    while round < MAX_ROUNDS_IN_ALL {
        round += 1;
        report.rounds = round;
        let store = reopened.as_ref().unwrap_or(ws).store();
        let only = refused.as_deref();
        let before = report.push_rejected.len();
        match one_round(
            store,
            remote,
            options,
            only,
            &mut report,
            &mut writes,
            progress,
        ) {
            Ok(done) if !done.again => break,
            Ok(done) => {
                // Progress: something went, fewer refs were refused than the round before, or
                // the refused ones moved on the remote (others got their changes in: the
                // queue for those records is moving, and this clone's turn will come).
                let progressed =
                    done.pushed > 0 || done.fetched > 0 || report.push_rejected.len() < before;
                no_progress = if progressed { 0 } else { no_progress + 1 };
                if round >= MAX_ROUNDS && (no_progress > 0 || started.elapsed() > PATIENCE) {
                    break;
                }
                refused = Some(
                    report
                        .push_rejected
                        .iter()
                        .filter_map(|r| r.ref_name.strip_prefix("refs/pm/"))
                        .map(str::to_string)
                        .collect(),
                );
                progress(Phase::Refused, round, report.push_rejected.len());
                // Others are pushing the same records: let them finish before trying again.
                // Meanwhile, a long run of rounds (each leaves a pack) has its packs rolled
                // up, and the repository opened again to see the new pack.
                std::thread::sleep(pause(round));
                if consolidate_packs(store.repo()) {
                    reopened = Some(reopen(ws)?);
                }
                reopens = 0;
            }
            Err(e) if is_out_of_slots(&e) && reopens < MAX_REOPENS => {
                // Other processes added packs since the repository was opened: open it again
                // (sized for the packs there are now) and redo the round, which picks up
                // where it stopped (whatever it integrated is up to date now).
                reopens += 1;
                reopened = Some(reopen(ws)?);
                round -= 1;
            }
            Err(e) => return Err(e),
        }
    }
    let ws = reopened.as_ref().unwrap_or(ws);
    let store = ws.store();
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
    if report.fetched > 0 {
        let _ = consolidate_packs(store.repo());
    }
    Ok(report)
}

/// What one round did.
struct RoundDone {
    /// Remote refs that had moved.
    fetched: usize,
    /// Records pushed.
    pushed: usize,
    /// Whether another round may help (a push was refused, and not for good).
    again: bool,
}

/// One fetch-merge-push round. `only` (after a round whose push was refused) names the
/// records to fetch, by path below `refs/pm/`; otherwise every record that moved is fetched.
fn one_round(
    store: &Store,
    remote: &str,
    options: SyncOptions,
    only: Option<&[String]>,
    report: &mut SyncReport,
    writes: &mut usize,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Result<RoundDone> {
    let mut fetched = 0;
    if options.fetch {
        progress(Phase::Fetching, 0, 0);
        report.rejected.clear();
        fetched = match only {
            Some(paths) => fetch_named(store.repo(), remote, paths)?,
            None => fetch(store, remote, &mut report.rejected)?,
        };
        report.fetched += fetched;
        *writes += fetched;
        integrate_all(store, remote, report, progress)?;
        // Live refs the archive now holds go; diverged ones take the archived version in.
        let settled = store.settle_archived()?;
        report.settled += settled.removed;
        report.merged += settled.merged;
        report.rejected.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));
        report.rejected.dedup_by(|a, b| a.ref_name == b.ref_name);
    }
    if !options.push {
        return Ok(RoundDone {
            fetched,
            pushed: 0,
            again: false,
        });
    }
    progress(Phase::Pushing, 0, 0);
    let pushed = push(store, remote)?;
    report.pushed += pushed.pushed;
    *writes += pushed.pushed;
    report.push_rejected = pushed.rejected;
    let removal = push::remove_archived(store, remote)?;
    report.removed += removal.removed;
    report.remove_rejected = removal.refused;
    Ok(RoundDone {
        fetched,
        pushed: pushed.pushed,
        again: !report.push_rejected.is_empty() && options.fetch && !report.push_is_stuck(),
    })
}

/// The pause before round `round + 1`: random ("full jitter") up to a cap that doubles with
/// each round, from 50 ms to 200 ms, so that clones refused together do not all come back at
/// the same moment. The cap stays low: a clone that waits long only loses its turn to those
/// that just arrived and do not wait at all (with a cap of 800 ms, one sync in 640 of 32
/// clones on three records lost 100 rounds in a row).
fn pause(round: usize) -> std::time::Duration {
    let cap_ms = 50u64 << round.saturating_sub(1).min(2);
    let noise = u64::from(ulid::Ulid::new().random() as u32) ^ u64::from(std::process::id());
    std::time::Duration::from_millis(5 + noise % cap_ms)
}

/// How many times in a row (without a round finishing between) a sync opens the repository
/// again after running out of index slots.
const MAX_REOPENS: usize = 3;

/// Whether `error` is gix's object database running out of slots for pack indexes: it counts
/// the packs once, when the repository is opened (a tenth more than there are, at least 32),
/// and fails when more appear while it is open.
fn is_out_of_slots(error: &Error) -> bool {
    error.message().contains("too few index slots")
}

/// The workspace of `ws`'s repository, opened again.
fn reopen(ws: &Workspace) -> Result<Workspace> {
    let repo = ws.repo();
    let dir = repo.workdir().unwrap_or_else(|| repo.git_dir());
    Ok(Workspace::with_store(Store::open(dir)?))
}

/// Above this many packs, a sync that fetched consolidates them: every fetch leaves a pack,
/// and gix, which reads them all, slows down and sizes its table of them once when it opens.
pub const PACK_LIMIT: usize = 16;

/// Roll small packs up into bigger ones when there are more than [`PACK_LIMIT`]: a geometric
/// repack merges the packs (and loose objects) that break a progression of sizes doubling each
/// time, so a clone keeps a few packs and the big one of its clone is left alone. All objects
/// of the packs rolled up are kept, reachable or not. Best effort: a clone where it fails only
/// keeps more packs. Returns whether it ran.
fn consolidate_packs(repo: &gix::Repository) -> bool {
    let pack_dir = repo.objects.store_ref().path().join("pack");
    let packs = std::fs::read_dir(pack_dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
            .count()
    });
    if packs <= PACK_LIMIT {
        return false;
    }
    crate::git::command::run_quietly(repo, &["repack", "-d", "-l", "-q", "--geometric=2"]);
    true
}

/// Archive the finished records last changed before `cutoff` (see `docs/archive.md`): one
/// archive ref per kind and month holds them, and their own refs go. Holds the clone's sync
/// mutex, as archive refs are shared like records.
pub fn archive(
    ws: &Workspace,
    cutoff: crate::model::Timestamp,
    mode: Mode,
) -> Result<crate::store::archive::Archived> {
    let _one_at_a_time = match mode {
        Mode::Write => Some(ws.local().lock_sync(|| {})?),
        Mode::DryRun => None,
    };
    ws.store().archive(cutoff, mode)
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
    /// The archive refs of a shelf (named by month).
    Archive(Shelf),
}

impl Family {
    const ALL: [Family; 6] = [
        Family::Record(RecordKind::Issue),
        Family::Record(RecordKind::Session),
        Family::Transcript,
        Family::Archive(Shelf::Issues),
        Family::Archive(Shelf::Sessions),
        Family::Archive(Shelf::Runs),
    ];

    /// The folder below `refs/pm/`.
    fn folder(self) -> &'static str {
        match self {
            Family::Record(kind) => kind.plural(),
            Family::Transcript => "runs",
            Family::Archive(Shelf::Issues) => "archive/issues",
            Family::Archive(Shelf::Sessions) => "archive/sessions",
            Family::Archive(Shelf::Runs) => "archive/runs",
        }
    }
}

/// Split `issues/<id>` (or `sessions/<id>`, `runs/<id>`, `archive/<folder>/<month>`) into its
/// family and id (or month), or say why it is nothing this pm shares.
fn parse_record_path(path: &str) -> std::result::Result<(Family, &str), String> {
    if let Some(rest) = path.strip_prefix("archive/") {
        let (folder, month) = rest
            .split_once('/')
            .ok_or_else(|| "is not a record this pm knows".to_string())?;
        let shelf = Shelf::from_folder(folder)
            .ok_or_else(|| "is not a record this pm knows".to_string())?;
        if !is_month(month) {
            return Err("is not named by a month".into());
        }
        return Ok((Family::Archive(shelf), month));
    }
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

/// [`Pending`] for `remote`, from the refs of the records and of their last fetched state. A
/// fetched record archived here (at its tip or a later one) with no live ref is not pending:
/// a sync would not take it.
pub fn pending(store: &Store, remote: &str) -> Result<Pending> {
    let repo = store.repo();
    let ours = refs_under(repo, "refs/pm/")?;
    let theirs = refs_under(repo, &tracking_prefix(remote))?;
    let mut to_merge = 0;
    for (path, tip) in &theirs {
        if ours.get(path) == Some(tip) {
            continue;
        }
        if !ours.contains_key(path)
            && let Some(tip) = tip
            && archived_here(store, path, *tip)? == Some(true)
        {
            continue;
        }
        to_merge += 1;
    }
    Ok(Pending {
        fetched: !theirs.is_empty(),
        to_push: outgoing(&ours, &theirs).len(),
        to_merge,
    })
}

/// Whether the local archive holds the record at `path` (below `refs/pm/`) at `tip` or a
/// later version (`Some(true)`), only at a version that `tip` changes (`Some(false)`), or not
/// at all (`None`, also for a path that is no record).
fn archived_here(store: &Store, path: &str, tip: ObjectId) -> Result<Option<bool>> {
    let (shelf, id) = match parse_record_path(path) {
        Ok((Family::Record(kind), id)) => (Shelf::of(kind), id),
        Ok((Family::Transcript, id)) => (Shelf::Runs, id),
        _ => return Ok(None),
    };
    match store.archived_tip(shelf, id)? {
        // A tip this clone does not have (the remote's, not fetched yet) is no version it has
        // archived.
        Some(kept) => Ok(Some(
            store.repo().has_object(tip) && store.covers(kept, tip)?,
        )),
        None => Ok(None),
    }
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
                // Archived here: taken only if it is a later version.
                None => match archived_here(store, path, *tip)? {
                    Some(true) => {}
                    Some(false) => report.fetched += 1,
                    None => report.created += 1,
                },
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
