//! What a client needs to run a server: the configuration snippet for VS Code, Claude Desktop, Claude Code,
//! Cursor or ToolHive, made from a server.json. A remote is preferred to a package (nothing to install);
//! a package becomes the command its registry type runs (`npx`, `uvx`, `docker run`, `dnx`), following its
//! `runtimeHint`, runtime and package arguments and environment variables. A value the server.json does not
//! give (a secret, a required setting without a default) stays a `{placeholder}` in the snippet and is
//! listed in [`InstallConfig::to_fill`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::ServerDetail;
use crate::model::server_json::{Argument, Input, KeyValueInput, Package, Transport};

/// A client an install snippet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    Vscode,
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    Toolhive,
}

impl Client {
    pub const ALL: [Self; 5] =
        [Self::Vscode, Self::ClaudeDesktop, Self::ClaudeCode, Self::Cursor, Self::Toolhive];

    /// Where the snippet goes.
    fn location(self) -> &'static str {
        match self {
            Self::Vscode => ".vscode/mcp.json (or the user's mcp.json), under servers",
            Self::ClaudeDesktop => "claude_desktop_config.json, under mcpServers",
            Self::ClaudeCode => "a shell: the command adds the server to Claude Code",
            Self::Cursor => "~/.cursor/mcp.json (or .cursor/mcp.json in a project), under mcpServers",
            Self::Toolhive => "a shell: the command runs the server with ToolHive",
        }
    }
}

/// A value the snippet leaves as `{name}`, for the person installing to fill in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ToFill {
    /// The placeholder's name, as it appears between braces.
    pub name: String,
    /// `environment`, `header`, `argument` or `variable` (a part of a URL or of another value).
    pub kind: &'static str,
    pub required: bool,
    pub secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An install snippet and what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstallConfig {
    pub client: Client,
    /// What it runs: the remote's URL, or the package as `registryType identifier`.
    pub source: String,
    /// `json` (a piece of the client's configuration file) or `shell` (a command to run).
    pub format: &'static str,
    pub snippet: String,
    /// Where the snippet goes.
    pub location: &'static str,
    /// The placeholders left in the snippet.
    pub to_fill: Vec<ToFill>,
}

/// Why a server has no snippet for a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoSnippet {
    #[error("the server has neither remotes nor packages")]
    NothingToRun,
    #[error("{0}")]
    Unsupported(String),
}

/// The snippet that installs `server` in `client`: its first remote (`streamable-http` before `sse`), else its
/// first package.
pub fn install_config(server: &ServerDetail, client: Client) -> Result<InstallConfig, NoSnippet> {
    let key = server.name.rsplit('/').next().unwrap_or(&server.name).to_owned();
    let remotes = server.remotes.as_deref().unwrap_or_default();
    let remote = (remotes.iter().find(|r| r.kind == "streamable-http"))
        .or_else(|| remotes.iter().find(|r| r.kind == "sse"));
    let mut fill = Fill::default();
    let (source, format, snippet) = match (remote, server.packages.as_deref().and_then(<[Package]>::first)) {
        (Some(remote), _) => {
            let launch = Remote::of(remote, &mut fill);
            (launch.url.clone(), format(client), remote_snippet(client, &key, &launch))
        }
        (None, Some(package)) => {
            let command = Command::of(package, client, &mut fill)?;
            let source = format!("{} {}", package.registry_type, package.identifier);
            (source, format(client), package_snippet(client, &key, &command))
        }
        (None, None) => return Err(NoSnippet::NothingToRun),
    };
    Ok(InstallConfig { client, source, format, snippet, location: client.location(), to_fill: fill.list })
}

fn format(client: Client) -> &'static str {
    match client {
        Client::ClaudeCode | Client::Toolhive => "shell",
        _ => "json",
    }
}

/// The placeholders met so far, each once.
#[derive(Default)]
struct Fill {
    list: Vec<ToFill>,
}

impl Fill {
    fn note(&mut self, name: &str, kind: &'static str, input: &Input) {
        if self.list.iter().any(|f| f.name == name) {
            return;
        }
        self.list.push(ToFill {
            name: name.to_owned(),
            kind,
            required: input.is_required.unwrap_or(false),
            secret: input.is_secret.unwrap_or(false),
            description: input.description.clone(),
        });
    }

