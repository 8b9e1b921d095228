mod auth;
mod database;
mod kubernetes;
#[cfg(feature = "otlp")]
mod telemetry;

use PathBuf;
use std::time::Duration;

use super::*;

pub(super) fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

pub(super) fn problems(yaml: &str) -> Vec<String> {
    Config::from_yaml(yaml, no_env()).unwrap_err().0.iter().map(ToString::to_string).collect()
}

pub(super) const MINIMAL: &str = "
auth: {mode: anonymous}
registries:
  - name: internal
    managed: {}
";

/// Loads each configuration of `paths` as it is, and says how many there were.
fn assert_each_loads(paths: &[PathBuf]) -> usize {
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(errors) = Config::from_yaml(&text, no_env()) {
            panic!("{} was refused:\n{errors}", path.display());
        }
    }
    paths.len()
}

#[test]
fn every_toolhive_v049_style_config_validates() {
    let checked = assert_each_loads(&registry_testkit::fixtures::toolhive_v049_configs());

    assert!(checked >= 6, "found only {checked} configurations");
}

#[test]
#[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
fn reference_every_toolhive_v049_example_config_validates() {
    let Some(reference) = registry_testkit::reference::dir("ToolHive v0.4.9's example configs") else {
        return;
    };
    let dir = reference.join("toolhive-registry-server/v0.4.9/examples");
    let paths = registry_testkit::fixtures::files_in(&dir, "yaml");

    assert_eq!(assert_each_loads(&paths), 12, "the v0.4.9 release ships twelve example configs");
}

#[test]
fn our_example_configs_validate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 3, "found only {checked} example configs");
}

#[test]
fn a_broken_config_reports_every_problem_with_its_key_path() {
    let yaml = "
registries:
  - name: Bad_Name
    format: toolhive
    git: {repository: 'git@github.com:x/y.git', branch: main, tag: v1}
    syncPolicy: {interval: soon}
  - name: two
    file: {path: a.json}
    api: {endpoint: 'https://example.com'}
  - name: three
    format: upstream
    api: {endpoint: 'not a url', timeout: 10m}
    syncPolicy: {interval: 1h}
    filter: {names: {include: ['']}}
auth: {mode: sometimes}
database: {host: db, port: 'x', password: hunter2}
worker: {concurrency: 0, backoff: {min: 10s, max: 1s}}
server: {trustedProxies: ['10.0.0.0/8', 'proxy.internal', '10.0.0.0/33']}
audit: {file: ''}
";

    let found = problems(yaml);

    let expected = [
        "registries[0].name: registry name \"Bad_Name\" must be a DNS label",
        "registries[0].git.repository: \"git@github.com:x/y.git\": use an https, http or file:// URL, or a local path",
        "registries[0].git: exactly one of branch, tag, commit, or none for the default branch",
        "registries[0].syncPolicy.interval: \"soon\" is not a duration",
        "registries[1]: exactly one of file, git, api, managed, kubernetes (found: file, api)",
        "registries[2].api.endpoint: \"not a url\" is not an absolute http or https URL",
        "registries[2].api.timeout: must be at most 5m",
        "registries[2].filter.names.include[0]: must not be empty",
        "auth.mode: unknown mode \"sometimes\"",
        "database.password: passwords do not belong in the config file",
        "database.port: invalid type: string \"x\", expected u16",
        "database.user: is required",
        "database.database: is required",
        "worker.backoff: min must not exceed max",
        "worker.concurrency: must be at least 1",
        "server.trustedProxies[1]: \"proxy.internal\" is not a network",
        "server.trustedProxies[2]: \"10.0.0.0/33\" is not a network",
        "audit.file: must not be empty",
    ];
    for line in expected {
        assert!(found.iter().any(|p| p.starts_with(line)), "missing {line:?} in:\n{}", found.join("\n"));
    }
    assert_eq!(found.len(), expected.len(), "unexpected extra problems:\n{}", found.join("\n"));
}

