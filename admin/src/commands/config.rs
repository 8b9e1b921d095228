//! `registry-admin config check`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{Failure, load};

pub fn check(path: &Path) -> Result<(), Failure> {
    let config = load(path)?;
    // Through a JSON value: the YAML serialiser cannot write nested enums (sources) directly.
    let tree = serde_json::to_value(&config).context("printing the configuration")?;
    let yaml = serde_yaml_ng::to_string(&tree).context("printing the configuration")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# {} is valid; as loaded, with secrets redacted:", path.display())?;
    out.write_all(yaml.as_bytes())?;
    Ok(())
}
