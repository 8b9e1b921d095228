//! Streamed snapshots: staged in batches and diffed in SQL, checked row by row against the in-memory
//! reference computation over the same data.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use registry_core::digest::text_hash;
use registry_core::formats::{Entry, Origin};
use registry_core::model::{ServerJson, Status};
use registry_store::snapshot::ExistingRow;
use registry_store::{Apply, NAMES_PER_CHUNK, STAGING_BATCH, SnapshotSummary};
use registry_testkit::catalogue;
use registry_testkit::snapshot_reference::{Expected, expected_snapshot};

use super::*;

/// Every stored version of `registry`, deleted ones too, as a write sees them, with their `updatedAt`.
async fn stored_rows(
    store: &Store,
    registry: &str,
) -> BTreeMap<(String, String), (ExistingRow, DateTime<Utc>)> {
    let mut query = ListQuery::new(Scope::Registry(name(registry)));
    query.include_deleted = true;
    query.limit = 100;
    let mut rows = BTreeMap::new();
    loop {
        let page = store.list_servers(&query).await.unwrap();
        for item in page.items {
            let official = item.official;
            let row = ExistingRow {
                name: item.name.clone(),
                version: item.version.clone(),
                body_hash: text_hash(item.body.get()),
                status: official.status,
                status_message: official.status_message,
                status_changed_at: official.status_changed_at,
                published_at: official.published_at,
                is_latest: official.is_latest,
            };
            rows.insert((item.name, item.version), (row, official.updated_at));
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return rows,
        }
    }
}

/// The catalogue's next state: some versions gone, some edited, some deprecated or deleted by the source
/// (with a publish time of its own), and new ones.
fn next_state(first: &[Entry], added: Vec<Entry>) -> Vec<Entry> {
    let published = "2025-06-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let mut next = Vec::new();
    for (i, entry) in first.iter().enumerate() {
        let mut entry = entry.clone();
        match i % 10 {
            0 => continue,
            1 => {
                let mut document = serde_json::to_value(&entry.server).unwrap();
                document["description"] = json!(format!("Edited {i}"));
                entry.server = ServerJson::from_value(document).unwrap();
            }
            2 => {
                let status = if i % 20 == 2 { Status::Deprecated } else { Status::Deleted };
                let status_message = Some(format!("by the source {i}"));
                entry.origin = Some(Origin { status, status_message, published_at: None, updated_at: None });
            }
            3 => {
                let origin = Origin {
                    status: Status::Active,
                    status_message: None,
                    published_at: Some(published),
                    updated_at: None,
                };
                entry.origin = Some(origin);
            }
            _ => {}
        }
        next.push(entry);
    }
    next.extend(added);
    next
}

