//! Semantic checks: the official registry's publish rules that a JSON schema cannot express (known schema
//! versions, the strict name rule, fixed versions, https URLs, template variables, transports), plus our size
//! limit on publisher metadata.

use std::collections::BTreeSet;

use url::{Host, Url};

use super::ValidationConfig;
use super::{Issue, IssueKind};
use crate::model::server_json::{Argument, PUBLISHER_PROVIDED, Package, Transport};
use crate::model::{ServerDetail, ServerName};

/// The released server.json schema versions, oldest first; the last is current.
pub const SCHEMA_VERSIONS: [&str; 6] =
    ["2025-07-09", "2025-09-16", "2025-09-29", "2025-10-11", "2025-10-17", "2025-12-11"];

/// The most remotes one version may list: each is checked against the registry's data on publish.
pub const MAX_REMOTES: usize = 100;

/// Characters a named argument's name must not contain.
const ARGUMENT_NAME_FORBIDDEN: [char; 4] = ['<', '>', ' ', '$'];

struct Rules<'c> {
    config: &'c ValidationConfig,
    issues: Vec<Issue>,
}

pub(super) fn check(server: &ServerDetail, config: &ValidationConfig) -> Vec<Issue> {
    let mut rules = Rules { config, issues: Vec::new() };
    rules.server(server);
    rules.issues
}

