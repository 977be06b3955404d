//! Pushing: send every local record whose tip the remote does not have (never forced), with
//! the git binary, and remember what the remote took in the tracking namespace.

use super::{Family, Rejected, parse_record_path, refs_under, tracking_prefix};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::archive::{ARCHIVE_PREFIX, Shelf, month_of};
use crate::workspace::Workspace;
use gix::ObjectId;
use std::collections::{HashMap, HashSet};

/// Refspecs per `git push` call, to stay far below the command-line limit.
const PUSH_CHUNK: usize = 1000;

/// Above this many records of one kind to push, they are pushed with one wildcard refspec
/// (when that pushes exactly them): git matches every explicit refspec against every local
/// ref, so 1,000 explicit ones among 10,000 records take 20 s, the wildcard 1.4 s for all.
const PUSH_WILDCARD_MIN: usize = 64;

pub(super) struct Pushed {
    pub(super) pushed: usize,
    pub(super) rejected: Vec<Rejected>,
}

/// Read `git push --porcelain` output: `<flag>\t<src>:<dst>\t<summary>` per ref.
fn parse_push_output(stdout: &str, pushed: &mut Vec<String>, rejected: &mut Vec<Rejected>) {
    parse_porcelain(stdout, "refs/pm/", pushed, rejected);
}

/// [`parse_push_output`] for the refs below `prefix`: the names below it that went, and those
/// refused.
fn parse_porcelain(
    stdout: &str,
    prefix: &str,
    pushed: &mut Vec<String>,
    rejected: &mut Vec<Rejected>,
) {
    for line in stdout.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(flag), Some(refs), summary) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(dst) = refs.split(':').nth(1) else {
            continue;
        };
        let Some(path) = dst.strip_prefix(prefix) else {
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
pub(super) fn outgoing<'a>(
    ours: &'a HashMap<String, Option<ObjectId>>,
    theirs: &HashMap<String, Option<ObjectId>>,
) -> Vec<(&'a String, ObjectId)> {
    ours.iter()
        .filter_map(|(path, tip)| Some((path, (*tip)?)))
        .filter(|(path, tip)| theirs.get(*path) != Some(&Some(*tip)))
        .filter(|(path, _)| parse_record_path(path).is_ok())
        .collect()
}