    /// `text` with each `{variable}` that has a default filled in; the others stay and are noted.
    fn variables(&mut self, text: &str, variables: Option<&BTreeMap<String, Input>>) -> String {
        let mut filled = text.to_owned();
        for (name, input) in variables.into_iter().flatten() {
            let placeholder = format!("{{{name}}}");
            if !filled.contains(&placeholder) {
                continue;
            }
            match input.value.as_ref().or(input.default.as_ref()) {
                Some(value) => filled = filled.replace(&placeholder, value),
                None => self.note(name, "variable", input),
            }
        }
        filled
    }

    /// The value of a header or environment variable: its value or default (with variables filled), else a
    /// `{NAME}` placeholder, noted.
    fn key_value(&mut self, item: &KeyValueInput, kind: &'static str) -> String {
        match item.input.value.as_ref().or(item.input.default.as_ref()) {
            Some(value) => self.variables(value, item.variables.as_ref()),
            None => {
                self.note(&item.name, kind, &item.input);
                format!("{{{}}}", item.name)
            }
        }
    }

    /// An argument's words: a named one as `--name value` (or the flag alone), a positional one as its value;
    /// none for an optional argument without a value.
    fn argument(&mut self, argument: &Argument) -> Vec<String> {
        let (name, value_hint, input, variables) = match argument {
            Argument::Positional { value_hint, input, variables, .. } => (None, value_hint, input, variables),
            Argument::Named { name, value_hint, input, variables, .. } => {
                (Some(name), value_hint, input, variables)
            }
        };
        let value = match input.value.as_ref().or(input.default.as_ref()) {
            Some(value) => Some(self.variables(value, variables.as_ref())),
            None if input.is_required.unwrap_or(false) => {
                let placeholder =
                    value_hint.clone().or_else(|| name.map(|n| n.trim_start_matches('-').to_owned()));
                let placeholder = placeholder.unwrap_or_else(|| "value".to_owned());
                self.note(&placeholder, "argument", input);
                Some(format!("{{{placeholder}}}"))
            }
            None => None,
        };
        match (name, value) {
            (Some(name), Some(value)) => vec![name.clone(), value],
            (Some(name), None) if value_hint.is_none() && input.format.as_deref() == Some("boolean") => {
                vec![name.clone()]
            }
            (None, Some(value)) => vec![value],
            _ => Vec::new(),
        }
    }
}

/// A remote with its URL and headers filled as far as the server.json allows.
struct Remote {
    url: String,
    sse: bool,
    headers: Vec<(String, String)>,
}

impl Remote {
    fn of(remote: &Transport, fill: &mut Fill) -> Self {
        let url = fill.variables(remote.url.as_deref().unwrap_or_default(), remote.variables.as_ref());
        let headers = (remote.headers.iter().flatten())
            .map(|header| (header.name.clone(), fill.key_value(header, "header")))
            .collect();
        Self { url, sse: remote.kind == "sse", headers }
    }
}

