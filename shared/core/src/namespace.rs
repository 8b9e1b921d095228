//! Server name patterns, with the official registry's semantics: `*` is every name, a pattern ending in `*`
//! every name with that prefix, anything else one exact name. Authorisation rules, registry tokens and blocked
//! namespaces all speak in them.

/// Whether `pattern` covers `name`.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Why `pattern` is not one: empty, or a `*` anywhere but at its end.
pub fn pattern_problem(pattern: &str) -> Option<String> {
    let star = pattern.find('*');
    (pattern.trim().is_empty() || star.is_some_and(|at| at != pattern.len() - 1))
        .then(|| format!("{pattern:?}: use an exact name, a prefix ending in *, or *"))
}

/// Whether some name is covered by both patterns.
pub fn overlap(a: &str, b: &str) -> bool {
    match (a.strip_suffix('*'), b.strip_suffix('*')) {
        (Some(a), Some(b)) => a.starts_with(b) || b.starts_with(a),
        (Some(_), None) => matches(a, b),
        (None, Some(_)) => matches(b, a),
        (None, None) => a == b,
    }
}

/// A domain's labels reversed, as namespaces are written: `example.com` is `com.example`.
pub fn reversed_domain(domain: &str) -> String {
    domain.trim_end_matches('.').split('.').rev().collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_is_everything_a_trailing_star_a_prefix_and_anything_else_exact() {
        assert!(matches("*", "io.github.a/b"));
        assert!(matches("com.example.*", "com.example.api/x"));
        assert!(matches("com.example/*", "com.example/x"));
        assert!(!matches("com.example/*", "com.example.api/x"));
        assert!(matches("com.example/x", "com.example/x"));
        assert!(!matches("com.example/x", "com.example/xy"));
    }

    #[test]
    fn patterns_overlap_when_one_name_fits_both() {
        assert!(overlap("*", "com.example/x"));
        assert!(overlap("com.example/*", "com.*"));
        assert!(overlap("com.example/x", "com.example/*"));
        assert!(overlap("com.example/*", "com.example/x"));
        assert!(!overlap("com.example/*", "org.example/*"));
        assert!(!overlap("com.example/x", "com.example/y"));
        assert!(!overlap("io.github.alice/*", "io.github.alicia/*"));
    }

    #[test]
    fn a_star_belongs_only_at_the_end() {
        assert_eq!(pattern_problem("io.github.a/*"), None);
        assert_eq!(pattern_problem("*"), None);
        assert!(pattern_problem("io.*.a/x").is_some());
        assert!(pattern_problem(" ").is_some());
    }

    #[test]
    fn a_domain_reads_backwards() {
        assert_eq!(reversed_domain("example.com"), "com.example");
        assert_eq!(reversed_domain("api.example.com."), "com.example.api");
    }
}
