//! Each token exchange that calls out, against real protocol partners on 127.0.0.1: a DNS server for
//! `dns`, an HTTPS site under a test CA for `http`, a GitHub Actions issuer for `github-oidc` and GitHub's
//! REST API for `github-at`. Each case checks the status and what the refusal says.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use registry_runtime::config::{
    AuthConfig, DnsMethod, GithubAtMethod, GithubOidcMethod, HttpMethod, Outbound, PublisherMethods,
};
use registry_testkit::oidc::MockProvider;
use registry_testkit::proofs::{DnsZone, GithubAccount, GithubStandIn, ProofFile, ProofSite, Prover, TestCa};
use registry_testkit::*;
use serde_json::{Value, json};

use crate::auth::app_with;
use crate::helpers::*;
use crate::publisher::{Publisher, actions_token, publisher_tokens};

/// Anonymous mode with registry tokens whose methods are `methods`.
fn auth(dir: &std::path::Path, methods: PublisherMethods) -> AuthConfig {
    let mut tokens = publisher_tokens(dir, Duration::from_secs(300));
    tokens.methods = methods;
    AuthConfig {
        mode: registry_runtime::config::AuthMode::Anonymous,
        public_paths: Vec::new(),
        public_reads: false,
        oauth: None,
        authz: None,
        publisher_tokens: Some(tokens),
    }
}

async fn exchange(app: &TestApp, method: &str, body: &Value) -> Reply {
    Publisher { app, token: None }.login(method, body).await
}

fn detail(reply: &Reply, status: u16) -> String {
    reply.problem(status)["detail"].as_str().unwrap().to_owned()
}

