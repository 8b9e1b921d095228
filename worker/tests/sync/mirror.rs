//! Incremental mirroring of an api source: changes and tombstones pulled with `updated_since`, the
//! equal-timestamp boundary and the re-read window, an upstream that ignores `updated_since`, and full scrapes.

use registry_core::model::Status;
use registry_store::{PullKind, SyncStatus};
use registry_testkit::*;
use registry_worker::sources::REREAD_LIMIT;
use registry_worker::sync::{REREAD_WINDOW, SyncOutcome, sync_registry};

use super::upstream::{Upstream, item_at};
use super::*;

const T1: &str = "2025-07-01T10:00:00.250Z";
const T2: &str = "2025-07-02T10:00:00.500Z";
const T3: &str = "2025-07-03T10:00:00Z";

/// The query strings the upstream received since the last call.
fn take_queries(upstream: &Upstream) -> Vec<String> {
    std::mem::take(&mut upstream.behaviour.lock().unwrap().queries)
}

async fn status_of(store: &Store, registry: &str) -> SyncStatus {
    store.sync_status(&name(registry)).await.unwrap().unwrap()
}

fn summary_of(outcome: &SyncOutcome) -> (usize, usize, usize, usize) {
    let SyncOutcome::Written { summary, .. } = outcome else { panic!("{outcome:?}") };
    (summary.inserted, summary.updated, summary.tombstoned, summary.unchanged)
}

/// Our own `updatedAt` of one stored version.
async fn our_updated_at(store: &Store, registry: &str, server: &str) -> chrono::DateTime<chrono::Utc> {
    let rows = rows(store, registry).await;
    rows.iter().find(|r| r.name == server).unwrap_or_else(|| panic!("{server} stored")).official.updated_at
}

