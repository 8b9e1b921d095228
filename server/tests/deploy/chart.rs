//! The Helm chart `charts/mcp-registry`, rendered by helm over its value sets (`ci/*-values.yaml`, and the
//! defaults): lint, the Kubernetes schemas, promtool on the PrometheusRule, and what the manifests must say.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

use crate::support::*;

fn chart() -> PathBuf {
    root().join("charts/mcp-registry")
}

/// The value sets: the defaults (no file) and every file in `ci/`.
fn value_sets() -> Vec<Option<PathBuf>> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(chart().join("ci")).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "minimal, production, one login, discovery cluster-wide and per namespace: {files:?}"
    );
    std::iter::once(None).chain(files.into_iter().map(Some)).collect()
}

fn label(values: &Option<PathBuf>) -> String {
    values.as_ref().map_or("defaults".to_owned(), |p| p.file_name().unwrap().to_string_lossy().into_owned())
}

fn helm(args: &[&str], values: &Option<PathBuf>) -> Command {
    let mut command = tool("HELM", "helm");
    command.args(args);
    if let Some(values) = values {
        command.arg("-f").arg(values);
    }
    command
}

/// The manifests `helm template` renders for `values`, with `extra` arguments.
fn render_with(values: &Option<PathBuf>, extra: &[&str]) -> String {
    let mut command =
        helm(&["template", "registry", chart().to_str().unwrap(), "--namespace", "mcp"], values);
    run(command.args(extra))
}

fn manifests(values: &Option<PathBuf>) -> Vec<Value> {
    let text = render_with(values, &[]);
    let documents =
        serde_yaml_ng::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap());
    documents.filter(|d: &Value| !d.is_null()).collect()
}

fn of_kind<'a>(manifests: &'a [Value], kind: &str) -> Vec<&'a Value> {
    manifests.iter().filter(|m| m["kind"] == kind).collect()
}

fn named<'a>(manifests: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found = of_kind(manifests, kind).into_iter().find(|m| m["metadata"]["name"] == name);
    found.unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn values_of(values: &Option<PathBuf>) -> Value {
    let defaults = yaml(&std::fs::read_to_string(chart().join("values.yaml")).unwrap());
    // What the checks below read from the values; the renderer did the merging.
    let given = values.as_ref().map(|p| yaml(&std::fs::read_to_string(p).unwrap())).unwrap_or(Value::Null);
    merge(defaults, given)
}

fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (key, value) in over {
                let merged = match base.remove(&key) {
                    Some(old) => merge(old, value),
                    None => value,
                };
                if !merged.is_null() {
                    base.insert(key, merged);
                }
            }
            Value::Mapping(base)
        }
        (base, Value::Null) => base,
        (_, over) => over,
    }
}

fn seconds(duration: &Value) -> u64 {
    let text = duration.as_str().unwrap();
    humantime::parse_duration(text).unwrap().as_secs()
}

fn bytes(quantity: &str) -> u64 {
    let (number, unit) =
        quantity.split_at(quantity.find(|c: char| !c.is_ascii_digit()).unwrap_or(quantity.len()));
    let factor = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("a memory unit the test does not read: {other}"),
    };
    number.parse::<u64>().unwrap() * factor
}

fn deployments(manifests: &[Value]) -> Vec<&Value> {
    let found = of_kind(manifests, "Deployment");
    assert_eq!(found.len(), 2, "the API and the worker");
    found
}

fn pod(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]
}

fn container(workload: &Value) -> &Value {
    &pod(workload)["containers"][0]
}

fn hook(manifest: &Value) -> Option<(String, i64)> {
    let annotations = &manifest["metadata"]["annotations"];
    let phases = annotations["helm.sh/hook"].as_str()?.to_owned();
    Some((phases, annotations["helm.sh/hook-weight"].as_str().unwrap_or("0").parse().unwrap()))
}

#[test]
fn helm_lint_strict_passes_on_every_value_set() {
    for values in value_sets() {
        let linted = run(&mut helm(&["lint", "--strict", chart().to_str().unwrap()], &values));
        assert!(linted.contains("0 chart(s) failed"), "{}: {linted}", label(&values));
    }
}