#[test]
fn a_field_that_does_not_parse_hides_none_of_the_other_problems() {
    let yaml = "
auth: {mode: anonymous}
registries:
  - name: Not_A_Label
    format: nonsense
    git: {repository: 'https://git.example/r.git', branch: main, tag: v1, depth: 1}
    syncPolicy: {interval: often}
    filter: {names: {include: 5}, tags: {exclude: ['']}}
  - file: {path: a.json, timeout: 1}
    api: {endpoint: 'https://example.com'}
    syncPolicy: {interval: never}
";

    let found = problems(yaml);

    let expected = [
        "registries[0].format: unknown variant `nonsense`, expected `toolhive` or `upstream`",
        "registries[0].git.depth: unknown field `depth`",
        "registries[0].filter.names.include: invalid type: integer `5`, expected a sequence",
        "registries[0].name: registry name \"Not_A_Label\" must be a DNS label",
        "registries[0].git: exactly one of branch, tag, commit, or none for the default branch",
        "registries[0].syncPolicy.interval: \"often\" is not a duration",
        "registries[0].filter.tags.exclude[0]: must not be empty",
        "registries[1].file.timeout: invalid type: integer `1`, expected a string",
        "registries[1].name: is required",
        "registries[1]: exactly one of file, git, api, managed, kubernetes (found: file, api)",
        "registries[1].syncPolicy.interval: \"never\" is not a duration",
    ];
    for line in expected {
        assert!(found.iter().any(|p| p.starts_with(line)), "missing {line:?} in:\n{}", found.join("\n"));
    }
    assert_eq!(found.len(), expected.len(), "unexpected extra problems:\n{}", found.join("\n"));
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let found = problems(&format!("{MINIMAL}    syncPolicy: {{intervall: 5m}}\n"));
    assert_eq!(
        found,
        [
            "registries[0].syncPolicy.intervall: unknown field `intervall`, expected one of `interval`, `fullSyncInterval`, `maxEntries`"
        ]
    );
}

