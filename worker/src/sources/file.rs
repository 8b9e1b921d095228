//! `file`: a local path, or an http(s) URL read with a timeout into a file under the data directory. Either
//! is hashed first (an unchanged file is not parsed at all), then parsed entry by entry on a blocking
//! thread; no entry may exceed [`MAX_ENTRY_BYTES`], and no file [`MAX_FILE_BYTES`].

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use registry_core::digest::hex;
use registry_core::formats::Format;
use registry_runtime::config::FileSource;
use sha2::{Digest, Sha256};

use super::sink::from_blocking;
use super::{Ask, Context, Pulled, Sink, Source};
use crate::error::{SourceError, SyncError};

/// The largest file a file source reads.
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// The largest single entry in a file.
pub const MAX_ENTRY_BYTES: u64 = 16 << 20;

impl Source for FileSource {
    async fn pull(
        &self,
        format: Format,
        context: &Context,
        ask: Ask<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<Pulled, SyncError> {
        let (path, content_hash, _spool) = match self {
            Self::Path(path) => {
                let hashed = path.clone();
                let hash = tokio::task::spawn_blocking(move || hash_file(&hashed)).await.map_err(|e| {
                    SourceError::transient(format!("hashing {} failed", path.display())).because(e)
                })??;
                (path.clone(), hash, None)
            }
            Self::Url { url, timeout, auth } => {
                let dir = context.data_dir.join("downloads");
                let (spool, hash) = context
                    .http
                    .download(url.as_str(), *timeout, auth.as_ref(), &dir, MAX_FILE_BYTES)
                    .await?;
                (spool.path().to_owned(), hash, Some(spool))
            }
        };
        if ask.previous == Some(content_hash.as_str()) {
            return Ok(Pulled::Unchanged);
        }
        from_blocking(sink, move |emitter| {
            let file = std::fs::File::open(&path).map_err(|e| read_error(&path, e))?;
            let reader = EntryCap::new(BufReader::with_capacity(64 << 10, file));
            let since_entry = reader.since_entry.clone();
            emitter.parse(format, reader, || since_entry.set(0))
        })
        .await?;
        Ok(Pulled::Read { content_hash })
    }
}

/// The SHA-256 of a file, read in pieces; a file over [`MAX_FILE_BYTES`] is refused.
fn hash_file(path: &PathBuf) -> Result<String, SourceError> {
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let length = file.metadata().map_err(|e| read_error(path, e))?.len();
    if length > MAX_FILE_BYTES {
        return Err(SourceError::permanent(format!(
            "{} exceeds {} MiB",
            path.display(),
            MAX_FILE_BYTES >> 20
        )));
    }
    let mut digest = Sha256::new();
    let mut buffer = vec![0; 64 << 10];
    loop {
        match file.read(&mut buffer).map_err(|e| read_error(path, e))? {
            0 => return Ok(hex(&digest.finalize())),
            n => digest.update(&buffer[..n]),
        }
    }
}

/// A missing or unreadable file will not fix itself before the next interval.
fn read_error(path: &Path, error: std::io::Error) -> SourceError {
    SourceError::permanent(format!("cannot read {}", path.display())).because(error)
}

/// Fails the read once more than [`MAX_ENTRY_BYTES`] pass without the parser finishing an entry (it resets
/// `since_entry` at each one), so a giant entry never has to fit in memory.
struct EntryCap<R> {
    inner: R,
    since_entry: Rc<Cell<u64>>,
}

impl<R> EntryCap<R> {
    fn new(inner: R) -> Self {
        Self { inner, since_entry: Rc::new(Cell::new(0)) }
    }
}

impl<R: Read> Read for EntryCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let since = self.since_entry.get() + n as u64;
        self.since_entry.set(since);
        if since > MAX_ENTRY_BYTES {
            return Err(std::io::Error::other(format!("an entry exceeds {} MiB", MAX_ENTRY_BYTES >> 20)));
        }
        Ok(n)
    }
}
