//! A fake upstream registry on 127.0.0.1: it pages a list of items like the official API, `updated_since`
//! included (strictly after), and can be told to fail a number of times first, to answer with a broken body,
//! or to ignore `updated_since` as ToolHive v0.4.9 does.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
pub struct Behaviour {
    /// The items (`{server, _meta}`) served, in order.
    pub items: Vec<Value>,
    /// Answer the next requests with this status (consumed one per request).
    pub failures: Vec<StatusCode>,
    /// Answer with a body cut in half.
    pub truncate: bool,
    /// Hold the next request this long before answering (consumed by it).
    pub delay: Option<std::time::Duration>,
    /// List everything whatever `updated_since` says.
    pub ignore_since: bool,
    pub requests: usize,
    /// The query string of every request, in order.
    pub queries: Vec<String>,
}

#[derive(Clone)]
pub struct Upstream {
    pub base: String,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

#[derive(serde::Deserialize)]
struct Params {
    cursor: Option<String>,
    limit: Option<usize>,
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Upstream {
    pub async fn start(items: Vec<Value>) -> Self {
        let behaviour = Arc::new(Mutex::new(Behaviour { items, ..Behaviour::default() }));
        let router = Router::new().route("/v0.1/servers", get(list)).with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, behaviour }
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn requests(&self) -> usize {
        self.behaviour.lock().unwrap().requests
    }
}

fn updated_at(item: &Value) -> chrono::DateTime<chrono::Utc> {
    item["_meta"]["io.modelcontextprotocol.registry/official"]["updatedAt"].as_str().unwrap().parse().unwrap()
}

async fn list(
    State(behaviour): State<Arc<Mutex<Behaviour>>>,
    Query(params): Query<Params>,
    RawQuery(query): RawQuery,
) -> Response {
    let delay = {
        let mut state = behaviour.lock().unwrap();
        state.requests += 1;
        state.queries.push(query.unwrap_or_default());
        state.delay.take()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut state = behaviour.lock().unwrap();
    if !state.failures.is_empty() {
        return state.failures.remove(0).into_response();
    }
    let since = params.updated_since.filter(|_| !state.ignore_since);
    let items: Vec<&Value> =
        state.items.iter().filter(|item| since.is_none_or(|since| updated_at(item) > since)).collect();
    let start = params.cursor.as_deref().map_or(0, |c| c.parse::<usize>().unwrap());
    let limit = params.limit.unwrap_or(30);
    let end = (start + limit).min(items.len());
    let mut metadata = json!({"count": end - start});
    if end < items.len() {
        metadata["nextCursor"] = json!(end.to_string());
    }
    let body = json!({"servers": items[start..end], "metadata": metadata});
    if state.truncate {
        let text = body.to_string();
        return ([("content-type", "application/json")], text[..text.len() / 2].to_owned()).into_response();
    }
    Json(body).into_response()
}

/// An item as an upstream lists it.
pub fn item(name: &str, version: &str, status: &str) -> Value {
    item_at(name, version, status, "2025-06-01T00:00:00Z")
}

/// An item the upstream last updated at `updated_at`.
pub fn item_at(name: &str, version: &str, status: &str, updated_at: &str) -> Value {
    json!({
        "server": {"name": name, "description": format!("{name} {version} as of {updated_at}"), "version": version},
        "_meta": {"io.modelcontextprotocol.registry/official": {
            "status": status, "statusChangedAt": updated_at, "publishedAt": "2025-05-01T00:00:00Z",
            "updatedAt": updated_at, "isLatest": true
        }}
    })
}