#[test]
fn environment_variables_override_the_file_with_double_underscore_nesting() {
    let config = Config::from_yaml(
        MINIMAL,
        env(&[
            ("REGISTRY_DATABASE__URL", "postgres://app:s3cret@db.internal:6432/registry"),
            ("REGISTRY_REGISTRY_NAME", "from-env"),
            ("REGISTRY_WORKER__MAX_ATTEMPTS", "9"),
            ("REGISTRY_REGISTRIES__0__NAME", "renamed"),
            ("REGISTRY_AUTH__PUBLIC_PATHS", "[/a, /b]"),
            ("REGISTRY_DATABASE__PASSWORD", "read-when-connecting"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();

    assert_eq!(config.registry_name, "from-env");
    assert_eq!(config.worker.max_attempts, 9);
    assert_eq!(config.registries[0].name.as_str(), "renamed");
    assert_eq!(config.auth.public_paths, ["/a", "/b"]);
    assert!(matches!(config.database, StorageConfig::Postgres(_)));
}

#[test]
fn an_unknown_environment_key_is_a_problem_named_after_the_variable() {
    let err = Config::from_yaml(MINIMAL, env(&[("REGISTRY_DATABSE__URL", "postgres://x/y")])).unwrap_err();
    assert_eq!(err.0[0].path, "REGISTRY_DATABSE__URL");
    assert!(err.0[0].message.starts_with("unknown configuration key"), "{err}");
    let err = Config::from_yaml(MINIMAL, env(&[("REGISTRY_DATABASE__URLL", "postgres://x/y")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "database.urll: unknown field `urll`, expected one of `url`, `path`, `host`, `port`, `user`, `migrationUser`, `database`, `sslMode`, `passwordFile`, `migrationPasswordFile`, `maxOpenConns`, `maxIdleConns`, `connMaxLifetime`, `acquireTimeout`, `statementTimeout`, `listenUrl`"
    );
}

#[test]
fn kubernetes_service_variables_for_a_service_named_registry_are_not_overrides() {
    let config = Config::from_yaml(
        MINIMAL,
        env(&[
            ("REGISTRY_SERVICE_HOST", "10.0.0.12"),
            ("REGISTRY_PORT", "tcp://10.0.0.12:8080"),
            ("REGISTRY_PORT_8080_TCP_ADDR", "10.0.0.12"),
        ]),
    );
    assert!(config.is_ok(), "{:?}", config.err());
}

#[test]
fn secrets_never_show_in_debug_or_the_printed_config() {
    let config = Config::from_yaml(
        &format!("{MINIMAL}database: {{url: 'postgres://app:s3cret@db/registry', listenUrl: 'postgres://app:s3cret@db:5432/registry'}}\nredis: {{url: 'redis://:t0ken@cache:6379'}}\n"),
        no_env(),
    )
    .unwrap();

    let debug = format!("{config:?}");
    let printed = serde_json::to_string(&config).unwrap();

    for shown in [debug, printed] {
        assert!(!shown.contains("s3cret") && !shown.contains("t0ken"), "{shown}");
        assert!(shown.contains("***"));
    }
}

#[test]
fn source_urls_with_credentials_are_refused_with_the_keys_to_use_instead() {
    let found = problems(&format!(
        "{MINIMAL}  - {{name: mirror, api: {{endpoint: 'https://bot:s3cret@mirror.example'}}, syncPolicy: {{interval: 1h}}}}\n  \
         - {{name: repo, git: {{repository: 'https://bot:s3cret@git.example/r.git'}}, syncPolicy: {{interval: 1h}}}}\n  \
         - {{name: feed, file: {{url: 'https://token@feed.example/registry.json'}}, syncPolicy: {{interval: 1h}}}}\n"
    ));

    assert_eq!(
        found,
        [
            "registries[1].api.endpoint: must not contain credentials (it is stored and shown): put the user in \
             registries[1].api.auth.username and the password in a file named by registries[1].api.auth.passwordFile",
            "registries[2].git.repository: must not contain credentials (it is stored and shown): put the user in \
             registries[2].git.auth.username and the password in a file named by registries[2].git.auth.passwordFile",
            "registries[3].file.url: must not contain credentials (it is stored and shown): put the user in \
             registries[3].file.auth.username and the password in a file named by registries[3].file.auth.passwordFile",
        ]
    );
    assert!(found.iter().all(|p| !p.contains("s3cret") && !p.contains("token@")), "{found:?}");
}

#[test]
fn a_stored_definition_reads_back_as_the_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret").unwrap();
    let yaml = format!(
        "{MINIMAL}  - {{name: mirror, api: {{endpoint: 'https://mirror.example', timeout: 45s, auth: {{username: bot, passwordFile: '{0}'}}}}, syncPolicy: {{interval: 90m}}, filter: {{names: {{include: ['io.example/*']}}}}}}\n  \
         - {{name: repo, format: toolhive, git: {{repository: 'https://git.example/r.git', tag: v2, path: data/registry.json, auth: {{username: bot, passwordFile: '{0}'}}}}, syncPolicy: {{interval: 1h}}}}\n  \
         - {{name: feed, file: {{url: 'https://feed.example/registry.json', timeout: 5s}}, syncPolicy: {{interval: 30s}}, filter: {{tags: {{exclude: [beta]}}}}}}\n  \
         - {{name: local, file: {{path: ./registry.json}}, syncPolicy: {{interval: 5m}}}}\n  \
         - {{name: cluster, kubernetes: {{namespaces: [tools]}}, syncPolicy: {{interval: 1m}}}}\n",
        password.display()
    );
    let config = Config::from_yaml(&yaml, no_env()).unwrap();

    for registry in &config.registries {
        let stored = serde_json::to_value(registry).unwrap();
        let read: RegistryConfig = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(&read, registry, "{stored}");
        assert!(!stored.to_string().contains("s3cret"), "only the password file's path is stored: {stored}");
    }
}

#[test]
fn durations_accept_the_toolhive_forms() {
    for (text, expected) in [("200ms", 200), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000)] {
        let yaml = format!(
            "auth: {{mode: anonymous}}\nregistries: [{{name: f, file: {{path: x.json}}, syncPolicy: {{interval: {text}}}}}]\n"
        );
        let interval = Config::from_yaml(&yaml, no_env()).unwrap().registries[0].sync_interval.unwrap();
        assert_eq!(interval.as_millis(), expected, "{text}");
    }
}

#[test]
fn cors_allows_any_origin_unless_configured() {
    assert_eq!(Config::from_yaml(MINIMAL, no_env()).unwrap().cors.allowed_origins, ["*"]);

    let found = problems(&format!(
        "{MINIMAL}cors: {{allowedOrigins: ['https://portal.example.com', 'portal.example.com']}}\n"
    ));

    assert_eq!(
        found,
        [
            "cors.allowedOrigins[1]: \"portal.example.com\" is not * or an origin like https://portal.example.com"
        ]
    );
}

const TWO_MANAGED: &str = "
auth: {mode: anonymous}
registries:
  - name: team-a
    managed: {}
  - name: team-b
    managed: {}
  - name: upstream
    file: {path: ./servers.json}
    syncPolicy: {interval: 1h}
";

#[test]
fn the_root_publish_target_is_the_only_managed_registry_or_publish_registry() {
    let sole = Config::from_yaml(MINIMAL, no_env()).unwrap();
    let ambiguous = Config::from_yaml(TWO_MANAGED, no_env()).unwrap();
    let chosen = Config::from_yaml(&format!("{TWO_MANAGED}publishRegistry: team-b\n"), no_env()).unwrap();

    let target = |config: &Config| {
        registry_core::publish::publish_target(&config.registries, config.publish_registry.as_ref()).cloned()
    };

    assert_eq!(target(&sole).unwrap().name.as_str(), "internal");
    assert!(target(&ambiguous).unwrap_err().contains("set publishRegistry"));
    assert_eq!(target(&chosen).unwrap().name.as_str(), "team-b");
}

#[test]
fn publish_registry_must_name_a_managed_registry() {
    assert_eq!(
        problems(&format!("{TWO_MANAGED}publishRegistry: upstream\n")),
        ["publishRegistry: \"upstream\" is a file registry; only a managed registry accepts publishes"]
    );
    assert_eq!(
        problems(&format!("{TWO_MANAGED}publishRegistry: nowhere\n")),
        ["publishRegistry: \"nowhere\" is not one of the configured registries"]
    );
}

#[test]
fn validation_settings_default_to_lenient_repositories_and_4_kib_of_metadata() {
    let defaults = Config::from_yaml(MINIMAL, no_env()).unwrap().validation;
    let set = Config::from_yaml(
        MINIMAL,
        env(&[
            ("REGISTRY_VALIDATION__STRICT_REPOSITORY", "true"),
            ("REGISTRY_VALIDATION__MAX_PUBLISHER_META_BYTES", "8192"),
        ]),
    )
    .unwrap()
    .validation;

    assert_eq!(defaults, ValidationConfig { strict_repository: false, max_publisher_meta_bytes: 4096 });
    assert_eq!(set, ValidationConfig { strict_repository: true, max_publisher_meta_bytes: 8192 });
    assert_eq!(
        problems(&format!("{MINIMAL}validation: {{strict: true}}\n")),
        ["validation.strict: unknown field `strict`, expected `strictRepository` or `maxPublisherMetaBytes`"]
    );
    assert_eq!(
        problems(&format!("{MINIMAL}validation: {{maxPublisherMetaBytes: 0}}\n")),
        ["validation.maxPublisherMetaBytes: must be from 1 to 1048576"]
    );
}

#[test]
fn cache_metrics_and_the_internal_address_take_overrides_and_a_bad_address_is_named() {
    let config = Config::from_yaml(
        MINIMAL,
        env(&[
            ("REGISTRY_CACHE__MEMORY_BYTES", "0"),
            ("REGISTRY_METRICS__ENABLED", "false"),
            ("REGISTRY_SERVER__INTERNAL_ADDRESS", "127.0.0.1:9101"),
            ("REGISTRY_AUDIT__FILE", "/var/log/registry/audit.jsonl"),
        ]),
    )
    .unwrap();
    assert_eq!(config.cache.memory_bytes, 0);
    assert!(!config.metrics.enabled);
    assert_eq!(config.server.internal_address, "127.0.0.1:9101".parse().unwrap());
    assert_eq!(config.audit.file.as_deref(), Some(std::path::Path::new("/var/log/registry/audit.jsonl")));
    let defaults = Config::from_yaml(MINIMAL, no_env()).unwrap();
    assert!(defaults.metrics.enabled);
    assert_eq!(defaults.server.internal_address, "0.0.0.0:8081".parse().unwrap());
    assert_eq!(
        problems(&format!("{MINIMAL}server: {{internalAddress: 'localhost'}}\n")),
        ["server.internalAddress: \"localhost\" is not HOST:PORT or :PORT (invalid socket address syntax)"]
    );
}

#[test]
fn sync_bounds_default_and_are_checked_by_name() {
    let yaml = "
auth: {mode: anonymous}
registries:
  - name: mirror
    api: {endpoint: https://registry.example.com}
    syncPolicy: {interval: 30m, fullSyncInterval: 6h, maxEntries: 50000}
  - name: files
    file: {path: registry.json}
    syncPolicy: {interval: 30m}
";
    let config = Config::from_yaml(yaml, no_env()).unwrap();
    let policies: Vec<SyncPolicy> = config.registries.iter().map(|r| r.sync_policy).collect();
    assert_eq!(
        policies,
        [
            SyncPolicy { max_entries: 50_000, full_sync_interval: Duration::from_secs(6 * 3600) },
            SyncPolicy { max_entries: 2_000_000, full_sync_interval: Duration::from_secs(24 * 3600) },
        ]
    );

    let found = problems(
        "
auth: {mode: anonymous}
registries:
  - name: files
    file: {path: registry.json}
    syncPolicy: {interval: 30m, fullSyncInterval: 1h, maxEntries: 0}
  - name: mirror
    api: {endpoint: https://registry.example.com}
    syncPolicy: {interval: 30m, fullSyncInterval: daily}
",
    );
    assert_eq!(
        found,
        [
            "registries[0].syncPolicy.maxEntries: must be at least 1",
            "registries[0].syncPolicy.fullSyncInterval: only an api source pulls incrementally; every other \
             sync reads the whole source",
            "registries[1].syncPolicy.fullSyncInterval: \"daily\" is not a duration (write e.g. 200ms, 30s, 5m, 1h)",
        ]
    );
}

#[test]
fn mcp_is_on_by_default_and_its_allowed_hosts_are_host_names() {
    let config =
        Config::from_yaml("registries: [{name: m, managed: {}}]\nauth: {mode: anonymous}\n", no_env())
            .unwrap();
    assert_eq!(config.mcp, McpConfig { enabled: true, allowed_hosts: Vec::new() });
    let hosts = "registries: [{name: m, managed: {}}]\nauth: {mode: anonymous}\nmcp: {allowedHosts: [registry.example.com, 'localhost:8080', 'a/b', '']}\n";
    assert_eq!(
        problems(hosts),
        [
            "mcp.allowedHosts[2]: \"a/b\" is not a host name, with or without a port",
            "mcp.allowedHosts[3]: \"\" is not a host name, with or without a port",
        ]
    );
}

#[test]
fn probe_settings_take_defaults_sizes_with_units_and_each_bad_value_is_named() {
    let config = Config::from_yaml(
        &format!("{MINIMAL}    probe: {{enabled: true, interval: 30m, maxResponseBytes: 512KiB, allowPrivateIP: true}}\nworker: {{probeConcurrency: 8}}\n"),
        no_env(),
    )
    .unwrap();
    let probe = config.registries[0].probe;
    assert!(probe.enabled && probe.allow_private_ip);
    assert_eq!(probe.interval, Duration::from_secs(1800));
    assert_eq!(probe.max_response_bytes, 512 * 1024);
    assert_eq!(probe.timeout, Duration::from_secs(30), "a default");
    assert_eq!(probe.max_tools, 1000, "a default");
    assert_eq!(config.worker.probe_concurrency, 8);
    assert_eq!(Config::from_yaml(MINIMAL, no_env()).unwrap().registries[0].probe, ProbePolicy::default());

    let found = problems(&format!(
        "{MINIMAL}    probe: {{interval: soon, timeout: 5s, requestTimeout: 10s, perHostConcurrency: 0, maxTools: 0, maxResponseBytes: 4MB}}\nworker: {{probeConcurrency: 0}}\n"
    ));
    assert_eq!(
        found,
        [
            "registries[0].probe.interval: \"soon\" is not a duration (write e.g. 200ms, 30s, 5m, 1h)",
            "registries[0].probe.requestTimeout: must not exceed probe.timeout, the whole probe's bound",
            "registries[0].probe.perHostConcurrency: must be at least 1",
            "registries[0].probe.maxTools: must be at least 1",
            "registries[0].probe.maxResponseBytes: \"4MB\" is not a size (write e.g. 65536, 512KiB, 4MiB)",
            "worker.probeConcurrency: must be at least 1",
        ]
    );
    let unknown = problems(&format!("{MINIMAL}    probe: {{enable: true}}\n"));
    assert!(unknown[0].starts_with("registries[0].probe.enable: unknown field `enable`"), "{unknown:?}");
}

#[test]
fn rate_limits_default_to_each_class_s_budget_and_each_bad_value_is_named() {
    let config = Config::from_yaml(
        &format!("{MINIMAL}rateLimits:\n  writes: {{perMinute: 600}}\n  exempt: [10.0.0.0/8, 192.0.2.7]\n  overrides:\n    - {{match: {{sub: ci-bot}}, class: writes, perMinute: 1200, burst: 200}}\n"),
        no_env(),
    )
    .unwrap();
    let limits = config.rate_limits;
    assert!(limits.enabled);
    assert_eq!(limits.policy(RateClass::Reads), RatePolicy { per_minute: 600, burst: 100 });
    assert_eq!(limits.policy(RateClass::Search), RatePolicy { per_minute: 120, burst: 30 });
    assert_eq!(limits.policy(RateClass::Writes), RatePolicy { per_minute: 600, burst: 20 }, "the burst kept");
    assert_eq!(limits.policy(RateClass::TokenExchanges), RatePolicy { per_minute: 30, burst: 10 });
    assert_eq!(limits.policy(RateClass::Mcp), RatePolicy { per_minute: 300, burst: 60 });
    assert_eq!(limits.exempt.len(), 2);
    assert_eq!(limits.overrides[0].policy, RatePolicy { per_minute: 1200, burst: 200 });

    let found = problems(&format!(
        "{MINIMAL}rateLimits:\n  reads: {{perMinute: 0}}\n  search: {{perMinute: 7, burst: -1}}\n  exempt: [nowhere]\n  overrides:\n    - {{match: {{}}, class: everything}}\n"
    ));
    assert_eq!(
        found,
        [
            "rateLimits.reads.perMinute: 0 must be from 1 to 4294967295",
            "rateLimits.search.burst: -1 must be from 1 to 4294967295",
            "rateLimits.search.perMinute: 7 a minute is one every 8571.4 ms: choose a rate that divides 60000, so that the interval is whole milliseconds (e.g. 6 or 8)",
            "rateLimits.exempt[0]: \"nowhere\" is not a network (write e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.7)",
            "rateLimits.overrides[0].class: unknown class \"everything\": one of reads, search, writes, tokenExchanges, mcp",
            "rateLimits.overrides[0].match: an empty claim map would match every caller; name at least one claim",
        ]
    );
    let env = Config::from_yaml(MINIMAL, env(&[("REGISTRY_RATE_LIMITS__ENABLED", "false")])).unwrap();
    assert!(!env.rate_limits.enabled, "an environment variable turns them off");
}
