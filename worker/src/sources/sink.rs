//! Where a source's entries go as it reads them: counted against `syncPolicy.maxEntries`, filtered, and staged
//! in the database in batches, so no sync ever holds its whole source. Blocking parsers (files, git blobs)
//! run on a thread of their own and hand their entries over a small bounded channel.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use registry_core::formats::stream::{Stopped, parse_stream};
use registry_core::formats::{Entry, Format};
use registry_runtime::config::Filter;
use registry_store::STAGING_BATCH;
use tokio::sync::mpsc;

use crate::error::{SourceError, SyncError};

/// At most this many versions are read again by a pull of changes: more in the window are one bulk write
/// upstream, committed together and seen already, and would otherwise be read again by every pull.
pub const REREAD_LIMIT: usize = 1_000;

pub struct Sink<'a> {
    /// Where full batches (entries, removals) go to be staged while the source reads on.
    batches: mpsc::Sender<Batch>,
    filter: &'a Filter,
    max_entries: u64,
    listed: Listed,
    batch: Vec<Entry>,
    /// For a pull of changes only, the changed entries the filter rejects: their stored versions go.
    removals: Option<Vec<Entry>>,
}

/// Entries to stage, and removals (see [`registry_store::StagedRow::removal`]).
pub type Batch = (Vec<Entry>, Vec<Entry>);

impl<'a> Sink<'a> {
    /// A sink for a whole source, or (`changes`) for an incremental pull, that hands its batches to
    /// `batches`.
    pub fn new(batches: mpsc::Sender<Batch>, filter: &'a Filter, max_entries: u64, changes: bool) -> Self {
        Self {
            batches,
            filter,
            max_entries,
            listed: Listed::default(),
            batch: Vec::with_capacity(STAGING_BATCH),
            removals: changes.then(Vec::new),
        }
    }

    /// Takes entries the source listed: more than `maxEntries` in all fails the sync; the filter's rejects
    /// go no further (or, in a pull of changes, remove what is stored of them); a full batch is staged.
    pub async fn push(&mut self, entries: Vec<Entry>) -> Result<(), SyncError> {
        self.listed.entries += entries.len() as u64;
        if self.listed.entries > self.max_entries {
            return Err(SourceError::permanent(format!(
                "the source lists more than {} entries (syncPolicy.maxEntries); raise it if that is expected",
                self.max_entries
            ))
            .into());
        }
        for entry in entries {
            self.listed.saw(entry.origin.as_ref().and_then(|origin| origin.updated_at));
            if self.filter.keeps(&entry) {
                self.batch.push(entry);
            } else if let Some(removals) = &mut self.removals {
                removals.push(entry);
            }
        }
        if self.batch.len() + self.removals.as_ref().map_or(0, Vec::len) >= STAGING_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// What the source listed so far.
    pub fn take_listed(&mut self) -> Listed {
        std::mem::take(&mut self.listed)
    }

    /// Stages what is left.
    pub async fn finish(mut self) -> Result<(), SyncError> {
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), SyncError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(STAGING_BATCH));
        // A whole listing has no removals.
        let removals = self.removals.as_mut().map(std::mem::take).unwrap_or_default();
        if !batch.is_empty() || !removals.is_empty() {
            self.batches.send((batch, removals)).await.map_err(|_| stopped())?;
        }
        Ok(())
    }
}

/// What a source listed in one sync.
#[derive(Debug, Default)]
pub struct Listed {
    /// Entries, before the filter.
    pub entries: u64,
    /// The latest `updatedAt` among them, as the source gave it.
    pub newest: Option<DateTime<Utc>>,
    /// The latest [`REREAD_LIMIT`] `updatedAt`s among them (a min-heap: the earliest of them on top).
    latest: BinaryHeap<Reverse<DateTime<Utc>>>,
    /// Entries without an `updatedAt`.
    pub undated: u64,
}

impl Listed {
    fn saw(&mut self, updated: Option<DateTime<Utc>>) {
        let Some(updated) = updated else {
            self.undated += 1;
            return;
        };
        self.newest = self.newest.max(Some(updated));
        if self.latest.len() < REREAD_LIMIT {
            self.latest.push(Reverse(updated));
        } else if self.latest.peek().is_some_and(|Reverse(earliest)| *earliest < updated) {
            self.latest.pop();
            self.latest.push(Reverse(updated));
        }
    }

    /// The [`REREAD_LIMIT`]th latest `updatedAt`, when the source listed that many dated entries: strictly
    /// after it, fewer than that many of them are left.
    pub fn nth_latest(&self) -> Option<DateTime<Utc>> {
        self.latest.peek().filter(|_| self.latest.len() >= REREAD_LIMIT).map(|Reverse(at)| *at)
    }
}

/// How many entries a blocking parser hands over at a time, and how many such handfuls may wait.
const HANDFUL: usize = 100;
const WAITING: usize = 4;

/// The sending end a blocking parser writes to.
pub struct Emitter {
    sender: mpsc::Sender<Vec<Entry>>,
    handful: Vec<Entry>,
}

/// The sync stopped taking entries (it failed, or was dropped).
pub struct Closed;

impl Emitter {
    fn emit(&mut self, entry: Entry) -> Result<(), Closed> {
        self.handful.push(entry);
        if self.handful.len() >= HANDFUL { self.send() } else { Ok(()) }
    }

    fn send(&mut self) -> Result<(), Closed> {
        let handful = std::mem::replace(&mut self.handful, Vec::with_capacity(HANDFUL));
        if handful.is_empty() { Ok(()) } else { self.sender.blocking_send(handful).map_err(|_| Closed) }
    }

    /// Parses `reader` as a registry file and emits its entries; `each` sees every entry first (to
    /// reset a per-entry byte count, say).
    pub fn parse<R: std::io::Read>(
        mut self,
        format: Format,
        reader: R,
        mut each: impl FnMut(),
    ) -> Result<(), SourceError> {
        let parsed = parse_stream(format, reader, |entry| {
            each();
            self.emit(entry)
        });
        match parsed {
            Ok(()) => self.send().map_err(|Closed| stopped()),
            Err(Stopped::Format(error)) => Err(SourceError::data(error)),
            Err(Stopped::Caller(Closed)) => Err(stopped()),
        }
    }
}

fn stopped() -> SourceError {
    SourceError::transient("the sync stopped taking entries")
}

/// Runs `produce` on a blocking thread and stages what it emits as it comes. A failure of the sink wins over
/// the producer's (which then only saw the channel close).
pub async fn from_blocking<T: Send + 'static>(
    sink: &mut Sink<'_>,
    produce: impl FnOnce(Emitter) -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SyncError> {
    let (sender, mut receiver) = mpsc::channel(WAITING);
    let task = tokio::task::spawn_blocking(move || produce(Emitter { sender, handful: Vec::new() }));
    let mut failed = None;
    while let Some(handful) = receiver.recv().await {
        if let Err(error) = sink.push(handful).await {
            failed = Some(error);
            break;
        }
    }
    drop(receiver);
    let produced = task.await.map_err(|e| SourceError::transient("the parser failed").because(e))?;
    match failed {
        Some(error) => Err(error),
        None => Ok(produced?),
    }
}
