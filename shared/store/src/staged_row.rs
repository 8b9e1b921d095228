//! One entry as a sync stages it, made from the entry alone (a batch's CPU work, which a caller may do on a
//! thread of its own): what the staging writes, and what each backend binds.

use chrono::{DateTime, Utc};
use registry_core::digest::{search_text, text_hash};

use registry_core::formats::Entry;
use registry_core::model::Status;

/// One entry as it is staged: its document serialised once, with what the diff compares and what reads
/// search.
#[derive(Debug, Clone)]
pub struct StagedRow {
    pub name: String,
    pub version: String,
    pub body: String,
    pub body_hash: String,
    pub title: Option<String>,
    pub description: String,
    pub search_text: String,
    pub status: Status,
    pub status_message: Option<String>,
    /// As the source gave it: `None` keeps a stored version's, or makes a new one's the snapshot's time.
    pub published_at: Option<DateTime<Utc>>,
    /// Not an entry to store but one to remove: a changed version the filter now rejects, in an
    /// incremental pull. It tombstones the stored version, if there is a live one, and is never inserted.
    pub removal: bool,
}

impl StagedRow {
    /// The rows of a batch of entries and removals: each document serialised, hashed and made searchable,
    /// the batch's CPU work.
    pub fn batch(entries: Vec<Entry>, removals: Vec<Entry>) -> Vec<Self> {
        entries
            .into_iter()
            .map(|entry| Self::new(entry, false))
            .chain(removals.into_iter().map(|entry| Self::new(entry, true)))
            .collect()
    }

    pub fn new(entry: Entry, removal: bool) -> Self {
        // A parsed document holds only JSON values: it always serialises.
        let body = serde_json::to_string(&entry.server).unwrap_or_default();
        let detail = entry.server.detail();
        let (name, version) = (entry.server.name().to_string(), entry.server.version().to_string());
        let (status, status_message, published_at) = match entry.origin {
            Some(origin) => (origin.status, origin.status_message, origin.published_at),
            None => (Status::Active, None, None),
        };
        Self {
            search_text: search_text(&name, detail.title.as_deref(), &detail.description),
            body_hash: text_hash(&body),
            title: detail.title.clone(),
            description: detail.description.clone(),
            name,
            version,
            body,
            status,
            status_message,
            published_at,
            removal,
        }
    }
}
