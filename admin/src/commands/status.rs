//! `registry-admin status`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use registry_core::kubernetes::{self, Report};
use registry_runtime::config::Source;
use registry_store::{Store, SyncStatus};
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
        let stale = match registry
            .definition()
            .map(|definition| (definition.source, definition.sync_interval))
        {
            Ok((Source::Kubernetes(source), interval)) => {
                let after = source.stale_after_for(interval);
                Some(status.as_ref().is_some_and(|status| kubernetes::is_stale(status, after, Utc::now())))
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
    let field = |value: &Value, key: &str| value.get(key).map_or("-".into(), text);
    writeln!(
        out,
        "\n{} (kubernetes){}",
        row.name,
        if stale { ": STALE, the entries may not match the cluster" } else { "" }
    )?;
    match &status.watcher {
        Some(w) => writeln!(
            out,
            "  watcher: {} by {} since {} (written {}); {} events, {} changes; last event: {}; last change: {}; last error: {}",
            field(w, "state"),
            field(w, "holder"),
            field(w, "since"),
            field(w, "writtenAt"),
            field(w, "events"),
            field(w, "changes"),
            field(w, "lastEvent"),
            field(w, "lastChange"),
            field(w, "lastError"),
        )?,
        None => writeln!(out, "  watcher: none yet")?,
    }
    match Report::of(status) {
        Some(report) => write_discovery(out, &report),
        None => writeln!(out, "  discovery: none yet"),
    }
}

/// A kubernetes registry's last discovery: its counts, then each part, skipped object, clash and warning.
fn write_discovery(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "  discovery at {}: {} objects, {} exported, {} served ({} kept), {} skipped, {} clashes; {}; {} purged",
        report.finished_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        report.objects,
        report.exported,
        report.served,
        report.kept,
        report.skipped.len(),
        report.clashes.len(),
        report.written.map_or("nothing written".to_owned(), |w| format!(
            "{} inserted, {} updated, {} tombstoned, {} unchanged",
            w.inserted, w.updated, w.tombstoned, w.unchanged
        )),
        report.purged,
    )?;
    for listed in &report.listed {
        match &listed.version {
            Some(version) => {
                writeln!(out, "  listed: {} ({version}): {} objects", listed.part, listed.objects)?;
            }
            None => writeln!(out, "  not installed: {}", listed.part)?,
        }
    }
    for failed in &report.failed {
        let since = failed.since.to_rfc3339_opts(SecondsFormat::Secs, true);
        writeln!(out, "  failed since {since}: {}: {} (its entries are kept)", failed.part, failed.error)?;
    }
    for skipped in &report.skipped {
        writeln!(out, "  skipped: {}: {}", skipped.object, skipped.reason)?;
    }
    for clash in &report.clashes {
        writeln!(
            out,
            "  clash: {} is served from {}; {} is ignored",
            clash.name, clash.served, clash.ignored
        )?;
    }
    for warning in &report.warnings {
        writeln!(out, "  warning: {}: {}", warning.object, warning.reason)?;
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
