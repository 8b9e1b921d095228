//! `docker-compose.yml`: it parses (Debian's docker-compose 1.29 needs no engine for `config`), it has the
//! scaled-out shape, and every configuration it mounts loads and finds the files it names mounted.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

use crate::support::*;

/// The compose file as `docker-compose config` resolves it, in a copy of the project whose secret files are
/// dummies: (the project directory, the resolved file).
fn resolved() -> (tempfile::TempDir, Value) {
    let project = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("docker-compose.yml"), project.path().join("docker-compose.yml")).unwrap();
    for linked in ["examples", "charts"] {
        std::os::unix::fs::symlink(root().join(linked), project.path().join(linked)).unwrap();
    }
    std::fs::create_dir(project.path().join("secrets")).unwrap();
    std::fs::write(project.path().join("secrets/db-password"), "dummy\n").unwrap();
    std::fs::write(project.path().join("secrets/publisher-signing-key"), format!("{}\n", "5a".repeat(32)))
        .unwrap();
    let text = run(Command::new("docker-compose")
        .arg("-f")
        .arg(project.path().join("docker-compose.yml"))
        .args(["--profile", "monitoring", "config"]));
    (project, yaml(&text))
}

fn service<'a>(file: &'a Value, name: &str) -> &'a Value {
    let service = &file["services"][name];
    assert!(service.is_mapping(), "no service {name}");
    service
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A service's mounts: (source on the host, or a named volume; target in the container; writable).
fn mounts(file: &Value, service: &Value) -> Vec<(String, PathBuf, bool)> {
    let mut mounts: Vec<_> = strings(&service["volumes"])
        .iter()
        .map(|volume| {
            let parts: Vec<&str> = volume.split(':').collect();
            (parts[0].to_owned(), PathBuf::from(parts[1]), parts.get(2) != Some(&"ro"))
        })
        .collect();
    for secret in service["secrets"].as_sequence().into_iter().flatten() {
        let name = secret["source"].as_str().unwrap();
        let source = file["secrets"][name]["file"].as_str().unwrap().to_owned();
        mounts.push((source, Path::new("/run/secrets").join(name), false));
    }
    mounts
}

