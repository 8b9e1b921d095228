//! `spawn_app`: the real application on 127.0.0.1, on a test store of its own, with typed helpers.

use registry_api::Application;
use registry_core::formats::Entry;
use registry_runtime::config::{Config, CorsConfig, RegistryConfig};
use registry_runtime::outbound::HostTable;
use registry_store::RawPool;
use registry_store::Store;
use registry_testkit::{TestStore, name, test_config};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
}

/// A response with its body read as JSON (or `Null` when it is not JSON), and as text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as text (pages, and anything not JSON).
    pub text: String,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The `(name, version)` pairs of a `ServerList`.
    pub fn versions(&self) -> Vec<(String, String)> {
        self.body["servers"]
            .as_array()
            .unwrap_or_else(|| panic!("not a server list: {}", self.body))
            .iter()
            .map(|item| {
                let server = &item["server"];
                (server["name"].as_str().unwrap().to_owned(), server["version"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    /// Asserts a problem+json error with this status, returning its body.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["title"].is_string()
                && self.body["detail"].is_string()
                && self.body["type"].is_string()
        );
        &self.body
    }
}

/// Starts the application for `registries` on the test's store.
pub async fn spawn_app(test: &TestStore, registries: Vec<RegistryConfig>) -> TestApp {
    spawn_with(test, registries, CorsConfig::default()).await
}

pub async fn spawn_with(test: &TestStore, registries: Vec<RegistryConfig>, cors: CorsConfig) -> TestApp {
    spawn_config(test, Config { cors, ..test_config(test.config.clone(), registries) }).await
}

/// Starts the application with a whole configuration, on the test's store, after storing the configuration's
/// registries as the release step does.
pub async fn spawn_config(test: &TestStore, config: Config) -> TestApp {
    test.store.apply_registries(&config.registries).await.unwrap();
    spawn_config_as_stored(test, config).await
}

/// Starts the application on the test's store as it is: the stored registries are served, whatever
/// `config` lists.
pub async fn spawn_config_as_stored(test: &TestStore, config: Config) -> TestApp {
    launch(test, config, HostTable::default()).await
}

/// As [`spawn_config`], where the `http` token exchange resolves the names of `hosts` to their loopback
/// addresses.
pub async fn spawn_with_hosts(test: &TestStore, config: Config, hosts: HostTable) -> TestApp {
    test.store.apply_registries(&config.registries).await.unwrap();
    launch(test, config, hosts).await
}

/// As [`spawn_config`], listening on `port` of 127.0.0.1 (for a configuration that names its own address).
pub async fn spawn_config_at(test: &TestStore, config: Config, port: u16) -> TestApp {
    test.store.apply_registries(&config.registries).await.unwrap();
    launch_at(test, config, HostTable::default(), port).await
}

async fn launch(test: &TestStore, config: Config, hosts: HostTable) -> TestApp {
    launch_at(test, config, hosts, 0).await
}

async fn launch_at(test: &TestStore, config: Config, hosts: HostTable, port: u16) -> TestApp {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let application = Application::build_with_hosts(config, address, hosts).await.unwrap();
    let port = application.local_addr().unwrap().port();
    tokio::spawn(application.run_until(std::future::pending()));
    let client = client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { base: format!("http://127.0.0.1:{port}"), client, store: test.store.clone() }
}

/// Chromium's flags that keep its own traffic (updates, sync, field trials) off: the suite sends nothing off
/// the machine.
pub const CHROMIUM_QUIET: [&str; 5] = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

/// An HTTP client for 127.0.0.1: no proxy, and the TLS provider installed (reqwest is built without one).
pub fn client_builder() -> reqwest::ClientBuilder {
    if rustls::crypto::ring::default_provider().install_default().is_err() {
        // Installed already by an earlier test in this process.
    }
    reqwest::Client::builder().no_proxy()
}

impl TestApp {
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.base))).await
    }

    pub async fn get_if_none_match(&self, path: &str, etag: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.base)).header("if-none-match", etag)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body)).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.patch(format!("{}{path}", self.base)).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(format!("{}{path}", self.base))).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), text }
    }

    /// Replaces a registry's contents, as a sync would.
    pub async fn snapshot(&self, registry: &str, entries: Vec<Entry>) {
        self.store.write_snapshot(&name(registry), entries).await.unwrap();
    }
}

/// Validates a body against the API's response schema of that name (the official server.json schema inside
/// the specification's envelope).
pub use registry_testkit::spec::assert_api_shape;

#[test]
fn the_shape_check_catches_a_broken_list() {
    let broken = serde_json::json!({"servers": [{"server": {"name": "io.example/x", "version": "1"}}]});
    let caught = std::panic::catch_unwind(|| assert_api_shape(&broken, "ServerList"));
    assert!(caught.is_err(), "a server without a description must not pass");
}

/// A minimal server.json that passes every publish check.
pub fn server_json(server_name: &str, version: &str) -> Value {
    serde_json::json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": server_name,
        "description": "A server for tests",
        "version": version,
    })
}

/// `server_json` with fields added or replaced.
pub fn server_json_with(server_name: &str, version: &str, extra: Value) -> Value {
    let mut document = server_json(server_name, version);
    if let (Some(target), Value::Object(extra)) = (document.as_object_mut(), extra) {
        target.extend(extra);
    }
    document
}

/// A configuration for `registries` on the test's PostgreSQL store whose API reads are cancelled after
/// 300 ms (`database.statementTimeout`).
pub fn with_short_statement_timeout(test: &TestStore, registries: Vec<RegistryConfig>) -> Config {
    let mut config = test_config(test.config.clone(), registries);
    let registry_runtime::config::StorageConfig::Postgres(pg) = &mut config.database else {
        panic!("the statement timeout is PostgreSQL's")
    };
    pg.statement_timeout = std::time::Duration::from_millis(300);
    config
}

/// Holds `server_version` locked against every other session until the returned transaction ends.
pub async fn lock_versions(test: &TestStore) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let RawPool::Postgres(store) = test.store.raw_pool() else { panic!("locking tables is PostgreSQL's") };
    let mut lock = store.begin().await.unwrap();
    sqlx::query("lock table server_version in access exclusive mode").execute(&mut *lock).await.unwrap();
    lock
}
