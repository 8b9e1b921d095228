//! A Kubernetes API server for ToolHive's three kinds, served on loopback and faithful to the wire protocol
//! that kube 5 speaks (`../shared/notes/kubernetes-discovery.md` §3), so the real `kube::Client` talks to it:
//! - one resource version for every object, as etcd keeps it, as a decimal string;
//! - paged LIST with `limit` and `continue`, every page from a snapshot taken at the first page's version;
//!   a token from before a compaction is answered 410;
//! - WATCH from a resource version, replayed from history and then live, one JSON event per line, with
//!   bookmarks when asked for and an end after `timeoutSeconds`; a version older than the compaction floor
//!   gets HTTP 200 and one `ERROR` event with code 410, as the real server answers;
//! - 403 for a forbidden namespace (or cluster-wide request) and 404 for a kind whose CRD is not installed
//!   or a version not served;
//! - a request log, and a way to drop every open watch (a disconnect).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

pub const GROUP: &str = "toolhive.stacklok.dev";
/// The plurals served, with their kinds.
const KINDS: [(&str, &str); 3] = [
    ("mcpservers", "MCPServer"),
    ("virtualmcpservers", "VirtualMCPServer"),
    ("mcpremoteproxies", "MCPRemoteProxy"),
];

/// One change, as a watch sends it.
#[derive(Debug, Clone)]
struct Change {
    version: u64,
    plural: String,
    namespace: String,
    object: Value,
}

#[derive(Default)]
struct Cluster {
    version: u64,
    /// (plural, namespace, name) → the object as stored.
    objects: BTreeMap<(String, String, String), Value>,
    history: Vec<Change>,
    /// Watches from below this version, and continue tokens taken below it, are too old.
    floor: u64,
    snapshots: HashMap<u64, (u64, Vec<Value>)>,
    next_snapshot: u64,
    forbidden: BTreeSet<String>,
    forbid_cluster_wide: bool,
    missing: BTreeSet<String>,
    served_versions: BTreeSet<String>,
    requests: Vec<String>,
    bookmark_interval: Option<Duration>,
    /// New watches get a stream that stays silent, as if the network dropped every event.
    watches_paused: bool,
}

struct Shared {
    cluster: Mutex<Cluster>,
    bookmarks: std::sync::atomic::AtomicUsize,
    changes: broadcast::Sender<Change>,
    disconnects: broadcast::Sender<()>,
}

/// The fake, serving until dropped.
#[derive(Clone)]
pub struct FakeApiServer {
    shared: Arc<Shared>,
    pub url: String,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

impl FakeApiServer {
    /// Serves `v1beta1` and `v1alpha1` of the three kinds on a free loopback port.
    pub async fn start() -> Self {
        let (changes, _) = broadcast::channel(1024);
        let (disconnects, _) = broadcast::channel(4);
        let cluster = Cluster {
            served_versions: ["v1beta1", "v1alpha1"].into_iter().map(str::to_owned).collect(),
            ..Cluster::default()
        };
        let shared = Arc::new(Shared {
            cluster: Mutex::new(cluster),
            bookmarks: Default::default(),
            changes,
            disconnects,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { shared, url, _server: Arc::new(server) }
    }

    fn cluster(&self) -> std::sync::MutexGuard<'_, Cluster> {
        self.shared.cluster.lock().expect("the fake's state")
    }

    /// A kubeconfig that points at the fake, with no credentials, written to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) {
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    \
             server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\nusers:\n\
             - name: fake\n  user: {{}}\n",
            self.url
        );
        std::fs::write(path, config).expect("write the kubeconfig");
    }

