//! Loads the synthetic catalogue into a registry, for benchmarks:
//! `seed-catalogue --config FILE --registry NAME [--servers 5000]`. It prints the loaded counts and the
//! values the benchmark needs (a deep cursor, a server name and version).

use std::io::Write;
use std::path::PathBuf;

use registry_shared::config::Config;
use registry_shared::model::RegistryName;
use registry_shared::store::{Cursor, Store};

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let config = arg(&args, "--config").ok_or("--config FILE is required")?;
    let registry = RegistryName::parse(&arg(&args, "--registry").ok_or("--registry NAME is required")?)?;
    let servers: usize = arg(&args, "--servers").map_or(Ok(5000), |s| s.parse())?;
    let config = Config::load(&PathBuf::from(config)).map_err(|e| e.to_string())?;
    let store = Store::connect(&config.database).await?;
    store.apply_registries(&config.registries).await?;

    let entries = registry_testkit::catalogue::generate(servers, 42);
    let mut keys: Vec<(String, String)> =
        entries.iter().map(|e| (e.server.name().to_string(), e.server.version().to_string())).collect();
    keys.sort();
    let started = std::time::Instant::now();
    let summary = store.write_snapshot(&registry, entries).await?;
    let deep =
        keys.get(14_999).map(|(name, version)| Cursor { name: name.clone(), version: version.clone() });
    let mut out = std::io::stdout().lock();
    writeln!(out, "versions={}", keys.len())?;
    writeln!(out, "servers={servers}")?;
    writeln!(out, "inserted={}", summary.inserted)?;
    writeln!(out, "seconds={:.1}", started.elapsed().as_secs_f64())?;
    writeln!(out, "deep_cursor={}", deep.map(|c| c.encode()).unwrap_or_default())?;
    let (name, version) = &keys[keys.len() / 2];
    writeln!(out, "sample_name={}", name.replace('/', "%2F"))?;
    writeln!(out, "sample_version={version}")?;
    Ok(())
}
