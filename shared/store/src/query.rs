//! What a list read asks for, and the opaque keyset cursor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use registry_core::model::RegistryName;

/// `raw` as matched against a search text: lowercased, without the field separator.
pub(crate) fn search_term(raw: &str) -> String {
    raw.to_lowercase().replace(registry_core::digest::SEARCH_SEPARATOR, "")
}

/// `term` as a `LIKE` pattern matching it anywhere, with `%`, `_` and `\` taken literally.
pub(crate) fn like_anywhere(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Which registries a read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// All registries; a name held by several is served from the first in config order.
    Aggregated,
    Registry(RegistryName),
}

impl Scope {
    /// The one registry read, if the read is of one.
    pub fn registry(&self) -> Option<&str> {
        match self {
            Self::Registry(name) => Some(name.as_str()),
            Self::Aggregated => None,
        }
    }
}

/// The `version` filter of a list, or the version of a single read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Exact(String),
}

impl VersionSelector {
    /// `latest` is special; anything else is an exact version.
    pub fn parse(raw: &str) -> Self {
        if raw == "latest" { Self::Latest } else { Self::Exact(raw.to_owned()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub scope: Scope,
    pub cursor: Option<Cursor>,
    /// Validated by the caller (1..=100 on the API).
    pub limit: u32,
    pub search: Option<String>,
    pub version: Option<VersionSelector>,
    /// Strictly after; includes deleted rows whatever `include_deleted` says.
    pub updated_since: Option<DateTime<Utc>>,
    pub include_deleted: bool,
}

/// The web catalogue's facets, each narrowing its list when set ([`crate::Store::catalogue`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrow {
    pub status: Option<registry_core::model::Status>,
    /// A package's `registryType` (`npm`, `pypi`, `oci`, …).
    pub package_type: Option<String>,
    /// With remotes (`true`) or without (`false`).
    pub remote: Option<bool>,
    pub reachability: Option<Reachability>,
}

/// What the prober last found at a version's remotes, as one word: `ok` when a remote listed its tools,
/// else `requiresAuth` when one asked for credentials, else `unreachable` when one was tried and failed (a
/// refused address included), else `notProbed` (no remotes, none tried, or not probed yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    Ok,
    RequiresAuth,
    Unreachable,
    NotProbed,
}

impl Reachability {
    pub const ALL: [Self; 4] = [Self::Ok, Self::RequiresAuth, Self::Unreachable, Self::NotProbed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RequiresAuth => "requiresAuth",
            Self::Unreachable => "unreachable",
            Self::NotProbed => "notProbed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reach| reach.as_str() == raw)
    }
}

impl ListQuery {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            cursor: None,
            limit: 30,
            search: None,
            version: None,
            updated_since: None,
            include_deleted: false,
        }
    }

    /// Deleted rows are shown when asked for, and always to incremental readers.
    pub fn shows_deleted(&self) -> bool {
        self.include_deleted || self.updated_since.is_some()
    }

    /// The search term as matched against `search_text`: lowercased, without the field separator.
    pub fn search_term(&self) -> Option<String> {
        self.search.as_deref().map(search_term)
    }

    /// The search term as a `LIKE` pattern matching it anywhere, with `%`, `_` and `\` taken literally.
    pub fn like_pattern(&self) -> Option<String> {
        self.search_term().map(|term| like_anywhere(&term))
    }
}

/// The position after the last row of a page: keyset on (name, version). Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor: use the nextCursor value of a previous page unchanged")]
pub struct InvalidCursor;

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.name, self.version))
    }

    pub fn decode(raw: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let (name, version) = text.split_once('\n').ok_or(InvalidCursor)?;
        if name.is_empty() || version.is_empty() || text.contains('\0') {
            return Err(InvalidCursor);
        }
        Ok(Self { name: name.to_owned(), version: version.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor { name: "io.example/weather".into(), version: "1.0.0+build.7".into() };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        for bad in ["", "!!!", "aW8uZXhhbXBsZQ", &URL_SAFE_NO_PAD.encode("\n1.0.0")] {
            assert_eq!(Cursor::decode(bad), Err(InvalidCursor), "{bad:?}");
        }
    }

    #[test]
    fn like_wildcards_in_the_search_term_are_literal() {
        let mut query = ListQuery::new(Scope::Aggregated);
        query.search = Some(r"50%_OFF\now".into());
        assert_eq!(query.like_pattern().as_deref(), Some(r"%50\%\_off\\now%"));
    }
}
