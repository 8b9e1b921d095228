//! What a request addresses, and how an object is served under it: shared by the list and the watch.

use serde_json::{Value, json};

use super::GROUP;

/// What a request addresses: `/apis/{group}/{version}[/namespaces/{ns}]/{plural}`.
#[derive(Clone)]
pub(super) struct Target {
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
}

pub(super) fn target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["apis", group, version, "namespaces", namespace, plural] if *group == GROUP => Some(Target {
            version: (*version).to_owned(),
            namespace: Some((*namespace).to_owned()),
            plural: (*plural).to_owned(),
        }),
        ["apis", group, version, plural] if *group == GROUP => {
            Some(Target { version: (*version).to_owned(), namespace: None, plural: (*plural).to_owned() })
        }
        _ => None,
    }
}

pub(super) fn matches(target: &Target, plural: &str, namespace: &str) -> bool {
    plural == target.plural && target.namespace.as_deref().is_none_or(|ns| ns == namespace)
}

/// The object as served under the requested version (the versions share one schema).
pub(super) fn served(object: &Value, version: &str) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(format!("{GROUP}/{version}"));
    object
}