/// A package as a command line with its environment.
struct Command {
    /// What ToolHive runs: an image, or `npx://…` / `uvx://…`.
    toolhive: Option<String>,
    program: String,
    args: Vec<String>,
    /// The package's own arguments (after the package), which ToolHive passes after `--`.
    package_args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Command {
    fn of(package: &Package, client: Client, fill: &mut Fill) -> Result<Self, NoSnippet> {
        if package.transport.kind != "stdio" {
            return Err(NoSnippet::Unsupported(format!(
                "the package runs a {} server of its own: start it, then connect the client to its URL",
                package.transport.kind
            )));
        }
        let env: Vec<(String, String)> = (package.environment_variables.iter().flatten())
            .map(|variable| (variable.name.clone(), fill.key_value(variable, "environment")))
            .collect();
        let runtime: Vec<String> =
            package.runtime_arguments.iter().flatten().flat_map(|a| fill.argument(a)).collect();
        let package_args: Vec<String> =
            package.package_arguments.iter().flatten().flat_map(|a| fill.argument(a)).collect();
        let id = &package.identifier;
        let (program, target, toolhive) = match (package.registry_type.as_str(), &package.version) {
            ("npm", Some(version)) => {
                ("npx", format!("{id}@{version}"), Some(format!("npx://{id}@{version}")))
            }
            ("npm", None) => ("npx", id.clone(), Some(format!("npx://{id}"))),
            ("pypi", Some(version)) => {
                ("uvx", format!("{id}=={version}"), Some(format!("uvx://{id}@{version}")))
            }
            ("pypi", None) => ("uvx", id.clone(), Some(format!("uvx://{id}"))),
            ("oci", version) => {
                let tagged =
                    id.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
                let image = match version {
                    Some(version) if !tagged => format!("{id}:{version}"),
                    _ => id.clone(),
                };
                ("docker", image.clone(), Some(image))
            }
            ("nuget", Some(version)) => ("dnx", format!("{id}@{version}"), None),
            ("nuget", None) => ("dnx", id.clone(), None),
            (other, _) => {
                return Err(NoSnippet::Unsupported(format!(
                    "a {other} package is installed by hand: {id} (the client cannot run it from a command)"
                )));
            }
        };
        if client == Client::Toolhive && toolhive.is_none() {
            return Err(NoSnippet::Unsupported(format!(
                "ToolHive does not run {} packages",
                package.registry_type
            )));
        }
        let program = package.runtime_hint.clone().unwrap_or_else(|| program.to_owned());
        let mut args = match program.as_str() {
            "docker" => {
                let mut args = vec!["run".to_owned(), "-i".to_owned(), "--rm".to_owned()];
                args.extend(runtime);
                // The container sees only the variables it is given.
                args.extend(env.iter().flat_map(|(name, _)| ["-e".to_owned(), name.clone()]));
                args
            }
            "npx" if runtime.is_empty() => vec!["-y".to_owned()],
            "dnx" => runtime.into_iter().chain(["--yes".to_owned()]).collect(),
            _ => runtime,
        };
        args.push(target);
        args.extend(package_args.iter().cloned());
        Ok(Self { toolhive, program, args, package_args, env })
    }
}

fn object(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>())
}

fn pretty(value: &Value) -> String {
    // A JSON value of strings, arrays and objects always serialises.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn remote_snippet(client: Client, key: &str, remote: &Remote) -> String {
    let transport = if remote.sse { "sse" } else { "http" };
    let header_words = || {
        remote.headers.iter().flat_map(|(name, value)| ["--header".to_owned(), format!("{name}: {value}")])
    };
    match client {
        Client::Vscode => {
            let mut entry = json!({"type": transport, "url": remote.url});
            if !remote.headers.is_empty() {
                entry["headers"] = object(&remote.headers);
            }
            pretty(&json!({"servers": {key: entry}}))
        }
        Client::Cursor => {
            let mut entry = json!({"url": remote.url});
            if !remote.headers.is_empty() {
                entry["headers"] = object(&remote.headers);
            }
            pretty(&json!({"mcpServers": {key: entry}}))
        }
        // Claude Desktop starts local servers: the mcp-remote bridge connects one to the URL.
        Client::ClaudeDesktop => {
            let args: Vec<String> = ["-y".to_owned(), "mcp-remote".to_owned(), remote.url.clone()]
                .into_iter()
                .chain(header_words())
                .collect();
            pretty(&json!({"mcpServers": {key: {"command": "npx", "args": args}}}))
        }
        Client::ClaudeCode => {
            let words =
                ["claude", "mcp", "add", "--transport", transport, key, &remote.url].map(str::to_owned);
            shell(words.into_iter().chain(header_words()))
        }
        Client::Toolhive => shell([
            "thv".to_owned(),
            "run".to_owned(),
            "--name".to_owned(),
            key.to_owned(),
            remote.url.clone(),
        ]),
    }
}

fn package_snippet(client: Client, key: &str, command: &Command) -> String {
    let entry = || {
        let mut entry = json!({"command": command.program, "args": command.args});
        if !command.env.is_empty() {
            entry["env"] = object(&command.env);
        }
        entry
    };
    match client {
        Client::Vscode => {
            let mut entry = entry();
            entry["type"] = json!("stdio");
            pretty(&json!({"servers": {key: entry}}))
        }
        Client::ClaudeDesktop | Client::Cursor => pretty(&json!({"mcpServers": {key: entry()}})),
        Client::ClaudeCode => {
            let mut words = vec!["claude".to_owned(), "mcp".to_owned(), "add".to_owned(), key.to_owned()];
            words.extend(
                command.env.iter().flat_map(|(name, value)| ["-e".to_owned(), format!("{name}={value}")]),
            );
            words.push("--".to_owned());
            words.push(command.program.clone());
            words.extend(command.args.iter().cloned());
            shell(words)
        }
        Client::Toolhive => {
            let mut words = vec!["thv".to_owned(), "run".to_owned(), "--name".to_owned(), key.to_owned()];
            words.extend(
                command.env.iter().flat_map(|(name, value)| ["-e".to_owned(), format!("{name}={value}")]),
            );
            // Checked in Command::of: only packages ToolHive runs get here.
            words.push(command.toolhive.clone().unwrap_or_default());
            if !command.package_args.is_empty() {
                words.push("--".to_owned());
                words.extend(command.package_args.iter().cloned());
            }
            shell(words)
        }
    }
}

