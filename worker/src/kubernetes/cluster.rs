//! Access to one cluster: the worker's own credentials (a kubeconfig, or the in-cluster service account) and
//! paged lists of the three kinds, reading `v1beta1` and falling back to `v1alpha1` when a cluster serves only
//! that. The GVKs and plurals are fixed, so nothing is discovered.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use registry_shared::config::KubernetesSource;
use serde::Serialize;

use super::derive::{GROUP, Kind, Object, VERSIONS};

/// How long one page of a list may take.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// Objects per page, as kube's own watcher asks for.
const PAGE_SIZE: u32 = 500;
/// Lists in flight at once across namespaces and kinds.
const CONCURRENT_LISTS: usize = 4;

#[derive(Clone)]
pub struct Cluster {
    client: Client,
}

/// One kind in one namespace, or in every namespace (`namespace: None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Part {
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Part {
    /// The parts a registry reads: each kind in each namespace, or each kind cluster-wide.
    pub fn all(namespaces: &[String]) -> Vec<Self> {
        let namespaces: Vec<Option<String>> =
            if namespaces.is_empty() { vec![None] } else { namespaces.iter().cloned().map(Some).collect() };
        namespaces
            .iter()
            .flat_map(|namespace| {
                Kind::ALL.into_iter().map(|kind| Self { kind, namespace: namespace.clone() })
            })
            .collect()
    }

    /// Whether an object of `kind` in `namespace` belongs to this part.
    pub fn holds(&self, kind: Kind, namespace: &str) -> bool {
        self.kind == kind && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
    }

    pub fn api(&self, client: Client, version: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(GROUP, version, self.kind.as_str());
        let resource = ApiResource::from_gvk_with_plural(&gvk, self.kind.plural());
        match &self.namespace {
            Some(namespace) => Api::namespaced_with(client, namespace, &resource),
            None => Api::all_with(client, &resource),
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} in {namespace}", self.kind),
            None => write!(f, "{} in every namespace", self.kind),
        }
    }
}

/// What listing a part gave.
#[derive(Debug)]
pub enum Listing {
    /// Every page, from the API version that answered.
    Listed { version: &'static str, objects: Vec<Object> },
    /// No version of the kind is served: its CRD is not installed. Listed, and empty.
    NotInstalled,
    /// Forbidden, unreachable, timed out: nothing is known about the part.
    Failed(String),
}

impl Cluster {
    /// A client with the worker's own credentials: the source's kubeconfig, else `KUBECONFIG` or
    /// `~/.kube/config`, else the in-cluster service account.
    pub async fn connect(source: &KubernetesSource) -> Result<Self, String> {
        // kube's TLS is rustls with ring; the process-wide provider may not be installed yet.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = match &source.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| format!("cannot read the kubeconfig {}: {e}", path.display()))?;
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| format!("the kubeconfig {}: {e}", path.display()))?
            }
            None => Config::infer().await.map_err(|e| format!("no cluster credentials: {e}"))?,
        };
        config.connect_timeout = Some(LIST_TIMEOUT);
        let client =
            Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))?;
        Ok(Self { client })
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Lists every part, a few at a time; the answers come back in the order of `parts`.
    pub async fn list_all(&self, parts: &[Part]) -> Vec<(Part, Listing)> {
        futures::stream::iter(parts.iter().cloned())
            .map(|part| async move {
                let listing = self.list(&part).await;
                (part, listing)
            })
            .buffered(CONCURRENT_LISTS)
            .collect()
            .await
    }

    /// Lists one part, every page, preferring `v1beta1`.
    pub async fn list(&self, part: &Part) -> Listing {
        for version in VERSIONS {
            match list_pages(&part.api(self.client.clone(), version), part.kind).await {
                Ok(objects) => return Listing::Listed { version, objects },
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(error) => return Listing::Failed(describe(&error)),
            }
        }
        Listing::NotInstalled
    }
}

async fn list_pages(api: &Api<DynamicObject>, kind: Kind) -> Result<Vec<Object>, kube::Error> {
    let mut params = ListParams::default().limit(PAGE_SIZE);
    let mut objects = Vec::new();
    loop {
        let page = tokio::time::timeout(LIST_TIMEOUT, api.list(&params)).await.map_err(|_| {
            kube::Error::Service(format!("no answer within {}s", LIST_TIMEOUT.as_secs()).into())
        })??;
        objects.extend(page.items.iter().map(|object| Object::from_dynamic(kind, object)));
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(objects),
        }
    }
}

/// An error as a status line: the API's own message for refusals.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} {}: {}", status.code, status.reason, status.message),
        other => other.to_string(),
    }
}
