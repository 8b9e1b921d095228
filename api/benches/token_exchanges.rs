//! What `mcp-publisher login` costs the registry: each token exchange over loopback HTTP, one at a time, with
//! its protocol partner on 127.0.0.1 (a UDP DNS server for `dns`, an HTTPS site under a test CA for `http`,
//! a GitHub Actions issuer for `github-oidc`), beside `none`, which calls nothing, as the reference. The
//! request bodies are signed before the clock starts. Prints a Markdown table (see docs/benchmarks.md).
//!
//! `cargo bench -p registry-api --bench token_exchanges`
#![expect(clippy::unwrap_used, reason = "a benchmark stops at the first unexpected error")]
#![expect(clippy::print_stdout, reason = "the report is the benchmark's output")]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_api::Application;
use registry_runtime::config::Config;
use registry_testkit::oidc::MockProvider;
use registry_testkit::proofs::{DnsZone, ProofFile, ProofSite, Prover, TestCa};
use serde_json::{Value, json};

/// Exchanges per method, after a tenth as many to warm up.
const EXCHANGES: usize = 1_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let prover = Prover::ed25519(7);
    let zone = DnsZone::start().await;
    zone.add_txt("example.com", &[&prover.record()]);
    let ca = TestCa::for_names(&["example.com"]);
    let site = ProofSite::start(&ca, ProofFile::Text(prover.record())).await;
    std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
    let actions = MockProvider::start().await;
    let claims = actions.claims(
        "mcp-registry",
        json!({"repository_owner": "acme", "sub": "repo:acme/tools:ref:refs/heads/main"}),
    );
    let actions_token = actions.sign("rsa-1", "RS256", json!({"typ": "JWT"}), &claims);

    let yaml = format!(
        "registries: [{{name: internal, managed: {{}}}}]\ndatabase: {{path: '{db}'}}\nauth:\n  mode: anonymous\n  \
         publisherTokens:\n    methods:\n      none: {{enabled: true}}\n      dns: {{nameserver: '{ns}'}}\n      \
         http: {{caCertPath: '{ca}', allowPrivateIP: true}}\n      githubOidc: {{issuer: '{issuer}', allowPrivateIP: true}}\n",
        db = dir.path().join("bench.db").display(),
        ns = zone.address,
        ca = dir.path().join("ca.pem").display(),
        issuer = actions.issuer,
    );
    let config = Config::from_yaml(&yaml, []).unwrap();
    let hosts = Arc::new(HashMap::from([("example.com".to_owned(), vec![site.address])]));
    let application =
        Application::build_with_hosts(config, "127.0.0.1:0".parse().unwrap(), hosts).await.unwrap();
    let base = format!("http://{}", application.local_addr().unwrap());
    tokio::spawn(application.run_until(std::future::pending()));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    println!("## Token exchanges over loopback HTTP ({EXCHANGES} each, keep-alive, one at a time)\n");
    println!("| method | what it calls | exchanges | p50 µs | p99 µs | mean µs |\n|---|---|---|---|---|---|");
    let cases = [
        ("none", "nothing (the reference)"),
        ("dns", "one TXT lookup (UDP), Ed25519"),
        ("http", "one HTTPS GET (a kept-alive connection), Ed25519"),
        ("github-oidc", "nothing (key set loaded), RS256"),
    ];
    // Each exchange's body, signed now.
    let body = |method: &str| -> Option<Value> {
        match method {
            "dns" | "http" => Some(prover.body("example.com")),
            "github-oidc" => Some(json!({"oidc_token": actions_token})),
            _ => None,
        }
    };
    for (method, calls) in cases {
        let url = format!("{base}/v0/auth/{method}");
        let mut took = Vec::with_capacity(EXCHANGES);
        for round in 0..EXCHANGES + EXCHANGES / 10 {
            let request = match body(method) {
                Some(body) => client.post(&url).json(&body),
                None => client.post(&url),
            };
            let started = Instant::now();
            let reply = request.send().await.unwrap();
            let status = reply.status();
            reply.bytes().await.unwrap();
            if round >= EXCHANGES / 10 {
                took.push(started.elapsed());
            }
            assert_eq!(status, 200, "{method}");
        }
        took.sort_unstable();
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let mean = took.iter().map(|d| micros(*d)).sum::<f64>() / took.len() as f64;
        println!(
            "| {method} | {calls} | {EXCHANGES} | {:.0} | {:.0} | {mean:.0} |",
            micros(took[EXCHANGES / 2]),
            micros(took[EXCHANGES * 99 / 100])
        );
    }
}
