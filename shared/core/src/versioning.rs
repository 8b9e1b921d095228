//! Version ordering for `isLatest`, by the official registry's rule:
//! both semver → semver precedence (a pre-release sorts below its release, build metadata is ignored);
//! neither → the later publish time wins; mixed → the semver one wins.
//!
//! A version counts as semver when it has exactly three numeric core parts, with an optional leading `v`.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

/// One candidate for `isLatest`.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub version: &'a str,
    pub published_at: DateTime<Utc>,
    pub deleted: bool,
}

fn as_semver(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.strip_prefix('v').unwrap_or(version)).ok()
}

/// Orders two versions: `Greater` means `a` is the newer one.
pub fn compare(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    match (as_semver(a.version), as_semver(b.version)) {
        (Some(x), Some(y)) => x.cmp_precedence(&y).then_with(|| a.published_at.cmp(&b.published_at)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.published_at.cmp(&b.published_at),
    }
    .then_with(|| a.version.cmp(b.version))
}

/// The index of the version that carries `isLatest`: the newest non-deleted one, or, when every version is
/// deleted, the newest of all (so `latest` with `include_deleted=true` still answers).
pub fn latest_index(candidates: &[Candidate<'_>]) -> Option<usize> {
    let newest = |live_only: bool| {
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| !live_only || !c.deleted)
            .max_by(|(_, a), (_, b)| compare(a, b))
            .map(|(i, _)| i)
    };
    newest(true).or_else(|| newest(false))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, day, 0, 0, 0).unwrap()
    }

    fn live(version: &str, day: u32) -> Candidate<'_> {
        Candidate { version, published_at: at(day), deleted: false }
    }

    fn latest<'a>(candidates: &[Candidate<'a>]) -> &'a str {
        candidates[latest_index(candidates).unwrap()].version
    }

    #[test]
    fn semver_order_beats_publish_order() {
        assert_eq!(latest(&[live("2.0.0", 1), live("1.0.1", 2), live("1.10.0", 3)]), "2.0.0");
    }

    #[test]
    fn a_prerelease_sorts_below_its_release() {
        assert_eq!(latest(&[live("1.0.0", 1), live("1.0.0-rc.1", 2)]), "1.0.0");
        assert_eq!(latest(&[live("1.0.0-alpha", 1), live("1.0.0-beta", 2)]), "1.0.0-beta");
    }

    #[test]
    fn without_semver_the_later_publish_wins() {
        assert_eq!(latest(&[live("2024-10", 2), live("snapshot", 1)]), "2024-10");
        assert_eq!(latest(&[live("2024-10", 1), live("snapshot", 2)]), "snapshot");
    }

    #[test]
    fn with_mixed_versions_the_semver_one_wins() {
        assert_eq!(latest(&[live("1.0.0", 1), live("nightly", 9)]), "1.0.0");
        assert_eq!(latest(&[live("v0.1.0", 1), live("1.0", 9)]), "v0.1.0", "1.0 has two parts, not semver");
    }

    #[test]
    fn deleted_versions_lose_unless_all_are_deleted() {
        let mut versions = [live("1.0.0", 1), live("2.0.0", 2)];
        versions[1].deleted = true;
        assert_eq!(latest(&versions), "1.0.0");
        versions[0].deleted = true;
        assert_eq!(latest(&versions), "2.0.0");
        assert_eq!(latest_index(&[]), None);
    }
}
