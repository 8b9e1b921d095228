//! The fake's WATCH: replay from history after the requested version, then live changes, one JSON event per
//! line; bookmarks when allowed; an end after `timeoutSeconds`; a version below the compaction floor gets one
//! `ERROR` event with code 410, inside a 200 answer, as a real API server sends it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::target::{Target, matches, served};
use super::{Change, GROUP, Shared, kind_of};

/// What a watch request asks for.
struct Request {
    from: u64,
    timeout: Duration,
    bookmarks: bool,
}

/// What a watch starts from, taken under one lock so that no change falls between replay and live.
struct Start {
    replay: Vec<Change>,
    live: broadcast::Receiver<Change>,
    disconnect: broadcast::Receiver<()>,
    floor: u64,
    current: u64,
    bookmark_interval: Option<Duration>,
    paused: bool,
}

pub(super) fn watch_stream(
    shared: &Arc<Shared>,
    target: &Target,
    query: &HashMap<String, String>,
) -> Response {
    let request = Request {
        from: query.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0),
        timeout: Duration::from_secs(query.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(290)),
        bookmarks: query.get("allowWatchBookmarks").is_some_and(|b| b == "true"),
    };
    let start = {
        let cluster = shared.cluster.lock().expect("the fake's state");
        Start {
            replay: cluster
                .history
                .iter()
                .filter(|change| {
                    change.version > request.from && matches(target, &change.plural, &change.namespace)
                })
                .cloned()
                .collect(),
            live: shared.changes.subscribe(),
            disconnect: shared.disconnects.subscribe(),
            floor: cluster.floor,
            current: cluster.version,
            bookmark_interval: cluster.bookmark_interval,
            paused: cluster.watches_paused,
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(stream(Arc::clone(shared), target.clone(), request, start, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .expect("a response")
}

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn event(change: &Change, version: &str) -> Bytes {
    let mut event = change.object.clone();
    event["object"] = served(&event["object"], version);
    line(&event)
}

/// The 410 a watch from before the compacted history gets.
fn expired(from: u64, floor: u64) -> Value {
    json!({ "type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {from} ({floor})"),
        "reason": "Expired", "code": 410
    }})
}

/// A bookmark at resource version `last`.
fn bookmark(target: &Target, last: u64) -> Value {
    json!({ "type": "BOOKMARK", "object": {
        "kind": kind_of(&target.plural), "apiVersion": format!("{GROUP}/{}", target.version),
        "metadata": { "resourceVersion": last.to_string(), "creationTimestamp": null }
    }})
}

async fn stream(
    shared: Arc<Shared>,
    target: Target,
    request: Request,
    mut start: Start,
    tx: mpsc::Sender<Bytes>,
) {
    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    if start.paused {
        tokio::select! {
            () = &mut deadline => {}
            _ = start.disconnect.recv() => {}
        }
        return;
    }
    if request.from != 0 && request.from < start.floor {
        let _ = tx.send(line(&expired(request.from, start.floor))).await;
        return;
    }
    for change in &start.replay {
        if tx.send(event(change, &target.version)).await.is_err() {
            return;
        }
    }
    let mut last = start.replay.last().map_or(start.current.max(request.from), |c| c.version);
    let bookmark_every = start.bookmark_interval.filter(|_| request.bookmarks);
    let mut ticker = tokio::time::interval(bookmark_every.unwrap_or(Duration::from_secs(3600)));
    ticker.tick().await;
    loop {
        let sent = tokio::select! {
            () = &mut deadline => return,
            _ = start.disconnect.recv() => return,
            _ = ticker.tick(), if bookmark_every.is_some() => {
                shared.bookmarks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tx.send(line(&bookmark(&target, last))).await
            }
            received = start.live.recv() => match received {
                Ok(change) if change.version > last && matches(&target, &change.plural, &change.namespace) => {
                    last = change.version;
                    tx.send(event(&change, &target.version)).await
                }
                Ok(_) => Ok(()),
                // Lagged or closed: end the watch; the client re-watches from its last version.
                Err(_) => return,
            }
        };
        if sent.is_err() {
            return;
        }
    }
}
