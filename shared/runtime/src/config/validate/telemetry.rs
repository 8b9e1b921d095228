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

/// Whether this build can export traces (the crate's `otlp` feature).
const EXPORT_BUILT: bool = cfg!(feature = "otlp");

pub(super) fn tracing(check: &mut Check, value: Option<Value>) -> Option<TracingConfig> {
    tracing_of_build(check, value, EXPORT_BUILT)
}

/// The section as a build with or without the export reads it: one without refuses `tracing.otlp` by name.
/// Both halves are tested in every build, so the suite needs no second build without the feature.
fn tracing_of_build(check: &mut Check, value: Option<Value>, export_built: bool) -> Option<TracingConfig> {
    let Some(value) = value else { return Some(TracingConfig::default()) };
    let raw: RawTracing = check.section("tracing", value)?;
    let Some(otlp) = raw.otlp else { return Some(TracingConfig::default()) };
    if !export_built {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(value: Option<Value>, export_built: bool) -> (Option<TracingConfig>, Vec<String>) {
        let mut check = Check { problems: Vec::new() };
        let tracing = tracing_of_build(&mut check, value, export_built);
        (tracing, check.problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn otlp_export_in_a_build_without_it_is_refused_by_name() {
        let configured = json!({"otlp": {"endpoint": "http://collector:4318/v1/traces"}});
        assert_eq!(
            read(Some(configured), false),
            (
                None,
                vec![
                    "tracing.otlp: this build has no OTLP export: build with the otlp feature (cargo build --release --features registry-runtime/otlp)"
                        .to_owned()
                ]
            )
        );
        assert_eq!(
            read(None, false),
            (Some(TracingConfig::default()), Vec::new()),
            "nothing asked, nothing refused"
        );
        assert_eq!(read(Some(json!({})), false), (Some(TracingConfig::default()), Vec::new()));
    }
}
