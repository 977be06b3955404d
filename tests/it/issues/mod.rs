//! Integration tests of `pm issue …`: the real binary on temporary repositories, with the git
//! CLI as the independent witness of what was stored.

mod events;
mod files;
mod records;
mod refusals;
mod storage;

use crate::common;
use crate::common::{CRAFTED_ID, EMAIL, Kind, NAME, Repo, id_of, record_toml};
use serde_json::Value;
use std::collections::BTreeSet;

/// A valid id for which no ref exists in any test repository.
const UNKNOWN_ID: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";

/// The keys of an issue in JSON output (a documented contract).
const ISSUE_KEYS: [&str; 11] = [
    "body",
    "closed",
    "created",
    "description",
    "id",
    "priority",
    "status",
    "tags",
    "title",
    "type",
    "updated",
];

/// The keys of a JSON object, sorted; a document's `json_version` is checked and left out.
fn keys(value: &Value) -> Vec<String> {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {value}"));
    if let Some(version) = object.get("json_version") {
        assert_eq!(version, 1, "documents are version 1");
    }
    let mut keys: Vec<String> = object
        .keys()
        .filter(|k| *k != "json_version")
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The ids of a `{"issues": [...], "errors": [...]}` document, in order.
fn listed_ids(doc: &Value) -> Vec<String> {
    doc["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no issues array in {doc}"))
        .iter()
        .map(|issue| issue["id"].as_str().expect("issue id").to_string())
        .collect()
}

/// `pm --json issue list <args…>` in `repo`; also checks the document's shape.
#[track_caller]
fn list_ids(repo: &Repo, args: &[&str]) -> Vec<String> {
    let mut all = vec!["issue", "list"];
    all.extend_from_slice(args);
    let doc = repo.pm_json(&all);
    assert_eq!(keys(&doc), ["errors", "issues"], "list document: {doc}");
    assert_eq!(doc["errors"], Value::Array(vec![]), "unexpected errors");
    for issue in doc["issues"].as_array().unwrap() {
        assert_eq!(keys(issue), ISSUE_KEYS, "issue shape: {issue}");
    }
    listed_ids(&doc)
}

/// The first column of every row of a text table (header skipped).
fn table_first_column(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

fn strings(items: &[&String]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Run a command that must be refused with `code`, one `error:` line, and no ref changed.
#[track_caller]
fn refused(repo: &Repo, args: &[&str], code: i32) -> String {
    let before = repo.refs();
    let line = repo.pm(args).fails_with(code);
    assert_eq!(
        repo.refs(),
        before,
        "`pm {}` changed refs/pm/ although it failed",
        args.join(" ")
    );
    line
}

fn shortest_unique_prefix(id: &str, all: &[String]) -> String {
    (1..=id.len())
        .map(|n| &id[..n])
        .find(|prefix| {
            all.iter()
                .filter(|other| *other != id)
                .all(|other| !other.starts_with(prefix))
        })
        .expect("ids are distinct")
        .to_string()
}

fn common_prefix(ids: &[String]) -> String {
    let first = &ids[0];
    let n = (0..first.len())
        .take_while(|&i| ids.iter().all(|id| id.as_bytes()[i] == first.as_bytes()[i]))
        .count();
    first[..n].to_string()
}
