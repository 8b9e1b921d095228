//! Prometheus metrics: one recorder per process (`metrics-exporter-prometheus`, rendered by the internal
//! listener's `/metrics`; no push gateway, no HTTP listener of its own). Every metric is named and described
//! here once, with its unit, so the exposition carries HELP and TYPE lines and a name is never mistyped at a
//! call site. With `metrics.enabled: false` no recorder is installed and every call site is a no-op.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const HTTP_IN_FLIGHT: &str = "http_requests_in_flight";
pub const CACHE_LOOKUPS: &str = "page_cache_lookups_total";
pub const CACHE_EVICTIONS: &str = "page_cache_evictions_total";
pub const CACHE_MEMORY_BYTES: &str = "page_cache_memory_bytes";
pub const CACHE_REDIS_CIRCUIT_OPEN: &str = "page_cache_redis_circuit_open";
pub const AUTH_VERIFICATIONS: &str = "auth_token_verifications_total";
pub const AUTH_JWKS_REFRESHES: &str = "auth_jwks_refreshes_total";
pub const PUBLISHER_TOKEN_EXCHANGES: &str = "publisher_token_exchanges_total";
pub const RATE_LIMITED: &str = "rate_limited_requests_total";
pub const RATE_LIMIT_BACKEND: &str = "rate_limit_backend";
pub const RATE_LIMIT_LOCAL_CLIENTS: &str = "rate_limit_local_clients";
pub const MCP_REQUESTS: &str = "mcp_requests_total";
pub const MCP_DURATION: &str = "mcp_request_duration_seconds";
pub const AUDIT_WRITE_FAILURES: &str = "audit_write_failures_total";
pub const SYNC_RUNS: &str = "sync_runs_total";
pub const SYNC_DURATION: &str = "sync_duration_seconds";
pub const SYNC_LAST_SUCCESS: &str = "sync_last_success_timestamp_seconds";
pub const SYNC_INTERVAL: &str = "registry_sync_interval_seconds";
pub const SYNC_SERVERS: &str = "sync_servers_total";
pub const SYNC_RETRIES: &str = "sync_retries_total";
pub const KUBERNETES_WATCHING: &str = "kubernetes_watcher_up";
pub const KUBERNETES_EVENTS: &str = "kubernetes_watch_events_total";
pub const CATALOGUE_VERSIONS: &str = "registry_server_versions";
pub const CONTENT_GENERATION: &str = "registry_content_generation";
pub const QUEUE_JOBS: &str = "sync_queue_jobs";
pub const PROBE_RUNS: &str = "probe_runs_total";
pub const PROBE_DURATION: &str = "probe_duration_seconds";
pub const PROBE_TOOL_CHANGES: &str = "probe_tool_list_changes_total";
pub const PROBE_REMOTES: &str = "probe_remotes";
pub const PROBE_QUEUE_JOBS: &str = "probe_queue_jobs";
pub const QUEUE_OLDEST_AGE: &str = "sync_queue_oldest_pending_age_seconds";
pub const DB_POOL_CONNECTIONS: &str = "db_pool_connections";
pub const DB_POOL_MAX: &str = "db_pool_max_connections";
pub use registry_store::metrics::DB_POOL_ACQUIRE;
pub const BUILD_INFO: &str = "build_info";
pub const READY: &str = "registry_ready";
pub const READINESS_CHANGES: &str = "registry_readiness_changes_total";

/// Histogram buckets for durations, from a cached read (well under a millisecond) to a long sync.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder, once (later calls, as tests make, keep the first); returns whether
/// metrics are recorded.
pub fn install(enabled: bool) -> bool {
    HANDLE
        .get_or_init(|| {
            if !enabled {
                return None;
            }
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::error!(error = %e, "cannot install the metrics recorder"))
                .ok()?;
            describe();
            let build = crate::build_info::build_info();
            metrics::gauge!(BUILD_INFO, "version" => build.version, "commit" => build.git_commit).set(1.0);
            Some(handle)
        })
        .is_some()
}

/// The exposition, or none when metrics are off.
pub fn render() -> Option<String> {
    let handle = HANDLE.get()?.as_ref()?;
    handle.run_upkeep();
    Some(handle.render())
}

