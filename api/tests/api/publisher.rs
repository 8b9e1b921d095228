//! The official publisher CLI (`mcp-publisher`) against this registry: its exact calls, headers and bodies
//! (`login none`, `publish`, `status`, `validate`) replayed in both auth modes, on both backends, with the
//! registry's own tokens.

use std::path::Path;
use std::time::{Duration, Instant};

use registry_runtime::config::{
    ANONYMOUS_NAMESPACE, AuthConfig, AuthMode, AuthzConfig, ClaimMatch, DnsMethod, GithubOidcMethod,
    NamespaceRule, NoneMethod, OidcMethod, Outbound, PublisherMethods, PublisherTokensConfig, Roles,
};
use registry_testkit::oidc::MockProvider;
use registry_testkit::proofs::{DnsZone, Prover};
use registry_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{AUDIENCE, app_with, oauth, provider};
use crate::helpers::*;

const ANONYMOUS: &str = "io.modelcontextprotocol.anonymous";

/// A signing key file, and `auth.publisherTokens` with the `none` method on, tokens living `ttl`.
pub fn publisher_tokens(dir: &Path, ttl: Duration) -> PublisherTokensConfig {
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
            ..PublisherMethods::default()
        },
    }
}

/// The CLI: a bare HTTP client, the token it got at login, and the registry's base URL.
pub struct Publisher<'a> {
    pub app: &'a TestApp,
    pub token: Option<String>,
}