#[test]
fn every_value_set_renders_manifests_that_the_kubernetes_schemas_accept() {
    let dir = tempfile::tempdir().unwrap();
    for values in value_sets() {
        let path = dir.path().join(format!("{}.yaml", label(&values)));
        std::fs::write(&path, render_with(&values, &[])).unwrap();
        let checked =
            run(tool("KUBERNETES_VALIDATE", "kubernetes-validate").args(["--strict", "--quiet"]).arg(&path));
        // Only the Prometheus operator's kinds have no schema here; promtool checks their rules below.
        let unexpected: Vec<_> = checked
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| {
                !(l.contains("Couldn't find schema for kind PrometheusRule")
                    || l.contains("Couldn't find schema for kind ServiceMonitor"))
            })
            .collect();
        assert!(unexpected.is_empty(), "{}: {unexpected:?}", label(&values));
    }
}

#[test]
fn the_prometheus_rule_carries_the_rule_file_and_promtool_accepts_what_it_renders() {
    let production = Some(chart().join("ci/production-values.yaml"));
    let manifests = manifests(&production);
    let rule = of_kind(&manifests, "PrometheusRule");
    assert_eq!(rule.len(), 1);
    let spec = &rule[0]["spec"];
    let file = yaml(&std::fs::read_to_string(chart().join("rules/alerts.yaml")).unwrap());
    assert_eq!(spec, &file, "the PrometheusRule's groups are the rule file's");
    let dir = tempfile::tempdir().unwrap();
    let extracted = dir.path().join("rules.yaml");
    std::fs::write(&extracted, serde_yaml_ng::to_string(spec).unwrap()).unwrap();
    let checked = run(Command::new("promtool").args(["check", "rules"]).arg(&extracted));
    assert!(checked.contains("SUCCESS"), "{checked}");

    let monitor = of_kind(&manifests, "ServiceMonitor");
    assert_eq!(monitor[0]["spec"]["endpoints"][0]["port"], "internal");
    let dashboard = named(&manifests, "ConfigMap", "registry-mcp-registry-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = dashboard["data"]["mcp-registry.json"].as_str().unwrap();
    let shipped = std::fs::read_to_string(chart().join("dashboards/mcp-registry.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
        serde_json::from_str::<serde_json::Value>(&shipped).unwrap()
    );
}

#[test]
fn pods_run_hardened_probe_the_internal_port_spread_and_outlast_their_shutdown() {
    for values in value_sets() {
        let (manifests, merged, set) = (manifests(&values), values_of(&values), label(&values));
        let shutdown = &merged["config"]["shutdown"];
        let stopping = seconds(&shutdown["drain"]) + seconds(&shutdown["grace"]);
        for workload in deployments(&manifests) {
            let (pod, container) = (pod(workload), container(workload));
            let name = workload["metadata"]["name"].as_str().unwrap();
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{set} {name}");
            assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap() >= 1000, "{set} {name}");
            assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{set} {name}");
            let security = &container["securityContext"];
            assert_eq!(security["readOnlyRootFilesystem"], true, "{set} {name}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{set} {name}");
            assert_eq!(security["capabilities"]["drop"][0], "ALL", "{set} {name}");
            let internal =
                container["ports"].as_sequence().unwrap().iter().find(|p| p["name"] == "internal").unwrap();
            assert_eq!(internal["containerPort"], 8081, "{set} {name}");
            for (probe, path) in
                [("livenessProbe", "/health"), ("readinessProbe", "/readiness"), ("startupProbe", "/health")]
            {
                assert_eq!(container[probe]["httpGet"]["port"], "internal", "{set} {name} {probe}");
                assert_eq!(container[probe]["httpGet"]["path"], path, "{set} {name} {probe}");
            }
            let spread = pod["topologySpreadConstraints"].as_sequence().unwrap();
            assert!(spread.iter().any(|c| c["topologyKey"] == "kubernetes.io/hostname"), "{set} {name}");
            let period = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
            assert!(
                period > stopping,
                "{set} {name}: {period} s is not longer than drain + grace ({stopping} s)"
            );
            assert!(
                container["resources"]["limits"]["memory"].is_string(),
                "{set} {name} has a memory limit"
            );
        }
        let api = named(&manifests, "Deployment", "registry-mcp-registry-api");
        let limit = bytes(container(api)["resources"]["limits"]["memory"].as_str().unwrap());
        let cache = merged["config"]["cache"]["memoryBytes"].as_u64().unwrap_or(64 << 20);
        let base = bytes(merged["api"]["baseMemory"].as_str().unwrap());
        assert!(
            limit > cache + base,
            "{set}: the API's memory limit {limit} is not above its cache {cache} plus {base}"
        );
        let command = container(api)["command"].as_sequence().unwrap();
        assert!(!command.iter().any(|w| w == "migrate"), "the API never migrates");
    }
}

#[test]
fn the_migration_job_is_a_pre_install_and_pre_upgrade_hook_after_what_it_needs() {
    for values in value_sets() {
        let (manifests, set) = (manifests(&values), label(&values));
        let job = of_kind(&manifests, "Job");
        assert_eq!(job.len(), 1, "{set}");
        let job = job[0];
        let (phases, weight) = hook(job).unwrap();
        assert_eq!(phases, "pre-install,pre-upgrade", "{set}");
        assert_eq!(
            container(job)["command"].as_sequence().unwrap()[..2],
            [Value::from("registry-admin"), Value::from("migrate")]
        );
        // What it runs with exists before it: hooks of a lower weight.
        let account = pod(job)["serviceAccountName"].as_str().unwrap();
        let volumes = pod(job)["volumes"].as_sequence().unwrap();
        let config = volumes.iter().find_map(|v| v["configMap"]["name"].as_str()).unwrap();
        for (kind, name) in [("ServiceAccount", account), ("ConfigMap", config)] {
            let (needed_phases, needed_weight) = hook(named(&manifests, kind, name))
                .unwrap_or_else(|| panic!("{set}: {kind} {name} is not a hook"));
            assert_eq!(needed_phases, phases, "{set}: {kind} {name}");
            assert!(needed_weight < weight, "{set}: {kind} {name} weighs {needed_weight}, the Job {weight}");
        }
        // The replicas' ConfigMap is an ordinary resource with the same configuration, less the migration
        // login, which only the Job uses.
        let replicas = named(&manifests, "ConfigMap", "registry-mcp-registry");
        assert!(hook(replicas).is_none(), "{set}");
        let config_of = |map: &Value| yaml(map["data"]["config.yaml"].as_str().unwrap());
        let mut expected = config_of(named(&manifests, "ConfigMap", config));
        if let Some(database) = expected.get_mut("database").and_then(Value::as_mapping_mut) {
            database.remove("migrationUser");
            database.remove("migrationPasswordFile");
        }
        assert_eq!(config_of(replicas), expected, "{set}");
    }
}

/// Each file a workload reads from a Secret: its path in the container, and the Secret and key behind it.
fn secret_files(workload: &Value) -> Vec<(String, (String, String))> {
    let volumes = pod(workload)["volumes"].as_sequence().unwrap();
    let mut files = Vec::new();
    for mount in container(workload)["volumeMounts"].as_sequence().unwrap() {
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
        let Some(secret) = volume["secret"]["secretName"].as_str() else { continue };
        let at = mount["mountPath"].as_str().unwrap();
        for item in volume["secret"]["items"].as_sequence().into_iter().flatten() {
            let (key, path) = (item["key"].as_str().unwrap(), item["path"].as_str().unwrap());
            files.push((format!("{at}/{path}"), (secret.to_owned(), key.to_owned())));
        }
        if volume["secret"]["items"].is_null() {
            files.push((format!("{at}/*"), (secret.to_owned(), "*".to_owned())));
        }
    }
    files
}

fn env_value<'a>(workload: &'a Value, name: &str) -> Option<&'a str> {
    let env = container(workload)["env"].as_sequence().unwrap();
    env.iter().find(|e| e["name"] == name).and_then(|e| e["value"].as_str())
}