/// Words as one POSIX shell line, each quoted when it needs to be.
fn shell(words: impl IntoIterator<Item = String>) -> String {
    let quote = |word: String| {
        let plain = !word.is_empty()
            && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_{}".contains(&b));
        if plain { word } else { format!("'{}'", word.replace('\'', "'\\''")) }
    };
    words.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(value: Value) -> ServerDetail {
        serde_json::from_value(value).unwrap()
    }

    fn npm() -> ServerDetail {
        detail(json!({
            "name": "io.github.acme/calendar", "description": "d", "version": "0.9.2",
            "packages": [{
                "registryType": "npm", "identifier": "@acme/calendar-mcp", "version": "0.9.2",
                "transport": {"type": "stdio"},
                "packageArguments": [{"type": "named", "name": "--week-start", "default": "monday"}],
                "environmentVariables": [
                    {"name": "CALENDAR_TOKEN", "description": "A token", "isRequired": true, "isSecret": true},
                    {"name": "CALENDAR_TZ", "default": "UTC"}
                ]
            }]
        }))
    }

    #[test]
    fn a_package_becomes_its_command_with_secrets_left_to_fill() {
        let vscode = install_config(&npm(), Client::Vscode).unwrap();
        let snippet: Value = serde_json::from_str(&vscode.snippet).unwrap();
        assert_eq!(
            snippet,
            json!({"servers": {"calendar": {
                "type": "stdio", "command": "npx",
                "args": ["-y", "@acme/calendar-mcp@0.9.2", "--week-start", "monday"],
                "env": {"CALENDAR_TOKEN": "{CALENDAR_TOKEN}", "CALENDAR_TZ": "UTC"}
            }}})
        );
        assert_eq!(
            vscode.to_fill,
            [ToFill {
                name: "CALENDAR_TOKEN".into(),
                kind: "environment",
                required: true,
                secret: true,
                description: Some("A token".into())
            }]
        );
        let claude_code = install_config(&npm(), Client::ClaudeCode).unwrap();
        assert_eq!(
            claude_code.snippet,
            "claude mcp add calendar -e CALENDAR_TOKEN={CALENDAR_TOKEN} -e CALENDAR_TZ=UTC -- npx -y @acme/calendar-mcp@0.9.2 --week-start monday"
        );
        let toolhive = install_config(&npm(), Client::Toolhive).unwrap();
        assert_eq!(
            toolhive.snippet,
            "thv run --name calendar -e CALENDAR_TOKEN={CALENDAR_TOKEN} -e CALENDAR_TZ=UTC npx://@acme/calendar-mcp@0.9.2 -- --week-start monday"
        );
    }

    #[test]
    fn a_remote_is_preferred_and_its_url_variables_and_headers_are_left_to_fill() {
        let server = detail(json!({
            "name": "com.example/metrics", "description": "d", "version": "1.0.0",
            "packages": [{"registryType": "npm", "identifier": "metrics", "transport": {"type": "stdio"}}],
            "remotes": [
                {"type": "sse", "url": "https://old.example.com/sse"},
                {"type": "streamable-http", "url": "https://{region}.example.com/mcp",
                 "variables": {"region": {"isRequired": true, "choices": ["eu", "us"]}},
                 "headers": [{"name": "Authorization", "value": "Bearer {token}", "isSecret": true,
                              "variables": {"token": {"isRequired": true, "isSecret": true}}}]}
            ]
        }));
        let cursor = install_config(&server, Client::Cursor).unwrap();
        assert_eq!(cursor.source, "https://{region}.example.com/mcp");
        let snippet: Value = serde_json::from_str(&cursor.snippet).unwrap();
        assert_eq!(snippet["mcpServers"]["metrics"]["headers"]["Authorization"], "Bearer {token}");
        let names: Vec<&str> = cursor.to_fill.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["region", "token"]);
        assert!(cursor.to_fill[1].secret);
        let desktop: Value =
            serde_json::from_str(&install_config(&server, Client::ClaudeDesktop).unwrap().snippet).unwrap();
        assert_eq!(
            desktop["mcpServers"]["metrics"]["args"],
            json!([
                "-y",
                "mcp-remote",
                "https://{region}.example.com/mcp",
                "--header",
                "Authorization: Bearer {token}"
            ])
        );
        assert_eq!(
            install_config(&server, Client::ClaudeCode).unwrap().snippet,
            "claude mcp add --transport http metrics https://{region}.example.com/mcp --header 'Authorization: Bearer {token}'"
        );
    }

    #[test]
    fn an_image_runs_with_docker_and_a_bundle_has_no_command() {
        let oci = detail(json!({
            "name": "com.example/inventory", "description": "d", "version": "1.2.0",
            "packages": [{"registryType": "oci", "identifier": "ghcr.io/example/inventory", "version": "1.2.0",
                          "transport": {"type": "stdio"},
                          "environmentVariables": [{"name": "DSN", "value": "postgres://{user}@db/inv",
                                                    "variables": {"user": {"default": "readonly"}}}]}]
        }));
        let cursor: Value =
            serde_json::from_str(&install_config(&oci, Client::Cursor).unwrap().snippet).unwrap();
        assert_eq!(
            cursor["mcpServers"]["inventory"],
            json!({"command": "docker", "args": ["run", "-i", "--rm", "-e", "DSN", "ghcr.io/example/inventory:1.2.0"],
                   "env": {"DSN": "postgres://readonly@db/inv"}})
        );
        let bundle = detail(json!({
            "name": "com.example/bundle", "description": "d", "version": "1.0.0",
            "packages": [{"registryType": "mcpb", "identifier": "https://example.com/b.mcpb", "transport": {"type": "stdio"}}]
        }));
        assert!(matches!(install_config(&bundle, Client::Vscode), Err(NoSnippet::Unsupported(_))));
        let empty = detail(json!({"name": "com.example/none", "description": "d", "version": "1.0.0"}));
        assert_eq!(install_config(&empty, Client::Cursor), Err(NoSnippet::NothingToRun));
    }

    /// Every `{name}` a snippet holds, in order of first appearance.
    fn placeholders(snippet: &str) -> Vec<String> {
        let mut found = Vec::new();
        for part in snippet.split('{').skip(1) {
            if let Some((name, _)) = part.split_once('}')
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && !found.iter().any(|f| f == name)
            {
                found.push(name.to_owned());
            }
        }
        found
    }

    /// Over the project's server.json fixtures, which use every field of the schema: each client gets a snippet
    /// (JSON that parses, or a shell line) or says why not, and every placeholder left is listed to fill.
    #[test]
    fn every_fixture_gets_a_snippet_for_every_client_whose_placeholders_are_all_listed() {
        let mut snippets = 0;
        for (file, document) in registry_spec::fixtures::server_json() {
            let server = detail(document);
            for client in Client::ALL {
                let config = match install_config(&server, client) {
                    Ok(config) => config,
                    Err(NoSnippet::Unsupported(why)) => {
                        assert!(!why.is_empty(), "{file} {client:?}");
                        continue;
                    }
                    Err(other) => panic!("{file} {client:?}: {other}"),
                };
                snippets += 1;
                if config.format == "json" {
                    serde_json::from_str::<Value>(&config.snippet)
                        .unwrap_or_else(|e| panic!("{file} {client:?}: {e}"));
                }
                let listed: Vec<&str> = config.to_fill.iter().map(|f| f.name.as_str()).collect();
                for placeholder in placeholders(&config.snippet) {
                    assert!(
                        listed.contains(&placeholder.as_str()),
                        "{file} {client:?}: {{{placeholder}}} is not listed: {}",
                        config.snippet
                    );
                }
            }
        }
        assert!(snippets >= 30, "{snippets} snippets");
    }

    #[test]
    fn shell_words_are_quoted_only_when_they_need_it() {
        assert_eq!(
            shell(["a".into(), "b c".into(), "it's".into(), "{X}".into(), String::new()]),
            "a 'b c' 'it'\\''s' {X} ''"
        );
    }
}
