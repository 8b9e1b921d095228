//! The rate limiter against a real Redis of the test's own (`PrivateRedis`): two limiters on one Redis, as
//! two replicas, spend one budget; with that Redis killed each decides alone, without failing or waiting
//! past `redis.timeout`, and goes back to Redis once it answers again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_api::rate_limit::{Backend, Client, Limiter};
use registry_api::redis_link::RedisLink;
use registry_runtime::config::{RateClass, RatePolicy, RedisConfig};
use registry_testkit::PrivateRedis;

/// A client known by its subject.
fn subject(name: &str) -> Client<'_> {
    Client::Principal { provider: "test", method: "", subject: name }
}

fn address(octets: [u8; 4]) -> Client<'static> {
    Client::Address(octets.into())
}

fn link(redis: &PrivateRedis, prefix: &str) -> Arc<RedisLink> {
    let config = RedisConfig {
        url: redis.url.clone(),
        key_prefix: format!("{prefix}:"),
        ttl: Duration::from_secs(60),
        timeout: Duration::from_millis(200),
    };
    Arc::new(RedisLink::new(&config).unwrap())
}

/// A slow budget, so that the test's own pace adds little: 6 a minute, 10 at once.
const SLOW: RatePolicy = RatePolicy { per_minute: 6, burst: 10 };