#[test]
fn every_workload_reads_a_shared_password_file_from_the_same_secret_key_and_only_the_job_the_migrations() {
    for values in value_sets() {
        let (manifests, set) = (manifests(&values), label(&values));
        let job = of_kind(&manifests, "Job")[0];
        let mut workloads = deployments(&manifests);
        workloads.push(job);
        let mut seen: Vec<(String, (String, String))> = Vec::new();
        for workload in &workloads {
            let name = workload["metadata"]["name"].as_str().unwrap();
            for (path, source) in secret_files(workload) {
                if let Some((_, other)) = seen.iter().find(|(p, _)| *p == path) {
                    assert_eq!(&source, other, "{set}: {name} reads {path} from another Secret key");
                }
                seen.push((path, source));
            }
            if let Some(file) = env_value(workload, "REGISTRY_DATABASE__PASSWORD_FILE") {
                assert!(secret_files(workload).iter().any(|(p, _)| p == file), "{set}: {name} mounts {file}");
            }
        }
        let migration = env_value(job, "REGISTRY_DATABASE__MIGRATION_PASSWORD_FILE");
        for deployment in deployments(&manifests) {
            assert_eq!(env_value(deployment, "REGISTRY_DATABASE__MIGRATION_PASSWORD_FILE"), None, "{set}");
            if let Some(file) = migration {
                assert!(!secret_files(deployment).iter().any(|(p, _)| p == file), "{set}: the Job's alone");
            }
        }
        if let Some(file) = migration {
            assert!(secret_files(job).iter().any(|(p, _)| p == file), "{set}: the Job mounts {file}");
        }
    }
}