/// What a metric is, for its description.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric: its name, kind, unit and what it counts.
const DESCRIPTIONS: &[(&str, Kind, Option<Unit>, &str)] = &[
    (HTTP_REQUESTS, Kind::Counter, None, "HTTP requests answered, by matched route, method and status"),
    (
        HTTP_DURATION,
        Kind::Histogram,
        Some(Unit::Seconds),
        "HTTP request duration, by matched route and method",
    ),
    (HTTP_IN_FLIGHT, Kind::Gauge, None, "HTTP requests being answered now"),
    (
        CACHE_LOOKUPS,
        Kind::Counter,
        None,
        "Page cache lookups, by tier (memory, redis, mcp) and result (hit, miss, bypass)",
    ),
    (
        CACHE_EVICTIONS,
        Kind::Counter,
        None,
        "Pages evicted from the in-memory tier to stay within cache.memoryBytes",
    ),
    (CACHE_MEMORY_BYTES, Kind::Gauge, Some(Unit::Bytes), "Bytes of pages held by the in-memory tier"),
    (CACHE_REDIS_CIRCUIT_OPEN, Kind::Gauge, None, "1 while the Redis tier is skipped after failures, else 0"),
    (AUTH_VERIFICATIONS, Kind::Counter, None, "Bearer token verifications, by provider and outcome"),
    (AUTH_JWKS_REFRESHES, Kind::Counter, None, "JWKS fetches, by provider and outcome"),
    (
        PUBLISHER_TOKEN_EXCHANGES,
        Kind::Counter,
        None,
        "Registry token exchanges (/v0/auth/*), by method and outcome",
    ),
    (MCP_REQUESTS, Kind::Counter, None, "MCP requests to /mcp, by JSON-RPC method, tool and outcome"),
    (
        MCP_DURATION,
        Kind::Histogram,
        Some(Unit::Seconds),
        "MCP requests' durations, by JSON-RPC method and tool",
    ),
    (AUDIT_WRITE_FAILURES, Kind::Counter, None, "Audit events that could not be written to the audit file"),
    (SYNC_RUNS, Kind::Counter, None, "Syncs finished, by registry and outcome (written, unchanged, failed)"),
    (SYNC_DURATION, Kind::Histogram, Some(Unit::Seconds), "Sync duration, by registry"),
    (
        SYNC_LAST_SUCCESS,
        Kind::Gauge,
        Some(Unit::Seconds),
        "Unix time of the last successful sync, by scheduled registry (read at scrape time; absent before the first)",
    ),
    (
        SYNC_INTERVAL,
        Kind::Gauge,
        Some(Unit::Seconds),
        "The sync interval of each scheduled registry, as stored by the release step (read at scrape time)",
    ),
    (
        SYNC_SERVERS,
        Kind::Counter,
        None,
        "Server versions a sync inserted, updated, tombstoned or left unchanged",
    ),
    (
        SYNC_RETRIES,
        Kind::Counter,
        None,
        "Syncs whose next try was queued, with backoff, after a transient failure",
    ),
    (
        KUBERNETES_WATCHING,
        Kind::Gauge,
        None,
        "1 while this process watches the kubernetes registry's cluster, else 0",
    ),
    (
        KUBERNETES_EVENTS,
        Kind::Counter,
        None,
        "Kubernetes watch events, by registry and whether they changed anything",
    ),
    (
        CATALOGUE_VERSIONS,
        Kind::Gauge,
        None,
        "Stored server versions, by registry and status (read at scrape time)",
    ),
    (
        CONTENT_GENERATION,
        Kind::Gauge,
        None,
        "The content generation this replica keys its reads and ETags by, by registry",
    ),
    (QUEUE_JOBS, Kind::Gauge, None, "Sync jobs in the queue, by state (read at scrape time)"),
    (
        QUEUE_OLDEST_AGE,
        Kind::Gauge,
        Some(Unit::Seconds),
        "Age of the oldest sync job waiting to run (read at scrape time)",
    ),
    (PROBE_RUNS, Kind::Counter, None, "Probes of remote MCP servers, by registry and outcome"),
    (PROBE_DURATION, Kind::Histogram, Some(Unit::Seconds), "Time one probe of a remote took, by registry"),
    (
        PROBE_TOOL_CHANGES,
        Kind::Counter,
        None,
        "Probes that found a remote's tool list changed since its previous probe, by registry",
    ),
    (
        PROBE_REMOTES,
        Kind::Gauge,
        None,
        "Probed remotes, by registry and latest outcome (read at scrape time)",
    ),
    (PROBE_QUEUE_JOBS, Kind::Gauge, None, "Probe jobs in the queue, by state (read at scrape time)"),
    (DB_POOL_CONNECTIONS, Kind::Gauge, None, "Database pool connections, by pool and state (idle, in_use)"),
    (DB_POOL_MAX, Kind::Gauge, None, "Database pool size limit, by pool"),
    (DB_POOL_ACQUIRE, Kind::Histogram, Some(Unit::Seconds), "Time to get a connection from a database pool"),
    (RATE_LIMITED, Kind::Counter, None, "Requests refused with 429 by the rate limits, by class"),
    (
        RATE_LIMIT_BACKEND,
        Kind::Gauge,
        None,
        "Where the rate limits are counted: 1 on the backend in use (redis, or local while Redis is away)",
    ),
    (
        RATE_LIMIT_LOCAL_CLIENTS,
        Kind::Gauge,
        None,
        "Clients the local rate limiter remembers, all classes, after its last prune (every 30 s)",
    ),
    (BUILD_INFO, Kind::Gauge, None, "Always 1; the labels name the build"),
    (READY, Kind::Gauge, None, "1 when this process's last readiness check said ready, else 0"),
    (READINESS_CHANGES, Kind::Counter, None, "Times this process's readiness changed, counted at each check"),
];

