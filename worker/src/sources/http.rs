//! The HTTP client the sources share: rustls with the ring provider, a per-request timeout, responses read
//! with a size cap, and failures sorted into transient and permanent.

use std::time::Duration;

use registry_core::digest::hex;
use registry_runtime::config::BasicAuth;
use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::SourceError;

/// The largest response body a source accepts.
pub const MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        // reqwest is built without a default crypto provider; installing one twice is harmless.
        if rustls::crypto::ring::default_provider().install_default().is_err() {
            tracing::trace!("a rustls crypto provider was already installed");
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("mcp-registry-server/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self { client })
    }

    /// GETs `url` within `timeout` and returns the body, at most [`MAX_BODY_BYTES`] of it. With `auth`, the
    /// password is read from its file now, by this process.
    pub async fn get_bytes(
        &self,
        url: &str,
        timeout: Duration,
        auth: Option<&BasicAuth>,
    ) -> Result<Vec<u8>, SourceError> {
        let mut response = self.get(url, timeout, auth).await?;
        let mut body = Vec::new();
        read_capped(url, &mut response, MAX_BODY_BYTES as u64, |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(body)
    }

    /// GETs `url` within `timeout` into a new file in `dir` (removed when the returned handle drops), at
    /// most `max` bytes, and returns it with the SHA-256 of its content.
    pub async fn download(
        &self,
        url: &str,
        timeout: Duration,
        auth: Option<&BasicAuth>,
        dir: &std::path::Path,
        max: u64,
    ) -> Result<(tempfile::NamedTempFile, String), SourceError> {
        let local = |e: std::io::Error| {
            SourceError::transient(format!("cannot keep {url} in {}", dir.display())).because(e)
        };
        std::fs::create_dir_all(dir).map_err(local)?;
        let spool = tempfile::NamedTempFile::new_in(dir).map_err(local)?;
        let mut file = std::io::BufWriter::new(spool.reopen().map_err(local)?);
        let mut response = self.get(url, timeout, auth).await?;
        let mut digest = Sha256::new();
        read_capped(url, &mut response, max, |chunk| {
            digest.update(chunk);
            std::io::Write::write_all(&mut file, chunk).map_err(local)
        })
        .await?;
        std::io::Write::flush(&mut file).map_err(local)?;
        Ok((spool, hex(&digest.finalize())))
    }

    async fn get(
        &self,
        url: &str,
        timeout: Duration,
        auth: Option<&BasicAuth>,
    ) -> Result<Response, SourceError> {
        let mut request =
            self.client.get(url).header(reqwest::header::ACCEPT, "application/json").timeout(timeout);
        if let Some(auth) = auth {
            request = request.basic_auth(&auth.username, Some(read_password(auth)?));
        }
        let response = request.send().await.map_err(|e| request_error(url, e))?;
        check_status(url, response.status())?;
        Ok(response)
    }
}

/// The password in `auth.password_file`, without its trailing newline.
pub fn read_password(auth: &BasicAuth) -> Result<String, SourceError> {
    let text = std::fs::read_to_string(&auth.password_file).map_err(|e| {
        SourceError::permanent(format!("cannot read {}", auth.password_file.display())).because(e)
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn request_error(url: &str, error: reqwest::Error) -> SourceError {
    let what = if error.is_timeout() { "timed out" } else { "failed" };
    SourceError::transient(format!("GET {url} {what}")).because(error)
}

fn check_status(url: &str, status: StatusCode) -> Result<(), SourceError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Err(SourceError::transient(format!("GET {url}: {status}")))
    } else {
        Err(SourceError::permanent(format!("GET {url}: {status}")))
    }
}

/// Reads the body chunk by chunk into `take`, refusing more than `max` bytes.
async fn read_capped(
    url: &str,
    response: &mut Response,
    max: u64,
    mut take: impl FnMut(&[u8]) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let too_large = || SourceError::permanent(format!("GET {url}: the response exceeds {} MiB", max >> 20));
    if response.content_length().is_some_and(|length| length > max) {
        return Err(too_large());
    }
    let mut read = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| request_error(url, e))? {
        read += chunk.len() as u64;
        if read > max {
            return Err(too_large());
        }
        take(&chunk)?;
    }
    Ok(())
}
