//! File sources: sync, skip when unchanged, rewrite on a filter change, tombstones, failures.

use registry_core::formats::Format;
use registry_core::model::Status;
use registry_runtime::config::IncludeExclude;
use registry_store::{ListQuery, Scope, SyncPhase};
use registry_testkit::*;
use registry_worker::sync::{SyncOutcome, sync_registry};
use serde_json::json;

use super::*;

fn upstream_file(dir: &Path, names: &[&str]) -> std::path::PathBuf {
    let servers: Vec<_> =
        names.iter().map(|n| json!({"name": n, "description": "d", "version": "1.0.0"})).collect();
    let path = dir.join("registry.json");
    std::fs::write(&path, json!({"version": "1.0.0", "meta": {}, "data": {"servers": servers}}).to_string())
        .unwrap();
    path
}

on_both_backends! {
    async fn a_file_syncs_and_an_unchanged_resync_writes_no_rows(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let registry = file_at("files", &upstream_file(dir.path(), &["io.example/one", "io.example/two"]), Format::Upstream);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let first = sync_registry(&test.store, &registry, &context()).await.unwrap();
        let stored = rows(&test.store, "files").await;
        let second = sync_registry(&test.store, &registry, &context()).await.unwrap();

        assert!(matches!(first, SyncOutcome::Written { servers: 2, .. }), "{first:?}");
        assert_eq!(second, SyncOutcome::Unchanged);
        assert_eq!(rows(&test.store, "files").await, stored, "not a row rewritten");
        let status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.server_count, status.attempts), (SyncPhase::Complete, 2, 0));
        assert!(status.last_success_at.is_some() && status.next_due_at.unwrap() > status.last_success_at.unwrap());
    }

    async fn a_filter_change_alone_rewrites_the_registry(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = upstream_file(dir.path(), &["io.example/keep-me", "io.example/drop-me"]);
        let mut registry = file_at("files", &path, Format::Upstream);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(&test.store, &registry, &context()).await.unwrap();

        registry.filter.names = IncludeExclude { include: vec!["*/keep-*".into()], exclude: vec![] };
        let outcome = sync_registry(&test.store, &registry, &context()).await.unwrap();

        assert!(matches!(outcome, SyncOutcome::Written { servers: 1, .. }), "{outcome:?}");
        let live: Vec<_> = rows(&test.store, "files").await.into_iter().filter(|r| r.official.status == Status::Active).collect();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].name.as_str(), "io.example/keep-me");
    }

    async fn an_entry_removed_from_the_file_is_a_tombstone_for_incremental_readers(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let registry = file_at("files", &upstream_file(dir.path(), &["io.example/one", "io.example/two"]), Format::Upstream);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(&test.store, &registry, &context()).await.unwrap();
        let since = chrono::Utc::now();

        upstream_file(dir.path(), &["io.example/one"]);
        sync_registry(&test.store, &registry, &context()).await.unwrap();

        let mut incremental = ListQuery::new(Scope::Aggregated);
        incremental.updated_since = Some(since);
        let changed = test.store.list_servers(&incremental).await.unwrap().items;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].name.as_str(), "io.example/two");
        assert_eq!(changed[0].official.status, Status::Deleted);
    }

    async fn a_broken_file_fails_permanently_and_the_old_data_stays_served(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = upstream_file(dir.path(), &["io.example/one"]);
        let registry = file_at("files", &path, Format::Upstream);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(&test.store, &registry, &context()).await.unwrap();

        std::fs::write(&path, "{\"data\": {\"servers\": [").unwrap();
        let error = sync_registry(&test.store, &registry, &context()).await.unwrap_err();
        std::fs::remove_file(&path).unwrap();
        let missing = sync_registry(&test.store, &registry, &context()).await.unwrap_err();

        assert!(!error.is_transient() && !missing.is_transient());
        assert!(error.to_string().contains("not valid JSON"), "{error}");
        let cause = std::error::Error::source(&missing).and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(cause.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound), "the cause is kept");
        let status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.attempts), (SyncPhase::Failed, 2));
        assert!(status.last_error.unwrap().contains("cannot read"));
        assert_eq!(rows(&test.store, "files").await.len(), 1, "the previous data is still served");
    }

    async fn the_quickstart_toolhive_file_keeps_only_database_servers(test: &TestStore) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/toolhive-catalogue.json");
        let mut registry = file_at("toolhive", &path, Format::Toolhive);
        registry.filter.tags = IncludeExclude { include: vec!["database".into()], exclude: vec![] };
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        sync_registry(&test.store, &registry, &context()).await.unwrap();

        let mut names: Vec<String> = rows(&test.store, "toolhive").await.iter().map(|r| r.name.clone()).collect();
        names.sort();
        let expected = [
            "clickhouse-query", "elastic-search", "mongo-lens", "mysql-inspect", "pg-inspector", "redis-peek",
            "sqlite-browser", "warehouse-sql",
        ];
        assert_eq!(names, expected.map(|n| format!("io.github.stacklok/{n}")));
    }

    async fn more_entries_than_max_entries_fail_the_sync_by_name_and_keep_the_data(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = upstream_file(dir.path(), &["io.example/one", "io.example/two"]);
        let mut registry = file_at("files", &path, Format::Upstream);
        registry.sync_policy.max_entries = 2;
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(&test.store, &registry, &context()).await.unwrap();
        let stored = rows(&test.store, "files").await;
        upstream_file(dir.path(), &["io.example/one", "io.example/two", "io.example/three"]);

        let err = sync_registry(&test.store, &registry, &context()).await.unwrap_err();

        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("more than 2 entries (syncPolicy.maxEntries)"), "{err}");
        assert_eq!(rows(&test.store, "files").await, stored, "the previous data stays");
        let status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.server_count), (SyncPhase::Failed, 2));
    }

    async fn an_entry_over_the_entry_cap_is_refused_without_holding_it(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("giant.json");
        let giant = "x".repeat(17 << 20);
        std::fs::write(&path, format!(r#"[{{"name": "io.example/giant", "version": "1.0.0", "description": "{giant}"}}]"#)).unwrap();
        let registry = file_at("files", &path, Format::Upstream);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let err = sync_registry(&test.store, &registry, &context()).await.unwrap_err();

        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("an entry exceeds 16 MiB"), "{err}");
    }

    async fn a_managed_registry_is_never_synced(test: &TestStore) {
        let registry = managed_registry("internal");
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let outcome = sync_registry(&test.store, &registry, &context()).await.unwrap();

        assert_eq!(outcome, SyncOutcome::NotSynced);
        let status = test.store.sync_status(&name("internal")).await.unwrap().unwrap();
        assert_eq!(status.phase, SyncPhase::Complete);
        assert!(status.message.unwrap().contains("never synced"));
    }
}

