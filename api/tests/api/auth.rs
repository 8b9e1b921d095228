//! `auth.mode: oauth`: bearer tokens verified against a mock OpenID provider on loopback, the negative
//! matrix of `notes/auth.md` §2 row by row, public paths and reads, and the RFC 9728 document.

use std::time::Duration;

use registry_runtime::config::{AuthConfig, AuthMode, OAuthConfig, OAuthProvider, SigningAlgorithm};
use registry_testkit::oidc::MockProvider;
use registry_testkit::*;
use serde_json::{Value, json};

use crate::helpers::*;

pub const AUDIENCE: &str = "https://registry.test";

pub fn provider(mock: &MockProvider, name: &str) -> OAuthProvider {
    OAuthProvider {
        name: name.into(),
        issuer: mock.issuer.clone(),
        issuer_url: mock.issuer.parse().unwrap(),
        audience: AUDIENCE.into(),
        client_id: None,
        client_secret_file: None,
        ca_cert_path: None,
        jwks_url: None,
        auth_token_file: None,
        introspection_url: None,
        allow_private_ip: true,
        algorithms: SigningAlgorithm::ALL.to_vec(),
        leeway: Duration::from_secs(30),
        require_at_jwt: false,
        advertise: true,
    }
}

pub fn oauth(providers: Vec<OAuthProvider>, public_reads: bool) -> AuthConfig {
    AuthConfig {
        mode: AuthMode::Oauth,
        public_paths: Vec::new(),
        public_reads,
        oauth: Some(OAuthConfig {
            resource_url: Some(AUDIENCE.parse().unwrap()),
            resource: AUDIENCE.into(),
            realm: "mcp-registry".into(),
            scopes_supported: vec!["mcp-registry:read".into(), "mcp-registry:write".into()],
            enforce_scopes: false,
            providers,
        }),
        authz: None,
        publisher_tokens: None,
    }
}

pub async fn app_with(test: &TestStore, auth: AuthConfig) -> TestApp {
    let config = registry_runtime::config::Config {
        auth,
        ..test_config(test.config.clone(), vec![managed_registry("internal"), file_registry("files")])
    };
    spawn_config(test, config).await
}

impl TestApp {
    pub async fn get_as(&self, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        self.send(request).await
    }
}

