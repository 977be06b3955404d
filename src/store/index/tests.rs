use super::read::MAP_FROM;
use super::*;
use std::io::Write as _;

fn tip(n: u8) -> ObjectId {
    ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
}

fn fresh(text: &str, settled: bool) -> Fresh {
    Fresh {
        text: text.into(),
        settled,
        tally: if settled { "done" } else { "open" }.into(),
        summary: "{}".into(),
    }
}

/// The records in `scope` as (id, tip, text).
fn texts(index: &Index, scope: Scope) -> Vec<(&str, ObjectId, &str)> {
    index
        .records(scope)
        .map(|r| (r.id, r.tip, r.text))
        .collect()
}

fn state() -> RefState {
    RefState {
        packed: None,
        loose: Vec::new(),
    }
}

#[test]
fn round_trips_live_and_settled_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::load(dir.path(), "sessions");
    assert!(index.load_settled());
    index.put("B", tip(1), fresh("{\"b\":\"multi\\nline\"}", false));
    index.put("A", tip(2), fresh("{\"a\":1}", true));
    index.save(Some(state()));

    let mut again = Index::load(dir.path(), "sessions");
    let live = texts(&again, Scope::Live);
    assert_eq!(live, vec![("B", tip(1), "{\"b\":\"multi\\nline\"}")]);
    assert_eq!(again.get("A", tip(2)), None, "settled log not loaded yet");
    assert!(again.load_settled());
    assert_eq!(again.get("A", tip(2)), Some("{\"a\":1}"));
    assert_eq!(again.get("A", tip(3)), None);

    // B settles, A comes back to life: appended to the log, not rewritten.
    let mut third = Index::load(dir.path(), "sessions");
    third.put("B", tip(4), fresh("{\"b\":2}", true));
    third.put("A", tip(5), fresh("{\"a\":3}", false));
    third.save(Some(state()));
    let mut fourth = Index::load(dir.path(), "sessions");
    assert!(fourth.load_settled());
    let mut all = texts(&fourth, Scope::All);
    all.sort();
    assert_eq!(
        all,
        vec![("A", tip(5), "{\"a\":3}"), ("B", tip(4), "{\"b\":2}")]
    );
    let live = texts(&fourth, Scope::Live);
    assert_eq!(live, vec![("A", tip(5), "{\"a\":3}")]);

    // A record that is gone leaves both files.
    fourth.retain(&["A"]);
    fourth.save(Some(state()));
    let mut fifth = Index::load(dir.path(), "sessions");
    assert!(fifth.load_settled());
    let all = texts(&fifth, Scope::All);
    assert_eq!(all, vec![("A", tip(5), "{\"a\":3}")]);
}

#[test]
fn damage_and_foreign_writes_empty_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::load(dir.path(), "issues");
    index.put("A", tip(1), fresh("{}", true));
    index.save(Some(state()));
    let settled = dir.path().join("issues.settled");
    let head = dir.path().join("issues");

    // Bytes appended by a writer that crashed before its head was written are ignored.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&settled)
        .unwrap();
    file.write_all(b"A - 0 - -\n\n").unwrap();
    let mut loaded = Index::load(dir.path(), "issues");
    assert!(loaded.load_settled());
    assert_eq!(loaded.get("A", tip(1)), Some("{}"));

    // Texts that are not where the lines say are not used.
    let texts = dir.path().join("issues.texts");
    let good = std::fs::read(&texts).unwrap();
    let mut moved = good.clone();
    moved.insert(moved.len() - 3, b' ');
    moved.pop();
    std::fs::write(&texts, &moved).unwrap();
    let mut loaded = Index::load(dir.path(), "issues");
    assert!(!loaded.load_settled());
    assert_eq!(loaded.get("A", tip(1)), None);
    std::fs::write(&texts, &good).unwrap();

    // A log under another token (rewritten by someone else) is not used.
    std::fs::write(&settled, "pm-settled OTHER\n").unwrap();
    let mut loaded = Index::load(dir.path(), "issues");
    assert!(!loaded.load_settled());
    assert_eq!(loaded.get("A", tip(1)), None);

    let bytes = std::fs::read(&head).unwrap();
    for damage in [&bytes[..bytes.len() / 2], b"garbage", b""] {
        std::fs::write(&head, damage).unwrap();
        let loaded = Index::load(dir.path(), "issues");
        assert!(loaded.head.is_none());
    }
}

