//! What the deployment checks share: the repository's paths, the tools, and `registry-admin config check`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A tool named by the environment variable `variable` (as `scripts/test.sh` sets it), else `name` on the path.
pub fn tool(variable: &str, name: &str) -> Command {
    Command::new(std::env::var_os(variable).unwrap_or_else(|| name.into()))
}

/// Runs `command`; its output, which must say it succeeded.
pub fn run(command: &mut Command) -> String {
    let output = output(command);
    let text = text(&output);
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

pub fn output(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (scripts/test.sh installs the deployment tools)")
    })
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A binary of this workspace, built beside `registry-api`.
pub fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_registry-api")).parent().unwrap().join(name);
    assert!(path.is_file(), "{} is not built: build the workspace (cargo build --workspace)", path.display());
    path
}

/// `registry-admin config check --deny-warnings` passes on `config`, with only `env` of the `REGISTRY_*`
/// variables.
pub fn config_check(config: &Path, env: &[(String, String)]) {
    let mut command = Command::new(binary("registry-admin"));
    command.args(["config", "check", "--deny-warnings", "--config"]).arg(config);
    // Only what the deployment sets: none of this machine's REGISTRY_* variables.
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("REGISTRY_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    run(&mut command);
}

pub fn yaml(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).unwrap()
}
