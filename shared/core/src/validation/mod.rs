//! Publish validation: everything checked about a server.json before a managed registry stores it.
//!
//! Two layers, both written here from the specifications (the JSON schema files are only read by tests):
//! - [`structure`]: the 2025-12-11 schema's shape, with unknown properties refused as the official registry
//!   refuses them;
//! - [`semantic`]: the official publish rules and our limits.
//!
//! Rules that need the registry's data (duplicate versions, remote URLs in use, the version cap) are
//! checked by the store, in the transaction that writes; the store's publisher puts the layers together.

mod semantic;
mod structure;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::ServerDetail;
use crate::model::server_json::Package;

pub use semantic::{MAX_REMOTES, SCHEMA_VERSIONS, template_variables, version_problem};

/// Publish validation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationConfig {
    /// The official rule that `repository` must be on GitHub or GitLab. Off by default: internal servers
    /// often live on other forges.
    pub strict_repository: bool,
    /// The most bytes the publisher-provided `_meta` object may take, serialised.
    pub max_publisher_meta_bytes: usize,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self { strict_repository: false, max_publisher_meta_bytes: 4096 }
    }
}

/// Which layer found an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IssueKind {
    /// The body is not JSON.
    Json,
    /// The document's shape: required fields, types, lengths, patterns, unknown properties.
    Schema,
    /// The publish rules: versions, URLs, variables, transports, sizes.
    Semantic,
    /// The registry's data: the version exists, a remote URL is taken, too many versions.
    Conflict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks publishing.
    Error,
    /// Worth fixing; publishing goes ahead.
    Warning,
}

/// One finding, at a path inside the document such as `packages[0].transport.url` (empty for the whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Issue {
    #[serde(rename = "type")]
    pub kind: IssueKind,
    pub path: String,
    pub message: String,
    pub severity: Severity,
}

impl Issue {
    pub fn error(kind: IssueKind, path: &str, message: impl Into<String>) -> Self {
        Self { kind, path: path.to_owned(), message: message.into(), severity: Severity::Error }
    }

    pub fn warning(kind: IssueKind, path: &str, message: impl Into<String>) -> Self {
        Self { kind, path: path.to_owned(), message: message.into(), severity: Severity::Warning }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `path: message`, or the message alone for the document as a whole.
impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Issues on one line, separated by `; `.
pub fn summary<'a>(issues: impl IntoIterator<Item = &'a Issue>) -> String {
    issues.into_iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Runs the structural and the semantic checks. Semantic checks run whenever the document can be read as a
/// server.json at all, so one answer lists every problem; a path with a schema error gets no second one.
pub fn validate(document: &Value, config: &ValidationConfig) -> Vec<Issue> {
    let mut issues = structure::check(document);
    let mut failed: BTreeSet<String> = issues.iter().map(|issue| issue.path.clone()).collect();
    // A missing or mistyped top-level string must not hide every other rule: read the rest without it.
    let mut readable = document.clone();
    if let Value::Object(fields) = &mut readable {
        for key in ["name", "description", "version"] {
            if !fields.get(key).is_some_and(Value::is_string) {
                fields.insert(key.to_owned(), Value::String(String::new()));
                failed.insert(key.to_owned());
            }
        }
    }
    if let Ok(server) = ServerDetail::deserialize(&readable) {
        issues.extend(
            semantic::check(&server, config).into_iter().filter(|issue| !failed.contains(&issue.path)),
        );
    }
    issues
}

/// The structural checks alone (the schema's shape, lengths and patterns), for documents the registry derives
/// itself, such as Kubernetes discovery's, to which the publish rules do not apply.
pub fn check_structure(document: &Value) -> Vec<Issue> {
    structure::check(document)
}

/// Drops what the official publisher sends for an absent repository (`"repository": {}`, or empty `url` and
/// `source`), so such a document is read, and stored, as one without a repository.
pub fn normalize(document: &mut Value) {
    if let Value::Object(fields) = document
        && let Some(Value::Object(repository)) = fields.get("repository")
        && repository.values().all(|value| value.as_str().is_some_and(str::is_empty))
    {
        fields.shift_remove("repository");
    }
}

/// A future that yields the issues found by a [`PackageCheck`].
pub type PackageIssues<'a> = Pin<Box<dyn Future<Output = Vec<Issue>> + Send + 'a>>;

/// The extension point for checks against the package registries that host a server's packages (npm,
/// PyPI, NuGet, OCI, MCPB): for example, that the package exists and names this server. The official
/// registry runs such checks; internal registries usually host packages the service cannot reach, so the
/// default is [`NoPackageChecks`]. Each issue's path should name the package (`packages[0].identifier`).
pub trait PackageCheck: Send + Sync {
    fn check<'a>(&'a self, server_name: &'a str, index: usize, package: &'a Package) -> PackageIssues<'a>;
}

/// The default: no package registry is contacted.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPackageChecks;

impl PackageCheck for NoPackageChecks {
    fn check<'a>(&'a self, _server_name: &'a str, _index: usize, _package: &'a Package) -> PackageIssues<'a> {
        Box::pin(std::future::ready(Vec::new()))
    }
}

#[cfg(test)]
mod tests;
