//! The API's one Redis connection, shared by the page cache's second tier and the rate limits, with one
//! timeout and one circuit breaker. Redis is never in the way:
//! - every call has `redis.timeout`; a slow, failing or absent Redis answers nothing, and the caller does
//!   without it;
//! - after [`FAILURES_TO_OPEN`] failures in a row the breaker stops calling Redis for [`OPEN_FOR`], then
//!   lets one call through to probe it;
//! - the breaker logs when it opens and when it closes again, never once per request.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use registry_runtime::config::RedisConfig;

/// Failures in a row that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 3;
/// How long an open breaker refuses calls before it probes Redis again.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

pub struct RedisLink {
    connection: ConnectionManager,
    /// `redis.keyPrefix`, before every key.
    pub prefix: String,
    timeout: Duration,
    breaker: Breaker,
}

impl RedisLink {
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
            timeout: config.timeout,
            breaker: Breaker::default(),
        })
    }

    /// Whether a call would go to Redis now (the breaker is closed, or lets its probe through).
    pub fn open_to_calls(&self) -> bool {
        self.breaker.allows(Instant::now())
    }

    /// What `call` answers within `redis.timeout`; `None` when it fails, is slow, or the breaker is open.
    pub async fn call<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allows(Instant::now()) {
            return None;
        }
        self.call_now(call).await
    }

    /// As [`RedisLink::call`], for a caller that asked [`RedisLink::open_to_calls`] already.
    pub async fn call_now<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let outcome = tokio::time::timeout(self.timeout, call(self.connection.clone())).await;
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
            tracing::info!("Redis answers again: the page cache and the rate limits use it");
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
                    "Redis is failing: for {OPEN_FOR:?} at a time, reads skip the shared page cache and go to the \
                     database, and each replica counts the rate limits on its own"
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
