//! Tier 2 of the page cache: Redis, shared by the replicas. Redis is never the truth:
//! - every call has `redis.timeout`; a slow, failing or absent Redis answers "not here", and the read goes
//!   to the database;
//! - a write to Redis happens after the response, so it never delays one;
//! - after [`FAILURES_TO_OPEN`] failures in a row a circuit breaker stops calling Redis for [`OPEN_FOR`],
//!   then lets one call through to probe it;
//! - the breaker logs when it opens and when it closes again, never once per request.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use registry_core::digest::hex;
use registry_runtime::config::RedisConfig;

use super::key::{Key, count_lookup};

/// Failures in a row that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 3;
/// How long an open breaker refuses calls before it probes Redis again.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

pub struct SharedTier {
    connection: ConnectionManager,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    breaker: Breaker,
}

impl SharedTier {
    /// Connects lazily: a Redis that is down at start-up delays nothing.
    pub fn new(config: &RedisConfig) -> Result<Self, String> {
        metrics::gauge!(registry_runtime::metrics::CACHE_REDIS_CIRCUIT_OPEN).set(0.0);
        let client = redis::Client::open(config.url.as_str()).map_err(|e| format!("redis.url: {e}"))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(OPEN_FOR);
        let connection = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| format!("redis.url: {e}"))?;
        Ok(Self {
            connection,
            prefix: config.key_prefix.clone(),
            ttl: config.ttl,
            timeout: config.timeout,
            breaker: Breaker::default(),
        })
    }

    fn key(&self, key: Key) -> String {
        format!("{}page:{}", self.prefix, hex(&key.0))
    }

    /// The body kept under `key`, or `None` when Redis has none, fails, is slow or is not called.
    pub async fn get(&self, key: Key) -> Option<Bytes> {
        if !self.breaker.allows(Instant::now()) {
            count_lookup("redis", "bypass");
            return None;
        }
        let mut connection = self.connection.clone();
        let call = connection.get::<_, Option<Vec<u8>>>(self.key(key));
        let outcome = tokio::time::timeout(self.timeout, call).await;
        let body = self.settle(outcome).flatten().map(Bytes::from);
        count_lookup("redis", if body.is_some() { "hit" } else { "miss" });
        body
    }

    /// Keeps `body` under `key` for `redis.ttl`, in the background.
    pub fn put(self: std::sync::Arc<Self>, key: Key, body: Bytes) {
        if !self.breaker.allows(Instant::now()) {
            return;
        }
        tokio::spawn(async move {
            let mut connection = self.connection.clone();
            let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
            let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl));
            let call = connection.set_options::<_, _, ()>(self.key(key), body.as_ref(), options);
            let outcome = tokio::time::timeout(self.timeout, call).await;
            self.settle(outcome);
        });
    }

    /// Tells the breaker how a call went; the value when it succeeded.
    fn settle<T>(&self, outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>) -> Option<T> {
        let failure = match outcome {
            Ok(Ok(value)) => {
                self.breaker.succeeded();
                return Some(value);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        self.breaker.failed(Instant::now(), &failure);
        None
    }
}

/// Closed (calls go through, failures counted) or open until an instant; an open breaker past its instant
/// lets one probe through and stays open for another [`OPEN_FOR`] unless the probe succeeds.
#[derive(Default)]
struct Breaker {
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
}

impl Default for State {
    fn default() -> Self {
        Self::Closed { failures: 0 }
    }
}

impl Breaker {
    fn allows(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *state = State::Open { until: now + OPEN_FOR };
                true
            }
            State::Open { .. } => false,
        }
    }

    fn succeeded(&self) {
        let mut state = self.lock();
        if matches!(*state, State::Open { .. }) {
            tracing::info!("the Redis page cache answers again; using it");
            metrics::gauge!(registry_runtime::metrics::CACHE_REDIS_CIRCUIT_OPEN).set(0.0);
        }
        *state = State::Closed { failures: 0 };
    }

    fn failed(&self, now: Instant, error: &str) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 >= FAILURES_TO_OPEN => {
                tracing::warn!(
                    error = %error,
                    "the Redis page cache is failing; reads skip it for {OPEN_FOR:?} at a time and go to the database"
                );
                metrics::gauge!(registry_runtime::metrics::CACHE_REDIS_CIRCUIT_OPEN).set(1.0);
                State::Open { until: now + OPEN_FOR }
            }
            State::Closed { failures } => State::Closed { failures: failures + 1 },
            open @ State::Open { .. } => open,
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_and_probes_once_when_its_time_is_up() {
        let breaker = Breaker::default();
        let start = Instant::now();
        for _ in 1..FAILURES_TO_OPEN {
            breaker.failed(start, "refused");
        }
        assert!(breaker.allows(start), "still closed one failure short");
        breaker.succeeded();
        for _ in 0..FAILURES_TO_OPEN {
            breaker.failed(start, "refused");
        }
        assert!(!breaker.allows(start), "open");
        let later = start + OPEN_FOR;
        assert!(breaker.allows(later), "one probe");
        assert!(!breaker.allows(later), "only one");
        breaker.failed(later, "refused");
        assert!(!breaker.allows(later + OPEN_FOR / 2), "a failed probe keeps it open");
        assert!(breaker.allows(later + OPEN_FOR));
        breaker.succeeded();
        assert!(breaker.allows(later + OPEN_FOR) && breaker.allows(later + OPEN_FOR), "closed again");
    }
}
