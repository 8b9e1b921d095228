//! `tracing.otlp`, read and checked in a build that exports traces (a build without the export refuses it by
//! name: tested in `validate/telemetry.rs`, in every build).

use super::*;

#[test]
fn otlp_export_reads_its_endpoint_timeout_and_ratio_and_names_bad_ones() {
    let config = Config::from_yaml(
        &format!("{MINIMAL}tracing: {{otlp: {{endpoint: 'http://collector:4318/v1/traces'}}}}\n"),
        env(&[("REGISTRY_TRACING__OTLP__SAMPLE_RATIO", "0.25")]),
    )
    .unwrap();
    let otlp = config.tracing.otlp.unwrap();
    assert_eq!(otlp.endpoint.as_str(), "http://collector:4318/v1/traces");
    assert_eq!((otlp.timeout, otlp.sample_ratio), (Duration::from_secs(10), 0.25));
    assert_eq!(Config::from_yaml(MINIMAL, no_env()).unwrap().tracing.otlp, None, "off unless configured");

    let bad =
        format!("{MINIMAL}tracing: {{otlp: {{endpoint: 'collector:4318', sampleRatio: 2, timeout: 0s}}}}\n");
    assert_eq!(
        problems(&bad),
        [
            "tracing.otlp.endpoint: \"collector:4318\" is not an absolute http or https URL",
            "tracing.otlp.timeout: must be longer than zero",
            "tracing.otlp.sampleRatio: is not a number from 0 to 1",
        ]
    );
    assert_eq!(
        problems(&format!("{MINIMAL}tracing: {{otlp: {{}}}}\n")),
        ["tracing.otlp.endpoint: is required"]
    );
}
