//! The storage contract: the same cases against PostgreSQL and SQLite.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::collections::HashSet;

use chrono::{SubsecRound, Utc};
use registry_core::formats::Entry;
use registry_core::model::Status;
use registry_store::settings::StorageConfig;
use registry_store::{ListQuery, Scope, Store, StoreError, StoredVersion, SyncPhase, VersionSelector};
use registry_testkit::*;
use serde_json::json;

mod connections;
mod facets;
mod generations;
mod managed;
mod partial;
mod probes;
mod staged;
mod ui_sessions;

fn versions_of(items: &[StoredVersion]) -> Vec<(String, String)> {
    items.iter().map(|r| (r.name.clone(), r.version.clone())).collect()
}

async fn list(store: &Store, query: &ListQuery) -> Vec<(String, String)> {
    versions_of(&store.list_servers(query).await.unwrap().items)
}

fn pair(n: &str, v: &str) -> (String, String) {
    (n.to_owned(), v.to_owned())
}

async fn latest_of(store: &Store, registry: &str, server_name: &str) -> Option<String> {
    store
        .get_version(&Scope::Registry(name(registry)), server_name, &VersionSelector::Latest, true)
        .await
        .unwrap()
        .map(|r| r.version)
}

async fn one_registry(store: &Store, registry: &str, entries: Vec<Entry>) {
    store.apply_registries(&[file_registry(registry)]).await.unwrap();
    store.write_snapshot(&name(registry), entries).await.unwrap();
}

async fn migrate_again(test: TestStore) {
    assert!(test.store.schema_state().await.unwrap().is_current());

    let second = Store::migrate(&test.config).await.unwrap();

    assert!(second.is_empty(), "second run applied {second:?}");
    test.cleanup().await;
}

#[tokio::test]
async fn migrating_postgres_twice_applies_nothing_the_second_time() {
    migrate_again(TestStore::postgres().await).await;
}

#[tokio::test]
async fn migrating_sqlite_creates_the_file_and_a_second_run_applies_nothing() {
    let test = TestStore::sqlite().await;
    let StorageConfig::Sqlite { path } = &test.config else { unreachable!() };
    assert!(path.is_file());
    migrate_again(test).await;
}

#[tokio::test]
async fn a_fresh_database_reports_every_migration_pending() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::Sqlite { path: dir.path().join("fresh.db") };
    let store = Store::connect(&config).await.unwrap();

    let state = store.schema_state().await.unwrap();

    assert!(!state.is_current());
    assert!(state.pending.iter().any(|m| m.component == "registry"));
    assert!(state.pending.iter().any(|m| m.component == "queue"));
    let applied = Store::migrate(&config).await.unwrap();
    assert_eq!(applied, state.pending, "migrate applies exactly what was pending");
}

