//! Calls to servers of others ([`client`]): a timeout and a size cap on every call, no redirects, no proxy,
//! `caCertPath` as their only trust roots when set, and, unless `allowPrivateIP`, no loopback or private
//! address, checked on the addresses a name resolves to (inside the client's resolver, so that a fixed
//! address cannot pass by it) and on IP literals ([`check_literal`]). The API's identity providers and
//! publisher proofs, and the worker's prober, call out through it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use registry_core::error::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request could not be made or its answer read; the cause's own chain tells why.
    #[error("{0}")]
    Request(#[source] BoxError),
    #[error("{0} is (or resolves only to) a private or loopback address, and allowPrivateIP is off")]
    Private(String),
    #[error("the answer is over {0} bytes")]
    TooLarge(usize),
    #[error("cannot read {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Names resolved to fixed addresses instead of through DNS (tests stand a domain in on loopback this way).
/// The private-address guard checks these addresses as it checks resolved ones.
pub type HostTable = Arc<HashMap<String, Vec<SocketAddr>>>;

/// An HTTP client for calls to servers of others: a timeout on the whole call and on connecting, no
/// redirects, no proxy, `ca_cert_path` as its only trust roots when set, and, unless `allow_private`, no
/// connection to a loopback, private, link-local or CGNAT address, whichever way the name resolves.
pub fn client(
    ca_cert_path: Option<&Path>,
    allow_private: bool,
    timeout: Duration,
    hosts: HostTable,
) -> Result<reqwest::Client, String> {
    if rustls::crypto::ring::default_provider().install_default().is_err() {
        tracing::trace!("a rustls crypto provider was already installed");
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("mcp-registry-server/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name itself, past the private-address guard.
        .no_proxy()
        .dns_resolver(Arc::new(Guarded { hosts, allow_private }));
    if let Some(path) = ca_cert_path {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read caCertPath {}: {e}", path.display()))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("caCertPath {} is not a PEM bundle: {e}", path.display()))?;
        builder = builder.tls_certs_only(roots);
    }
    builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// An IP literal in `url` (which no resolver sees) must be public unless `allow_private`.
pub fn check_literal(url: &reqwest::Url, allow_private: bool) -> Result<(), CallError> {
    match url.host_str().and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok()) {
        Some(ip) if !allow_private && !is_public(ip) => Err(CallError::Private(ip.to_string())),
        _ => Ok(()),
    }
}

/// The body of `response`, refused once it passes `max` bytes (read no further).
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| CallError::Request(e.into()))? {
        if body.len() + chunk.len() > max {
            return Err(CallError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Resolves names (through the host table first), and unless private addresses are allowed keeps only
/// public ones; a name with none left fails.
struct Guarded {
    hosts: HostTable,
    allow_private: bool,
}

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (hosts, allow_private) = (self.hosts.clone(), self.allow_private);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = match hosts.get(&host) {
                Some(fixed) => fixed.clone(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let kept: Vec<SocketAddr> =
                addresses.into_iter().filter(|a| allow_private || is_public(a.ip())).collect();
            if kept.is_empty() {
                let error: BoxError = Box::new(CallError::Private(host));
                return Err(error);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An address anyone may reach: not loopback, private (RFC 1918, ULA), link-local, CGNAT, benchmarking
/// (198.18/15), multicast, reserved or unspecified; an IPv6 address that carries an IPv4 one (mapped,
/// compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address it carries.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The IPv4 address an IPv6 one carries, where the network delivers to it: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let segments = v6.segments();
    let octets = v6.octets();
    let low = std::net::Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    match segments {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if !v6.is_loopback() && !v6.is_unspecified() => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, _, _, ..] => Some(std::net::Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_and_link_local_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "172.31.255.255",
            "100.127.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a00:1::",
            "ff02::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:4700::1111",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
