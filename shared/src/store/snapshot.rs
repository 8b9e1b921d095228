//! Planning a registry snapshot: which rows to insert, update and tombstone, and where `isLatest` moves.
//! Both backends execute the same plan inside one transaction, so the rules live here once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::formats::Entry;
use crate::model::{ServerJson, Status};
use crate::versioning::{self, Candidate};

/// What a stored row looks like to the planner (no body: its hash stands in for it), as
/// `content::EXISTING` selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
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

    /// Lowercased name, title and description joined by [`SEARCH_SEPARATOR`], the column searches match.
    pub fn search_text(&self) -> String {
        let sep = SEARCH_SEPARATOR;
        format!("{}{sep}{}{sep}{}", self.name(), self.title().unwrap_or_default(), self.description())
            .to_lowercase()
    }
}

/// Separates the fields of `search_text`; search terms drop it, so a match never spans two fields.
pub const SEARCH_SEPARATOR: char = '\u{1f}';

pub type Key = (String, String);

#[derive(Debug, Default)]
pub struct Plan {
    pub upserts: Vec<RowWrite>,
    pub tombstones: Vec<Key>,
    pub latest_off: Vec<Key>,
    pub latest_on: Vec<Key>,
    pub summary: SnapshotSummary,
}

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
    let bytes = serde_json::to_vec(server).unwrap_or_default();
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Plans replacing a registry's contents with `entries` at time `now`.
pub fn plan(
    existing: Vec<ExistingRow>,
    entries: Vec<Entry>,
    now: DateTime<Utc>,
) -> Result<Plan, DuplicateVersion> {
    let mut plan = Plan::default();
    let mut current: HashMap<Key, ExistingRow> =
        existing.into_iter().map(|row| ((row.name.clone(), row.version.clone()), row)).collect();
    let mut seen = HashSet::new();
    for entry in entries {
        let key = (entry.server.name().to_string(), entry.server.version().to_string());
        if !seen.insert(key.clone()) {
            return Err(DuplicateVersion { name: key.0, version: key.1 });
        }
        let (status, status_message, origin_published) = match entry.origin {
            Some(origin) => (origin.status, origin.status_message, origin.published_at),
            None => (Status::Active, None, None),
        };
        let hash = body_hash(&entry.server);
        let (published_at, status_changed_at) = match current.get(&key) {
            None => {
                let published_at = origin_published.unwrap_or(now);
                plan.summary.inserted += 1;
                (published_at, if status == Status::Active { published_at } else { now.max(published_at) })
            }
            Some(row) => {
                let published_at = origin_published.unwrap_or(row.published_at);
                if row.body_hash == hash
                    && row.status == status
                    && row.status_message == status_message
                    && row.published_at == published_at
                {
                    plan.summary.unchanged += 1;
                    continue;
                }
                plan.summary.updated += 1;
                (published_at, if row.status == status { row.status_changed_at } else { now })
            }
        };
        let write = RowWrite {
            server: entry.server,
            body_hash: hash,
            status,
            status_message,
            status_changed_at,
            published_at,
            updated_at: now,
        };
        plan.upserts.push(write);
    }
    for (key, row) in &mut current {
        if !seen.contains(key) && row.status != Status::Deleted {
            plan.tombstones.push(key.clone());
            plan.summary.tombstoned += 1;
            row.status = Status::Deleted;
        }
    }
    // The state after the writes, for moving isLatest.
    for write in &plan.upserts {
        let key = (write.name().to_owned(), write.version().to_owned());
        let is_latest = current.get(&key).is_some_and(|row| row.is_latest);
        current.insert(
            key,
            ExistingRow {
                name: write.name().to_owned(),
                version: write.version().to_owned(),
                body_hash: String::new(),
                status: write.status,
                status_message: None,
                status_changed_at: write.status_changed_at,
                published_at: write.published_at,
                is_latest,
            },
        );
    }
    let (off, on) = latest_moves(current.values());
    plan.latest_off = off;
    plan.latest_on = on;
    Ok(plan)
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
