//! What both tiers of the page cache share: the key of an entry, and the count of lookups.

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

/// The hash a read's `ETag` and its cache entries share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 16]);

/// A page cache lookup of `tier` (`memory`, `redis`, or `mcp` for the MCP answers replayed): `hit`, `miss`,
/// or `bypass` (the tier is off, or skipped while failing).
///
/// Each counter is resolved in the recorder once: a hit looks up no series by name and labels.
pub fn count_lookup(tier: &'static str, result: &'static str) {
    static COUNTERS: LazyLock<RwLock<HashMap<(&str, &str), metrics::Counter>>> =
        LazyLock::new(RwLock::default);
    if let Some(counter) = COUNTERS.read().unwrap_or_else(PoisonError::into_inner).get(&(tier, result)) {
        return counter.increment(1);
    }
    let counter =
        metrics::counter!(registry_runtime::metrics::CACHE_LOOKUPS, "tier" => tier, "result" => result);
    counter.increment(1);
    COUNTERS.write().unwrap_or_else(PoisonError::into_inner).insert((tier, result), counter);
}
