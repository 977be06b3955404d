//! Tables: aligned and fitted to the terminal's width for people, tab-separated and whole for
//! scripts.
//!
//! On a terminal, ids are shown by their shortest unique prefix (at least [`MIN_ID_LEN`]
//! characters, as git and jj do) with the unique part highlighted, and when a table is wider
//! than the terminal its text columns (titles, branches, paths) are shortened with an ellipsis,
//! and if that is not enough its optional columns are left out. Ids, statuses, times and counts
//! are never shortened. Off a terminal every cell is printed whole.

use super::Style;

/// Ids are shown with at least this many characters, even where fewer are unique, so that
/// they stay recognisable and unique for a while as records are added.
const MIN_ID_LEN: usize = 8;

/// Room between two columns.
const GAP: usize = 2;

/// Colours a cell after it has been padded, so escape codes never disturb the alignment.
pub type Paint = fn(&Style, &str) -> String;

/// One table cell: plain text and an optional colour.
pub type Cell = (String, Option<Paint>);

/// The ids of every record of one kind, to show each id by the prefix that tells it apart.
pub struct IdPrefixes {
    sorted: Vec<String>,
}

impl IdPrefixes {
    pub fn new(mut ids: Vec<String>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        IdPrefixes { sorted: ids }
    }

    /// How many leading characters of `id` no other id starts with: one more than it shares
    /// with the closest other id (all of `id` if another id starts with the whole of it).
    pub fn unique_len(&self, id: &str) -> usize {
        let (before, after) = match self.sorted.binary_search_by(|other| other.as_str().cmp(id)) {
            Ok(at) => (at.checked_sub(1), at + 1),
            Err(at) => (at.checked_sub(1), at),
        };
        let shared = before
            .and_then(|i| self.sorted.get(i))
            .into_iter()
            .chain(self.sorted.get(after))
            .map(|other| {
                id.chars()
                    .zip(other.chars())
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(0);
        (shared + 1).min(id.chars().count())
    }
}

/// How a column's cells are fitted to the room they get.
#[derive(Clone, Copy)]
enum Fit<'a> {
    /// Never shortened.
    Keep,
    /// Record ids: on a terminal by their shortest unique prefix among these ids.
    Id(&'a IdPrefixes),
    /// Shortened at the end, down to the given number of columns.
    End(usize),
    /// Shortened at the start (the end of a path says most), down to the given width.
    Start(usize),
}

/// A column of a [`Table`]: its header and how its cells may be shortened.
pub struct Column<'a> {
    header: &'static str,
    fit: Fit<'a>,
    /// Optional columns are left out when the table does not fit otherwise, lowest rank first;
    /// 0 is never left out.
    rank: u8,
}

impl<'a> Column<'a> {
    /// Cells that are never shortened: statuses, times, counts.
    pub fn keep(header: &'static str) -> Self {
        Column {
            header,
            fit: Fit::Keep,
            rank: 0,
        }
    }

    /// Record ids of one kind; `ids` holds every id of that kind.
    pub fn id(header: &'static str, ids: &'a IdPrefixes) -> Self {
        Column {
            header,
            fit: Fit::Id(ids),
            rank: 0,
        }
    }

    /// Text (titles, branches) shortened at its end to fit, to no fewer than `min` columns.
    pub fn text(header: &'static str, min: usize) -> Self {
        Column {
            header,
            fit: Fit::End(min),
            rank: 0,
        }
    }

    /// A path shortened at its start to fit, to no fewer than `min` columns.
    pub fn path(header: &'static str, min: usize) -> Self {
        Column {
            header,
            fit: Fit::Start(min),
            rank: 0,
        }
    }

    /// Leave the column out when the table does not fit even with its text shortened; columns
    /// of lower `rank` go first.
    pub fn optional(mut self, rank: u8) -> Self {
        self.rank = rank;
        self
    }
}

/// A left-aligned table.
pub struct Table<'a> {
    columns: Vec<Column<'a>>,
    rows: Vec<Vec<Cell>>,
}

impl Table<'static> {
    /// A table whose cells are never shortened.
    pub fn new(headers: Vec<&'static str>) -> Self {
        Table::with_columns(headers.into_iter().map(Column::keep).collect())
    }
}

