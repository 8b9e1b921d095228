//! `registry-admin status`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use registry_shared::store::{Store, SyncStatus};
use serde::Serialize;

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
}

pub async fn run(path: &Path, output: Output) -> Result<(), Failure> {
    let config = load(path)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let mut rows = Vec::new();
    for registry in store.list_registries().await.context("reading the registries")? {
        let status = store.sync_status(&registry.name).await.context("reading the sync status")?;
        rows.push(RegistryStatus { name: registry.name.to_string(), kind: registry.kind, status });
    }
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows).context("printing JSON")?)?,
        Output::Table => write_table(&mut out, &rows)?,
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