#[test]
fn one_login_without_a_migration_secret_renders_a_job_that_logs_in_with_the_application_password() {
    let manifests = manifests(&Some(chart().join("ci/one-login-values.yaml")));
    let job = of_kind(&manifests, "Job")[0];

    let file = env_value(job, "REGISTRY_DATABASE__PASSWORD_FILE").unwrap();
    let files = secret_files(job);

    assert_eq!(env_value(job, "REGISTRY_DATABASE__MIGRATION_PASSWORD_FILE"), None);
    let (_, source) = files.iter().find(|(path, _)| path == file).unwrap();
    assert_eq!(source, &("registry-db".to_owned(), "password".to_owned()));
    let volumes = pod(job)["volumes"].as_sequence().unwrap();
    let config_map = volumes.iter().find_map(|v| v["configMap"]["name"].as_str()).unwrap();
    let config = yaml(named(&manifests, "ConfigMap", config_map)["data"]["config.yaml"].as_str().unwrap());
    assert_eq!(config["database"]["migrationUser"], config["database"]["user"], "one login");
    // That the migration login then takes the application's password file is the configuration's rule,
    // tested against a server that asks for passwords (admin/tests/migration_login.rs); config check with
    // --deny-warnings passes on this Job's configuration and environment in the test above.
}

#[test]
fn no_secret_is_rendered_inline() {
    for values in value_sets() {
        let (manifests, set) = (manifests(&values), label(&values));
        assert!(of_kind(&manifests, "Secret").is_empty(), "{set}: the chart creates no Secret");
        for workload in manifests.iter().filter(|m| m["kind"] == "Deployment" || m["kind"] == "Job") {
            for env in container(workload)["env"].as_sequence().unwrap() {
                let name = env["name"].as_str().unwrap();
                if name.ends_with("PASSWORD") || name == "REGISTRY_REDIS__URL" {
                    assert!(
                        env["valueFrom"]["secretKeyRef"].is_mapping(),
                        "{set}: {name} comes from a Secret"
                    );
                }
            }
        }
        for config in of_kind(&manifests, "ConfigMap") {
            let text = serde_yaml_ng::to_string(&config["data"]).unwrap();
            for inline in ["password:", "clientSecret:", "redis://"] {
                assert!(!text.contains(inline), "{set}: {inline} in a ConfigMap");
            }
        }
    }
    let production = manifests(&Some(chart().join("ci/production-values.yaml")));
    let api = named(&production, "Deployment", "registry-mcp-registry-api");
    let env = container(api)["env"].as_sequence().unwrap();
    let redis = env.iter().find(|e| e["name"] == "REGISTRY_REDIS__URL").unwrap();
    assert_eq!(redis["valueFrom"]["secretKeyRef"]["name"], "registry-redis");
    let volumes = pod(api)["volumes"].as_sequence().unwrap();
    let mounted: Vec<_> = volumes.iter().filter_map(|v| v["secret"]["secretName"].as_str()).collect();
    assert_eq!(
        mounted,
        ["registry-db", "registry-oidc", "registry-git", "registry-publisher-signing"],
        "secrets are mounted by reference"
    );
    // The web catalogue's sign-in client reads its secret from the oidc Secret's mount.
    let config_map = volumes.iter().find_map(|v| v["configMap"]["name"].as_str()).unwrap();
    let config = yaml(named(&production, "ConfigMap", config_map)["data"]["config.yaml"].as_str().unwrap());
    assert_eq!(config["ui"]["signIn"]["provider"], "corporate-idp");
    let secret_file = config["auth"]["oauth"]["providers"][0]["clientSecretFile"].as_str().unwrap();
    let files = secret_files(api);
    let (_, source) = files.iter().find(|(path, _)| path == "/var/run/secrets/mcp-registry/oidc/*").unwrap();
    assert!(secret_file.starts_with("/var/run/secrets/mcp-registry/oidc/") && source.0 == "registry-oidc");
    // The signing key is mounted in the API alone.
    let signing = env_value(api, "REGISTRY_AUTH__PUBLISHER_TOKENS__SIGNING_KEY_FILE").unwrap();
    assert_eq!(signing, "/var/run/secrets/mcp-registry/publisher-signing/signing-key");
    for workload in of_kind(&production, "Deployment").into_iter().chain(of_kind(&production, "Job")) {
        if workload != api {
            let volumes = pod(workload)["volumes"].as_sequence().unwrap();
            assert!(!volumes.iter().any(|v| v["secret"]["secretName"] == "registry-publisher-signing"));
        }
    }
}

