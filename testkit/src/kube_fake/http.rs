//! The fake's HTTP side: which resource a request addresses, refusals, and paged lists.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::target::{Target, matches, served, target};
use super::{Cluster, GROUP, KINDS, Shared, kind_of};

/// A Kubernetes `Status` answer.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub(super) async fn serve(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut cluster = shared.cluster.lock().expect("the fake's state");
    cluster.requests.push(format!("GET {}", uri.path_and_query().map_or("", |p| p.as_str())));
    let Some(target) = target(uri.path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    };
    let forbidden = match &target.namespace {
        Some(namespace) => cluster.forbidden.contains(namespace),
        None => cluster.forbid_cluster_wide,
    };
    if forbidden {
        let scope = target
            .namespace
            .as_deref()
            .map_or("at the cluster scope".to_owned(), |ns| format!("in the namespace \"{ns}\""));
        let message = format!(
            "{}.{GROUP} is forbidden: User \"system:serviceaccount:registry:registry\" cannot list resource \
             \"{}\" in API group \"{GROUP}\" {scope}",
            target.plural, target.plural
        );
        return status(StatusCode::FORBIDDEN, "Forbidden", &message);
    }
    // Authorization comes first, as on a real API server: a forbidden user learns nothing of what exists.
    if !cluster.served_versions.contains(&target.version)
        || cluster.missing.contains(&target.plural)
        || !KINDS.iter().any(|(plural, _)| *plural == target.plural)
    {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    }
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if watch {
        drop(cluster);
        return super::watch::watch_stream(&shared, &target, &query);
    }
    list(&mut cluster, &target, &query)
}

fn list(cluster: &mut Cluster, target: &Target, query: &HashMap<String, String>) -> Response {
    let limit =
        query.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let (id, offset) = match query.get("continue").filter(|token| !token.is_empty()) {
        Some(token) => {
            let parsed =
                token.split_once(':').and_then(|(id, offset)| Some((id.parse().ok()?, offset.parse().ok()?)));
            match parsed.filter(|(id, _)| cluster.snapshots.contains_key(id)) {
                Some(position) => position,
                None => {
                    return status(
                        StatusCode::GONE,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result.",
                    );
                }
            }
        }
        None => {
            let items: Vec<Value> = cluster
                .objects
                .iter()
                .filter(|((plural, namespace, _), _)| matches(target, plural, namespace))
                .map(|(_, object)| served(object, &target.version))
                .collect();
            cluster.next_snapshot += 1;
            let id = cluster.next_snapshot;
            let version = cluster.version;
            cluster.snapshots.insert(id, (version, items));
            (id, 0)
        }
    };
    let (version, items) = &cluster.snapshots[&id];
    let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    let next = offset + page.len();
    let mut metadata = json!({ "resourceVersion": version.to_string() });
    if next < items.len() {
        metadata["continue"] = json!(format!("{id}:{next}"));
        metadata["remainingItemCount"] = json!(items.len() - next);
    }
    let body = json!({
        "apiVersion": format!("{GROUP}/{}", target.version),
        "kind": format!("{}List", kind_of(&target.plural)),
        "metadata": metadata,
        "items": page,
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
