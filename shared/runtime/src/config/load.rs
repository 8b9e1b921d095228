//! Layering: the YAML file, then `REGISTRY_*` environment variables on top. `__` separates nested keys and
//! each part is matched to the file's camelCase key: `REGISTRY_DATABASE__MIGRATION_USER` sets
//! `database.migrationUser`, `REGISTRY_REGISTRIES__0__SYNC_POLICY__INTERVAL` sets
//! `registries[0].syncPolicy.interval`. Defaults are applied by validation, after both layers.

use serde_json::{Map, Value};

use super::{ConfigErrors, ConfigProblem};

pub const ENV_PREFIX: &str = "REGISTRY_";

/// Secrets read when connecting (see `database.rs`), so never merged into the configuration tree.
const SECRET_VARIABLES: [&str; 2] = ["REGISTRY_DATABASE__PASSWORD", "REGISTRY_DATABASE__MIGRATION_PASSWORD"];

/// The top-level keys. A `REGISTRY_*` variable is an override only when it starts with one of them, so
/// Kubernetes' service variables for a Service named `registry` (`REGISTRY_SERVICE_HOST`, `REGISTRY_PORT`)
/// are left alone. One that nests (`__`) under an unknown key is a typo and reported.
const TOP_LEVEL_KEYS: [&str; 18] = [
    "registryName",
    "registries",
    "auth",
    "database",
    "redis",
    "worker",
    "server",
    "shutdown",
    "cors",
    "publishRegistry",
    "validation",
    "audit",
    "cache",
    "metrics",
    "tracing",
    "mcp",
    "ui",
    "rateLimits",
];

pub(super) fn layer(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Value, ConfigErrors> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        ConfigErrors(vec![ConfigProblem { path: String::new(), message: format!("not valid YAML: {e}") }])
    })?;
    let mut tree = match serde_json::to_value(yaml) {
        Ok(Value::Null) => Value::Object(Map::new()),
        Ok(tree @ Value::Object(_)) => tree,
        Ok(_) => return Err(problem("", "the configuration must be a YAML mapping")),
        Err(e) => return Err(problem("", &format!("unsupported YAML: {e}"))),
    };
    let mut problems = Vec::new();
    let mut overrides: Vec<_> = env
        .into_iter()
        .filter(|(key, _)| key.starts_with(ENV_PREFIX) && !SECRET_VARIABLES.contains(&key.as_str()))
        .collect();
    overrides.sort();
    for (key, value) in overrides {
        let parts: Vec<&str> = key[ENV_PREFIX.len()..].split("__").collect();
        if !TOP_LEVEL_KEYS.iter().any(|known| same_key(known, parts[0])) {
            if parts.len() > 1 {
                problems.push(ConfigProblem {
                    path: key.clone(),
                    message: format!(
                        "unknown configuration key: expected one of {}",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                });
            }
            continue;
        }
        if let Err(message) = set_path(&mut tree, &parts, scalar(&value)) {
            problems.push(ConfigProblem { path: key.clone(), message });
        }
    }
    if problems.is_empty() { Ok(tree) } else { Err(ConfigErrors(problems)) }
}

fn problem(path: &str, message: &str) -> ConfigErrors {
    ConfigErrors(vec![ConfigProblem { path: path.to_owned(), message: message.to_owned() }])
}

/// An environment value as YAML would read it: `true`, `42` and `[a, b]` are typed, the rest is a string.
fn scalar(raw: &str) -> Value {
    let typed = if raw.starts_with('[') || raw == "true" || raw == "false" || raw.parse::<i64>().is_ok() {
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(raw).ok().and_then(|v| serde_json::to_value(v).ok())
    } else {
        None
    };
    typed.unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn set_path(node: &mut Value, parts: &[&str], value: Value) -> Result<(), String> {
    let Some((first, rest)) = parts.split_first() else {
        *node = value;
        return Ok(());
    };
    if first.is_empty() {
        return Err("empty key part (three underscores in a row?)".into());
    }
    match node {
        Value::Array(items) => {
            let index: usize = first.parse().map_err(|_| format!("{first} is not a list index"))?;
            if index == items.len() {
                items.push(if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) });
            }
            let item = items.get_mut(index).ok_or_else(|| format!("list index {index} is past the end"))?;
            set_path(item, rest, value)
        }
        Value::Object(map) => {
            let key = map
                .keys()
                .find(|existing| same_key(existing, first))
                .cloned()
                .unwrap_or_else(|| camel_case(first));
            let child = map.entry(key).or_insert_with(|| {
                if rest.first().is_some_and(|next| next.parse::<usize>().is_ok()) {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            set_path(child, rest, value)
        }
        _ => Err(format!("cannot set {first} inside a value that is not a mapping or list")),
    }
}

/// `MIGRATION_USER` names `migrationUser` (and `allowPrivateIP`, whatever the case).
fn same_key(existing: &str, env_part: &str) -> bool {
    let squash = |s: &str| s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect::<String>();
    squash(existing) == squash(env_part)
}

fn camel_case(env_part: &str) -> String {
    let mut out = String::new();
    for (i, word) in env_part.split('_').filter(|w| !w.is_empty()).enumerate() {
        let word = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&word);
        } else {
            let mut chars = word.chars();
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            out.push_str(chars.as_str());
        }
    }
    out
}