#[test]
fn the_rendered_configuration_passes_registry_admin_config_check_with_the_pods_environment() {
    let dir = tempfile::tempdir().unwrap();
    for values in value_sets() {
        let (manifests, set) = (manifests(&values), label(&values));
        for workload in manifests.iter().filter(|m| m["kind"] == "Deployment" || m["kind"] == "Job") {
            let name = workload["metadata"]["name"].as_str().unwrap();
            let volumes = pod(workload)["volumes"].as_sequence().unwrap();
            let config_map = volumes.iter().find_map(|v| v["configMap"]["name"].as_str()).unwrap();
            let text = named(&manifests, "ConfigMap", config_map)["data"]["config.yaml"].as_str().unwrap();
            let path = dir.path().join(format!("{set}-{name}.yaml"));
            std::fs::write(&path, text).unwrap();
            // The pod's environment, with a stand-in for what comes from a Secret.
            let env: Vec<(String, String)> = container(workload)["env"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|e| {
                    let name = e["name"].as_str().unwrap().to_owned();
                    let value = e["value"].as_str().map_or("redis://stand-in:6379".to_owned(), str::to_owned);
                    if name == "REGISTRY_AUTH__PUBLISHER_TOKENS__SIGNING_KEY_FILE" {
                        let stand_in = dir.path().join("signing-key");
                        std::fs::write(&stand_in, "5a".repeat(32)).unwrap();
                        return (name, stand_in.display().to_string());
                    }
                    (name, value)
                })
                .collect();
            config_check(&path, &env);
        }
    }
}

