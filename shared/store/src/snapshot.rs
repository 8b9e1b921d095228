//! The rules every write of versions shares: what a stored row looks like to a write, a row to write, body
//! hashes and search text, and where `isLatest` moves. Snapshots diff in SQL (`staging.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use registry_core::digest::search_text;
use registry_core::model::{ServerJson, Status};
use registry_core::versioning::{self, Candidate};

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
    #[sqlx(try_from = "crate::timestamp::Timestamp")]
    pub status_changed_at: DateTime<Utc>,
    #[sqlx(try_from = "crate::timestamp::Timestamp")]
    pub published_at: DateTime<Utc>,
    pub is_latest: bool,
}

/// A row to insert or overwrite. `is_latest` is not part of it: the flags move afterwards, where
/// [`latest_moves`] says.
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

pub type Key = (String, String);

/// A version a snapshot is about to write, as `isLatest` weighs it: its status and publish time as the
/// write leaves them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Incoming {
    pub name: String,
    pub version: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    #[sqlx(try_from = "crate::timestamp::Timestamp")]
    pub published_at: DateTime<Utc>,
}

/// Where `isLatest` moves so that each server's flag sits on its newest version.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LatestMoves {
    /// Stored flags to clear, before any is set: the one-latest index allows one per server at every moment.
    pub off: Vec<Key>,
    /// Stored versions that are not written and whose flag is then set.
    pub on: Vec<Key>,
    /// Incoming versions that are written with the flag set.
    pub written: Vec<Key>,
}

/// Where `isLatest` moves once `incoming` versions are written over the `stored` ones: an incoming version
/// takes the place of a stored one of the same key, keeping only its flag.
pub fn latest_moves<'a>(
    stored: impl IntoIterator<Item = &'a ExistingRow>,
    incoming: &'a [Incoming],
) -> LatestMoves {
    struct Weighed<'a> {
        candidate: Candidate<'a>,
        latest: bool,
        incoming: bool,
    }
    let weighed = |version: &'a str, published_at, status, latest, incoming| Weighed {
        candidate: Candidate { version, published_at, deleted: status == Status::Deleted },
        latest,
        incoming,
    };
    let mut by_name: HashMap<&str, Vec<Weighed<'a>>> = HashMap::new();
    let mut at: HashMap<(&str, &str), usize> = HashMap::new();
    for row in incoming {
        let versions = by_name.entry(row.name.as_str()).or_default();
        at.insert((row.name.as_str(), row.version.as_str()), versions.len());
        versions.push(weighed(&row.version, row.published_at, row.status, false, true));
    }
    for row in stored {
        let versions = by_name.entry(row.name.as_str()).or_default();
        match at.get(&(row.name.as_str(), row.version.as_str())) {
            Some(&i) => versions[i].latest = row.is_latest,
            None => versions.push(weighed(&row.version, row.published_at, row.status, row.is_latest, false)),
        }
    }
    let mut moves = LatestMoves::default();
    for (name, versions) in &by_name {
        let candidates: Vec<Candidate<'_>> = versions.iter().map(|w| w.candidate).collect();
        let winner = versioning::latest_index(&candidates);
        for (i, w) in versions.iter().enumerate() {
            let won = Some(i) == winner;
            let key = || ((*name).to_owned(), w.candidate.version.to_owned());
            if w.latest && !won {
                moves.off.push(key());
            }
            if won && w.incoming {
                moves.written.push(key());
            } else if won && !w.latest {
                moves.on.push(key());
            }
        }
    }
    moves.off.sort();
    moves.on.sort();
    moves.written.sort();
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        format!("2025-01-{day:02}T00:00:00Z").parse().unwrap()
    }

    fn stored(version: &str, is_latest: bool) -> ExistingRow {
        ExistingRow {
            name: "io.example/a".into(),
            version: version.into(),
            body_hash: String::new(),
            status: Status::Active,
            status_message: None,
            status_changed_at: at(1),
            published_at: at(1),
            is_latest,
        }
    }

    fn incoming(version: &str, status: Status) -> Incoming {
        Incoming { name: "io.example/a".into(), version: version.into(), status, published_at: at(2) }
    }

    fn key(version: &str) -> Key {
        ("io.example/a".into(), version.into())
    }

    #[test]
    fn a_new_newest_version_is_written_with_the_flag_and_the_old_flag_is_cleared_first() {
        let moves = latest_moves(&[stored("1.0.0", true)], &[incoming("2.0.0", Status::Active)]);
        assert_eq!(moves, LatestMoves { off: vec![key("1.0.0")], on: vec![], written: vec![key("2.0.0")] });
    }

    #[test]
    fn an_older_incoming_version_leaves_the_flag_where_it_is() {
        let moves = latest_moves(&[stored("2.0.0", true)], &[incoming("1.0.0", Status::Active)]);
        assert_eq!(moves, LatestMoves::default());
    }

    #[test]
    fn an_incoming_version_replaces_the_stored_one_of_its_key() {
        // The latest version is deleted by the write: the flag moves to the stored version left.
        let rows = [stored("1.0.0", false), stored("2.0.0", true)];
        let moves = latest_moves(&rows, &[incoming("2.0.0", Status::Deleted)]);
        assert_eq!(moves, LatestMoves { off: vec![key("2.0.0")], on: vec![key("1.0.0")], written: vec![] });
        // Rewritten and still the newest: it is written with the flag, nothing else moves.
        let moves = latest_moves(&rows, &[incoming("2.0.0", Status::Deprecated)]);
        assert_eq!(moves, LatestMoves { off: vec![], on: vec![], written: vec![key("2.0.0")] });
    }
}
