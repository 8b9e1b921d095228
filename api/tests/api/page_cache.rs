//! The page cache: a repeat read comes from memory, compressed bodies are kept per encoding, concurrent
//! misses make one database read, a cold replica is served from Redis, and a Redis that dies under load
//! fails no request. `x-cache` says where each answer came from.

use std::io::Read;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use registry_runtime::config::{CacheConfig, Config, RedisConfig};
use registry_store::RawPool;
use registry_testkit::*;

use crate::helpers::*;

fn x_cache(reply: &Reply) -> &str {
    reply.headers.get("x-cache").map_or("", |v| v.to_str().unwrap())
}

/// The body bytes, the `x-cache` and `content-encoding` headers of `path` asked for with `accept-encoding`.
async fn raw(app: &TestApp, path: &str, accept_encoding: &str) -> (Vec<u8>, String, String) {
    let request = app.client.get(format!("{}{path}", app.base)).header("accept-encoding", accept_encoding);
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers().get(name).map_or("", |v| v.to_str().unwrap()).to_owned();
    let (cache, encoding) = (header("x-cache"), header("content-encoding"));
    (response.bytes().await.unwrap().to_vec(), cache, encoding)
}

fn with_redis(
    test: &TestStore,
    registries: Vec<registry_runtime::config::RegistryConfig>,
    redis: &RedisConfig,
) -> Config {
    Config { redis: Some(redis.clone()), ..test_config(test.config.clone(), registries) }
}

async fn redis_keys(redis: &RedisConfig) -> Vec<String> {
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    connection.keys(format!("{}*", redis.key_prefix)).await.unwrap()
}

/// Waits until Redis holds `count` entries under the prefix (they are written after the response).
async fn until_kept(redis: &RedisConfig, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let keys = redis_keys(redis).await;
        if keys.len() >= count {
            return keys;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "Redis holds {keys:?}, not {count} entries");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

on_both_backends! {
    async fn a_repeat_read_comes_from_memory_and_a_write_is_never_hidden_by_it(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;
        app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
        let paths = ["/v0.1/servers", "/v0.1/servers/io.example%2Ftool/versions", "/v0.1/servers/io.example%2Ftool/versions/latest"];

        let mut first = Vec::new();
        let mut again = Vec::new();
        for path in paths {
            first.push(raw(&app, path, "identity").await);
            again.push(raw(&app, path, "identity").await);
        }
        let spelled = [
            raw(&app, "/v0.1/servers?limit=30&utm_source=mail", "identity").await,
            raw(&app, "/v0.1/servers?limit=30&limit=7", "identity").await,
        ];
        let published = app.post_json("/v0.1/publish", &server_json("io.example/tool", "2.0.0")).await;
        let after_write = app.get("/v0.1/servers").await;
        let missing = app.get("/v0.1/servers/io.example%2Fnone/versions").await;
        let status = app.get("/extension/v0/registries").await;

        for ((first, again), path) in first.iter().zip(&again).zip(paths) {
            assert_eq!((first.1.as_str(), again.1.as_str()), ("miss", "hit-memory"), "{path}");
            assert_eq!(first.0, again.0, "the same bytes: {path}");
        }
        assert_eq!((spelled[0].1.as_str(), spelled[1].1.as_str()), ("miss", "hit-memory"),
            "an unknown parameter and a repeat make no new entry: the read takes the first limit");
        assert_eq!(spelled[0].0, first[0].0);
        assert_eq!(published.status, 201);
        assert_eq!((after_write.body["metadata"]["count"].as_u64(), x_cache(&after_write)), (Some(2), "miss"));
        assert_eq!((missing.status.as_u16(), x_cache(&missing)), (404, ""), "a 404 is not kept");
        assert_eq!((status.status.as_u16(), x_cache(&status)), (200, ""), "/extension is never cached");
    }

    async fn bodies_are_kept_compressed_for_each_encoding_asked_for(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;
        for i in 0..20 {
            app.post_json("/v0.1/publish", &server_json(&format!("io.example/tool-{i:02}"), "1.0.0")).await;
        }

        let gzip = raw(&app, "/v0.1/servers", "gzip").await;
        let gzip_again = raw(&app, "/v0.1/servers", "gzip").await;
        let br = raw(&app, "/v0.1/servers", "br;q=1, gzip;q=0.5").await;
        let identity = raw(&app, "/v0.1/servers", "identity").await;
        let response = app.client.get(format!("{}/v0.1/servers", app.base)).header("accept-encoding", "gzip").send().await.unwrap();

        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzip.0[..]).read_to_end(&mut gunzipped).unwrap();
        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&br.0[..], 4096).read_to_end(&mut unbrotlied).unwrap();
        assert_eq!((gzip.1.as_str(), gzip.2.as_str()), ("miss", "gzip"));
        assert_eq!((gzip_again.1.as_str(), gzip_again.0 == gzip.0), ("hit-memory", true), "kept compressed");
        assert_eq!((br.1.as_str(), br.2.as_str()), ("hit-memory", "br"), "compressed from the identity kept");
        assert_eq!((identity.1.as_str(), identity.2.as_str()), ("hit-memory", ""));
        assert_eq!((gunzipped, unbrotlied), (identity.0.clone(), identity.0.clone()));
        assert!(gzip.0.len() * 3 < identity.0.len(), "{} of {} bytes", gzip.0.len(), identity.0.len());
        assert_eq!(response.headers().get_all("vary").iter().count(), 1, "one Vary");
    }

    async fn with_the_cache_off_every_read_goes_to_the_database(test: &TestStore) {
        let config = Config {
            cache: CacheConfig { enabled: false, ..CacheConfig::default() },
            ..test_config(test.config.clone(), vec![managed_registry("internal")])
        };
        let app = spawn_config(test, config).await;

        let first = app.get("/v0.1/servers").await;
        let again = app.get_if_none_match("/v0.1/servers", first.headers["etag"].to_str().unwrap()).await;

        assert_eq!((first.status.as_u16(), x_cache(&first)), (200, ""));
        assert_eq!(again.status, 304, "revalidation works without the cache");
    }
}

