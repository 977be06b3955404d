//! Turning results into text: tables, colour, and the sanitising of untrusted record text.
//! Record fields may come from other people's clones, so every string from a record goes
//! through [`clean_line`] or [`clean_text`] before it reaches a terminal, and every JSON
//! document through [`EscapeControls`].

pub mod json;
mod table;

use std::io::IsTerminal;
pub use table::{Cell, Column, IdPrefixes, Paint, Table, push_tab_separated};

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How output is presented: whether it gets ANSI colour, and whether and how wide tables are
/// laid out for a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
    /// Tables are aligned for a terminal; elsewhere they are tab-separated rows for scripts.
    aligned: bool,
    /// The terminal's width in columns, when known: aligned tables are fitted to it.
    width: Option<usize>,
}

impl Style {
    /// `auto` colours only a terminal, and only when `NO_COLOR` is unset or empty.
    pub fn resolve(choice: ColorChoice) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && terminal
            }
        };
        Style {
            color,
            aligned: terminal,
            width: if terminal { terminal_width() } else { None },
        }
    }

    /// No colour, aligned tables of any width.
    pub fn plain() -> Self {
        Style {
            color: false,
            aligned: true,
            width: None,
        }
    }

    /// Whether tables are aligned (for a terminal) rather than tab-separated (for scripts):
    /// only an aligned table needs all its rows before its first line is known.
    pub fn aligned(&self) -> bool {
        self.aligned
    }

    /// The same, for text indented by `by` columns.
    pub fn indented(&self, by: usize) -> Self {
        Style {
            width: self.width.map(|w| w.saturating_sub(by)),
            ..*self
        }
    }

    /// An id shown by a prefix whose first `unique` characters tell it apart: those bold and
    /// coloured, the rest dim.
    pub fn id(&self, shown: &str, unique: usize) -> String {
        let split = shown
            .char_indices()
            .nth(unique)
            .map_or(shown.len(), |(at, _)| at);
        let (unique, rest) = shown.split_at(split);
        format!("{}{}", self.paint("1;36", unique), self.dim(rest))
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

/// The width of the terminal on stdout: `COLUMNS` when it is set to a number, else what the
/// terminal says.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(columns);
    }
    window_columns()
}

#[cfg(unix)]
fn window_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid for writes
    // for the duration of the call; on error it writes nothing and returns -1.
    let status = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (status == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn window_columns() -> Option<usize> {
    None
}

/// One line of untrusted text: escape sequences, control characters and bidi controls removed,
/// line breaks and tabs turned into spaces.
pub fn clean_line(text: &str) -> String {
    strip_controls(text, false)
}

/// [`clean_line`], borrowing `text` when it has nothing to remove (printable ASCII), as most
/// names and titles do: no copy for each of many thousands.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if is_clean_line(text) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(strip_controls(text, false))
    }
}

/// Whether `text` has nothing that [`clean_line`] removes or replaces: no control character
/// (C0, DEL, C1; escape sequences start with one) and no bidi control. The characters that
/// [`EscapeControls`] escapes are DEL, C1 and the bidi controls, so its [`lead`] tells them.
fn is_clean_line(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b >= 0x20
            && (!matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe2) || matches!(lead(&bytes[i..]), Lead::Plain))
    })
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
    fn clean_borrows_exactly_what_needs_no_cleaning() {
        for text in [
            "plain",
            "feature/x · active",
            "ログイン",
            "\u{2010}\u{2029}\u{202f}\u{2065}\u{206a}\u{61b}\u{61d}é…",
        ] {
            assert!(
                matches!(clean(text), std::borrow::Cow::Borrowed(_)),
                "{text}"
            );
        }
        for text in [
            "a\x1b[31mred",
            "tab\there",
            "line\nbreak",
            "del\u{7f}",
            "c1\u{9b}x",
            "x\u{202e}y",
            "\u{2066}",
            "\u{200f}",
            "\u{61c}",
        ] {
            assert!(
                matches!(clean(text), std::borrow::Cow::Owned(_)),
                "{text:?}"
            );
            assert_eq!(clean(text), clean_line(text));
        }
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