#[test]
fn discovery_rbac_follows_the_kubernetes_registries_of_the_configuration() {
    let rbac = |file: Option<&str>| {
        let manifests = manifests(&file.map(|f| chart().join("ci").join(f)));
        let kinds = ["ClusterRole", "ClusterRoleBinding", "RoleBinding", "Role"];
        manifests.into_iter().filter(|m| kinds.iter().any(|k| m["kind"] == *k)).collect::<Vec<_>>()
    };
    assert!(rbac(None).is_empty(), "no kubernetes registry, no RBAC");

    let cluster = rbac(Some("discovery-cluster-values.yaml"));
    let kinds: Vec<_> = cluster.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ClusterRole", "ClusterRoleBinding"]);
    let rules = &cluster[0]["rules"];
    assert_eq!(rules.as_sequence().unwrap().len(), 1);
    assert_eq!(rules[0]["apiGroups"][0], "toolhive.stacklok.dev");
    assert_eq!(strings(&rules[0]["verbs"]), ["list", "watch"], "nothing but list and watch");
    assert_eq!(strings(&rules[0]["resources"]), ["mcpservers", "virtualmcpservers", "mcpremoteproxies"]);
    let subject = &cluster[1]["subjects"][0];
    assert_eq!(
        (subject["name"].as_str(), subject["namespace"].as_str()),
        (Some("registry-mcp-registry-worker"), Some("mcp"))
    );

    let namespaced = rbac(Some("discovery-namespaces-values.yaml"));
    let bindings: Vec<_> = namespaced.iter().filter(|m| m["kind"] == "RoleBinding").collect();
    let namespaces: Vec<_> = bindings.iter().map(|b| b["metadata"]["namespace"].as_str().unwrap()).collect();
    assert_eq!(namespaces, ["team-a", "team-b"]);
    assert!(namespaced.iter().all(|m| m["kind"] != "ClusterRoleBinding"), "no cluster-wide binding");
    for binding in bindings {
        assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
        assert_eq!(binding["subjects"][0]["name"], "registry-mcp-registry-worker");
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_disruption_budget_never_blocks_a_drain_and_autoscalers_replace_fixed_replicas() {
    let minimal = manifests(&Some(chart().join("ci/minimal-values.yaml")));
    assert!(of_kind(&minimal, "PodDisruptionBudget").is_empty(), "one replica: no budget");
    let defaults = manifests(&None);
    let budget = of_kind(&defaults, "PodDisruptionBudget");
    assert_eq!(budget.len(), 1);
    assert_eq!(budget[0]["spec"]["maxUnavailable"], 1);
    assert!(budget[0]["spec"]["minAvailable"].is_null());

    let production = manifests(&Some(chart().join("ci/production-values.yaml")));
    let scalers = of_kind(&production, "HorizontalPodAutoscaler");
    assert_eq!(scalers.len(), 2, "the API and the worker");
    for workload in deployments(&production) {
        assert!(workload["spec"]["replicas"].is_null(), "the autoscaler owns the replica count");
    }
    let ingress = of_kind(&production, "Ingress");
    let backend = &ingress[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["port"]["name"], "http", "the Ingress never routes the internal port");
    assert_eq!(of_kind(&production, "NetworkPolicy").len(), 2);
}

#[test]
fn the_chart_refuses_values_that_would_cut_a_shutdown_short_starve_the_cache_or_lack_a_database_or_a_host() {
    for (set, expected) in [
        (
            "api.terminationGracePeriodSeconds=20",
            "api.terminationGracePeriodSeconds (20) must be longer than",
        ),
        ("api.resources.limits.memory=128Mi", "api.resources.limits.memory (128Mi) must be above"),
        ("config.database=null", "config.database is required"),
        ("config.shutdown.grace=1m30s", "must be longer than config.shutdown.drain plus grace (95 s)"),
        ("config.shutdown.grace=soon", "\"soon\" is not a duration the chart reads"),
        ("api.resources.limits.memory=lots", "\"lots\" is not a memory quantity the chart reads"),
        ("ingress.enabled=true", "ingress.hosts: name at least one host"),
    ] {
        let mut command = helm(&["template", "registry", chart().to_str().unwrap(), "--set", set], &None);
        let output = output(&mut command);
        assert!(!output.status.success(), "{set} renders");
        assert!(text(&output).contains(expected), "{set}: {}", text(&output));
    }
}

/// The leaf keys of the chart's values, as dotted paths; lists, and maps that are Kubernetes' or the
/// registry's own (`config`, resources, labels, security contexts), count as one value each.
fn value_keys(value: &Value, prefix: &str, keys: &mut Vec<String>) {
    let whole = ["config", "resources", "labels", "podSecurityContext", "securityContext"];
    let last = prefix.rsplit('.').next().unwrap_or_default();
    match value {
        Value::Mapping(map) if !whole.contains(&last) && !map.is_empty() => {
            for (key, value) in map {
                let key = key.as_str().unwrap();
                let path = if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
                value_keys(value, &path, keys);
            }
        }
        _ => keys.push(prefix.to_owned()),
    }
}

#[test]
fn the_chart_readme_lists_every_value() {
    let values = yaml(&std::fs::read_to_string(chart().join("values.yaml")).unwrap());
    let mut keys = Vec::new();
    value_keys(&values, "", &mut keys);
    let readme = std::fs::read_to_string(chart().join("README.md")).unwrap();
    let missing: Vec<_> = keys.iter().filter(|k| !readme.contains(&format!("| `{k}` |"))).collect();
    assert!(missing.is_empty(), "values the chart's README does not list: {missing:?}");
    assert!(Path::new(&chart().join("README.md")).is_file());
}
