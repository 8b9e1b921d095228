//! The optional comparisons with the reference data a team checkout keeps beside the repository
//! (`../shared/reference`: the official `openapi.yaml`, ToolHive's example configs, catalogue and operator
//! objects). No test that guards the project's own behaviour reads it. A comparison is an ignored test, which
//! `scripts/test.sh` runs on its own; it goes through [`dir`], which says why it skipped when the folder is
//! absent, or which folder it compared against.

use std::path::PathBuf;

/// The reference folder, `TEST_REFERENCE_DIR` or `../shared/reference` beside the checkout, when present.
/// Prints which one is used, or that `comparison` is skipped and why.
pub fn dir(comparison: &str) -> Option<PathBuf> {
    let (dir, from) = match std::env::var_os("TEST_REFERENCE_DIR") {
        Some(dir) => (PathBuf::from(dir), "TEST_REFERENCE_DIR"),
        None => {
            // This crate is testkit/spec: three levels up is the folder that holds the checkout.
            (
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference"),
                "beside the checkout",
            )
        }
    };
    if let Ok(dir) = dir.canonicalize() {
        eprintln!("comparing {comparison} with the reference data in {} ({from})", dir.display());
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {comparison}: no reference data at {} ({from}); it is optional, and a clone without it \
             runs every other test",
            dir.display()
        );
        None
    }
}
