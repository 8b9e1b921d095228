//! Who may write what, from a principal's claims: roles in ToolHive v1.x's model (each a list of claim
//! maps, OR across maps, AND across a map's keys, an array claim matching when it holds a value) and
//! namespaces, the server names a caller may publish and change, with the official pattern semantics.
//! Without `auth.authz` every authenticated caller holds every role and every name.

use axum::http::Method;
use registry_core::namespace;
use registry_runtime::config::{AuthzConfig, ClaimMatch};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The roles; `superAdmin` holds the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    SuperAdmin,
    ManageSources,
    ManageRegistries,
    ManageEntries,
}

/// A write, as the route it came through names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    ChangeStatus,
    Delete,
    /// Replace a published version (superAdmin only: an edit can swap a published package).
    Edit,
    SyncNow,
    ProbeNow,
}

impl Action {
    /// The action of a write route, from its method and path.
    pub fn of(method: &Method, path: &str) -> Self {
        match *method {
            Method::PUT => Self::Edit,
            Method::DELETE => Self::Delete,
            Method::PATCH => Self::ChangeStatus,
            _ if path.ends_with("/sync") => Self::SyncNow,
            _ if path.ends_with("/probe") => Self::ProbeNow,
            _ => Self::Publish,
        }
    }

    pub fn role(self) -> Role {
        match self {
            Self::Publish | Self::ChangeStatus | Self::Delete => Role::ManageEntries,
            Self::Edit => Role::SuperAdmin,
            Self::SyncNow | Self::ProbeNow => Role::ManageSources,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::ChangeStatus => "status",
            Self::Delete => "delete",
            Self::Edit => "edit",
            Self::SyncNow => "sync",
            Self::ProbeNow => "probe",
        }
    }
}

/// What a principal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub roles: Vec<Role>,
    /// Name patterns it may publish and change; `None` when unlimited.
    pub namespaces: Option<Vec<String>>,
}

impl Grants {
    /// Everything: anonymous mode, or oauth mode without `auth.authz`.
    pub fn all() -> Self {
        Self {
            roles: vec![Role::SuperAdmin, Role::ManageSources, Role::ManageRegistries, Role::ManageEntries],
            namespaces: None,
        }
    }

    pub fn of(authz: Option<&AuthzConfig>, claims: &Map<String, Value>) -> Self {
        let Some(authz) = authz else { return Self::all() };
        let holds = |maps: &[ClaimMatch]| maps.iter().any(|map| matches(map, claims));
        if holds(&authz.roles.super_admin) {
            return Self::all();
        }
        let roles = [
            (Role::ManageSources, &authz.roles.manage_sources),
            (Role::ManageRegistries, &authz.roles.manage_registries),
            (Role::ManageEntries, &authz.roles.manage_entries),
        ]
        .into_iter()
        .filter(|(_, maps)| holds(maps))
        .map(|(role, _)| role)
        .collect();
        let namespaces = (!authz.namespaces.is_empty()).then(|| {
            authz
                .namespaces
                .iter()
                .filter(|rule| matches(&rule.matcher, claims))
                .flat_map(|rule| rule.publish.iter().cloned())
                .collect()
        });
        Self { roles, namespaces }
    }

    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&Role::SuperAdmin) || self.roles.contains(&role)
    }

    /// Whether the server `name` is inside the principal's namespaces.
    pub fn may_name(&self, name: &str) -> bool {
        self.namespaces.as_ref().is_none_or(|patterns| patterns.iter().any(|p| namespace::matches(p, name)))
    }
}

