//! The rules of a whole-registry snapshot, computed in memory over the full data: what every stored row must
//! look like after a snapshot of `entries` written at `now` over the `existing` rows. The store diffs in SQL,
//! batch by batch; tests check it row by row against this.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use registry_core::formats::Entry;
use registry_core::model::Status;
use registry_store::DuplicateVersion;
use registry_store::snapshot::{self, ExistingRow};

/// A row as the snapshot must leave it, and whether the snapshot writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub body_hash: String,
    pub status: Status,
    pub status_message: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    pub is_latest: bool,
    /// Written by the snapshot (inserted, updated or tombstoned): its `updatedAt` is `now`.
    pub written: bool,
}

/// The stored rows, by key, each with whether the snapshot writes it.
type Rows = BTreeMap<(String, String), (ExistingRow, bool)>;

/// Every row after the snapshot, by (name, version).
pub fn expected_snapshot(
    existing: Vec<ExistingRow>,
    entries: Vec<Entry>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<(String, String), Expected>, DuplicateVersion> {
    let mut rows: Rows =
        existing.into_iter().map(|row| ((row.name.clone(), row.version.clone()), (row, false))).collect();
    let mut seen = HashSet::new();
    for entry in entries {
        let key = (entry.server.name().to_string(), entry.server.version().to_string());
        if !seen.insert(key.clone()) {
            return Err(DuplicateVersion { name: key.0, version: key.1 });
        }
        if let Some(row) = written_row(&rows, &key, entry, now) {
            rows.insert(key, (row, true));
        }
    }
    for (key, (row, written)) in &mut rows {
        if !seen.contains(key) && row.status != Status::Deleted {
            row.status = Status::Deleted;
            row.status_message = None;
            row.status_changed_at = now;
            *written = true;
        }
    }
    let moves = snapshot::latest_moves(rows.values().map(|(row, _)| row), &[]);
    // Moving the flag is a write too.
    for (keys, latest) in [(moves.off, false), (moves.on, true)] {
        for key in keys {
            rows.entry(key).and_modify(|(row, written)| (row.is_latest, *written) = (latest, true));
        }
    }
    Ok(rows.into_iter().map(|(key, (row, written))| (key, expected(row, written))).collect())
}

/// The row an entry writes, or `None` when the stored row is the same already.
fn written_row(rows: &Rows, key: &(String, String), entry: Entry, now: DateTime<Utc>) -> Option<ExistingRow> {
    let (status, status_message, origin_published) = match entry.origin {
        Some(origin) => (origin.status, origin.status_message, origin.published_at),
        None => (Status::Active, None, None),
    };
    let body_hash = registry_core::digest::body_hash(&entry.server);
    let (published_at, status_changed_at, is_latest) = match rows.get(key) {
        None => {
            let published_at = origin_published.unwrap_or(now);
            let changed = if status == Status::Active { published_at } else { now.max(published_at) };
            (published_at, changed, false)
        }
        Some((row, _)) => {
            let published_at = origin_published.unwrap_or(row.published_at);
            if row.body_hash == body_hash
                && row.status == status
                && row.status_message == status_message
                && row.published_at == published_at
            {
                return None;
            }
            let changed = if row.status == status { row.status_changed_at } else { now };
            (published_at, changed, row.is_latest)
        }
    };
    Some(ExistingRow {
        name: key.0.clone(),
        version: key.1.clone(),
        body_hash,
        status,
        status_message,
        status_changed_at,
        published_at,
        is_latest,
    })
}

fn expected(row: ExistingRow, written: bool) -> Expected {
    Expected {
        body_hash: row.body_hash,
        status: row.status,
        status_message: row.status_message,
        status_changed_at: row.status_changed_at,
        published_at: row.published_at,
        is_latest: row.is_latest,
        written,
    }
}
