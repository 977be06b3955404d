//! Fetching: list the remote's records, fetch only those that moved into the tracking
//! namespace, and integrate every fetched record that differs from the local one.

use super::{
    Family, Phase, Rejected, SyncReport, fetch_refspec, parse_record_path, refs_under,
    tracking_prefix,
};
use crate::error::{Error, Result};
use crate::model::{Issue, RecordKind, Session};
use crate::store::{Integrated, Mode, Store};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

/// Up to this many moved refs are fetched by name in one fetch; when more moved and every
/// name the remote holds is a record, the whole namespace is fetched at once.
const FETCH_EXPLICIT_MAX: usize = 1000;

/// Fetch `refs/pm/*` of `remote` into the tracking namespace. Returns how many refs changed.
///
/// First only the remote's refs are listed, and only those that moved are fetched: gix puts
/// every mapped ref into its ref transaction, moved or not, and locking ten thousand refs to
/// change none of them would make a no-op sync slow.
pub(super) fn fetch(
    repo: &gix::Repository,
    remote_name: &str,
    rejected: &mut Vec<Rejected>,
) -> Result<usize> {
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
pub(super) fn list_remote_records(
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

/// Integrate every tracking ref that differs from the local record.
pub(super) fn integrate_all(
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
            Family::Record(RecordKind::Issue) => store.integrate::<Issue>(id, tip, Mode::Write)?,
            Family::Record(RecordKind::Session) => {
                store.integrate::<Session>(id, tip, Mode::Write)?
            }
            Family::Transcript => store.integrate_transcript(id, tip, Mode::Write)?,
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