on_both_backends! {
    async fn a_snapshot_larger_than_one_batch_matches_the_reference_row_by_row(test: &TestStore) {
        let store = &test.store;
        let all = catalogue::generate(900, 7);
        let split = all.iter().position(|e| e.server.name().as_str().ends_with("-00600")).unwrap();
        let (first, added) = (all[..split].to_vec(), all[split..].to_vec());
        assert!(first.len() > 2 * STAGING_BATCH, "{} versions", first.len());
        one_registry(store, "big", first.clone()).await;
        let before = stored_rows(store, "big").await;
        let next = next_state(&first, added);

        let summary = store.write_snapshot(&name("big"), next.clone()).await.unwrap();

        let after = stored_rows(store, "big").await;
        let now = after.values().map(|(_, updated)| *updated).max().unwrap();
        let existing = before.values().map(|(row, _)| row.clone()).collect();
        let expected = expected_snapshot(existing, next.clone(), now).unwrap();
        assert_eq!(after.len(), expected.len());
        for (key, want) in &expected {
            let (row, updated_at) = &after[key];
            let got = Expected {
                body_hash: row.body_hash.clone(),
                status: row.status,
                status_message: row.status_message.clone(),
                status_changed_at: row.status_changed_at,
                published_at: row.published_at,
                is_latest: row.is_latest,
                written: *updated_at == now,
            };
            assert_eq!(&got, want, "{key:?}");
            if !want.written {
                assert_eq!(*updated_at, before[key].1, "{key:?} untouched");
            }
        }
        let listed: BTreeSet<(String, String)> =
            next.iter().map(|e| (e.server.name().to_string(), e.server.version().to_string())).collect();
        let inserted = listed.iter().filter(|key| !before.contains_key(*key)).count();
        let tombstoned = before
            .iter()
            .filter(|(key, (row, _))| row.status != Status::Deleted && !listed.contains(*key))
            .count();
        assert_eq!((summary.inserted, summary.tombstoned), (inserted, tombstoned));
        assert_eq!(summary.inserted + summary.updated + summary.unchanged, next.len());
        assert!(summary.updated > 0 && summary.unchanged > 0, "{summary:?}");

        let again = store.write_snapshot(&name("big"), next).await.unwrap();
        assert_eq!((again.inserted, again.updated, again.tombstoned), (0, 0, 0), "the same snapshot writes nothing");
        assert_eq!(stored_rows(store, "big").await, after);
    }

    async fn every_chunk_of_names_is_written_with_its_latest_flag(test: &TestStore) {
        let store = &test.store;
        let names: Vec<String> =
            (0..NAMES_PER_CHUNK + 700).map(|i| format!("io.example/chunked-{i:05}")).collect();
        let first: Vec<Entry> = names.iter().map(|n| entry(n, "1.0.0")).collect();
        one_registry(store, "chunks", first.clone()).await;
        let rows = stored_rows(store, "chunks").await;
        assert_eq!(rows.len(), names.len());
        assert!(rows.values().all(|(row, _)| row.is_latest), "each name's one version is its latest");

        let second: Vec<Entry> = first.into_iter().chain(names.iter().map(|n| entry(n, "2.0.0"))).collect();
        let summary = store.write_snapshot(&name("chunks"), second).await.unwrap();
        assert_eq!((summary.inserted, summary.unchanged), (names.len(), names.len()));
        let rows = stored_rows(store, "chunks").await;
        assert_eq!(rows.len(), 2 * names.len());
        for ((name, version), (row, _)) in &rows {
            assert_eq!(row.is_latest, version == "2.0.0", "{name} {version}");
        }
    }

    async fn a_version_listed_twice_in_different_batches_is_refused_and_nothing_changes(test: &TestStore) {
        let store = &test.store;
        let mut entries = catalogue::generate(400, 3);
        one_registry(store, "twice", entries.clone()).await;
        let before = stored_rows(store, "twice").await;
        let repeated = entries[5].clone();
        entries.truncate(STAGING_BATCH + 10);
        entries.push(repeated.clone());

        let err = store.write_snapshot(&name("twice"), entries).await.unwrap_err();

        let StoreError::Duplicate(duplicate) = err else { panic!("{err:?}") };
        assert_eq!(
            (duplicate.name.as_str(), duplicate.version.as_str()),
            (repeated.server.name().as_str(), repeated.server.version().as_str())
        );
        assert_eq!(stored_rows(store, "twice").await, before, "nothing changed");
    }

    async fn a_sync_whose_staged_rows_another_sync_cleared_writes_nothing(test: &TestStore) {
        let store = &test.store;
        let entries = catalogue::generate(300, 5);
        one_registry(store, "overlap", entries.clone()).await;
        let before = stored_rows(store, "overlap").await;
        let (head, tail) = entries.split_at(STAGING_BATCH);

        let mut first = store.begin_staging(&name("overlap")).await.unwrap();
        first.push(head.to_vec(), Vec::new()).await.unwrap();
        let second = store.begin_staging(&name("overlap")).await.unwrap();
        first.push(tail.to_vec(), Vec::new()).await.unwrap();
        let err = first.apply(Apply::Whole { kept: &BTreeSet::new() }).await.unwrap_err();

        assert!(matches!(err, StoreError::StagingCleared(_)), "{err:?}");
        assert_eq!(stored_rows(store, "overlap").await, before, "nothing tombstoned, nothing written");
        second.discard().await.unwrap();
    }

    async fn staged_changes_touch_only_what_they_list(test: &TestStore) {
        let store = &test.store;
        let stored = ["io.example/alpha", "io.example/beta", "io.example/kappa"].map(|n| entry(n, "1.0.0"));
        one_registry(store, "delta", stored.to_vec()).await;
        let before = stored_rows(store, "delta").await;
        let gone = Origin { status: Status::Deleted, status_message: None, published_at: None, updated_at: None };

        let mut staging = store.begin_staging(&name("delta")).await.unwrap();
        let deleted_alpha = Entry { origin: Some(gone), ..entry("io.example/alpha", "1.0.0") };
        let removals = vec![entry("io.example/beta", "1.0.0"), entry("io.example/gamma", "1.0.0")];
        staging.push(vec![entry("io.example/alpha", "2.0.0"), deleted_alpha], removals).await.unwrap();
        let summary = staging.apply(Apply::Changes).await.unwrap();

        assert_eq!(summary, SnapshotSummary { inserted: 1, updated: 1, tombstoned: 1, unchanged: 0 });
        let after = stored_rows(store, "delta").await;
        let kappa = pair("io.example/kappa", "1.0.0");
        assert_eq!(after[&kappa], before[&kappa], "not listed, not touched");
        assert_eq!(after[&pair("io.example/alpha", "1.0.0")].0.status, Status::Deleted);
        assert_eq!(after[&pair("io.example/beta", "1.0.0")].0.status, Status::Deleted, "removed");
        assert!(!after.contains_key(&pair("io.example/gamma", "1.0.0")), "a removal is never inserted");
        assert_eq!(latest_of(store, "delta", "io.example/alpha").await.as_deref(), Some("2.0.0"));
        let kept = BTreeSet::from(["io.example/kappa".to_owned()]);
        let whole = store.write_snapshot_keeping(&name("delta"), vec![], &kept).await.unwrap();
        assert_eq!(whole.tombstoned, 1, "only alpha 2.0.0: kappa is kept, the rest is deleted already");
    }
}
