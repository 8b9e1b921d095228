//! Structural checks: the shape of a server.json as the 2025-12-11 schema defines it (required fields, types,
//! lengths, patterns, enums), plus the official registry's request rule that objects carry no properties it
//! does not know. Free-form places stay free: the publisher-provided `_meta` object and the keys of
//! `variables` maps.

use serde_json::{Map, Value};

use super::{Issue, IssueKind};
use crate::model::server_json::PUBLISHER_PROVIDED;

const SERVER_KEYS: &[&str] = &[
    "$schema",
    "name",
    "description",
    "version",
    "title",
    "websiteUrl",
    "repository",
    "icons",
    "packages",
    "remotes",
    "_meta",
];
const REPOSITORY_KEYS: &[&str] = &["url", "source", "id", "subfolder"];
const ICON_KEYS: &[&str] = &["src", "mimeType", "sizes", "theme"];
const PACKAGE_KEYS: &[&str] = &[
    "registryType",
    "registryBaseUrl",
    "identifier",
    "version",
    "fileSha256",
    "runtimeHint",
    "transport",
    "runtimeArguments",
    "packageArguments",
    "environmentVariables",
];
const TRANSPORT_KEYS: &[&str] = &["type", "url", "headers", "variables"];
const INPUT_KEYS: &[&str] =
    &["description", "isRequired", "format", "value", "isSecret", "default", "placeholder", "choices"];
const MIME_TYPES: &[&str] = &["image/png", "image/jpeg", "image/jpg", "image/svg+xml", "image/webp"];
const INPUT_FORMATS: &[&str] = &["string", "number", "boolean", "filepath"];
const TRANSPORT_TYPES: &[&str] = &["stdio", "streamable-http", "sse"];
const REMOTE_TYPES: &[&str] = &["streamable-http", "sse"];

/// Collects schema issues while walking a document.
struct Walk {
    issues: Vec<Issue>,
}

