//! `tracing`: where the spans of requests and syncs go besides the logs.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use registry_core::duration::humantime_serde;

/// Trace export. Without `otlp`, spans only shape the log lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OtlpConfig>,
}

/// OpenTelemetry export over OTLP/HTTP with protobuf bodies (builds with the `otlp` feature only).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpConfig {
    /// The collector's traces URL, as is: `http://collector:4318/v1/traces`.
    pub endpoint: Url,
    /// How long one export may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The share of traces kept, from 0 to 1; a request inside a sampled trace is always kept.
    pub sample_ratio: f64,
}