/// The claims of the registry token an exchange answered.
fn claims(reply: &Reply) -> Value {
    use base64::Engine as _;
    let token = reply.body["registry_token"].as_str().unwrap_or_else(|| panic!("no token: {}", reply.body));
    let claims = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

fn permissions(reply: &Reply) -> Value {
    claims(reply)["permissions"].clone()
}

#[tokio::test]
async fn dns_proofs_take_ed25519_and_p384_keys_and_refusals_say_what_failed() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let zone = DnsZone::start().await;
    let methods = PublisherMethods {
        dns: Some(DnsMethod { nameserver: Some(zone.address), timeout: Duration::from_secs(1) }),
        ..PublisherMethods::default()
    };
    let app = app_with(&test, auth(dir.path(), methods)).await;

    // A P-384 key whose signature, written as the CLI writes it, is 95 bytes; the record split into two
    // strings, as a long TXT record is, beside another site's record.
    let timestamp = chrono::Utc::now();
    let p384 = Prover::p384_with_short_signature(&timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let record = p384.record();
    let (first, second) = record.split_at(40);
    zone.add_txt("example.org", &["google-site-verification=abc"]);
    zone.add_txt("example.org", &[first, second]);
    let body = p384.body_at("example.org", timestamp);
    assert_eq!(body["signed_timestamp"].as_str().unwrap().len(), 190, "95 bytes in hex");
    let granted = exchange(&app, "dns", &body).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(
        permissions(&granted),
        json!([{"action": "publish", "resource": "org.example/*"}, {"action": "publish", "resource": "org.example.*"}])
    );
    assert_eq!(claims(&granted)["auth_method_sub"], "example.org");
    let cli = Publisher { app: &app, token: granted.body["registry_token"].as_str().map(str::to_owned) };
    assert_eq!(cli.publish(&server_json("org.example.api/tool", "1.0.0")).await.status, 201);

    // A key that does not match: the refusal lists the fingerprints found.
    zone.add_txt("example.net", &[&Prover::ed25519(1).record()]);
    let refused = exchange(&app, "dns", &Prover::ed25519(2).body("example.net")).await;
    let fingerprint = &Prover::ed25519(1).record()["v=MCPv1; k=ed25519; p=".len()..][..8];
    assert!(detail(&refused, 401).contains(&format!("(ed25519:{fingerprint})")), "{}", refused.body);

    // The key published now counts at once: nothing is cached.
    zone.add_txt("example.net", &[&Prover::ed25519(2).record()]);
    assert_eq!(exchange(&app, "dns", &Prover::ed25519(2).body("example.net")).await.status, 200);

    // The record at _mcp-auth. only: the refusal says where it is.
    zone.add_txt("_mcp-auth.example.info", &[&Prover::ed25519(3).record()]);
    let misplaced = detail(&exchange(&app, "dns", &Prover::ed25519(3).body("example.info")).await, 401);
    assert!(misplaced.contains("no v=MCPv1 key record at the TXT records of example.info"), "{misplaced}");
    assert!(misplaced.contains("a v=MCPv1 record is at _mcp-auth.example.info"), "{misplaced}");

    // A skewed timestamp: the skew in seconds.
    let skewed =
        Prover::ed25519(1).body_at("example.net", chrono::Utc::now() - chrono::Duration::seconds(60));
    let skew = detail(&exchange(&app, "dns", &skewed).await, 401);
    assert!(skew.contains("s behind this registry's clock"), "{skew}");

    // Not domains: 400.
    for domain in ["127.0.0.1", "localhost", "bad_label.example.com"] {
        exchange(&app, "dns", &Prover::ed25519(1).body(domain)).await.problem(400);
    }

    // A nameserver slower than the timeout (1 s): refused in time, saying so.
    zone.set_delay(Some(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let slow = detail(&exchange(&app, "dns", &Prover::ed25519(1).body("example.net")).await, 401);
    assert!(slow.contains("took longer than 1 s"), "{slow}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    test.cleanup().await;
}

/// The `http` method's settings for a site under `ca`, and the registry's host table sending `domain` to it.
fn http_method(dir: &std::path::Path, ca: &TestCa, allow_private_ip: bool) -> PublisherMethods {
    let ca_file = dir.join("test-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    PublisherMethods {
        http: Some(HttpMethod {
            timeout: Duration::from_secs(5),
            outbound: Outbound { ca_cert_path: Some(ca_file), allow_private_ip },
        }),
        ..PublisherMethods::default()
    }
}

#[tokio::test]
async fn http_proofs_read_the_well_known_file_over_https_and_never_follow_redirects_or_reach_private_addresses()
 {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::for_names(&["example.com", "elsewhere.example"]);
    let prover = Prover::ed25519(5);
    let site = ProofSite::start(&ca, ProofFile::Text(format!("{}\n", prover.record()))).await;
    let elsewhere = ProofSite::start(&ca, ProofFile::Text(prover.record())).await;
    let hosts = Arc::new(HashMap::from([
        ("example.com".to_owned(), vec![site.address]),
        ("elsewhere.example".to_owned(), vec![elsewhere.address]),
    ]));
    let config = |allow_private_ip| registry_runtime::config::Config {
        auth: auth(dir.path(), http_method(dir.path(), &ca, allow_private_ip)),
        ..test_config(test.config.clone(), vec![managed_registry("internal")])
    };
    let app = spawn_with_hosts(&test, config(true), hosts.clone()).await;

    let granted = exchange(&app, "http", &prover.body("example.com")).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(permissions(&granted), json!([{"action": "publish", "resource": "com.example/*"}]));
    let cli = Publisher { app: &app, token: granted.body["registry_token"].as_str().map(str::to_owned) };
    assert_eq!(cli.publish(&server_json("com.example/tool", "1.0.0")).await.status, 201);
    assert_eq!(
        cli.publish(&server_json("com.example.api/tool", "1.0.0")).await.status,
        403,
        "http grants /* only"
    );

    // A redirect is not followed: the second site is never asked.
    site.set(ProofFile::Redirect(format!(
        "https://elsewhere.example:{}/.well-known/mcp-registry-auth",
        elsewhere.address.port()
    )));
    let redirected = detail(&exchange(&app, "http", &prover.body("example.com")).await, 401);
    assert!(redirected.contains("it redirects (302"), "{redirected}");
    assert_eq!(elsewhere.hits(), 0);

    // No file.
    site.set(ProofFile::Missing);
    let missing = detail(&exchange(&app, "http", &prover.body("example.com")).await, 401);
    assert!(missing.contains("the server answered 404 Not Found"), "{missing}");

    // A file over 4,096 bytes.
    site.set(ProofFile::Text(format!("{}\n{}", prover.record(), "#".repeat(5 * 1024))));
    let large = detail(&exchange(&app, "http", &prover.body("example.com")).await, 401);
    assert!(large.contains("over 4096 bytes"), "{large}");

    // Without allowPrivateIP, 127.0.0.1 is refused before any request is made.
    site.set(ProofFile::Text(prover.record()));
    let hits = site.hits();
    let guarded = spawn_with_hosts(&test, config(false), hosts).await;
    let private = detail(&exchange(&guarded, "http", &prover.body("example.com")).await, 401);
    assert!(private.contains("private or loopback address"), "{private}");
    assert_eq!(site.hits(), hits);
    test.cleanup().await;
}

fn github_oidc(actions: &MockProvider, owners: &[&str]) -> PublisherMethods {
    PublisherMethods {
        github_oidc: Some(GithubOidcMethod {
            issuer: actions.issuer.clone(),
            jwks_url: None,
            audiences: vec!["mcp-registry".into(), "https://registry.test".into()],
            allowed_owners: owners.iter().map(|o| (*o).to_owned()).collect(),
            allowed_repositories: Vec::new(),
            outbound: Outbound { ca_cert_path: None, allow_private_ip: true },
        }),
        ..PublisherMethods::default()
    }
}

#[tokio::test]
async fn github_actions_tokens_are_refused_for_a_wrong_audience_expiry_another_issuer_or_owner() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (actions, stranger) = (MockProvider::start().await, MockProvider::start().await);
    let app = app_with(&test, auth(dir.path(), github_oidc(&actions, &["acme"]))).await;

    let granted = exchange(
        &app,
        "github-oidc",
        &json!({"oidc_token": actions_token(&actions, "https://registry.test")}),
    )
    .await;
    assert_eq!(granted.status, 200, "the registry's origin is an audience too: {}", granted.body);
    assert_eq!(permissions(&granted), json!([{"action": "publish", "resource": "io.github.acme/*"}]));

    assert_eq!(claims(&granted)["auth_method_sub"], "repo:acme/tools:ref:refs/heads/main");

    let refusal = |token: String| {
        let app = &app;
        async move { detail(&exchange(app, "github-oidc", &json!({"oidc_token": token})).await, 401) }
    };
    let wrong_audience = refusal(actions_token(&actions, "sts.amazonaws.com")).await;
    assert!(
        wrong_audience.contains("its audience (sts.amazonaws.com) is none of mcp-registry"),
        "{wrong_audience}"
    );
    let claims = actions.claims("mcp-registry", json!({"repository_owner": "acme", "exp": 1_000_000_000}));
    let expired = refusal(actions.sign("rsa-1", "RS256", json!({}), &claims)).await;
    assert!(expired.ends_with("expired"), "{expired}");
    let foreign = refusal(actions_token(&stranger, "mcp-registry")).await;
    assert!(foreign.contains(&format!("its issuer \"{}\" is not", stranger.issuer)), "{foreign}");
    let claims = actions.claims("mcp-registry", json!({"repository_owner": "intruder"}));
    let owner = refusal(actions.sign("rsa-1", "RS256", json!({}), &claims)).await;
    assert!(owner.contains("the owner intruder is not in allowedOwners"), "{owner}");
    exchange(&app, "github-oidc", &json!({"github_token": "x"})).await.problem(400);
    test.cleanup().await;
}

#[tokio::test]
async fn github_access_tokens_grant_the_user_and_the_orgs_it_administers_and_say_when_roles_were_unseen() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let account = |login: &str, orgs: &[(&str, &str)], read_org| GithubAccount {
        login: login.to_owned(),
        orgs: orgs.iter().map(|(org, role)| ((*org).to_owned(), (*role).to_owned())).collect(),
        read_org,
    };
    // 130 organisations, on two pages of GitHub's answer; carol administers the 121st.
    let org_names: Vec<String> = (0..130).map(|n| format!("org-{n}")).collect();
    let orgs: Vec<(&str, &str)> = org_names
        .iter()
        .enumerate()
        .map(|(n, org)| (org.as_str(), if n == 120 { "admin" } else { "member" }))
        .collect();
    let github = GithubStandIn::start(HashMap::from([
        ("gho_alice".to_owned(), account("alice", &[("acme", "admin"), ("widgets", "member")], true)),
        ("gho_bob".to_owned(), account("bob", &[("acme", "admin")], false)),
        ("gho_carol".to_owned(), account("carol", &orgs, true)),
    ]))
    .await;
    let methods = PublisherMethods {
        github_at: Some(GithubAtMethod {
            api_url: github.url.parse().unwrap(),
            client_id: Some("Iv1.test-client".into()),
            timeout: Duration::from_secs(5),
            outbound: Outbound { ca_cert_path: None, allow_private_ip: true },
        }),
        ..PublisherMethods::default()
    };
    let app = app_with(&test, auth(dir.path(), methods)).await;
    assert_eq!(
        app.get("/v0/health").await.body,
        json!({"status": "ok", "github_client_id": "Iv1.test-client"})
    );

    let mut alice = Publisher { app: &app, token: None };
    let granted = alice.login("github-at", &json!({"github_token": "gho_alice"})).await;
    assert_eq!(
        permissions(&granted),
        json!([{"action": "publish", "resource": "io.github.alice/*"}, {"action": "publish", "resource": "io.github.acme/*"}])
    );
    assert_eq!(claims(&granted)["auth_method_sub"], "alice");
    assert_eq!(alice.publish(&server_json("io.github.acme/deploy", "1.0.0")).await.status, 201);
    assert_eq!(
        alice.publish(&server_json("io.github.widgets/x", "1.0.0")).await.status,
        403,
        "a member only"
    );

    // A token without read:org still gets the personal namespace; an org's 403 then says why.
    let mut bob = Publisher { app: &app, token: None };
    assert_eq!(bob.login("github-at", &json!({"github_token": "gho_bob"})).await.status, 200);
    assert_eq!(bob.publish(&server_json("io.github.bob/tool", "1.0.0")).await.status, 201);
    let org = detail(&bob.publish(&server_json("io.github.acme/tool", "1.0.0")).await, 403);
    assert!(org.contains("could not list your organisation roles") && org.contains("read:org"), "{org}");

    let carol = exchange(&app, "github-at", &json!({"github_token": "gho_carol"})).await;
    assert_eq!(
        permissions(&carol),
        json!([{"action": "publish", "resource": "io.github.carol/*"}, {"action": "publish", "resource": "io.github.org-120/*"}])
    );

    let unknown = detail(&exchange(&app, "github-at", &json!({"github_token": "gho_nobody"})).await, 401);
    assert!(unknown.contains("GitHub refused the token (401)"), "{unknown}");
    // alice: the user and one page; bob: the user and a 403; carol: the user and two pages; the unknown
    // token: the user.
    assert_eq!(github.requests(), 8);
    test.cleanup().await;
}

#[tokio::test]
async fn github_out_of_reach_is_503_not_the_callers_fault() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let methods = PublisherMethods {
        github_at: Some(GithubAtMethod {
            api_url: format!("http://{closed}").parse().unwrap(),
            client_id: None,
            timeout: Duration::from_secs(5),
            outbound: Outbound { ca_cert_path: None, allow_private_ip: true },
        }),
        ..PublisherMethods::default()
    };
    let app = app_with(&test, auth(dir.path(), methods)).await;
    let unreachable = detail(&exchange(&app, "github-at", &json!({"github_token": "gho_x"})).await, 503);
    assert!(unreachable.starts_with(&format!("cannot reach GitHub at http://{closed}")), "{unreachable}");
    test.cleanup().await;
}
