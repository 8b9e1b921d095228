//! From the layered tree to a checked [`Config`]: defaults applied, every problem collected with its path.
//! One module per section.

mod auth;
mod database;
mod publish;
mod publisher_methods;
mod publisher_tokens;
mod rate_limits;
mod registries;
mod telemetry;
mod ui;

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;
use url::Url;

use super::raw::*;
use super::*;

/// The most problems one section reports before giving up on it.
const MAX_PASSES: usize = 32;

/// Removes the value a deserialisation error points at, so the rest can be read. An error inside a list
/// removes the whole list (removing one item would shift the positions of the others). `false` when the
/// error is about the section itself, so nothing can be removed.
fn remove_at(value: &mut Value, segments: &[Segment]) -> bool {
    let cut = segments.iter().position(|s| matches!(s, Segment::Seq { .. })).unwrap_or(segments.len());
    let Some((Segment::Map { key }, parents)) = segments[..cut].split_last() else { return false };
    let mut node = value;
    for segment in parents {
        let Segment::Map { key } = segment else { return false };
        match node.get_mut(key) {
            Some(child) => node = child,
            None => return false,
        }
    }
    node.as_object_mut().and_then(|map| map.remove(key)).is_some()
}

/// Collects problems while building the configuration.
#[derive(Default)]
pub(super) struct Check {
    problems: Vec<ConfigProblem>,
}

impl Check {
    pub(super) fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(ConfigProblem { path: path.into(), message: message.into() });
    }

    /// Deserialises one section; a type error or unknown key is reported with its full path. serde stops at
    /// the first error, so the offending key is dropped and the section read again: one bad field never
    /// hides the problems of the others.
    pub(super) fn section<T: DeserializeOwned>(&mut self, path: &str, mut value: Value) -> Option<T> {
        for _ in 0..MAX_PASSES {
            let error = match serde_path_to_error::deserialize(value.clone()) {
                Ok(section) => return Some(section),
                Err(error) => error,
            };
            let segments: Vec<Segment> = error.path().iter().cloned().collect();
            let inner = error.path().to_string();
            let full = match (path.is_empty(), inner == ".") {
                (_, true) => path.to_owned(),
                (true, false) => inner,
                (false, false) => format!("{path}.{inner}"),
            };
            self.fail(full, error.into_inner().to_string());
            if !remove_at(&mut value, &segments) {
                return None;
            }
        }
        None
    }

    pub(super) fn duration(
        &mut self,
        path: &str,
        raw: Option<&str>,
        default: Option<Duration>,
    ) -> Option<Duration> {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw.trim()) {
            Ok(d) if d.is_zero() => {
                self.fail(path, "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(path, format!("{raw:?} is not a duration (write e.g. 200ms, 30s, 5m, 1h)"));
                None
            }
        }
    }

    /// As [`Check::duration`], where `0s` is allowed (none).
    pub(super) fn duration_or_zero(
        &mut self,
        path: &str,
        raw: Option<&str>,
        default: Duration,
    ) -> Option<Duration> {
        match raw.map(str::trim) {
            Some("0" | "0s" | "0ms") => Some(Duration::ZERO),
            other => self.duration(path, other, Some(default)),
        }
    }

    /// A size of at least one byte: a number, or digits with `B`, `KiB`, `MiB` or `GiB`.
    pub(super) fn size(&mut self, path: &str, raw: &RawSize) -> Option<u64> {
        let bytes = match raw {
            RawSize::Bytes(bytes) => Some(*bytes),
            RawSize::Text(text) => {
                let text = text.trim();
                let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
                let (digits, unit) = text.split_at(split);
                let scale = match unit.trim() {
                    "" | "B" => Some(1u64),
                    "KiB" => Some(1 << 10),
                    "MiB" => Some(1 << 20),
                    "GiB" => Some(1 << 30),
                    _ => None,
                };
                digits.parse::<u64>().ok().zip(scale).and_then(|(n, scale)| n.checked_mul(scale))
            }
        };
        match bytes {
            Some(0) => {
                self.fail(path, "must be at least 1 byte");
                None
            }
            Some(bytes) => Some(bytes),
            None => {
                let RawSize::Text(text) = raw else { return None };
                self.fail(path, format!("{text:?} is not a size (write e.g. 65536, 512KiB, 4MiB)"));
                None
            }
        }
    }

    pub(super) fn url(&mut self, path: &str, raw: &str, schemes: &[&str]) -> Option<Url> {
        match Url::parse(raw) {
            Ok(url) if schemes.contains(&url.scheme()) && url.has_host() => Some(url),
            Ok(_) | Err(_) => {
                self.fail(path, format!("{raw:?} is not an absolute {} URL", schemes.join(" or ")));
                None
            }
        }
    }

    /// The file `raw` names, which must be an absolute path (a relative one would depend on where the
    /// process starts); a relative one is reported and kept.
    pub(super) fn absolute_path(&mut self, path: &str, raw: impl Into<PathBuf>) -> PathBuf {
        let file = raw.into();
        if !file.is_absolute() {
            self.fail(path, "must be an absolute path");
        }
        file
    }

    /// Each of `patterns` a server name pattern ([`registry_core::namespace`]).
    pub(super) fn patterns(&mut self, path: &str, patterns: &[String]) {
        for (i, pattern) in patterns.iter().enumerate() {
            if let Some(problem) = registry_core::namespace::pattern_problem(pattern) {
                self.fail(format!("{path}[{i}]"), problem);
            }
        }
    }

    /// Token issuers and their endpoints must be https, except on loopback (local development and tests) or
    /// with the environment-only switch [`INSECURE_ISSUERS`].
    pub(super) fn secure_url(&mut self, path: &str, raw: &str, insecure_issuers: bool) -> Option<Url> {
        let url = self.url(path, raw, &["https", "http"])?;
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() == "http" && !loopback && !insecure_issuers {
            self.fail(
                path,
                format!(
                    "{raw:?} must use https (http is allowed only on loopback, or with {INSECURE_ISSUERS}=true)"
                ),
            );
            return None;
        }
        Some(url)
    }

    /// Networks in CIDR form, or single addresses.
    pub(super) fn networks(&mut self, path: &str, raws: &[String]) -> Vec<ipnet::IpNet> {
        let mut networks = Vec::new();
        for (i, raw) in raws.iter().enumerate() {
            let network = raw.trim();
            let parsed = network
                .parse::<ipnet::IpNet>()
                .or_else(|_| network.parse::<std::net::IpAddr>().map(Into::into));
            match parsed {
                Ok(network) => networks.push(network),
                Err(_) => self.fail(
                    format!("{path}[{i}]"),
                    format!("{raw:?} is not a network (write e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.7)"),
                ),
            }
        }
        networks
    }

    pub(super) fn required<'a>(&mut self, path: &str, value: Option<&'a str>) -> Option<&'a str> {
        match value.map(str::trim) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                self.fail(path, "is required");
                None
            }
        }
    }
}

