//! Turning results into text: tables, colour, and the sanitising of untrusted record text.
//! Record fields may come from other people's clones, so every string from a record goes
//! through [`clean_line`] or [`clean_text`] before it reaches a terminal.

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

/// One line of untrusted text: escape sequences and control characters removed, line breaks
/// and tabs turned into spaces.
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
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A writer of JSON that escapes DEL and the C1 controls too (JSON escapes only the C0 ones;
/// U+009B is a CSI to some terminals), so a document holding untrusted text is safe to print.
/// Those characters can only occur inside JSON strings, where `\u` escapes mean the same.
pub struct EscapeControls<W: std::io::Write> {
    inner: W,
    /// The last write ended with 0xC2, the first byte of U+0080 to U+009F (and others).
    pending: bool,
}

impl<W: std::io::Write> EscapeControls<W> {
    pub fn new(inner: W) -> Self {
        EscapeControls {
            inner,
            pending: false,
        }
    }

    /// Finish (a dangling 0xC2 is written as it was) and return the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if std::mem::take(&mut self.pending) {
            self.inner.write_all(&[0xc2])?;
        }
        Ok(self.inner)
    }

    fn escape(&mut self, code: u8) -> std::io::Result<()> {
        write!(self.inner, "\\u{code:04x}")
    }
}

impl<W: std::io::Write> std::io::Write for EscapeControls<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut start = 0;
        if std::mem::take(&mut self.pending) {
            match buf.first() {
                Some(&b @ 0x80..=0x9f) => {
                    self.escape(b)?;
                    start = 1;
                }
                _ => self.inner.write_all(&[0xc2])?,
            }
        }
        let mut at = start;
        // U+007F is one byte; U+0080 to U+009F are encoded as 0xC2 0x80 to 0xC2 0x9F.
        while let Some(found) = memchr::memchr2(0x7f, 0xc2, &buf[at..]) {
            let i = at + found;
            self.inner.write_all(&buf[start..i])?;
            if buf[i] == 0x7f {
                self.escape(0x7f)?;
                at = i + 1;
            } else {
                match buf.get(i + 1) {
                    Some(&b @ 0x80..=0x9f) => {
                        self.escape(b)?;
                        at = i + 2;
                    }
                    Some(_) => {
                        self.inner.write_all(&buf[i..i + 1])?;
                        at = i + 1;
                    }
                    None => {
                        self.pending = true;
                        at = i + 1;
                    }
                }
            }
            start = at;
        }
        self.inner.write_all(&buf[start..])
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

    #[test]
    fn json_output_escapes_del_and_c1_controls() {
        let json = serde_json::to_string("a\u{9b}31m\u{7f}é\u{c2}\u{85}").unwrap();
        // Written whole, and one byte at a time (a character split between two writes).
        let mut whole = EscapeControls::new(Vec::new());
        std::io::Write::write_all(&mut whole, json.as_bytes()).unwrap();
        let whole = String::from_utf8(whole.finish().unwrap()).unwrap();
        let mut bytewise = EscapeControls::new(Vec::new());
        for b in json.as_bytes() {
            std::io::Write::write_all(&mut bytewise, &[*b]).unwrap();
        }
        let safe = String::from_utf8(bytewise.finish().unwrap()).unwrap();
        assert_eq!(safe, whole);
        assert_eq!(safe, "\"a\\u009b31m\\u007fé\u{c2}\\u0085\"");
        assert_eq!(
            serde_json::from_str::<String>(&safe).unwrap(),
            "a\u{9b}31m\u{7f}é\u{c2}\u{85}"
        );
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
