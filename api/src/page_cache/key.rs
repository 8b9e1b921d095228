//! What both tiers of the page cache share: the key of an entry, and the count of lookups.

/// The hash a read's `ETag` and its cache entries share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 16]);

/// A page cache lookup of `tier` (`memory`, `redis`, or `mcp` for the MCP answers replayed): `hit`, `miss`,
/// or `bypass` (the tier is off, or skipped while failing).
pub fn count_lookup(tier: &'static str, result: &'static str) {
    metrics::counter!(registry_runtime::metrics::CACHE_LOOKUPS, "tier" => tier, "result" => result)
        .increment(1);
}