impl Rules<'_> {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(Issue::error(IssueKind::Semantic, path, message));
    }

    fn server(&mut self, server: &ServerDetail) {
        if let Some(schema) = &server.schema {
            self.schema_version(schema);
        }
        if let Err(e) = ServerName::parse(&server.name) {
            self.fail("name", e.0);
        }
        self.version("version", &server.version);
        if server.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            self.fail("title", "title must not be only whitespace");
        }
        if let Some(url) = &server.website_url {
            self.https("websiteUrl", url);
        }
        if let Some(repository) = &server.repository {
            self.repository(repository);
        }
        for (i, icon) in server.icons.iter().flatten().enumerate() {
            self.https(&format!("icons[{i}].src"), &icon.src);
        }
        for (i, package) in server.packages.iter().flatten().enumerate() {
            self.package(&format!("packages[{i}]"), package);
        }
        if server.remotes.as_ref().is_some_and(|remotes| remotes.len() > MAX_REMOTES) {
            self.fail("remotes", format!("at most {MAX_REMOTES} remotes are allowed"));
        }
        for (i, remote) in server.remotes.iter().flatten().enumerate() {
            self.remote(&format!("remotes[{i}]"), remote);
        }
        if let Some(meta) = server.meta.as_ref().and_then(|meta| meta.get(PUBLISHER_PROVIDED)) {
            let size = serde_json::to_string(meta).map_or(usize::MAX, |text| text.len());
            let max = self.config.max_publisher_meta_bytes;
            if size > max {
                self.fail(
                    &format!("_meta.{PUBLISHER_PROVIDED}"),
                    format!("publisher-provided metadata is {size} bytes; at most {max} are allowed"),
                );
            }
        }
    }

    fn schema_version(&mut self, schema: &str) {
        let id = schema
            .strip_suffix("/server.schema.json")
            .and_then(|rest| rest.rsplit_once("/schemas/"))
            .map(|(_, id)| id);
        let current = SCHEMA_VERSIONS[SCHEMA_VERSIONS.len() - 1];
        match id {
            Some(id) if id == current => {}
            Some(id) if SCHEMA_VERSIONS.contains(&id) => self.issues.push(Issue::warning(
                IssueKind::Semantic,
                "$schema",
                format!("schema version {id} is not the current one ({current}); consider updating $schema"),
            )),
            Some(id) => self.fail(
                "$schema",
                format!(
                    "schema version {id} is not available; known versions: {}",
                    SCHEMA_VERSIONS.join(", ")
                ),
            ),
            None => self.fail(
                "$schema",
                format!(
                    "$schema must be a server.json schema URL such as {}",
                    crate::model::server_json::CURRENT_SCHEMA
                ),
            ),
        }
    }

    fn version(&mut self, path: &str, version: &str) {
        if let Some(problem) = version_problem(version) {
            self.fail(path, format!("version {version:?} {problem}"));
        }
    }

    fn https(&mut self, path: &str, raw: &str) {
        match Url::parse(raw) {
            Ok(url) if url.scheme() == "https" && url.has_host() => {}
            _ => self.fail(path, format!("{raw:?} must be an absolute https URL")),
        }
    }

    fn repository(&mut self, repository: &crate::model::server_json::Repository) {
        if let Some(subfolder) = repository.subfolder.as_deref().filter(|s| !s.is_empty()) {
            let segments_ok = subfolder.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
            let chars_ok =
                subfolder.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
            if !(segments_ok && chars_ok) {
                self.fail(
                    "repository.subfolder",
                    "subfolder must be a relative path of letters, digits, '-', '_' and '.', without empty, \
                     '.' or '..' segments or a leading or trailing '/'",
                );
            }
        }
        if !self.config.strict_repository {
            return;
        }
        let host = match repository.source.as_str() {
            "github" => "github.com",
            "gitlab" => "gitlab.com",
            other => {
                self.fail(
                    "repository.source",
                    format!("source {other:?} is not allowed: validation.strictRepository admits github and gitlab"),
                );
                return;
            }
        };
        if !is_forge_url(&repository.url, host) {
            self.fail("repository.url", format!("{:?} is not a repository URL on {host}", repository.url));
        }
    }

    fn package(&mut self, path: &str, package: &Package) {
        if package.identifier.contains(char::is_whitespace) {
            self.fail(&format!("{path}.identifier"), "identifier must not contain spaces");
        }
        if let Some(version) = &package.version {
            self.version(&format!("{path}.version"), version);
        }
        let arguments = package.runtime_arguments.iter().flatten().map(|a| ("runtimeArguments", a));
        let arguments =
            arguments.chain(package.package_arguments.iter().flatten().map(|a| ("packageArguments", a)));
        let mut defined = BTreeSet::new();
        let mut counters = [0_usize; 2];
        for (list, argument) in arguments {
            let counter = &mut counters[usize::from(list == "packageArguments")];
            let arg_path = format!("{path}.{list}[{counter}]");
            *counter += 1;
            match argument {
                Argument::Named { name, value_hint, input, .. } => {
                    defined.insert(name.as_str());
                    defined.extend(value_hint.as_deref());
                    self.named_argument(&arg_path, name, [input.value.as_deref(), input.default.as_deref()]);
                }
                Argument::Positional { value_hint, .. } => defined.extend(value_hint.as_deref()),
            }
        }
        defined.extend(package.environment_variables.iter().flatten().map(|v| v.name.as_str()));
        let transport_path = format!("{path}.transport");
        let transport = &package.transport;
        match (transport.kind.as_str(), &transport.url) {
            ("stdio", Some(_)) => self.fail(&format!("{transport_path}.url"), "a stdio transport has no url"),
            ("stdio", None) => {}
            (_, None) => self.fail(&transport_path, format!("a {} transport needs a url", transport.kind)),
            (_, Some(url)) => {
                self.templated_url(&format!("{transport_path}.url"), url, false);
                self.defined_variables(&format!("{transport_path}.url"), url, &defined);
            }
        }
    }

    fn named_argument(&mut self, path: &str, name: &str, values: [Option<&str>; 2]) {
        if name.is_empty() || name.contains(ARGUMENT_NAME_FORBIDDEN) {
            self.fail(
                &format!("{path}.name"),
                format!("argument name {name:?} must not be empty or contain <, >, spaces or $"),
            );
        }
        for (key, value) in ["value", "default"].into_iter().zip(values) {
            if !name.is_empty() && value.is_some_and(|v| v.starts_with(name)) {
                self.fail(
                    &format!("{path}.{key}"),
                    format!("the {key} must not repeat the argument name {name:?}; it is added when the command is built"),
                );
            }
        }
    }

    fn remote(&mut self, path: &str, remote: &Transport) {
        let url_path = format!("{path}.url");
        let Some(url) = &remote.url else {
            self.fail(path, "a remote needs a url");
            return;
        };
        self.templated_url(&url_path, url, true);
        let defined: BTreeSet<&str> =
            remote.variables.iter().flatten().map(|(name, _)| name.as_str()).collect();
        self.defined_variables(&url_path, url, &defined);
    }

    /// Parses a URL with its `{variables}` filled in; a remote must be https and not a loopback host.
    fn templated_url(&mut self, path: &str, raw: &str, remote: bool) {
        let filled = fill_template(raw);
        let url = match Url::parse(&filled) {
            Ok(url) if url.has_host() && matches!(url.scheme(), "http" | "https") => url,
            _ => return self.fail(path, format!("{raw:?} is not an absolute http(s) URL")),
        };
        if remote && url.scheme() != "https" {
            self.fail(path, format!("{raw:?} must use https"));
        }
        if remote && is_loopback(&url) {
            self.fail(
                path,
                format!("{raw:?} points at this machine; a remote must be reachable by its clients"),
            );
        }
    }

    fn defined_variables(&mut self, path: &str, url: &str, defined: &BTreeSet<&str>) {
        for variable in template_variables(url).into_iter().filter(|v| !defined.contains(v)) {
            self.fail(path, format!("URL variable {{{variable}}} is not defined"));
        }
    }
}

