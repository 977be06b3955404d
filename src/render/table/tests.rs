//! Unit tests of the table layout (`src/render/table.rs`).

use super::*;

fn terminal(width: usize) -> Style {
    Style {
        color: false,
        aligned: true,
        width: Some(width),
    }
}

#[test]
fn tables_align_plain_cells() {
    let mut table = Table::new(vec!["ID", "TITLE"]);
    table.row(vec![("1".into(), None), ("first".into(), None)]);
    table.row(vec![("100".into(), None), ("x".into(), None)]);
    assert_eq!(
        table.render(&Style::plain()),
        "ID   TITLE\n1    first\n100  x\n"
    );
}

#[test]
fn tables_off_a_terminal_are_tab_separated_and_whole() {
    let ids = IdPrefixes::new(vec!["01AAAAAAAAAA".into(), "01AAAAAAAAAB".into()]);
    let mut table = Table::with_columns(vec![Column::id("ID", &ids), Column::text("T", 3)]);
    let long = "two\twords and many more words than fit".to_string();
    table.row(vec![("01AAAAAAAAAA".into(), None), (long, None)]);
    let style = Style {
        color: false,
        aligned: false,
        width: Some(10),
    };
    assert_eq!(
        table.render(&style),
        "ID\tT\n01AAAAAAAAAA\ttwo words and many more words than fit\n"
    );
}

#[test]
fn ids_show_their_shortest_unique_prefix_of_at_least_eight() {
    let ids = IdPrefixes::new(vec![
        "01ABCDEFGH".into(),
        "01ABCDEFGJ".into(),
        "01ABCDXYZ0".into(),
        "01ZZZZZZZZ".into(),
    ]);
    assert_eq!(ids.unique_len("01ABCDEFGH"), 10);
    assert_eq!(ids.unique_len("01ABCDXYZ0"), 7);
    assert_eq!(ids.unique_len("01ZZZZZZZZ"), 3);
    // An id not (yet) in the list is told from its would-be neighbours.
    assert_eq!(ids.unique_len("01ABCDEFZZ"), 9);
    let mut table = Table::with_columns(vec![Column::id("ID", &ids), Column::keep("X")]);
    for id in ["01ABCDEFGH", "01ZZZZZZZZ"] {
        table.row(vec![(id.into(), None), ("x".into(), None)]);
    }
    assert_eq!(
        table.render(&Style::plain()),
        "ID          X\n01ABCDEFGH  x\n01ZZZZZZ    x\n"
    );
    let coloured = Style {
        color: true,
        aligned: true,
        width: None,
    };
    let text = table.render(&coloured);
    assert!(
        text.contains("\x1b[1;36m01Z\x1b[0m\x1b[2mZZZZZ\x1b[0m"),
        "{text:?}"
    );
}

#[test]
fn text_is_shortened_widest_first_and_optional_columns_left_out() {
    let ids = IdPrefixes::new(vec!["01ABCDEFGHJK".into()]);
    let mut table = Table::with_columns(vec![
        Column::id("ID", &ids),
        Column::text("TITLE", 8),
        Column::path("PATH", 10),
        Column::keep("WHEN").optional(1),
    ]);
    table.row(vec![
        ("01ABCDEFGHJK".into(), None),
        ("A title that is long".into(), None),
        ("/home/someone/repo.worktrees/branch".into(), None),
        ("2026-09-21T14:13:20Z".into(), None),
    ]);
    // Wide enough for everything.
    let wide = table.render(&terminal(200));
    assert!(wide.contains("A title that is long  /home/someone/repo.worktrees/branch  2026"));
    // Text shortened: the path, the widest, first; the path at its start.
    let text = table.render(&terminal(80));
    assert!(text.lines().all(|l| width(l) <= 80), "{text}");
    assert!(text.contains("01ABCDEF  A title that is long  …"), "{text}");
    assert!(
        text.contains("repo.worktrees/branch  2026-09-21T14:13:20Z"),
        "{text}"
    );
    // Narrower: the optional column goes, and both text columns are shortened.
    let text = table.render(&terminal(40));
    assert!(text.lines().all(|l| width(l) <= 40), "{text}");
    assert!(!text.contains("WHEN") && !text.contains("2026"), "{text}");
    assert!(
        text.contains("01ABCDEF  A title that …  …ktrees/branch\n"),
        "{text}"
    );
    // Narrower still: shortened below their minimum, never the id.
    let text = table.render(&terminal(22));
    assert!(text.lines().all(|l| width(l) <= 22), "{text}");
    assert!(text.contains("01ABCDEF  "), "{text}");
}

#[test]
fn cuts_count_terminal_columns() {
    assert_eq!(cut_end("abcdef", 4), "abc…");
    assert_eq!(cut_end("abc", 4), "abc");
    assert_eq!(cut_start("/a/b/c/d", 5), "…/c/d");
    // Wide characters take two columns; a cut never splits one.
    assert_eq!(width("ログイン"), 8);
    assert_eq!(cut_end("ログイン", 6), "ログ…");
    assert_eq!(width(&cut_end("ログイン", 6)), 5);
    assert_eq!(cut_start("xログイン", 4), "…ン");
    assert_eq!(width("e\u{301}"), 1);
}