impl Publisher<'_> {
    /// `mcp-publisher login none`: `POST /v0/auth/none`, no body, no extra header.
    async fn login_none(&mut self) -> Reply {
        let reply = self.app.send(self.app.client.post(format!("{}/v0/auth/none", self.app.base))).await;
        self.token = reply.body["registry_token"].as_str().map(str::to_owned);
        reply
    }

    /// `mcp-publisher login dns|http|github-oidc|github`: `POST /v0/auth/{method}` with a JSON body and the
    /// two JSON headers.
    pub async fn login(&mut self, method: &str, body: &Value) -> Reply {
        let request = (self.app.client.post(format!("{}/v0/auth/{method}", self.app.base)))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string());
        let reply = self.app.send(request).await;
        self.token = reply.body["registry_token"].as_str().map(str::to_owned);
        reply
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>, authorized: bool) -> Reply {
        let mut request = self.app.client.request(method, format!("{}{path}", self.app.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        if authorized && let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.app.send(request).await
    }

    pub async fn publish(&self, document: &Value) -> Reply {
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

/// How the CLI logs in, in the replayed sequence, and what its token then holds.
enum Login<'a> {
    None,
    /// The seed of an Ed25519 key of `example.com`'s TXT records.
    Dns(u8),
    /// A GitHub Actions token of the `acme` organisation's workflow, minted by this stand-in issuer.
    GithubOidc(&'a MockProvider),
}

impl Login<'_> {
    async fn run(&self, cli: &mut Publisher<'_>) -> Reply {
        match self {
            Self::None => cli.login_none().await,
            Self::Dns(seed) => cli.login("dns", &Prover::ed25519(*seed).body("example.com")).await,
            Self::GithubOidc(actions) => {
                cli.login("github-oidc", &json!({"oidc_token": actions_token(actions, "mcp-registry")})).await
            }
        }
    }

    /// A namespace the token may publish in.
    fn namespace(&self) -> &'static str {
        match self {
            Self::None => ANONYMOUS,
            Self::Dns(_) => "com.example",
            Self::GithubOidc(_) => "io.github.acme",
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Dns(_) => "dns",
            Self::GithubOidc(_) => "github-oidc",
        }
    }

    fn permissions(&self) -> Value {
        match self {
            Self::None => {
                json!([{"action": "publish", "resource": ANONYMOUS_NAMESPACE}, {"action": "edit", "resource": ANONYMOUS_NAMESPACE}])
            }
            Self::Dns(_) => {
                json!([{"action": "publish", "resource": "com.example/*"}, {"action": "publish", "resource": "com.example.*"}])
            }
            Self::GithubOidc(_) => json!([{"action": "publish", "resource": "io.github.acme/*"}]),
        }
    }
}

/// A GitHub Actions OIDC token for `audience`, from the `acme/tools` repository's workflow.
pub fn actions_token(actions: &MockProvider, audience: &str) -> String {
    let claims = actions.claims(
        audience,
        json!({"sub": "repo:acme/tools:ref:refs/heads/main", "repository_owner": "acme", "repository": "acme/tools"}),
    );
    actions.sign("rsa-1", "RS256", json!({"typ": "JWT"}), &claims)
}

/// The CLI's whole sequence: login, publish (201), the same again (200), another namespace (403 naming the
/// token's patterns), status on one version and on all, validate, the 422 the CLI explains through
/// validate, and, with the token's short `ttl`, a 401 once it has expired.
async fn the_publisher_sequence(app: &TestApp, login: Login<'_>, ttl: Duration) {
    let mut cli = Publisher { app, token: None };
    let reply = login.run(&mut cli).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expires_at = reply.body["expires_at"].as_i64().unwrap();
    let lifetime = expires_at - chrono::Utc::now().timestamp();
    let ttl_seconds = i64::try_from(ttl.as_secs()).unwrap();
    assert!((ttl_seconds - 2..=ttl_seconds).contains(&lifetime), "the ttl: {lifetime} s");

    let name = format!("{}/weather", login.namespace());
    let document = server_json(&name, "1.0.0");
    assert_eq!(cli.publish(&document).await.status, 201);
    assert_eq!(cli.publish(&document).await.status, 200, "the same document again");
    assert_eq!(cli.publish(&server_json(&name, "1.1.0")).await.status, 201);

    let elsewhere = cli.publish(&server_json("io.github.someone/tool", "1.0.0")).await;
    let detail = elsewhere.problem(403)["detail"].as_str().unwrap();
    let first_pattern = login.permissions()[0]["resource"].as_str().unwrap().to_owned();
    assert!(detail.contains(&first_pattern), "{detail}");

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
    assert_eq!((me.status.as_u16(), &me.body["authMethod"]), (200, &json!(login.method())), "{}", me.body);
    assert_eq!(me.body["permissions"], login.permissions());

    // The token expires after its ttl and the replicas' clock leeway (5 s): publish until it is refused.
    let deadline = Instant::now() + ttl + Duration::from_secs(20);
    let late = server_json(&name, "3.0.0");
    loop {
        let reply = cli.publish(&late).await;
        if reply.status == 401 {
            let detail = reply.problem(401)["detail"].as_str().unwrap().to_owned();
            assert!(detail.contains("expired"), "{detail}");
            break;
        }
        assert!(matches!(reply.status.as_u16(), 200 | 201), "before expiry the token works: {}", reply.body);
        assert!(Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The stand-ins a login needs, and the methods that use them: a DNS zone publishing `example.com`'s key,
/// and a GitHub Actions issuer.
struct Partners {
    zone: DnsZone,
    actions: MockProvider,
    prover: u8,
}

impl Partners {
    async fn start() -> Self {
        let zone = DnsZone::start().await;
        zone.add_txt("example.com", &[&Prover::ed25519(9).record()]);
        Self { zone, actions: MockProvider::start().await, prover: 9 }
    }

    fn login(&self, method: &str) -> Login<'_> {
        match method {
            "dns" => Login::Dns(self.prover),
            "github-oidc" => Login::GithubOidc(&self.actions),
            _ => Login::None,
        }
    }

    /// `auth.publisherTokens` with tokens living `ttl` and the none, dns and github-oidc methods on.
    fn tokens(&self, dir: &Path, ttl: Duration) -> PublisherTokensConfig {
        let mut tokens = publisher_tokens(dir, ttl);
        tokens.methods.dns =
            Some(DnsMethod { nameserver: Some(self.zone.address), timeout: Duration::from_secs(5) });
        tokens.methods.github_oidc = Some(GithubOidcMethod {
            issuer: self.actions.issuer.clone(),
            jwks_url: None,
            audiences: vec!["mcp-registry".into()],
            allowed_owners: Vec::new(),
            allowed_repositories: Vec::new(),
            outbound: Outbound { ca_cert_path: None, allow_private_ip: true },
        });
        tokens
    }
}

/// A short-lived token, so that the sequence ends with its expiry.
const SEQUENCE_TTL: Duration = Duration::from_secs(4);

async fn sequence_in_anonymous_mode(test: &TestStore, method: &str) {
    let dir = tempfile::tempdir().unwrap();
    let partners = Partners::start().await;
    let auth = AuthConfig {
        publisher_tokens: Some(partners.tokens(dir.path(), SEQUENCE_TTL)),
        ..anonymous_with_tokens(dir.path(), SEQUENCE_TTL)
    };
    let app = app_with(test, auth).await;
    the_publisher_sequence(&app, partners.login(method), SEQUENCE_TTL).await;

    // Without a token the API stays open, as anonymous mode is; a token it did not issue is refused.
    assert_eq!(
        app.post_json("/v0/publish", &server_json("io.github.someone/tool", "1.0.0")).await.status,
        201
    );
    let foreign = app
        .send(
            app.client
                .post(format!("{}/v0/publish", app.base))
                .bearer_auth("not-a-registry-token")
                .json(&server_json("io.github.someone/tool", "2.0.0")),
        )
        .await;
    assert!(foreign.problem(401)["detail"].as_str().unwrap().contains("not a token this registry issued"));
}

async fn sequence_in_oauth_mode(test: &TestStore, method: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (partners, mock) = (Partners::start().await, MockProvider::start().await);
    let auth = AuthConfig {
        publisher_tokens: Some(partners.tokens(dir.path(), SEQUENCE_TTL)),
        ..oauth(vec![provider(&mock, "mock")], false)
    };
    let app = app_with(test, auth).await;
    the_publisher_sequence(&app, partners.login(method), SEQUENCE_TTL).await;

    // The exchange and the CLI's health check need no token; writes without one are refused.
    let health = app.get("/v0/health").await;
    assert_eq!((health.status.as_u16(), &health.body["status"]), (200, &json!("ok")));
    assert_eq!(
        app.post_json("/v0/publish", &server_json(&format!("{ANONYMOUS}/x"), "1.0.0")).await.status,
        401
    );
}

on_both_backends! {
    async fn the_publisher_cli_logs_in_with_none_and_publishes_in_anonymous_mode(test: &TestStore) {
        sequence_in_anonymous_mode(test, "none").await;
    }

    async fn the_publisher_cli_logs_in_with_none_and_publishes_in_oauth_mode(test: &TestStore) {
        sequence_in_oauth_mode(test, "none").await;
    }

    async fn the_publisher_cli_logs_in_with_dns_and_publishes_in_anonymous_mode(test: &TestStore) {
        sequence_in_anonymous_mode(test, "dns").await;
    }

    async fn the_publisher_cli_logs_in_with_dns_and_publishes_in_oauth_mode(test: &TestStore) {
        sequence_in_oauth_mode(test, "dns").await;
    }

    async fn the_publisher_cli_logs_in_with_github_oidc_and_publishes_in_anonymous_mode(test: &TestStore) {
        sequence_in_anonymous_mode(test, "github-oidc").await;
    }

    async fn the_publisher_cli_logs_in_with_github_oidc_and_publishes_in_oauth_mode(test: &TestStore) {
        sequence_in_oauth_mode(test, "github-oidc").await;
    }
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

/// A registry token with a changed signature is refused by the registry itself (expiry is the sequence's
/// last step).
#[tokio::test]
async fn a_forged_registry_token_is_refused_and_never_reaches_the_providers() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let auth = AuthConfig {
        publisher_tokens: Some(publisher_tokens(dir.path(), Duration::from_secs(300))),
        ..oauth(vec![provider(&mock, "mock")], false)
    };
    let app = app_with(&test, auth).await;
    let mut cli = Publisher { app: &app, token: None };
    cli.login_none().await;
    let token = cli.token.clone().unwrap();

    // A signature that is not the registry's: a character in the middle of the signature changed (the last
    // one carries padding bits, which a decoder may refuse before the signature is checked).
    let at = token.len() - 20;
    let changed = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{changed}{}", &token[..at], &token[at + 1..]);
    let refused = app.get_as("/v0.1/servers", Some(&format!("Bearer {forged}"))).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().contains("registry token was refused"));
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
        (events[2]["action"].as_str(), events[2]["outcome"].as_str(), events[2]["provider"].as_str()),
        (Some("exchange"), Some("refused"), Some("registry:none"))
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
