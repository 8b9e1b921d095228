//! The `http` proof's fetch: `GET https://<domain>/.well-known/mcp-registry-auth`, with no redirect
//! followed, at most [`MAX_BODY`] bytes, within the method's timeout, and, unless `allowPrivateIP`, never to
//! a loopback, private, link-local or CGNAT address.

use registry_runtime::config::HttpMethod;
use reqwest::StatusCode;

use super::signed::{self, DomainClaim, ProofError};
use registry_runtime::outbound::{self, CallError, HostTable, error_chain, read_capped};

/// The most a proof file may hold, as upstream.
pub const MAX_BODY: usize = 4096;

pub struct HttpProof {
    client: reqwest::Client,
}

impl HttpProof {
    pub fn new(method: &HttpMethod, hosts: HostTable) -> Result<Self, String> {
        let outbound = &method.outbound;
        let client = outbound::client(
            outbound.ca_cert_path.as_deref(),
            outbound.allow_private_ip,
            method.timeout,
            hosts,
        )
        .map_err(|e| format!("auth.publisherTokens.methods.http: {e}"))?;
        Ok(Self { client })
    }

    /// The checked domain, when the key at its well-known URL signed the timestamp.
    pub async fn prove(&self, claim: &DomainClaim<'_>) -> Result<String, ProofError> {
        let domain = signed::domain(claim.domain)?;
        signed::timestamp(claim.timestamp, chrono::Utc::now())?;
        let record = self.record(&domain).await?;
        let place = format!("https://{domain}/.well-known/mcp-registry-auth");
        signed::verify(&[record], &place, claim.timestamp, claim.signed_timestamp).map(|()| domain)
    }

    /// The proof file's text, trimmed; a refusal says why there is none.
    pub async fn record(&self, domain: &str) -> Result<String, ProofError> {
        let url = format!("https://{domain}/.well-known/mcp-registry-auth");
        let refuse = |why: String| ProofError::Refused(format!("cannot read {url}: {why}"));
        let response = (self.client.get(&url))
            .header(reqwest::header::ACCEPT, "text/plain")
            .send()
            .await
            .map_err(|e| refuse(error_chain(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("?");
            return Err(refuse(format!(
                "it redirects ({status}, to {to}); the file must be served at this URL"
            )));
        }
        if status != StatusCode::OK {
            return Err(refuse(format!("the server answered {status}")));
        }
        let body = read_capped(response, MAX_BODY).await.map_err(|e| match e {
            CallError::TooLarge(max) => refuse(format!("the file is over {max} bytes")),
            other => refuse(error_chain(&other)),
        })?;
        Ok(String::from_utf8_lossy(&body).trim().to_owned())
    }
}
