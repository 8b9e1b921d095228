//! From the layered tree to a checked [`Config`]: defaults applied, every problem collected with its path.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::database::{PostgresConfig, PostgresTarget, StorageConfig};
use super::raw::*;
use super::*;

/// Collects problems while building the configuration.
#[derive(Default)]
struct Check {
    problems: Vec<ConfigProblem>,
}

impl Check {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(ConfigProblem { path: path.into(), message: message.into() });
    }

    /// Deserialises one section; a type error or unknown key is reported with its full path.
    fn section<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        serde_path_to_error::deserialize(value)
            .map_err(|e| {
                let inner = e.path().to_string();
                let full = match (path.is_empty(), inner == ".") {
                    (_, true) => path.to_owned(),
                    (true, false) => inner,
                    (false, false) => format!("{path}.{inner}"),
                };
                self.fail(full, e.into_inner().to_string());
            })
            .ok()
    }

    fn duration(&mut self, path: &str, raw: Option<&str>, default: Option<Duration>) -> Option<Duration> {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw.trim()) {
            Ok(d) if d.is_zero() => {
                self.fail(path, "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(path, format!("{raw:?} is not a duration (write e.g. 200ms, 30s, 5m, 1h)"));
                None
            }
        }
    }

    fn url(&mut self, path: &str, raw: &str, schemes: &[&str]) -> Option<Url> {
        match Url::parse(raw) {
            Ok(url) if schemes.contains(&url.scheme()) && url.has_host() => Some(url),
            Ok(_) | Err(_) => {
                self.fail(path, format!("{raw:?} is not an absolute {} URL", schemes.join(" or ")));
                None
            }
        }
    }

    fn required<'a>(&mut self, path: &str, value: Option<&'a str>) -> Option<&'a str> {
        match value.map(str::trim) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                self.fail(path, "is required");
                None
            }
        }
    }
}

pub(super) fn validate(tree: Value) -> Result<Config, ConfigErrors> {
    let mut check = Check::default();
    let raw: RawConfig = check.section("", tree).ok_or_else(|| ConfigErrors(check.problems.clone()))?;
    let registry_name = match raw.registry_name {
        Some(name) if name.trim().is_empty() => {
            check.fail("registryName", "must not be empty");
            String::new()
        }
        Some(name) => name,
        None => "default".to_owned(),
    };
    let registries = registries(&mut check, raw.registries);
    let auth = auth(&mut check, raw.auth);
    let database = database(&mut check, raw.database);
    let redis = raw.redis.and_then(|value| check.section::<RawRedis>("redis", value)).and_then(|redis| {
        let url = check.required("redis.url", redis.url.as_deref())?;
        check.url("redis.url", url, &["redis", "rediss"]).map(|url| RedisConfig { url })
    });
    let worker = worker(&mut check, raw.worker);
    match (check.problems.is_empty(), registries, auth, database, worker) {
        (true, Some(registries), Some(auth), Some(database), Some(worker)) => {
            Ok(Config { registry_name, registries, auth, database, redis, worker })
        }
        _ => Err(ConfigErrors(check.problems)),
    }
}

fn registries(check: &mut Check, values: Vec<Value>) -> Option<Vec<RegistryConfig>> {
    if values.is_empty() {
        check.fail("registries", "at least one registry is required");
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let path = format!("registries[{i}]");
        let Some(raw) = check.section::<RawRegistry>(&path, value) else { continue };
        if let Some(registry) = registry(check, &path, raw) {
            if !seen.insert(registry.name.clone()) {
                check.fail(
                    format!("{path}.name"),
                    format!("{:?} is used by an earlier registry", registry.name.as_str()),
                );
            }
            out.push(registry);
        }
    }
    Some(out)
}