#[tokio::test]
async fn two_replicas_on_one_redis_spend_one_budget() {
    let redis = PrivateRedis::start();
    let replicas = [Limiter::new(Some(link(&redis, "one"))), Limiter::new(Some(link(&redis, "one")))];
    let started = Instant::now();
    let mut allowed = 0;
    let mut refused_wait = Duration::ZERO;
    for n in 0..30 {
        let (decision, backend) = replicas[n % 2].check(RateClass::Writes, subject("client-a"), SLOW).await;
        assert_eq!(backend, Backend::Redis);
        if decision.allowed {
            allowed += 1;
        } else {
            refused_wait = decision.retry_after;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let most = 10 + (elapsed * 6.0 / 60.0).floor() as u32 + 1;
    assert!((10..=most).contains(&allowed), "{allowed} allowed of 30 in {elapsed:.2} s (at most {most})");
    assert!(
        refused_wait > Duration::from_secs(8) && refused_wait <= Duration::from_secs(10),
        "{refused_wait:?}"
    );
    let other = replicas[0].check(RateClass::Writes, subject("client-b"), SLOW).await.0;
    assert!(other.allowed && other.remaining == 9, "another client's budget: {other:?}");
    let other_registry =
        Limiter::new(Some(link(&redis, "two"))).check(RateClass::Writes, subject("client-a"), SLOW).await.0;
    assert!(other_registry.allowed, "another key prefix is another registry's budget");
}

#[tokio::test]
async fn without_redis_each_replica_decides_alone_and_goes_back_to_redis_when_it_answers() {
    let mut redis = PrivateRedis::start();
    let port = redis.url.port().unwrap();
    let limiter = Limiter::new(Some(link(&redis, "outage")));
    let policy = RatePolicy { per_minute: 60, burst: 5 };
    for _ in 0..5 {
        assert_eq!(limiter.check(RateClass::Reads, subject("client"), policy).await.1, Backend::Redis);
    }
    assert!(
        !limiter.check(RateClass::Reads, subject("client"), policy).await.0.allowed,
        "the shared budget is spent"
    );

    redis.kill();
    let mut decisions = Vec::new();
    for _ in 0..8 {
        let asked = Instant::now();
        let (decision, backend) = limiter.check(RateClass::Reads, subject("client"), policy).await;
        assert!(asked.elapsed() < Duration::from_secs(1), "a decision waited {:?}", asked.elapsed());
        assert_eq!(backend, Backend::Local);
        decisions.push(decision.allowed);
    }
    assert_eq!(decisions, [true, true, true, true, true, false, false, false], "this replica's own budget");

    // The same port again: the breaker's next probe finds it, and decisions go back to Redis.
    let mut again = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if limiter.check(RateClass::Reads, subject("client"), policy).await.1 == Backend::Redis {
            break;
        }
        assert!(Instant::now() < deadline, "the limiter never went back to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    again.kill().ok();
    again.wait().ok();
}

#[tokio::test]
async fn pruning_drops_the_clients_whose_window_has_passed_and_keeps_the_others() {
    let limiter = Limiter::new(None);
    // A window of 1 ms (a request every millisecond, one at once), and one of a minute.
    let short = RatePolicy { per_minute: 60_000, burst: 1 };
    let long = RatePolicy { per_minute: 1, burst: 1 };
    for n in 0..10_000_u16 {
        let [high, low] = n.to_be_bytes();
        assert!(limiter.check(RateClass::Reads, address([10, 0, high, low]), short).await.0.allowed);
    }
    for n in 0..3 {
        assert!(limiter.check(RateClass::Search, address([10, 1, 0, n]), long).await.0.allowed);
    }
    assert_eq!(limiter.local_clients(), 10_003);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        limiter.prune();
        if limiter.local_clients() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{} clients kept", limiter.local_clients());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = limiter.check(RateClass::Search, address([10, 1, 0, 0]), long).await.0;
    assert!(!refused.allowed, "a client within its window keeps its spent budget: {refused:?}");
}

#[tokio::test(start_paused = true)]
async fn the_limiter_prunes_every_30_s_on_its_own_without_a_request() {
    let limiter = Arc::new(Limiter::new(None));
    limiter.keep_pruned();
    // The task starts its clock before time moves.
    tokio::task::yield_now().await;
    let short = RatePolicy { per_minute: 60_000, burst: 1 };
    for n in 0..100 {
        assert!(limiter.check(RateClass::Reads, address([10, 2, 0, n]), short).await.0.allowed);
    }
    assert_eq!(limiter.local_clients(), 100);
    // The window passes on governor's clock, which is real; then 30 s pass on tokio's.
    std::thread::sleep(Duration::from_millis(5));
    tokio::time::advance(Duration::from_secs(31)).await;
    for _ in 0..100 {
        if limiter.local_clients() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(limiter.local_clients(), 0, "the task pruned");
}

mod over_http {
    use registry_runtime::config::{Config, RateLimitsConfig, RatePolicy, RedisConfig};
    use registry_testkit::*;
    use serde_json::json;

    use super::*;
    use crate::helpers::*;

    /// Reads at 600 a minute (one every 100 ms), 5 at once; the other classes at their defaults.
    fn limits(reads: RatePolicy) -> RateLimitsConfig {
        RateLimitsConfig { enabled: true, reads, ..RateLimitsConfig::default() }
    }

    fn redis_config(redis: &PrivateRedis) -> RedisConfig {
        RedisConfig {
            url: redis.url.clone(),
            key_prefix: "limits:".into(),
            ttl: Duration::from_secs(60),
            timeout: Duration::from_millis(200),
        }
    }

    fn config(test: &TestStore, reads: RatePolicy, redis: Option<&PrivateRedis>) -> Config {
        Config {
            rate_limits: limits(reads),
            redis: redis.map(redis_config),
            ..test_config(test.config.clone(), vec![managed_registry("internal")])
        }
    }

    /// A `RateLimit` or `RateLimit-Policy` field as a client reads it: a Structured Field List (RFC 9651) of
    /// one item, the policy's name as a String, with integer parameters.
    fn field(value: &reqwest::header::HeaderValue) -> (String, Vec<(&'static str, i64)>) {
        let list: sfv::List = sfv::Parser::new(value.as_bytes()).parse().expect("a Structured Field List");
        let [sfv::ListEntry::Item(item)] = list.as_slice() else { panic!("one item: {list:?}") };
        let name = item.bare_item.as_string().expect("the policy's name is a String").as_str().to_owned();
        let params = item.params.iter().map(|(key, value)| {
            let key = ["q", "w", "r", "t"]
                .into_iter()
                .find(|k| *k == key.as_str())
                .expect("a parameter of the draft");
            (key, i64::from(value.as_integer().expect("an Integer")))
        });
        (name, params.collect())
    }

    #[tokio::test]
    async fn two_replicas_on_one_redis_give_a_client_one_budget_and_tell_it_where_it_stands() {
        let test = TestStore::postgres().await;
        let redis = PrivateRedis::start();
        let slow = RatePolicy { per_minute: 6, burst: 10 };
        let replicas = [
            spawn_config(&test, config(&test, slow, Some(&redis))).await,
            spawn_config(&test, config(&test, slow, Some(&redis))).await,
        ];
        let started = Instant::now();
        let mut statuses = Vec::new();
        for n in 0..30 {
            let reply = replicas[n % 2].get("/v0.1/servers").await;
            statuses.push(reply.status.as_u16());
            if n == 0 {
                assert_eq!(
                    field(&reply.headers["ratelimit-policy"]),
                    ("reads".into(), vec![("q", 6), ("w", 60)])
                );
                assert_eq!(field(&reply.headers["ratelimit"]), ("reads".into(), vec![("r", 9), ("t", 10)]));
            }
            if reply.status == 429 {
                assert_eq!(reply.content_type(), "application/problem+json");
                assert_eq!(
                    reply.body["type"],
                    "https://iana.org/assignments/http-problem-types#quota-exceeded"
                );
                assert_eq!(reply.body["violated-policies"], json!(["reads"]));
                let wait: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=10).contains(&wait), "{wait}");
                let told = field(&reply.headers["ratelimit"]);
                assert_eq!(told, ("reads".into(), vec![("r", 0), ("t", i64::try_from(wait).unwrap())]));
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let allowed = statuses.iter().filter(|s| **s == 200).count();
        let most = 10 + (elapsed * 6.0 / 60.0).floor() as usize + 1;
        eprintln!("two replicas allowed {allowed} of 30 in {elapsed:.2} s (the burst is 10; at most {most})");
        assert!((10..=most).contains(&allowed), "{allowed} allowed in {elapsed:.1} s: {statuses:?}");
        assert!(statuses.iter().all(|s| matches!(s, 200 | 429)), "{statuses:?}");
        // Never limited, and not told of a budget.
        let health = replicas[0].get("/v0.1/health").await;
        assert_eq!(health.status, 200);
        assert!(!health.headers.contains_key("ratelimit"));
        // The API's description says where a 429 can come, with its fields.
        // (Read from a replica without limits: this client's budget is spent.)
        let unlimited = spawn_app(&test, vec![managed_registry("internal")]).await;
        let document = unlimited.get("/openapi.json").await.body;
        let too_many = &document["paths"]["/v0.1/servers"]["get"]["responses"]["429"];
        for field in ["Retry-After", "RateLimit-Policy", "RateLimit"] {
            assert!(too_many["headers"][field].is_object(), "{field}: {too_many}");
        }
        assert!(document["paths"]["/v0.1/health"]["get"]["responses"]["429"].is_null());
        test.cleanup().await;
    }

    #[tokio::test]
    async fn after_retry_after_the_next_request_is_allowed_and_a_killed_redis_fails_no_request() {
        let test = TestStore::sqlite().await;
        let mut redis = PrivateRedis::start();
        let fast = RatePolicy { per_minute: 600, burst: 5 };
        let app = spawn_config(&test, config(&test, fast, Some(&redis))).await;
        let mut refused = None;
        for _ in 0..20 {
            let reply = app.get("/v0.1/servers").await;
            if reply.status == 429 {
                refused = Some(reply);
                break;
            }
        }
        let refused = refused.expect("the budget ran out");
        let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
        tokio::time::sleep(Duration::from_secs(wait)).await;
        assert_eq!(app.get("/v0.1/servers").await.status, 200, "allowed again after Retry-After");

        redis.kill();
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let asked = Instant::now();
            statuses.push(app.get("/v0.1/servers").await.status.as_u16());
            assert!(asked.elapsed() < Duration::from_secs(2), "a request waited {:?}", asked.elapsed());
        }
        assert!(statuses.iter().all(|s| matches!(s, 200 | 429)), "no request failed: {statuses:?}");
        assert!(statuses.contains(&429), "the replica's own limit holds: {statuses:?}");
        test.cleanup().await;
    }

    #[tokio::test]
    async fn tokens_of_two_subjects_have_two_budgets_and_an_invalid_token_spends_the_address_s() {
        use crate::auth::{AUDIENCE, oauth, provider};
        use registry_testkit::oidc::MockProvider;
        let test = TestStore::sqlite().await;
        let mock = MockProvider::start().await;
        let tight = RatePolicy { per_minute: 60, burst: 2 };
        let config =
            Config { auth: oauth(vec![provider(&mock, "idp")], false), ..config(&test, tight, None) };
        let app = spawn_config(&test, config).await;
        let alice = format!("Bearer {}", mock.token(AUDIENCE, json!({"sub": "alice"})));
        let bob = format!("Bearer {}", mock.token(AUDIENCE, json!({"sub": "bob"})));

        let mut seen = Vec::new();
        for who in [&alice, &alice, &alice, &bob, &bob, &bob] {
            seen.push(app.get_as("/v0.1/servers", Some(who)).await.status.as_u16());
        }
        assert_eq!(seen, [200, 200, 429, 200, 200, 429], "one budget per subject, from one address");

        // A token that does not verify spends the address's budget, not the subject it names.
        let forged = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        let mut refused = Vec::new();
        for _ in 0..3 {
            refused.push(app.get_as("/v0.1/servers", Some(forged)).await.status.as_u16());
        }
        assert_eq!(refused, [401, 401, 429]);
        assert_eq!(app.get_as("/v0.1/servers", None).await.status, 429, "the address's budget is spent");

        // X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
        let spoofed =
            app.client.get(format!("{}/v0.1/servers", app.base)).header("x-forwarded-for", "127.9.9.9");
        assert_eq!(app.send(spoofed).await.status, 429);
        test.cleanup().await;
    }

    #[tokio::test]
    async fn an_override_on_a_subject_gives_it_its_own_budget_and_the_others_the_class_s() {
        use crate::auth::{AUDIENCE, oauth, provider};
        use registry_runtime::config::{RateClass, RateOverride};
        use registry_testkit::oidc::MockProvider;
        let test = TestStore::sqlite().await;
        let mock = MockProvider::start().await;
        let mut config = Config {
            auth: oauth(vec![provider(&mock, "idp")], false),
            ..config(&test, RatePolicy { per_minute: 60, burst: 2 }, None)
        };
        config.rate_limits.overrides = vec![RateOverride {
            matcher: [("sub".to_owned(), vec!["ci".to_owned()])].into(),
            class: RateClass::Reads,
            policy: RatePolicy { per_minute: 60, burst: 4 },
        }];
        let app = spawn_config(&test, config).await;
        let ci = format!("Bearer {}", mock.token(AUDIENCE, json!({"sub": "ci"})));
        let bob = format!("Bearer {}", mock.token(AUDIENCE, json!({"sub": "bob"})));
        let mut seen = Vec::new();
        for who in [&ci, &ci, &ci, &ci, &ci, &bob, &bob, &bob] {
            seen.push(app.get_as("/v0.1/servers", Some(who)).await.status.as_u16());
        }
        assert_eq!(seen, [200, 200, 200, 200, 429, 200, 200, 429]);
        let told = app.get_as("/v0.1/servers", Some(&ci)).await;
        assert_eq!(field(&told.headers["ratelimit-policy"]), ("reads".into(), vec![("q", 60), ("w", 60)]));
        test.cleanup().await;
    }

    #[tokio::test]
    async fn mcp_calls_past_the_budget_are_refused_with_a_429_before_the_json_rpc_layer() {
        use crate::mcp::{LEGACY, rpc};
        let test = TestStore::sqlite().await;
        let mut config = config(&test, RatePolicy { per_minute: 600, burst: 100 }, None);
        config.rate_limits.mcp = RatePolicy { per_minute: 60, burst: 2 };
        let app = spawn_config(&test, config).await;
        let mut replies = Vec::new();
        for _ in 0..3 {
            replies.push(rpc(&app, LEGACY, "tools/list", json!({})).await);
        }
        let statuses: Vec<u16> = replies.iter().map(|reply| reply.status.as_u16()).collect();
        assert_eq!(statuses, [200, 200, 429]);
        assert!(replies[0].body["result"]["tools"].is_array(), "{}", replies[0].body);
        assert_eq!(field(&replies[1].headers["ratelimit"]), ("mcp".into(), vec![("r", 0), ("t", 1)]));
        let refused = &replies[2];
        assert_eq!(refused.content_type(), "application/problem+json");
        assert_eq!(refused.body["violated-policies"], json!(["mcp"]));
        assert!(refused.body.get("jsonrpc").is_none(), "no JSON-RPC answer: {}", refused.body);
        assert_eq!(refused.headers["retry-after"], "1");
        test.cleanup().await;
    }
}
