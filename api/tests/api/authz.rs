//! Who may write, by persona, over PostgreSQL: anonymous mode, tokens without `auth.authz`, and full
//! authorization with roles, namespaces and enforced scopes.

use registry_runtime::config::{AuthzConfig, ClaimMatch, NamespaceRule, Roles};
use registry_testkit::oidc::MockProvider;
use registry_testkit::*;
use serde_json::{Value, json};

use crate::auth::*;
use crate::helpers::*;

fn claim(key: &str, value: &str) -> ClaimMatch {
    [(key.to_owned(), vec![value.to_owned()])].into_iter().collect()
}

/// superAdmin: role super-admin; publishers: group publishers, in org acme's and contoso's namespaces;
/// operators (manageSources): group operators.
fn full_authz() -> AuthzConfig {
    AuthzConfig {
        roles: Roles {
            super_admin: vec![claim("role", "super-admin")],
            manage_sources: vec![claim("groups", "operators")],
            manage_entries: vec![claim("groups", "publishers")],
            ..Roles::default()
        },
        namespaces: vec![
            NamespaceRule { matcher: claim("org", "acme"), publish: vec!["com.acme.*".into()] },
            NamespaceRule { matcher: claim("org", "contoso"), publish: vec!["com.contoso/*".into()] },
        ],
    }
}

struct Persona<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Persona<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self.app.client.request(method, format!("{}{path}", self.app.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.app.send(request).await
    }

    /// publish, edit, status, delete and sync-now of `name`: the five statuses.
    async fn writes(&self, name: &str) -> [u16; 5] {
        let encoded = name.replace('/', "%2F");
        let publish = self
            .send(reqwest::Method::POST, "/registry/internal/v0.1/publish", Some(&server_json(name, "1.0.0")))
            .await;
        let edited = server_json_with(name, "1.0.0", json!({"description": "edited"}));
        let edit = self
            .send(
                reqwest::Method::PUT,
                &format!("/registry/internal/v0.1/servers/{encoded}/versions/1.0.0"),
                Some(&edited),
            )
            .await;
        let status = self
            .send(
                reqwest::Method::PATCH,
                &format!("/registry/internal/v0.1/servers/{encoded}/versions/1.0.0/status"),
                Some(&json!({"status": "deprecated"})),
            )
            .await;
        let delete = self
            .send(
                reqwest::Method::DELETE,
                &format!("/registry/internal/v0.1/servers/{encoded}/versions/1.0.0"),
                None,
            )
            .await;
        let sync = self.send(reqwest::Method::POST, "/extension/v0/registries/files/sync", None).await;
        [publish, edit, status, delete, sync].map(|reply| reply.status.as_u16())
    }
}

#[tokio::test]
async fn anonymous_mode_lets_everyone_write() {
    let test = TestStore::postgres().await;
    let app = spawn_app(&test, vec![managed_registry("internal"), file_registry("files")]).await;
    let anyone = Persona { app: &app, token: None };

    assert_eq!(anyone.writes("io.example/tool").await, [201, 200, 200, 200, 202]);
    assert_eq!(app.get("/extension/v0/me").await.status, 404, "no callers to describe");
    test.cleanup().await;
}

#[tokio::test]
async fn without_authz_any_authenticated_caller_may_write_and_no_one_else() {
    let test = TestStore::postgres().await;
    let mock = MockProvider::start().await;
    let app = app_with(&test, oauth(vec![provider(&mock, "idp")], false)).await;
    let caller = Persona { app: &app, token: Some(mock.token(AUDIENCE, json!({}))) };
    let stranger = Persona { app: &app, token: None };

    assert_eq!(caller.writes("io.example/tool").await, [201, 200, 200, 200, 202]);
    assert_eq!(stranger.writes("io.example/other").await, [401, 401, 401, 401, 401]);
    let me = caller.send(reqwest::Method::GET, "/extension/v0/me", None).await;
    assert_eq!(me.body["roles"], json!(["superAdmin", "manageSources", "manageRegistries", "manageEntries"]));
    assert_eq!(
        (&me.body["provider"], &me.body["subject"], &me.body["namespaces"]),
        (&json!("idp"), &json!("client-1"), &json!(["*"]))
    );
    test.cleanup().await;
}

