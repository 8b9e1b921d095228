//! Which paths need no token, matched as ToolHive matches them: a path with `%2f` or `%2e` (any case) never
//! matches a public entry (so it needs a token; it is not refused, since every read by name has a `%2F`),
//! the path is cleaned first, and an entry matches exactly or as a segment prefix (`/docs` covers
//! `/docs/index.css`, not `/docsx`).

use std::borrow::Cow;

/// Public whatever the configuration says: the probes, the API's description, the RFC 9728 document, and
/// what the publisher CLI calls before it holds a token (its health check and the token exchanges), and the
/// web catalogue's stylesheet and script and its sign-in (which each check what they need).
const ALWAYS_PUBLIC: [&str; 12] = [
    "/health",
    "/readiness",
    "/version",
    "/openapi.json",
    "/docs",
    "/.well-known",
    "/v0/health",
    "/v0.1/health",
    "/v0/auth",
    "/v0.1/auth",
    "/ui/assets",
    "/ui/auth",
];

/// Whether `path` is a token exchange (`/v0/auth/…`, `/v0.1/auth/…`): a POST that changes nothing stored.
pub fn is_exchange(path: &str) -> bool {
    ["/v0/auth/", "/v0.1/auth/"].iter().any(|prefix| path.starts_with(prefix))
}

pub fn is_public(path: &str, configured: &[String]) -> bool {
    let encoded = |digit: u8| {
        path.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'2' && w[2].eq_ignore_ascii_case(&digit))
    };
    if encoded(b'f') || encoded(b'e') {
        return false;
    }
    let cleaned = clean(path);
    ALWAYS_PUBLIC
        .iter()
        .copied()
        .chain(configured.iter().map(String::as_str))
        .any(|entry| covers(entry, &cleaned))
}

fn covers(entry: &str, path: &str) -> bool {
    let entry = clean(entry);
    entry == "/" || path == entry || path.strip_prefix(&*entry).is_some_and(|rest| rest.starts_with('/'))
}

/// Resolves `.`, `..` and repeated slashes, as Go's `path.Clean` does for an absolute path; a path that is
/// clean already (as most are) is not copied.
fn clean(path: &str) -> Cow<'_, str> {
    let clean = path == "/"
        || path.strip_prefix('/').is_some_and(|rest| rest.split('/').all(|s| !matches!(s, "" | "." | "..")));
    if clean {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    Cow::Owned(format!("/{}", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_match_exactly_or_by_segment_after_cleaning() {
        let extra = vec!["/custom/public".to_owned()];
        for public in [
            "/health",
            "/health/",
            "/docs/",
            "/docs/swagger-ui.css",
            "/.well-known/oauth-protected-resource",
            "//health",
            "/custom/public/x",
            "/v0.1/../health",
        ] {
            assert!(is_public(public, &extra), "{public}");
        }
        for protected in [
            "/healthcheck",
            "/v0.1/servers",
            "/health/..%2fv0.1/servers",
            "/%2e%2e/v0.1",
            "/HEALTH",
            "/health/../v0.1/servers",
            "/custom",
        ] {
            assert!(!is_public(protected, &extra), "{protected}");
        }
        assert!(is_public("/anything", &["/".to_owned()]), "the entry / opens everything");
        assert!(is_public("/custom/public", &["/custom//public/".to_owned()]), "entries are cleaned too");
        assert!(!is_public("/health/..%2Fv0.1/servers", &extra), "%2F in capitals");
    }
}