/// A file server on 127.0.0.1 that answers only with `bot`'s basic credentials (`Ym90OnMzY3JldA==` is
/// `bot:s3cret`).
async fn guarded_file_server(body: String) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let router = axum::Router::new().route(
        "/registry.json",
        axum::routing::get(move |headers: HeaderMap| {
            let body = body.clone();
            async move {
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Basic Ym90OnMzY3JldA==") => (StatusCode::OK, body),
                    _ => (StatusCode::UNAUTHORIZED, String::new()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

on_both_backends! {
    async fn a_url_with_basic_auth_is_read_with_the_password_from_its_file_and_a_missing_file_is_named(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let body = std::fs::read_to_string(upstream_file(dir.path(), &["io.example/one"])).unwrap();
        let base = guarded_file_server(body).await;
        let password = dir.path().join("password");
        std::fs::write(&password, "s3cret\n").unwrap();
        let at = |password_file: std::path::PathBuf| RegistryConfig {
            source: Source::File(FileSource::Url {
                url: format!("{base}/registry.json").parse().unwrap(),
                timeout: Duration::from_secs(5),
                auth: Some(registry_runtime::config::BasicAuth { username: "bot".into(), password_file }),
            }),
            ..file_registry("feed")
        };
        test.store.apply_registries(&[at(password.clone())]).await.unwrap();

        let read = sync_registry(&test.store, &at(password), &context()).await.unwrap();
        let missing = sync_registry(&test.store, &at(dir.path().join("absent")), &context()).await.unwrap_err();

        assert!(matches!(read, SyncOutcome::Written { servers: 1, .. }), "{read:?}");
        assert!(!missing.is_transient());
        assert!(missing.to_string().starts_with(&format!("cannot read {}", dir.path().join("absent").display())), "{missing}");
    }
}