/// The paths a configuration names: secrets, sources, the data directory.
fn named_paths(config: &Value, key: Option<&str>, found: &mut Vec<(String, PathBuf)>) {
    match config {
        Value::Mapping(map) => {
            for (k, v) in map {
                named_paths(v, k.as_str(), found);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| named_paths(v, key, found)),
        Value::String(text) => {
            let named = [
                "passwordFile",
                "migrationPasswordFile",
                "clientSecretFile",
                "authTokenFile",
                "caCertPath",
                "signingKeyFile",
                "path",
                "dataDir",
            ];
            if let Some(key) = key.filter(|k| named.contains(k))
                && text.starts_with('/')
            {
                found.push((key.to_owned(), PathBuf::from(text)));
            }
        }
        _ => {}
    }
}

#[test]
fn the_compose_file_has_the_scaled_out_shape() {
    let (_project, file) = resolved();
    let ours = ["migrate", "api-a", "api-b", "worker"];
    for name in ours {
        let service = service(&file, name);
        assert_eq!(service["image"], "mcp-registry:local", "{name}");
        assert_eq!(service["read_only"], true, "{name} runs on a read-only root filesystem");
        assert_eq!(service["user"], "10001:10001", "{name}");
        assert_eq!(strings(&service["cap_drop"]), ["ALL"], "{name}");
    }
    assert_eq!(strings(&service(&file, "migrate")["command"])[..2], ["registry-admin", "migrate"]);
    assert_eq!(service(&file, "migrate")["restart"], "no", "the release step runs once");
    for name in ["api-a", "api-b", "worker"] {
        assert_eq!(
            service(&file, name)["depends_on"]["migrate"]["condition"],
            "service_completed_successfully",
            "{name} starts after the migration"
        );
    }
    assert_eq!(strings(&service(&file, "api-a")["command"])[..2], ["registry-api", "serve"]);
    assert_eq!(strings(&service(&file, "worker")["command"])[..2], ["registry-worker", "run"]);
    assert_eq!(service(&file, "postgres")["image"].as_str().map(|i| i.starts_with("postgres:")), Some(true));
    assert_eq!(service(&file, "redis")["image"].as_str().map(|i| i.starts_with("redis:")), Some(true));

    // nginx balances over both replicas.
    let nginx = service(&file, "nginx");
    let (conf, _, _) =
        mounts(&file, nginx).into_iter().find(|(_, t, _)| t.ends_with("default.conf")).unwrap();
    let conf = std::fs::read_to_string(conf).unwrap();
    assert!(conf.contains("server api-a:8080") && conf.contains("server api-b:8080"), "{conf}");
    for replica in ["api-a", "api-b"] {
        assert_eq!(nginx["depends_on"][replica]["condition"], "service_healthy");
    }

    // Prometheus, in its profile, loads the chart's rule file and scrapes every internal listener.
    let prometheus = service(&file, "prometheus");
    assert_eq!(strings(&prometheus["profiles"]), ["monitoring"]);
    let mounted = mounts(&file, prometheus);
    let rules = mounted.iter().find(|(_, t, _)| t.ends_with("alerts.yaml")).unwrap();
    assert_eq!(
        std::fs::read(&rules.0).unwrap(),
        std::fs::read(root().join("charts/mcp-registry/rules/alerts.yaml")).unwrap()
    );
    let scrape = mounted.iter().find(|(_, t, _)| t.ends_with("prometheus.yml")).unwrap();
    let scrape = std::fs::read_to_string(&scrape.0).unwrap();
    for target in ["api-a:8081", "api-b:8081", "worker:8081", rules.1.to_str().unwrap()] {
        assert!(scrape.contains(target), "prometheus.yml names {target}");
    }
}

#[test]
fn every_configuration_the_compose_file_mounts_loads_and_finds_what_it_names_mounted() {
    let (project, file) = resolved();
    // Every service loads the same configuration; the API replicas alone mount the signing key, and read it.
    let key = project.path().join("secrets/publisher-signing-key");
    let environment =
        [("REGISTRY_AUTH__PUBLISHER_TOKENS__SIGNING_KEY_FILE".to_owned(), key.display().to_string())];
    let mut checked = 0;
    for (name, service) in file["services"].as_mapping().unwrap() {
        let command = strings(&service["command"]);
        let Some(at) = command.iter().position(|word| word == "--config") else { continue };
        let target = PathBuf::from(&command[at + 1]);
        let mounted = mounts(&file, service);
        let (source, _, _) = mounted
            .iter()
            .find(|(_, t, _)| *t == target)
            .unwrap_or_else(|| panic!("{name:?}: {target:?} is not mounted"));
        config_check(Path::new(source), &environment);
        checked += 1;

        let config = yaml(&std::fs::read_to_string(source).unwrap());
        let mut named = Vec::new();
        named_paths(&config, None, &mut named);
        assert!(named.iter().any(|(key, _)| key == "passwordFile"), "the database password is a file");
        for (key, path) in named {
            let api = name.as_str().is_some_and(|name| name.starts_with("api-"));
            if (key == "dataDir" && name.as_str() != Some("worker")) || (key == "signingKeyFile" && !api) {
                continue;
            }
            let mount = mounted.iter().find(|(_, t, _)| path.starts_with(t));
            let (source, target, writable) =
                mount.unwrap_or_else(|| panic!("{name:?}: {key} {path:?} is not mounted"));
            if key == "dataDir" {
                assert!(
                    *writable && !source.starts_with('/'),
                    "{name:?}: the data directory is a writable volume"
                );
            } else {
                let rest = path.strip_prefix(target).unwrap();
                let on_host = if rest.as_os_str().is_empty() {
                    PathBuf::from(source)
                } else {
                    Path::new(source).join(rest)
                };
                assert!(
                    on_host.exists(),
                    "{name:?}: {key} {path:?} is {on_host:?} on the host, which does not exist"
                );
            }
        }
    }
    assert_eq!(checked, 4, "the migration, both replicas and the worker");
}