    /// Creates or replaces an object (a full manifest with kind, metadata.name and metadata.namespace). The
    /// server fills in uid, creationTimestamp, generation (bumped when the spec changes) and resourceVersion,
    /// as a real one does. Returns the stored object.
    pub fn apply(&self, manifest: Value) -> Value {
        let kind = manifest["kind"].as_str().expect("kind").to_owned();
        let plural = plural_of(&kind).expect("one of the three kinds").to_owned();
        let namespace = manifest["metadata"]["namespace"].as_str().expect("metadata.namespace").to_owned();
        let name = manifest["metadata"]["name"].as_str().expect("metadata.name").to_owned();
        let mut cluster = self.cluster();
        let key = (plural.clone(), namespace.clone(), name);
        let previous = cluster.objects.get(&key).cloned();
        let mut object = manifest;
        cluster.version += 1;
        let version = cluster.version;
        let (uid, created, generation) = match &previous {
            Some(old) => (
                old["metadata"]["uid"].clone(),
                old["metadata"]["creationTimestamp"].clone(),
                old["metadata"]["generation"].as_u64().unwrap_or(1)
                    + u64::from(old["spec"] != object["spec"]),
            ),
            None => (
                object["metadata"].get("uid").cloned().unwrap_or_else(|| json!(format!("uid-{version}"))),
                json!("2026-12-01T00:00:00Z"),
                1,
            ),
        };
        let metadata = object["metadata"].as_object_mut().expect("metadata");
        metadata.insert("uid".into(), uid);
        metadata.insert("creationTimestamp".into(), created);
        metadata.insert("generation".into(), json!(generation));
        metadata.insert("resourceVersion".into(), json!(version.to_string()));
        object["apiVersion"] = json!(format!("{GROUP}/v1beta1"));
        cluster.objects.insert(key, object.clone());
        let change = Change { version, plural, namespace, object: object.clone() };
        let event = if previous.is_some() { "MODIFIED" } else { "ADDED" };
        self.record(&mut cluster, change, event);
        object
    }

    /// Changes only an object's status, as the operator does all the time.
    pub fn set_status(&self, kind: &str, namespace: &str, name: &str, status: Value) {
        let mut object = self.get(kind, namespace, name).expect("the object exists");
        object["status"] = status;
        self.apply(object);
    }

    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let plural = plural_of(kind)?.to_owned();
        self.cluster().objects.get(&(plural, namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Deletes an object; watchers see it go with a new resource version.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let plural = plural_of(kind).expect("one of the three kinds").to_owned();
        let mut cluster = self.cluster();
        let Some(mut object) =
            cluster.objects.remove(&(plural.clone(), namespace.to_owned(), name.to_owned()))
        else {
            return;
        };
        cluster.version += 1;
        let version = cluster.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let change = Change { version, plural, namespace: namespace.to_owned(), object };
        self.record(&mut cluster, change, "DELETED");
    }

    fn record(&self, cluster: &mut Cluster, change: Change, event: &str) {
        let mut change = change;
        change.object = json!({ "type": event, "object": change.object });
        cluster.history.push(change.clone());
        // No receiver is fine: nobody watches yet.
        let _ = self.shared.changes.send(change);
    }

    /// Forgets history up to now, as etcd compaction does: older watches and continue tokens get 410.
    pub fn compact(&self) {
        let mut cluster = self.cluster();
        cluster.floor = cluster.version;
        cluster.history.clear();
        cluster.snapshots.clear();
    }

    /// Ends every open watch at once, as a dropped connection would.
    pub fn disconnect_watches(&self) {
        let _ = self.shared.disconnects.send(());
    }

    /// Drops every open watch, and gives the ones that reconnect a silent stream: changes made meanwhile
    /// reach no watcher, as during a network partition.
    pub fn pause_watches(&self) {
        self.cluster().watches_paused = true;
        self.disconnect_watches();
    }

    /// Ends the silent streams; watchers reconnect from the version they last saw.
    pub fn resume_watches(&self) {
        self.cluster().watches_paused = false;
        self.disconnect_watches();
    }

    /// Answers 403 to every request in `namespace` (a missing RoleBinding).
    pub fn forbid(&self, namespace: &str) {
        self.cluster().forbidden.insert(namespace.to_owned());
    }

    pub fn allow(&self, namespace: &str) {
        self.cluster().forbidden.remove(namespace);
    }

    /// Answers 403 to cluster-wide requests (RBAC granted per namespace only).
    pub fn forbid_cluster_wide(&self) {
        self.cluster().forbid_cluster_wide = true;
    }

    /// Answers 404 for a kind, as a cluster without its CRD does.
    pub fn uninstall(&self, kind: &str) {
        self.cluster().missing.insert(plural_of(kind).expect("one of the three kinds").to_owned());
    }

    /// Serves only these API versions of the group.
    pub fn serve_versions(&self, versions: &[&str]) {
        self.cluster().served_versions = versions.iter().map(|v| (*v).to_owned()).collect();
    }

    /// Sends a bookmark this often on watches that allow them (the default is none).
    pub fn bookmark_every(&self, interval: Duration) {
        self.cluster().bookmark_interval = Some(interval);
    }

    /// How many bookmarks the watches have sent.
    pub fn bookmarks_sent(&self) -> usize {
        self.shared.bookmarks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.cluster().requests.clone()
    }

    /// How many requests so far were watches.
    pub fn watch_requests(&self) -> usize {
        self.requests().iter().filter(|r| r.contains("watch=true") || r.contains("watch=1")).count()
    }
}

fn plural_of(kind: &str) -> Option<&'static str> {
    KINDS.iter().find(|(_, k)| *k == kind).map(|(plural, _)| *plural)
}

