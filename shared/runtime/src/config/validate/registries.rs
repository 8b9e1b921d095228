//! `registries[]`: names, exactly one source each, schedules and filters.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use registry_core::formats::Format;
use serde_json::Value;
use url::Url;

use super::{Check, Environment};
use crate::config::raw::*;
use crate::config::*;

pub(super) fn registries(
    check: &mut Check,
    values: Vec<Value>,
    environment: &Environment,
) -> Option<Vec<RegistryConfig>> {
    if values.is_empty() {
        check.fail("registries", "at least one registry is required");
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let path = format!("registries[{i}]");
        let Some(raw) = check.section::<RawRegistry>(&path, value) else { continue };
        if let Some(registry) = registry(check, &path, raw, environment) {
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

fn registry(
    check: &mut Check,
    path: &str,
    mut raw: RawRegistry,
    environment: &Environment,
) -> Option<RegistryConfig> {
    let name = check
        .required(&format!("{path}.name"), raw.name.as_deref())
        .and_then(|name| RegistryName::parse(name).map_err(|e| check.fail(format!("{path}.name"), e.0)).ok());
    let source = source(check, path, &mut raw, environment);
    let format = raw.format.unwrap_or(Format::Upstream);
    if format == Format::Toolhive && matches!(source, Some(Source::Api(_) | Source::Managed)) {
        check.fail(format!("{path}.format"), "api and managed registries use the upstream format");
    }
    // No syncPolicy: every setting takes its default, and a synced source is told its interval is missing.
    let policy = raw.sync_policy.take().unwrap_or_default();
    let sync_policy = sync_policy(check, path, &policy, source.as_ref());
    let sync_interval = sync_interval(check, path, &policy, raw.filter.is_some(), source.as_ref());
    // No filter keeps every entry.
    let filter = filter(check, &format!("{path}.filter"), raw.filter.unwrap_or_default());
    let probe = probe(check, &format!("{path}.probe"), raw.probe.take().unwrap_or_default());
    Some(RegistryConfig {
        name: name?,
        format,
        source: source?,
        sync_interval,
        filter,
        sync_policy: sync_policy?,
        probe: probe?,
    })
}

/// `probe`: every setting optional; counts and sizes at least 1, and the request timeout within the whole.
fn probe(check: &mut Check, path: &str, raw: RawProbe) -> Option<ProbePolicy> {
    let defaults = ProbePolicy::default();
    let mut duration = |key: &str, raw: Option<String>, default| {
        check.duration(&format!("{path}.{key}"), raw.as_deref(), Some(default))
    };
    let interval = duration("interval", raw.interval, defaults.interval);
    let timeout = duration("timeout", raw.timeout, defaults.timeout);
    let request_timeout = duration("requestTimeout", raw.request_timeout, defaults.request_timeout);
    if interval.is_some_and(|interval| interval < std::time::Duration::from_secs(1)) {
        check.fail(format!("{path}.interval"), "must be at least 1s");
    }
    if let (Some(whole), Some(one)) = (timeout, request_timeout)
        && one > whole
    {
        check
            .fail(format!("{path}.requestTimeout"), "must not exceed probe.timeout, the whole probe's bound");
    }
    let mut at_least_one = |key: &str, value: Option<u32>, default: u32| match value {
        Some(0) => {
            check.fail(format!("{path}.{key}"), "must be at least 1");
            None
        }
        other => Some(other.unwrap_or(default)),
    };
    let per_host_concurrency =
        at_least_one("perHostConcurrency", raw.per_host_concurrency, defaults.per_host_concurrency);
    let max_tools = at_least_one("maxTools", raw.max_tools, defaults.max_tools);
    let max_response_bytes = match raw.max_response_bytes {
        None => Some(defaults.max_response_bytes),
        Some(size) => check.size(&format!("{path}.maxResponseBytes"), &size),
    };
    Some(ProbePolicy {
        enabled: raw.enabled.unwrap_or(defaults.enabled),
        interval: interval?,
        timeout: timeout?,
        request_timeout: request_timeout?,
        per_host_concurrency: per_host_concurrency?,
        max_tools: max_tools?,
        max_response_bytes: max_response_bytes?,
        allow_private_ip: raw.allow_private_ip.unwrap_or(defaults.allow_private_ip),
    })
}

/// The registry's one source.
fn source(check: &mut Check, path: &str, raw: &mut RawRegistry, environment: &Environment) -> Option<Source> {
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
        None
    } else if let Some(file) = raw.file.take() {
        file_source(check, &format!("{path}.file"), file)
    } else if let Some(git) = raw.git.take() {
        git_source(check, &format!("{path}.git"), git)
    } else if let Some(api) = raw.api.take() {
        api_source(check, &format!("{path}.api"), api)
    } else if let Some(kubernetes) = raw.kubernetes.take() {
        kubernetes_source(check, &format!("{path}.kubernetes"), kubernetes, environment)
    } else {
        Some(Source::Managed)
    }
}

/// `syncPolicy.interval`: required for a synced source, the watchers' resync for a kubernetes one, and none
/// (nor any other sync setting, nor a filter) for a managed one.
fn sync_interval(
    check: &mut Check,
    path: &str,
    policy: &RawSyncPolicy,
    has_filter: bool,
    source: Option<&Source>,
) -> Option<Duration> {
    let interval = policy.interval.as_deref();
    match source {
        Some(Source::Managed) => {
            if interval.is_some() || policy.full_sync_interval.is_some() || policy.max_entries.is_some() {
                check.fail(
                    format!("{path}.syncPolicy"),
                    "a managed registry is not synced; remove syncPolicy",
                );
            }
            if has_filter {
                check.fail(format!("{path}.filter"), "a managed registry is not synced, so it has no filter");
            }
            None
        }
        Some(Source::Kubernetes(_)) if interval.is_none() => Some(KUBERNETES_SYNC_INTERVAL),
        Some(_) if interval.is_none() => {
            check.fail(format!("{path}.syncPolicy.interval"), "is required (e.g. 30m)");
            None
        }
        _ => check.duration(&format!("{path}.syncPolicy.interval"), interval, None),
    }
}

/// `syncPolicy.maxEntries` for any synced source, `syncPolicy.fullSyncInterval` for an api source.
fn sync_policy(
    check: &mut Check,
    path: &str,
    raw: &RawSyncPolicy,
    source: Option<&Source>,
) -> Option<SyncPolicy> {
    let defaults = SyncPolicy::default();
    let max_entries = match raw.max_entries {
        Some(0) => {
            check.fail(format!("{path}.syncPolicy.maxEntries"), "must be at least 1");
            None
        }
        other => Some(other.unwrap_or(defaults.max_entries)),
    };
    let full_path = format!("{path}.syncPolicy.fullSyncInterval");
    if raw.full_sync_interval.is_some() && !matches!(source, Some(Source::Api(_)) | None) {
        check.fail(
            &full_path,
            "only an api source pulls incrementally; every other sync reads the whole source",
        );
    }
    let full_sync_interval =
        check.duration(&full_path, raw.full_sync_interval.as_deref(), Some(defaults.full_sync_interval));
    Some(SyncPolicy { max_entries: max_entries?, full_sync_interval: full_sync_interval? })
}

fn file_source(check: &mut Check, path: &str, raw: RawFile) -> Option<Source> {
    let timeout =
        check.duration(&format!("{path}.timeout"), raw.timeout.as_deref(), Some(Duration::from_secs(30)));
    match (raw.path, raw.url) {
        (Some(file), None) if !file.trim().is_empty() => {
            if raw.auth.is_some() {
                check.fail(format!("{path}.auth"), "is for a url; a local path needs no credentials");
            }
            Some(Source::File(FileSource::Path(PathBuf::from(file))))
        }
        (None, Some(url)) => {
            let auth = raw.auth.and_then(|auth| basic_auth(check, &format!("{path}.auth"), auth));
            let url = check.url(&format!("{path}.url"), &url, &["http", "https"])?;
            refuse_credentials(check, &format!("{path}.url"), &url, &format!("{path}.auth"));
            Some(Source::File(FileSource::Url { url, timeout: timeout?, auth }))
        }
        _ => {
            check.fail(path, "exactly one of path, url");
            None
        }
    }
}

fn git_source(check: &mut Check, path: &str, raw: RawGit) -> Option<Source> {
    let key = format!("{path}.repository");
    let repository = check.required(&key, raw.repository.as_deref()).map(str::to_owned);
    if let Some(repo) = &repository {
        match Url::parse(repo) {
            Ok(url) if matches!(url.scheme(), "https" | "http" | "file") => {
                refuse_credentials(check, &key, &url, &format!("{path}.auth"));
            }
            Err(_) if !repo.contains('@') && !repo.contains("://") => {}
            Ok(_) | Err(_) => {
                check.fail(&key, format!("{repo:?}: use an https, http or file:// URL, or a local path"));
            }
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
    let auth = raw.auth.and_then(|auth| basic_auth(check, &format!("{path}.auth"), auth));
    let reference = if refs.len() == 1 { refs.into_iter().next() } else { None };
    Some(Source::Git(GitSource { repository: repository?, reference, path: file, auth }))
}

fn api_source(check: &mut Check, path: &str, raw: RawApi) -> Option<Source> {
    let key = format!("{path}.endpoint");
    let endpoint = check.required(&key, raw.endpoint.as_deref()).and_then(|endpoint| {
        let url = check.url(&key, endpoint, &["http", "https"])?;
        refuse_credentials(check, &key, &url, &format!("{path}.auth"));
        Some(url)
    });
    let timeout_path = format!("{path}.timeout");
    let timeout = check.duration(&timeout_path, raw.timeout.as_deref(), Some(Duration::from_secs(10)));
    if timeout.is_some_and(|t| t > Duration::from_secs(300)) {
        check.fail(timeout_path, "must be at most 5m");
    }
    let auth = raw.auth.and_then(|auth| basic_auth(check, &format!("{path}.auth"), auth));
    Some(Source::Api(ApiSource { endpoint: endpoint?, timeout: timeout?, auth }))
}

/// Source definitions are stored in the database and shown by the API, so a URL must not carry a secret.
fn refuse_credentials(check: &mut Check, path: &str, url: &Url, auth: &str) {
    if !url.username().is_empty() || url.password().is_some() {
        check.fail(
            path,
            format!(
                "must not contain credentials (it is stored and shown): put the user in {auth}.username and \
                 the password in a file named by {auth}.passwordFile"
            ),
        );
    }
}

/// The password file is not read here: the release step that stores the definition may not mount the
/// secret, and each worker reads it when it syncs (a missing file fails that sync, saying so).
fn basic_auth(check: &mut Check, path: &str, raw: RawBasicAuth) -> Option<BasicAuth> {
    match (raw.username, raw.password_file) {
        (Some(username), Some(file)) => Some(BasicAuth {
            username,
            password_file: check.absolute_path(&format!("{path}.passwordFile"), file),
        }),
        _ => {
            check.fail(path, "username and passwordFile go together");
            None
        }
    }
}

/// The namespaces come from the file, else from [`WATCH_NAMESPACE_VARIABLE`] (comma-separated, each
/// trimmed), else none: every namespace.
fn kubernetes_source(
    check: &mut Check,
    path: &str,
    raw: RawKubernetes,
    environment: &Environment,
) -> Option<Source> {
    let (namespaces, namespaces_path) = match &environment.watch_namespaces {
        Some(variable) if raw.namespaces.is_empty() => (
            variable.split(',').map(str::trim).filter(|ns| !ns.is_empty()).map(str::to_owned).collect(),
            WATCH_NAMESPACE_VARIABLE.to_owned(),
        ),
        _ => (raw.namespaces, format!("{path}.namespaces")),
    };
    let mut seen = HashSet::new();
    for (i, namespace) in namespaces.iter().enumerate() {
        if RegistryName::parse(namespace).is_err() {
            check.fail(format!("{namespaces_path}[{i}]"), format!("{namespace:?} is not a namespace name"));
        } else if !seen.insert(namespace) {
            check.fail(format!("{namespaces_path}[{i}]"), format!("{namespace:?} is listed twice"));
        }
    }
    let kubeconfig = raw.kubeconfig.map(|file| check.absolute_path(&format!("{path}.kubeconfig"), file));
    let retention = check.duration(
        &format!("{path}.tombstoneRetention"),
        raw.tombstone_retention.as_deref(),
        Some(KubernetesSource::new(Vec::new()).tombstone_retention),
    );
    let stale_after = check.duration(&format!("{path}.staleAfter"), raw.stale_after.as_deref(), None);
    Some(Source::Kubernetes(KubernetesSource {
        namespaces,
        kubeconfig,
        tombstone_retention: retention?,
        stale_after,
    }))
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