fn counts(pairs: &[(&str, usize)]) -> Tally {
    pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

#[test]
fn the_tally_is_kept_without_loading_the_settled_log_when_it_can_be() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::load(dir.path(), "sessions");
    assert!(index.load_settled());
    index.put("A", tip(1), fresh("{}", true));
    index.put("B", tip(2), fresh("{}", true));
    index.put("C", tip(3), fresh("{}", false));
    assert_eq!(index.tally(), Some(counts(&[("done", 2), ("open", 1)])));
    index.save(Some(state()));

    // Known from the head alone.
    let loaded = Index::load(dir.path(), "sessions");
    assert_eq!(loaded.tally(), Some(counts(&[("done", 2), ("open", 1)])));

    // A live record settles: it was in the head, so not in the log.
    let mut index = Index::load(dir.path(), "sessions");
    index.put("C", tip(4), fresh("{}", true));
    assert_eq!(index.tally(), Some(counts(&[("done", 3)])));
    index.save(Some(state()));
    let loaded = Index::load(dir.path(), "sessions");
    assert_eq!(loaded.tally(), Some(counts(&[("done", 3)])));

    // A settled record changes: what it was counted as is in the log, not loaded.
    let mut index = Index::load(dir.path(), "sessions");
    let mut back = fresh("{}", false);
    back.tally = "open".into();
    index.put("A", tip(5), back);
    assert_eq!(index.tally(), None);
    index.save(Some(state()));
    let mut loaded = Index::load(dir.path(), "sessions");
    assert_eq!(loaded.tally(), None, "the head does not know it");
    assert!(loaded.load_settled());
    assert_eq!(loaded.tally(), Some(counts(&[("done", 2), ("open", 1)])));
    // Written once learnt, even with nothing else to write.
    loaded.save(Some(state()));
    let loaded = Index::load(dir.path(), "sessions");
    assert_eq!(loaded.tally(), Some(counts(&[("done", 2), ("open", 1)])));

    // A record that is gone is no longer counted.
    let mut index = Index::load(dir.path(), "sessions");
    assert!(index.load_settled());
    index.retain(&["A", "C"]);
    assert_eq!(index.tally(), Some(counts(&[("done", 1), ("open", 1)])));
}

#[test]
fn summaries_and_words_are_kept_beside_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::load(dir.path(), "sessions");
    assert!(index.load_settled());
    let mut record = fresh("{\"x\": \"a b\"}", true);
    record.summary = "{\"branch\":\"a b\"}".into();
    index.put("A", tip(1), record);
    index.save(Some(state()));
    let mut loaded = Index::load(dir.path(), "sessions");
    assert!(loaded.load_settled());
    let all: Vec<Cached<'_>> = loaded.records(Scope::All).collect();
    assert_eq!(
        all,
        vec![Cached {
            id: "A",
            tip: tip(1),
            text: "{\"x\": \"a b\"}",
            tally: "done",
            summary: "{\"branch\":\"a b\"}",
        }]
    );
}

#[test]
fn a_large_settled_log_is_read_the_same_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::load(dir.path(), "sessions");
    assert!(index.load_settled());
    let text = |n: usize| format!("{{\"n\":{n},\"pad\":\"{}\"}}", "é".repeat(200));
    let id = |n: usize| format!("{n:026}");
    for n in 0..4000 {
        index.put(&id(n), tip(1), fresh(&text(n), true));
    }
    index.save(Some(state()));
    let log = dir.path().join("sessions.texts");
    assert!(std::fs::metadata(&log).unwrap().len() as usize > MAP_FROM);
    // What a writer that crashed appended is not part of the log.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"garbage").unwrap();
    // The lines alone, then the texts.
    let mut loaded = Index::load(dir.path(), "sessions");
    assert!(loaded.load_settled_lines());
    assert_eq!(loaded.briefs(Scope::All).count(), 4000);
    assert_eq!(
        loaded.records(Scope::All).count(),
        0,
        "no text is loaded yet"
    );
    assert!(loaded.has(&id(1234), tip(1)));
    assert!(loaded.load_settled());
    let texts = loaded.settled.as_ref().unwrap().texts.as_ref().unwrap();
    assert!(matches!(texts, Text::Mapped(_)));
    assert_eq!(loaded.records(Scope::All).count(), 4000);
    assert_eq!(loaded.get(&id(1234), tip(1)), Some(text(1234).as_str()));
    assert_eq!(loaded.tally(), Some(counts(&[("done", 4000)])));
    // Texts shorter than the head says are not used.
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    let mut loaded = Index::load(dir.path(), "sessions");
    assert!(loaded.load_settled_lines());
    assert!(!loaded.load_settled());
    assert_eq!(loaded.records(Scope::All).count(), 0);
    assert_eq!(loaded.briefs(Scope::All).count(), 0);
}

#[test]
fn briefs_come_newest_first_without_a_sort_of_the_settled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::load(dir.path(), "sessions");
    assert!(index.load_settled());
    for (id, settled) in [
        ("A", true),
        ("C", false),
        ("E", true),
        ("G", false),
        ("I", true),
    ] {
        index.put(id, tip(1), fresh("{}", settled));
    }
    index.save(Some(state()));
    let mut loaded = Index::load(dir.path(), "sessions");
    assert!(loaded.load_settled_lines());
    // Changed since: one settles, one comes back to life, one is new, one is gone.
    loaded.put("C", tip(2), fresh("{}", true));
    loaded.put("E", tip(2), fresh("{}", false));
    loaded.put("H", tip(2), fresh("{}", true));
    loaded.retain(&["C", "E", "G", "H", "I"]);
    let ids: Vec<&str> = loaded.briefs_descending(Scope::All).map(|b| b.id).collect();
    assert_eq!(ids, ["I", "H", "G", "E", "C"]);
    let mut unsorted: Vec<&str> = loaded.briefs(Scope::All).map(|b| b.id).collect();
    unsorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(unsorted, ids);
    let live: Vec<&str> = loaded
        .briefs_descending(Scope::Live)
        .map(|b| b.id)
        .collect();
    assert_eq!(live, ["G", "E"]);
}

#[test]
fn a_held_lock_stops_writes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("issues.lock"), "").unwrap();
    let mut index = Index::load(dir.path(), "issues");
    index.put("A", tip(1), fresh("{}", false));
    index.save(Some(state()));
    assert!(!dir.path().join("issues").exists());
}
