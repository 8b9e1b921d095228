//! Records the git commit and the build time for `version` outputs.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    // An image build has no .git: it passes the commit in GIT_COMMIT.
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    let given = std::env::var("GIT_COMMIT").ok().filter(|commit| !commit.trim().is_empty());
    let commit = given.map_or_else(git_commit, |commit| commit.trim().to_owned());
    let built =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or_else(|| {
            // A clock before 1970 stamps the epoch rather than failing the build.
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
        });
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BUILD_EPOCH={built}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Rebuild the stamp when the checked-out commit moves.
    let git = Path::new("../../.git");
    for watched in ["HEAD", "refs/heads", "packed-refs"] {
        let path = git.join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// The checked-out commit, or `unknown` outside a git checkout.
fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}