/// What validation reads from the process environment besides the `REGISTRY_*` overrides.
pub(super) struct Environment {
    /// [`super::INSECURE_ISSUERS`] is `true`.
    pub insecure_issuers: bool,
    /// [`super::WATCH_NAMESPACE_VARIABLE`].
    pub watch_namespaces: Option<String>,
}

pub(super) fn validate(tree: Value, environment: &Environment) -> Result<Config, ConfigErrors> {
    let mut check = Check::default();
    let raw: RawConfig = check.section("", tree).ok_or_else(|| ConfigErrors(check.problems.clone()))?;
    match sections(&mut check, raw, environment) {
        Some(config) if check.problems.is_empty() => Ok(config),
        _ => Err(ConfigErrors(check.problems)),
    }
}

/// The configuration from its raw sections, every one checked (so every problem is reported at once);
/// `None` when a section is unusable.
fn sections(check: &mut Check, raw: RawConfig, environment: &Environment) -> Option<Config> {
    let registry_name = registry_name(check, raw.registry_name);
    let registries = registries::registries(check, raw.registries, environment);
    let database = database::database(check, raw.database);
    // A database section with problems is reported on its own; nothing more is said of the key meanwhile.
    let embedded = database.as_ref().is_none_or(StorageConfig::is_embedded);
    let auth = auth::auth(check, raw.auth, environment.insecure_issuers, embedded);
    let redis = redis(check, raw.redis, &registry_name);
    let worker = worker(check, raw.worker);
    let server = server(check, raw.server);
    let shutdown = shutdown(check, raw.shutdown);
    let cors = cors(check, raw.cors);
    let mcp = mcp(check, raw.mcp);
    let ui = ui::ui(check, raw.ui, auth.as_ref());
    let rate_limits = rate_limits::rate_limits(check, raw.rate_limits);
    let audit = audit(check, raw.audit);
    let cache = cache(check, raw.cache);
    let metrics = match raw.metrics.and_then(|value| check.section::<RawMetrics>("metrics", value)) {
        Some(raw) => MetricsConfig { enabled: raw.enabled.unwrap_or(true) },
        None => MetricsConfig::default(),
    };
    let tracing = telemetry::tracing(check, raw.tracing);
    let validation = publish::validation(check, raw.validation);
    let publish_registry = registries
        .as_deref()
        .and_then(|registries| publish::publish_registry(check, raw.publish_registry, registries));
    Some(Config {
        registry_name,
        registries: registries?,
        auth: auth?,
        database: database?,
        redis,
        worker: worker?,
        server: server?,
        shutdown: shutdown?,
        cors: cors?,
        mcp,
        ui: ui?,
        rate_limits: rate_limits?,
        audit: audit?,
        cache: cache?,
        metrics,
        tracing: tracing?,
        publish_registry,
        validation: validation?,
    })
}

