//! Answers about tokens, remembered by a SHA-256 of the token (never the token itself) until an instant.
//! Bounded: past [`MAX_ENTRIES`] the expired entries are swept, and past twice as many the cache starts
//! over, so a flood of distinct tokens costs memory in proportion to the bound, not to the flood.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const MAX_ENTRIES: usize = 10_000;

pub type Key = [u8; 32];

pub struct TokenCache<T> {
    entries: Mutex<HashMap<Key, (Instant, T)>>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

pub fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl<T: Clone> TokenCache<T> {
    pub fn get(&self, key: &Key) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|(until, _)| *until > Instant::now()).map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: Key, ttl: Duration, value: T) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= 2 * MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now() + ttl, value));
    }
}

/// The time left until the claims' `exp`, at most `cap`; `None` without a future `exp`.
pub fn until_exp(claims: &Map<String, Value>, cap: Duration) -> Option<Duration> {
    let left = claims.get("exp").and_then(Value::as_i64)? - chrono::Utc::now().timestamp();
    u64::try_from(left).ok().filter(|secs| *secs > 0).map(|secs| Duration::from_secs(secs).min(cap))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_live_until_their_instant_and_the_cache_stays_bounded() {
        let cache = TokenCache::<u32>::default();
        cache.put(key("a"), Duration::from_secs(60), 1);
        cache.put(key("gone"), Duration::ZERO, 2);
        assert_eq!(cache.get(&key("a")), Some(1));
        assert_eq!(cache.get(&key("gone")), None);
        for n in 0..3 * MAX_ENTRIES {
            cache.put(key(&n.to_string()), Duration::from_secs(60), 0);
        }
        let held = cache.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        assert!(held <= 2 * MAX_ENTRIES, "{held} entries");
    }

    #[test]
    fn until_exp_is_capped_and_needs_a_future_exp() {
        let now = chrono::Utc::now().timestamp();
        let cap = Duration::from_secs(60);
        // An object literal is an object.
        let claims = |exp: Value| json!({ "exp": exp }).as_object().cloned().unwrap_or_default();
        assert_eq!(until_exp(&claims(json!(now + 3600)), cap), Some(cap));
        // An `exp` in the future always gives a time left.
        let soon = until_exp(&claims(json!(now + 10)), cap).unwrap_or_default();
        assert!(soon <= Duration::from_secs(10) && soon >= Duration::from_secs(8), "{soon:?}");
        assert_eq!(until_exp(&claims(json!(now - 1)), cap), None);
        assert_eq!(until_exp(&claims(json!("soon")), cap), None);
        assert_eq!(until_exp(&Map::new(), cap), None);
    }
}
