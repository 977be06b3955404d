//! The field-level three-way merge of two versions of one record that both moved on from a
//! common ancestor. Pure: tables in, table out.
//!
//! The merge is symmetric — `merge(base, a, b) == merge(base, b, a)` — so every clone that
//! merges the same two tips writes the same record (and, with a deterministic commit, the same
//! commit id), and syncing stops after one round instead of ping-ponging.
//!
//! A field that only one side changed takes that side's value. When both changed it:
//! * lifecycle fields move together as one group (a session's status, end time, epoch and
//!   owner; an issue's status and close time), and the group with the higher rank wins:
//!   for sessions the higher epoch first (an explicit reactivation beats the older end), then
//!   completed > abandoned > active > idle; for issues done > closed > in_progress > open;
//! * `updated`, `commits` and a session's `purged` take the larger value (a purge is a tombstone
//!   that no edit undoes);
//! * an issue's tags are merged as a set: an addition on either side is kept, a removal is kept
//!   unless the other side added the tag again;
//! * any other field (including fields a newer pm wrote) takes the value of the side whose
//!   record was updated later, and on equal times the larger value.
//!
//! Why a three-way merge and not per-field clocks: the common ancestor is already in git (the
//! record's history), so the merge knows exactly which side changed what without carrying a
//! stamp next to every field, and records stay plain, readable TOML.

use crate::model::{Choice, IssueStatus, RecordKind, SessionStatus, Timestamp};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use toml::{Table, Value};

/// Fields whose larger value always wins.
const MAX_FIELDS: &[&str] = &["updated", "commits", "purged"];

/// Merge `ours` and `theirs`, which both descend from `base`.
pub fn merge(kind: RecordKind, base: &Table, ours: &Table, theirs: &Table) -> Table {
    let group: &[&str] = match kind {
        RecordKind::Session => &["status", "ended", "epoch", "owner"],
        RecordKind::Issue => &["status", "closed"],
    };
    let mut out = Table::new();

    let (b, o, t) = (pick(group, base), pick(group, ours), pick(group, theirs));
    let theirs_wins = if o == t || t == b {
        false
    } else {
        o == b || lifecycle_rank(kind, ours) < lifecycle_rank(kind, theirs)
    };
    let winner = if theirs_wins { theirs } else { ours };
    for key in group {
        if let Some(value) = winner.get(*key) {
            out.insert((*key).to_string(), value.clone());
        }
    }

    let keys: BTreeSet<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    for key in keys {
        if group.contains(&key.as_str()) {
            continue;
        }
        let (b, o, t) = (base.get(key), ours.get(key), theirs.get(key));
        let merged = if MAX_FIELDS.contains(&key.as_str()) {
            if compare_opt(o, t) == Ordering::Less {
                t
            } else {
                o
            }
            .cloned()
        } else if kind == RecordKind::Issue && key == "tags" {
            Some(merge_set(b, o, t))
        } else if o == t || t == b {
            o.cloned()
        } else if o == b {
            t.cloned()
        } else {
            let later = (updated(ours), repr(o)).cmp(&(updated(theirs), repr(t)));
            if later == Ordering::Less { t } else { o }.cloned()
        };
        if let Some(value) = merged {
            out.insert(key.clone(), value);
        }
    }
    out
}

fn pick<'a>(group: &[&str], record: &'a Table) -> Vec<Option<&'a Value>> {
    group.iter().map(|k| record.get(*k)).collect()
}

/// The rank of a record's lifecycle group; higher wins a conflict. Ties are broken by the
/// group's text, so the order is total and the merge symmetric.
fn lifecycle_rank(kind: RecordKind, record: &Table) -> (i64, u8, String) {
    let status = record.get("status").and_then(Value::as_str).unwrap_or("");
    let (epoch, rank) = match kind {
        RecordKind::Session => {
            let epoch = record.get("epoch").and_then(Value::as_integer).unwrap_or(0);
            let rank = SessionStatus::parse(status).map_or(0, SessionStatus::merge_rank);
            (epoch, rank)
        }
        RecordKind::Issue => {
            let rank = IssueStatus::parse(status).map_or(0, IssueStatus::merge_rank);
            (0, rank)
        }
    };
    let text = ["status", "ended", "closed", "epoch", "owner"]
        .iter()
        .map(|k| repr(record.get(*k)))
        .collect::<Vec<_>>()
        .join("\u{1f}");
    (epoch, rank, text)
}

/// The record's `updated` time (unparseable counts as the oldest).
fn updated(record: &Table) -> i64 {
    record
        .get("updated")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse)
        .map_or(i64::MIN, Timestamp::seconds)
}

/// A total order on optional values: absent first, numbers by value, timestamps by time,
/// anything else by its TOML text.
fn compare_opt(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Integer(x)), Some(Value::Integer(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => {
            match (Timestamp::parse(x), Timestamp::parse(y)) {
                (Some(x), Some(y)) => x.cmp(&y).then_with(|| repr(a).cmp(&repr(b))),
                _ => x.cmp(y),
            }
        }
        _ => repr(a).cmp(&repr(b)),
    }
}

fn repr(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_default()
}

