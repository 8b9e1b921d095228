//! Log output for every binary: JSON lines by default (for log pipelines), `LOG_FORMAT=text` for people.
//! `RUST_LOG` sets the levels; without it, `default_level` applies. Built with the `otlp` feature, the spans
//! (a request's, a sync's) are also exported over OTLP/HTTP when `tracing.otlp` is configured.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::TracingConfig;

/// Logs only, for the short-lived CLI.
pub fn init(default_level: &str) {
    drop(init_with(default_level, "registry-admin", &TracingConfig::default()));
}

/// Logs, and the trace export of `tracing` for the process `service`; the export ends, flushed, when the
/// returned guard is dropped. Call it before any async runtime starts: the exporter's client has its own.
pub fn init_with(default_level: &str, service: &'static str, tracing: &TracingConfig) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = if std::env::var("LOG_FORMAT").is_ok_and(|format| format == "text") {
        fmt.boxed()
    } else {
        fmt.json().flatten_event(true).with_current_span(true).with_span_list(false).boxed()
    };
    let (telemetry, export) = Telemetry::start(service, tracing);
    tracing_subscriber::registry().with(filter).with(fmt).with(export).init();
    if let Some(error) = &telemetry.error {
        tracing::error!(error = %error, "cannot export traces over OTLP; logging only");
    }
    telemetry
}

#[cfg(feature = "otlp")]
pub use otlp::Telemetry;

#[cfg(not(feature = "otlp"))]
pub use off::Telemetry;

#[cfg(not(feature = "otlp"))]
mod off {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::Identity;

    use crate::config::TracingConfig;

    /// Nothing to flush: this build exports no traces (configuration refuses `tracing.otlp`).
    pub struct Telemetry {
        pub(super) error: Option<String>,
    }

    impl Telemetry {
        pub(super) fn start<S: tracing::Subscriber>(
            _service: &'static str,
            _tracing: &TracingConfig,
        ) -> (Self, impl Layer<S>) {
            (Self { error: None }, Identity::new())
        }
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::Layer;
    use tracing_subscriber::registry::LookupSpan;

    use crate::config::{OtlpConfig, TracingConfig};

    /// The tracer provider, shut down (its last spans exported) on drop.
    pub struct Telemetry {
        provider: Option<SdkTracerProvider>,
        pub(super) error: Option<String>,
    }

    impl Telemetry {
        pub(super) fn start<S>(
            service: &'static str,
            tracing: &TracingConfig,
        ) -> (Self, Option<impl Layer<S>>)
        where
            S: tracing::Subscriber + for<'span> LookupSpan<'span>,
        {
            let Some(otlp) = &tracing.otlp else { return (Self { provider: None, error: None }, None) };
            match provider(service, otlp) {
                Ok(provider) => {
                    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
                    (Self { provider: Some(provider), error: None }, Some(layer))
                }
                Err(error) => (Self { provider: None, error: Some(error) }, None),
            }
        }
    }

    impl Drop for Telemetry {
        fn drop(&mut self) {
            if let Some(provider) = self.provider.take()
                && let Err(error) = provider.shutdown()
            {
                eprintln!("the last traces were not exported: {error}");
            }
        }
    }

    /// Batches spans to the collector at `otlp.endpoint`, over reqwest's blocking client (rustls with ring,
    /// no proxy, `otlp.timeout` per export), sampling `otlp.sampleRatio` of new traces.
    fn provider(service: &'static str, otlp: &OtlpConfig) -> Result<SdkTracerProvider, String> {
        if rustls::crypto::ring::default_provider().install_default().is_err() {
            // Installed already.
        }
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .connect_timeout(otlp.timeout)
            .timeout(otlp.timeout)
            .build()
            .map_err(|e| format!("the OTLP client: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(otlp.endpoint.as_str())
            .with_timeout(otlp.timeout)
            .build()
            .map_err(|e| format!("tracing.otlp: {e}"))?;
        let build = crate::build_info::build_info();
        let resource = Resource::builder_empty()
            .with_service_name(service)
            .with_attribute(opentelemetry::KeyValue::new("service.version", build.version))
            .build();
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(otlp.sample_ratio))))
            .with_resource(resource)
            .build())
    }
}
