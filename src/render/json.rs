//! Writing JSON documents in parts: a pretty printer that starts at any depth, so that a long
//! listing is written on several threads and joined into the one document `--json` prints.

use serde::Serialize;

/// serde_json's pretty printer (two spaces a level), started `depth` levels deep: a value it
/// writes is laid out as it would be at that depth of a pretty-printed document, so that parts
/// of one document can be written apart (on several threads) and joined.
pub struct PrettyAt {
    depth: usize,
    has_value: bool,
}

impl PrettyAt {
    pub fn new(depth: usize) -> Self {
        PrettyAt {
            depth,
            has_value: false,
        }
    }

    fn indent<W: ?Sized + std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        for _ in 0..self.depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for PrettyAt {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            self.indent(writer)?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(writer)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            self.indent(writer)?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(writer)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `items` as the elements of a pretty-printed JSON array `depth` levels deep, without its
/// brackets: what serde_json writes between `[` and the line break before `]`, so that arrays
/// written in parts can be joined with `,`.
pub fn pretty_elements<T: Serialize>(
    out: &mut impl std::io::Write,
    items: impl IntoIterator<Item = T>,
    depth: usize,
) -> std::io::Result<()> {
    for (i, item) in items.into_iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        for _ in 0..depth {
            out.write_all(b"  ")?;
        }
        let mut serializer =
            serde_json::Serializer::with_formatter(&mut *out, PrettyAt::new(depth));
        item.serialize(&mut serializer)
            .map_err(std::io::Error::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_written_in_parts_join_into_the_pretty_document() {
        let items = vec![
            serde_json::json!({"a": 1, "b": [1, 2, {"c": null}], "d": {}, "e": []}),
            serde_json::json!({"f": {"g": "h"}}),
            serde_json::json!([]),
            serde_json::json!("x"),
        ];
        // (json! sorts keys: the list comes first.)
        let whole =
            serde_json::to_string_pretty(&serde_json::json!({"a": items, "k": [1]})).unwrap();
        let mut joined = b"{\n  \"a\": [".to_vec();
        let mut first = Vec::new();
        pretty_elements(&mut first, &items[..2], 2).unwrap();
        let mut second = Vec::new();
        pretty_elements(&mut second, &items[2..], 2).unwrap();
        joined.extend_from_slice(&first);
        joined.push(b',');
        joined.extend_from_slice(&second);
        joined.extend_from_slice(b"\n  ],\n  \"k\": ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut joined, PrettyAt::new(1));
        [1].serialize(&mut serializer).unwrap();
        joined.extend_from_slice(b"\n}");
        assert_eq!(String::from_utf8(joined).unwrap(), whole);
    }
}
