//! `rateLimits`: each class's budget, the overrides and the exempt networks.

use serde_json::Value;

use super::Check;
use super::auth::claim_match;
use crate::config::raw::{RawRateLimits, RawRatePolicy};
use crate::config::*;

pub(super) fn rate_limits(check: &mut Check, value: Option<Value>) -> Option<RateLimitsConfig> {
    let defaults = RateLimitsConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawRateLimits = check.section("rateLimits", value)?;
    let mut class = |class: RateClass, raw: Option<RawRatePolicy>| {
        let raw = raw.unwrap_or_default();
        policy(
            check,
            &format!("rateLimits.{}", class.as_str()),
            raw.per_minute,
            raw.burst,
            defaults.policy(class),
        )
    };
    let reads = class(RateClass::Reads, raw.reads);
    let search = class(RateClass::Search, raw.search);
    let writes = class(RateClass::Writes, raw.writes);
    let token_exchanges = class(RateClass::TokenExchanges, raw.token_exchanges);
    let mcp = class(RateClass::Mcp, raw.mcp);
    let exempt = check.networks("rateLimits.exempt", &raw.exempt);
    let configured = |class: RateClass| match class {
        RateClass::Reads => reads,
        RateClass::Search => search,
        RateClass::Writes => writes,
        RateClass::TokenExchanges => token_exchanges,
        RateClass::Mcp => mcp,
    };
    let mut overrides = Vec::new();
    for (i, raw) in raw.overrides.into_iter().enumerate() {
        let path = format!("rateLimits.overrides[{i}]");
        let class = match raw.class.as_deref() {
            Some(name) => RateClass::ALL.into_iter().find(|class| class.as_str() == name).or_else(|| {
                let known: Vec<&str> = RateClass::ALL.iter().map(|class| class.as_str()).collect();
                check.fail(
                    format!("{path}.class"),
                    format!("unknown class {name:?}: one of {}", known.join(", ")),
                );
                None
            }),
            None => {
                check.fail(format!("{path}.class"), "is required");
                None
            }
        };
        let matcher = claim_match(check, &format!("{path}.match"), raw.matcher);
        let Some(class) = class else { continue };
        // A class whose own budget is broken is reported on its own; the default stands in here.
        let fallback = configured(class).unwrap_or_else(|| defaults.policy(class));
        let policy = policy(check, &path, raw.per_minute, raw.burst, fallback);
        if let (Some(matcher), Some(policy)) = (matcher, policy) {
            overrides.push(RateOverride { matcher, class, policy });
        }
    }
    Some(RateLimitsConfig {
        enabled: raw.enabled.unwrap_or(true),
        reads: reads?,
        search: search?,
        writes: writes?,
        token_exchanges: token_exchanges?,
        mcp: mcp?,
        overrides,
        exempt,
    })
}

/// A budget at `path`, each part defaulting to `fallback`'s: at least one request a minute and one at once,
/// with an interval of whole milliseconds (Redis counts in them).
fn policy(
    check: &mut Check,
    path: &str,
    per_minute: Option<i64>,
    burst: Option<i64>,
    fallback: RatePolicy,
) -> Option<RatePolicy> {
    let mut part = |key: &str, value: Option<i64>, fallback: u32| match value {
        None => Some(fallback),
        Some(n) if n >= 1 && n <= i64::from(u32::MAX) => u32::try_from(n).ok(),
        Some(n) => {
            check.fail(format!("{path}.{key}"), format!("{n} must be from 1 to {}", u32::MAX));
            None
        }
    };
    let per_minute = part("perMinute", per_minute, fallback.per_minute);
    let burst = part("burst", burst, fallback.burst);
    let per_minute = per_minute?;
    if 60_000 % per_minute != 0 {
        check.fail(
            format!("{path}.perMinute"),
            format!(
                "{per_minute} a minute is one every {:.1} ms: choose a rate that divides 60000, so that the interval \
                 is whole milliseconds (e.g. {} or {})",
                60_000.0 / f64::from(per_minute),
                (1..=per_minute).rev().find(|n| 60_000 % n == 0).unwrap_or(1),
                (per_minute..=60_000).find(|n| 60_000 % n == 0).unwrap_or(60_000)
            ),
        );
        return None;
    }
    Some(RatePolicy { per_minute, burst: burst? })
}
