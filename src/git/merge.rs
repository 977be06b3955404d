//! Merging a branch into another with git's own plumbing, touching no worktree: `git
//! merge-tree --write-tree` for the merged tree (and the conflicting files), `git
//! commit-tree` for the commit, `git replay` to rebase. Commits are named by object id on
//! every command line; messages go through stdin.

use super::command::{GitOutput, run, run_with_input};
use crate::error::{Error, Result};
use gix::ObjectId;

/// The tree of merging `theirs` into `ours`, or the files that conflict.
pub enum Merged {
    Clean(ObjectId),
    Conflict(Vec<String>),
}

fn oid(text: &str, what: &str) -> Result<ObjectId> {
    ObjectId::from_hex(text.trim().as_bytes())
        .map_err(|_| Error::failed(format!("git gave no object id for {what}: {text:?}")))
}

/// Merge `theirs` into `ours` (three-way, over their merge base).
pub fn merge_tree(repo: &gix::Repository, ours: ObjectId, theirs: ObjectId) -> Result<Merged> {
    let (ours, theirs) = (ours.to_string(), theirs.to_string());
    let out = run(
        repo,
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            &ours,
            &theirs,
        ],
    )?;
    let mut lines = out.stdout.lines();
    let tree = lines.next().unwrap_or_default();
    if out.success {
        return Ok(Merged::Clean(oid(tree, "the merged tree")?));
    }
    if out.code != Some(1) || tree.is_empty() {
        return Err(Error::failed(format!(
            "could not merge: {}",
            out.error_line()
        )));
    }
    let mut files: Vec<String> = lines
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    files.dedup();
    Ok(Merged::Conflict(files))
}

/// Write a commit of `tree` with `parents` and `message` (git's configured identity).
pub fn commit_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    message: &str,
) -> Result<ObjectId> {
    let tree = tree.to_string();
    let parents: Vec<String> = parents.iter().map(ToString::to_string).collect();
    let mut args = vec!["commit-tree", tree.as_str()];
    for parent in &parents {
        args.extend(["-p", parent.as_str()]);
    }
    let out = run_with_input(repo, &args, message.as_bytes())?;
    ok(&out, "could not write the merge commit")?;
    oid(&out.stdout, "the merge commit")
}

/// Replay the commits of local branch `branch` that `onto` lacks on top of `onto`, as a rebase
/// would (the branch itself is not moved); the new tip, or `None` when a commit does not apply
/// cleanly. `branch` is the name of a branch that exists (checked by the caller).
pub fn replay(repo: &gix::Repository, onto: ObjectId, branch: &str) -> Result<Option<ObjectId>> {
    let full = format!("refs/heads/{branch}");
    let onto_s = onto.to_string();
    let range = format!("{onto}..{full}");
    let out = run(repo, &["replay", "--onto", &onto_s, &range])?;
    if out.success {
        // `update <ref> <new> <old>` for the branch; nothing when it had nothing to replay.
        return match out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("update ")?.strip_prefix(full.as_str()))
            .and_then(|rest| rest.split_whitespace().next())
        {
            Some(new) => oid(new, "the rebased tip").map(Some),
            None => Ok(Some(onto)),
        };
    }
    if out.code == Some(1) {
        return Ok(None);
    }
    Err(Error::failed(format!(
        "could not rebase: {}",
        out.error_line()
    )))
}

fn ok(out: &GitOutput, what: &str) -> Result<()> {
    if out.success {
        Ok(())
    } else {
        Err(Error::failed(format!("{what}: {}", out.error_line())))
    }
}