fn kind_of(plural: &str) -> &'static str {
    KINDS.iter().find(|(p, _)| *p == plural).map_or("Unknown", |(_, kind)| *kind)
}

/// A Kubernetes `Status` answer.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// What a request addresses: `/apis/{group}/{version}[/namespaces/{ns}]/{plural}`.
#[derive(Clone)]
struct Target {
    version: String,
    namespace: Option<String>,
    plural: String,
}

fn target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["apis", group, version, "namespaces", namespace, plural] if *group == GROUP => Some(Target {
            version: (*version).to_owned(),
            namespace: Some((*namespace).to_owned()),
            plural: (*plural).to_owned(),
        }),
        ["apis", group, version, plural] if *group == GROUP => {
            Some(Target { version: (*version).to_owned(), namespace: None, plural: (*plural).to_owned() })
        }
        _ => None,
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut cluster = shared.cluster.lock().expect("the fake's state");
    cluster.requests.push(format!("GET {}", uri.path_and_query().map_or("", |p| p.as_str())));
    let Some(target) = target(uri.path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    };
    if !cluster.served_versions.contains(&target.version)
        || cluster.missing.contains(&target.plural)
        || !KINDS.iter().any(|(plural, _)| *plural == target.plural)
    {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    }
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
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if watch {
        drop(cluster);
        return watch_stream(&shared, &target, &query);
    }
    list(&mut cluster, &target, &query)
}

fn matches(target: &Target, plural: &str, namespace: &str) -> bool {
    plural == target.plural && target.namespace.as_deref().is_none_or(|ns| ns == namespace)
}

/// The object as served under the requested version (the versions share one schema).
fn served(object: &Value, version: &str) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(format!("{GROUP}/{version}"));
    object
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

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn watch_stream(shared: &Arc<Shared>, target: &Target, query: &HashMap<String, String>) -> Response {
    let from = query.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let timeout =
        Duration::from_secs(query.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(290));
    let bookmarks = query.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    // Replay and subscription happen under one lock, so no change falls between them.
    let (replay, mut live, floor, current, bookmark_interval, paused) = {
        let cluster = shared.cluster.lock().expect("the fake's state");
        let replay: Vec<Change> = cluster
            .history
            .iter()
            .filter(|change| change.version > from && matches(target, &change.plural, &change.namespace))
            .cloned()
            .collect();
        (
            replay,
            shared.changes.subscribe(),
            cluster.floor,
            cluster.version,
            cluster.bookmark_interval,
            cluster.watches_paused,
        )
    };
    let mut disconnect = shared.disconnects.subscribe();
    let shared = Arc::clone(shared);
    let target = target.clone();
    let version = target.version.clone();
    tokio::spawn(async move {
        if paused {
            tokio::select! {
                () = tokio::time::sleep(timeout) => {}
                _ = disconnect.recv() => {}
            }
            drop(tx);
            return;
        }
        if from != 0 && from < floor {
            let expired = json!({ "type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {from} ({floor})"), "reason": "Expired", "code": 410
            }});
            let _ = tx.send(line(&expired)).await;
            return;
        }
        let event = |change: &Change| {
            let mut event = change.object.clone();
            event["object"] = served(&event["object"], &version);
            line(&event)
        };
        for change in &replay {
            if tx.send(event(change)).await.is_err() {
                return;
            }
        }
        let mut last = replay.last().map_or(current.max(from), |c| c.version);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_interval.unwrap_or(Duration::from_secs(3600)));
        ticker.tick().await;
        loop {
            tokio::select! {
                () = &mut deadline => return,
                _ = disconnect.recv() => return,
                _ = ticker.tick(), if bookmarks && bookmark_interval.is_some() => {
                    let bookmark = json!({ "type": "BOOKMARK", "object": {
                        "kind": kind_of(&target.plural), "apiVersion": format!("{GROUP}/{version}"),
                        "metadata": { "resourceVersion": last.to_string(), "creationTimestamp": null }
                    }});
                    if tx.send(line(&bookmark)).await.is_err() { return; }
                    shared.bookmarks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                received = live.recv() => match received {
                    Ok(change) if change.version > last && matches(&target, &change.plural, &change.namespace) => {
                        last = change.version;
                        if tx.send(event(&change)).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    // Lagged or closed: end the watch; the client re-watches from its last version.
                    Err(_) => return,
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("a response")
}