/// Where a value sits: `packages[0].transport.url`.
fn at(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

pub(super) fn check(document: &Value) -> Vec<Issue> {
    let mut walk = Walk { issues: Vec::new() };
    walk.server(document);
    walk.issues
}

impl Walk {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(Issue::error(IssueKind::Schema, path, message));
    }

    /// An object with only `allowed` keys and every `required` one.
    fn object<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.fail(path, "expected object");
            return None;
        };
        for key in object.keys().filter(|key| !allowed.contains(&key.as_str())) {
            self.fail(&at(path, key), "unexpected property");
        }
        for key in required.iter().filter(|key| !object.contains_key(**key)) {
            self.fail(path, format!("expected required property {key} to be present"));
        }
        Some(object)
    }

    fn string<'v>(&mut self, path: &str, value: Option<&'v Value>) -> Option<&'v str> {
        let value = value?;
        let text = value.as_str();
        if text.is_none() {
            self.fail(path, "expected string");
        }
        text
    }

    fn length(&mut self, path: &str, value: Option<&Value>, min: usize, max: Option<usize>) {
        let Some(text) = self.string(path, value) else { return };
        let len = text.chars().count();
        if len < min {
            self.fail(path, format!("expected length >= {min}"));
        }
        if let Some(max) = max.filter(|max| len > *max) {
            self.fail(path, format!("expected length <= {max}"));
        }
    }

    fn one_of(&mut self, path: &str, value: Option<&Value>, allowed: &[&str]) {
        if let Some(text) = self.string(path, value)
            && !allowed.contains(&text)
        {
            self.fail(path, format!("expected value to be one of \"{}\"", allowed.join(", ")));
        }
    }

    fn uri(&mut self, path: &str, value: Option<&Value>) {
        if let Some(text) = self.string(path, value)
            && url::Url::parse(text).is_err()
        {
            self.fail(path, "expected string to be an absolute URI");
        }
    }

    fn boolean(&mut self, path: &str, value: Option<&Value>) {
        if value.is_some_and(|v| !v.is_boolean()) {
            self.fail(path, "expected boolean");
        }
    }

    fn array<'v>(
        &mut self,
        path: &str,
        value: Option<&'v Value>,
    ) -> impl Iterator<Item = (String, &'v Value)> + use<'v> {
        let items = match value {
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => {
                self.fail(path, "expected array");
                &[]
            }
            None => &[],
        };
        let path = path.to_owned();
        items.iter().enumerate().map(move |(i, item)| (format!("{path}[{i}]"), item))
    }

    fn server(&mut self, document: &Value) {
        let Some(server) =
            self.object("", document, SERVER_KEYS, &["$schema", "name", "description", "version"])
        else {
            return;
        };
        self.length("$schema", server.get("$schema"), 1, None);
        self.uri("$schema", server.get("$schema"));
        self.name(server.get("name"));
        self.length("description", server.get("description"), 1, Some(100));
        self.length("title", server.get("title"), 1, Some(100));
        self.length("version", server.get("version"), 1, Some(255));
        self.uri("websiteUrl", server.get("websiteUrl"));
        if let Some(repository) = server.get("repository") {
            self.repository(repository);
        }
        for (path, icon) in self.array("icons", server.get("icons")) {
            self.icon(&path, icon);
        }
        for (path, package) in self.array("packages", server.get("packages")) {
            self.package(&path, package);
        }
        for (path, remote) in self.array("remotes", server.get("remotes")) {
            self.transport(&path, remote, REMOTE_TYPES);
        }
        if let Some(meta) = server.get("_meta")
            && let Some(meta) = self.object("_meta", meta, &[PUBLISHER_PROVIDED], &[])
            && meta.get(PUBLISHER_PROVIDED).is_some_and(|v| !v.is_object())
        {
            self.fail(&at("_meta", PUBLISHER_PROVIDED), "expected object");
        }
    }

    /// The schema's loose pattern `^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`; the stricter official rule is semantic.
    fn name(&mut self, value: Option<&Value>) {
        self.length("name", value, 3, Some(200));
        let Some(name) = value.and_then(Value::as_str) else { return };
        let valid = name.split_once('/').is_some_and(|(namespace, rest)| {
            !namespace.is_empty()
                && !rest.is_empty()
                && namespace.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
        if !valid {
            self.fail("name", "expected string to match pattern ^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$");
        }
    }

    fn repository(&mut self, value: &Value) {
        let Some(repository) = self.object("repository", value, REPOSITORY_KEYS, &["url", "source"]) else {
            return;
        };
        self.uri("repository.url", repository.get("url"));
        for key in ["source", "id", "subfolder"] {
            self.string(&at("repository", key), repository.get(key));
        }
    }

    fn icon(&mut self, path: &str, value: &Value) {
        let Some(icon) = self.object(path, value, ICON_KEYS, &["src"]) else { return };
        self.length(&at(path, "src"), icon.get("src"), 1, Some(255));
        self.uri(&at(path, "src"), icon.get("src"));
        self.one_of(&at(path, "mimeType"), icon.get("mimeType"), MIME_TYPES);
        self.one_of(&at(path, "theme"), icon.get("theme"), &["light", "dark"]);
        for (size_path, size) in self.array(&at(path, "sizes"), icon.get("sizes")) {
            if let Some(size) = self.string(&size_path, Some(size)) {
                let dims = size.split_once('x').is_some_and(|(w, h)| is_digits(w) && is_digits(h));
                if size != "any" && !dims {
                    self.fail(&size_path, "expected string to match pattern ^(\\d+x\\d+|any)$");
                }
            }
        }
    }

    fn package(&mut self, path: &str, value: &Value) {
        let required = ["registryType", "identifier", "transport"];
        let Some(package) = self.object(path, value, PACKAGE_KEYS, &required) else { return };
        for key in ["registryType", "identifier", "version"] {
            self.length(&at(path, key), package.get(key), 1, None);
        }
        self.uri(&at(path, "registryBaseUrl"), package.get("registryBaseUrl"));
        self.string(&at(path, "runtimeHint"), package.get("runtimeHint"));
        if let Some(sha) = self.string(&at(path, "fileSha256"), package.get("fileSha256"))
            && !(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            self.fail(&at(path, "fileSha256"), "expected string to match pattern ^[a-f0-9]{64}$");
        }
        if let Some(transport) = package.get("transport") {
            self.transport(&at(path, "transport"), transport, TRANSPORT_TYPES);
        }
        for key in ["runtimeArguments", "packageArguments"] {
            for (arg_path, argument) in self.array(&at(path, key), package.get(key)) {
                self.argument(&arg_path, argument);
            }
        }
        for (env_path, variable) in
            self.array(&at(path, "environmentVariables"), package.get("environmentVariables"))
        {
            self.input(&env_path, variable, &["name", "variables"], &["name"]);
        }
    }

    fn transport(&mut self, path: &str, value: &Value, types: &[&str]) {
        let Some(transport) = self.object(path, value, TRANSPORT_KEYS, &["type"]) else { return };
        self.one_of(&at(path, "type"), transport.get("type"), types);
        let url_path = at(path, "url");
        if let Some(url) = self.string(&url_path, transport.get("url")) {
            let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                self.fail(&url_path, "expected string to match pattern ^https?://[^\\s]+$");
            }
        }
        for (header_path, header) in self.array(&at(path, "headers"), transport.get("headers")) {
            self.input(&header_path, header, &["name", "variables"], &["name"]);
        }
        self.variables(&at(path, "variables"), transport.get("variables"));
    }

    fn argument(&mut self, path: &str, value: &Value) {
        let kind = value.get("type").and_then(Value::as_str);
        let (extra, required): (&[&str], &[&str]) = match kind {
            // The schema leaves valueHint to positional arguments; the official registry accepts it on both.
            Some("named") => (&["type", "name", "valueHint", "isRepeated", "variables"], &["type", "name"]),
            Some("positional") => (&["type", "valueHint", "isRepeated", "variables"], &["type"]),
            _ => (&["type", "name", "valueHint", "isRepeated", "variables"], &["type"]),
        };
        let Some(argument) = self.input(path, value, extra, required) else { return };
        self.one_of(&at(path, "type"), argument.get("type"), &["positional", "named"]);
        self.string(&at(path, "valueHint"), argument.get("valueHint"));
        self.boolean(&at(path, "isRepeated"), argument.get("isRepeated"));
        if kind == Some("positional")
            && !argument.contains_key("valueHint")
            && !argument.contains_key("value")
        {
            self.fail(path, "a positional argument needs valueHint or value");
        }
    }

    /// An `Input` with the `extra` keys of the type that extends it. Returns the object for those keys.
    fn input<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        extra: &[&str],
        required: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let allowed: Vec<&str> = INPUT_KEYS.iter().chain(extra).copied().collect();
        let input = self.object(path, value, &allowed, required)?;
        for key in ["description", "value", "default", "placeholder", "name"] {
            self.string(&at(path, key), input.get(key));
        }
        for key in ["isRequired", "isSecret"] {
            self.boolean(&at(path, key), input.get(key));
        }
        self.one_of(&at(path, "format"), input.get("format"), INPUT_FORMATS);
        for (choice_path, choice) in self.array(&at(path, "choices"), input.get("choices")) {
            self.string(&choice_path, Some(choice));
        }
        if extra.contains(&"variables") {
            self.variables(&at(path, "variables"), input.get("variables"));
        }
        Some(input)
    }

    fn variables(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let Some(variables) = value.as_object() else {
            self.fail(path, "expected object");
            return;
        };
        for (name, variable) in variables {
            self.input(&at(path, name), variable, &[], &[]);
        }
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
