//! The `dns` proof's lookups: TXT records at the domain's apex, from the configured nameserver or the
//! system's resolver, with no cache (a record just published counts at once) and one timeout for the
//! whole lookup.

use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use registry_runtime::config::DnsMethod;

use super::signed::{self, DomainClaim, ProofError};

/// Where a misplaced record is looked for, only to say so: the CLI's users sometimes publish there.
const SELECTORS: [&str; 2] = ["_mcp-auth", "_mcp-registry"];
/// How long those lookups may take, together.
const SELECTOR_TIMEOUT: Duration = Duration::from_secs(2);

pub struct DnsProof {
    resolver: TokioResolver,
    timeout: Duration,
}

impl DnsProof {
    pub fn new(method: &DnsMethod) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match method.nameserver {
            Some(address) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = address.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(ResolverConfig::from_name_servers(vec![server]), provider)
            }
            None => TokioResolver::builder(provider).map_err(|e| {
                format!(
                    "auth.publisherTokens.methods.dns: cannot read the system's resolver configuration: {e}"
                )
            })?,
        };
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = method.timeout;
        options.attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| format!("auth.publisherTokens.methods.dns: cannot build the resolver: {e}"))?;
        Ok(Self { resolver, timeout: method.timeout })
    }

    /// The checked domain, when a key in its TXT records signed the timestamp.
    pub async fn prove(&self, claim: &DomainClaim<'_>) -> Result<String, ProofError> {
        let domain = signed::domain(claim.domain)?;
        signed::timestamp(claim.timestamp, chrono::Utc::now())?;
        let records = self.records(&domain).await?;
        let place = format!("the TXT records of {domain}");
        match signed::verify(&records, &place, claim.timestamp, claim.signed_timestamp) {
            Err(ProofError::Refused(mut detail)) => {
                if let Some(elsewhere) = self.misplaced(&domain).await {
                    detail.push_str(&format!(
                        "; a v=MCPv1 record is at {elsewhere}: it must be a TXT record of {domain} itself"
                    ));
                }
                Err(ProofError::Refused(detail))
            }
            verified => verified.map(|()| domain),
        }
    }

    /// The TXT records at `domain`'s apex, each record's strings joined as they were split (a string holds
    /// at most 255 bytes). A name with no TXT records has none; a failed lookup is a refusal.
    pub async fn records(&self, domain: &str) -> Result<Vec<String>, ProofError> {
        match tokio::time::timeout(self.timeout, self.lookup(domain)).await {
            Ok(Ok(records)) => Ok(records),
            Ok(Err(why)) => Err(ProofError::Refused(format!("the TXT lookup of {domain} failed: {why}"))),
            Err(_) => Err(ProofError::Refused(format!(
                "the TXT lookup of {domain} took longer than {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    async fn lookup(&self, name: &str) -> Result<Vec<String>, String> {
        match self.resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => {
                        Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect())
                    }
                    _ => None,
                })
                .collect()),
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Where a proof record was published instead of the apex, if anywhere: only to tell the caller. Both
    /// names are asked at once, for at most [`SELECTOR_TIMEOUT`].
    pub async fn misplaced(&self, domain: &str) -> Option<String> {
        let [auth, registry] = SELECTORS.map(|selector| format!("{selector}.{domain}"));
        let holds_a_record = |name: String| async move {
            // A failed or slow lookup is no hint.
            let Ok(Ok(records)) = tokio::time::timeout(SELECTOR_TIMEOUT, self.lookup(&name)).await else {
                return None;
            };
            records.iter().any(|record| record.contains("v=MCPv1;")).then_some(name)
        };
        let (auth, registry) = tokio::join!(holds_a_record(auth), holds_a_record(registry));
        auth.or(registry)
    }
}
