//! A fake upstream registry on 127.0.0.1: it pages a list of items like the official API, and can be told to
//! fail a number of times first, or to answer with a broken body.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
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
    pub requests: usize,
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

async fn list(State(behaviour): State<Arc<Mutex<Behaviour>>>, Query(params): Query<Params>) -> Response {
    let delay = {
        let mut state = behaviour.lock().unwrap();
        state.requests += 1;
        state.delay.take()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut state = behaviour.lock().unwrap();
    if !state.failures.is_empty() {
        return state.failures.remove(0).into_response();
    }
    let start = params.cursor.as_deref().map_or(0, |c| c.parse::<usize>().unwrap());
    let limit = params.limit.unwrap_or(30);
    let end = (start + limit).min(state.items.len());
    let mut metadata = json!({"count": end - start});
    if end < state.items.len() {
        metadata["nextCursor"] = json!(end.to_string());
    }
    let body = json!({"servers": state.items[start..end], "metadata": metadata});
    if state.truncate {
        let text = body.to_string();
        return ([("content-type", "application/json")], text[..text.len() / 2].to_owned()).into_response();
    }
    Json(body).into_response()
}

/// An item as an upstream lists it.
pub fn item(name: &str, version: &str, status: &str) -> Value {
    json!({
        "server": {"name": name, "description": format!("{name} {version}"), "version": version},
        "_meta": {"io.modelcontextprotocol.registry/official": {
            "status": status, "statusChangedAt": "2025-06-01T00:00:00Z", "publishedAt": "2025-05-01T00:00:00Z",
            "updatedAt": "2025-06-01T00:00:00Z", "isLatest": true
        }}
    })
}
