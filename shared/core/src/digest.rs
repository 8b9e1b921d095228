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
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
