//! Sharing records through a git remote: fetch into `refs/pm-remote/<remote>/*` with gix,
//! integrate every changed record (create, fast-forward or merge), push `refs/pm/*` with the
//! git binary (gix cannot push), and on a rejected push fetch, merge and try again.
//!
//! Nothing fetched is trusted: each remote record is checked before it is taken, a record that
//! fails is reported by name and skipped, and the others go on.

use crate::error::{Error, Result};
use crate::model::id::is_canonical_id;
use crate::model::{Issue, RecordKind, Session};
use crate::store::{Integrated, Mode, Store};
use crate::workspace::Workspace;
use gix::ObjectId;
use gix::bstr::ByteSlice;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;

/// How many fetch-merge-push rounds a sync makes while pushes are rejected.
pub const MAX_ROUNDS: usize = 5;

/// Above this many ref updates in one sync, refs are packed afterwards.
const PACK_REFS_THRESHOLD: usize = 256;

/// Up to this many moved refs are fetched by name in one fetch; when more moved and every
/// name the remote holds is a record, the whole namespace is fetched at once.
const FETCH_EXPLICIT_MAX: usize = 1000;

/// Refspecs per `git push` call, to stay far below the command-line limit.
const PUSH_CHUNK: usize = 1000;

/// Above this many records of one kind to push, they are pushed with one wildcard refspec
/// (when that pushes exactly them): git matches every explicit refspec against every local
/// ref, so 1,000 explicit ones among 10,000 records take 20 s, the wildcard 1.4 s for all.
const PUSH_WILDCARD_MIN: usize = 64;

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
    writes += report.created + report.fast_forwarded + report.merged;
    if writes > PACK_REFS_THRESHOLD {
        pack_refs(store.repo());
    }
    Ok(report)
}

/// Refuse remote names that are not configured or would make an odd tracking ref.
fn check_remote_name(repo: &gix::Repository, remote: &str) -> Result<()> {
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

/// Fetch `refs/pm/*` of `remote` into the tracking namespace. Returns how many refs changed.
///
/// First only the remote's refs are listed, and only those that moved are fetched: gix puts
/// every mapped ref into its ref transaction, moved or not, and locking ten thousand refs to
/// change none of them would make a no-op sync slow.
fn fetch(repo: &gix::Repository, remote_name: &str, rejected: &mut Vec<Rejected>) -> Result<usize> {
    let advertised = list_remote_records(repo, remote_name)?;
    for path in advertised.keys() {
        if let Err(reason) = parse_record_path(path) {
            rejected.push(Rejected {
                ref_name: format!("refs/pm/{path}"),
                reason,
            });
        }
    }
    let tracking = refs_under(repo, &tracking_prefix(remote_name))?;
    // Only names that are records are fetched: anything else the remote holds (a ref below a
    // record's name, a name that is no id) could clash with tracking refs and stop the fetch.
    let all_records = advertised.keys().all(|p| parse_record_path(p).is_ok());
    let moved: Vec<&String> = advertised
        .iter()
        .filter(|(path, tip)| tracking.get(*path) != Some(&Some(**tip)))
        .map(|(path, _)| path)
        .filter(|path| parse_record_path(path).is_ok())
        .collect();
    if moved.is_empty() {
        return Ok(0);
    }
    let prefix = tracking_prefix(remote_name);
    let batches: Vec<Vec<String>> = if all_records && moved.len() > FETCH_EXPLICIT_MAX {
        vec![vec![fetch_refspec(remote_name)]]
    } else {
        moved
            .chunks(FETCH_EXPLICIT_MAX)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|path| format!("+refs/pm/{path}:{prefix}{path}"))
                    .collect()
            })
            .collect()
    };
    let mut changed = 0;
    for specs in batches {
        changed += count_updates(&fetch_refs(repo, remote_name, &specs, false)?);
    }
    Ok(changed)
}

/// How many refs a fetch created or moved.
fn count_updates(outcome: &gix::remote::fetch::Outcome) -> usize {
    use gix::remote::fetch::refs::update::Mode as M;
    match &outcome.status {
        gix::remote::fetch::Status::NoPackReceived { update_refs, .. }
        | gix::remote::fetch::Status::Change { update_refs, .. } => update_refs
            .updates
            .iter()
            .filter(|u| matches!(u.mode, M::New | M::FastForward | M::Forced))
            .count(),
    }
}

/// The record refs `remote` advertises, by path below `refs/pm/`, without fetching anything.
fn list_remote_records(
    repo: &gix::Repository,
    remote_name: &str,
) -> Result<HashMap<String, ObjectId>> {
    let remote = configured_remote(repo, remote_name, &[fetch_refspec(remote_name)])?;
    let (ref_map, _) = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| fetch_failed(remote_name, &e))?
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|e| fetch_failed(remote_name, &e))?;
    let mut advertised = HashMap::new();
    for r in &ref_map.remote_refs {
        let (name, target, _) = r.unpack();
        let name = name.to_str_lossy();
        if let (Some(path), Some(tip)) = (name.strip_prefix("refs/pm/"), target) {
            advertised.insert(path.to_string(), tip.to_owned());
        }
    }
    Ok(advertised)
}

