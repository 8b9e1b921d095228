//! `tracing`: the OTLP exporter's endpoint, timeout and sampling.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Check;
use crate::config::{OtlpConfig, TracingConfig};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTracing {
    otlp: Option<RawOtlp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOtlp {
    endpoint: Option<String>,
    timeout: Option<String>,
    sample_ratio: Option<Ratio>,
}

/// A number, in the file; text, from an environment override (which types only integers and flags).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ratio {
    Number(f64),
    Text(String),
}

pub(super) fn tracing(check: &mut Check, value: Option<Value>) -> Option<TracingConfig> {
    let Some(value) = value else { return Some(TracingConfig::default()) };
    let raw: RawTracing = check.section("tracing", value)?;
    let Some(otlp) = raw.otlp else { return Some(TracingConfig::default()) };
    if !cfg!(feature = "otlp") {
        check.fail(
            "tracing.otlp",
            "this build has no OTLP export: build with the otlp feature (cargo build --release --features registry-runtime/otlp)",
        );
        return None;
    }
    let endpoint = check.required("tracing.otlp.endpoint", otlp.endpoint.as_deref());
    let endpoint = endpoint.and_then(|raw| check.url("tracing.otlp.endpoint", raw, &["http", "https"]));
    let timeout =
        check.duration("tracing.otlp.timeout", otlp.timeout.as_deref(), Some(Duration::from_secs(10)));
    let sample_ratio = match otlp.sample_ratio {
        None => 1.0,
        Some(Ratio::Number(ratio)) => ratio,
        Some(Ratio::Text(text)) => text.trim().parse().unwrap_or(f64::NAN),
    };
    if !(0.0..=1.0).contains(&sample_ratio) {
        check.fail("tracing.otlp.sampleRatio", "is not a number from 0 to 1");
        return None;
    }
    Some(TracingConfig { otlp: Some(OtlpConfig { endpoint: endpoint?, timeout: timeout?, sample_ratio }) })
}