fn registry_name(check: &mut Check, raw: Option<String>) -> String {
    match raw {
        Some(name) if name.trim().is_empty() => {
            check.fail("registryName", "must not be empty");
            String::new()
        }
        Some(name) => name,
        None => "default".to_owned(),
    }
}

fn worker(check: &mut Check, value: Option<Value>) -> Option<WorkerConfig> {
    let defaults = WorkerConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawWorker = check.section("worker", value)?;
    // No worker.backoff: every bound takes its default.
    let backoff = raw.backoff.unwrap_or_default();
    let min = check.duration("worker.backoff.min", backoff.min.as_deref(), Some(defaults.backoff.min));
    let max = check.duration("worker.backoff.max", backoff.max.as_deref(), Some(defaults.backoff.max));
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        check.fail("worker.backoff", "min must not exceed max");
    }
    let counts = [
        ("concurrency", raw.concurrency),
        ("probeConcurrency", raw.probe_concurrency),
        ("maxAttempts", raw.max_attempts),
    ];
    for (key, value) in counts {
        if value == Some(0) {
            check.fail(format!("worker.{key}"), "must be at least 1");
        }
    }
    let job_timeout =
        check.duration("worker.jobTimeout", raw.job_timeout.as_deref(), Some(defaults.job_timeout));
    let max_outage = check.duration("worker.maxOutage", raw.max_outage.as_deref(), Some(defaults.max_outage));
    let git_timeout =
        check.duration("worker.gitTimeout", raw.git_timeout.as_deref(), Some(defaults.git_timeout));
    Some(WorkerConfig {
        concurrency: raw.concurrency.unwrap_or(defaults.concurrency),
        probe_concurrency: raw.probe_concurrency.unwrap_or(defaults.probe_concurrency),
        max_attempts: raw.max_attempts.unwrap_or(defaults.max_attempts),
        backoff: Backoff { min: min?, max: max? },
        job_timeout: job_timeout?,
        max_outage: max_outage?,
        git_timeout: git_timeout?,
        data_dir: raw.data_dir.map_or(defaults.data_dir, PathBuf::from),
    })
}

fn server(check: &mut Check, value: Option<Value>) -> Option<ServerConfig> {
    let defaults = ServerConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawServer = check.section("server", value)?;
    let internal_address = match raw.internal_address.as_deref().map(parse_address) {
        None => Some(defaults.internal_address),
        Some(Ok(address)) => Some(address),
        Some(Err(message)) => {
            check.fail("server.internalAddress", message);
            None
        }
    };
    let header = raw.header_read_timeout.as_deref();
    let header_read_timeout =
        check.duration("server.headerReadTimeout", header, Some(defaults.header_read_timeout));
    let idle_timeout =
        check.duration("server.idleTimeout", raw.idle_timeout.as_deref(), Some(defaults.idle_timeout));
    let request = raw.request_timeout.as_deref();
    let request_timeout = check.duration("server.requestTimeout", request, Some(defaults.request_timeout));
    if raw.max_connections == Some(0) {
        check.fail("server.maxConnections", "must be at least 1");
    }
    // No server.trustedProxies: none are trusted.
    let trusted_proxies = check.networks("server.trustedProxies", &raw.trusted_proxies.unwrap_or_default());
    Some(ServerConfig {
        internal_address: internal_address?,
        header_read_timeout: header_read_timeout?,
        idle_timeout: idle_timeout?,
        max_connections: raw.max_connections,
        request_timeout: request_timeout?,
        trusted_proxies,
    })
}

