//! Tier 2 of the page cache: Redis, shared by the replicas, through the API's one Redis link (its timeout
//! and circuit breaker: [`crate::redis_link`]). Redis is never the truth: a slow, failing or absent Redis
//! answers "not here", and the read goes to the database; a write to Redis happens after the response, so it
//! never delays one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::AsyncCommands;
use registry_core::digest::hex;

use super::key::{Key, count_lookup};
use crate::redis_link::RedisLink;

pub struct SharedTier {
    link: Arc<RedisLink>,
    ttl: Duration,
}

impl SharedTier {
    pub fn new(link: Arc<RedisLink>, ttl: Duration) -> Self {
        Self { link, ttl }
    }

    fn key(&self, key: Key) -> String {
        format!("{}page:{}", self.link.prefix, hex(&key.0))
    }

    /// The body kept under `key`, or `None` when Redis has none, fails, is slow or is not called.
    pub async fn get(&self, key: Key) -> Option<Bytes> {
        if !self.link.open_to_calls() {
            count_lookup("redis", "bypass");
            return None;
        }
        let key = self.key(key);
        let body = self
            .link
            .call_now(|mut connection| async move { connection.get::<_, Option<Vec<u8>>>(key).await });
        let body = body.await.flatten().map(Bytes::from);
        count_lookup("redis", if body.is_some() { "hit" } else { "miss" });
        body
    }

    /// Keeps `body` under `key` for `redis.ttl`, in the background.
    pub fn put(self: Arc<Self>, key: Key, body: Bytes) {
        if !self.link.open_to_calls() {
            return;
        }
        tokio::spawn(async move {
            let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
            let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl));
            let key = self.key(key);
            self.link
                .call_now(|mut connection| async move {
                    connection.set_options::<_, _, ()>(key, body.as_ref(), options).await
                })
                .await;
        });
    }
}
