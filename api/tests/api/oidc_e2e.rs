//! oauth mode end to end with a real OpenID provider (npm oidc-provider, run by scripts/oidc-provider.sh on
//! loopback) and the repository's own example configuration, examples/oauth-local.yaml: client_credentials
//! tokens with an RFC 8707 resource, a JWT and an opaque token, published through the root aliases.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use registry_runtime::config::Config;
use registry_testkit::*;
use serde_json::{Value, json};

use crate::auth::bearer;
use crate::helpers::*;

/// The example's resource URL: scripts/oidc-provider.sh mints tokens for it by default.
pub const RESOURCE: &str = "http://localhost:8080";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// scripts/oidc-provider.sh on a free port, stopped when dropped.
pub struct LocalProvider {
    _process: tokio::process::Child,
    pub issuer: String,
    client: reqwest::Client,
}

impl LocalProvider {
    pub async fn start(log: &Path) -> Self {
        let port = free_port();
        let mut process = tokio::process::Command::new(workspace().join("scripts/oidc-provider.sh"))
            .arg(port.to_string())
            .env("RESOURCE", RESOURCE)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/oidc-provider.sh runs the provider (scripts/test.sh installs Node and it)");
        let (issuer, client) = (format!("http://127.0.0.1:{port}"), client_builder().build().unwrap());
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client.get(&discovery).send().await.is_ok_and(|r| r.status() == 200) {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            assert!(process.try_wait().unwrap().is_none(), "the OpenID provider exited:\n{log}");
            assert!(Instant::now() < deadline, "the OpenID provider did not come up within 60 s:\n{log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { _process: process, issuer, client }
    }

    /// examples/oauth-local.yaml, pointed at this provider.
    pub fn example_config(&self) -> Config {
        let example = std::fs::read_to_string(workspace().join("examples/oauth-local.yaml")).unwrap();
        let port = self.issuer.rsplit(':').next().unwrap();
        let mut config =
            Config::from_yaml(&example.replace("127.0.0.1:9090", &format!("127.0.0.1:{port}")), []).unwrap();
        // The tests sign in and exchange tokens again and again from one address.
        config.rate_limits.enabled = false;
        config
    }

    /// A client_credentials token for `resource`, with HTTP basic client authentication.
    pub async fn token(&self, client: &str, secret: &str, resource: &str) -> String {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("scope", "mcp-registry:write"),
                ("resource", resource),
            ])
            .finish();
        let request = self.client.post(format!("{}/token", self.issuer)).basic_auth(client, Some(secret));
        let request = request.header("content-type", "application/x-www-form-urlencoded").body(form);
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["access_token"].as_str().unwrap_or_else(|| panic!("no token: {answer}")).to_owned()
    }
}

/// The header of a compact JWS.
fn jws_header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[tokio::test]
async fn tokens_from_a_real_openid_provider_publish_through_the_root_alias_with_the_example_config() {
    let test = TestStore::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let provider = LocalProvider::start(&dir.path().join("oidc-provider.log")).await;
    let mut config = provider.example_config();
    config.database = test.config.clone();
    config.audit.file = Some(dir.path().join("audit.jsonl"));
    // The example's commented-out introspection, with an absolute secret file.
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "registry-secret").unwrap();
    let local = &mut config.auth.oauth.as_mut().unwrap().providers[0];
    (local.client_id, local.client_secret_file) = (Some("registry".into()), Some(secret));
    local.introspection_url = Some(format!("{}/token/introspection", provider.issuer).parse().unwrap());
    let app = spawn_config(&test, config).await;
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("examples/publish/ticket-desk.json")).unwrap(),
    )
    .unwrap();
    let post = |path: &str, token: Option<&str>, body: &Value| {
        let request = app.client.post(format!("{}{path}", app.base)).json(body);
        app.send(match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    };

    let jwt = provider.token("publisher", "publisher-secret", RESOURCE).await;
    let opaque = provider.token("opaque-publisher", "opaque-secret", RESOURCE).await;
    let reader = provider.token("reader", "reader-secret", RESOURCE).await;
    let elsewhere = provider.token("publisher", "publisher-secret", "https://elsewhere.example").await;

    let refused = post("/v0.1/publish", None, &document).await;
    let published = post("/v0.1/publish", Some(&jwt), &document).await;
    let read_opaque = app.get_as("/v0.1/servers", Some(&bearer(&opaque))).await;
    let status_opaque = app
        .send(
            app.client
                .patch(format!("{}/v0.1/servers/com.example.platform%2Fticket-desk/status", app.base))
                .bearer_auth(&opaque)
                .json(&json!({"status": "deprecated", "statusMessage": "use the new desk"})),
        )
        .await;
    let published_opaque =
        post("/v0/publish", Some(&opaque), &server_json("com.example.platform/opaque-tool", "1.0.0")).await;
    let read_reader = app.get_as("/v0.1/servers", Some(&bearer(&reader))).await;
    let publish_reader =
        post("/v0.1/publish", Some(&reader), &server_json("com.example.platform/other", "1.0.0")).await;
    let wrong_audience = app.get_as("/v0.1/servers", Some(&bearer(&elsewhere))).await;
    let metadata = app.get("/.well-known/oauth-protected-resource").await;

    let header = jws_header(&jwt);
    assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("RS256"), Some("at+jwt")), "{header}");
    assert!(!opaque.contains('.'), "the opaque client gets an opaque token: {opaque}");
    refused.problem(401);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("resource_metadata=\"{RESOURCE}/.well-known/oauth-protected-resource\"")),
        "{challenge}"
    );
    assert_eq!(published.status, 201, "{}", published.body);
    assert_eq!(published.body["server"]["name"], "com.example.platform/ticket-desk");
    assert_eq!(
        (read_opaque.status.as_u16(), read_opaque.body["metadata"]["count"].as_u64()),
        (200, Some(1)),
        "introspected"
    );
    assert_eq!(
        status_opaque.status, 200,
        "the introspected groups claim grants manageEntries: {}",
        status_opaque.body
    );
    assert_eq!(published_opaque.status, 201, "an opaque token publishes too: {}", published_opaque.body);
    assert_eq!(read_reader.status, 200);
    assert!(publish_reader.problem(403)["detail"].as_str().unwrap().contains("manageEntries"));
    wrong_audience.problem(401);
    assert_eq!(metadata.body["resource"], RESOURCE);
    assert_eq!(metadata.body["authorization_servers"], json!([provider.issuer]));
    let audit = crate::audit::events(&dir.path().join("audit.jsonl"), 6);
    let published_by = audit.iter().find(|e| e["status"] == 201).expect("the publish is audited");
    assert_eq!(
        (published_by["provider"].as_str(), published_by["subject"].as_str()),
        (Some("local"), Some("publisher"))
    );
    let opaque_publish =
        audit.iter().find(|e| e["path"] == "/v0/publish").expect("the opaque publish is audited");
    assert_eq!(
        (opaque_publish["provider"].as_str(), opaque_publish["outcome"].as_str()),
        (Some("local"), Some("success"))
    );
    test.cleanup().await;
}