fn audit(check: &mut Check, value: Option<Value>) -> Option<AuditConfig> {
    let Some(value) = value else { return Some(AuditConfig::default()) };
    let raw: RawAudit = check.section("audit", value)?;
    let file = match raw.file.as_deref().map(str::trim) {
        Some("") => {
            check.fail("audit.file", "must not be empty (leave it out to log the audit events only)");
            None
        }
        other => other.map(PathBuf::from),
    };
    Some(AuditConfig { file })
}

fn cache(check: &mut Check, value: Option<Value>) -> Option<CacheConfig> {
    let defaults = CacheConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawCache = check.section("cache", value)?;
    let max_age = check.duration_or_zero("cache.maxAge", raw.max_age.as_deref(), defaults.max_age)?;
    Some(CacheConfig {
        enabled: raw.enabled.unwrap_or(defaults.enabled),
        max_age,
        memory_bytes: raw.memory_bytes.unwrap_or(defaults.memory_bytes),
    })
}

fn redis(check: &mut Check, value: Option<Value>, registry_name: &str) -> Option<RedisConfig> {
    let raw: RawRedis = check.section("redis", value?)?;
    let url = check.required("redis.url", raw.url.as_deref())?;
    let url = check.url("redis.url", url, &["redis", "rediss"]);
    let ttl = check.duration("redis.ttl", raw.ttl.as_deref(), Some(Duration::from_secs(600)));
    if ttl.is_some_and(|ttl| ttl < Duration::from_millis(1)) {
        check.fail("redis.ttl", "must be at least 1ms (Redis keeps entries for whole milliseconds)");
    }
    let timeout = check.duration("redis.timeout", raw.timeout.as_deref(), Some(Duration::from_millis(50)));
    Some(RedisConfig {
        url: url?,
        key_prefix: raw.key_prefix.unwrap_or_else(|| format!("{registry_name}:")),
        ttl: ttl?,
        timeout: timeout?,
    })
}

fn shutdown(check: &mut Check, value: Option<Value>) -> Option<ShutdownConfig> {
    let defaults = ShutdownConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawShutdown = check.section("shutdown", value)?;
    // A drain of 0s is allowed: stop accepting at once.
    let drain = check.duration_or_zero("shutdown.drain", raw.drain.as_deref(), defaults.drain);
    let grace = check.duration("shutdown.grace", raw.grace.as_deref(), Some(defaults.grace));
    Some(ShutdownConfig { drain: drain?, grace: grace? })
}

/// `mcp`: on unless `enabled: false`; each allowed host a host name or address, with a port or without.
fn mcp(check: &mut Check, value: Option<Value>) -> McpConfig {
    let Some(raw) = value.and_then(|value| check.section::<RawMcp>("mcp", value)) else {
        return McpConfig::default();
    };
    for (i, host) in raw.allowed_hosts.iter().enumerate() {
        let parsed = Url::parse(&format!("http://{host}/"));
        let bare = parsed
            .as_ref()
            .is_ok_and(|url| url.path() == "/" && url.username().is_empty() && url.query().is_none());
        if host.trim().is_empty() || !bare {
            check.fail(
                format!("mcp.allowedHosts[{i}]"),
                format!("{host:?} is not a host name, with or without a port"),
            );
        }
    }
    McpConfig { enabled: raw.enabled.unwrap_or(true), allowed_hosts: raw.allowed_hosts }
}

fn cors(check: &mut Check, value: Option<Value>) -> Option<CorsConfig> {
    let Some(value) = value else { return Some(CorsConfig::default()) };
    let raw: RawCors = check.section("cors", value)?;
    let Some(origins) = raw.allowed_origins else { return Some(CorsConfig::default()) };
    for (i, origin) in origins.iter().enumerate() {
        let is_origin = Url::parse(origin).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.has_host()
                && url.path() == "/"
                && !origin.ends_with('/')
        });
        if origin != "*" && !is_origin {
            check.fail(
                format!("cors.allowedOrigins[{i}]"),
                format!("{origin:?} is not * or an origin like https://portal.example.com"),
            );
        }
    }
    Some(CorsConfig { allowed_origins: origins })
}
