//! The rate limiter against a real Redis of the test's own (`PrivateRedis`): two limiters on one Redis, as
//! two replicas, spend one budget; with that Redis killed each decides alone, without failing or waiting
//! past `redis.timeout`, and goes back to Redis once it answers again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_api::rate_limit::{Backend, Limiter, Policy};
use registry_api::redis_link::RedisLink;
use registry_runtime::config::RedisConfig;
use registry_testkit::PrivateRedis;

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
const SLOW: Policy = Policy { per_minute: 6, burst: 10 };

#[tokio::test]
async fn two_replicas_on_one_redis_spend_one_budget() {
    let redis = PrivateRedis::start();
    let replicas = [Limiter::new(Some(link(&redis, "one"))), Limiter::new(Some(link(&redis, "one")))];
    let started = Instant::now();
    let mut allowed = 0;
    let mut refused_wait = Duration::ZERO;
    for n in 0..30 {
        let (decision, backend) = replicas[n % 2].check("writes", "client-a", SLOW).await;
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
    let other = replicas[0].check("writes", "client-b", SLOW).await.0;
    assert!(other.allowed && other.remaining == 9, "another client's budget: {other:?}");
    let other_registry = Limiter::new(Some(link(&redis, "two"))).check("writes", "client-a", SLOW).await.0;
    assert!(other_registry.allowed, "another key prefix is another registry's budget");
}

#[tokio::test]
async fn without_redis_each_replica_decides_alone_and_goes_back_to_redis_when_it_answers() {
    let mut redis = PrivateRedis::start();
    let port = redis.url.port().unwrap();
    let limiter = Limiter::new(Some(link(&redis, "outage")));
    let policy = Policy { per_minute: 60, burst: 5 };
    for _ in 0..5 {
        assert_eq!(limiter.check("reads", "client", policy).await.1, Backend::Redis);
    }
    assert!(!limiter.check("reads", "client", policy).await.0.allowed, "the shared budget is spent");

    redis.kill();
    let mut decisions = Vec::new();
    for _ in 0..8 {
        let asked = Instant::now();
        let (decision, backend) = limiter.check("reads", "client", policy).await;
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
        if limiter.check("reads", "client", policy).await.1 == Backend::Redis {
            break;
        }
        assert!(Instant::now() < deadline, "the limiter never went back to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    again.kill().ok();
    again.wait().ok();
}