fn fetch_failed(remote_name: &str, e: &dyn std::fmt::Display) -> Error {
    Error::failed(format!(
        "could not fetch from remote {remote_name}: {}",
        crate::error::one_line(&e.to_string())
    ))
}

/// The configured remote `remote_name`, with `refspecs` instead of its own and no tags.
fn configured_remote<'r>(
    repo: &'r gix::Repository,
    remote_name: &str,
    refspecs: &[String],
) -> Result<gix::Remote<'r>> {
    let mut remote = repo
        .find_remote(remote_name)
        .map_err(|e| fetch_failed(remote_name, &e))?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    remote
        .replace_refspecs(
            refspecs.iter().map(|s| s.as_bytes().as_bstr()),
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| fetch_failed(remote_name, &e))?;
    Ok(remote)
}

/// Run one gix fetch of `refspecs` from the configured remote `remote_name`.
pub fn fetch_refs(
    repo: &gix::Repository,
    remote_name: &str,
    refspecs: &[String],
    dry_run: bool,
) -> Result<gix::remote::fetch::Outcome> {
    configured_remote(repo, remote_name, refspecs)?
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| fetch_failed(remote_name, &e))?
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| fetch_failed(remote_name, &e))?
        .with_write_packed_refs_only(true)
        .with_dry_run(dry_run)
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .map_err(|e| {
            // The refs a fetch writes are the destinations of its refspecs: a lock in the way
            // (or a full disk) is named by its path.
            let targets: Vec<&str> = refspecs
                .iter()
                .filter_map(|spec| {
                    spec.split_once(':')
                        .map(|(_, dst)| dst.trim_end_matches('*'))
                })
                .collect();
            let action = format!("could not fetch from remote {remote_name}");
            crate::error::ref_edit_failed(repo.common_dir(), &targets, &action, &e)
        })
}

/// Direct refs under `prefix`, keyed by the rest of their name.
fn refs_under(repo: &gix::Repository, prefix: &str) -> Result<HashMap<String, Option<ObjectId>>> {
    Ok(crate::git::refs::under(repo, prefix)?.into_iter().collect())
}

/// Split `issues/<id>` into its kind and id, or say why it is no record.
fn parse_record_path(path: &str) -> std::result::Result<(RecordKind, &str), String> {
    let (kind, id) = path
        .split_once('/')
        .ok_or_else(|| "is not a record this pm knows".to_string())?;
    let kind = RecordKind::ALL
        .into_iter()
        .find(|k| k.plural() == kind)
        .ok_or_else(|| "is not a record this pm knows".to_string())?;
    if !is_canonical_id(id) {
        return Err("is not named by a valid id".into());
    }
    Ok((kind, id))
}

/// Integrate every tracking ref that differs from the local record.
fn integrate_all(
    store: &Store,
    remote: &str,
    report: &mut SyncReport,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Result<()> {
    let repo = store.repo();
    let theirs = refs_under(repo, &tracking_prefix(remote))?;
    let ours = refs_under(repo, "refs/pm/")?;
    let mut work: Vec<(&String, Option<ObjectId>)> = theirs
        .iter()
        .filter(|(path, tip)| ours.get(*path) != Some(tip))
        .map(|(path, tip)| (path, *tip))
        .collect();
    work.sort();
    let total = work.len();
    for (done, (path, tip)) in work.into_iter().enumerate() {
        progress(Phase::Merging, done, total);
        let reject = |reason: String| Rejected {
            ref_name: format!("refs/pm/{path}"),
            reason,
        };
        let (kind, id) = match parse_record_path(path) {
            Ok(parsed) => parsed,
            Err(reason) => {
                report.rejected.push(reject(reason));
                continue;
            }
        };
        let Some(tip) = tip else {
            report.rejected.push(reject("is a symbolic ref".into()));
            continue;
        };
        let outcome = match kind {
            RecordKind::Issue => store.integrate::<Issue>(id, tip, Mode::Write)?,
            RecordKind::Session => store.integrate::<Session>(id, tip, Mode::Write)?,
        };
        match outcome {
            Integrated::UpToDate | Integrated::LocalAhead => {}
            Integrated::Created => report.created += 1,
            Integrated::FastForwarded => report.fast_forwarded += 1,
            Integrated::Merged(_) => report.merged += 1,
            Integrated::Rejected(reason) => report.rejected.push(reject(reason)),
        }
    }
    progress(Phase::Merging, total, total);
    Ok(())
}

struct Pushed {
    pushed: usize,
    rejected: Vec<Rejected>,
}

/// Read `git push --porcelain` output: `<flag>\t<src>:<dst>\t<summary>` per ref.
fn parse_push_output(stdout: &str, pushed: &mut Vec<String>, rejected: &mut Vec<Rejected>) {
    for line in stdout.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(flag), Some(refs), summary) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(dst) = refs.split(':').nth(1) else {
            continue;
        };
        let Some(path) = dst.strip_prefix("refs/pm/") else {
            continue;
        };
        match flag {
            " " | "*" | "+" | "=" => pushed.push(path.to_string()),
            "!" => rejected.push(Rejected {
                ref_name: dst.to_string(),
                reason: summary.unwrap_or("rejected").trim().to_string(),
            }),
            _ => {}
        }
    }
}

