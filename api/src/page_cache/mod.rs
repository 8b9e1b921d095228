//! The page cache of the registry reads: rendered 200 bodies, kept under the key their `ETag` is computed
//! from (the content generations of the view, the build, the path and the query). A write that changes what
//! a read returns gives that read a new key, so an entry can never be served stale; old entries just age out.
//!
//! - **Tier 1**, in this process: each body once per content encoding asked for (identity, gzip, br), so a
//!   hit is compressed already. Bounded by `cache.memoryBytes`.
//! - **Tier 2**, Redis (`redis.url`), shared by the replicas, so a new or restarted replica starts warm. It
//!   holds the identity body. Redis is never the truth: see [`shared`].
//!
//! Concurrent misses of one key make one database read ([`Flights`]); the others wait for it.
//! What a read returns does not depend on who asks (authorisation ran before), so callers share entries.

mod key;
mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use std::time::Duration;

use registry_runtime::config::CacheConfig;
use tokio::sync::OnceCell;

pub use self::key::{Key, count_lookup};
use self::shared::SharedTier;
use crate::error::ApiError;
use crate::redis_link::RedisLink;

/// A content encoding the cache keeps bodies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The encoding to answer with: the client's most preferred of br and gzip by `q` (br on a tie), or
    /// identity when it accepts neither.
    pub fn preferred(headers: &HeaderMap) -> Self {
        let accepted = || {
            headers
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|item| {
                    let mut parts = item.split(';');
                    let coding = parts.next()?.trim();
                    let q = parts
                        .filter_map(|p| {
                            p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok())
                        })
                        .next()
                        .unwrap_or(1.0);
                    Some((coding, q))
                })
        };
        let named = |coding: &str| accepted().find(|(c, _)| c.eq_ignore_ascii_case(coding)).map(|(_, q)| q);
        let weight = |coding: &str| named(coding).or_else(|| named("*")).unwrap_or(0.0);
        let mut best = (0.0_f32, Self::Identity);
        for (coding, encoding) in [("br", Self::Brotli), ("gzip", Self::Gzip)] {
            let q = weight(coding);
            if q > best.0 {
                best = (q, encoding);
            }
        }
        best.1
    }

    /// The `Content-Encoding` value; `None` for identity.
    pub fn header(self) -> Option<HeaderValue> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some(HeaderValue::from_static("gzip")),
            Self::Brotli => Some(HeaderValue::from_static("br")),
        }
    }

    /// The compression this encoding needs; `None` for identity.
    fn compression(self) -> Option<Compression> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some(Compression::Gzip),
            Self::Brotli => Some(Compression::Brotli),
        }
    }
}

/// An encoding that compresses.
#[derive(Debug, Clone, Copy)]
enum Compression {
    Gzip,
    Brotli,
}

impl Compression {
    fn compress(self, body: &[u8]) -> std::io::Result<Bytes> {
        Ok(match self {
            Self::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(body)?;
                encoder.finish()?.into()
            }
            Self::Brotli => {
                let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, BROTLI_QUALITY, 22);
                encoder.write_all(body)?;
                encoder.flush()?;
                encoder.into_inner().into()
            }
        })
    }
}

/// Brotli's quality for bodies compressed once and served many times: most of the size gain of the higher
/// levels at a fraction of their time.
const BROTLI_QUALITY: u32 = 5;

/// Where an answer came from, as `x-cache` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Memory,
    Redis,
    /// Rendered from the database by this request.
    Database,
    /// Rendered from the database by a concurrent request for the same key, which this one waited for.
    Coalesced,
}

impl Source {
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Memory => "hit-memory",
            Self::Redis => "hit-redis",
            Self::Database => "miss",
            Self::Coalesced => "coalesced",
        })
    }
}

/// Both tiers; built only when `cache.enabled`.
pub struct PageCache {
    memory: Option<moka::future::Cache<(Key, Encoding), Bytes>>,
    shared: Option<Arc<SharedTier>>,
    flights: Flights,
}

