//! The managed-registry part of the contract: publishes, the rules the registry's data imposes, the status
//! lifecycle and deletes.

use registry_store::{Conflict, MAX_VERSIONS_PER_SERVER, StatusUpdate};

use super::*;

async fn internal(store: &Store) -> registry_core::model::RegistryName {
    store.apply_registries(&[managed_registry("internal")]).await.unwrap();
    name("internal")
}

fn remote(url: &str) -> serde_json::Value {
    json!({ "remotes": [{ "type": "streamable-http", "url": url }] })
}

async fn set(store: &Store, version: Option<&str>, status: Status, message: Option<&str>) -> StatusUpdate {
    store.set_status(&name("internal"), "io.example/tool", version, status, message).await.unwrap().unwrap()
}

fn description(version: &StoredVersion) -> String {
    serde_json::from_str::<serde_json::Value>(version.body.get()).unwrap()["description"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn only(update: StatusUpdate) -> StoredVersion {
    assert_eq!(update.versions.len(), 1);
    update.versions.into_iter().next().unwrap()
}

on_both_backends! {
    async fn a_published_version_is_immutable_and_latest_stays_on_the_highest(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;

        let first = store.insert_version(&internal, &server("io.example/tool", "2.0.0")).await.unwrap();
        let older = store.insert_version(&internal, &server("io.example/tool", "1.0.1")).await.unwrap();
        let changed = server_with("io.example/tool", "2.0.0", json!({"description": "another document"}));
        let again = store.insert_version(&internal, &changed).await.unwrap_err();

        assert!(first.created && first.record.official.is_latest);
        assert!(!older.record.official.is_latest, "publishing 1.0.1 after 2.0.0 leaves 2.0.0 latest");
        assert!(matches!(again, StoreError::Conflict(Conflict::VersionExists { .. })), "{again}");
        assert_eq!(latest_of(store, "internal", "io.example/tool").await.as_deref(), Some("2.0.0"));
        let unknown = store.insert_version(&name("nowhere"), &server("io.example/tool", "3.0.0")).await.unwrap_err();
        assert!(matches!(unknown, StoreError::UnknownRegistry(_)), "{unknown}");
    }

    async fn a_retried_publish_of_the_same_document_stores_nothing_and_returns_the_stored_version(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        let document = server_with("io.example/tool", "1.0.0", json!({"title": "Tool", "websiteUrl": "https://tool.example"}));
        let first = store.insert_version(&internal, &document).await.unwrap();
        // The same JSON with its keys in another order is the same document.
        let reordered: serde_json::Map<String, serde_json::Value> = document.as_object().iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
        let reordered = registry_core::model::ServerJson::from_value(serde_json::Value::Object(reordered)).unwrap();

        let retry = store.insert_version(&internal, &reordered).await.unwrap();
        set(store, Some("1.0.0"), Status::Deleted, None).await;
        let after_delete = store.insert_version(&internal, &document).await.unwrap_err();

        assert!(first.created);
        assert!(!retry.created, "nothing was written");
        assert_eq!(retry.record, first.record, "the stored version, unchanged (updatedAt too)");
        assert!(matches!(after_delete, StoreError::Conflict(Conflict::VersionExists { .. })), "a deleted version is not republished: {after_delete}");
    }

    async fn a_remote_url_belongs_to_one_non_deleted_server(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        let url = "https://mcp.example.com/tool";
        store.insert_version(&internal, &server_with("io.example/tool", "1.0.0", remote(url))).await.unwrap();

        let same_server = store.insert_version(&internal, &server_with("io.example/tool", "1.1.0", remote(url))).await;
        let other = server_with("io.example/other", "1.0.0", remote(url));
        let taken = store.insert_version(&internal, &other).await.unwrap_err();
        let reported = store.publish_conflicts(&internal, &other).await.unwrap();

        assert!(same_server.is_ok(), "a server's own versions share its URL");
        let expected = Conflict::RemoteUrlInUse { url: url.into(), server: "io.example/tool".into() };
        assert!(matches!(&taken, StoreError::Conflict(c) if *c == expected), "{taken}");
        assert_eq!(reported, vec![expected]);

        set(store, None, Status::Deleted, None).await;
        assert!(store.publish_conflicts(&internal, &other).await.unwrap().is_empty(), "deleted servers free their URLs");
        store.insert_version(&internal, &other).await.unwrap();
        let restore = store.set_status(&internal, "io.example/tool", Some("1.0.0"), Status::Active, None).await.unwrap_err();
        assert!(matches!(restore, StoreError::Conflict(Conflict::RemoteUrlInUse { .. })), "{restore}");
    }

    async fn a_server_has_at_most_the_version_cap(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        let cap = usize::try_from(MAX_VERSIONS_PER_SERVER).unwrap();
        let entries = (0..cap).map(|i| entry("io.example/tool", &format!("0.0.{i}"))).collect();
        store.write_snapshot(&internal, entries).await.unwrap();

        let over = store.insert_version(&internal, &server("io.example/tool", "1.0.0")).await.unwrap_err();

        assert!(matches!(over, StoreError::Conflict(Conflict::TooManyVersions { .. })), "{over}");
        assert!(store.insert_version(&internal, &server("io.example/other", "1.0.0")).await.is_ok());
    }

    async fn status_changes_move_latest_and_only_real_changes_move_status_changed_at(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        store.insert_version(&internal, &server("io.example/tool", "1.0.0")).await.unwrap();
        let v2 = store.insert_version(&internal, &server("io.example/tool", "2.0.0")).await.unwrap().record;

        let deprecated = only(set(store, Some("2.0.0"), Status::Deprecated, Some("use 3.x")).await);
        let reworded = only(set(store, Some("2.0.0"), Status::Deprecated, Some("use 3.0")).await);
        let unchanged = set(store, Some("2.0.0"), Status::Deprecated, Some("use 3.0")).await;
        let deleted = only(set(store, Some("2.0.0"), Status::Deleted, None).await);

        assert_eq!(deprecated.official.status_message.as_deref(), Some("use 3.x"));
        assert!(deprecated.official.status_changed_at > v2.official.status_changed_at);
        assert_eq!(reworded.official.status_changed_at, deprecated.official.status_changed_at);
        assert!(reworded.official.updated_at > deprecated.official.updated_at);
        assert_eq!(unchanged.updated, 0, "a no-op changes nothing");
        assert_eq!(unchanged.versions[0].official.updated_at, reworded.official.updated_at);
        assert!(!deleted.official.is_latest);
        assert_eq!(latest_of(store, "internal", "io.example/tool").await.as_deref(), Some("1.0.0"));

        let restored = only(set(store, Some("2.0.0"), Status::Active, None).await);
        assert!(restored.official.is_latest, "a deleted version can be restored");
        assert!(store.set_status(&internal, "io.example/tool", Some("9.9.9"), Status::Active, None).await.unwrap().is_none());
    }

    async fn a_status_for_all_versions_changes_only_those_that_differ(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        for version in ["1.0.0", "2.0.0", "3.0.0"] {
            store.insert_version(&internal, &server("io.example/tool", version)).await.unwrap();
        }
        set(store, Some("3.0.0"), Status::Deprecated, Some("retired")).await;

        let update = set(store, None, Status::Deprecated, Some("retired")).await;

        assert_eq!(update.updated, 2);
        let versions: Vec<_> = update.versions.iter().map(|r| r.version.clone()).collect();
        assert_eq!(versions, ["3.0.0", "2.0.0", "1.0.0"], "every version, newest publish first");
        assert!(update.versions.iter().all(|r| r.official.status == Status::Deprecated));
        assert_eq!(set(store, None, Status::Deprecated, Some("retired")).await.updated, 0);
        assert!(store.set_status(&internal, "io.example/none", None, Status::Active, None).await.unwrap().is_none());
    }

    async fn deleting_a_version_removes_it_and_recomputes_latest(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        store.insert_version(&internal, &server("io.example/tool", "1.0.0")).await.unwrap();
        store.insert_version(&internal, &server("io.example/tool", "2.0.0")).await.unwrap();

        let deleted = store.delete_version(&internal, "io.example/tool", "2.0.0").await.unwrap().expect("it was stored");
        let again = store.delete_version(&internal, "io.example/tool", "2.0.0").await.unwrap();

        assert_eq!(deleted.version.as_str(), "2.0.0");
        assert!(deleted.official.is_latest, "the version as it was stored before the delete");
        assert!(again.is_none());

        let gone = store.get_version(&Scope::Aggregated, "io.example/tool", &VersionSelector::Exact("2.0.0".into()), true).await.unwrap();
        assert!(gone.is_none());
        assert_eq!(latest_of(store, "internal", "io.example/tool").await.as_deref(), Some("1.0.0"));
    }
}

on_both_backends! {
    async fn an_edit_replaces_the_document_and_keeps_status_publish_time_and_latest(test: &TestStore) {
        let store = &test.store;
        let internal = internal(store).await;
        store.insert_version(&internal, &server("io.example/tool", "1.0.0")).await.unwrap();
        let published = store.insert_version(&internal, &server("io.example/tool", "2.0.0")).await.unwrap().record;
        set(store, Some("2.0.0"), Status::Deprecated, Some("use 3.x")).await;
        let url = "https://mcp.example.com/other";
        store.insert_version(&internal, &server_with("io.example/other", "1.0.0", remote(url))).await.unwrap();

        let edited = server_with("io.example/tool", "2.0.0", json!({"description": "edited"}));
        let replaced = store.replace_version(&internal, &edited).await.unwrap().expect("the version is stored");
        let taken = store.replace_version(&internal, &server_with("io.example/tool", "2.0.0", remote(url))).await.unwrap_err();
        let missing = store.replace_version(&internal, &server("io.example/tool", "9.9.9")).await.unwrap();
        set(store, Some("1.0.0"), Status::Deleted, None).await;
        let deleted = store.replace_version(&internal, &server("io.example/tool", "1.0.0")).await.unwrap();

        assert_eq!(description(&replaced), "edited");
        assert_eq!((replaced.official.status, replaced.official.status_message.as_deref()), (Status::Deprecated, Some("use 3.x")));
        assert_eq!(replaced.official.published_at, published.official.published_at);
        assert!(replaced.official.updated_at > published.official.updated_at);
        assert!(replaced.official.is_latest);
        assert!(matches!(taken, StoreError::Conflict(Conflict::RemoteUrlInUse { .. })), "{taken}");
        assert!(missing.is_none() && deleted.is_none(), "only stored, non-deleted versions can be edited");
        let stored = store.get_version(&Scope::Registry(internal.clone()), "io.example/tool", &VersionSelector::Exact("2.0.0".into()), false).await.unwrap().unwrap();
        assert_eq!(description(&stored), "edited", "a refused edit changed nothing");
    }

    async fn a_managed_registry_with_published_versions_survives_leaving_the_configuration(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[managed_registry("internal"), managed_registry("empty"), file_registry("files")]).await.unwrap();
        store.insert_version(&name("internal"), &server("io.example/tool", "1.0.0")).await.unwrap();
        let stored = |registries: Vec<registry_store::Registry>| registries.into_iter().map(|r| r.name.to_string()).collect::<Vec<_>>();

        let refused = store.apply_registries(&[file_registry("files")]).await.unwrap_err();
        let unchanged = stored(store.list_registries().await.unwrap());
        store.apply_registries(&[managed_registry("internal"), file_registry("files")]).await.unwrap();
        let dropped = store.drop_registry(&name("internal")).await.unwrap();
        store.apply_registries(&[file_registry("files")]).await.unwrap();

        assert!(matches!(&refused, StoreError::ManagedRegistryRemoved { registry, versions: 1 } if registry == "internal"), "{refused}");
        assert!(refused.to_string().contains("registry-admin drop-registry internal"));
        assert_eq!(unchanged, ["internal", "empty", "files"], "a refused change changes nothing");
        assert_eq!(dropped, Some(1));
        assert_eq!(stored(store.list_registries().await.unwrap()), ["files"], "an empty managed registry goes quietly");
        assert_eq!(store.drop_registry(&name("internal")).await.unwrap(), None);
    }
}
