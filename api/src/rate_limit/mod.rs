//! Rate limits: a GCRA budget per client and route class, kept in Redis so that every API replica spends one
//! budget (one script call per decision, on Redis's clock), and decided on this replica alone while Redis is
//! away (the shared Redis link's breaker is open, or a call failed): then each replica allows the whole rate
//! itself. Redis never fails a request, nor slows one past `redis.timeout`.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::Ipv6Net;
use registry_core::digest::text_hash;
use registry_runtime::config::{RateClass, RatePolicy};

use crate::redis_link::RedisLink;

pub mod http;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still allowed at once after this one.
    pub remaining: u64,
    /// When refused, how long until the next request is allowed.
    pub retry_after: Duration,
    /// How long until the budget gains one more request.
    pub next_unit: Duration,
}

/// Where a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// In Redis, for every replica at once.
    Redis,
    /// On this replica alone.
    Local,
}

/// Who spends a budget: a verified principal, an IPv4 address, or an IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client<'a> {
    Principal { provider: &'a str, method: &'a str, subject: &'a str },
    Address(IpAddr),
    Network(Ipv6Net),
}

impl fmt::Display for Client<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Principal { provider, method, subject } => {
                write!(f, "principal:{provider}:{method}:{subject}")
            }
            Self::Address(address) => write!(f, "address:{address}"),
            Self::Network(network) => write!(f, "address:{network}"),
        }
    }
}

/// Keyed by a hash of the client: eight bytes a client, and no key to allocate.
type Keyed = RateLimiter<u64, DefaultKeyedStateStore<u64>, DefaultClock, StateInformationMiddleware>;

/// How often the local limiters drop the clients whose budget is full again.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

pub struct Limiter {
    link: Option<Arc<RedisLink>>,
    script: redis::Script,
    /// One keyed limiter per class and policy (overrides give a class more than one policy).
    local: Mutex<HashMap<(RateClass, RatePolicy), Arc<Keyed>>>,
    /// Hashes the clients' keys for the local limiters (randomly seeded; the hashes never leave the limiter).
    hasher: RandomState,
    /// Whether the last decision went to Redis, to log the changes of backend once each.
    on_redis: AtomicBool,
}

impl Limiter {
    /// Decides in Redis through `link` when there is one, else (and while it is away) on this replica.
    pub fn new(link: Option<Arc<RedisLink>>) -> Self {
        let on_redis = link.is_some();
        show_backend(on_redis);
        metrics::gauge!(registry_runtime::metrics::RATE_LIMIT_LOCAL_CLIENTS).set(0.0);
        // Every class's count exists from the start, at zero, so that a dashboard shows none limited rather
        // than no data, and the first 429 counts in a rate.
        for class in RateClass::ALL {
            metrics::counter!(registry_runtime::metrics::RATE_LIMITED, "class" => class.as_str())
                .increment(0);
        }
        Self {
            link,
            script: redis::Script::new(include_str!("gcra.lua")),
            local: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
            on_redis: AtomicBool::new(on_redis),
        }
    }

    /// Spends one request of `client`'s budget in `class` under `policy`.
    pub async fn check(
        &self,
        class: RateClass,
        client: Client<'_>,
        policy: RatePolicy,
    ) -> (Decision, Backend) {
        // Boxed, and only with Redis: every request's future would otherwise carry room for the Redis call,
        // which the steps' layer copies into its box (see `pipeline`).
        let shared =
            if self.link.is_some() { Box::pin(self.in_redis(class, client, policy)).await } else { None };
        if let Some(decision) = shared {
            self.now_on(Backend::Redis);
            return (decision, Backend::Redis);
        }
        self.now_on(Backend::Local);
        (self.locally(class, client, policy), Backend::Local)
    }

    async fn in_redis(&self, class: RateClass, client: Client<'_>, policy: RatePolicy) -> Option<Decision> {
        let link = self.link.as_ref()?;
        // A digest, so that no address or subject is stored in Redis as it is.
        let bucket =
            format!("{}rl:{}:{}", link.prefix, class.as_str(), &text_hash(&client.to_string())[..32]);
        let interval = u64::try_from(policy.interval().as_millis()).unwrap_or(u64::MAX);
        let mut invocation = self.script.key(bucket);
        invocation.arg(interval).arg(policy.burst).arg(1);
        let answer: Vec<i64> =
            link.call(|mut connection| async move { invocation.invoke_async(&mut connection).await }).await?;
        let [allowed, remaining, retry_after, next_unit] = answer.as_slice() else { return None };
        let millis = |value: i64| Duration::from_millis(u64::try_from(value).unwrap_or(0));
        Some(Decision {
            allowed: *allowed == 1,
            remaining: u64::try_from(*remaining).unwrap_or(0),
            retry_after: millis(*retry_after),
            next_unit: millis(*next_unit),
        })
    }