#[tokio::test]
async fn with_authz_roles_gate_each_write_and_namespaces_gate_the_names() {
    let test = TestStore::postgres().await;
    let mock = MockProvider::start().await;
    let mut auth = oauth(vec![provider(&mock, "idp")], true);
    auth.authz = Some(full_authz());
    let app = app_with(&test, auth).await;
    let token = |claims: Value| Some(mock.token(AUDIENCE, claims));
    let admin = Persona { app: &app, token: token(json!({"role": "super-admin"})) };
    let publisher = Persona { app: &app, token: token(json!({"groups": ["publishers"], "org": "acme"})) };
    let operator = Persona { app: &app, token: token(json!({"groups": "operators"})) };
    let outsider = Persona { app: &app, token: token(json!({"org": "acme"})) };

    assert_eq!(
        publisher.writes("com.acme.platform/tool").await,
        [201, 403, 200, 200, 403],
        "entries, not edits or sources"
    );
    assert_eq!(
        publisher.writes("com.contoso/tool").await,
        [403, 403, 403, 403, 403],
        "another org's namespace, and no sync"
    );
    assert_eq!(
        operator.writes("com.acme.platform/tool").await,
        [403, 403, 403, 403, 202],
        "sources, not entries"
    );
    assert_eq!(
        outsider.writes("com.acme.platform/tool").await,
        [403, 403, 403, 403, 403],
        "a namespace without a role"
    );
    assert_eq!(
        admin.writes("io.anywhere/tool").await,
        [201, 200, 200, 200, 202],
        "superAdmin: everything, every name"
    );
    let escape = publisher
        .send(reqwest::Method::POST, "/v0.1/publish", Some(&server_json("com.contoso/tool", "1.0.0")))
        .await;
    let detail = escape.problem(403)["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("com.contoso/tool is outside your namespaces") && detail.contains("com.acme.*"),
        "{detail}"
    );
    assert!(
        !escape.headers.contains_key("www-authenticate"),
        "a role or namespace refusal carries no challenge"
    );
    let me = publisher.send(reqwest::Method::GET, "/extension/v0/me", None).await;
    assert_eq!(
        (&me.body["roles"], &me.body["namespaces"]),
        (&json!(["manageEntries"]), &json!(["com.acme.*"]))
    );
    assert_eq!(
        Persona { app: &app, token: None }.send(reqwest::Method::GET, "/v0.1/servers", None).await.status,
        200,
        "publicReads"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn enforced_scopes_need_the_write_scope_for_writes_and_the_read_scope_for_reads() {
    let test = TestStore::postgres().await;
    let mock = MockProvider::start().await;
    let mut auth = oauth(vec![provider(&mock, "idp")], false);
    auth.oauth.as_mut().unwrap().enforce_scopes = true;
    let app = app_with(&test, auth).await;
    let reader = Persona {
        app: &app,
        token: Some(mock.token(AUDIENCE, json!({"scope": "openid mcp-registry:read"}))),
    };
    let writer =
        Persona { app: &app, token: Some(mock.token(AUDIENCE, json!({"scp": ["mcp-registry:write"]}))) };
    let none = Persona { app: &app, token: Some(mock.token(AUDIENCE, json!({}))) };

    let refused = reader
        .send(reqwest::Method::POST, "/v0.1/publish", Some(&server_json("io.example/tool", "1.0.0")))
        .await;
    let read = reader.send(reqwest::Method::GET, "/v0.1/servers", None).await;
    let published = writer
        .send(reqwest::Method::POST, "/v0.1/publish", Some(&server_json("io.example/tool", "1.0.0")))
        .await;
    let written_read = writer.send(reqwest::Method::GET, "/v0.1/servers", None).await;
    let unscoped = none.send(reqwest::Method::GET, "/v0.1/servers", None).await;

    refused.problem(403);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"mcp-registry:write\"")
            && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    assert_eq!(
        (read.status.as_u16(), published.status.as_u16(), written_read.status.as_u16()),
        (200, 201, 200)
    );
    unscoped.problem(403);
    assert!(unscoped.headers["www-authenticate"].to_str().unwrap().contains("scope=\"mcp-registry:read\""));
    test.cleanup().await;
}
