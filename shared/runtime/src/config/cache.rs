//! `cache` and `redis`: the page cache of the reads, in memory and in Redis.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use registry_core::duration::humantime_serde;
use registry_store::settings as database;

/// Caching of the registry reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheConfig {
    /// Whether rendered reads are kept (in memory, and in Redis when `redis.url` is set). Off, every read
    /// goes to the database; `ETag` and 304 work either way.
    pub enabled: bool,
    /// `Cache-Control: max-age` of the reads: how long clients and shared caches may reuse an answer without
    /// asking again. 0 (the default) has them revalidate every time, which the `ETag` makes cheap.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// The most bytes of rendered reads this process keeps; 0 keeps none in memory (Redis only).
    pub memory_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { enabled: true, max_age: Duration::ZERO, memory_bytes: 64 * 1024 * 1024 }
    }
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisConfig {
    /// Printed with any password masked.
    #[serde(serialize_with = "database::serialize_redacted_url")]
    pub url: Url,
    /// Prepended to every key, so registries sharing one Redis never meet: `<registryName>:` by default.
    pub key_prefix: String,
    /// How long an entry lives. Entries are keyed by content generation, so this bounds memory, not
    /// staleness.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long one Redis call may take before the read goes to the database instead.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &database::redacted_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish()
    }
}