impl PageCache {
    /// The cache `cache` configures, its second tier on `redis` with `ttl`.
    pub fn new(cache: &CacheConfig, redis: Option<(Arc<RedisLink>, Duration)>) -> Option<Self> {
        if !cache.enabled {
            return None;
        }
        let memory = (cache.memory_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(cache.memory_bytes)
                // The key and the entry's bookkeeping, roughly.
                .weigher(|_, body: &Bytes| u32::try_from(body.len() + 64).unwrap_or(u32::MAX))
                .eviction_listener(|_, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        metrics::counter!(registry_runtime::metrics::CACHE_EVICTIONS).increment(1);
                    }
                })
                .build()
        });
        let shared = redis.map(|(link, ttl)| Arc::new(SharedTier::new(link, ttl)));
        Some(Self { memory, shared, flights: Flights::default() })
    }

    /// The body of the read `key` in `encoding`: from memory, else from Redis, else rendered by `render`
    /// (once for all concurrent misses of the key) and kept in both tiers. An error of `render` is returned
    /// and nothing is kept.
    pub async fn get_or_render<F: Future<Output = Result<Bytes, ApiError>>>(
        &self,
        key: Key,
        encoding: Encoding,
        render: impl FnOnce() -> F,
    ) -> Result<(Bytes, Source), ApiError> {
        let remembered = self.remembered(key, encoding).await;
        count_lookup(
            "memory",
            if self.memory.is_none() {
                "bypass"
            } else if remembered.is_some() {
                "hit"
            } else {
                "miss"
            },
        );
        if let Some(body) = remembered {
            return Ok((body, Source::Memory));
        }
        // Boxed, so that a hit's future stays small: moving a large future costs every request a copy.
        let (identity, source) = Box::pin(self.identity(key, render)).await?;
        let Some(compression) = encoding.compression() else { return Ok((identity, source)) };
        // Off the async workers: a large page takes milliseconds to compress.
        let compressed = tokio::task::spawn_blocking(move || compression.compress(&identity))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        if let Some(memory) = &self.memory {
            memory.insert((key, encoding), compressed.clone()).await;
            metrics::gauge!(registry_runtime::metrics::CACHE_MEMORY_BYTES).set(memory.weighted_size() as f64);
        }
        Ok((compressed, source))
    }

    /// The body of `key` in `encoding` kept in this process's memory, if any.
    pub async fn remembered(&self, key: Key, encoding: Encoding) -> Option<Bytes> {
        self.memory.as_ref()?.get(&(key, encoding)).await
    }

    async fn identity<F: Future<Output = Result<Bytes, ApiError>>>(
        &self,
        key: Key,
        render: impl FnOnce() -> F,
    ) -> Result<(Bytes, Source), ApiError> {
        let mut led = false;
        let ran = &mut led;
        let (body, source) = self
            .flights
            .once(key, move || async move {
                *ran = true;
                if let Some(body) = self.remembered(key, Encoding::Identity).await {
                    return Ok((body, Source::Memory));
                }
                if let Some(body) = self.in_shared(key).await {
                    self.remember(key, &body).await;
                    return Ok((body, Source::Redis));
                }
                let body = render().await?;
                self.remember(key, &body).await;
                if let Some(shared) = &self.shared {
                    shared.clone().put(key, body.clone());
                }
                Ok((body, Source::Database))
            })
            .await?;
        let source = if !led && source == Source::Database { Source::Coalesced } else { source };
        Ok((body, source))
    }

    async fn in_shared(&self, key: Key) -> Option<Bytes> {
        self.shared.as_ref()?.get(key).await
    }

    /// Keeps `body` as `key`'s, uncompressed, in this process's memory (not in Redis).
    pub async fn remember(&self, key: Key, body: &Bytes) {
        if let Some(memory) = &self.memory {
            memory.insert((key, Encoding::Identity), body.clone()).await;
            metrics::gauge!(registry_runtime::metrics::CACHE_MEMORY_BYTES).set(memory.weighted_size() as f64);
        }
    }
}

/// Single flight: the first caller for a key runs its read, and callers that come while it runs wait for
/// its result instead of running their own. A failure is not shared and not waited on twice: the callers
/// that waited for a read that failed each run their own, at once and side by side.
#[derive(Default)]
struct Flights {
    running: Mutex<HashMap<Key, Arc<Flight>>>,
}

/// The result of one read once it has run; `None` when it failed.
type Flight = OnceCell<Option<(Bytes, Source)>>;

impl Flights {
    async fn once<F: Future<Output = Result<(Bytes, Source), ApiError>>>(
        &self,
        key: Key,
        run: impl FnOnce() -> F,
    ) -> Result<(Bytes, Source), ApiError> {
        let cell = self.lock().entry(key).or_default().clone();
        let _landing = Landing { flights: self, key, cell: cell.clone() };
        let (mut run, mut failed) = (Some(run), None);
        let (run_slot, failed_slot) = (&mut run, &mut failed);
        let shared = cell
            .get_or_init(move || async move {
                let run = run_slot.take()?;
                run().await.map_err(|error| *failed_slot = Some(error)).ok()
            })
            .await
            .clone();
        match (shared, failed, run) {
            (Some(value), _, _) => Ok(value),
            (None, Some(error), _) => Err(error),
            // The read this caller waited for failed: its own runs now, outside the flight.
            (None, None, Some(run)) => run().await,
            (None, None, None) => Err(ApiError::Internal(anyhow::anyhow!("a read ended without a result"))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Flight>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes a flight off the map when its read is done, or when its last caller leaves (all of them gave up,
/// e.g. their clients disconnected), however the caller's future ends.
struct Landing<'a> {
    flights: &'a Flights,
    key: Key,
    cell: Arc<Flight>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut running = self.flights.lock();
        let ours = running.get(&self.key).is_some_and(|current| Arc::ptr_eq(current, &self.cell));
        // Held by the map and by this landing only: no one else waits for it.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) == 2) {
            running.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn accepting(value: &str) -> Encoding {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        Encoding::preferred(&headers)
    }

    #[test]
    fn the_preferred_encoding_follows_q_values_and_prefers_br_on_a_tie() {
        assert_eq!(Encoding::preferred(&HeaderMap::new()), Encoding::Identity);
        for (value, expected) in [
            ("gzip", Encoding::Gzip),
            ("gzip, deflate, br", Encoding::Brotli),
            ("br;q=0.5, gzip", Encoding::Gzip),
            ("br;q=0, gzip;q=0", Encoding::Identity),
            ("*", Encoding::Brotli),
            ("*;q=0.1, gzip;q=0.2", Encoding::Gzip),
            ("deflate, identity", Encoding::Identity),
            ("GZIP", Encoding::Gzip),
        ] {
            assert_eq!(accepting(value), expected, "{value}");
        }
    }

    #[test]
    fn compressed_bodies_decompress_to_the_original() -> std::io::Result<()> {
        let body = br#"{"servers":[],"metadata":{"count":0}}"#.repeat(50);
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&Compression::Gzip.compress(&body)?[..]).read_to_end(&mut gunzipped)?;
        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&Compression::Brotli.compress(&body)?[..], 4096)
            .read_to_end(&mut unbrotlied)?;
        assert_eq!((gunzipped, unbrotlied), (body.clone(), body));
        assert!(Encoding::Identity.compression().is_none());
        Ok(())
    }
}
