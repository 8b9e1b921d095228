//! Content generations: every write that changes what a read returns gives its registry a new generation in
//! the same transaction; writes that change nothing a read returns leave it alone, and no number is given
//! twice.

use std::collections::HashMap;

use registry_store::SyncStatus;

use super::*;

async fn generations(store: &Store) -> HashMap<String, i64> {
    store.list_registries().await.unwrap().into_iter().map(|r| (r.name.to_string(), r.generation)).collect()
}

/// Runs `write`, then answers which registries got a new generation.
async fn bumped<F: Future<Output = ()>>(store: &Store, write: F) -> Vec<String> {
    let before = generations(store).await;
    write.await;
    let after = generations(store).await;
    let mut bumped: Vec<String> =
        after.iter().filter(|(name, g)| before.get(*name) != Some(g)).map(|(name, _)| name.clone()).collect();
    bumped.sort();
    bumped
}

on_both_backends! {
    async fn every_content_write_bumps_its_registry_and_nothing_else_does(test: &TestStore) {
        let store = &test.store;
        let (files, internal) = (name("files"), name("internal"));
        store.apply_registries(&[file_registry("files"), managed_registry("internal")]).await.unwrap();
        let tool = server("io.example/tool", "1.0.0");
        let mut seen: HashSet<i64> = generations(store).await.into_values().collect();

        let snapshot = bumped(store, async { store.write_snapshot(&files, vec![entry("io.example/alpha", "1.0.0")]).await.unwrap(); }).await;
        let unchanged = bumped(store, async { store.write_snapshot(&files, vec![entry("io.example/alpha", "1.0.0")]).await.unwrap(); }).await;
        let publish = bumped(store, async { store.insert_version(&internal, &tool).await.unwrap(); }).await;
        let retried = bumped(store, async { assert!(!store.insert_version(&internal, &tool).await.unwrap().created); }).await;
        let status = bumped(store, async { store.set_status(&internal, "io.example/tool", None, Status::Deprecated, None).await.unwrap(); }).await;
        let same_status = bumped(store, async { store.set_status(&internal, "io.example/tool", None, Status::Deprecated, None).await.unwrap(); }).await;
        let edit = bumped(store, async { store.replace_version(&internal, &server_with("io.example/tool", "1.0.0", json!({"description": "edited"}))).await.unwrap(); }).await;
        let sync_status = bumped(store, async {
            let mut status: SyncStatus = store.sync_status(&files).await.unwrap().unwrap();
            status.message = Some("a sync-status write".into());
            store.put_sync_status(&status).await.unwrap();
        }).await;
        let delete = bumped(store, async { store.delete_version(&internal, "io.example/tool", "1.0.0").await.unwrap(); }).await;
        let missing_delete = bumped(store, async { assert!(store.delete_version(&internal, "io.example/tool", "1.0.0").await.unwrap().is_none()); }).await;
        let gone = bumped(store, async { store.write_snapshot(&files, Vec::new()).await.unwrap(); }).await;
        seen.extend(generations(store).await.into_values());
        let readded = bumped(store, async {
            store.apply_registries(&[managed_registry("internal")]).await.unwrap();
            store.apply_registries(&[managed_registry("internal"), file_registry("files")]).await.unwrap();
        }).await;

        let files_only = vec!["files".to_owned()];
        let internal_only = vec!["internal".to_owned()];
        assert_eq!((snapshot, unchanged), (files_only.clone(), vec![]), "an unchanged snapshot bumps nothing");
        assert_eq!((publish, retried), (internal_only.clone(), vec![]), "a retried publish writes nothing");
        assert_eq!((status, same_status), (internal_only.clone(), vec![]));
        assert_eq!(edit, internal_only.clone());
        assert_eq!(sync_status, Vec::<String>::new(), "sync status is not content");
        assert_eq!((delete, missing_delete), (internal_only, vec![]));
        assert_eq!(gone, files_only.clone(), "tombstones are content");
        assert_eq!(readded, files_only, "a registry dropped and added again gets a new generation");
        let files_now = generations(store).await["files"];
        assert!(!seen.contains(&files_now), "{files_now} was given before: {seen:?}");
    }
}

#[tokio::test]
async fn on_postgres_a_new_generation_is_notified_at_commit() {
    let test = TestStore::postgres().await;
    let serving = Store::connect_serving(&test.config).await.unwrap();
    let mut listener = serving.generation_listener().await.unwrap().expect("an API replica's store listens");
    assert!(test.store.generation_listener().await.unwrap().is_none(), "a worker's store does not");
    test.store.apply_registries(&[managed_registry("internal")]).await.unwrap();
    let created = tokio::time::timeout(std::time::Duration::from_secs(5), listener.changed()).await;

    test.store.insert_version(&name("internal"), &server("io.example/tool", "1.0.0")).await.unwrap();
    let published = tokio::time::timeout(std::time::Duration::from_secs(5), listener.changed()).await;

    created.expect("notified at the registry's creation").unwrap();
    published.expect("notified at the publish").unwrap();
    test.cleanup().await;
}
