//! `api`: any MCP Registry API v0.1 server (the official registry, ToolHive, or another instance of ours,
//! including a `…/registry/<name>` base). Pages through `GET {endpoint}/v0.1/servers` until `nextCursor` is
//! absent, and keeps the upstream's `_meta.official` lifecycle, so a deletion upstream becomes a tombstone
//! here. A failed page fails the fetch: the job retries it, with backoff, as a whole (one retry budget,
//! `worker.maxAttempts`, not one per page on top of it).

use std::collections::HashSet;

use registry_shared::config::ApiSource;
use registry_shared::formats::{self, Entry, Format};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Context, Fetched, Source, SourceError};

/// The most servers one upstream may list.
pub const MAX_SERVERS: usize = 100_000;
const PAGE_SIZE: u32 = 100;

impl Source for ApiSource {
    async fn fetch(&self, format: Format, context: &Context) -> Result<Fetched, SourceError> {
        if format != Format::Upstream {
            return Err(SourceError::permanent("an api source serves the upstream format"));
        }
        let base = self.endpoint.as_str().trim_end_matches('/');
        let mut entries: Vec<Entry> = Vec::new();
        let mut digest = Sha256::new();
        let mut seen_cursors = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = page_url(base, cursor.as_deref());
            let body = context.http.get_bytes(&url, self.timeout, self.auth.as_ref()).await?;
            digest.update(&body);
            let (page, next) = parse_page(&url, &body)?;
            entries.extend(page);
            if entries.len() > MAX_SERVERS {
                return Err(SourceError::permanent(format!("{base} lists more than {MAX_SERVERS} servers")));
            }
            match next {
                Some(next) if !seen_cursors.insert(next.clone()) => {
                    return Err(SourceError::permanent(format!("{base} returned cursor {next:?} twice")));
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(Fetched { entries, content_hash: registry_shared::store::snapshot::hex(&digest.finalize()) })
    }
}

fn page_url(base: &str, cursor: Option<&str>) -> String {
    let mut url = format!("{base}/v0.1/servers?limit={PAGE_SIZE}&include_deleted=true");
    if let Some(cursor) = cursor {
        url.push_str("&cursor=");
        url.extend(url::form_urlencoded::byte_serialize(cursor.as_bytes()));
    }
    url
}

/// One `ServerList` page: its entries and the next cursor, if any.
fn parse_page(url: &str, body: &[u8]) -> Result<(Vec<Entry>, Option<String>), SourceError> {
    let bad = |what: String| SourceError::permanent(format!("GET {url}: {what}"));
    let mut page: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not a server list: {e}")))?;
    let Some(Value::Array(items)) = page.get_mut("servers").map(Value::take) else {
        return Err(bad("not a server list: no servers array".into()));
    };
    let entries = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| formats::api_entry(item).map_err(|e| bad(format!("servers[{i}]: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let next = page["metadata"]["nextCursor"].as_str().filter(|c| !c.is_empty()).map(str::to_owned);
    Ok((entries, next))
}