impl TestApp {
    /// Waits until a read with `token` is accepted, failing with `why` after `within`.
    async fn until_accepted(&self, token: &str, within: Duration, why: &str) {
        let deadline = std::time::Instant::now() + within;
        while self.get_as("/v0.1/servers", Some(&bearer(token))).await.status != 200 {
            assert!(std::time::Instant::now() < deadline, "{why}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts a 401 with the challenge for `error`, pointing at the metadata document.
pub fn assert_challenge(reply: &Reply, error: &str) {
    reply.problem(401);
    let challenge = reply.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer realm=\"mcp-registry\""), "{challenge}");
    assert!(challenge.contains(&format!("error=\"{error}\"")), "{challenge}");
    assert!(
        challenge
            .contains("resource_metadata=\"https://registry.test/.well-known/oauth-protected-resource\""),
        "{challenge}"
    );
}

on_both_backends! {
    async fn valid_rs256_es256_and_kubernetes_shaped_tokens_are_accepted_and_the_rest_of_the_matrix_is_refused(test: &TestStore) {
        let mock = MockProvider::start().await;
        let app = app_with(test, oauth(vec![provider(&mock, "idp")], false)).await;
        let now = chrono::Utc::now().timestamp();
        let claims = |extra: Value| mock.claims(AUDIENCE, extra);
        let rs256 = mock.token(AUDIENCE, json!({}));
        let es256 = mock.sign("ec-1", "ES256", json!({}), &claims(json!({})));
        let kubernetes = mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"aud": ["https://kubernetes.default.svc", AUDIENCE], "sub": "system:serviceaccount:tools:publisher"})));
        let mut tampered = rs256.split('.').map(str::to_owned).collect::<Vec<_>>();
        tampered[1] = base64_url(&claims(json!({"sub": "admin"})).to_string());
        let refused = [
            ("2 expired 120 s ago", mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"exp": now - 120})))),
            ("4 nbf in 5 minutes", mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"nbf": now + 300})))),
            ("5 another issuer", mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"iss": "https://other.example"})))),
            ("5 the issuer with a trailing slash", mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"iss": format!("{}/", mock.issuer)})))),
            ("6 another audience", mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"aud": "https://elsewhere.test"})))),
            ("7 alg none", mock.sign("rsa-1", "none", json!({}), &claims(json!({})))),
            ("8 HS256 with the public key as secret", mock.sign("rsa-1", "HS256", json!({}), &claims(json!({})))),
            ("10 tampered payload", tampered.join(".")),
            ("11 no exp", mock.sign("rsa-1", "RS256", json!({}), &{ let mut c = claims(json!({})); c.as_object_mut().unwrap().remove("exp"); c })),
            ("14 RS256 naming an EC key", mock.sign("rsa-1", "RS256", json!({"kid": "ec-1"}), &claims(json!({})))),
            ("an RSA key of 1,024 bits", mock.sign("rsa-short", "RS256", json!({}), &claims(json!({})))),
            ("no kid", mock.sign("rsa-1", "RS256", json!({"kid": null}), &claims(json!({})))),
            ("18 an opaque token, and no provider introspects", "opaque-token".to_owned()),
        ];

        for (row, token) in [("1 RS256", &rs256), ("1 ES256", &es256), ("1 Kubernetes-shaped", &kubernetes)] {
            let reply = app.get_as("/v0.1/servers", Some(&bearer(token))).await;
            assert_eq!(reply.status, 200, "{row}: {}", reply.body);
        }
        let inside_leeway = mock.sign("rsa-1", "RS256", json!({}), &claims(json!({"exp": now - 10})));
        assert_eq!(app.get_as("/v0.1/servers", Some(&bearer(&inside_leeway))).await.status, 200, "3 expired 10 s ago, inside the leeway");
        let lower_case = app.get_as("/v0.1/servers", Some(&format!("bearer {rs256}"))).await;
        assert_eq!(lower_case.status, 200, "16 the scheme in lower case");
        for (row, token) in refused {
            let reply = app.get_as("/v0.1/servers", Some(&bearer(&token))).await;
            assert_eq!(reply.status, 401, "{row}");
            assert_challenge(&reply, "invalid_token");
            assert_eq!(reply.body["detail"], "token validation failed", "{row}: the reason never leaks");
        }
        for header in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer "), Some("Bearer")] {
            assert_challenge(&app.get_as("/v0.1/servers", header).await, "invalid_request");
        }
    }

    async fn probes_docs_and_the_resource_metadata_need_no_token_and_public_reads_open_only_the_reads(test: &TestStore) {
        let mock = MockProvider::start().await;
        let mut hidden = provider(&mock, "cluster");
        hidden.issuer = format!("{}/cluster", mock.issuer);
        hidden.advertise = false;
        let closed = app_with(test, oauth(vec![provider(&mock, "idp"), hidden], false)).await;

        for path in ["/health", "/readiness", "/version", "/openapi.json", "/docs/"] {
            assert_eq!(closed.get(path).await.status, 200, "{path}");
        }
        let metadata = closed.get("/.well-known/oauth-protected-resource").await;
        assert_eq!(metadata.body, json!({
            "resource": AUDIENCE,
            "authorization_servers": [mock.issuer],
            "scopes_supported": ["mcp-registry:read", "mcp-registry:write"],
            "bearer_methods_supported": ["header"],
        }), "the provider with advertise: false stays out");
        for path in ["/v0.1/servers", "/registry/internal/v0.1/servers", "/extension/v0/registries", "/v0.1/servers/io.example%2Fx/versions"] {
            assert_challenge(&closed.get(path).await, "invalid_request");
        }
        assert_challenge(&closed.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await, "invalid_request");
    }
}

#[tokio::test]
async fn with_public_reads_the_registry_reads_are_open_and_writes_and_the_extension_api_are_not() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let app = app_with(&test, oauth(vec![provider(&mock, "idp")], true)).await;
    let token = mock.token(AUDIENCE, json!({}));

    let read = app.get("/v0.1/servers").await;
    let by_name = app.get("/registry/internal/v0.1/servers/io.example%2Ftool/versions").await;
    let extension = app.get("/extension/v0/registries").await;
    let anonymous_publish = app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
    let publish = app
        .send(
            app.client
                .post(format!("{}/v0.1/publish", app.base))
                .header("authorization", bearer(&token))
                .json(&server_json("io.example/tool", "1.0.0")),
        )
        .await;

    assert_eq!(read.status, 200);
    assert_eq!(by_name.status, 404, "a read by name is open too (here: not found)");
    assert_challenge(&extension, "invalid_request");
    assert_challenge(&anonymous_publish, "invalid_request");
    assert_eq!(publish.status, 201, "{}", publish.body);
    test.cleanup().await;
}

