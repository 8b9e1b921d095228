//! The audit trail: one [`AuditEvent`] per write and per refused request, from the API and from
//! `registry-admin`. Every event goes to the log under target `audit`; with `audit.file` it is also appended
//! to that file as one JSON line, by a writer thread, so that a slow disk never holds a request. The file is
//! opened again by [`AuditLog::reopen`] (the API calls it on SIGHUP), so that logrotate can move it away.
//!
//! A failed audit write never fails what it records: it is counted ([`AuditLog::failed_writes`] and the
//! `audit_write_failures_total` metric) and logged once, until writes succeed again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::AuditConfig;

/// Events waiting for the writer thread; past this many the newest are dropped (and counted).
const QUEUE: usize = 4096;

/// One audited request or command. Identities come from verified tokens (or the operating system, for
/// `registry-admin`); a token itself is never part of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub time: DateTime<Utc>,
    /// The `x-request-id` of an API request.
    pub request_id: Option<String>,
    /// The client's address: the peer, or from `X-Forwarded-For` when the peer is a trusted proxy.
    pub client: Option<String>,
    /// The provider that verified the caller's token, or `registry-admin`.
    pub provider: Option<String>,
    /// The token's `sub`, or the operating system user of `registry-admin`.
    pub subject: Option<String>,
    /// `publish`, `edit`, `status`, `delete`, `sync` or `read` (a refused read); for `registry-admin`
    /// `publish`, `drop-registry`, `apply-registries` or `enqueue-sync`.
    pub action: String,
    pub method: Option<String>,
    pub path: Option<String>,
    pub registry: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub outcome: Outcome,
    /// The HTTP status of an API request.
    pub status: Option<u16>,
    /// Why it was refused or failed, or what changed.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    /// Refused for want of a valid token, a scope, a role or a namespace (401 and 403).
    Refused,
    Failed,
}

impl Outcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            401 | 403 => Self::Refused,
            _ => Self::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

impl AuditEvent {
    /// An event of `action` now, with nothing else known yet.
    pub fn new(action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            time: Utc::now(),
            request_id: None,
            client: None,
            provider: None,
            subject: None,
            action: action.into(),
            method: None,
            path: None,
            registry: None,
            name: None,
            version: None,
            outcome,
            status: None,
            detail: None,
        }
    }

    /// An event of a `registry-admin` command, whose subject is the operating system user.
    pub fn by_operator(action: &str, outcome: Outcome) -> Self {
        let subject = whoami::username().unwrap_or_else(|_| "unknown".to_owned());
        Self { provider: Some("registry-admin".into()), subject: Some(subject), ..Self::new(action, outcome) }
    }
}

/// Where audit events go. Cheap to share: the file, when there is one, belongs to a writer thread.
pub struct AuditLog {
    writer: Option<SyncSender<Message>>,
    path: Option<PathBuf>,
    failures: Arc<Failures>,
}

enum Message {
    Line(Vec<u8>),
    Reopen,
    Flush(oneshot::Sender<()>),
}

impl AuditLog {
    /// The log of `config`: `audit.file` is opened (created, appended to) now, so a path that cannot be
    /// written is an error at start-up that names the key.
    pub fn open(config: &AuditConfig) -> Result<Self, String> {
        let failures = Arc::new(Failures::default());
        let Some(path) = &config.file else { return Ok(Self { writer: None, path: None, failures }) };
        let file = open_file(path).map_err(|e| format!("audit.file: cannot open {}: {e}", path.display()))?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let (thread_path, thread_failures) = (path.clone(), failures.clone());
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_lines(file, &thread_path, &receiver, &thread_failures))
            .map_err(|e| format!("audit.file: cannot start its writer: {e}"))?;
        Ok(Self { writer: Some(sender), path: Some(path.clone()), failures })
    }

    /// Records `event`: to the log at once, and to the file when there is one.
    pub fn record(&self, event: &AuditEvent) {
        tracing::info!(
            target: "audit",
            request_id = event.request_id.as_deref(),
            client = event.client.as_deref(),
            provider = event.provider.as_deref(),
            subject = event.subject.as_deref(),
            action = event.action,
            method = event.method.as_deref(),
            path = event.path.as_deref(),
            registry = event.registry.as_deref(),
            server.name = event.name.as_deref(),
            server.version = event.version.as_deref(),
            outcome = event.outcome.as_str(),
            status = event.status,
            detail = event.detail.as_deref(),
            "audit"
        );
        let Some(writer) = &self.writer else { return };
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(error) => return self.failures.failed(self.path.as_deref(), &error),
        };
        line.push(b'\n');
        match writer.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.failures.failed(self.path.as_deref(), &"the write queue is full");
            }
            Err(TrySendError::Disconnected(_)) => {
                self.failures.failed(self.path.as_deref(), &"the writer thread stopped");
            }
        }
    }

    /// Opens the file again, by its path (after logrotate moved it). A failure keeps the old file.
    pub fn reopen(&self) {
        if let Some(writer) = &self.writer
            && writer.send(Message::Reopen).is_err()
        {
            self.failures.failed(self.path.as_deref(), &"the writer thread stopped");
        }
    }

    /// Waits until every event recorded so far is in the file.
    pub async fn flush(&self) {
        let Some(writer) = &self.writer else { return };
        let (done, written) = oneshot::channel();
        if writer.send(Message::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    /// Calls [`AuditLog::reopen`] at every SIGHUP, for as long as it runs. Without a file SIGHUP is still
    /// taken (and ignored), so that a logrotate rule sent to the wrong process never ends it.
    pub async fn reopen_on_hangup(self: Arc<Self>) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGHUP: the audit file will not be reopened");
                return std::future::pending().await;
            }
        };
        while hangups.recv().await.is_some() {
            if self.writer.is_some() {
                tracing::info!("SIGHUP: reopening the audit file");
                self.reopen();
            } else {
                tracing::info!("SIGHUP ignored: no audit file to reopen");
            }
        }
    }

    /// How many events could not be written to the file since start.
    pub fn failed_writes(&self) -> u64 {
        self.failures.count.load(Ordering::Relaxed)
    }
}

