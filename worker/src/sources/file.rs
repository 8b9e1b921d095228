//! `file`: a local path, or an http(s) URL read with a timeout and a size cap.

use registry_shared::config::FileSource;
use registry_shared::formats::Format;

use super::{Context, Fetched, MAX_BODY_BYTES, Source, SourceError, parse_bytes};

impl Source for FileSource {
    async fn fetch(&self, format: Format, context: &Context) -> Result<Fetched, SourceError> {
        let bytes = match self {
            Self::Path(path) => {
                let shown = path.display();
                let metadata =
                    tokio::fs::metadata(path).await.map_err(|e| read_error(&shown.to_string(), &e))?;
                if metadata.len() > MAX_BODY_BYTES as u64 {
                    return Err(SourceError::permanent(format!(
                        "{shown} exceeds {} MiB",
                        MAX_BODY_BYTES >> 20
                    )));
                }
                tokio::fs::read(path).await.map_err(|e| read_error(&shown.to_string(), &e))?
            }
            Self::Url { url, timeout, auth } => {
                context.http.get_bytes(url.as_str(), *timeout, auth.as_ref()).await?
            }
        };
        parse_bytes(format, &bytes)
    }
}

/// A missing or unreadable file will not fix itself before the next interval.
fn read_error(path: &str, error: &std::io::Error) -> SourceError {
    SourceError::permanent(format!("cannot read {path}: {error}"))
}