/// Why a version string cannot be published, if it cannot: versions name one release, not a range. Only
/// version-shaped strings count as ranges (`^1.2`, `>=2`, `1.x`, `1 - 2`, `1 || 2`), so a free-form version
/// such as `=release` passes, as in the official registry.
pub fn version_problem(version: &str) -> Option<&'static str> {
    let trimmed = version.trim();
    if trimmed == "latest" {
        return Some("is reserved: `latest` is resolved by the registry");
    }
    let versionish = |part: &str| {
        let part = part.trim();
        let part = part.strip_prefix(['v', 'V']).unwrap_or(part);
        part.starts_with(|c: char| c.is_ascii_digit() || matches!(c, 'x' | 'X' | '*'))
    };
    let operator = ["^", "~", ">=", "<=", ">", "<", "="]
        .iter()
        .find_map(|op| trimmed.strip_prefix(op))
        .is_some_and(versionish);
    let between = |separator: &str| {
        trimmed.split_once(separator).is_some_and(|(low, high)| versionish(low) && versionish(high))
    };
    let parts: Vec<&str> = trimmed.split('.').collect();
    let wildcard = parts.iter().any(|p| matches!(*p, "x" | "X" | "*"))
        && parts.iter().all(|p| {
            matches!(*p, "x" | "X" | "*") || p.trim_start_matches(['v', 'V']).parse::<u64>().is_ok()
        });
    (operator || between(" - ") || between("||") || wildcard)
        .then_some("looks like a version range; publish one specific version")
}

/// The `{name}` variables of a URL template, in order.
pub fn template_variables(url: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        names.push(&after[..close]);
        rest = &after[close + 1..];
    }
    names
}

/// The URL with each `{variable}` replaced by a placeholder that parses where it stands: a port after `:`,
/// a host label or path segment elsewhere.
fn fill_template(url: &str) -> String {
    let mut filled = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        filled.push_str(&rest[..open]);
        filled.push_str(if rest[..open].ends_with(':') { "1" } else { "x" });
        rest = &rest[open + close + 1..];
    }
    filled.push_str(rest);
    filled
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => false,
    }
}

/// `https://github.com/owner/repo` (optionally `www.`, `http`, a trailing slash), as the official rule has it.
fn is_forge_url(raw: &str, host: &str) -> bool {
    let Ok(url) = Url::parse(raw) else { return false };
    let host_ok = url.host_str().is_some_and(|h| h == host || h.strip_prefix("www.") == Some(host));
    let segments: Vec<&str> = url.path().trim_end_matches('/').trim_start_matches('/').split('/').collect();
    let segment_ok =
        |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
    matches!(url.scheme(), "http" | "https")
        && host_ok
        && segments.len() == 2
        && segments.iter().all(segment_ok)
        && url.query().is_none()
        && url.fragment().is_none()
}