/// While PostgreSQL holds a lock that blocks the read, many requests for one page are in flight, and only one
/// of them ever waits on the database.
#[tokio::test]
async fn concurrent_misses_of_one_page_make_one_database_read() {
    let test = TestStore::postgres().await;
    let app = spawn_app(&test, vec![managed_registry("internal")]).await;
    app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
    let lock = lock_versions(&test).await;
    let RawPool::Postgres(store) = test.store.raw_pool() else { unreachable!() };

    let requests: Vec<_> = (0..16)
        .map(|_| {
            let request = app.client.get(format!("{}/v0.1/servers?limit=3", app.base));
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.headers()["x-cache"].to_str().unwrap().to_owned())
            })
        })
        .collect();
    let waiting = "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like 'select sv.%' \
         and datname = current_database()";
    let count = || async { sqlx::query_scalar::<_, i64>(waiting).fetch_one(store).await.unwrap() };
    let started = Instant::now();
    while count().await == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no read reached the database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Observed for a while, with every request sent: still one read waits.
    let mut most = 0;
    while started.elapsed() < Duration::from_millis(500) || most == 0 {
        most = most.max(count().await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lock.rollback().await.unwrap();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }

    assert_eq!(most, 1, "one database read waited at a time");
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let misses = answers.iter().filter(|(_, cache)| cache == "miss").count();
    let coalesced = answers.iter().filter(|(_, cache)| cache == "coalesced").count();
    assert_eq!(misses, 1, "{answers:?}");
    assert!(coalesced >= 1, "the others waited for it: {answers:?}");
    test.cleanup().await;
}

#[tokio::test]
async fn a_replica_started_cold_is_served_from_redis_whose_entries_carry_the_ttl() {
    let test = TestStore::sqlite().await;
    let redis = shared_redis();
    let registries = vec![managed_registry("internal")];
    let warm = spawn_config(&test, with_redis(&test, registries.clone(), &redis)).await;
    warm.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
    let first = raw(&warm, "/v0.1/servers", "identity").await;
    let keys = until_kept(&redis, 1).await;

    let redis_only = Config {
        cache: CacheConfig { memory_bytes: 0, ..CacheConfig::default() },
        ..with_redis(&test, registries, &redis)
    };
    let cold = spawn_config(&test, redis_only).await;
    let from_redis = raw(&cold, "/v0.1/servers", "identity").await;
    let again = raw(&cold, "/v0.1/servers", "gzip").await;
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = connection.pttl(&keys[0]).await.unwrap();

    assert_eq!(first.1, "miss");
    assert!(keys[0].starts_with(&redis.key_prefix), "{keys:?}");
    assert_eq!((from_redis.1.as_str(), from_redis.0 == first.0), ("hit-redis", true));
    assert_eq!((again.1.as_str(), again.2.as_str()), ("hit-redis", "gzip"), "no memory tier: Redis again");
    assert!(ttl > 0 && ttl <= 60_000, "entries expire within redis.ttl: {ttl} ms");
    test.cleanup().await;
}

/// A Redis that is killed while reads run: every request is answered, from memory or the database; and a
/// replica whose Redis never answered serves from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_dies_under_load_no_request_fails() {
    let test = TestStore::postgres().await;
    let mut server = PrivateRedis::start();
    let redis = redis_at(&server.url);
    let app = spawn_config(&test, with_redis(&test, vec![managed_registry("internal")], &redis)).await;
    app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
    app.get("/v0.1/servers").await;
    until_kept(&redis, 1).await;
    let nowhere = redis_at(&format!("redis://127.0.0.1:{}", free_port()).parse().unwrap());
    let unreachable =
        spawn_config(&test, with_redis(&test, vec![managed_registry("internal")], &nowhere)).await;

    let load = ReadLoad::start(&app.client, &app.base, 4, 100);
    load.until_answered(40).await;
    server.kill();
    let statuses = load.statuses().await;
    let without = unreachable.get("/v0.1/servers").await;

    assert_eq!(statuses.len(), 400);
    assert!(
        statuses.iter().all(|status| *status == 200),
        "{:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert_eq!((without.status.as_u16(), x_cache(&without)), (200, "miss"));
    test.cleanup().await;
}

/// A read that fails is not waited on in turn: sixteen concurrent misses of one page, each cancelled at the
/// statement timeout (300 ms) behind a lock, all answer 503 within a few timeouts (the test pool has five
/// connections; 1.3 s measured), not sixteen in a row (4.8 s).
#[tokio::test]
async fn concurrent_misses_whose_read_fails_all_answer_at_once() {
    let test = TestStore::postgres().await;
    let app =
        spawn_config(&test, with_short_statement_timeout(&test, vec![managed_registry("internal")])).await;
    let lock = lock_versions(&test).await;

    let started = Instant::now();
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let request = app.client.get(format!("{}/v0.1/servers?limit=4", app.base));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    let took = started.elapsed();
    lock.rollback().await.unwrap();

    eprintln!("16 failed misses answered within {took:?}");
    assert!(statuses.iter().all(|status| *status == 503), "{statuses:?}");
    assert!(took < Duration::from_millis(16 * 300 / 2), "not one after another: {took:?}");
    test.cleanup().await;
}