impl<'a> Table<'a> {
    pub fn with_columns(columns: Vec<Column<'a>>) -> Self {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Add a row: one cell per column, ids in full.
    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    /// Aligned columns within the terminal's width for a terminal; a header and tab-separated
    /// rows, every cell whole, otherwise.
    pub fn render(&self, style: &Style) -> String {
        if !style.aligned {
            return self.render_tab_separated(style);
        }
        // Each cell as shown here (ids abbreviated), with the length of an id's unique part.
        let shown: Vec<Vec<(String, usize)>> = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&self.columns)
                    .map(|((text, _), column)| match column.fit {
                        Fit::Id(ids) => {
                            let unique = ids.unique_len(text);
                            (prefix(text, unique.max(MIN_ID_LEN)), unique)
                        }
                        _ => (text.clone(), 0),
                    })
                    .collect()
            })
            .collect();
        let natural: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                shown
                    .iter()
                    .map(|row| row.get(i).map_or(0, |(text, _)| width(text)))
                    .fold(width(column.header), usize::max)
            })
            .collect();
        let widths = self.layout(&natural, style.width);
        let mut out = String::new();
        let header: Vec<(String, usize)> = self
            .columns
            .iter()
            .map(|c| (c.header.to_string(), 0))
            .collect();
        let paints: Vec<Option<Paint>> = vec![Some(|s: &Style, t: &str| s.bold(t)); header.len()];
        self.push_line(&mut out, &header, &paints, &widths, style, true);
        for (row, cells) in shown.iter().zip(&self.rows) {
            let paints: Vec<Option<Paint>> = cells.iter().map(|(_, paint)| *paint).collect();
            self.push_line(&mut out, row, &paints, &widths, style, false);
        }
        out
    }

    fn render_tab_separated(&self, style: &Style) -> String {
        let mut out = self.tab_separated_header();
        for row in &self.rows {
            push_tab_separated(
                &mut out,
                row.iter().map(|(cell, paint)| (cell.as_str(), *paint)),
                style,
            );
        }
        out
    }

    /// The header line of the table when it is not aligned (see [`push_tab_separated`]).
    pub fn tab_separated_header(&self) -> String {
        let headers: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
        let mut out = headers.join("\t");
        out.push('\n');
        out
    }

    /// The width of each column within `available` columns, `None` for a column left out.
    /// Text columns are shortened first, the widest first, down to their minimum; then optional
    /// columns are left out one by one; as a last resort text columns are shortened to their
    /// header's width (and a table of ids alone may still be wider than the terminal).
    fn layout(&self, natural: &[usize], available: Option<usize>) -> Vec<Option<usize>> {
        let mut shown = vec![true; self.columns.len()];
        let Some(available) = available else {
            return natural.iter().map(|w| Some(*w)).collect();
        };
        loop {
            let mut widths: Vec<Option<usize>> = natural
                .iter()
                .zip(&shown)
                .map(|(w, shown)| shown.then_some(*w))
                .collect();
            if self.shrink(&mut widths, natural, available, false) {
                return widths;
            }
            let next = self
                .columns
                .iter()
                .enumerate()
                .filter(|(i, c)| c.rank > 0 && shown[*i])
                .min_by_key(|(i, c)| (c.rank, std::cmp::Reverse(*i)))
                .map(|(i, _)| i);
            match next {
                Some(i) => shown[i] = false,
                None => {
                    self.shrink(&mut widths, natural, available, true);
                    return widths;
                }
            }
        }
    }

    /// Shorten text columns, widest first, until the shown columns fit in `available`; their
    /// floor is the column's minimum, or with `hard` its header's width. Whether they fit.
    fn shrink(
        &self,
        widths: &mut [Option<usize>],
        natural: &[usize],
        available: usize,
        hard: bool,
    ) -> bool {
        let shown = widths.iter().flatten().count();
        let total: usize = widths.iter().flatten().sum::<usize>() + GAP * shown.saturating_sub(1);
        let mut excess = total.saturating_sub(available);
        let floors: Vec<Option<usize>> = self
            .columns
            .iter()
            .zip(natural)
            .map(|(column, natural)| {
                let min = match column.fit {
                    Fit::End(min) | Fit::Start(min) => min,
                    Fit::Keep | Fit::Id(_) => return None,
                };
                let header = width(column.header);
                let floor = if hard { header } else { min.max(header) };
                Some(floor.max(2).min(*natural))
            })
            .collect();
        while excess > 0 {
            let widest = widths
                .iter()
                .zip(&floors)
                .enumerate()
                .filter_map(|(i, (w, floor))| Some((i, (*w)?, (*floor)?)))
                .filter(|(_, w, floor)| w > floor)
                .max_by_key(|(i, w, _)| (*w, std::cmp::Reverse(*i)));
            let Some((i, w, _)) = widest else {
                return false;
            };
            widths[i] = Some(w - 1);
            excess -= 1;
        }
        true
    }

    fn push_line(
        &self,
        out: &mut String,
        cells: &[(String, usize)],
        paints: &[Option<Paint>],
        widths: &[Option<usize>],
        style: &Style,
        header: bool,
    ) {
        let last = widths.iter().rposition(Option::is_some).unwrap_or(0);
        let mut line = String::new();
        for (i, ((text, unique), column)) in cells.iter().zip(&self.columns).enumerate() {
            let Some(room) = widths.get(i).copied().flatten() else {
                continue;
            };
            let text = match column.fit {
                _ if header => text.clone(),
                Fit::End(_) => cut_end(text, room),
                Fit::Start(_) => cut_start(text, room),
                Fit::Keep | Fit::Id(_) => text.clone(),
            };
            let pad = room.saturating_sub(width(&text));
            match (column.fit, paints.get(i).copied().flatten()) {
                (Fit::Id(_), _) if !header => line.push_str(&style.id(&text, *unique)),
                (_, Some(paint)) => line.push_str(&paint(style, &text)),
                (_, None) => line.push_str(&text),
            }
            if i != last {
                line.push_str(&" ".repeat(pad + GAP));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Append one row of a table that is not aligned: its cells whole and tab-separated (a tab in a
/// cell becomes a space), each painted. Such rows can be written as they come, as many as
/// there are, without a [`Table`] holding them.
pub fn push_tab_separated<'c>(
    out: &mut String,
    cells: impl IntoIterator<Item = (&'c str, Option<Paint>)>,
    style: &Style,
) {
    for (i, (cell, paint)) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let cell = if cell.contains('\t') {
            std::borrow::Cow::Owned(cell.replace('\t', " "))
        } else {
            std::borrow::Cow::Borrowed(cell)
        };
        match paint {
            Some(paint) if style.color => out.push_str(&paint(style, &cell)),
            _ => out.push_str(&cell),
        }
    }
    out.push('\n');
}

/// The first `n` characters of `text`.
fn prefix(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// `text` in at most `room` columns, cut at the end with `…`.
pub fn cut_end(text: &str, room: usize) -> String {
    if width(text) <= room {
        return text.to_string();
    }
    let mut used = 1;
    let mut out = String::new();
    for c in text.chars() {
        used += char_width(c);
        if used > room {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` in at most `room` columns, cut at the start with `…`.
pub fn cut_start(text: &str, room: usize) -> String {
    if width(text) <= room {
        return text.to_string();
    }
    let mut used = 1;
    let mut kept = Vec::new();
    for c in text.chars().rev() {
        used += char_width(c);
        if used > room {
            break;
        }
        kept.push(c);
    }
    std::iter::once('…').chain(kept.into_iter().rev()).collect()
}

/// The columns `text` takes on a terminal.
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// The columns a character takes on a terminal: none for combining marks and zero-width
/// characters, two for East Asian wide and fullwidth characters and most emoji, one otherwise.
/// A close approximation of the C library's `wcwidth` for the characters titles hold.
fn char_width(c: char) -> usize {
    match u32::from(c) {
        0x0300..=0x036f
        | 0x0483..=0x0489
        | 0x0591..=0x05bd
        | 0x0610..=0x061a
        | 0x064b..=0x065f
        | 0x0e31
        | 0x0e34..=0x0e3a
        | 0x1ab0..=0x1aff
        | 0x1dc0..=0x1dff
        | 0x200b..=0x200f
        | 0x20d0..=0x20ff
        | 0xfe00..=0xfe0f
        | 0xfe20..=0xfe2f
        | 0xe0100..=0xe01ef => 0,
        0x1100..=0x115f
        | 0x231a..=0x231b
        | 0x2329..=0x232a
        | 0x23e9..=0x23ec
        | 0x23f0
        | 0x23f3
        | 0x25fd..=0x25fe
        | 0x2614..=0x2615
        | 0x2648..=0x2653
        | 0x267f
        | 0x2693
        | 0x26a1
        | 0x26aa..=0x26ab
        | 0x26bd..=0x26be
        | 0x26c4..=0x26c5
        | 0x26ce
        | 0x26d4
        | 0x26ea
        | 0x26f2..=0x26f3
        | 0x26f5
        | 0x26fa
        | 0x26fd
        | 0x2705
        | 0x270a..=0x270b
        | 0x2728
        | 0x274c
        | 0x274e
        | 0x2753..=0x2755
        | 0x2757
        | 0x2795..=0x2797
        | 0x27b0
        | 0x27bf
        | 0x2b1b..=0x2b1c
        | 0x2b50
        | 0x2b55
        | 0x2e80..=0x303e
        | 0x3041..=0x33ff
        | 0x3400..=0x4dbf
        | 0x4e00..=0x9fff
        | 0xa000..=0xa4cf
        | 0xa960..=0xa97f
        | 0xac00..=0xd7a3
        | 0xf900..=0xfaff
        | 0xfe10..=0xfe19
        | 0xfe30..=0xfe6f
        | 0xff00..=0xff60
        | 0xffe0..=0xffe6
        | 0x16fe0..=0x18cff
        | 0x1b000..=0x1b2ff
        | 0x1f004
        | 0x1f0cf
        | 0x1f18e
        | 0x1f191..=0x1f19a
        | 0x1f200..=0x1f251
        | 0x1f300..=0x1f64f
        | 0x1f680..=0x1f6ff
        | 0x1f900..=0x1f9ff
        | 0x1fa70..=0x1faff
        | 0x20000..=0x3fffd => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