fn registry(check: &mut Check, path: &str, raw: RawRegistry) -> Option<RegistryConfig> {
    let name = RegistryName::parse(&raw.name).map_err(|e| check.fail(format!("{path}.name"), e.0)).ok();
    let given: Vec<&str> = [
        raw.file.as_ref().map(|_| "file"),
        raw.git.as_ref().map(|_| "git"),
        raw.api.as_ref().map(|_| "api"),
        raw.managed.as_ref().map(|_| "managed"),
        raw.kubernetes.as_ref().map(|_| "kubernetes"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() { "none".to_owned() } else { given.join(", ") };
        check.fail(path, format!("exactly one of file, git, api, managed, kubernetes (found: {found})"));
        return None;
    }
    let source = if let Some(file) = raw.file {
        file_source(check, &format!("{path}.file"), file)
    } else if let Some(git) = raw.git {
        git_source(check, &format!("{path}.git"), git)
    } else if let Some(api) = raw.api {
        api_source(check, &format!("{path}.api"), &api)
    } else if let Some(kubernetes) = raw.kubernetes {
        kubernetes_source(check, &format!("{path}.kubernetes"), kubernetes)
    } else {
        Some(Source::Managed)
    };
    let format = raw.format.unwrap_or(Format::Upstream);
    if format == Format::Toolhive && matches!(source, Some(Source::Api(_) | Source::Managed)) {
        check.fail(format!("{path}.format"), "api and managed registries use the upstream format");
    }
    let interval = raw.sync_policy.and_then(|policy| policy.interval);
    let sync_interval = match &source {
        Some(Source::Managed) => {
            if interval.is_some() {
                check.fail(
                    format!("{path}.syncPolicy"),
                    "a managed registry is not synced; remove syncPolicy",
                );
            }
            if raw.filter.is_some() {
                check.fail(format!("{path}.filter"), "a managed registry is not synced, so it has no filter");
            }
            None
        }
        _ if interval.is_none() => {
            check.fail(format!("{path}.syncPolicy.interval"), "is required (e.g. 30m)");
            None
        }
        _ => check.duration(&format!("{path}.syncPolicy.interval"), interval.as_deref(), None),
    };
    let filter = filter(check, &format!("{path}.filter"), raw.filter.unwrap_or_default());
    Some(RegistryConfig { name: name?, format, source: source?, sync_interval, filter })
}

fn file_source(check: &mut Check, path: &str, raw: RawFile) -> Option<Source> {
    let timeout =
        check.duration(&format!("{path}.timeout"), raw.timeout.as_deref(), Some(Duration::from_secs(30)));
    match (raw.path, raw.url) {
        (Some(file), None) if !file.trim().is_empty() => {
            Some(Source::File(FileSource::Path(PathBuf::from(file))))
        }
        (None, Some(url)) => {
            let url = check.url(&format!("{path}.url"), &url, &["http", "https"])?;
            Some(Source::File(FileSource::Url { url, timeout: timeout? }))
        }
        _ => {
            check.fail(path, "exactly one of path, url");
            None
        }
    }
}

fn git_source(check: &mut Check, path: &str, raw: RawGit) -> Option<Source> {
    let repository =
        check.required(&format!("{path}.repository"), raw.repository.as_deref()).map(str::to_owned);
    if let Some(repo) = &repository {
        let scheme_ok = match Url::parse(repo) {
            Ok(url) => matches!(url.scheme(), "https" | "http" | "file"),
            Err(_) => !repo.contains('@') && !repo.contains("://"),
        };
        if !scheme_ok {
            check.fail(
                format!("{path}.repository"),
                format!("{repo:?}: use an https, http or file:// URL, or a local path"),
            );
        }
    }
    let refs: Vec<GitRef> =
        [raw.branch.map(GitRef::Branch), raw.tag.map(GitRef::Tag), raw.commit.map(GitRef::Commit)]
            .into_iter()
            .flatten()
            .collect();
    if refs.len() > 1 {
        check.fail(path, "exactly one of branch, tag, commit, or none for the default branch");
    }
    if let Some(GitRef::Commit(commit)) = refs.first()
        && (!(7..=40).contains(&commit.len()) || !commit.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        check.fail(format!("{path}.commit"), format!("{commit:?} is not a commit hash (7-40 hex digits)"));
    }
    let file = raw.path.unwrap_or_else(|| "registry.json".to_owned());
    let file_path = Path::new(&file);
    if file.trim().is_empty()
        || file_path.is_absolute()
        || file_path.components().any(|c| c.as_os_str() == "..")
    {
        check.fail(format!("{path}.path"), format!("{file:?} must be a relative path inside the repository"));
    }
    let auth = raw.auth.and_then(|auth| match (auth.username, auth.password_file) {
        (Some(username), Some(file)) => {
            let file = PathBuf::from(file);
            if !file.is_absolute() {
                check.fail(format!("{path}.auth.passwordFile"), "must be an absolute path");
            } else if !file.is_file() {
                check.fail(format!("{path}.auth.passwordFile"), format!("{} does not exist", file.display()));
            }
            Some(GitAuth { username, password_file: file })
        }
        _ => {
            check.fail(format!("{path}.auth"), "username and passwordFile go together");
            None
        }
    });
    let reference = if refs.len() == 1 { refs.into_iter().next() } else { None };
    Some(Source::Git(GitSource { repository: repository?, reference, path: file, auth }))
}

fn api_source(check: &mut Check, path: &str, raw: &RawApi) -> Option<Source> {
    let endpoint = check.required(&format!("{path}.endpoint"), raw.endpoint.as_deref())?;
    let endpoint = check.url(&format!("{path}.endpoint"), endpoint, &["http", "https"]);
    let timeout_path = format!("{path}.timeout");
    let timeout = check.duration(&timeout_path, raw.timeout.as_deref(), Some(Duration::from_secs(10)));
    if timeout.is_some_and(|t| t > Duration::from_secs(300)) {
        check.fail(timeout_path, "must be at most 5m");
    }
    Some(Source::Api(ApiSource { endpoint: endpoint?, timeout: timeout? }))
}

fn kubernetes_source(check: &mut Check, path: &str, raw: RawKubernetes) -> Option<Source> {
    for (i, namespace) in raw.namespaces.iter().enumerate() {
        if RegistryName::parse(namespace).is_err() {
            check.fail(format!("{path}.namespaces[{i}]"), format!("{namespace:?} is not a namespace name"));
        }
    }
    Some(Source::Kubernetes(KubernetesSource { namespaces: raw.namespaces }))
}

fn filter(check: &mut Check, path: &str, raw: RawFilter) -> Filter {
    for (kind, list) in [
        ("names.include", &raw.names.include),
        ("names.exclude", &raw.names.exclude),
        ("tags.include", &raw.tags.include),
        ("tags.exclude", &raw.tags.exclude),
    ] {
        for (i, item) in list.iter().enumerate() {
            if item.trim().is_empty() {
                check.fail(format!("{path}.{kind}[{i}]"), "must not be empty");
            }
        }
    }
    let pair = |raw: RawIncludeExclude| IncludeExclude { include: raw.include, exclude: raw.exclude };
    Filter { names: pair(raw.names), tags: pair(raw.tags) }
}

fn auth(check: &mut Check, value: Option<Value>) -> Option<AuthConfig> {
    let raw: RawAuth = match value {
        Some(value) => check.section("auth", value)?,
        None => RawAuth::default(),
    };
    let mode = match raw.mode.as_deref() {
        None | Some("oauth") => AuthMode::Oauth,
        Some("anonymous") => AuthMode::Anonymous,
        Some(other) => {
            check.fail("auth.mode", format!("unknown mode {other:?}: expected anonymous or oauth"));
            return None;
        }
    };
    for (i, public) in raw.public_paths.iter().enumerate() {
        if !public.starts_with('/') {
            check.fail(format!("auth.publicPaths[{i}]"), format!("{public:?} must start with /"));
        }
    }
    let oauth = raw.oauth.map(|oauth| oauth_config(check, oauth));
    if mode == AuthMode::Oauth && oauth.as_ref().is_none_or(|o| o.providers.is_empty()) {
        check.fail(
            "auth.oauth.providers",
            "oauth mode needs at least one provider (or set auth.mode: anonymous to leave the API open)",
        );
    }
    Some(AuthConfig { mode, public_paths: raw.public_paths, oauth })
}

fn oauth_config(check: &mut Check, raw: RawOAuth) -> OAuthConfig {
    let resource_url =
        raw.resource_url.and_then(|url| check.url("auth.oauth.resourceUrl", &url, &["https", "http"]));
    let mut names = HashSet::new();
    let providers = raw
        .providers
        .into_iter()
        .enumerate()
        .filter_map(|(i, provider)| {
            let path = format!("auth.oauth.providers[{i}]");
            let name = check.required(&format!("{path}.name"), provider.name.as_deref()).map(str::to_owned);
            if let Some(name) = &name
                && !names.insert(name.clone())
            {
                check.fail(format!("{path}.name"), format!("{name:?} is used by an earlier provider"));
            }
            let issuer = check.required(&format!("{path}.issuerUrl"), provider.issuer_url.as_deref());
            let issuer_url = issuer.and_then(|url| secure_url(check, &format!("{path}.issuerUrl"), url));
            let audience =
                check.required(&format!("{path}.audience"), provider.audience.as_deref()).map(str::to_owned);
            let optional_url = |check: &mut Check, key: &str, raw: Option<String>| {
                raw.and_then(|url| secure_url(check, &format!("{path}.{key}"), &url))
            };
            let jwks_url = optional_url(check, "jwksUrl", provider.jwks_url);
            let introspection_url = optional_url(check, "introspectionUrl", provider.introspection_url);
            Some(OAuthProvider {
                name: name?,
                issuer_url: issuer_url?,
                audience: audience?,
                client_id: provider.client_id,
                client_secret_file: provider.client_secret_file.map(PathBuf::from),
                ca_cert_path: provider.ca_cert_path.map(PathBuf::from),
                jwks_url,
                auth_token_file: provider.auth_token_file.map(PathBuf::from),
                introspection_url,
                allow_private_ip: provider.allow_private_ip,
            })
        })
        .collect();
    OAuthConfig {
        resource_url,
        realm: raw.realm.unwrap_or_else(|| "mcp-registry".to_owned()),
        scopes_supported: raw.scopes_supported,
        providers,
    }
}

/// Token issuers must be https, except on loopback (local development and tests).
fn secure_url(check: &mut Check, path: &str, raw: &str) -> Option<Url> {
    let url = check.url(path, raw, &["https", "http"])?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "http" && !loopback {
        check.fail(path, format!("{raw:?} must use https (http is allowed only on loopback)"));
        return None;
    }
    Some(url)
}

fn database(check: &mut Check, value: Option<Value>) -> Option<StorageConfig> {
    let Some(mut value) = value else { return Some(StorageConfig::default()) };
    if let Some(section) = value.as_object_mut() {
        for key in ["password", "migrationPassword"] {
            if section.remove(key).is_some() {
                check.fail(
                    format!("database.{key}"),
                    "passwords do not belong in the config file: use passwordFile / migrationPasswordFile, \
                     REGISTRY_DATABASE__PASSWORD / REGISTRY_DATABASE__MIGRATION_PASSWORD, or the pgpass file",
                );
            }
        }
    }
    let raw: RawDatabase = check.section("database", value)?;
    if raw.url.is_none() && raw.host.is_none() {
        let postgres_only = [
            ("port", raw.port.is_some()),
            ("user", raw.user.is_some()),
            ("migrationUser", raw.migration_user.is_some()),
            ("database", raw.database.is_some()),
            ("sslMode", raw.ssl_mode.is_some()),
        ];
        for (key, _) in postgres_only.iter().filter(|(_, set)| *set) {
            check.fail(
                format!("database.{key}"),
                "is a PostgreSQL setting: also set database.host or database.url",
            );
        }
        let path = raw.path.unwrap_or_else(|| database::DEFAULT_SQLITE_PATH.to_owned());
        return Some(StorageConfig::Sqlite { path: PathBuf::from(path) });
    }
    if raw.path.is_some() {
        check.fail("database.path", "is the SQLite file: remove it, or remove host/url to use SQLite");
    }
    let target = postgres_target(check, &raw)?;
    let max_open_conns = raw.max_open_conns.unwrap_or(10);
    let max_idle_conns = raw.max_idle_conns.unwrap_or(2.min(max_open_conns));
    if max_open_conns == 0 {
        check.fail("database.maxOpenConns", "must be at least 1");
    }
    if max_idle_conns > max_open_conns {
        check.fail("database.maxIdleConns", "must not exceed maxOpenConns");
    }
    let lifetime = raw.conn_max_lifetime.as_deref();
    let conn_max_lifetime =
        check.duration("database.connMaxLifetime", lifetime, Some(Duration::from_secs(1800)))?;
    Some(StorageConfig::Postgres(PostgresConfig {
        target,
        max_open_conns,
        max_idle_conns,
        conn_max_lifetime,
        password_file: raw.password_file.map(PathBuf::from),
        migration_password_file: raw.migration_password_file.map(PathBuf::from),
    }))
}

fn postgres_target(check: &mut Check, raw: &RawDatabase) -> Option<PostgresTarget> {
    if let Some(url) = &raw.url {
        if raw.host.is_some() {
            check.fail("database", "set either url or host, not both");
        }
        return check
            .url("database.url", url, &["postgres", "postgresql"])
            .map(|url| PostgresTarget::Url { url });
    }
    let host = check.required("database.host", raw.host.as_deref()).map(str::to_owned);
    let user = check.required("database.user", raw.user.as_deref()).map(str::to_owned);
    let database = check.required("database.database", raw.database.as_deref()).map(str::to_owned);
    let ssl_mode = match raw.ssl_mode.as_deref().unwrap_or("prefer").parse() {
        Ok(mode) => Some(mode),
        Err(message) => {
            check.fail("database.sslMode", message);
            None
        }
    };
    let user = user?;
    Some(PostgresTarget::Fields {
        host: host?,
        port: raw.port.unwrap_or(5432),
        migration_user: raw.migration_user.clone().unwrap_or_else(|| user.clone()),
        user,
        database: database?,
        ssl_mode: ssl_mode?,
    })
}

fn worker(check: &mut Check, value: Option<Value>) -> Option<WorkerConfig> {
    let defaults = WorkerConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawWorker = check.section("worker", value)?;
    let backoff = raw.backoff.unwrap_or_default();
    let min = check.duration("worker.backoff.min", backoff.min.as_deref(), Some(defaults.backoff.min));
    let max = check.duration("worker.backoff.max", backoff.max.as_deref(), Some(defaults.backoff.max));
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        check.fail("worker.backoff", "min must not exceed max");
    }
    for (key, value) in [("concurrency", raw.concurrency), ("maxAttempts", raw.max_attempts)] {
        if value == Some(0) {
            check.fail(format!("worker.{key}"), "must be at least 1");
        }
    }
    Some(WorkerConfig {
        concurrency: raw.concurrency.unwrap_or(defaults.concurrency),
        max_attempts: raw.max_attempts.unwrap_or(defaults.max_attempts),
        backoff: Backoff { min: min?, max: max? },
    })
}
