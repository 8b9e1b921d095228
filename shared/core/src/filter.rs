//! Which entries of a source a registry keeps, by ToolHive's rules: name globs (`*` matches any run of
//! characters, `/` included; `?` exactly one), then exact tags from the publisher-provided block. The order is
//! name include → name exclude → tag include → tag exclude; an empty include list lets everything through, and
//! an exclude always wins over an include.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::formats::Entry;

/// Which entries of a source are kept (ToolHive semantics; applied by the sync job).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub names: IncludeExclude,
    pub tags: IncludeExclude,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncludeExclude {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Filter {
    pub fn keeps(&self, entry: &Entry) -> bool {
        let name = entry.server.name().as_str();
        let names = &self.names;
        if !names.include.is_empty() && !names.include.iter().any(|glob| glob_matches(glob, name)) {
            return false;
        }
        if names.exclude.iter().any(|glob| glob_matches(glob, name)) {
            return false;
        }
        let tags = entry.server.publisher_tags();
        let has = |wanted: &String| tags.iter().any(|tag| tag == wanted);
        if !self.tags.include.is_empty() && !self.tags.include.iter().any(has) {
            return false;
        }
        !self.tags.exclude.iter().any(has)
    }

    /// Keeps the entries this filter lets through.
    pub fn apply(&self, entries: Vec<Entry>) -> Vec<Entry> {
        entries.into_iter().filter(|entry| self.keeps(entry)).collect()
    }

    /// A stable digest of the filter: a sync whose data and filter are both unchanged writes nothing.
    pub fn fingerprint(&self) -> String {
        // Lists of strings always serialise.
        let text = serde_json::to_vec(self).unwrap_or_default();
        hex(&Sha256::digest(text))
    }
}

/// Matches a whole name against a glob with `*` (any run, possibly empty) and `?` (one character).
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (glob, name): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut g, mut n) = (0, 0);
    // Where the last `*` was, and how much of the name it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((star_g, star_n)) => {
                    g = star_g + 1;
                    n = star_n + 1;
                    star = Some((star_g, star_n + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::ServerJson;

    fn entry(name: &str, tags: &[&str]) -> Entry {
        let server = ServerJson::from_value(json!({
            "name": name, "description": "d", "version": "1.0.0",
            "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"io.github.stacklok": {"img": {"tags": tags}}}}
        }))
        .unwrap();
        Entry { server, origin: None }
    }

    fn lists(include: &[&str], exclude: &[&str]) -> IncludeExclude {
        IncludeExclude {
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn globs_let_star_cross_slashes_and_question_mark_take_one_character() {
        assert!(glob_matches("*/git*", "io.github.stacklok/github"));
        assert!(glob_matches("io.github.*", "io.github.stacklok/github"), "* matches / too");
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(!glob_matches("*/fetch", "io.github.stacklok/fetcher"));
        assert!(glob_matches("*-mysql-*", "io.x/adb-mysql-mcp-server"));
        assert!(glob_matches("*a*b*c", "xxaxxbxxbxc"));
        assert!(!glob_matches("*a*b*c", "xxaxxbxxbx"));
    }

    #[test]
    fn an_exclude_wins_and_an_empty_include_keeps_everything() {
        let filter = Filter {
            names: lists(&["*/*-mysql-*", "*/genai-*"], &["*/*-mcp-server"]),
            tags: lists(&[], &[]),
        };

        assert!(filter.keeps(&entry("io.x/genai-toolbox", &[])));
        assert!(!filter.keeps(&entry("io.x/adb-mysql-mcp-server", &[])), "excluded though included");
        assert!(!filter.keeps(&entry("io.x/fetch", &[])), "not included");
        assert!(Filter::default().keeps(&entry("io.x/anything", &[])));
    }

    #[test]
    fn tags_match_exactly_from_the_publisher_block() {
        let filter = Filter { names: lists(&[], &[]), tags: lists(&["security", "database"], &["mysql"]) };

        assert!(filter.keeps(&entry("io.x/falcon", &["security", "edr"])));
        assert!(!filter.keeps(&entry("io.x/adb", &["database", "mysql"])), "a tag exclude wins");
        assert!(!filter.keeps(&entry("io.x/notes", &["productivity"])));
        assert!(!filter.keeps(&entry("io.x/db", &["databases"])), "exact, not prefix");
    }

    #[test]
    fn the_fingerprint_changes_with_the_filter_only() {
        let a = Filter { names: lists(&["a/*"], &[]), tags: lists(&[], &[]) };
        let b = Filter { names: lists(&["b/*"], &[]), tags: lists(&[], &[]) };

        let same = Filter { names: lists(&["a/*"], &[]), tags: lists(&[], &[]) };
        assert_eq!(a.fingerprint(), same.fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
