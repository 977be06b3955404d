//! Turning results into text: tables, colour, and the sanitising of untrusted record text.
//! Record fields may come from other people's clones, so every string from a record goes
//! through [`clean_line`] or [`clean_text`] before it reaches a terminal, and every JSON
//! document through [`EscapeControls`].

pub mod json;

use std::io::IsTerminal;

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether output gets ANSI colour.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
    /// Tables are aligned for a terminal; elsewhere they are tab-separated rows for scripts.
    aligned: bool,
}

impl Style {
    /// `auto` colours only a terminal, and only when `NO_COLOR` is unset or empty.
    pub fn resolve(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Style {
            color,
            aligned: std::io::stdout().is_terminal(),
        }
    }

    /// No colour, aligned tables.
    pub fn plain() -> Self {
        Style {
            color: false,
            aligned: true,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }
}

/// One line of untrusted text: escape sequences, control characters and bidi controls removed,
/// line breaks and tabs turned into spaces.
pub fn clean_line(text: &str) -> String {
    strip_controls(text, false)
}

/// Multi-line untrusted text: like [`clean_line`] but keeps line breaks and tabs.
pub fn clean_text(text: &str) -> String {
    strip_controls(text, true)
}

fn strip_controls(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // Skip an escape sequence: CSI (ESC [ ... final byte) or OSC (ESC ] ... BEL/ST),
                // or a single following character.
                match chars.next() {
                    Some('[') => {
                        for c in chars.by_ref() {
                            if ('@'..='~').contains(&c) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        while let Some(c) = chars.next() {
                            if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            '\n' | '\t' if keep_lines => out.push(c),
            '\n' | '\t' | '\r' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// The Unicode bidirectional formatting characters: embeddings and overrides (U+202A to
/// U+202E), isolates (U+2066 to U+2069) and the marks (U+200E, U+200F, U+061C). A terminal
/// that honours them reorders the text after them, so a record could make its own text, or
/// the columns that follow it, read differently from what it holds ("Trojan Source").
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    )
}

/// A writer of JSON that escapes DEL, the C1 controls (U+009B is a CSI to some terminals) and
/// the bidi controls (see [`is_bidi_control`]) as `\uXXXX`, besides the C0 controls JSON
/// escapes itself, so a document holding untrusted text is safe to print and still says
/// exactly what the records hold. Those characters can only occur inside JSON strings, where
/// `\u` escapes mean the same.
pub struct EscapeControls<W: std::io::Write> {
    inner: W,
    /// The start of a character that may need escaping, cut off by the end of the last write.
    pending: Vec<u8>,
}

/// What the bytes at a possible start of an escaped character hold.
enum Lead {
    /// A character to escape as `\u{code}`, `len` bytes long.
    Escape { code: u32, len: usize },
    /// The start of a character that needs more bytes to tell.
    Cut,
    /// Anything else: the first byte goes out as it is.
    Plain,
}

/// Classify the bytes at `bytes[0]`, one of the lead bytes [`EscapeControls`] looks for:
/// 0x7F (DEL), 0xC2 (U+0080 to U+00BF), 0xD8 (U+0600 to U+063F), 0xE2 (U+2000 to U+2FFF).
fn lead(bytes: &[u8]) -> Lead {
    let escape = |code: u32, len: usize| Lead::Escape { code, len };
    match bytes {
        [0x7f, ..] => escape(0x7f, 1),
        [0xc2, c @ 0x80..=0x9f, ..] => escape(u32::from(*c), 2),
        [0xd8, 0x9c, ..] => escape(0x061c, 2),
        [0xe2, 0x80, c @ (0x8e | 0x8f | 0xaa..=0xae), ..] => {
            escape(0x2000 + u32::from(c - 0x80), 3)
        }
        [0xe2, 0x81, c @ 0xa6..=0xa9, ..] => escape(0x2040 + u32::from(c - 0x80), 3),
        [0xc2] | [0xd8] | [0xe2] | [0xe2, 0x80 | 0x81] => Lead::Cut,
        _ => Lead::Plain,
    }
}

impl<W: std::io::Write> EscapeControls<W> {
    pub fn new(inner: W) -> Self {
        EscapeControls {
            inner,
            pending: Vec::new(),
        }
    }

    /// Finish (a dangling partial character is written as it was) and return the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let pending = std::mem::take(&mut self.pending);
        self.inner.write_all(&pending)?;
        Ok(self.inner)
    }

    fn scan(&mut self, buf: &[u8]) -> std::io::Result<()> {
        // The next lead byte at or after `at`, searched in two parts (memchr takes at most three
        // needles); each part is searched again only once `at` has passed it.
        let mut next_common = memchr::memchr3(0x7f, 0xc2, 0xe2, buf);
        let mut next_arabic = memchr::memchr(0xd8, buf);
        let mut start = 0;
        let mut at = 0;
        loop {
            if next_common.is_some_and(|i| i < at) {
                next_common = memchr::memchr3(0x7f, 0xc2, 0xe2, &buf[at..]).map(|i| at + i);
            }
            if next_arabic.is_some_and(|i| i < at) {
                next_arabic = memchr::memchr(0xd8, &buf[at..]).map(|i| at + i);
            }
            let Some(i) = next_common.into_iter().chain(next_arabic).min() else {
                break;
            };
            match lead(&buf[i..]) {
                Lead::Escape { code, len } => {
                    self.inner.write_all(&buf[start..i])?;
                    write!(self.inner, "\\u{code:04x}")?;
                    at = i + len;
                    start = at;
                }
                Lead::Cut => {
                    self.inner.write_all(&buf[start..i])?;
                    self.pending.extend_from_slice(&buf[i..]);
                    return Ok(());
                }
                Lead::Plain => at = i + 1,
            }
        }
        self.inner.write_all(&buf[start..])
    }
}

impl<W: std::io::Write> std::io::Write for EscapeControls<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return self.scan(buf);
        }
        // Rare: a character split between two writes. At most two bytes were held back.
        let mut joined = std::mem::take(&mut self.pending);
        joined.extend_from_slice(buf);
        self.scan(&joined)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Cut `text` to at most `max` characters, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A left-aligned table. `cells` hold plain text; `paint` may colour a cell after padding, so
/// escape codes never disturb the alignment.
/// Colours a cell after it has been padded.
pub type Paint = fn(&Style, &str) -> String;

/// One table cell: plain text and an optional colour.
pub type Cell = (String, Option<Paint>);

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Self {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Aligned columns for a terminal; a header and tab-separated rows otherwise.
    pub fn render(&self, style: &Style) -> String {
        if !style.aligned {
            let mut out = self.headers.join("\t");
            out.push('\n');
            for row in &self.rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|(cell, paint)| {
                        let cell = cell.replace('\t', " ");
                        match paint {
                            Some(paint) => paint(style, &cell),
                            None => cell,
                        }
                    })
                    .collect();
                out.push_str(&cells.join("\t"));
                out.push('\n');
            }
            return out;
        }
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, (cell, _)) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        push_line(
            &mut out,
            &header
                .iter()
                .map(|h| (h.clone(), Some(bold as Paint)))
                .collect::<Vec<_>>(),
            &widths,
            style,
        );
        for row in &self.rows {
            push_line(&mut out, row, &widths, style);
        }
        out
    }
}

