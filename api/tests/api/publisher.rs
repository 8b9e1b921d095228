//! The official publisher CLI (`mcp-publisher`) against this registry: its exact calls, headers and bodies
//! (`login none`, `publish`, `status`, `validate`) replayed in both auth modes, on both backends, with the
//! registry's own tokens.

use std::path::Path;
use std::time::{Duration, Instant};

use registry_runtime::config::{
    ANONYMOUS_NAMESPACE, AuthConfig, AuthMode, AuthzConfig, ClaimMatch, NamespaceRule, NoneMethod,
    OidcMethod, PublisherMethods, PublisherTokensConfig, Roles,
};
use registry_testkit::oidc::MockProvider;
use registry_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{AUDIENCE, app_with, oauth, provider};
use crate::helpers::*;

const ANONYMOUS: &str = "io.modelcontextprotocol.anonymous";

/// A signing key file, and `auth.publisherTokens` with the `none` method on, tokens living `ttl`.
fn publisher_tokens(dir: &Path, ttl: Duration) -> PublisherTokensConfig {
    let key = dir.join("signing-key");
    std::fs::write(&key, format!("{}\n", "7f".repeat(32))).unwrap();
    PublisherTokensConfig {
        signing_key_file: Some(key),
        previous_key_files: Vec::new(),
        ttl,
        issuer: "mcp-registry".into(),
        blocked_namespaces: Vec::new(),
        methods: PublisherMethods {
            none: Some(NoneMethod { namespaces: vec![ANONYMOUS_NAMESPACE.into()] }),
            oidc: None,
        },
    }
}