/// Every key of `map` must be a claim whose value (a string, or any string of an array) is one it lists.
pub fn matches(map: &ClaimMatch, claims: &Map<String, Value>) -> bool {
    !map.is_empty()
        && map.iter().all(|(claim, wanted)| match claims.get(claim) {
            Some(Value::String(value)) => wanted.contains(value),
            Some(Value::Array(values)) => {
                values.iter().filter_map(Value::as_str).any(|v| wanted.iter().any(|w| w == v))
            }
            Some(Value::Bool(value)) => wanted.contains(&value.to_string()),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry_runtime::config::{NamespaceRule, Roles};

    fn claim_match(pairs: &[(&str, &[&str])]) -> ClaimMatch {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect()
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(claims) => claims,
            _ => Map::new(),
        }
    }

    #[test]
    fn each_write_route_names_its_action_and_the_role_it_needs() {
        let cases = [
            (Method::POST, "/v0.1/publish", Action::Publish, Role::ManageEntries),
            (Method::PATCH, "/v0.1/servers/x/versions/1/status", Action::ChangeStatus, Role::ManageEntries),
            (Method::DELETE, "/v0.1/servers/x/versions/1", Action::Delete, Role::ManageEntries),
            (Method::PUT, "/v0.1/servers/x/versions/1", Action::Edit, Role::SuperAdmin),
            (Method::POST, "/extension/v0/registries/files/sync", Action::SyncNow, Role::ManageSources),
            (Method::POST, "/extension/v0/registries/files/probe", Action::ProbeNow, Role::ManageSources),
        ];
        for (method, path, action, role) in cases {
            assert_eq!(Action::of(&method, path), action, "{method} {path}");
            assert_eq!(action.role(), role, "{action:?}");
        }
    }

    #[test]
    fn roles_match_and_across_keys_or_across_maps_and_arrays_by_intersection() {
        let authz = AuthzConfig {
            roles: Roles {
                super_admin: vec![claim_match(&[("role", &["super-admin"])])],
                manage_sources: vec![claim_match(&[("org", &["acme"]), ("role", &["admin"])])],
                manage_entries: vec![
                    claim_match(&[("groups", &["publishers"])]),
                    claim_match(&[("role", &["writer", "admin"])]),
                ],
                ..Roles::default()
            },
            namespaces: Vec::new(),
        };
        let grants = |value: Value| Grants::of(Some(&authz), &claims(value)).roles;

        assert_eq!(grants(serde_json::json!({"groups": ["devs", "publishers"]})), [Role::ManageEntries]);
        assert_eq!(
            grants(serde_json::json!({"org": "acme", "role": "admin"})),
            [Role::ManageSources, Role::ManageEntries]
        );
        assert_eq!(
            grants(serde_json::json!({"org": "contoso", "role": "admin"})),
            [Role::ManageEntries],
            "AND across keys"
        );
        assert!(grants(serde_json::json!({"groups": "devs"})).is_empty());
        assert!(
            Grants::of(Some(&authz), &claims(serde_json::json!({"role": "super-admin"})))
                .holds(Role::ManageSources),
            "superAdmin holds every role"
        );
        assert_eq!(Grants::of(None, &Map::new()), Grants::all(), "no authz: every role");
    }

    #[test]
    fn namespaces_follow_the_official_patterns_and_only_matching_rules_count() {
        let authz = AuthzConfig {
            roles: Roles::default(),
            namespaces: vec![
                NamespaceRule {
                    matcher: claim_match(&[("org", &["acme"])]),
                    publish: vec!["com.acme.*".into(), "io.github.acme/tool".into()],
                },
                NamespaceRule { matcher: claim_match(&[("org", &["contoso"])]), publish: vec!["*".into()] },
            ],
        };
        let acme = Grants::of(Some(&authz), &claims(serde_json::json!({"org": "acme"})));
        let nobody = Grants::of(Some(&authz), &claims(serde_json::json!({"org": "other"})));

        assert!(acme.may_name("com.acme.platform/ticket-desk"));
        assert!(acme.may_name("io.github.acme/tool"));
        assert!(!acme.may_name("io.github.acme/other"));
        assert!(!acme.may_name("com.acmex/escape"), "com.acme.* does not cover com.acmex");
        assert!(!acme.may_name("io.github.evil/tool"));
        assert!(!nobody.may_name("com.acme.platform/x"), "no matching rule: no names");
        assert!(
            Grants::of(Some(&authz), &claims(serde_json::json!({"org": "contoso"})))
                .may_name("anything/at-all")
        );
    }
}