on_both_backends! {
    async fn changes_and_tombstones_are_pulled_since_the_mark_and_an_equal_timestamp_or_a_late_commit_is_neither_lost_nor_rewritten(test: &TestStore) {
        let store = &test.store;
        let upstream = Upstream::start(vec![
            item_at("io.example/alpha", "1.0.0", "active", T1),
            item_at("io.example/beta", "1.0.0", "active", T2),
            item_at("io.example/gamma", "1.0.0", "active", T2),
        ])
        .await;
        let registry = api_at("mirror", &upstream.base);
        store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(store, &registry, &context()).await.unwrap();
        let first = status_of(store, "mirror").await.mirror.unwrap();
        assert_eq!((first.last_pull, first.upstream_mark), (Some(PullKind::Full), Some(T2.parse().unwrap())));
        assert_eq!(first.full_scrape_reason.as_deref(), Some("the first sync, or the registry's definition changed"));
        assert!(!take_queries(&upstream)[0].contains("updated_since"));
        let gamma_written = our_updated_at(store, "mirror", "io.example/gamma").await;

        upstream.set(|b| {
            b.items[0] = item_at("io.example/alpha", "1.0.0", "active", T3);
            b.items[1] = item_at("io.example/beta", "1.0.0", "deleted", T3);
            b.items.push(item_at("io.example/delta", "1.0.0", "active", T3));
            // Written upstream in the very instant of the mark, after the last pull.
            b.items.push(item_at("io.example/epsilon", "1.0.0", "active", T2));
            // Stamped upstream a minute before the mark, by a transaction that committed after the last pull.
            b.items.push(item_at("io.example/zeta", "1.0.0", "active", "2025-07-02T09:59:00.500Z"));
        });
        let second = sync_registry(store, &registry, &context()).await.unwrap();

        let queries = take_queries(&upstream);
        assert_eq!(queries.len(), 1, "{queries:?}");
        assert!(queries[0].contains("updated_since=2025-07-02T09%3A50%3A00.500000Z"), "the mark less the window: {queries:?}");
        assert!(queries[0].contains("include_deleted=true"));
        assert_eq!(summary_of(&second), (3, 2, 0, 1), "delta, epsilon and zeta new; alpha and beta changed; gamma seen again");
        let status = status_of(store, "mirror").await;
        let mirror = status.mirror.clone().unwrap();
        assert_eq!((mirror.last_pull, mirror.upstream_mark), (Some(PullKind::Incremental), Some(T3.parse().unwrap())));
        assert_eq!(status.server_count, 6);
        assert_eq!(status.message, None);
        let stored = rows(store, "mirror").await;
        let status_of_version = |server: &str| stored.iter().find(|r| r.name == server).unwrap().official.status;
        assert_eq!(status_of_version("io.example/beta"), Status::Deleted, "the upstream's tombstone is ours");
        assert_eq!(status_of_version("io.example/epsilon"), Status::Active, "not lost at the boundary");
        assert_eq!(status_of_version("io.example/zeta"), Status::Active, "not lost to a late commit");
        assert_eq!(our_updated_at(store, "mirror", "io.example/gamma").await, gamma_written, "not applied twice");

        let third = sync_registry(store, &registry, &context()).await.unwrap();
        assert_eq!(summary_of(&third), (0, 0, 0, 3), "only the versions in the window before the new mark come back, unchanged");
        assert!(take_queries(&upstream)[0].contains("updated_since=2025-07-03T09%3A50%3A00.000000Z"));
    }

    async fn versions_written_in_bulk_at_one_instant_are_not_read_again_by_every_pull(test: &TestStore) {
        let store = &test.store;
        let bulk: Vec<_> =
            (0..REREAD_LIMIT + 50).map(|i| item_at(&format!("io.example/bulk-{i:04}"), "1.0.0", "active", T1)).collect();
        let upstream = Upstream::start(bulk).await;
        let registry = api_at("mirror", &upstream.base);
        store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(store, &registry, &context()).await.unwrap();
        assert_eq!(status_of(store, "mirror").await.mirror.unwrap().reread_after, Some(T1.parse().unwrap()));
        upstream.set(|b| b.items[3] = item_at("io.example/bulk-0003", "1.0.0", "deprecated", T2));
        take_queries(&upstream);

        let pulled = sync_registry(store, &registry, &context()).await.unwrap();

        let queries = take_queries(&upstream);
        assert_eq!(queries.len(), 1);
        assert!(queries[0].contains("updated_since=2025-07-01T10%3A00%3A00.250000Z"), "strictly after the bulk write: {queries:?}");
        assert_eq!(summary_of(&pulled), (0, 1, 0, 0));
        let mirror = status_of(store, "mirror").await.mirror.unwrap();
        let window_before_t2 = T2.parse::<chrono::DateTime<chrono::Utc>>().unwrap() - REREAD_WINDOW;
        assert_eq!((mirror.upstream_mark, mirror.reread_after), (Some(T2.parse().unwrap()), Some(window_before_t2)));
    }

    async fn an_upstream_that_ignores_updated_since_is_mirrored_by_full_scrapes_and_the_status_says_why(test: &TestStore) {
        let store = &test.store;
        let upstream = Upstream::start(vec![
            item_at("io.example/alpha", "1.0.0", "active", T1),
            item_at("io.example/beta", "1.0.0", "active", T2),
        ])
        .await;
        upstream.set(|b| b.ignore_since = true);
        let registry = api_at("mirror", &upstream.base);
        store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(store, &registry, &context()).await.unwrap();
        upstream.set(|b| b.items.push(item_at("io.example/gamma", "1.0.0", "active", T3)));
        take_queries(&upstream);

        let second = sync_registry(store, &registry, &context()).await.unwrap();

        let queries = take_queries(&upstream);
        assert_eq!(queries.len(), 2, "the pull of changes, then the full scrape: {queries:?}");
        assert!(queries[0].contains("updated_since=") && !queries[1].contains("updated_since="));
        assert_eq!(summary_of(&second), (1, 0, 0, 2));
        let status = status_of(store, "mirror").await;
        let mirror = status.mirror.clone().unwrap();
        let off = mirror.incremental_off.clone().unwrap();
        assert!(off.reason.contains("ignores updated_since: asked for versions updated after 2025-07-02T09:50:00.500000Z, it listed io.example/alpha 1.0.0 updated at 2025-07-01T10:00:00.250000Z"), "{}", off.reason);
        assert_eq!(status.message.as_deref(), Some(format!("syncing by full scrapes: {}", off.reason).as_str()));
        assert_eq!((mirror.last_pull, mirror.upstream_mark), (Some(PullKind::Full), Some(T3.parse().unwrap())));

        sync_registry(store, &registry, &context()).await.unwrap();
        let queries = take_queries(&upstream);
        assert_eq!(queries.len(), 1);
        assert!(!queries[0].contains("updated_since="), "no pull of changes while the fallback holds: {queries:?}");
        let mirror = status_of(store, "mirror").await.mirror.unwrap();
        assert!(mirror.full_scrape_reason.unwrap().starts_with("incremental pulls are off: "));
    }

    async fn a_hard_deletion_upstream_is_caught_by_the_next_full_scrape(test: &TestStore) {
        let store = &test.store;
        let upstream = Upstream::start(vec![
            item_at("io.example/alpha", "1.0.0", "active", T1),
            item_at("io.example/beta", "1.0.0", "active", T2),
        ])
        .await;
        let mut registry = api_at("mirror", &upstream.base);
        store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(store, &registry, &context()).await.unwrap();
        upstream.set(|b| { b.items.remove(0); });

        sync_registry(store, &registry, &context()).await.unwrap();
        let alive = |rows: &[StoredVersion]| rows.iter().filter(|r| r.official.status == Status::Active).count();
        assert_eq!(alive(&rows(store, "mirror").await), 2, "a pull of changes cannot see a row that is gone");

        registry.sync_policy.full_sync_interval = Duration::from_millis(1);
        let full = sync_registry(store, &registry, &context()).await.unwrap();

        assert_eq!(summary_of(&full), (0, 0, 1, 1));
        assert_eq!(alive(&rows(store, "mirror").await), 1);
        let mirror = status_of(store, "mirror").await.mirror.unwrap();
        assert_eq!(mirror.last_pull, Some(PullKind::Full));
        assert_eq!(mirror.full_scrape_reason.as_deref(), Some("syncPolicy.fullSyncInterval (1ms) since the last full scrape"));
    }

    async fn a_definition_change_forces_a_full_scrape_and_a_change_the_filter_rejects_removes_the_stored_version(test: &TestStore) {
        let store = &test.store;
        let upstream = Upstream::start(vec![
            item_at("io.example/alpha", "1.0.0", "active", T1),
            item_at("io.example/beta", "1.0.0", "active", T1),
        ])
        .await;
        let mut registry = api_at("mirror", &upstream.base);
        registry.filter.tags.exclude = vec!["retired".into()];
        store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(store, &registry, &context()).await.unwrap();

        registry.filter.names.exclude = vec!["io.example/zeta".into()];
        store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(store, &registry, &context()).await.unwrap();
        let mirror = status_of(store, "mirror").await.mirror.unwrap();
        assert_eq!(mirror.full_scrape_reason.as_deref(), Some("the first sync, or the registry's definition changed"), "the release step reset the mirroring state");

        upstream.set(|b| {
            let mut retired = item_at("io.example/alpha", "1.0.0", "active", T2);
            retired["server"]["_meta"] = serde_json::json!({"io.modelcontextprotocol.registry/publisher-provided":
                {"io.example": {"alpha": {"tags": ["retired"]}}}});
            b.items[0] = retired;
        });
        let pulled = sync_registry(store, &registry, &context()).await.unwrap();

        assert_eq!(summary_of(&pulled), (0, 0, 1, 1), "the change the filter now rejects removes alpha; beta, at the mark, is seen again");
        assert_eq!(status_of(store, "mirror").await.mirror.unwrap().last_pull, Some(PullKind::Incremental));
        let stored = rows(store, "mirror").await;
        let alpha = stored.iter().find(|r| r.name == "io.example/alpha").unwrap();
        assert_eq!(alpha.official.status, Status::Deleted);
    }
}