fn describe() {
    for &(name, kind, unit, text) in DESCRIPTIONS {
        match (kind, unit) {
            (Kind::Counter, Some(unit)) => describe_counter!(name, unit, text),
            (Kind::Counter, None) => describe_counter!(name, text),
            (Kind::Gauge, Some(unit)) => describe_gauge!(name, unit, text),
            (Kind::Gauge, None) => describe_gauge!(name, text),
            (Kind::Histogram, Some(unit)) => describe_histogram!(name, unit, text),
            (Kind::Histogram, None) => describe_histogram!(name, text),
        }
    }
    // Counters without labels are exported from the start, so that a rate over them is 0, not nothing.
    metrics::counter!(CACHE_EVICTIONS).absolute(0);
    metrics::counter!(READINESS_CHANGES).absolute(0);
}

/// How often the values read from the database are read again at most; scrapes in between export the last.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Refreshes the gauges read from the database: stored versions per registry and status, each scheduled
/// registry's interval and last success, the sync queue by state with the oldest waiting job's age, the
/// probed remotes by outcome, the probe queue by state, and the read pool. Every replica exports the same catalogue and
/// queue values, so dashboards and alerts aggregate them with `max`, never `sum`.
pub async fn refresh_from(store: &registry_store::Store) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    {
        let Ok(mut last) = LAST.lock() else { return };
        if last.is_some_and(|at| at.elapsed() < REFRESH) {
            return;
        }
        *last = Some(std::time::Instant::now());
    }
    refresh_pool(store);
    refresh_catalogue(store).await;
    refresh_schedules(store).await;
    refresh_queue(store).await;
    refresh_probes(store).await;
}

fn label(key: &'static str, value: String) -> metrics::Label {
    metrics::Label::new(key, value)
}

fn refresh_pool(store: &registry_store::Store) {
    let pool = store.read_pool();
    // A pool never has more idle connections than it may open (a u32).
    let idle = u32::try_from(pool.idle).unwrap_or(u32::MAX);
    metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => "read", "state" => "idle").set(f64::from(idle));
    metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => "read", "state" => "in_use")
        .set(f64::from(pool.open.saturating_sub(idle)));
    metrics::gauge!(DB_POOL_MAX, "pool" => "read").set(f64::from(pool.max));
}

async fn refresh_catalogue(store: &registry_store::Store) {
    match store.version_counts().await {
        Ok(counts) => {
            let rows = counts.into_iter().map(|count| {
                let labels = vec![label("registry", count.registry), label("status", count.status)];
                (labels, count.versions as f64)
            });
            publish(CATALOGUE_VERSIONS, rows.collect(), 0.0);
        }
        Err(error) => tracing::warn!(error = %error, "metrics: cannot count the stored versions"),
    }
}

