//! What oauth mode costs per request, with the key set loaded: `Authenticator::authenticate` on RS256 and
//! ES256 tokens it has not seen (the full check) and has seen (remembered for up to 60 s), and on a cached
//! opaque token, beside the signature check alone as the reference; then one read over loopback HTTP in
//! anonymous and in oauth mode, in the same run. Prints a Markdown report (see docs/benchmarks.md).
//!
//! `cargo bench -p registry-api --bench token_verification`
#![expect(clippy::unwrap_used, reason = "a benchmark stops at the first unexpected error")]
#![expect(clippy::print_stdout, reason = "the report is the benchmark's output")]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use openidconnect::JsonWebKey;
use openidconnect::core::CoreJsonWebKeySet;
use registry_api::Application;
use registry_api::auth::Authenticator;
use registry_api::auth::jwt;
use registry_runtime::config::{Config, SigningAlgorithm};
use registry_testkit::oidc::MockProvider;
use serde_json::json;

const AUDIENCE: &str = "https://registry.bench";
/// Calls per in-process case with one token, per case with a new token each call, and requests per HTTP
/// case.
const CALLS: usize = 20_000;
const FRESH: usize = 2_000;
const REQUESTS: usize = 3_000;

fn config(mock: &MockProvider, dir: &std::path::Path, oauth: bool) -> Config {
    std::fs::write(dir.join("secret"), "bench").unwrap();
    let auth = if oauth {
        format!(
            "auth:\n  oauth:\n    resourceUrl: {AUDIENCE}\n    providers:\n      - {{name: bench, issuerUrl: '{issuer}', \
             audience: '{AUDIENCE}', allowPrivateIP: true, introspectionUrl: '{issuer}/introspect', clientId: bench, \
             clientSecretFile: '{secret}'}}\n",
            issuer = mock.issuer,
            secret = dir.join("secret").display()
        )
    } else {
        "auth: {mode: anonymous}\n".to_owned()
    };
    let yaml = format!(
        "registries:\n  - {{name: internal, managed: {{}}}}\ndatabase: {{path: '{}'}}\n{auth}",
        dir.join(if oauth { "oauth.db" } else { "anonymous.db" }).display()
    );
    Config::from_yaml(&yaml, []).unwrap()
}

/// p50, p99 and mean of `calls` runs of `run`, in microseconds, after `calls / 10` runs to warm up.
async fn measure<F: Future<Output = ()>>(calls: usize, mut run: impl FnMut() -> F) -> [f64; 3] {
    for _ in 0..calls / 10 {
        run().await;
    }
    let mut took: Vec<Duration> = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        run().await;
        took.push(started.elapsed());
    }
    took.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = took.iter().map(|d| micros(*d)).sum::<f64>() / calls as f64;
    [micros(took[calls / 2]), micros(took[calls * 99 / 100]), mean]
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    headers
}

fn row(case: &str, calls: usize, [p50, p99, mean]: [f64; 3]) {
    println!("| {case} | {calls} | {p50:.1} | {p99:.1} | {mean:.1} |");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mock = MockProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let oauth = config(&mock, dir.path(), true);
    let authenticator = Arc::new(Authenticator::new(oauth.auth.oauth.as_ref().unwrap()).unwrap());
    tokio::spawn(authenticator.keep_keys_fresh());
    let rs256 = mock.token(AUDIENCE, json!({}));
    let es256 = mock.sign("ec-1", "ES256", json!({}), &mock.claims(AUDIENCE, json!({})));
    let exp = chrono::Utc::now().timestamp() + 3600;
    mock.set(|b| {
        b.opaque.insert(
            "opaque-bench".into(),
            json!({"iss": mock.issuer, "aud": AUDIENCE, "exp": exp, "sub": "s"}),
        );
    });
    let repeated = [
        ("RS256 JWT, seen before", bearer(&rs256)),
        ("ES256 JWT, seen before", bearer(&es256)),
        ("opaque, introspection cached", bearer("opaque-bench")),
    ];
    for (case, headers) in &repeated {
        // The first call waits for the key set and fills the caches.
        assert!(authenticator.authenticate(headers).await.is_ok(), "{case}");
    }
    let keys: CoreJsonWebKeySet =
        reqwest::get(format!("{}/jwks", mock.issuer)).await.unwrap().json().await.unwrap();
    let rsa_key =
        keys.keys().iter().find(|k| k.key_id().is_some_and(|id| id.as_str() == "rsa-1")).unwrap().clone();
    // Distinct tokens (by `jti`), enough for the warm-up and the measured calls.
    let unseen = |kid: &str, alg: &str| -> Vec<HeaderMap> {
        (0..FRESH + FRESH / 10)
            .map(|n| bearer(&mock.sign(kid, alg, json!({}), &mock.claims(AUDIENCE, json!({"jti": n})))))
            .collect()
    };
    let first_seen = [
        ("RS256 JWT, first seen (2048-bit key)", unseen("rsa-1", "RS256")),
        ("ES256 JWT, first seen", unseen("ec-1", "ES256")),
    ];
    let authenticator = &*authenticator;

    println!("## Token verification, in process\n");
    println!("| case | calls | p50 µs | p99 µs | mean µs |\n|---|---|---|---|---|");
    row(
        "reference: RS256 signature check alone",
        CALLS,
        measure(CALLS, || async {
            jwt::parse(&rs256).unwrap().verify_signature(&rsa_key, SigningAlgorithm::RS256).unwrap();
        })
        .await,
    );
    for (case, tokens) in &first_seen {
        let mut tokens = tokens.iter();
        let timings = measure(FRESH, move || {
            let headers = tokens.next().unwrap();
            async move { assert!(authenticator.authenticate(headers).await.is_ok()) }
        });
        row(case, FRESH, timings.await);
    }
    for (case, headers) in &repeated {
        let timings = measure(CALLS, || async { assert!(authenticator.authenticate(headers).await.is_ok()) });
        row(case, CALLS, timings.await);
    }

    println!("\n## One read over loopback HTTP ({REQUESTS} requests each, keep-alive, one at a time)\n");
    println!("| mode | requests | p50 µs | p99 µs | mean µs |\n|---|---|---|---|---|");
    let anonymous = config(&mock, dir.path(), false);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for (mode, config, token) in [
        ("anonymous", anonymous, None),
        ("oauth, RS256 token", oauth.clone(), Some(&rs256)),
        ("oauth, ES256 token", oauth, Some(&es256)),
    ] {
        let application = Application::build(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!(
            "http://{}/v0.1/servers/io.example%2Fnone/versions/1.0.0",
            application.local_addr().unwrap()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async move {
            stopped.await.ok();
        }));
        let get = || {
            let request = client.get(&url);
            let request = match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            async move { assert_eq!(request.send().await.unwrap().status(), 404) }
        };
        row(mode, REQUESTS, measure(REQUESTS, get).await);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
