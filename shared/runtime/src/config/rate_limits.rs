//! `rateLimits`: a budget per client and route class, shared by the API replicas through Redis.

use serde::Serialize;

use super::ClaimMatch;

/// The route classes, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RateClass {
    /// Registry reads without a search, extension reads, catalogue pages without a query, the API's docs.
    Reads,
    /// Registry reads with `search=`, catalogue pages with a query.
    Search,
    /// Every write, validation and form post.
    Writes,
    /// `/v0/auth/*` and the web catalogue's sign-in.
    TokenExchanges,
    /// `/mcp`.
    Mcp,
}

impl RateClass {
    pub const ALL: [Self; 5] = [Self::Reads, Self::Search, Self::Writes, Self::TokenExchanges, Self::Mcp];

    /// The name in the configuration, the `RateLimit` fields and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reads => "reads",
            Self::Search => "search",
            Self::Writes => "writes",
            Self::TokenExchanges => "tokenExchanges",
            Self::Mcp => "mcp",
        }
    }

    fn default_policy(self) -> RatePolicy {
        let (per_minute, burst) = match self {
            Self::Reads => (600, 100),
            Self::Search => (120, 30),
            Self::Writes => (60, 20),
            Self::TokenExchanges => (30, 10),
            Self::Mcp => (300, 60),
        };
        RatePolicy { per_minute, burst }
    }
}

/// A budget: `per_minute` requests a minute, and up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePolicy {
    pub per_minute: u32,
    pub burst: u32,
}

impl RatePolicy {
    /// The time one request's share takes to come back: a whole number of milliseconds (config check
    /// refuses a rate that is not).
    pub fn interval(self) -> std::time::Duration {
        std::time::Duration::from_millis(60_000 / u64::from(self.per_minute.max(1)))
    }
}

/// A budget of its own for the callers whose claims match (`auth.authz`'s syntax), in one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateOverride {
    #[serde(rename = "match")]
    pub matcher: ClaimMatch,
    pub class: RateClass,
    #[serde(flatten)]
    pub policy: RatePolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitsConfig {
    pub enabled: bool,
    pub reads: RatePolicy,
    pub search: RatePolicy,
    pub writes: RatePolicy,
    pub token_exchanges: RatePolicy,
    pub mcp: RatePolicy,
    /// In order; the first that matches a caller's claims in the class wins.
    pub overrides: Vec<RateOverride>,
    /// Clients never limited (their address, after `server.trustedProxies`).
    pub exempt: Vec<ipnet::IpNet>,
}

impl RateLimitsConfig {
    pub fn policy(&self, class: RateClass) -> RatePolicy {
        match class {
            RateClass::Reads => self.reads,
            RateClass::Search => self.search,
            RateClass::Writes => self.writes,
            RateClass::TokenExchanges => self.token_exchanges,
            RateClass::Mcp => self.mcp,
        }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            reads: RateClass::Reads.default_policy(),
            search: RateClass::Search.default_policy(),
            writes: RateClass::Writes.default_policy(),
            token_exchanges: RateClass::TokenExchanges.default_policy(),
            mcp: RateClass::Mcp.default_policy(),
            overrides: Vec::new(),
            exempt: Vec::new(),
        }
    }
}
