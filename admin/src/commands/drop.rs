//! `registry-admin drop-registry`: the deliberate way to delete a registry that left the configuration,
//! with its versions. The servers refuse to do it on their own for a managed registry that holds any.

use std::io::Write;

use anyhow::{Context, anyhow};
use registry_shared::store::Store;

use super::{Failure, load, registry_name};
use crate::cli::DropRegistryArgs;

pub async fn run(args: &DropRegistryArgs) -> Result<(), Failure> {
    let config = load(&args.config.config)?;
    let name = registry_name(&args.registry)?;
    if config.registry(&name).is_some() {
        return Err(anyhow!(
            "{name} is still in {}: remove it from the configuration first",
            args.config.config.display()
        )
        .into());
    }
    let store = Store::connect(&config.database).await.context("opening the database")?;
    match store.drop_registry(&name).await.with_context(|| format!("deleting {name}"))? {
        Some(versions) => writeln!(std::io::stdout(), "{name}: deleted, with its {versions} versions")?,
        None => return Err(anyhow!("{name} is not a stored registry").into()),
    }
    Ok(())
}
