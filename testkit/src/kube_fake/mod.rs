//! A Kubernetes API server for ToolHive's three kinds, served on loopback and faithful to the wire protocol
//! that kube 5 speaks, so the real `kube::Client` talks to it:
//! - one resource version for every object, as etcd keeps it, as a decimal string;
//! - paged LIST with `limit` and `continue`, every page from a snapshot taken at the first page's version;
//!   a token from before a compaction is answered 410;
//! - WATCH from a resource version, replayed from history and then live, one JSON event per line, with
//!   bookmarks when asked for and an end after `timeoutSeconds`; a version older than the compaction floor
//!   gets HTTP 200 and one `ERROR` event with code 410, as the real server answers;
//! - 403 for a forbidden namespace (or cluster-wide request) and 404 for a kind whose CRD is not installed
//!   or a version not served;
//! - a request log, and a way to drop every open watch (a disconnect).

mod http;
mod target;
mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use tokio::sync::broadcast;

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
        let app = Router::new().fallback(http::serve).with_state(shared.clone());
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

    /// Serves a kind again, as installing its CRD does.
    pub fn install(&self, kind: &str) {
        self.cluster().missing.remove(plural_of(kind).expect("one of the three kinds"));
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

/// An object of `kind` that opts in to the registry, advertised at `url`: the three annotations discovery
/// needs, an image for an `MCPServer`, and a status.
pub fn exported(kind: &str, namespace: &str, name: &str, url: &str) -> Value {
    let spec = if kind == "MCPServer" {
        json!({"image": format!("ghcr.io/example/{name}:1.2.0"), "transport": "stdio"})
    } else {
        json!({})
    };
    json!({
        "apiVersion": format!("{GROUP}/v1beta1"),
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {
                "toolhive.stacklok.dev/registry-export": "true",
                "toolhive.stacklok.dev/registry-url": url,
                "toolhive.stacklok.dev/registry-description": format!("The {name} server of {namespace}"),
            }
        },
        "spec": spec,
        "status": {"phase": "Ready"}
    })
}
