//! Writing a record's objects as loose objects with stored (uncompressed) zlib blocks.
//!
//! A record's blob, tree and commit are each a few hundred bytes, and a loose object takes a
//! whole file-system block however well it is compressed, so compressing them saves no disk.
//! It does cost: gix sets up a full deflate state per object (over 300 KiB, its hash table
//! zeroed), which made up a third of the memory pages `pm agent close` touched. Stored blocks
//! are what git itself writes with `core.looseCompression=0`; every git reads them, and
//! `git gc` compresses them when it packs. A repository that asks for compressed loose objects
//! in its configuration gets gix's writer instead.

use gix::ObjectId;
use gix::objs::Kind;
use std::io::Write;
use std::path::Path;

/// Whether objects should be written by [`write`] (the configuration asks for no compression,
/// or says nothing).
pub fn uncompressed_allowed(repo: &gix::Repository) -> bool {
    let config = repo.config_snapshot();
    let level = config
        .integer("core.looseCompression")
        .or_else(|| config.integer("core.compression"));
    matches!(level, None | Some(0))
}

/// Write one object into `objects` (the object folder) unless it is there already as a loose
/// object, and return its id. Objects are SHA-1; the error names what failed.
pub fn write(objects: &Path, kind: Kind, data: &[u8]) -> Result<ObjectId, String> {
    let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, data)
        .map_err(|e| format!("could not hash a {kind}: {e}"))?;
    let hex = id.to_string();
    let (fan, rest) = hex.split_at(2);
    let folder = objects.join(fan);
    let path = folder.join(rest);
    if path.exists() {
        return Ok(id);
    }
    let header = format!("{kind} {}\0", data.len());
    let stream = zlib_stored(&[header.as_bytes(), data]);
    sweep_once(objects);
    let temp = objects.join(super::local::temp_name(TEMP_PREFIX));
    let failed = |e: std::io::Error| {
        let _ = std::fs::remove_file(&temp);
        format!(
            "could not write object {id}: {}",
            crate::error::write_failed(&path, &e)
        )
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o444);
    let mut file = options.open(&temp).map_err(failed)?;
    file.write_all(&stream)
        .and_then(|()| read_only(&file))
        .map_err(failed)?;
    drop(file);
    let moved = match std::fs::rename(&temp, &path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&folder).and_then(|()| std::fs::rename(&temp, &path))
        }
        other => other,
    };
    moved.map_err(failed)?;
    Ok(id)
}

/// How pm's own temporary objects are named (in the object folder itself, where a later run
/// finds them in one look): git's `tmp_obj_` prefix, so `git gc` clears them too, then `pm-`,
/// so that pm never mistakes one of git's for its own.
const TEMP_PREFIX: &str = "tmp_obj_pm-";

/// Remove the temporary objects that a killed pm left in `objects`, once per process.
fn sweep_once(objects: &Path) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SWEPT.swap(true, std::sync::atomic::Ordering::Relaxed) {
        super::local::sweep_temp_files(objects, &[TEMP_PREFIX], super::local::STALE_TEMP_AGE);
    }
}

/// Objects are read-only files, as git makes them (on Unix the file was created so).
#[cfg(unix)]
fn read_only(_: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn read_only(file: &std::fs::File) -> std::io::Result<()> {
    let mut permissions = file.metadata()?.permissions();
    permissions.set_readonly(true);
    file.set_permissions(permissions)
}

/// A zlib stream (RFC 1950) of `parts`, one after the other, in stored deflate blocks (RFC
/// 1951, block type 0): no compression, so nothing to set up.
fn zlib_stored(parts: &[&[u8]]) -> Vec<u8> {
    const MAX_BLOCK: usize = 65_535;
    let data: Vec<u8> = parts.concat();
    let blocks = data.len().div_ceil(MAX_BLOCK).max(1);
    let mut out = Vec::with_capacity(2 + blocks * 5 + data.len() + 4);
    // CMF: deflate with a 32 KiB window; FLG: no dictionary, "fastest", header check bits.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(MAX_BLOCK).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&adler32(&data).to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // 5552 bytes is the most that can be summed before the 32-bit sums could overflow.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::{adler32, zlib_stored};

    #[test]
    fn adler32_matches_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        // Long runs of 0xff are the case where the sums grow fastest.
        let ones = vec![0xffu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &byte in &ones {
            a = (a + u64::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&ones), ((b << 16) | a) as u32);
    }

    #[test]
    fn stored_streams_have_valid_framing() {
        let stream = zlib_stored(&[b"blob 3\0", b"abc"]);
        assert_eq!(&stream[..2], &[0x78, 0x01]);
        assert_eq!((u16::from(stream[0]) << 8 | u16::from(stream[1])) % 31, 0);
        assert_eq!(stream[2], 1, "one final block");
        assert_eq!(&stream[3..7], &[10, 0, !10u8, 0xff]);
        assert_eq!(&stream[7..17], b"blob 3\0abc");
        assert_eq!(&stream[17..], &adler32(b"blob 3\0abc").to_be_bytes());
        assert_eq!(stream.len(), 21);

        let big = vec![7u8; 65_535 * 2 + 10];
        let stream = zlib_stored(&[&big]);
        // Three blocks: two full ones that are not final, then the last.
        assert_eq!(stream[2], 0);
        assert_eq!(stream[2 + 5 + 65_535], 0);
        assert_eq!(stream[2 + 2 * (5 + 65_535)], 1);
        assert_eq!(stream.len(), 2 + 3 * 5 + big.len() + 4);

        let empty = zlib_stored(&[]);
        assert_eq!(&empty[2..7], &[1, 0, 0, 0xff, 0xff]);
    }
}
