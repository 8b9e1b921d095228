//! API sources: paging, upstream deletions, retries, failures, and federation with our own API.

use std::time::Instant;

use axum::http::StatusCode;
use registry_api::Application;
use registry_core::model::Status;
use registry_store::SyncPhase;
use registry_testkit::*;
use registry_worker::sync::{SyncOutcome, sync_registry};

use super::upstream::{Upstream, item};
use super::*;

fn catalogue(count: usize) -> Vec<serde_json::Value> {
    (0..count).map(|i| item(&format!("io.example/server-{i:03}"), "1.0.0", "active")).collect()
}

on_both_backends! {
    async fn an_upstream_is_paged_to_the_end_and_its_deletions_become_tombstones(test: &TestStore) {
        let mut items = catalogue(250);
        items[7] = item("io.example/server-007", "1.0.0", "deleted");
        let upstream = Upstream::start(items).await;
        let registry = api_at("mirror", &upstream.base);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let outcome = sync_registry(&test.store, &registry, &context()).await.unwrap();

        assert!(matches!(outcome, SyncOutcome::Written { servers: 250, .. }), "{outcome:?}");
        assert_eq!(upstream.requests(), 3, "pages of 100 until nextCursor is absent");
        let stored = rows(&test.store, "mirror").await;
        assert_eq!(stored.len(), 100, "the first page of the local list");
        let deleted = test.store.get_version(&Scope::Registry(name("mirror")), "io.example/server-007",
            &registry_store::VersionSelector::Latest, true).await.unwrap().unwrap();
        assert_eq!(deleted.official.status, Status::Deleted);
        assert_eq!(deleted.official.published_at.to_rfc3339(), "2025-05-01T00:00:00+00:00", "upstream publish time kept");
    }

    async fn a_5xx_or_429_page_fails_the_sync_as_transient_and_a_404_as_permanent(test: &TestStore) {
        let upstream = Upstream::start(catalogue(3)).await;
        upstream.set(|b| b.failures = vec![StatusCode::INTERNAL_SERVER_ERROR, StatusCode::TOO_MANY_REQUESTS, StatusCode::NOT_FOUND]);
        let registry = api_at("mirror", &upstream.base);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let mut transient = Vec::new();
        for _ in 0..3 {
            transient.push(sync_registry(&test.store, &registry, &context()).await.unwrap_err().is_transient());
        }
        let outcome = sync_registry(&test.store, &registry, &context()).await.unwrap();

        assert_eq!(transient, [true, true, false], "the job retries the first two, not the third");
        assert_eq!(upstream.requests(), 4, "one request per sync: no retries inside it");
        assert!(matches!(outcome, SyncOutcome::Written { servers: 3, .. }), "{outcome:?}");
    }

    async fn a_source_that_hangs_is_cut_off_at_the_job_timeout_and_the_reason_recorded(test: &TestStore) {
        let upstream = Upstream::start(catalogue(3)).await;
        upstream.set(|b| b.delay = Some(Duration::from_secs(300)));
        let mut registry = api_at("mirror", &upstream.base);
        if let Source::Api(api) = &mut registry.source {
            api.timeout = Duration::from_secs(300);
        }
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        let context = Context { job_timeout: Duration::from_millis(500), ..context() };

        let started = Instant::now();
        let error = sync_registry(&test.store, &registry, &context).await.unwrap_err();

        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(error.is_transient());
        let status = test.store.sync_status(&name("mirror")).await.unwrap().unwrap();
        assert_eq!(status.phase, SyncPhase::Failed);
        assert_eq!(status.last_error.as_deref(), Some("the sync did not finish within worker.jobTimeout (500ms)"));
    }

    async fn a_failing_upstream_keeps_the_old_data_and_records_the_attempts(test: &TestStore) {
        let upstream = Upstream::start(catalogue(3)).await;
        let registry = api_at("mirror", &upstream.base);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        sync_registry(&test.store, &registry, &context()).await.unwrap();

        upstream.set(|b| b.failures = vec![StatusCode::SERVICE_UNAVAILABLE; 10]);
        let unavailable = sync_registry(&test.store, &registry, &context()).await.unwrap_err();
        upstream.set(|b| {
            b.failures.clear();
            b.truncate = true;
        });
        let truncated = sync_registry(&test.store, &registry, &context()).await.unwrap_err();

        assert!(unavailable.is_transient(), "{unavailable}");
        assert!(!truncated.is_transient(), "{truncated}");
        let status = test.store.sync_status(&name("mirror")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.attempts), (SyncPhase::Failed, 2));
        assert_eq!(rows(&test.store, "mirror").await.len(), 3, "still served");
    }

    async fn an_instance_of_our_own_api_can_be_the_upstream(test: &TestStore) {
        let origin = TestStore::sqlite().await;
        origin.store.apply_registries(&[file_registry("team")]).await.unwrap();
        origin.store.write_snapshot(&name("team"), vec![entry("io.example/a1", "1.0.0"), entry("io.example/a1", "2.0.0")]).await.unwrap();
        let config = test_config(origin.config.clone(), vec![file_registry("team")]);
        let application = Application::build(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://127.0.0.1:{}", application.local_addr().unwrap().port());
        tokio::spawn(application.run_until(std::future::pending()));
        let whole = api_at("mirror", &base);
        let one = api_at("team-only", &format!("{base}/registry/team"));
        test.store.apply_registries(&[whole.clone(), one.clone()]).await.unwrap();

        sync_registry(&test.store, &whole, &context()).await.unwrap();
        sync_registry(&test.store, &one, &context()).await.unwrap();

        for registry in ["mirror", "team-only"] {
            let stored = rows(&test.store, registry).await;
            assert_eq!(stored.len(), 2, "{registry}");
            assert!(stored.iter().any(|r| r.version.as_str() == "2.0.0" && r.official.is_latest));
        }
        origin.cleanup().await;
    }
}
