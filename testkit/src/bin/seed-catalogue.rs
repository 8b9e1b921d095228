//! Loads the synthetic catalogue into a registry, for benchmarks:
//! `seed-catalogue --config FILE --registry NAME [--servers 5000]`. It stages the entries as they are
//! generated (a catalogue of any size is never held whole), and prints the loaded counts and the values the
//! benchmark needs (a deep cursor, a server name and version).
//!
//! `--servers N --deprecate M` deprecates M versions spread over the stored catalogue of N servers instead, through the store (so
//! they are upstream changes with a new `updatedAt`); `--servers N --write-file PATH` writes the catalogue
//! as an upstream file (a bare array of server.json) instead, entry by entry.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use registry_core::model::{RegistryName, Status};
use registry_runtime::config::Config;
use registry_store::{Apply, Cursor, STAGING_BATCH, Store};

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let servers: usize = arg(&args, "--servers").map_or(Ok(5000), |s| s.parse())?;
    if let Some(path) = arg(&args, "--write-file") {
        return write_file(servers, &PathBuf::from(path));
    }
    let config = arg(&args, "--config").ok_or("--config FILE is required")?;
    let registry = RegistryName::parse(&arg(&args, "--registry").ok_or("--registry NAME is required")?)?;
    let config = Config::load(&PathBuf::from(config)).map_err(|e| e.to_string())?;
    let store = Store::connect(&config.database).await?;
    if let Some(count) = arg(&args, "--deprecate") {
        return deprecate(&store, &registry, servers, count.parse()?).await;
    }
    store.apply_registries(&config.registries).await?;

    let started = std::time::Instant::now();
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut staging = store.begin_staging(&registry).await?;
    let mut entries = registry_testkit::catalogue::entries(servers, 42).peekable();
    while entries.peek().is_some() {
        let batch: Vec<_> = entries.by_ref().take(STAGING_BATCH).collect();
        keys.extend(batch.iter().map(|e| (e.server.name().to_string(), e.server.version().to_string())));
        staging.push(batch, Vec::new()).await?;
    }
    let summary = staging.apply(Apply::Whole { kept: &BTreeSet::new() }).await?;
    keys.sort();
    let deep =
        keys.get(14_999).map(|(name, version)| Cursor { name: name.clone(), version: version.clone() });
    let mut out = std::io::stdout().lock();
    writeln!(out, "versions={}", keys.len())?;
    writeln!(out, "servers={servers}")?;
    writeln!(out, "inserted={}", summary.inserted)?;
    writeln!(out, "seconds={:.1}", started.elapsed().as_secs_f64())?;
    // A catalogue too small for a deep page has no cursor to give.
    writeln!(out, "deep_cursor={}", deep.map(|c| c.encode()).unwrap_or_default())?;
    let (name, version) = &keys[keys.len() / 2];
    writeln!(out, "sample_name={}", name.replace('/', "%2F"))?;
    writeln!(out, "sample_version={version}")?;
    Ok(())
}

/// Deprecates `count` versions spread over the catalogue of `servers` servers (about four versions each).
async fn deprecate(
    store: &Store,
    registry: &RegistryName,
    servers: usize,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let step = (4 * servers / count.max(1)).max(1);
    let mut done = 0;
    for entry in registry_testkit::catalogue::entries(servers, 42).step_by(step).take(count) {
        let (name, version) = (entry.server.name().to_string(), entry.server.version().to_string());
        if store
            .set_status(registry, &name, Some(&version), Status::Deprecated, Some("superseded"))
            .await?
            .is_some()
        {
            done += 1;
        }
    }
    writeln!(std::io::stdout().lock(), "deprecated={done}")?;
    Ok(())
}

/// Writes the catalogue as a bare array of server.json, one entry at a time.
fn write_file(servers: usize, path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(b"[")?;
    for (i, entry) in registry_testkit::catalogue::entries(servers, 42).enumerate() {
        if i > 0 {
            file.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut file, &entry.server)?;
    }
    file.write_all(b"]\n")?;
    file.flush()?;
    writeln!(std::io::stdout().lock(), "written={}", path.display())?;
    Ok(())
}
