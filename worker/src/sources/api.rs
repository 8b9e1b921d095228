//! `api`: any MCP Registry API v0.1 server (the official registry, ToolHive, or another instance of ours,
//! including a `…/registry/<name>` base). Pages through `GET {endpoint}/v0.1/servers` until `nextCursor` is
//! absent, and keeps the upstream's `_meta.official` lifecycle, so a deletion upstream becomes a tombstone
//! here. Asked for the changes after a time, it adds `updated_since` and checks the upstream honours it.
//! Each page goes to the sink while the next one is fetched. A failed page fails the fetch: the job retries
//! it, with backoff, as a whole (one retry budget, `worker.maxAttempts`, not one per page on top of it).

use std::collections::HashSet;

use chrono::{DateTime, SubsecRound, Utc};
use registry_core::digest::hex;
use registry_core::formats::{self, Entry, Format};
use registry_core::model::envelope::OFFICIAL_META;
use registry_runtime::config::ApiSource;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use super::http::HttpClient;
use super::{Ask, Context, Pulled, Sink, Source};
use crate::error::{SourceError, SyncError};

const PAGE_SIZE: u32 = 100;

impl Source for ApiSource {
    async fn pull(
        &self,
        format: Format,
        context: &Context,
        ask: Ask<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<Pulled, SyncError> {
        if format != Format::Upstream {
            return Err(SourceError::permanent("an api source serves the upstream format").into());
        }
        let base = self.endpoint.as_str().trim_end_matches('/');
        // `updated_since` goes out in microseconds: compare what comes back with the bound actually sent.
        let after = ask.after.map(|after| after.trunc_subsecs(6));
        // Pages are fetched on a task of their own, a page ahead: the cursor makes them sequential, and
        // their reading (parse, digest, staging) would otherwise wait for each fetch, and each fetch for it.
        let (sender, mut fetched) = mpsc::channel(1);
        let _fetcher = AbortOnDropHandle::new(tokio::spawn(fetch_pages(
            self.clone(),
            context.http.clone(),
            after,
            sender,
        )));
        let mut digest = Sha256::new();
        while let Some(page) = fetched.recv().await {
            let (url, body) = page?;
            digest.update(&body);
            let page = parse_page(&url, &body)?;
            if let Some(after) = after
                && let Some(reason) = not_changes(base, &page, after)
            {
                return Ok(Pulled::CannotPullChanges { reason });
            }
            sink.push(page).await?;
        }
        let content_hash = hex(&digest.finalize());
        Ok(if ask.previous == Some(content_hash.as_str()) {
            Pulled::Unchanged
        } else {
            Pulled::Read { content_hash }
        })
    }
}

/// Fetches the pages one after the other, following `nextCursor`, and sends each (its URL and body) on,
/// or the first failure. Stops after the last page, a failure, or when the pages are no longer read.
async fn fetch_pages(source: ApiSource, http: HttpClient, after: Option<DateTime<Utc>>, pages: Pages) {
    if let Err(error) = follow_cursors(&source, &http, after, &pages).await {
        let _ = pages.send(Err(error)).await;
    }
}

type Pages = mpsc::Sender<Result<(String, Vec<u8>), SourceError>>;

async fn follow_cursors(
    source: &ApiSource,
    http: &HttpClient,
    after: Option<DateTime<Utc>>,
    pages: &Pages,
) -> Result<(), SourceError> {
    let base = source.endpoint.as_str().trim_end_matches('/');
    let mut seen_cursors = HashSet::new();
    let mut cursor = None;
    loop {
        let url = page_url(base, cursor.as_deref(), after);
        let body = http.get_bytes(&url, source.timeout, source.auth.as_ref()).await?;
        let next = next_cursor(&url, &body)?;
        if let Some(next) = &next
            && !seen_cursors.insert(next.clone())
        {
            return Err(SourceError::permanent(format!("{base} returned cursor {next:?} twice")));
        }
        if pages.send(Ok((url, body))).await.is_err() || next.is_none() {
            return Ok(());
        }
        cursor = next;
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

/// One `ServerList` page's entries.
fn parse_page(url: &str, body: &[u8]) -> Result<Vec<Entry>, SourceError> {
    let mut page: Value = serde_json::from_slice(body).map_err(|e| not_a_list(url).because(e))?;
    let Some(Value::Array(items)) = page.get_mut("servers").map(Value::take) else {
        return Err(not_a_list(url).because("no servers array"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            formats::api_entry(item)
                .map_err(|e| SourceError::permanent(format!("GET {url}: servers[{i}]")).because(e))
        })
        .collect()
}

/// A `ServerList` page's next cursor, if any, read without the entries.
fn next_cursor(url: &str, body: &[u8]) -> Result<Option<String>, SourceError> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        metadata: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(rename = "nextCursor", default)]
        next_cursor: Option<String>,
    }
    let page: Page = serde_json::from_slice(body).map_err(|e| not_a_list(url).because(e))?;
    Ok(page.metadata.and_then(|m| m.next_cursor).filter(|c| !c.is_empty()))
}

fn not_a_list(url: &str) -> SourceError {
    SourceError::permanent(format!("GET {url}: not a server list"))
}
