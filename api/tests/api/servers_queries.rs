//! The list's query parameters: paging, search, filters, and their errors.

use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;

async fn catalogue(test: &TestStore, versions: usize) -> TestApp {
    let app = spawn_app(test, vec![file_registry("files")]).await;
    let entries = (0..versions)
        .map(|i| entry(&format!("io.example/server-{:03}", i / 2), &format!("1.0.{}", i % 2)))
        .collect();
    app.snapshot("files", entries).await;
    app
}

on_both_backends! {
    async fn paging_walks_every_version_once_and_the_last_page_has_no_cursor(test: &TestStore) {
        let app = catalogue(test, 50).await;

        let first = app.get("/v0.1/servers").await;
        let mut seen = Vec::new();
        let mut next = Some(String::new());
        let mut pages = 0;
        while let Some(cursor) = next {
            let path = if cursor.is_empty() { "/v0.1/servers?limit=10".to_owned() } else { format!("/v0.1/servers?limit=10&cursor={cursor}") };
            let page = app.get(&path).await;
            assert_eq!(page.body["metadata"]["count"], page.versions().len());
            seen.extend(page.versions());
            next = page.body["metadata"]["nextCursor"].as_str().map(str::to_owned);
            pages += 1;
        }

        assert_eq!(first.versions().len(), 30, "the default limit");
        assert!(first.body["metadata"]["nextCursor"].is_string());
        assert_eq!(pages, 5, "50 rows in pages of 10: the fifth, full, page has no cursor");
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "in order, without repeats");
        assert_eq!(seen.len(), 50);
    }

    async fn limit_out_of_range_is_422_naming_query_limit(test: &TestStore) {
        let app = catalogue(test, 2).await;

        for bad in ["0", "101", "-1", "ten", "1.5"] {
            let reply = app.get(&format!("/v0.1/servers?limit={bad}")).await;
            let problem = reply.problem(422);
            assert_eq!(problem["errors"][0]["location"], "query.limit", "{bad}");
            assert_eq!(problem["errors"][0]["value"], bad);
        }
        assert_eq!(app.get("/v0.1/servers?limit=100").await.status, 200);
        assert_eq!(app.get("/v0.1/servers?limit=1").await.versions().len(), 1);
    }

    async fn a_cursor_that_cannot_be_decoded_is_400(test: &TestStore) {
        let app = catalogue(test, 2).await;

        for bad in ["garbage!", "aW8uZXhhbXBsZQ", "io.example%2Fserver-000:1.0.0"] {
            let reply = app.get(&format!("/v0.1/servers?cursor={bad}")).await;
            assert!(reply.problem(400)["detail"].as_str().unwrap().contains("cursor"), "{bad}");
        }
    }

    async fn search_matches_name_title_and_description_without_wildcards(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", vec![
            registry_core::formats::Entry { server: server_with("io.example/sales", "1.0.0", json!({"description": "Get 50% off"})), origin: None },
            registry_core::formats::Entry { server: server_with("io.example/plain", "1.0.0", json!({"description": "Get 500 off"})), origin: None },
            registry_core::formats::Entry { server: server_with("io.example/forecast", "1.0.0", json!({"title": "Weather Desk"})), origin: None },
            registry_core::formats::Entry { server: server_with("io.example/under_score", "1.0.0", json!({})), origin: None },
        ]).await;

        let names = |reply: Reply| reply.versions().into_iter().map(|(n, _)| n).collect::<Vec<_>>();

        assert_eq!(names(app.get("/v0.1/servers?search=50%25").await), ["io.example/sales"]);
        assert_eq!(names(app.get("/v0.1/servers?search=_").await), ["io.example/under_score"]);
        assert_eq!(names(app.get("/v0.1/servers?search=weather%20DESK").await), ["io.example/forecast"]);
        assert_eq!(names(app.get("/v0.1/servers?search=PLAIN").await), ["io.example/plain"]);
        assert_eq!(app.get("/v0.1/servers?search=get").await.versions().len(), 2);
    }

    async fn version_filters_latest_or_exact(test: &TestStore) {
        let app = catalogue(test, 6).await;

        let latest = app.get("/v0.1/servers?version=latest").await;
        let exact = app.get("/v0.1/servers?version=1.0.0").await;

        assert!(latest.versions().iter().all(|(_, v)| v == "1.0.1"));
        assert_eq!(latest.versions().len(), 3);
        assert!(exact.versions().iter().all(|(_, v)| v == "1.0.0"));
        assert_eq!(exact.versions().len(), 3);
    }

    async fn updated_since_is_strictly_after_and_includes_deleted(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", vec![entry("io.example/kept", "1.0.0"), entry("io.example/gone", "1.0.0")]).await;
        let before = app.get("/v0.1/servers").await;
        let last_change = before.body["servers"].as_array().unwrap().iter()
            .map(|s| s["_meta"]["io.modelcontextprotocol.registry/official"]["updatedAt"].as_str().unwrap().to_owned())
            .max().unwrap();
        app.snapshot("files", vec![entry("io.example/kept", "1.0.0")]).await;

        let since = app.get(&format!("/v0.1/servers?updated_since={last_change}")).await;
        let at_the_edge = app.get(&format!("/v0.1/servers?updated_since={last_change}&include_deleted=true")).await;
        let refused = app.get(&format!("/v0.1/servers?updated_since={last_change}&include_deleted=false")).await;
        let malformed = app.get("/v0.1/servers?updated_since=yesterday").await;

        assert_eq!(since.versions(), [("io.example/gone".to_owned(), "1.0.0".to_owned())], "only the tombstone is newer");
        assert_eq!(at_the_edge.versions(), since.versions());
        assert!(refused.problem(400)["detail"].as_str().unwrap().contains("include_deleted=false"));
        assert!(malformed.problem(400)["detail"].as_str().unwrap().contains("RFC3339"));
    }

    async fn include_deleted_must_be_a_boolean_and_unknown_parameters_are_ignored(test: &TestStore) {
        let app = catalogue(test, 2).await;

        let bad = app.get("/v0.1/servers?include_deleted=maybe").await;
        let unknown = app.get("/v0.1/servers?q=anything&sort=desc").await;
        let repeated = app.get("/v0.1/servers?limit=1&limit=500").await;

        assert_eq!(bad.problem(422)["errors"][0]["location"], "query.include_deleted");
        assert_eq!(unknown.versions().len(), 2);
        assert_eq!(repeated.versions().len(), 1, "the first of a repeated parameter wins");
    }
}
