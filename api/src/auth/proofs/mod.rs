//! The proofs behind the token exchanges that call out: a key published in DNS ([`dns`]) or at an HTTPS
//! URL ([`well_known`]) that signed a fresh timestamp ([`signed`]), a GitHub Actions OIDC token, or a GitHub
//! access token ([`github`]). [`Proofs`] holds the clients of the methods that are on.

pub mod dns;
pub mod github;
pub mod signed;
pub mod well_known;

use registry_runtime::config::PublisherMethods;

use dns::DnsProof;
use github::{GithubApi, GithubOidc};
use registry_runtime::outbound::HostTable;
use well_known::HttpProof;

/// The clients of the exchanges that are on.
#[derive(Default)]
pub struct Proofs {
    pub dns: Option<DnsProof>,
    pub http: Option<HttpProof>,
    pub github_oidc: Option<GithubOidc>,
    pub github_at: Option<GithubApi>,
}

impl Proofs {
    /// `hosts` fixes the addresses of names the `http` proof fetches from (tests stand a domain in on
    /// loopback); the private-address guard still applies to them.
    pub fn new(methods: &PublisherMethods, hosts: HostTable) -> Result<Self, String> {
        Ok(Self {
            dns: methods.dns.as_ref().map(DnsProof::new).transpose()?,
            http: methods.http.as_ref().map(|http| HttpProof::new(http, hosts)).transpose()?,
            github_oidc: methods.github_oidc.as_ref().map(GithubOidc::new).transpose()?,
            github_at: methods.github_at.as_ref().map(GithubApi::new).transpose()?,
        })
    }

    /// Loads and refreshes the GitHub Actions issuer's key set until dropped; pending when that method is
    /// off.
    pub fn keep_keys_fresh(&self) -> impl Future<Output = ()> + Send + 'static {
        let keys = self.github_oidc.as_ref().map(GithubOidc::keep_keys_fresh);
        async move {
            match keys {
                Some(keys) => keys.await,
                None => std::future::pending().await,
            }
        }
    }
}