/// Push every local record whose tip the remote does not have yet, never forced.
pub(super) fn push(store: &Store, remote: &str) -> Result<Pushed> {
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
    for family in Family::ALL {
        let kind = format!("{}/", family.folder());
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

/// The branches of this clone's live sessions whose local tip the remote lacks (by its
/// remote-tracking branch), as `(branch, tip)`.
pub(super) fn session_branches(ws: &Workspace, remote: &str) -> Result<Vec<(String, ObjectId)>> {
    use crate::model::{Session, SessionStatus};
    let repo = ws.repo();
    let live = crate::ops::sessions::list_by_status::<Session>(
        ws,
        &[SessionStatus::Active, SessionStatus::Idle],
        |_| true,
    )?;
    let mut out = Vec::new();
    for session in live.records.into_iter().map(|s| s.record) {
        if !session.is_live() || !ws.owns(&session) {
            continue;
        }
        // The name comes from a record: only a valid name of a branch that exists here.
        if crate::git::branch::check_branch_name(&session.branch).is_err() {
            continue;
        }
        let Some(tip) = crate::git::branch::branch_tip(repo, &session.branch)? else {
            continue;
        };
        let tracking =
            crate::git::branch::remote_tracking_tip(repo, &format!("{remote}/{}", session.branch))?;
        if tracking != Some(tip) {
            out.push((session.branch, tip));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Push `branches` (never forced); the remote-tracking branches follow what the remote took.
pub(super) fn push_branches(
    ws: &Workspace,
    remote: &str,
    branches: &[(String, ObjectId)],
) -> Result<(Vec<String>, Vec<Rejected>)> {
    let repo = ws.repo();
    let mut pushed = Vec::new();
    let mut rejected = Vec::new();
    for chunk in branches.chunks(PUSH_CHUNK) {
        let mut args = vec![
            "push".to_string(),
            "--porcelain".into(),
            "--no-verify".into(),
            remote.to_string(),
        ];
        args.extend(
            chunk
                .iter()
                .map(|(branch, tip)| format!("{tip}:refs/heads/{branch}")),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = crate::git::command::run(repo, &args)?;
        let mut took = Vec::new();
        let before = rejected.len();
        parse_porcelain(&output.stdout, "refs/heads/", &mut took, &mut rejected);
        if !output.success && rejected.len() == before && took.is_empty() {
            return Err(Error::failed(format!(
                "could not push branches to remote {remote}: {}",
                output.error_line()
            )));
        }
        for branch in took {
            if let Some((_, tip)) = chunk.iter().find(|(b, _)| *b == branch) {
                let tip = tip.to_string();
                let tracking = format!("refs/remotes/{remote}/{branch}");
                crate::git::command::run_quietly(repo, &["update-ref", &tracking, &tip]);
            }
            pushed.push(branch);
        }
    }
    Ok((pushed, rejected))
}

/// What removing archived records from the remote did.
#[derive(Default)]
pub(super) struct Removed {
    pub(super) removed: usize,
    /// Deletions the remote refused (a hook, a rule of its own), with its reason. A deletion
    /// that found the record moved meanwhile is not one: that record is no longer archived.
    pub(super) refused: Vec<Rejected>,
}

/// Remove from the remote every record ref whose remote tip the remote's own archive (the
/// tracking archive refs, as the last fetch and push left them) holds, and that has no live
/// ref here (a live one here is later: it is pushed instead). Only archive commits this clone
/// took (the local archive ref is the same or descends from it) are relied on: one that was
/// not taken may not keep its records reachable. Each deletion is leased on the tip that was
/// checked, so a record someone changed meanwhile stays. Best effort: what is not removed now
/// is by a later sync.
pub(super) fn remove_archived(store: &Store, remote: &str) -> Result<Removed> {
    let repo = store.repo();
    let prefix = tracking_prefix(remote);
    let archive_root = format!("{prefix}archive/");
    let mut removed = Removed::default();
    let mut remote_refs = None;
    for shelf in Shelf::ALL {
        let remote_archive = store.archive_refs(&archive_root, shelf)?;
        if remote_archive.is_empty() {
            continue;
        }
        let local: HashMap<String, ObjectId> = store
            .archive_refs(ARCHIVE_PREFIX, shelf)?
            .into_iter()
            .collect();
        let mut taken = HashSet::new();
        for (month, theirs) in remote_archive {
            if let Some(ours) = local.get(&month)
                && store.covers(*ours, theirs)?
            {
                taken.insert(month);
            }
        }
        let folder = shelf.folder();
        let theirs = refs_under(repo, &format!("{prefix}{folder}/"))?;
        let ours = refs_under(repo, &format!("refs/pm/{folder}/"))?;
        let mut doomed: Vec<(String, ObjectId)> = Vec::new();
        for (id, tip) in &theirs {
            let Some(tip) = tip else { continue };
            if ours.contains_key(id) || !month_of(id).is_some_and(|m| taken.contains(&m)) {
                continue;
            }
            if let Some(kept) = store.archived_tip_under(&archive_root, shelf, id)?
                && store.covers(kept, *tip)?
            {
                doomed.push((id.clone(), *tip));
            }
        }
        if doomed.is_empty() {
            continue;
        }
        let advertised = match remote_refs {
            Some(count) => count,
            None => *remote_refs.insert(refs_under(repo, &prefix)?.len().max(1)),
        };
        let went = if doomed.len() * advertised <= EXPLICIT_REMOVAL_BUDGET {
            remove_by_name(store, remote, folder, &doomed)?
        } else {
            remove_by_pruning(store, remote, folder, &doomed, &theirs)?
        };
        removed.removed += went.removed;
        removed.refused.extend(went.refused);
    }
    Ok(removed)
}

/// Above this many comparisons (refs to remove times refs the remote has), records are
/// removed from the remote by one pruning push rather than by a refspec each: git compares
/// every explicit refspec with every ref the remote advertises (3,000 among 3,000 take 12 s).
const EXPLICIT_REMOVAL_BUDGET: usize = 200_000;

/// The ids of `doomed` (of `folder`) that a `git push --porcelain` output says were deleted,
/// with their tips.
fn deleted_in(
    stdout: &str,
    folder: &str,
    doomed: &[(String, ObjectId)],
) -> Vec<(String, ObjectId)> {
    let tips: HashMap<&str, ObjectId> =
        doomed.iter().map(|(id, tip)| (id.as_str(), *tip)).collect();
    let below = format!("refs/pm/{folder}/");
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (Some("-"), Some(refs)) = (fields.next(), fields.next()) else {
                return None;
            };
            let id = refs.split(':').nth(1)?.strip_prefix(below.as_str())?;
            Some((id.to_string(), *tips.get(id)?))
        })
        .collect()
}

/// The deletions of `doomed` (ids of `folder`) that a `git push --porcelain` run refused for
/// a reason of the remote's: not those refused because the record moved (a failed lease, and
/// the rest of an atomic push that failed for it). A run that failed as a whole names every
/// one of them, with its error.
fn refused_in(
    output: &crate::git::command::GitOutput,
    folder: &str,
    doomed: &[(String, ObjectId)],
) -> Vec<Rejected> {
    let below = format!("refs/pm/{folder}/");
    let mut updated = Vec::new();
    let mut refused = Vec::new();
    parse_porcelain(&output.stdout, &below, &mut updated, &mut refused);
    let ids: HashSet<&str> = doomed.iter().map(|(id, _)| id.as_str()).collect();
    let answered = !refused.is_empty() || !deleted_in(&output.stdout, folder, doomed).is_empty();
    refused.retain(|r| {
        r.ref_name
            .strip_prefix(below.as_str())
            .is_some_and(|id| ids.contains(id))
            && !r.reason.contains("stale info")
            && !r.reason.contains("atomic")
    });
    if output.success || answered {
        return refused;
    }
    let reason = output.error_line();
    doomed
        .iter()
        .map(|(id, _)| Rejected {
            ref_name: format!("{below}{id}"),
            reason: reason.clone(),
        })
        .collect()
}

/// Remove `doomed` (ids of `folder` with the tips the remote is known to have) by name, each
/// deletion leased on its tip. Their tracking refs go too.
fn remove_by_name(
    store: &Store,
    remote: &str,
    folder: &str,
    doomed: &[(String, ObjectId)],
) -> Result<Removed> {
    let mut removed = Removed::default();
    for chunk in doomed.chunks(PUSH_CHUNK) {
        let mut args = vec![
            "push".to_string(),
            "--porcelain".into(),
            "--no-verify".into(),
        ];
        for (id, tip) in chunk {
            args.push(format!("--force-with-lease=refs/pm/{folder}/{id}:{tip}"));
        }
        args.push(remote.to_string());
        args.extend(
            chunk
                .iter()
                .map(|(id, _)| format!(":refs/pm/{folder}/{id}")),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = crate::git::command::run(store.repo(), &args)?;
        removed.removed += forget(
            store,
            remote,
            folder,
            deleted_in(&output.stdout, folder, chunk),
        )?;
        removed.refused.extend(refused_in(&output, folder, chunk));
    }
    Ok(removed)
}

/// Drop the tracking refs of the records of `folder` the remote no longer has.
fn forget(
    store: &Store,
    remote: &str,
    folder: &str,
    gone: Vec<(String, ObjectId)>,
) -> Result<usize> {
    let prefix = tracking_prefix(remote);
    let gone: Vec<(String, ObjectId)> = gone
        .into_iter()
        .map(|(id, tip)| (format!("{prefix}{folder}/{id}"), tip))
        .collect();
    store.delete_refs(&gone)?;
    Ok(gone.len())
}

/// Remove `doomed` (ids of `folder` with their known remote tips) in one push, whatever their
/// number: `git push --atomic --prune` from a temporary namespace holding the other records the
/// remote is known to have (`theirs`, unchanged), leased (by a temporary remote whose tracking
/// refs are the doomed tips) so that a record the remote got or changed meanwhile makes the
/// whole push fail instead of going: then a later sync tries again.
fn remove_by_pruning(
    store: &Store,
    remote: &str,
    folder: &str,
    doomed: &[(String, ObjectId)],
    theirs: &HashMap<String, Option<ObjectId>>,
) -> Result<Removed> {
    let repo = store.repo();
    let url = crate::git::command::run_ok(
        repo,
        &["remote", "get-url", "--push", remote],
        &format!("could not read the url of remote {remote}"),
    )?
    .stdout
    .trim()
    .to_string();
    let temp = "refs/pm-tmp/";
    let keep = format!("{temp}keep/{folder}/");
    let lease = format!("{temp}lease/{folder}/");
    let clear = || -> Result<()> {
        let left: Vec<(String, ObjectId)> = refs_under(repo, temp)?
            .into_iter()
            .filter_map(|(rest, tip)| Some((format!("{temp}{rest}"), tip?)))
            .collect();
        store.delete_refs(&left)?;
        Ok(())
    };
    clear()?;
    let doomed_ids: HashSet<&str> = doomed.iter().map(|(id, _)| id.as_str()).collect();
    let mut refs: Vec<(String, ObjectId)> = theirs
        .iter()
        .filter(|(id, _)| !doomed_ids.contains(id.as_str()))
        .filter_map(|(id, tip)| Some((format!("{keep}{id}"), (*tip)?)))
        .collect();
    refs.extend(
        doomed
            .iter()
            .map(|(id, tip)| (format!("{lease}{id}"), *tip)),
    );
    store.write_refs(&refs)?;
    let name = "pm-archive-removal";
    let url_setting = format!("remote.{name}.url={url}");
    let fetch_setting = format!("remote.{name}.fetch=+refs/pm/{folder}/*:{lease}*");
    let spec = format!("{keep}*:refs/pm/{folder}/*");
    let output = crate::git::command::run(
        repo,
        &[
            "-c",
            &url_setting,
            "-c",
            &fetch_setting,
            "push",
            "--porcelain",
            "--no-verify",
            "--atomic",
            "--prune",
            "--force-with-lease",
            name,
            &spec,
        ],
    );
    let cleared = clear();
    let output = output?;
    cleared?;
    Ok(Removed {
        removed: forget(
            store,
            remote,
            folder,
            deleted_in(&output.stdout, folder, doomed),
        )?,
        refused: refused_in(&output, folder, doomed),
    })
}