fn open_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

/// The writer thread: each line is one `write` to a file opened for appending, so lines from several
/// processes sharing the file (the API and `registry-admin`) never interleave.
fn write_lines(mut file: File, path: &Path, messages: &Receiver<Message>, failures: &Failures) {
    for message in messages {
        match message {
            Message::Line(line) => match file.write_all(&line) {
                Ok(()) => failures.succeeded(path),
                Err(error) => failures.failed(Some(path), &error),
            },
            Message::Reopen => match open_file(path) {
                Ok(reopened) => file = reopened,
                Err(error) => failures.failed(Some(path), &error),
            },
            Message::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

#[derive(Default)]
struct Failures {
    count: AtomicU64,
    /// Set from the first failure until a write succeeds: only the first is logged.
    failing: AtomicBool,
}

impl Failures {
    fn failed(&self, path: Option<&Path>, error: &dyn std::fmt::Display) {
        self.count.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("audit_write_failures_total").increment(1);
        if !self.failing.swap(true, Ordering::Relaxed) {
            // No audit file: the event names none.
            let path = path.map(|p| p.display().to_string()).unwrap_or_default();
            tracing::error!(
                audit.file = path,
                error = %error,
                "audit events cannot be written; the requests they record go on, and further failures are only counted"
            );
        }
    }

    fn succeeded(&self, path: &Path) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::warn!(audit.file = %path.display(), "audit events are written again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(path: &Path) -> AuditLog {
        AuditLog::open(&AuditConfig { file: Some(path.to_owned()) }).unwrap()
    }

    fn event(name: &str) -> AuditEvent {
        AuditEvent { name: Some(name.into()), ..AuditEvent::new("publish", Outcome::Success) }
    }

    fn names(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["name"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn events_are_json_lines_and_the_file_is_reopened_after_a_move() {
        let dir = tempfile::tempdir().unwrap();
        let (path, rotated) = (dir.path().join("audit.jsonl"), dir.path().join("audit.jsonl.1"));
        let audit = log(&path);

        audit.record(&event("io.example/one"));
        audit.flush().await;
        std::fs::rename(&path, &rotated).unwrap();
        audit.record(&event("io.example/two"));
        audit.reopen();
        audit.record(&event("io.example/three"));
        audit.flush().await;

        assert_eq!(
            names(&rotated),
            ["io.example/one", "io.example/two"],
            "written to the moved file until reopened"
        );
        assert_eq!(names(&path), ["io.example/three"]);
        let line: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        let keys: Vec<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
        let every =
            ["time", "requestId", "client", "provider", "subject", "action", "method", "path", "registry"];
        let every = [&every[..], &["name", "version", "outcome", "status", "detail"]].concat();
        assert_eq!(keys, every, "every field, null when unknown");
        assert_eq!((line["action"].as_str(), line["outcome"].as_str()), (Some("publish"), Some("success")));
        assert_eq!(audit.failed_writes(), 0);
    }

    #[tokio::test]
    async fn a_failed_write_is_counted_and_the_caller_goes_on() {
        let audit = log(Path::new("/dev/full"));

        for i in 0..3 {
            audit.record(&event(&format!("io.example/{i}")));
        }
        audit.flush().await;

        assert_eq!(audit.failed_writes(), 3);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_an_error_naming_the_key() {
        let error =
            AuditLog::open(&AuditConfig { file: Some("/nonexistent/dir/audit.jsonl".into()) }).err().unwrap();

        assert!(error.starts_with("audit.file: cannot open /nonexistent/dir/audit.jsonl"), "{error}");
    }

    #[test]
    fn an_operator_event_names_the_operating_system_user() {
        let event = AuditEvent::by_operator("drop-registry", Outcome::Success);

        assert_eq!(event.provider.as_deref(), Some("registry-admin"));
        assert_eq!(event.subject, whoami::username().ok());
        assert!(event.subject.is_some());
    }
}
