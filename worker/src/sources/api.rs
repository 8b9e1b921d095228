//! `api`: any MCP Registry API v0.1 server (the official registry, ToolHive, or another instance of ours,
//! including a `…/registry/<name>` base). Pages through `GET {endpoint}/v0.1/servers` until `nextCursor` is
//! absent, and keeps the upstream's `_meta.official` lifecycle, so a deletion upstream becomes a tombstone
//! here. Asked for the changes after a time, it adds `updated_since` and checks the upstream honours it.
//! Each page goes to the sink while the next one is fetched. A failed page fails the fetch: the job retries
//! it, with backoff, as a whole (one retry budget, `worker.maxAttempts`, not one per page on top of it).

use std::collections::HashSet;

use chrono::{DateTime, SubsecRound, Utc};
use registry_shared::config::ApiSource;
use registry_shared::formats::{self, Entry, Format};
use registry_shared::model::envelope::OFFICIAL_META;
use registry_shared::store::snapshot::hex;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Ask, Context, Pulled, Sink, Source, SourceError};
use crate::sync::SyncError;

const PAGE_SIZE: u32 = 100;

impl Source for ApiSource {
    async fn pull(
        &self,
        format: Format,
        context: &Context,
        ask: Ask<'_>,
        sink: &mut Sink<'_, '_>,
    ) -> Result<Pulled, SyncError> {
        if format != Format::Upstream {
            return Err(SourceError::permanent("an api source serves the upstream format").into());
        }
        let base = self.endpoint.as_str().trim_end_matches('/');
        // `updated_since` goes out in microseconds: compare what comes back with the bound actually sent.
        let after = ask.after.map(|after| after.trunc_subsecs(6));
        let get = |cursor: Option<String>| async move {
            let url = page_url(base, cursor.as_deref(), after);
            let body = context.http.get_bytes(&url, self.timeout, self.auth.as_ref()).await?;
            Ok::<_, SourceError>((url, body))
        };
        let mut digest = Sha256::new();
        let mut seen_cursors = HashSet::new();
        let (mut url, mut body) = get(None).await?;
        loop {
            digest.update(&body);
            let (page, next) = parse_page(&url, &body)?;
            if let Some(after) = after
                && let Some(reason) = not_changes(base, &page, after)
            {
                return Ok(Pulled::CannotPullChanges { reason });
            }
            let Some(next) = next else {
                sink.push(page).await?;
                break;
            };
            if !seen_cursors.insert(next.clone()) {
                return Err(SourceError::permanent(format!("{base} returned cursor {next:?} twice")).into());
            }
            let (pushed, fetched) = tokio::join!(sink.push(page), get(Some(next)));
            pushed?;
            (url, body) = fetched?;
        }
        let content_hash = hex(&digest.finalize());
        Ok(if ask.previous == Some(content_hash.as_str()) {
            Pulled::Unchanged
        } else {
            Pulled::Read { content_hash }
        })
    }
}

/// Why a page asked for changes after `after` is not such changes: an entry updated at or before it (the
/// upstream ignores `updated_since`), or one without `updatedAt` (it cannot be asked).
fn not_changes(base: &str, page: &[Entry], after: DateTime<Utc>) -> Option<String> {
    page.iter().find_map(|entry| {
        let (name, version) = (entry.server.name(), entry.server.version());
        match entry.origin.as_ref().and_then(|origin| origin.updated_at) {
            None => Some(format!(
                "{base} lists {name} {version} without _meta.\"{OFFICIAL_META}\".updatedAt, so it cannot be \
                 asked for changes"
            )),
            Some(updated) if updated <= after => Some(format!(
                "{base} ignores updated_since: asked for versions updated after {}, it listed {name} {version} \
                 updated at {}",
                rfc3339(after),
                rfc3339(updated)
            )),
            Some(_) => None,
        }
    })
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn page_url(base: &str, cursor: Option<&str>, after: Option<DateTime<Utc>>) -> String {
    let mut url = format!("{base}/v0.1/servers?limit={PAGE_SIZE}&include_deleted=true");
    if let Some(after) = after {
        url.push_str("&updated_since=");
        url.extend(url::form_urlencoded::byte_serialize(rfc3339(after).as_bytes()));
    }
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
