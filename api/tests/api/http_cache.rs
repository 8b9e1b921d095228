//! HTTP caching of the reads: an `ETag` from the content generations, 304 for a current `If-None-Match`,
//! `Cache-Control` and `Vary`; a write is seen by the replica that made it on its next request, and by
//! another replica within the poll interval.

use std::time::{Duration, Instant};

use registry_runtime::config::{Config, PostgresTarget, StorageConfig};
use registry_store::RawPool;
use registry_testkit::*;

use crate::helpers::*;

fn etag(reply: &Reply) -> String {
    reply.headers["etag"].to_str().unwrap().to_owned()
}

on_both_backends! {
    async fn a_current_etag_is_answered_304_and_a_write_changes_the_etags_of_the_views_it_touches(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
        let first = app.get("/v0.1/servers").await;
        let files_first = app.get("/registry/files/v0.1/servers").await;

        let revalidated = app.get_if_none_match("/v0.1/servers", &etag(&first)).await;
        let other_query = app.get_if_none_match("/v0.1/servers?limit=5", &etag(&first)).await;
        let published = app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
        let after_write = app.get_if_none_match("/v0.1/servers", &etag(&first)).await;
        let files_after = app.get_if_none_match("/registry/files/v0.1/servers", &etag(&files_first)).await;
        let version = app.get("/v0.1/servers/io.example%2Ftool/versions/1.0.0").await;
        let version_again = app.get_if_none_match("/v0.1/servers/io.example%2Ftool/versions/1.0.0", &etag(&version)).await;
        let missing = app.get("/v0.1/servers/io.example%2Fnone/versions").await;
        let gzip = app.client.get(format!("{}/v0.1/servers", app.base)).header("accept-encoding", "gzip").send().await.unwrap();

        assert_eq!(first.status, 200);
        assert!(etag(&first).starts_with("W/\""), "{}", etag(&first));
        assert_eq!(first.headers["cache-control"], "public, max-age=0");
        assert!(first.headers["vary"].to_str().unwrap().to_ascii_lowercase().contains("accept-encoding"));
        assert_eq!((revalidated.status.as_u16(), revalidated.body.clone()), (304, serde_json::Value::Null));
        assert_eq!(etag(&revalidated), etag(&first));
        assert_eq!(other_query.status, 200, "another query is another answer");
        assert_eq!(published.status, 201);
        assert_eq!(after_write.status, 200, "the writer's next read sees its write");
        assert_ne!(etag(&after_write), etag(&first));
        assert_eq!(after_write.body["metadata"]["count"], 1);
        assert_eq!(files_after.status, 304, "a view the write did not touch keeps its ETag");
        assert_eq!((version.status.as_u16(), version_again.status.as_u16()), (200, 304));
        assert!(!missing.headers.contains_key("etag"), "only a 200 carries an ETag");
        let vary: Vec<_> = gzip.headers().get_all("vary").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert_eq!(gzip.headers()["content-encoding"], "gzip");
        assert_eq!(vary.len(), 1, "one Vary when compressed too: {vary:?}");
    }
}

/// The reader listens through `database.listenUrl` (as behind PgBouncer), a session of its own that
/// PostgreSQL shows under the URL's application name, and is notified of each write.
#[tokio::test]
async fn another_replica_is_notified_of_each_write() {
    let test = TestStore::postgres().await;
    let registries = vec![managed_registry("internal")];
    let writer = spawn_app(&test, registries.clone()).await;
    let mut storage = test.config.clone();
    let StorageConfig::Postgres(pg) = &mut storage else { unreachable!() };
    let PostgresTarget::Url { url } = &pg.target else { unreachable!() };
    let application = format!("listen-{}", free_port());
    pg.listen_url = Some(format!("{url}?application_name={application}").parse().unwrap());
    let reader = spawn_config(&test, test_config(storage, registries)).await;
    let before = etag(&reader.get("/v0.1/servers").await);
    let RawPool::Postgres(store) = test.store.raw_pool() else { unreachable!() };
    let listening =
        "select count(*) from pg_stat_activity where application_name = $1 and query ilike 'listen%'";
    let started = Instant::now();
    while sqlx::query_scalar::<_, i64>(listening).bind(&application).fetch_one(store).await.unwrap() == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no session listens through listenUrl");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Five publishes, each waited for on the reader. Notified, each shows within milliseconds; by the poll
    // alone, five would take 2.5 s on average, and under 1 s less than once in a hundred runs.
    let mut waited = Duration::ZERO;
    let mut before = before;
    for i in 0..5 {
        let published =
            writer.post_json("/v0.1/publish", &server_json(&format!("io.example/tool-{i}"), "1.0.0")).await;
        assert_eq!(published.status, 201);
        let started = Instant::now();
        let seen = loop {
            let reply = reader.get_if_none_match("/v0.1/servers", &before).await;
            if reply.status == 200 || started.elapsed() > Duration::from_secs(5) {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        waited += started.elapsed();
        assert_eq!(seen.status, 200, "the other replica's ETag moved within 5 s");
        assert_eq!(seen.body["metadata"]["count"], i + 1);
        before = etag(&seen);
    }

    eprintln!("the reader saw five publishes after {waited:?} in all");
    assert!(waited < registry_api::registry_set::REFRESH, "notified, not polled: {waited:?} for five");
    test.cleanup().await;
}

#[tokio::test]
async fn protected_reads_are_private_and_vary_by_authorization_and_max_age_is_configurable() {
    let test = TestStore::sqlite().await;
    let mock = oidc::MockProvider::start().await;
    let config = Config {
        auth: crate::auth::oauth(vec![crate::auth::provider(&mock, "idp")], false),
        cache: registry_runtime::config::CacheConfig {
            max_age: Duration::from_secs(30),
            ..Default::default()
        },
        ..test_config(test.config.clone(), vec![managed_registry("internal")])
    };
    let app = spawn_config(&test, config).await;
    let token = mock.token(crate::auth::AUDIENCE, serde_json::json!({}));

    let reply = app.get_as("/v0.1/servers", Some(&crate::auth::bearer(&token))).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["cache-control"], "private, max-age=30");
    assert!(reply.headers["vary"].to_str().unwrap().contains("Authorization"), "{:?}", reply.headers["vary"]);
    test.cleanup().await;
}
