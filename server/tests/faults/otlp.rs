//! OTLP trace export (built with the `otlp` feature): a collector on loopback, speaking OTLP/HTTP with
//! protobuf bodies as the OpenTelemetry Collector does, receives the spans of a request and of the sync it
//! asked for, under the process's service name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;

use crate::support::*;

/// A span as received: its service's name, its own name, and its attributes as text.
struct Received {
    service: String,
    name: String,
    attributes: Vec<(String, String)>,
}

/// A collector's traces endpoint on 127.0.0.1: every export it took, decoded.
struct Collector {
    endpoint: String,
    exports: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

impl Collector {
    async fn start() -> Self {
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = exports.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let kept = kept.clone();
                async move {
                    assert_eq!(headers["content-type"], "application/x-protobuf");
                    kept.lock().unwrap().push(ExportTraceServiceRequest::decode(body).unwrap());
                    // An empty ExportTraceServiceResponse: everything was accepted.
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { endpoint, exports }
    }

    /// Every span received.
    fn spans(&self) -> Vec<Received> {
        let exports = self.exports.lock().unwrap();
        let resources = exports.iter().flat_map(|export| export.resource_spans.iter());
        resources
            .flat_map(|resource| {
                let attributes = resource.resource.as_ref().map(|r| text(&r.attributes)).unwrap_or_default();
                let service = attributes.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone());
                let spans = resource.scope_spans.iter().flat_map(|scope| scope.spans.iter());
                let service = service.unwrap_or_default();
                spans
                    .map(move |span| Received {
                        service: service.clone(),
                        name: span.name.clone(),
                        attributes: text(&span.attributes),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn text(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let value = |value: &Option<AnyValue>| match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    attributes.iter().map(|kv| (kv.key.clone(), value(&kv.value))).collect()
}

fn has(attributes: &[(String, String)], key: &str, value: &str) -> bool {
    attributes.iter().any(|(k, v)| k == key && v == value)
}

/// `registry-api serve` exporting to `collector`, with the SDK's batch delay (5 s by default) set to
/// `delay_ms`: the process, once ready, and its base URL.
async fn spawn_exporting(collector: &Collector, dir: &std::path::Path, delay_ms: &str) -> (Process, String) {
    let catalogue = catalogue(dir, 3);
    let config = write_config(
        dir,
        "registry.yaml",
        &format!(
            "registries:\n  - {{name: files, file: {{path: '{}'}}, syncPolicy: {{interval: 1h}}}}\n\
             auth: {{mode: anonymous}}\ndatabase: {{path: '{}'}}\nworker: {{dataDir: '{}'}}\n\
             tracing: {{otlp: {{endpoint: '{}', timeout: 5s}}}}\nshutdown: {{drain: 0s, grace: 5s}}\n",
            catalogue.display(),
            dir.join("registry.db").display(),
            dir.display(),
            collector.endpoint
        ),
    );
    let port = registry_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let api = binary("registry-api");
    let mut command = std::process::Command::new(api);
    command
        .args(["serve", "--config", config.to_str().unwrap(), "--address", &format!("127.0.0.1:{port}")])
        .env("OTEL_BSP_SCHEDULE_DELAY", delay_ms);
    let process = Process::spawn_with(&mut command, dir, "registry-api");
    until_ready(&base).await;
    (process, base)
}

fn has_request_span(collector: &Collector, request_id: &str) -> bool {
    collector.spans().iter().any(|span| {
        span.service == "registry-api"
            && span.name == "request"
            && has(&span.attributes, "http.route", "/v0.1/servers")
            && has(&span.attributes, "request.id", request_id)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spans_of_a_request_and_of_the_sync_it_asked_for_reach_an_otlp_collector() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A short batch delay, so that the test need not wait 5 s for the export.
    let (process, base) = spawn_exporting(&collector, dir.path(), "100").await;
    // The start-up sync first: a sync asked for while it runs joins it, under its own request id.
    until("the first sync", Duration::from_secs(30), || async { process.logs().contains("sync done") }).await;

    let listed =
        client().get(format!("{base}/v0.1/servers")).header("x-request-id", "otlp-list").send().await;
    assert_eq!(listed.unwrap().status(), 200);
    assert_eq!(ask_sync(&base, "files", "otlp-sync").await, 202);

    until("the collector has both spans", Duration::from_secs(30), || async {
        let request = has_request_span(&collector, "otlp-list");
        let sync = collector.spans().iter().any(|span| {
            span.name == "sync"
                && has(&span.attributes, "registry.name", "files")
                && has(&span.attributes, "request.id", "otlp-sync")
        });
        request && sync
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_spans_are_exported_when_the_process_stops() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A batch delay longer than the test: only the flush at shutdown can export the span.
    let (mut process, base) = spawn_exporting(&collector, dir.path(), "600000").await;
    let listed =
        client().get(format!("{base}/v0.1/servers")).header("x-request-id", "otlp-last").send().await;
    assert_eq!(listed.unwrap().status(), 200);
    assert!(!has_request_span(&collector, "otlp-last"), "exported before the stop");

    process.terminate();
    assert_eq!(process.exit_within(Duration::from_secs(30)), Some(Some(0)), "{}", process.logs());
    assert!(has_request_span(&collector, "otlp-last"), "the request's span was flushed at the stop");
}