#[tokio::test]
async fn a_verified_token_is_remembered_but_never_past_its_exp() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let mut exact = provider(&mock, "idp");
    exact.leeway = Duration::ZERO;
    let app = app_with(&test, oauth(vec![exact], false)).await;
    let rotated = mock.sign("rsa-2", "RS256", json!({}), &mock.claims(AUDIENCE, json!({})));
    let unseen = mock.sign("rsa-1", "RS256", json!({}), &mock.claims(AUDIENCE, json!({"jti": "unseen"})));
    let exp = chrono::Utc::now().timestamp() + 3;
    let token = mock.sign("rsa-1", "RS256", json!({}), &mock.claims(AUDIENCE, json!({"exp": exp})));

    let first = app.get_as("/v0.1/servers", Some(&bearer(&token))).await;
    // The provider drops rsa-1; a token naming the new key makes the registry fetch the set again.
    mock.set(|behaviour| behaviour.published = vec!["rsa-2".into()]);
    let with_new_key = app.get_as("/v0.1/servers", Some(&bearer(&rotated))).await;
    let again = app.get_as("/v0.1/servers", Some(&bearer(&token))).await;
    let unseen_with_old_key = app.get_as("/v0.1/servers", Some(&bearer(&unseen))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let reply = app.get_as("/v0.1/servers", Some(&bearer(&token))).await;
        if reply.status != 200 || tokio::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!((first.status.as_u16(), with_new_key.status.as_u16()), (200, 200));
    assert_eq!(again.status, 200, "remembered: its key is gone, but it verified before");
    assert_challenge(&unseen_with_old_key, "invalid_token");
    assert_challenge(&refused, "invalid_token");
    assert!(chrono::Utc::now().timestamp() >= exp, "refused only once exp had passed");
    test.cleanup().await;
}

#[tokio::test]
async fn typ_is_checked_for_a_provider_that_requires_at_jwt() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let mut strict = provider(&mock, "idp");
    strict.require_at_jwt = true;
    let app = app_with(&test, oauth(vec![strict], false)).await;
    let claims = mock.claims(AUDIENCE, json!({}));

    let at_jwt = mock.sign("rsa-1", "RS256", json!({"typ": "at+jwt"}), &claims);
    let application = mock.sign("rsa-1", "RS256", json!({"typ": "application/AT+JWT"}), &claims);
    let plain = mock.sign("rsa-1", "RS256", json!({"typ": "JWT"}), &claims);

    assert_eq!(app.get_as("/v0.1/servers", Some(&bearer(&at_jwt))).await.status, 200);
    assert_eq!(app.get_as("/v0.1/servers", Some(&bearer(&application))).await.status, 200);
    assert_challenge(&app.get_as("/v0.1/servers", Some(&bearer(&plain))).await, "invalid_token");
    test.cleanup().await;
}