fn bold(style: &Style, text: &str) -> String {
    style.bold(text)
}

fn push_line(out: &mut String, cells: &[Cell], widths: &[usize], style: &Style) {
    let last = cells.len().saturating_sub(1);
    let mut line = String::new();
    for (i, (cell, paint)) in cells.iter().enumerate() {
        let pad = if i == last {
            0
        } else {
            widths[i].saturating_sub(cell.chars().count())
        };
        match paint {
            Some(paint) => line.push_str(&paint(style, cell)),
            None => line.push_str(cell),
        }
        if i != last {
            line.push_str(&" ".repeat(pad + 2));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escape_sequences_and_controls() {
        assert_eq!(clean_line("a\x1b[31mred\x1b[0m b"), "ared b");
        assert_eq!(clean_line("t\x1b]0;title\x07x"), "tx");
        assert_eq!(clean_line("t\x1b]8;;http://x\x1b\\y"), "ty");
        assert_eq!(clean_line("one\ntwo\r\x07"), "one two ");
        assert_eq!(clean_text("one\ntwo\x08"), "one\ntwo");
    }

    #[test]
    fn strips_bidi_controls() {
        let bidi = "a\u{202a}b\u{202b}c\u{202c}d\u{202d}e\u{202e}f\u{2066}g\u{2067}h\u{2068}i\u{2069}j\u{200e}k\u{200f}l\u{61c}m";
        assert_eq!(clean_line(bidi), "abcdefghijklm");
        assert_eq!(clean_text(bidi), "abcdefghijklm");
        // Letters of right-to-left scripts and neighbouring characters stay.
        assert_eq!(
            clean_line("\u{61b}\u{61d}שלום\u{2065}\u{2010}"),
            "\u{61b}\u{61d}שלום\u{2065}\u{2010}"
        );
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
    fn tables_off_a_terminal_are_tab_separated() {
        let mut table = Table::new(vec!["ID", "TITLE"]);
        table.row(vec![("1".into(), None), ("two\twords".into(), None)]);
        let style = Style {
            color: false,
            aligned: false,
        };
        assert_eq!(table.render(&style), "ID\tTITLE\n1\ttwo words\n");
    }

    /// `text` as JSON through [`EscapeControls`], written whole and one byte at a time (so every
    /// character is split between writes); both must agree.
    fn escaped_json(text: &str) -> String {
        let json = serde_json::to_string(text).unwrap();
        let mut whole = EscapeControls::new(Vec::new());
        std::io::Write::write_all(&mut whole, json.as_bytes()).unwrap();
        let whole = String::from_utf8(whole.finish().unwrap()).unwrap();
        let mut bytewise = EscapeControls::new(Vec::new());
        for b in json.as_bytes() {
            std::io::Write::write_all(&mut bytewise, &[*b]).unwrap();
        }
        let safe = String::from_utf8(bytewise.finish().unwrap()).unwrap();
        assert_eq!(safe, whole);
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), text);
        safe
    }

    #[test]
    fn json_output_escapes_del_and_c1_controls() {
        assert_eq!(
            escaped_json("a\u{9b}31m\u{7f}é\u{c2}\u{85}"),
            "\"a\\u009b31m\\u007fé\u{c2}\\u0085\""
        );
    }

    #[test]
    fn json_output_escapes_bidi_controls() {
        assert_eq!(
            escaped_json("x\u{202e}txt.exe\u{202c}\u{2066}\u{2069}\u{200e}\u{200f}\u{61c}"),
            "\"x\\u202etxt.exe\\u202c\\u2066\\u2069\\u200e\\u200f\\u061c\""
        );
        // Their neighbours, sharing the first bytes, are kept as they are.
        let neighbours = "\u{2010}\u{2029}\u{202f}\u{2065}\u{206a}\u{61b}\u{61d}…ログイン";
        assert_eq!(escaped_json(neighbours), format!("\"{neighbours}\""));
        // A lead byte at the very end of the output is written out.
        let mut cut = EscapeControls::new(Vec::new());
        std::io::Write::write_all(&mut cut, &[b'a', 0xe2, 0x80]).unwrap();
        assert_eq!(cut.finish().unwrap(), vec![b'a', 0xe2, 0x80]);
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