/// The records a push sends: local records (by path under `refs/pm/`) whose tip is not the
/// one last known of the remote (`theirs`).
fn outgoing<'a>(
    ours: &'a HashMap<String, Option<ObjectId>>,
    theirs: &HashMap<String, Option<ObjectId>>,
) -> Vec<(&'a String, ObjectId)> {
    ours.iter()
        .filter_map(|(path, tip)| Some((path, (*tip)?)))
        .filter(|(path, tip)| theirs.get(*path) != Some(&Some(*tip)))
        .filter(|(path, _)| parse_record_path(path).is_ok())
        .collect()
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

/// Push every local record whose tip the remote does not have yet, never forced.
fn push(store: &Store, remote: &str) -> Result<Pushed> {
    let repo = store.repo();
    let ours = refs_under(repo, "refs/pm/")?;
    let theirs = refs_under(repo, &tracking_prefix(remote))?;
    let mut outgoing = outgoing(&ours, &theirs);
    outgoing.sort();
    if outgoing.is_empty() {
        return Ok(Pushed {
            pushed: 0,
            rejected: Vec::new(),
        });
    }
    let specs = push_specs(&ours, &outgoing);
    let mut pushed = Vec::new();
    let mut rejected = Vec::new();
    for chunk in specs.chunks(PUSH_CHUNK) {
        let mut args = vec!["push", "--porcelain", "--no-verify", remote];
        args.extend(chunk.iter().map(String::as_str));
        let output = crate::git::command::run(repo, &args)?;
        let rejected_before = rejected.len();
        parse_push_output(&output.stdout, &mut pushed, &mut rejected);
        if !output.success && rejected.len() == rejected_before {
            return Err(Error::failed(format!(
                "could not push to remote {remote}: {}",
                output.error_line()
            )));
        }
    }
    // A wildcard also names records that were already the same (reported up to date) or that
    // changed on the remote meanwhile (rejected): only the records meant to go count.
    let meant: HashSet<String> = outgoing
        .iter()
        .map(|(path, _)| format!("refs/pm/{path}"))
        .collect();
    rejected.retain(|r| meant.contains(&r.ref_name));
    // The remote now has these tips: remember them as its state.
    let tips: HashMap<&String, ObjectId> = outgoing.into_iter().collect();
    let prefix = tracking_prefix(remote);
    let edits = pushed
        .iter()
        .filter_map(|path| Some((path, *tips.get(path)?)))
        .map(|(path, tip)| tracking_edit(&format!("{prefix}{path}"), tip))
        .collect::<Result<Vec<_>>>()?;
    let count = edits.len();
    repo.edit_references(edits).map_err(|e| {
        let action = "could not record what was pushed";
        crate::error::ref_edit_failed(repo.common_dir(), &[prefix.as_str()], action, &e)
    })?;
    Ok(Pushed {
        pushed: count,
        rejected,
    })
}

/// The refspecs that push `outgoing` (paths below `refs/pm/` with their tips) of the local
/// records `ours`. Explicit object ids, so a record that moves during the push is pushed as it
/// was read; but a kind with many records to push gets one wildcard refspec instead, when every
/// local ref of that kind is a valid record (then the wildcard pushes the outgoing ones and
/// finds the others up to date).
fn push_specs(
    ours: &HashMap<String, Option<ObjectId>>,
    outgoing: &[(&String, ObjectId)],
) -> Vec<String> {
    let mut specs = Vec::new();
    for kind in RecordKind::ALL {
        let kind = format!("{}/", kind.plural());
        let mine: Vec<&(&String, ObjectId)> = outgoing
            .iter()
            .filter(|(path, _)| path.starts_with(kind.as_str()))
            .collect();
        let all_records = ours
            .iter()
            .filter(|(path, _)| path.starts_with(kind.as_str()))
            .all(|(path, tip)| tip.is_some() && parse_record_path(path).is_ok());
        if mine.len() > PUSH_WILDCARD_MIN && all_records {
            specs.push(format!("refs/pm/{kind}*:refs/pm/{kind}*"));
        } else {
            specs.extend(
                mine.iter()
                    .map(|(path, tip)| format!("{tip}:refs/pm/{path}")),
            );
        }
    }
    specs
}

fn tracking_edit(name: &str, tip: ObjectId) -> Result<gix::refs::transaction::RefEdit> {
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    let name = name
        .try_into()
        .map_err(|e| Error::failed(format!("invalid tracking ref {name}: {e}")))?;
    Ok(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "pm: pushed".into(),
            },
            expected: PreviousValue::Any,
            new: gix::refs::Target::Object(tip),
        },
        name,
        deref: false,
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