async fn refresh_schedules(store: &registry_store::Store) {
    let registries = match store.list_registries().await {
        Ok(registries) => registries,
        Err(error) => return tracing::warn!(error = %error, "metrics: cannot list the registries"),
    };
    let (mut intervals, mut successes) = (Vec::new(), Vec::new());
    for registry in registries {
        let Some(interval) = registry.sync_interval else { continue };
        let name = || vec![label("registry", registry.name.to_string())];
        intervals.push((name(), interval.as_secs_f64()));
        match store.sync_status(&registry.name).await {
            Ok(status) => {
                if let Some(at) = status.and_then(|status| status.last_success_at) {
                    successes.push((name(), at.timestamp() as f64));
                }
            }
            Err(error) => tracing::warn!(error = %error, "metrics: cannot read a sync status"),
        }
    }
    // A registry the release step removed matches no alert from then on.
    publish(SYNC_INTERVAL, intervals, f64::NAN);
    publish(SYNC_LAST_SUCCESS, successes, f64::NAN);
}

async fn refresh_queue(store: &registry_store::Store) {
    match store.queue_report().await {
        Ok(report) => {
            let rows = report
                .by_status
                .into_iter()
                .map(|(state, count)| (vec![label("state", state)], count as f64));
            publish(QUEUE_JOBS, rows.collect(), 0.0);
        }
        Err(error) => tracing::warn!(error = %error, "metrics: cannot read the sync queue"),
    }
    match store.oldest_pending_age().await {
        Ok(age) => metrics::gauge!(QUEUE_OLDEST_AGE).set(age.unwrap_or(0.0).max(0.0)),
        Err(error) => tracing::warn!(error = %error, "metrics: cannot read the sync queue's oldest job"),
    }
}

async fn refresh_probes(store: &registry_store::Store) {
    match store.probe_outcome_counts().await {
        Ok(counts) => {
            let rows = counts.into_iter().map(|(registry, outcome, count)| {
                (vec![label("registry", registry), label("outcome", outcome)], count as f64)
            });
            publish(PROBE_REMOTES, rows.collect(), 0.0);
        }
        Err(error) => tracing::warn!(error = %error, "metrics: cannot count the probed remotes"),
    }
    match store.jobs_by_status(registry_store::jobs::PROBE_QUEUE).await {
        Ok(by_status) => {
            let rows =
                by_status.into_iter().map(|(state, count)| (vec![label("state", state)], count as f64));
            publish(PROBE_QUEUE_JOBS, rows.collect(), 0.0);
        }
        Err(error) => tracing::warn!(error = %error, "metrics: cannot read the probe queue"),
    }
}

/// One row of a gauge read from the database: its labels and its value.
type Row = (Vec<metrics::Label>, f64);

/// Sets the gauge `name` for every row; the label sets the last refresh set and this one does not (a registry
/// removed, a queue state emptied) get `gone`, so that no value outlives what it measured.
fn publish(name: &'static str, rows: Vec<Row>, gone: f64) {
    static LAST: std::sync::Mutex<std::collections::BTreeMap<&str, Vec<Vec<metrics::Label>>>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let Ok(mut last) = LAST.lock() else { return };
    let now: Vec<_> = rows.iter().map(|(labels, _)| labels.clone()).collect();
    for labels in last.get(name).into_iter().flatten().filter(|labels| !now.contains(labels)) {
        metrics::gauge!(name, labels.clone()).set(gone);
    }
    for (labels, value) in rows {
        metrics::gauge!(name, labels).set(value);
    }
    last.insert(name, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_set_the_database_no_longer_has_is_set_to_gone() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let registry = |name: &str| vec![metrics::Label::new("registry", name.to_owned())];
        metrics::with_local_recorder(&recorder, || {
            publish(
                "test_gauge_interval",
                vec![(registry("kept"), 60.0), (registry("removed"), 3600.0)],
                f64::NAN,
            );
            publish("test_gauge_interval", vec![(registry("kept"), 120.0)], f64::NAN);
        });
        let text = handle.render();
        assert!(text.contains("test_gauge_interval{registry=\"kept\"} 120"), "{text}");
        assert!(text.contains("test_gauge_interval{registry=\"removed\"} NaN"), "{text}");
    }
}
