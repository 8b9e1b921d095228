use super::*;

fn cluster(settings: &str) -> String {
    format!("{MINIMAL}  - {{name: cluster, kubernetes: {{{settings}}}}}\n")
}

fn source(config: &Config) -> &KubernetesSource {
    match &config.registries[1].source {
        Source::Kubernetes(source) => source,
        other => panic!("not kubernetes: {other:?}"),
    }
}

#[test]
fn namespaces_come_from_the_file_else_from_toolhives_variable_trimmed_else_every_namespace() {
    let variable = env(&[(WATCH_NAMESPACE_VARIABLE, " team-a, team-b ,,")]);
    let from_file = Config::from_yaml(&cluster("namespaces: [tools]"), variable.clone()).unwrap();
    assert_eq!(source(&from_file).namespaces, ["tools"]);
    let from_variable = Config::from_yaml(&cluster(""), variable).unwrap();
    assert_eq!(source(&from_variable).namespaces, ["team-a", "team-b"]);
    let everywhere = Config::from_yaml(&cluster(""), no_env()).unwrap();
    assert!(source(&everywhere).namespaces.is_empty());
}

#[test]
fn a_kubernetes_registry_resyncs_every_ten_minutes_and_keeps_tombstones_thirty_days_unless_configured() {
    let defaults = Config::from_yaml(&cluster(""), no_env()).unwrap();
    assert_eq!(defaults.registries[1].sync_interval, Some(Duration::from_secs(600)));
    assert_eq!(source(&defaults).tombstone_retention, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(source(&defaults).stale_after, None);
    let yaml = format!(
        "{MINIMAL}  - {{name: cluster, kubernetes: {{kubeconfig: /etc/registry/kubeconfig, tombstoneRetention: 7d, \
         staleAfter: 1h}}, syncPolicy: {{interval: 2m}}}}\n"
    );
    let configured = Config::from_yaml(&yaml, no_env()).unwrap();
    assert_eq!(configured.registries[1].sync_interval, Some(Duration::from_secs(120)));
    let source = source(&configured);
    assert_eq!(source.kubeconfig.as_deref(), Some(std::path::Path::new("/etc/registry/kubeconfig")));
    assert_eq!(source.tombstone_retention, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(source.stale_after, Some(Duration::from_secs(3600)));
}

#[test]
fn bad_namespaces_and_settings_are_named_with_where_they_came_from() {
    assert_eq!(
        problems(&cluster(
            "namespaces: [tools, Tools, tools], kubeconfig: kube.yaml, tombstoneRetention: soon"
        )),
        [
            "registries[1].kubernetes.namespaces[1]: \"Tools\" is not a namespace name",
            "registries[1].kubernetes.namespaces[2]: \"tools\" is listed twice",
            "registries[1].kubernetes.kubeconfig: must be an absolute path",
            "registries[1].kubernetes.tombstoneRetention: \"soon\" is not a duration (write e.g. 200ms, 30s, 5m, 1h)",
        ]
    );
    let errors =
        Config::from_yaml(&cluster(""), env(&[(WATCH_NAMESPACE_VARIABLE, "team-a,team_b")])).unwrap_err();
    assert_eq!(
        errors.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["THV_REGISTRY_WATCH_NAMESPACE[1]: \"team_b\" is not a namespace name"]
    );
}
