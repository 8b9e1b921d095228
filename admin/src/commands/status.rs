//! `registry-admin status`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use registry_shared::config::Source;
use registry_shared::store::{Store, SyncStatus};
use serde::Serialize;
use serde_json::Value;

use super::{Failure, load};
use crate::cli::Output;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegistryStatus {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    status: Option<SyncStatus>,
    /// For a kubernetes registry: whether its entries may be out of date (see `staleAfter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stale: Option<bool>,
}

pub async fn run(path: &Path, output: Output) -> Result<(), Failure> {
    let config = load(path)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let mut rows = Vec::new();
    for registry in store.list_registries().await.context("reading the registries")? {
        let status = store.sync_status(&registry.name).await.context("reading the sync status")?;
        let stale =
            match registry.definition().map(|definition| (definition.source, definition.sync_interval)) {
                Ok((Source::Kubernetes(source), interval)) => {
                    let after = source.stale_after_for(interval);
                    Some(status.as_ref().is_some_and(|status| status.is_stale(after, Utc::now())))
                }
                _ => None,
            };
        rows.push(RegistryStatus { name: registry.name.to_string(), kind: registry.kind, status, stale });
    }
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows).context("printing JSON")?)?,
        Output::Table => {
            write_table(&mut out, &rows)?;
            for row in &rows {
                write_kubernetes(&mut out, row)?;
            }
        }
    }
    Ok(())
}

/// Under the table, for each kubernetes registry: its watcher and what its last discovery found.
fn write_kubernetes(out: &mut impl Write, row: &RegistryStatus) -> std::io::Result<()> {
    let (Some(stale), Some(status)) = (row.stale, &row.status) else { return Ok(()) };
    let text = |value: &Value| value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    writeln!(
        out,
        "\n{} (kubernetes){}",
        row.name,
        if stale { ": STALE, the entries may not match the cluster" } else { "" }
    )?;
    match &status.watcher {
        Some(watcher) => writeln!(
            out,
            "  watcher: {} by {} since {}; {} events, {} changes; last change: {}; last error: {}",
            text(&watcher["state"]),
            text(&watcher["holder"]),
            text(&watcher["since"]),
            watcher["events"],
            watcher["changes"],
            watcher.get("lastChange").map_or("-".into(), text),
            watcher.get("lastError").map_or("-".into(), text),
        )?,
        None => writeln!(out, "  watcher: none yet")?,
    }
    let Some(discovery) = &status.discovery else { return writeln!(out, "  discovery: none yet") };
    writeln!(
        out,
        "  discovery at {}: {} objects, {} exported, {} served, {} skipped, {} clashes, {} purged",
        text(&discovery["finishedAt"]),
        discovery["objects"],
        discovery["exported"],
        discovery["served"],
        discovery["skipped"].as_array().map_or(0, Vec::len),
        discovery["clashes"].as_array().map_or(0, Vec::len),
        discovery["purged"],
    )?;
    let part = |item: &Value| match item.get("namespace") {
        Some(namespace) => format!("{} in {}", text(&item["kind"]), text(namespace)),
        None => format!("{} in every namespace", text(&item["kind"])),
    };
    for failed in discovery["failed"].as_array().into_iter().flatten() {
        writeln!(out, "  failed: {}: {} (its entries are kept)", part(failed), text(&failed["error"]))?;
    }
    for listed in discovery["listed"].as_array().into_iter().flatten().filter(|l| l.get("version").is_none())
    {
        writeln!(out, "  not installed: {}", part(listed))?;
    }
    for skipped in discovery["skipped"].as_array().into_iter().flatten() {
        writeln!(out, "  skipped: {}: {}", text(&skipped["object"]), text(&skipped["reason"]))?;
    }
    for clash in discovery["clashes"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  clash: {} is served from {}; {} is ignored",
            text(&clash["name"]),
            text(&clash["served"]),
            text(&clash["ignored"])
        )?;
    }
    for warning in discovery["warnings"].as_array().into_iter().flatten() {
        writeln!(out, "  warning: {}: {}", text(&warning["object"]), text(&warning["reason"]))?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, rows: &[RegistryStatus]) -> std::io::Result<()> {
    let time =
        |t: Option<DateTime<Utc>>| t.map_or("-".to_owned(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    let header = [
        "REGISTRY",
        "TYPE",
        "PHASE",
        "LAST SUCCESS",
        "LAST ATTEMPT",
        "FAILURES",
        "SERVERS",
        "NEXT DUE",
        "LAST ERROR",
    ];
    let mut table: Vec<[String; 9]> = vec![header.map(str::to_owned)];
    for row in rows {
        let s = row.status.as_ref();
        table.push([
            row.name.clone(),
            row.kind.clone(),
            s.map_or("-".into(), |s| s.phase.as_str().to_owned()),
            time(s.and_then(|s| s.last_success_at)),
            time(s.and_then(|s| s.last_attempt_at)),
            s.map_or(0, |s| s.attempts).to_string(),
            s.map_or(0, |s| s.server_count).to_string(),
            time(s.and_then(|s| s.next_due_at)),
            s.and_then(|s| s.last_error.clone()).unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> =
        (0..9).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &table {
        let cells: Vec<String> =
            row.iter().zip(&widths).map(|(cell, width)| format!("{cell:width$}")).collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
