//! `registry-admin config check`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use registry_runtime::config::{ConfigErrors, ConfigProblem, KeyFileError};

use super::{Failure, load};

/// Prints the configuration as loaded, and its warnings to stderr; with `deny_warnings`, a warning fails the
/// check as a problem does.
pub fn check(path: &Path, deny_warnings: bool) -> Result<(), Failure> {
    let config = load(path)?;
    let mut warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    if let Some(tokens) = &config.auth.publisher_tokens {
        match tokens.read_seeds() {
            Ok(_) => {}
            // The secret may be mounted only where the API runs.
            Err(unreadable @ KeyFileError::Unreadable { .. }) => {
                warnings.push(format!("{unreadable} (the API reads it when it starts)"));
            }
            Err(malformed) => {
                return Err(Failure::Config(ConfigErrors(vec![ConfigProblem {
                    path: String::new(),
                    message: malformed.to_string(),
                }])));
            }
        }
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if deny_warnings && !warnings.is_empty() {
        return Err(Failure::Config(ConfigErrors(Vec::new())));
    }
    // Through a JSON value: the YAML serialiser cannot write nested enums (sources) directly.
    let tree = serde_json::to_value(&config).context("printing the configuration")?;
    let yaml = serde_yaml_ng::to_string(&tree).context("printing the configuration")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# {} is valid; as loaded, with secrets redacted:", path.display())?;
    out.write_all(yaml.as_bytes())?;
    Ok(())
}