on_both_backends! {
    async fn cursor_paging_covers_over_a_thousand_versions_without_gaps_or_repeats(test: &TestStore) {
        let store = &test.store;
        let mut expected = Vec::new();
        let mut entries = Vec::new();
        for i in 0..350 {
            for v in ["1.0.0", "1.2.0", "10.0.0"] {
                let server_name = format!("io.example/server-{i:04}");
                expected.push(pair(&server_name, v));
                entries.push(entry(&server_name, v));
            }
        }
        expected.sort();
        one_registry(store, "bulk", entries).await;

        let mut seen = Vec::new();
        let mut query = ListQuery::new(Scope::Aggregated);
        query.limit = 50;
        let mut pages = 0;
        loop {
            let page = store.list_servers(&query).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 50);
            seen.extend(versions_of(&page.items));
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }

        assert_eq!(seen.len(), 1050);
        assert_eq!(seen, expected, "every version once, in (name, version) order");
        assert_eq!(pages, 21, "a full last page carries no cursor when nothing follows");
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len());
    }

    async fn search_is_case_insensitive_over_name_title_and_description_with_literal_wildcards(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "catalogue", vec![
            Entry { server: server_with("io.example/discounts", "1.0.0", json!({"description": "Finds 100% free deals"})), origin: None },
            Entry { server: server_with("io.example/percent", "1.0.0", json!({"description": "Finds 1000 free deals"})), origin: None },
            Entry { server: server_with("io.example/snake_case", "1.0.0", json!({"description": "Renames things"})), origin: None },
            Entry { server: server_with("io.example/titled", "1.0.0", json!({"title": "Weather Station"})), origin: None },
            Entry { server: server_with("io.example/backslash", "1.0.0", json!({"description": "Paths like C:\\temp"})), origin: None },
        ]).await;
        let search = |term: &str| {
            let mut query = ListQuery::new(Scope::Aggregated);
            query.search = Some(term.to_owned());
            query
        };

        assert_eq!(list(store, &search("100%")).await, [pair("io.example/discounts", "1.0.0")]);
        assert_eq!(list(store, &search("%")).await, [pair("io.example/discounts", "1.0.0")]);
        assert_eq!(list(store, &search("_")).await, [pair("io.example/snake_case", "1.0.0")]);
        assert_eq!(list(store, &search("WEATHER station")).await, [pair("io.example/titled", "1.0.0")]);
        assert_eq!(list(store, &search("c:\\TEMP")).await, [pair("io.example/backslash", "1.0.0")]);
        assert_eq!(list(store, &search("PERCENT")).await, [pair("io.example/percent", "1.0.0")]);
        assert_eq!(list(store, &search("free deals")).await.len(), 2);
        assert!(list(store, &search("nothing like this")).await.is_empty());
    }

    async fn a_rewritten_snapshot_tombstones_what_disappeared_and_keeps_it_for_incremental_readers(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "files", vec![entry("io.example/kept", "1.0.0"), entry("io.example/gone", "1.0.0")]).await;
        let before = Utc::now();

        let summary = store.write_snapshot(&name("files"), vec![entry("io.example/kept", "1.0.0")]).await.unwrap();

        assert_eq!((summary.inserted, summary.updated, summary.tombstoned, summary.unchanged), (0, 0, 1, 1));
        let visible = list(store, &ListQuery::new(Scope::Aggregated)).await;
        assert_eq!(visible, [pair("io.example/kept", "1.0.0")]);
        let mut with_deleted = ListQuery::new(Scope::Aggregated);
        with_deleted.include_deleted = true;
        assert_eq!(list(store, &with_deleted).await.len(), 2);
        let mut incremental = ListQuery::new(Scope::Aggregated);
        incremental.updated_since = Some(before);
        let changed = store.list_servers(&incremental).await.unwrap().items;
        assert_eq!(versions_of(&changed), [pair("io.example/gone", "1.0.0")], "only the tombstone changed since");
        let tombstone = &changed[0].official;
        assert_eq!(tombstone.status, Status::Deleted);
        assert!(tombstone.updated_at > before && tombstone.status_changed_at > before);
        assert!(tombstone.published_at < before, "the publish time stays");
    }

    async fn an_unchanged_snapshot_writes_nothing_and_a_returning_version_is_restored(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "files", vec![entry("io.example/a1", "1.0.0")]).await;
        let first = store.get_version(&Scope::Aggregated, "io.example/a1", &VersionSelector::Latest, false).await.unwrap().unwrap();

        let again = store.write_snapshot(&name("files"), vec![entry("io.example/a1", "1.0.0")]).await.unwrap();
        let unchanged = store.get_version(&Scope::Aggregated, "io.example/a1", &VersionSelector::Latest, false).await.unwrap().unwrap();
        store.write_snapshot(&name("files"), vec![]).await.unwrap();
        store.write_snapshot(&name("files"), vec![entry("io.example/a1", "1.0.0")]).await.unwrap();
        let restored = store.get_version(&Scope::Aggregated, "io.example/a1", &VersionSelector::Latest, false).await.unwrap().unwrap();

        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 1));
        assert_eq!(unchanged, first, "nothing was rewritten");
        assert_eq!(restored.official.status, Status::Active);
        assert!(restored.official.is_latest);
        assert_eq!(restored.official.published_at, first.official.published_at);
        assert!(restored.official.status_changed_at > first.official.status_changed_at);
    }

    async fn documents_are_served_exactly_as_they_were_stored(test: &TestStore) {
        let store = &test.store;
        let document = server_with("io.example/unusual", "1.0.0", json!({
            "x-vendor": {"nested": [1, 2.5, null, "three"]},
            "packages": [{"registryType": "npm", "identifier": "u", "transport": {"type": "stdio"}, "futureField": true}]
        }));
        one_registry(store, "files", vec![Entry { server: document.clone(), origin: None }]).await;

        let stored = store.get_version(&Scope::Aggregated, "io.example/unusual", &VersionSelector::Exact("1.0.0".into()), false).await.unwrap().unwrap();

        assert_eq!(stored.body.get(), serde_json::to_string(&document).unwrap(), "the same text, keys in their order");
    }

    async fn is_latest_follows_semver_then_publish_time_and_skips_deleted_versions(test: &TestStore) {
        let store = &test.store;
        let registry = "mixed";
        one_registry(store, registry, vec![
            entry("io.example/mixed", "nightly"),
            entry("io.example/mixed", "1.0.0"),
            entry("io.example/mixed", "2.0.0-rc.1"),
            entry("io.example/mixed", "1.10.0"),
            entry("io.example/dated", "build-a"),
        ]).await;
        assert_eq!(latest_of(store, registry, "io.example/mixed").await.as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(latest_of(store, registry, "io.example/dated").await.as_deref(), Some("build-a"));

        store.write_snapshot(&name(registry), vec![
            entry("io.example/mixed", "nightly"),
            entry("io.example/mixed", "1.0.0"),
            entry("io.example/mixed", "2.0.0-rc.1"),
            entry("io.example/mixed", "1.10.0"),
            entry("io.example/mixed", "2.0.0"),
            entry("io.example/dated", "build-a"),
            entry("io.example/dated", "build-b"),
        ]).await.unwrap();
        assert_eq!(latest_of(store, registry, "io.example/mixed").await.as_deref(), Some("2.0.0"));
        assert_eq!(latest_of(store, registry, "io.example/dated").await.as_deref(), Some("build-b"), "published later");

        store.write_snapshot(&name(registry), vec![
            entry("io.example/mixed", "nightly"),
            entry("io.example/mixed", "1.0.0"),
            entry_with_status("io.example/mixed", "2.0.0-rc.1", Status::Deleted),
            entry("io.example/mixed", "1.10.0"),
            entry("io.example/dated", "build-a"),
        ]).await.unwrap();
        assert_eq!(latest_of(store, registry, "io.example/mixed").await.as_deref(), Some("1.10.0"));
        assert_eq!(latest_of(store, registry, "io.example/dated").await.as_deref(), Some("build-a"));

        let mut latest_only = ListQuery::new(Scope::Registry(name(registry)));
        latest_only.version = Some(VersionSelector::Latest);
        assert_eq!(list(store, &latest_only).await, [pair("io.example/dated", "build-a"), pair("io.example/mixed", "1.10.0")]);
        let flagged = store.list_versions(&Scope::Registry(name(registry)), "io.example/mixed", true).await.unwrap();
        assert_eq!(flagged.iter().filter(|r| r.official.is_latest).count(), 1);
    }

    async fn the_first_registry_in_config_order_shadows_the_others_in_the_aggregated_view(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("first"), file_registry("second")]).await.unwrap();
        store.write_snapshot(&name("first"), vec![entry("io.example/shared", "1.0.0"), entry("io.example/only-first", "1.0.0")]).await.unwrap();
        store.write_snapshot(&name("second"), vec![
            entry("io.example/shared", "1.0.0"),
            entry("io.example/shared", "9.0.0"),
            entry("io.example/only-second", "1.0.0"),
        ]).await.unwrap();

        let aggregated = store.list_servers(&ListQuery::new(Scope::Aggregated)).await.unwrap().items;
        let owners: Vec<(String, String, String)> = aggregated
            .iter()
            .map(|r| (r.registry.to_string(), r.name.clone(), r.version.clone()))
            .collect();
        assert_eq!(owners, [
            ("first".into(), "io.example/only-first".into(), "1.0.0".into()),
            ("second".into(), "io.example/only-second".into(), "1.0.0".into()),
            ("first".into(), "io.example/shared".into(), "1.0.0".into()),
        ]);
        let shadowed = store.get_version(&Scope::Aggregated, "io.example/shared", &VersionSelector::Exact("9.0.0".into()), false).await.unwrap();
        assert!(shadowed.is_none(), "second's 9.0.0 is shadowed");
        let per_registry = store.list_versions(&Scope::Registry(name("second")), "io.example/shared", false).await.unwrap();
        assert_eq!(per_registry.len(), 2);

        store.write_snapshot(&name("first"), vec![entry("io.example/only-first", "1.0.0")]).await.unwrap();
        let after_removal = store.get_version(&Scope::Aggregated, "io.example/shared", &VersionSelector::Latest, false).await.unwrap().unwrap();
        assert_eq!((after_removal.registry.as_str(), after_removal.version.as_str()), ("second", "9.0.0"),
            "once the first registry only has a tombstone, the next registry serves the name");

        store.apply_registries(&[file_registry("second"), file_registry("first")]).await.unwrap();
        let reordered = store.list_versions(&Scope::Aggregated, "io.example/shared", true).await.unwrap();
        assert!(reordered.iter().all(|r| r.registry.as_str() == "second"));
    }

    async fn list_filters_combine_version_and_updated_since_strictly_after(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "files", vec![entry("io.example/alpha", "1.0.0"), entry("io.example/alpha", "2.0.0"), entry("io.example/beta", "1.0.0")]).await;
        let all = store.list_servers(&ListQuery::new(Scope::Registry(name("files")))).await.unwrap().items;
        let newest = all.iter().map(|r| r.official.updated_at).max().unwrap();

        let mut exact = ListQuery::new(Scope::Aggregated);
        exact.version = Some(VersionSelector::Exact("1.0.0".into()));
        let mut since = ListQuery::new(Scope::Aggregated);
        since.updated_since = Some(newest);

        assert_eq!(list(store, &exact).await, [pair("io.example/alpha", "1.0.0"), pair("io.example/beta", "1.0.0")]);
        assert!(list(store, &since).await.is_empty(), "strictly after the newest change");
        since.updated_since = Some(newest - chrono::Duration::microseconds(1));
        assert!(!list(store, &since).await.is_empty());
    }

    async fn versions_come_newest_publish_first_and_unknown_servers_are_empty(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "files", vec![entry("io.example/tool", "1.0.0")]).await;
        store.write_snapshot(&name("files"), vec![entry("io.example/tool", "1.0.0"), entry("io.example/tool", "0.9.0")]).await.unwrap();

        let versions = store.list_versions(&Scope::Aggregated, "io.example/tool", false).await.unwrap();

        assert_eq!(versions_of(&versions), [pair("io.example/tool", "0.9.0"), pair("io.example/tool", "1.0.0")]);
        assert!(store.list_versions(&Scope::Aggregated, "io.example/unknown", true).await.unwrap().is_empty());
    }

    async fn registries_follow_the_config_and_a_removed_registry_takes_its_data(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[managed_registry("internal"), file_registry("files")]).await.unwrap();
        store.write_snapshot(&name("files"), vec![entry("io.example/a1", "1.0.0")]).await.unwrap();

        let registries = store.list_registries().await.unwrap();
        assert_eq!(registries.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.position)).collect::<Vec<_>>(),
            [("internal", "managed", 0), ("files", "file", 1)]);
        let managed = store.sync_status(&name("internal")).await.unwrap().unwrap();
        assert_eq!(managed.phase, SyncPhase::Complete);
        assert!(managed.next_due_at.is_none() && managed.message.is_some());
        let files = store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!(files.phase, SyncPhase::Idle);
        assert!(files.next_due_at.is_some(), "a registry that never synced is due at once");

        store.apply_registries(&[managed_registry("internal")]).await.unwrap();

        assert_eq!(store.list_registries().await.unwrap().len(), 1);
        assert!(store.sync_status(&name("files")).await.unwrap().is_none());
        assert!(list(store, &ListQuery::new(Scope::Aggregated)).await.is_empty());
        let err = store.write_snapshot(&name("files"), vec![]).await.unwrap_err();
        assert!(matches!(err, StoreError::UnknownRegistry(_)), "{err}");
    }

    async fn a_changed_source_resets_the_sync_state(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("files")]).await.unwrap();
        let mut status = store.sync_status(&name("files")).await.unwrap().unwrap();
        status.phase = SyncPhase::Complete;
        status.content_hash = Some("abc".into());
        status.next_due_at = Some((Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(6));
        status.server_count = 3;
        store.put_sync_status(&status).await.unwrap();
        assert_eq!(store.sync_status(&name("files")).await.unwrap().unwrap().content_hash.as_deref(), Some("abc"));

        store.apply_registries(&[file_registry("files")]).await.unwrap();
        assert_eq!(store.sync_status(&name("files")).await.unwrap().unwrap(), status, "same config, same state");

        let mut moved = file_registry("files");
        moved.format = registry_core::formats::Format::Toolhive;
        store.apply_registries(&[moved]).await.unwrap();
        let reset = store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!(reset.content_hash, None);
        assert!(reset.next_due_at.unwrap() <= Utc::now());
    }

    async fn a_changed_definition_keeps_a_sync_in_flight_and_a_shorter_interval_takes_effect_now(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("files"), file_registry("other")]).await.unwrap();
        let mut running = store.sync_status(&name("files")).await.unwrap().unwrap();
        running.phase = SyncPhase::Syncing;
        running.job_id = Some("01JOBINFLIGHT".into());
        running.content_hash = Some("old".into());
        store.put_sync_status(&running).await.unwrap();
        let mut later = store.sync_status(&name("other")).await.unwrap().unwrap();
        later.next_due_at = Some((Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(6));
        store.put_sync_status(&later).await.unwrap();
        let mut moved = file_registry("files");
        moved.format = registry_core::formats::Format::Toolhive;
        let mut sooner = file_registry("other");
        sooner.sync_interval = Some(std::time::Duration::from_secs(10));

        store.apply_registries(&[moved, sooner]).await.unwrap();

        let files = store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((files.phase, files.job_id.as_deref(), files.content_hash), (SyncPhase::Syncing, Some("01JOBINFLIGHT"), None), "the running sync keeps its mark");
        let other = store.sync_status(&name("other")).await.unwrap().unwrap();
        assert!(other.next_due_at.unwrap() <= Utc::now() + chrono::Duration::seconds(10), "{:?}", other.next_due_at);
    }

    async fn applying_reports_what_changed_and_the_stored_set_reads_back_as_configured(test: &TestStore) {
        let store = &test.store;
        let mut slower = file_registry("b");
        slower.sync_interval = Some(std::time::Duration::from_secs(600));

        let first = store.apply_registries(&[file_registry("a"), file_registry("b")]).await.unwrap();
        let second = store.apply_registries(&[file_registry("a"), file_registry("b")]).await.unwrap();
        let third = store.apply_registries(&[slower.clone(), file_registry("c")]).await.unwrap();

        assert_eq!((first.added.as_slice(), first.changed.len(), first.removed.len()), (&["a".to_owned(), "b".to_owned()][..], 0, 0));
        assert!(second.is_empty(), "{second:?}");
        assert_eq!((third.added, third.changed, third.removed), (vec!["c".to_owned()], vec!["b".to_owned()], vec!["a".to_owned()]));
        let stored = store.list_registries().await.unwrap();
        let definitions: Vec<_> = stored.iter().map(|r| r.definition().unwrap()).collect();
        assert_eq!(definitions, [slower, file_registry("c")]);
    }

    async fn a_duplicate_version_in_one_snapshot_is_refused_and_nothing_is_written(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("files")]).await.unwrap();

        let err = store.write_snapshot(&name("files"), vec![entry("io.example/twice", "1.0.0"), entry("io.example/twice", "1.0.0")]).await.unwrap_err();

        assert!(err.to_string().contains("io.example/twice version 1.0.0 more than once"), "{err}");
        assert!(list(store, &ListQuery::new(Scope::Aggregated)).await.is_empty());
    }
}

