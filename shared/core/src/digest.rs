//! The digests the registry computes from data: hex SHA-256 of bodies and texts, and the lowercased search
//! text reads match. One home for each, since the store, the sync and the caches all use them.

use sha2::{Digest, Sha256};

use crate::model::ServerJson;

/// Lowercased name, title and description joined by [`SEARCH_SEPARATOR`], the column searches match.
pub fn search_text(name: &str, title: Option<&str>, description: &str) -> String {
    let sep = SEARCH_SEPARATOR;
    // No title: its field is empty.
    format!("{name}{sep}{}{sep}{description}", title.unwrap_or_default()).to_lowercase()
}

/// Separates the fields of `search_text`; search terms drop it, so a match never spans two fields.
pub const SEARCH_SEPARATOR: char = '\u{1f}';

/// The SHA-256 of a document's serialised form: a changed body means a changed hash.
pub fn body_hash(server: &ServerJson) -> String {
    // Serialising a parsed document cannot fail: it holds only JSON values.
    text_hash(&serde_json::to_string(server).unwrap_or_default())
}

/// The SHA-256 of a serialised body, as [`body_hash`] gives it.
pub fn text_hash(body: &str) -> String {
    hex(&Sha256::digest(body.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut text);
    // Hex digits are ASCII.
    String::from_utf8(text).unwrap_or_default()
}

/// Writes `bytes` into `out` in lowercase hex digits, two per byte, as far as `out` goes.
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

/// The bytes that `text` writes in hex digits (either case); `None` when it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    // from_str_radix alone would take a sign: "+f" is not two hex digits.
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_back_and_nothing_else_reads() {
        assert_eq!(unhex(&hex(&[0, 0xab, 0xff])), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("ABcd"), Some(vec![0xab, 0xcd]));
        for bad in ["abc", "+f", "zz", " a"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }
}
