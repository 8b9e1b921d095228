//! The rules every write of versions shares: what a stored row looks like to a write, a row to write, body
//! hashes and search text, and where `isLatest` moves. Snapshots diff in SQL (`staging.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{ServerJson, Status};
use crate::versioning::{self, Candidate};

/// What a stored row looks like to a write (no body: its hash stands in for it), as
/// `content::EXISTING` selects it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExistingRow {
    pub name: String,
    pub version: String,
    pub body_hash: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub status_message: Option<String>,
    #[sqlx(try_from = "super::timestamp::Timestamp")]
    pub status_changed_at: DateTime<Utc>,
    #[sqlx(try_from = "super::timestamp::Timestamp")]
    pub published_at: DateTime<Utc>,
    pub is_latest: bool,
}

/// A row to insert or overwrite. `is_latest` is not part of it: flags move in [`Plan::latest_off`] and
/// [`Plan::latest_on`], in that order, because of the one-latest unique index.
#[derive(Debug, Clone)]
pub struct RowWrite {
    pub server: ServerJson,
    pub body_hash: String,
    pub status: Status,
    pub status_message: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RowWrite {
    pub fn name(&self) -> &str {
        self.server.name().as_str()
    }

    pub fn version(&self) -> &str {
        self.server.version().as_str()
    }

    pub fn title(&self) -> Option<&str> {
        self.server.detail().title.as_deref()
    }

    pub fn description(&self) -> &str {
        &self.server.detail().description
    }

    pub fn search_text(&self) -> String {
        search_text(self.name(), self.title(), self.description())
    }
}

/// Lowercased name, title and description joined by [`SEARCH_SEPARATOR`], the column searches match.
pub fn search_text(name: &str, title: Option<&str>, description: &str) -> String {
    let sep = SEARCH_SEPARATOR;
    format!("{name}{sep}{}{sep}{description}", title.unwrap_or_default()).to_lowercase()
}

/// Separates the fields of `search_text`; search terms drop it, so a match never spans two fields.
pub const SEARCH_SEPARATOR: char = '\u{1f}';

pub type Key = (String, String);

/// What a snapshot write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotSummary {
    pub inserted: usize,
    pub updated: usize,
    pub tombstoned: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the source lists {name} version {version} more than once")]
pub struct DuplicateVersion {
    pub name: String,
    pub version: String,
}

/// The SHA-256 of a document's serialised form: a changed body means a changed hash.
pub fn body_hash(server: &ServerJson) -> String {
    text_hash(&serde_json::to_string(server).unwrap_or_default())
}

/// The SHA-256 of a serialised body, as [`body_hash`] gives it.
pub fn text_hash(body: &str) -> String {
    hex(&Sha256::digest(body.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where `isLatest` must move so that each server's flag sits on its newest version: the flags to clear, and
/// the flags to set (clear first).
pub fn latest_moves<'a>(rows: impl IntoIterator<Item = &'a ExistingRow>) -> (Vec<Key>, Vec<Key>) {
    let mut by_name: HashMap<&str, Vec<&ExistingRow>> = HashMap::new();
    for row in rows {
        by_name.entry(row.name.as_str()).or_default().push(row);
    }
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for versions in by_name.values() {
        let candidates: Vec<Candidate<'_>> = versions
            .iter()
            .map(|row| Candidate {
                version: &row.version,
                published_at: row.published_at,
                deleted: row.status == Status::Deleted,
            })
            .collect();
        let winner = versioning::latest_index(&candidates);
        for (i, row) in versions.iter().enumerate() {
            let key = || (row.name.clone(), row.version.clone());
            match (row.is_latest, Some(i) == winner) {
                (true, false) => off.push(key()),
                (false, true) => on.push(key()),
                _ => {}
            }
        }
    }
    off.sort();
    on.sort();
    (off, on)
}