on_both_backends! {
    async fn concurrent_claimers_take_each_due_registry_exactly_once_per_slot(test: &TestStore) {
        let mut registries: Vec<_> = (0..30).map(|i| file_registry(&format!("files-{i:02}"))).collect();
        registries.push(managed_registry("internal"));
        test.store.apply_registries(&registries).await.unwrap();
        let now = Utc::now();

        let claimers = (0..3).map(|_| {
            let store = test.store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_due(now, 4).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch);
                }
            })
        });
        let mut claimed = Vec::new();
        for claimer in claimers {
            claimed.extend(claimer.await.unwrap());
        }

        let mut names: Vec<String> = claimed.iter().map(|d| d.registry.to_string()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 30, "every scheduled registry once; the managed one never");
        assert_eq!(claimed.len(), 30);
        assert!(test.store.claim_due(now, 100).await.unwrap().is_empty(), "claimed registries are not due again");
        let status = test.store.sync_status(&name("files-00")).await.unwrap().unwrap();
        assert!(status.next_due_at.unwrap() >= now + chrono::Duration::seconds(59), "moved a whole interval on");
    }

    async fn a_registry_is_due_again_one_interval_after_its_sync(test: &TestStore) {
        test.store.apply_registries(&[file_registry("files")]).await.unwrap();
        let now = Utc::now();
        let first = test.store.claim_due(now, 10).await.unwrap();
        let mut status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        status.phase = SyncPhase::Complete;
        test.store.put_sync_status(&status).await.unwrap();

        let early = test.store.claim_due(now + chrono::Duration::seconds(30), 10).await.unwrap();
        let due = test.store.claim_due(now + chrono::Duration::seconds(61), 10).await.unwrap();

        assert_eq!(first.len(), 1, "a registry that never synced is due at once");
        assert!(early.is_empty());
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].slot, status.next_due_at.unwrap(), "the slot is the due time it was claimed for");
        assert_ne!(due[0].slot, first[0].slot);
    }
}