    fn locally(&self, class: RateClass, client: Client<'_>, policy: RatePolicy) -> Decision {
        let limiter = {
            let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
            local
                .entry((class, policy))
                .or_insert_with(|| {
                    let burst = NonZeroU32::new(policy.burst).unwrap_or(NonZeroU32::MIN);
                    let quota = Quota::with_period(policy.interval()).map(|quota| quota.allow_burst(burst));
                    // A zero interval cannot be configured; one request a minute stands in if it ever were.
                    let quota = quota.unwrap_or_else(|| Quota::per_minute(burst));
                    Arc::new(RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
                })
                .clone()
        };
        match limiter.check_key(&self.hasher.hash_one(client)) {
            Ok(state) => Decision {
                allowed: true,
                remaining: u64::from(state.remaining_burst_capacity()),
                retry_after: Duration::ZERO,
                next_unit: policy.interval(),
            },
            Err(refused) => {
                let wait = refused.wait_time_from(limiter.clock().now());
                Decision { allowed: false, remaining: 0, retry_after: wait, next_unit: wait }
            }
        }
    }

    /// Drops the clients whose budget is full again, which the limiter would treat as new anyway: so a scan
    /// from a million addresses leaves only those seen within their window.
    pub fn prune(&self) {
        let limiters: Vec<Arc<Keyed>> =
            self.local.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        for limiter in limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let kept = self.local_clients();
        metrics::gauge!(registry_runtime::metrics::RATE_LIMIT_LOCAL_CLIENTS).set(kept as f64);
    }

    /// Prunes every [`PRUNE_EVERY`] on the Tokio runtime it is called in, with or without requests, for as long
    /// as the limiter lives.
    pub fn keep_pruned(self: &Arc<Self>) {
        let limiter = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(limiter) = limiter.upgrade() else { return };
                limiter.prune();
            }
        });
    }

    /// The clients this replica remembers, in all classes.
    pub fn local_clients(&self) -> usize {
        self.local.lock().unwrap_or_else(PoisonError::into_inner).values().map(|limiter| limiter.len()).sum()
    }

    fn now_on(&self, backend: Backend) {
        let redis = backend == Backend::Redis;
        if self.link.is_none() || self.on_redis.swap(redis, Ordering::Relaxed) == redis {
            return;
        }
        show_backend(redis);
        if redis {
            tracing::info!("the rate limits are counted in Redis again, one budget for every replica");
        } else {
            tracing::warn!(
                "Redis is away: each replica counts the rate limits on its own until it answers again (so N \
                 replicas allow up to N times each budget)"
            );
        }
    }
}

/// The backend in use, as `rate_limit_backend` shows it: set when it changes, never per request.
fn show_backend(redis: bool) {
    let (on, off) = if redis { ("redis", "local") } else { ("local", "redis") };
    metrics::gauge!(registry_runtime::metrics::RATE_LIMIT_BACKEND, "backend" => on).set(1.0);
    metrics::gauge!(registry_runtime::metrics::RATE_LIMIT_BACKEND, "backend" => off).set(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(subject: &str) -> Client<'_> {
        Client::Principal { provider: "test", method: "", subject }
    }

    #[test]
    fn the_local_limiter_allows_the_burst_then_one_request_per_interval() {
        let limiter = Limiter::new(None);
        let policy = RatePolicy { per_minute: 60, burst: 3 };
        let decisions: Vec<Decision> =
            (0..4).map(|_| limiter.locally(RateClass::Reads, named("client"), policy)).collect();
        let remaining: Vec<u64> = decisions.iter().map(|d| d.remaining).collect();
        assert_eq!(remaining, [2, 1, 0, 0]);
        assert!(decisions[..3].iter().all(|d| d.allowed));
        let refused = decisions[3];
        assert!(!refused.allowed);
        assert!(
            refused.retry_after > Duration::from_millis(900) && refused.retry_after <= Duration::from_secs(1)
        );
        assert!(
            limiter.locally(RateClass::Reads, named("another"), policy).allowed,
            "another client's budget"
        );
        assert!(
            limiter.locally(RateClass::Writes, named("client"), policy).allowed,
            "another class's budget"
        );
        assert_eq!(limiter.local_clients(), 3);
    }
}
