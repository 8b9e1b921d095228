//! The publish rules that are a function of data alone: which registry a write may go to, and how a
//! conflict with the registry's data reads as a validation issue. The store checks the conflicts, in the
//! transaction that writes; its publisher puts validation, these rules and the store together.

use crate::model::{RegistryName, ServerJson};
use crate::registry::{RegistryConfig, Source};
use crate::validation::{Issue, IssueKind};

/// The most versions one server may have in a registry.
pub const MAX_VERSIONS_PER_SERVER: i64 = 10_000;

/// Why the registry's current data refuses a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("{name} version {version} already exists; published versions cannot be changed")]
    VersionExists { name: String, version: String },
    #[error("remote URL {url} is already used by server {server}")]
    RemoteUrlInUse { url: String, server: String },
    #[error("{name} already has {MAX_VERSIONS_PER_SERVER} versions, the most one server may have")]
    TooManyVersions { name: String },
}

/// A write to a registry that mirrors a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry {registry} is a {kind} registry; only managed registries accept writes")]
pub struct NotManaged {
    pub registry: RegistryName,
    pub kind: &'static str,
}

/// Writes go only to managed registries; the others mirror a source.
pub fn ensure_managed(registry: &RegistryConfig) -> Result<(), NotManaged> {
    match registry.source {
        Source::Managed => Ok(()),
        ref other => Err(NotManaged { registry: registry.name.clone(), kind: other.kind() }),
    }
}

/// The registry the root publish routes write to: `publish_registry` when set, else the only managed
/// registry of `registries`. The error says how to configure one.
pub fn publish_target<'a>(
    registries: &'a [RegistryConfig],
    publish_registry: Option<&RegistryName>,
) -> Result<&'a RegistryConfig, String> {
    if let Some(name) = publish_registry {
        return registries
            .iter()
            .find(|r| &r.name == name)
            .ok_or_else(|| format!("publishRegistry {name} is not a stored registry"));
    }
    let mut managed = registries.iter().filter(|r| r.source == Source::Managed);
    match (managed.next(), managed.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err("no managed registry is configured: add a registry with `managed: {}` to publish \
                          through this route, or publish to /registry/{registryName}/v0.1/publish"
            .to_owned()),
        (Some(_), Some(_)) => Err("several managed registries are configured: set publishRegistry to the one \
                                   this route publishes to, or publish to /registry/{registryName}/v0.1/publish"
            .to_owned()),
    }
}

/// A conflict as a validation issue, at the path of the field that causes it.
pub fn conflict_issue(server: &ServerJson, conflict: &Conflict) -> Issue {
    let path = match conflict {
        Conflict::VersionExists { .. } => "version".to_owned(),
        Conflict::TooManyVersions { .. } => "name".to_owned(),
        Conflict::RemoteUrlInUse { url, .. } => {
            let remotes = server.detail().remotes.iter().flatten();
            let index = remotes.enumerate().find(|(_, r)| r.url.as_deref() == Some(url)).map(|(i, _)| i);
            index.map_or_else(|| "remotes".to_owned(), |i| format!("remotes[{i}].url"))
        }
    };
    Issue::error(IssueKind::Conflict, &path, conflict.to_string())
}
