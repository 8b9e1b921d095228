//! What was built: the version, the git commit and the build time, as every binary's `version` reports it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: &'static str,
    pub git_commit: &'static str,
    pub build_date: String,
}

pub fn build_info() -> BuildInfo {
    let epoch = env!("BUILD_EPOCH").parse::<i64>().expect("build.rs writes the build time as seconds");
    // Seconds since 1970 from a clock of this century are always a time.
    let built = DateTime::<Utc>::from_timestamp(epoch, 0).unwrap_or_default();
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        git_commit: env!("BUILD_GIT_COMMIT"),
        build_date: built.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}
