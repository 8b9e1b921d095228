//! Access to one cluster: the worker's own credentials (a kubeconfig, or the in-cluster service account) and
//! paged lists of the three kinds, reading `v1beta1` and falling back to `v1alpha1` when a cluster serves only
//! that. The GVKs and plurals are fixed, so nothing is discovered.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use registry_core::kubernetes::{Kind, Part};
use registry_runtime::config::KubernetesSource;

use super::derive::{GROUP, Object, VERSIONS};

/// How long one request to the cluster may take (a page of a list, a probe).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Objects per page, as kube's own watcher asks for.
const PAGE_SIZE: u32 = 500;
/// Lists in flight at once across namespaces and kinds.
const CONCURRENT_LISTS: usize = 4;

/// Why the cluster cannot be reached at all.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read the kubeconfig {path}: {source}")]
    Kubeconfig { path: String, source: KubeconfigError },
    #[error("no cluster credentials: {0}")]
    NoCredentials(#[source] InferConfigError),
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

#[derive(Clone)]
pub struct Cluster {
    client: Client,
}

/// The API of a part, at one version.
pub fn api(part: &Part, client: Client, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(GROUP, version, part.kind.as_str());
    let resource = ApiResource::from_gvk_with_plural(&gvk, part.kind.plural());
    match &part.namespace {
        Some(namespace) => Api::namespaced_with(client, namespace, &resource),
        None => Api::all_with(client, &resource),
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
    pub async fn connect(source: &KubernetesSource) -> Result<Self, ClusterError> {
        // kube's TLS is rustls with ring; the process-wide provider may not be installed yet.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = match &source.kubeconfig {
            Some(path) => {
                let failed = |source| ClusterError::Kubeconfig { path: path.display().to_string(), source };
                let kubeconfig = Kubeconfig::read_from(path).map_err(failed)?;
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(failed)?
            }
            None => Config::infer().await.map_err(ClusterError::NoCredentials)?,
        };
        config.connect_timeout = Some(REQUEST_TIMEOUT);
        let client = Client::try_from(config).map_err(ClusterError::Client)?;
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
            match list_pages(&api(part, self.client(), version), part.kind).await {
                Ok(objects) => return Listing::Listed { version, objects },
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(error) => return Listing::Failed(describe(&error)),
            }
        }
        Listing::NotInstalled
    }

    /// The first of [`VERSIONS`] the cluster serves for the part's kind, or none; a part that cannot be
    /// listed at all (forbidden, unreachable) gets the preferred version, for a watch that reports why.
    pub async fn served_version(&self, part: &Part) -> Option<&'static str> {
        for version in VERSIONS {
            let probe = api(part, self.client(), version);
            match tokio::time::timeout(REQUEST_TIMEOUT, probe.list(&ListParams::default().limit(1))).await {
                Ok(Err(kube::Error::Api(status))) if status.code == 404 => continue,
                _ => return Some(version),
            }
        }
        None
    }
}

async fn list_pages(api: &Api<DynamicObject>, kind: Kind) -> Result<Vec<Object>, kube::Error> {
    let mut params = ListParams::default().limit(PAGE_SIZE);
    let mut objects = Vec::new();
    loop {
        let page = tokio::time::timeout(REQUEST_TIMEOUT, api.list(&params)).await.map_err(|_| {
            kube::Error::Service(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()).into())
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
