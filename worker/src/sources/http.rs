//! The HTTP client the sources share: rustls with the ring provider, a per-request timeout, responses read
//! with a size cap, and failures sorted into transient and permanent.

use std::time::Duration;

use registry_shared::config::BasicAuth;
use reqwest::{Response, StatusCode};

use super::SourceError;

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
        let mut request =
            self.client.get(url).header(reqwest::header::ACCEPT, "application/json").timeout(timeout);
        if let Some(auth) = auth {
            request = request.basic_auth(&auth.username, Some(read_password(auth)?));
        }
        let response = request.send().await.map_err(|e| request_error(url, &e))?;
        check_status(url, response.status())?;
        read_capped(url, response).await
    }
}

/// The password in `auth.password_file`, without its trailing newline.
pub fn read_password(auth: &BasicAuth) -> Result<String, SourceError> {
    let text = std::fs::read_to_string(&auth.password_file)
        .map_err(|e| SourceError::permanent(format!("cannot read {}: {e}", auth.password_file.display())))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn request_error(url: &str, error: &reqwest::Error) -> SourceError {
    let what = if error.is_timeout() { "timed out" } else { "failed" };
    SourceError::transient(format!("GET {url} {what}: {error}"))
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

async fn read_capped(url: &str, mut response: Response) -> Result<Vec<u8>, SourceError> {
    let too_large =
        || SourceError::permanent(format!("GET {url}: the response exceeds {} MiB", MAX_BODY_BYTES >> 20));
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| request_error(url, &e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