/// The CLI: a bare HTTP client, the token it got at login, and the registry's base URL.
struct Publisher<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Publisher<'_> {
    /// `mcp-publisher login none`: `POST /v0/auth/none`, no body, no extra header.
    async fn login_none(&mut self) -> Reply {
        let reply = self.app.send(self.app.client.post(format!("{}/v0/auth/none", self.app.base))).await;
        self.token = reply.body["registry_token"].as_str().map(str::to_owned);
        reply
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>, authorized: bool) -> Reply {
        let mut request = self.app.client.request(method, format!("{}{path}", self.app.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        if authorized && let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.app.send(request).await
    }

    async fn publish(&self, document: &Value) -> Reply {
        self.call(Method::POST, "/v0/publish", Some(document), true).await
    }

    /// `mcp-publisher validate`: no token is sent.
    async fn validate(&self, document: &Value) -> Reply {
        self.call(Method::POST, "/v0/validate", Some(document), false).await
    }

    /// `mcp-publisher status --status S name version`: read the version with deleted ones, then change it.
    async fn status(&self, name: &str, version: &str, status: &str) -> (Reply, Reply) {
        let path = format!("/v0/servers/{}/versions/{version}", name.replace('/', "%2F"));
        let read = self.call(Method::GET, &format!("{path}?include_deleted=true"), None, true).await;
        let body = json!({"status": status, "statusMessage": "replaced by a newer server"});
        (read, self.call(Method::PATCH, &format!("{path}/status"), Some(&body), true).await)
    }

    /// `mcp-publisher status --all-versions --yes`.
    async fn status_all(&self, name: &str, status: &str) -> (Reply, Reply) {
        let path = format!("/v0/servers/{}", name.replace('/', "%2F"));
        let read = self.call(Method::GET, &format!("{path}/versions?include_deleted=true"), None, true).await;
        let body = json!({"status": status});
        (read, self.call(Method::PATCH, &format!("{path}/status"), Some(&body), true).await)
    }
}

/// The CLI's whole sequence with a `none` token: login, publish (201), the same again (200), another
/// namespace (403 naming the token's patterns), status on one version and on all, validate, and the 422 the
/// CLI explains through validate.
async fn the_publisher_sequence(app: &TestApp) {
    let mut cli = Publisher { app, token: None };
    let login = cli.login_none().await;
    assert_eq!(login.status, 200, "{}", login.body);
    let expires_at = login.body["expires_at"].as_i64().unwrap();
    let lifetime = expires_at - chrono::Utc::now().timestamp();
    assert!((250..=300).contains(&lifetime), "five minutes: {lifetime} s");

    let name = format!("{ANONYMOUS}/weather");
    let document = server_json(&name, "1.0.0");
    assert_eq!(cli.publish(&document).await.status, 201);
    assert_eq!(cli.publish(&document).await.status, 200, "the same document again");
    assert_eq!(cli.publish(&server_json(&name, "1.1.0")).await.status, 201);

    let elsewhere = cli.publish(&server_json("io.github.someone/tool", "1.0.0")).await;
    let detail = elsewhere.problem(403)["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("{ANONYMOUS}/*")), "{detail}");

    let (read, changed) = cli.status(&name, "1.0.0", "deprecated").await;
    assert_eq!(read.body["_meta"]["io.modelcontextprotocol.registry/official"]["status"], "active");
    assert_eq!(changed.status, 200, "{}", changed.body);
    // Both change: 1.1.0 was active, and 1.0.0 loses its status message.
    let (read, changed) = cli.status_all(&name, "deprecated").await;
    assert_eq!(read.versions().len(), 2);
    assert_eq!(
        (changed.status.as_u16(), &changed.body["updatedCount"]),
        (200, &json!(2)),
        "{}",
        changed.body
    );

    let valid = cli.validate(&server_json(&name, "2.0.0")).await;
    assert_eq!((valid.status.as_u16(), &valid.body["valid"]), (200, &json!(true)), "{}", valid.body);
    let mut broken = server_json(&name, "2.0.0");
    broken["version"] = json!("latest");
    assert_eq!(cli.publish(&broken).await.status, 422);
    let explained = cli.validate(&broken).await;
    assert_eq!(explained.body["valid"], false);
    assert!(!explained.body["issues"].as_array().unwrap().is_empty(), "{}", explained.body);

    let me = cli.call(Method::GET, "/extension/v0/me", None, true).await;
    assert_eq!((me.status.as_u16(), &me.body["authMethod"]), (200, &json!("none")), "{}", me.body);
    assert_eq!(
        me.body["permissions"],
        json!([{"action": "publish", "resource": ANONYMOUS_NAMESPACE}, {"action": "edit", "resource": ANONYMOUS_NAMESPACE}])
    );
}

fn anonymous_with_tokens(dir: &Path, ttl: Duration) -> AuthConfig {
    AuthConfig {
        mode: AuthMode::Anonymous,
        public_paths: Vec::new(),
        public_reads: false,
        oauth: None,
        authz: None,
        publisher_tokens: Some(publisher_tokens(dir, ttl)),
    }
}

on_both_backends! {
    async fn the_publisher_cli_logs_in_with_none_and_publishes_in_anonymous_mode(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let app = app_with(test, anonymous_with_tokens(dir.path(), Duration::from_secs(300))).await;
        the_publisher_sequence(&app).await;

        // Without a token the API stays open, as anonymous mode is; a token it did not issue is refused.
        assert_eq!(app.post_json("/v0/publish", &server_json("io.github.someone/tool", "1.0.0")).await.status, 201);
        let foreign = app.send(app.client.post(format!("{}/v0/publish", app.base))
            .bearer_auth("not-a-registry-token").json(&server_json("io.github.someone/tool", "2.0.0"))).await;
        assert!(foreign.problem(401)["detail"].as_str().unwrap().contains("not a token this registry issued"));
    }

    async fn the_publisher_cli_logs_in_with_none_and_publishes_in_oauth_mode(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockProvider::start().await;
        let auth = AuthConfig {
            publisher_tokens: Some(publisher_tokens(dir.path(), Duration::from_secs(300))),
            ..oauth(vec![provider(&mock, "mock")], false)
        };
        let app = app_with(test, auth).await;
        the_publisher_sequence(&app).await;

        // The exchange and the CLI's health check need no token; writes without one are refused.
        let health = app.get("/v0/health").await;
        assert_eq!((health.status.as_u16(), &health.body["status"]), (200, &json!("ok")));
        assert_eq!(app.post_json("/v0/publish", &server_json(&format!("{ANONYMOUS}/x"), "1.0.0")).await.status, 401);
    }
}

#[tokio::test]
async fn an_expired_or_forged_registry_token_is_refused_and_never_reaches_the_providers() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let auth = AuthConfig {
        publisher_tokens: Some(publisher_tokens(dir.path(), Duration::from_secs(1))),
        ..oauth(vec![provider(&mock, "mock")], false)
    };
    let app = app_with(&test, auth).await;
    let mut cli = Publisher { app: &app, token: None };
    cli.login_none().await;
    let token = cli.token.clone().unwrap();
    assert_eq!(cli.publish(&server_json(&format!("{ANONYMOUS}/early"), "1.0.0")).await.status, 201);

    // A signature that is not the registry's: a character in the middle of the signature changed (the last
    // one carries padding bits, which a decoder may refuse before the signature is checked).
    let at = token.len() - 20;
    let changed = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{changed}{}", &token[..at], &token[at + 1..]);
    let refused = app.get_as("/v0.1/servers", Some(&format!("Bearer {forged}"))).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().contains("registry token was refused"));

    // The token lives one second (and the replicas' clock leeway, five): publish until it is refused.
    let deadline = Instant::now() + Duration::from_secs(15);
    let document = server_json(&format!("{ANONYMOUS}/late"), "1.0.0");
    loop {
        let reply = cli.publish(&document).await;
        if reply.status == 401 {
            let detail = reply.problem(401)["detail"].as_str().unwrap().to_owned();
            assert!(detail.contains("expired"), "{detail}");
            break;
        }
        assert!(matches!(reply.status.as_u16(), 200 | 201), "before expiry the token works: {}", reply.body);
        assert!(Instant::now() < deadline, "the one-second token never expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    test.cleanup().await;
}

#[tokio::test]
async fn the_none_login_is_404_when_off_and_names_how_to_turn_it_on() {
    let test = TestStore::sqlite().await;
    let app = spawn_app(&test, vec![managed_registry("internal")]).await;
    let off = app.send(app.client.post(format!("{}/v0/auth/none", app.base))).await;
    assert!(off.problem(404)["detail"].as_str().unwrap().contains("auth.publisherTokens.methods"));
    test.cleanup().await;
}

/// The README's claim: against the quickstart's configuration, `login none` then `publish` works.
#[tokio::test]
async fn the_quickstart_takes_a_none_login_and_its_publish() {
    let test = TestStore::sqlite().await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.yaml");
    let quickstart = registry_runtime::config::Config::load(&path).unwrap();
    let config = registry_runtime::config::Config {
        auth: quickstart.auth,
        registries: vec![managed_registry("internal")],
        ..test_config(test.config.clone(), Vec::new())
    };
    let app = spawn_config(&test, config).await;
    let mut cli = Publisher { app: &app, token: None };
    assert_eq!(cli.login_none().await.status, 200);
    assert_eq!(cli.publish(&server_json(&format!("{ANONYMOUS}/quick"), "1.0.0")).await.status, 201);
    assert_eq!(cli.publish(&server_json("com.example/quick", "1.0.0")).await.status, 403);
    test.cleanup().await;
}

/// Exchanges are audited as exchanges, granted or refused, and a write made with a registry token names
/// the method that issued it; a blocked namespace is never granted.
#[tokio::test]
async fn exchanges_and_the_writes_of_their_tokens_are_audited() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let audit_file = dir.path().join("audit.jsonl");
    let mut auth = anonymous_with_tokens(dir.path(), Duration::from_secs(300));
    let mut config = test_config(test.config.clone(), vec![managed_registry("internal")]);
    config.audit = registry_runtime::config::AuditConfig { file: Some(audit_file.clone()) };
    let app =
        spawn_config(&test, registry_runtime::config::Config { auth: auth.clone(), ..config.clone() }).await;
    let mut cli = Publisher { app: &app, token: None };
    cli.login_none().await;
    assert_eq!(cli.publish(&server_json(&format!("{ANONYMOUS}/audited"), "1.0.0")).await.status, 201);

    let events = crate::audit::events(&audit_file, 2);
    let exchange = &events[0];
    assert_eq!(
        (exchange["action"].as_str(), exchange["outcome"].as_str()),
        (Some("exchange"), Some("success"))
    );
    assert_eq!(
        (exchange["provider"].as_str(), exchange["subject"].as_str()),
        (Some("registry:none"), Some("anonymous"))
    );
    assert_eq!(
        exchange["detail"],
        format!("granted: publish {ANONYMOUS_NAMESPACE}, edit {ANONYMOUS_NAMESPACE}")
    );
    assert_eq!(
        (events[1]["action"].as_str(), events[1]["provider"].as_str()),
        (Some("publish"), Some("registry:none"))
    );

    // The same registry with the anonymous namespace blocked: the exchange is refused, and says why.
    auth.publisher_tokens.as_mut().unwrap().blocked_namespaces = vec!["io.modelcontextprotocol.*".into()];
    let blocked = spawn_config(&test, registry_runtime::config::Config { auth, ..config }).await;
    let refused = Publisher { app: &blocked, token: None }.login_none().await;
    let detail = refused.problem(401)["detail"].as_str().unwrap();
    assert!(detail.contains("io.modelcontextprotocol.* is a blocked namespace"), "{detail}");
    let events = crate::audit::events(&audit_file, 3);
    assert_eq!(
        (events[2]["action"].as_str(), events[2]["outcome"].as_str()),
        (Some("exchange"), Some("refused"))
    );
    test.cleanup().await;
}

async fn exchange_oidc(app: &TestApp, body: Value) -> Reply {
    app.send(app.client.post(format!("{}/v0/auth/oidc", app.base)).json(&body)).await
}

fn claim(key: &str, value: &str) -> ClaimMatch {
    [(key.to_owned(), vec![value.to_owned()])].into_iter().collect()
}

/// `login oidc`: an identity provider's token becomes a registry token that may publish the namespaces
/// `auth.authz` gives its caller, and edit everything for a superAdmin; other tokens are refused, saying why.
#[tokio::test]
async fn an_identity_providers_token_is_exchanged_for_the_namespaces_authz_gives_its_caller() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut tokens = publisher_tokens(dir.path(), Duration::from_secs(300));
    tokens.methods.oidc = Some(OidcMethod { providers: vec!["mock".into()] });
    let authz = AuthzConfig {
        roles: Roles {
            super_admin: vec![claim("role", "admin")],
            manage_entries: vec![claim("groups", "publishers")],
            ..Roles::default()
        },
        namespaces: vec![NamespaceRule { matcher: claim("org", "acme"), publish: vec!["com.acme.*".into()] }],
    };
    let auth = AuthConfig {
        publisher_tokens: Some(tokens),
        authz: Some(authz),
        ..oauth(vec![provider(&mock, "mock")], false)
    };
    let app = app_with(&test, auth).await;

    let alice = mock.token(AUDIENCE, json!({"sub": "alice", "groups": ["publishers"], "org": "acme"}));
    let granted = exchange_oidc(&app, json!({"oidc_token": alice})).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    let cli = Publisher { app: &app, token: granted.body["registry_token"].as_str().map(str::to_owned) };
    assert_eq!(cli.publish(&server_json("com.acme.tools/deploy", "1.0.0")).await.status, 201);
    assert_eq!(cli.publish(&server_json("io.github.else/x", "1.0.0")).await.status, 403);
    let delete =
        cli.call(Method::DELETE, "/v0/servers/com.acme.tools%2Fdeploy/versions/1.0.0", None, true).await;
    assert!(
        delete.problem(403)["detail"].as_str().unwrap().contains("does not allow delete"),
        "{}",
        delete.body
    );
    let me = cli.call(Method::GET, "/extension/v0/me", None, true).await;
    assert_eq!(
        (&me.body["subject"], &me.body["permissions"]),
        (&json!("alice"), &json!([{"action": "publish", "resource": "com.acme.*"}]))
    );

    let root = mock.token(AUDIENCE, json!({"sub": "root", "role": "admin"}));
    let admin = exchange_oidc(&app, json!({"oidc_token": root})).await;
    let admin = Publisher { app: &app, token: admin.body["registry_token"].as_str().map(str::to_owned) };
    let me = admin.call(Method::GET, "/extension/v0/me", None, true).await;
    assert_eq!(
        me.body["permissions"],
        json!([{"action": "publish", "resource": "*"}, {"action": "edit", "resource": "*"}])
    );
    assert_eq!(
        admin
            .call(Method::DELETE, "/v0/servers/com.acme.tools%2Fdeploy/versions/1.0.0", None, true)
            .await
            .status,
        200
    );

    let reader = mock.token(AUDIENCE, json!({"sub": "bob", "groups": ["readers"]}));
    let refused = exchange_oidc(&app, json!({"oidc_token": reader})).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().contains("no role that publishes"));
    let expired = mock.sign(
        "rsa-1",
        "RS256",
        json!({"typ": "at+jwt"}),
        &mock.claims(AUDIENCE, json!({"exp": 1_000_000_000})),
    );
    let refused = exchange_oidc(&app, json!({"oidc_token": expired})).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().contains("expired"), "{}", refused.body);
    let wrong_audience =
        exchange_oidc(&app, json!({"oidc_token": mock.token("https://elsewhere.test", json!({}))})).await;
    assert!(
        wrong_audience.problem(401)["detail"].as_str().unwrap().contains("`aud`"),
        "{}",
        wrong_audience.body
    );
    exchange_oidc(&app, json!({"token": "x"})).await.problem(400);
    test.cleanup().await;
}
