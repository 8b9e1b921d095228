//! The rules a managed registry's data imposes on a publish or a restore: versions are immutable, a remote
//! URL belongs to one server, and a server has a bounded number of versions. Checked read-only for
//! `/validate`, and inside the write transaction for the writes themselves.

use serde_json::Value;

use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use registry_core::model::{RegistryName, ServerJson};
use registry_core::publish::{Conflict, MAX_VERSIONS_PER_SERVER};

/// Everything that would stop `server` from being published to `registry` now.
pub(crate) async fn publish_conflicts<DB: Dialect>(
    conn: &mut DB::Connection,
    registry: &RegistryName,
    server: &ServerJson,
) -> Result<Vec<Conflict>, StoreError> {
    let (name, version) = (server.name().as_str(), server.version().as_str());
    let mut conflicts = Vec::new();
    let mut existing = sql!(DB;
        "select count(*), count(case when version = " {version} " then 1 end) from server_version \
         where registry = " {registry.as_str()} " and name = " {name}
    );
    let rows: Vec<(i64, i64)> = DB::fetch_all(conn, &mut existing).await?;
    if let Some(&(versions, same)) = rows.first() {
        if same > 0 {
            conflicts.push(Conflict::VersionExists { name: name.to_owned(), version: version.to_owned() });
        }
        if versions >= MAX_VERSIONS_PER_SERVER {
            conflicts.push(Conflict::TooManyVersions { name: name.to_owned() });
        }
    }
    conflicts.extend(remote_conflicts::<DB>(conn, registry, server).await?);
    Ok(conflicts)
}

/// The remote URLs of `server` that a different, non-deleted server of the registry uses.
pub(crate) async fn remote_conflicts<DB: Dialect>(
    conn: &mut DB::Connection,
    registry: &RegistryName,
    server: &ServerJson,
) -> Result<Vec<Conflict>, StoreError> {
    let mut conflicts = Vec::new();
    for url in remote_urls(server) {
        let mut holder = sql!(DB;
            "select name from server_version where registry = " {registry.as_str()} " and name <> "
            {server.name().as_str()} " and status <> 'deleted' and "
        );
        DB::push_remote_url(&mut holder, url);
        holder.push(" limit 1");
        let holders: Vec<(String,)> = DB::fetch_all(conn, &mut holder).await?;
        if let Some((holder,)) = holders.into_iter().next() {
            conflicts.push(Conflict::RemoteUrlInUse { url: url.to_owned(), server: holder });
        }
    }
    Ok(conflicts)
}

/// The lock that serialises writes which claim remote URLs in a registry, so two servers cannot take the
/// same URL at once. Taken after the per-server lock, always in that order.
pub(crate) fn remote_url_lock(registry: &RegistryName) -> String {
    format!("{registry}\nremote URLs")
}

/// Takes [`remote_url_lock`] when `server` claims a remote URL, and only then (most servers claim none).
pub(crate) async fn lock_remote_urls<DB: Dialect>(
    conn: &mut DB::Connection,
    registry: &RegistryName,
    server: &ServerJson,
) -> Result<(), StoreError> {
    if remote_urls(server).next().is_some() {
        DB::lock(conn, &remote_url_lock(registry)).await?;
    }
    Ok(())
}

/// The distinct remote URLs of a document, in order.
pub(crate) fn remote_urls(server: &ServerJson) -> impl Iterator<Item = &str> {
    let mut seen = std::collections::HashSet::new();
    server
        .as_object()
        .get("remotes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|remote| remote.get("url").and_then(Value::as_str))
        .filter(move |url| seen.insert(*url))
}
