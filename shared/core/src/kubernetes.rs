//! What Kubernetes discovery (in the worker) and the status views (the API, `registry-admin`) share: the
//! kinds discovered, the parts a registry is read in, and the discovery report kept beside the sync status.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sync::{SnapshotSummary, SyncPhase, SyncStatus};

/// The kinds discovered, in the order that settles a name clash: an `MCPServer` wins over a
/// `VirtualMCPServer`, which wins over an `MCPRemoteProxy`, of the same namespace and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "MCPServer")]
    McpServer,
    #[serde(rename = "VirtualMCPServer")]
    VirtualMcpServer,
    #[serde(rename = "MCPRemoteProxy")]
    McpRemoteProxy,
}

impl Kind {
    pub const ALL: [Self; 3] = [Self::McpServer, Self::VirtualMcpServer, Self::McpRemoteProxy];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::McpServer => "MCPServer",
            Self::VirtualMcpServer => "VirtualMCPServer",
            Self::McpRemoteProxy => "MCPRemoteProxy",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Self::McpServer => "mcpservers",
            Self::VirtualMcpServer => "virtualmcpservers",
            Self::McpRemoteProxy => "mcpremoteproxies",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind in one namespace, or in every namespace (`namespace: None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Part {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

    /// Whether an object of `kind` (any kind, when unknown) in `namespace` belongs to this part.
    pub fn holds(&self, kind: Option<Kind>, namespace: &str) -> bool {
        kind.is_none_or(|kind| kind == self.kind)
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
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

/// What a discovery found, kept beside the sync status (`SyncStatus::discovery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub finished_at: DateTime<Utc>,
    /// The parts listed, with the API version that answered (none when the CRD is not installed).
    pub listed: Vec<Listed>,
    /// The parts whose list failed: their entries were kept as they were.
    pub failed: Vec<Failed>,
    pub objects: usize,
    pub exported: usize,
    /// The entries served: those derived now, and those kept for the failed parts.
    pub served: usize,
    /// Of those, the entries kept unchanged because their part failed.
    pub kept: usize,
    pub skipped: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub clashes: Vec<Clash>,
    /// What the write did; none when nothing changed since the last discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<SnapshotSummary>,
    /// Tombstones purged past the retention; none are while a part fails.
    pub purged: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    #[serde(flatten)]
    pub part: Part,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub objects: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    #[serde(flatten)]
    pub part: Part,
    pub error: String,
    /// Since when it has failed without a break.
    pub since: DateTime<Utc>,
}

/// One object's problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub object: String,
    pub reason: String,
}

/// Two exported objects of different kinds with one namespace and name, so one server name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clash {
    pub name: String,
    pub served: String,
    pub ignored: String,
}

impl Report {
    /// The report a sync status carries, if it carries one this build can read.
    pub fn of(status: &SyncStatus) -> Option<Self> {
        status.discovery.clone().and_then(|value| serde_json::from_value(value).ok())
    }
}

/// Whether a kubernetes registry's entries may not match the cluster: no discovery has succeeded for
/// `after` (or none has, and the last attempt failed), or a part has failed for longer than `after`.
pub fn is_stale(status: &SyncStatus, after: Duration, now: DateTime<Utc>) -> bool {
    let Ok(after) = chrono::Duration::from_std(after) else { return false };
    let failing_part =
        Report::of(status).is_some_and(|report| report.failed.iter().any(|f| now - f.since > after));
    let no_success = match status.last_success_at {
        Some(success) => now - success > after,
        None => status.phase == SyncPhase::Failed,
    };
    no_success || failing_part
}