/// Three-way merge of a list used as a set. Items the base had keep their order; items added
/// on either side follow in sorted order.
fn merge_set(base: Option<&Value>, ours: Option<&Value>, theirs: Option<&Value>) -> Value {
    let items = |v: Option<&Value>| -> Vec<Value> {
        v.and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let (b, o, t) = (items(base), items(ours), items(theirs));
    let keep = |x: &Value| {
        let (in_o, in_t, in_b) = (o.contains(x), t.contains(x), b.contains(x));
        (in_o && in_t) || (!in_b && (in_o || in_t))
    };
    let mut out: Vec<Value> = Vec::new();
    for x in &b {
        if keep(x) && !out.contains(x) {
            out.push(x.clone());
        }
    }
    let mut added: Vec<&Value> = o
        .iter()
        .chain(&t)
        .filter(|x| !b.contains(x) && keep(x))
        .collect();
    added.sort_by_key(|x| x.to_string());
    added.dedup();
    out.extend(added.into_iter().cloned());
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    const SESSION: &str = r#"
        id = "S"
        status = "active"
        owner = "A"
        epoch = 0
        prompt = "p"
        agent = "x"
        updated = "2026-01-01T00:00:00Z"
        commits = 0
    "#;

    fn session_with(changes: &str) -> Table {
        let mut t = table(SESSION);
        t.extend(table(changes));
        t
    }

    fn both_ways(kind: RecordKind, base: &Table, a: &Table, b: &Table) -> Table {
        let ab = merge(kind, base, a, b);
        let ba = merge(kind, base, b, a);
        assert_eq!(ab, ba, "merge is not symmetric");
        ab
    }

    #[test]
    fn edits_of_different_fields_are_both_kept() {
        let base = table(SESSION);
        let a = session_with(r#"prompt = "new prompt""#);
        let b = session_with(r#"agent = "claude""#);
        let m = both_ways(RecordKind::Session, &base, &a, &b);
        assert_eq!(m["prompt"].as_str(), Some("new prompt"));
        assert_eq!(m["agent"].as_str(), Some("claude"));
    }

    #[test]
    fn completed_beats_idle_and_brings_its_end_time() {
        let base = table(SESSION);
        let done = session_with(
            r#"status = "completed"
ended = "2026-01-02T00:00:00Z""#,
        );
        let idle = session_with(
            r#"status = "idle"
updated = "2026-01-03T00:00:00Z""#,
        );
        let m = both_ways(RecordKind::Session, &base, &done, &idle);
        assert_eq!(m["status"].as_str(), Some("completed"));
        assert_eq!(m["ended"].as_str(), Some("2026-01-02T00:00:00Z"));
        assert_eq!(m["updated"].as_str(), Some("2026-01-03T00:00:00Z"));
    }

    #[test]
    fn a_reactivation_beats_an_older_end() {
        let base = session_with(r#"status = "completed""#);
        let again = session_with(
            r#"status = "idle"
epoch = 1"#,
        );
        let abandoned = session_with(r#"status = "abandoned""#);
        let m = both_ways(RecordKind::Session, &base, &again, &abandoned);
        assert_eq!(m["status"].as_str(), Some("idle"));
        assert_eq!(m["epoch"].as_integer(), Some(1));
    }

    #[test]
    fn a_purge_wins_over_edits() {
        let base = table(SESSION);
        let purged = session_with(r#"purged = "2026-01-02T00:00:00Z""#);
        let edited = session_with(r#"prompt = "more""#);
        let m = both_ways(RecordKind::Session, &base, &purged, &edited);
        assert!(m.contains_key("purged"));
        assert_eq!(m["prompt"].as_str(), Some("more"));
    }

    #[test]
    fn the_later_update_wins_a_field_changed_on_both_sides() {
        let base = table(SESSION);
        let early = session_with(r#"prompt = "early""#);
        let late = session_with(
            r#"prompt = "late"
updated = "2026-02-01T00:00:00Z""#,
        );
        let m = both_ways(RecordKind::Session, &base, &early, &late);
        assert_eq!(m["prompt"].as_str(), Some("late"));
    }

    #[test]
    fn tags_merge_as_a_set() {
        let base = table(r#"tags = ["a", "b", "c"]"#);
        let ours = table(r#"tags = ["a", "c", "x"]"#); // removed b, added x
        let theirs = table(r#"tags = ["c", "a", "b", "y"]"#); // added y
        let m = both_ways(RecordKind::Issue, &base, &ours, &theirs);
        assert_eq!(m["tags"], table(r#"t = ["a", "c", "x", "y"]"#)["t"]);
    }

    #[test]
    fn unknown_fields_merge_like_any_other() {
        let base = table(SESSION);
        let a = session_with(r#"future = { x = 1 }"#);
        let b = session_with(r#"agent = "y""#);
        let m = both_ways(RecordKind::Session, &base, &a, &b);
        assert_eq!(m["future"], table("x = 1").into());
        assert_eq!(m["agent"].as_str(), Some("y"));
    }

    #[test]
    fn issue_done_beats_reopened() {
        let base = table(r#"status = "in_progress""#);
        let done = table(
            r#"status = "done"
closed = "2026-01-02T00:00:00Z""#,
        );
        let open = table(r#"status = "open""#);
        let m = both_ways(RecordKind::Issue, &base, &done, &open);
        assert_eq!(m["status"].as_str(), Some("done"));
        assert!(m.contains_key("closed"));
    }
}