#[tokio::test]
async fn tokens_are_routed_by_exact_issuer_and_verified_with_that_providers_keys_only() {
    let test = TestStore::sqlite().await;
    let a = MockProvider::start().await;
    let b = MockProvider::start().await;
    a.set(|behaviour| behaviour.published = vec!["rsa-1".into()]);
    b.set(|behaviour| behaviour.published = vec!["rsa-2".into()]);
    let app = app_with(&test, oauth(vec![provider(&a, "a"), provider(&b, "b")], false)).await;

    let from_b = b.sign("rsa-2", "RS256", json!({}), &b.claims(AUDIENCE, json!({})));
    // 12: iss A, A's kid, but signed with B's key.
    let forged = a.sign("rsa-2", "RS256", json!({"kid": "rsa-1"}), &a.claims(AUDIENCE, json!({})));
    // 13: iss B, signed with a key only A publishes.
    let cross = b.sign("rsa-1", "RS256", json!({}), &b.claims(AUDIENCE, json!({})));

    assert_eq!(
        app.get_as("/v0.1/servers", Some(&bearer(&from_b))).await.status,
        200,
        "the second provider's token"
    );
    assert_challenge(&app.get_as("/v0.1/servers", Some(&bearer(&forged))).await, "invalid_token");
    assert_challenge(&app.get_as("/v0.1/servers", Some(&bearer(&cross))).await, "invalid_token");
    test.cleanup().await;
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_key_set_once_per_cool_down_and_a_rotated_key_is_accepted() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    mock.set(|behaviour| behaviour.published = vec!["rsa-1".into()]);
    let app = app_with(&test, oauth(vec![provider(&mock, "idp")], false)).await;
    let claims = mock.claims(AUDIENCE, json!({}));
    assert_eq!(
        app.get_as("/v0.1/servers", Some(&bearer(&mock.token(AUDIENCE, json!({}))))).await.status,
        200
    );
    let before = mock.key_set_requests();

    // 20: rsa-2 is published after start; the first token naming it triggers one fetch.
    mock.set(|behaviour| behaviour.published = vec!["rsa-1".into(), "rsa-2".into()]);
    let rotated =
        app.get_as("/v0.1/servers", Some(&bearer(&mock.sign("rsa-2", "RS256", json!({}), &claims)))).await;
    let after_rotation = mock.key_set_requests();
    // 9 and 20: a flood of unknown kids inside the cool-down costs the provider nothing more.
    let flood: Vec<_> = (0..20)
        .map(|i| {
            let token = mock.sign("rsa-1", "RS256", json!({"kid": format!("random-{i}")}), &claims);
            let (client, base) = (app.client.clone(), app.base.clone());
            tokio::spawn(async move {
                client
                    .get(format!("{base}/v0.1/servers"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut flooded = Vec::new();
    for request in flood {
        flooded.push(request.await.unwrap());
    }

    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(after_rotation, before + 1, "one fetch for the new kid");
    assert!(flooded.iter().all(|s| *s == 401), "{flooded:?}");
    assert_eq!(mock.key_set_requests(), after_rotation, "no fetch inside the cool-down");
    test.cleanup().await;
}

#[tokio::test]
async fn a_provider_whose_keys_are_down_at_start_refuses_its_tokens_until_they_load_and_others_are_unaffected()
 {
    let test = TestStore::sqlite().await;
    let down = MockProvider::start().await;
    let up = MockProvider::start().await;
    down.set(|behaviour| behaviour.failing = true);
    let app = app_with(&test, oauth(vec![provider(&down, "down"), provider(&up, "up")], false)).await;

    let from_down = down.token(AUDIENCE, json!({}));
    let while_down = app.get_as("/v0.1/servers", Some(&bearer(&from_down))).await;
    let other = app.get_as("/v0.1/servers", Some(&bearer(&up.token(AUDIENCE, json!({}))))).await;
    down.set(|behaviour| behaviour.failing = false);
    app.until_accepted(&from_down, Duration::from_secs(20), "the key set loads once the provider answers")
        .await;

    assert_challenge(&while_down, "invalid_token");
    assert_eq!(other.status, 200, "another provider is unaffected");
    test.cleanup().await;
}

#[tokio::test]
async fn a_provider_that_hangs_never_holds_start_up_or_requests_and_its_calls_time_out() {
    let test = TestStore::sqlite().await;
    let hung = MockProvider::start().await;
    let up = MockProvider::start().await;
    hung.set(|behaviour| behaviour.delay = Some(Duration::from_secs(120)));
    let app = app_with(&test, oauth(vec![provider(&hung, "hung"), provider(&up, "up")], false)).await;

    let from_hung = hung.token(AUDIENCE, json!({}));
    let while_hung =
        tokio::time::timeout(Duration::from_secs(8), app.get_as("/v0.1/servers", Some(&bearer(&from_hung))))
            .await
            .expect("a token of a hung provider is answered after the first-load wait, not held");
    let other = app.get_as("/v0.1/servers", Some(&bearer(&up.token(AUDIENCE, json!({}))))).await;
    hung.set(|behaviour| behaviour.delay = None);
    // The hung discovery call is cut off by the 10 s call timeout; the retry that follows loads the keys.
    app.until_accepted(
        &from_hung,
        Duration::from_secs(30),
        "the hung call times out and a retry loads the key set",
    )
    .await;

    assert_challenge(&while_hung, "invalid_token");
    assert_eq!(other.status, 200, "another provider is unaffected");
    test.cleanup().await;
}

#[tokio::test]
async fn without_allow_private_ip_a_provider_on_loopback_by_address_or_name_is_never_called() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let mut guarded = provider(&mock, "idp");
    guarded.allow_private_ip = false;
    // The same provider by name: the guard checks the addresses the name resolves to.
    let by_name = mock.issuer.replace("127.0.0.1", "localhost");
    let mut named = provider(&mock, "named");
    (named.issuer, named.issuer_url, named.allow_private_ip) =
        (by_name.clone(), by_name.parse().unwrap(), false);
    let app = app_with(&test, oauth(vec![guarded, named], false)).await;

    let reply = app.get_as("/v0.1/servers", Some(&bearer(&mock.token(AUDIENCE, json!({}))))).await;
    let named_token = mock.sign("rsa-1", "RS256", json!({}), &mock.claims(AUDIENCE, json!({"iss": by_name})));
    let named_reply = app.get_as("/v0.1/servers", Some(&bearer(&named_token))).await;

    assert_challenge(&reply, "invalid_token");
    assert_challenge(&named_reply, "invalid_token");
    assert_eq!(
        (mock.discoveries(), mock.key_set_requests()),
        (0, 0),
        "the private-address guard refused every call"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn opaque_tokens_are_introspected_with_their_claims_kept_and_the_answers_cached() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let mut introspecting = provider(&mock, "idp");
    introspecting.introspection_url = Some(format!("{}/introspect", mock.issuer).parse().unwrap());
    introspecting.client_id = Some("registry".into());
    introspecting.client_secret_file = Some(secret);
    let exp = chrono::Utc::now().timestamp() + 600;
    mock.set(|behaviour| {
        behaviour.opaque.insert(
            "opaque-good".into(),
            json!({"iss": mock.issuer, "aud": AUDIENCE, "exp": exp, "sub": "svc", "groups": ["publishers"]}),
        );
        behaviour.opaque.insert("opaque-other-audience".into(), json!({"aud": "elsewhere", "exp": exp}));
    });
    let app = app_with(&test, oauth(vec![introspecting], false)).await;

    let first = app.get_as("/v0.1/servers", Some("Bearer opaque-good")).await;
    let second = app.get_as("/v0.1/servers", Some("Bearer opaque-good")).await;
    let unknown = app.get_as("/v0.1/servers", Some("Bearer opaque-unknown")).await;
    let unknown_again = app.get_as("/v0.1/servers", Some("Bearer opaque-unknown")).await;
    let other_audience = app.get_as("/v0.1/servers", Some("Bearer opaque-other-audience")).await;

    assert_eq!((first.status.as_u16(), second.status.as_u16()), (200, 200));
    assert_challenge(&unknown, "invalid_token");
    assert_challenge(&unknown_again, "invalid_token");
    assert_challenge(&other_audience, "invalid_token");
    assert_eq!(
        mock.introspections(),
        3,
        "one call each: the good and the unknown token's answers are cached"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn fifty_valid_and_fifty_expired_tokens_at_once_each_get_their_own_answer() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let app = app_with(&test, oauth(vec![provider(&mock, "idp")], false)).await;
    let now = chrono::Utc::now().timestamp();
    let valid = mock.token(AUDIENCE, json!({}));
    let expired = mock.sign("rsa-1", "RS256", json!({}), &mock.claims(AUDIENCE, json!({"exp": now - 600})));

    let requests: Vec<_> = (0..100)
        .map(|i| {
            let (client, base) = (app.client.clone(), app.base.clone());
            let token = if i % 2 == 0 { valid.clone() } else { expired.clone() };
            tokio::spawn(async move {
                let status = client
                    .get(format!("{base}/v0.1/servers"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status();
                (i, status.as_u16())
            })
        })
        .collect();
    let mut wrong = Vec::new();
    for request in requests {
        let (i, status) = request.await.unwrap();
        if status != if i % 2 == 0 { 200 } else { 401 } {
            wrong.push((i, status));
        }
    }

    assert!(wrong.is_empty(), "{wrong:?}");
    test.cleanup().await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn every_write_without_a_token_is_401_before_its_body_is_read() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let app = app_with(&test, oauth(vec![provider(&mock, "idp")], false)).await;
    let status = json!({ "status": "deprecated" });

    let replies = [
        app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await,
        app.post_json("/v0/publish", &server_json("io.example/tool", "1.0.0")).await,
        app.delete("/registry/internal/v0.1/servers/io.example%2Ftool/versions/1.0.0").await,
        app.patch_json("/registry/internal/v0.1/servers/io.example%2Ftool/versions/1.0.0/status", &status)
            .await,
        app.patch_json("/registry/internal/v0.1/servers/io.example%2Ftool/status", &status).await,
        app.send(app.client.post(format!("{}/extension/v0/registries/files/sync", app.base))).await,
        app.post_json("/registry/internal/v0.1/publish", &json!({ "title": "x".repeat(2 * 1024 * 1024) }))
            .await,
    ];

    for reply in &replies {
        assert_challenge(reply, "invalid_request");
    }
    test.cleanup().await;
}

#[tokio::test]
async fn validation_stores_nothing_and_is_open_exactly_when_reads_are() {
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let closed = app_with(&test, oauth(vec![provider(&mock, "idp")], false)).await;
    let open = app_with(&test, oauth(vec![provider(&mock, "idp")], true)).await;
    let document = server_json("io.example/tool", "1.0.0");

    assert_challenge(
        &closed.post_json("/registry/internal/v0.1/validate", &document).await,
        "invalid_request",
    );
    assert_eq!(open.post_json("/registry/internal/v0.1/validate", &document).await.body["valid"], true);
    assert_eq!(open.post_json("/v0.1/validate", &document).await.body["valid"], true);
    test.cleanup().await;
}
