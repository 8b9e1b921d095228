//! Publishing to a managed registry: the one path that the API's publish and validate routes and
//! `registry-admin publish` share. Validation runs first; the store then applies
//! the rules that depend on the registry's data, in the transaction that writes.

use serde_json::Value;

use registry_core::model::ServerJson;
use registry_core::publish::{Conflict, NotManaged, conflict_issue, ensure_managed};
use registry_core::registry::RegistryConfig;
use registry_core::validation::{self, Issue, IssueKind, PackageCheck, ValidationConfig};

use crate::error::StoreError;
use crate::handle::Store;
use crate::records::{Inserted, StoredVersion};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    NotManaged(#[from] NotManaged),
    /// The document breaks a rule; the issues say where. Warnings may be among them.
    #[error("the server.json is not valid: {}", validation::summary(.0.iter().filter(|i| i.is_error())))]
    Invalid(Vec<Issue>),
    #[error(transparent)]
    Conflict(Conflict),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PublishError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(conflict) => Self::Conflict(conflict),
            other => Self::Store(other),
        }
    }
}

/// What publishing needs besides the document.
pub struct Publisher<'a> {
    pub store: &'a Store,
    pub validation: &'a ValidationConfig,
    pub packages: &'a dyn PackageCheck,
}

impl Publisher<'_> {
    /// Validates and stores one server.json. Returns the stored version (with whether this call stored it:
    /// a retry of a publish that was stored already stores nothing) and any warnings.
    pub async fn publish(
        &self,
        registry: &RegistryConfig,
        document: Value,
    ) -> Result<(Inserted, Vec<Issue>), PublishError> {
        ensure_managed(registry)?;
        let (server, warnings) = self.valid(document).await?;
        let inserted = self.store.insert_version(&registry.name, &server).await?;
        Ok((inserted, warnings))
    }

    /// Validates one server.json as a publish would, and stores it in place of the version it names (an
    /// admin edit: see [`Store::replace_version`]). `None` when that version is not stored, or is deleted.
    pub async fn edit(
        &self,
        registry: &RegistryConfig,
        document: Value,
    ) -> Result<(Option<StoredVersion>, Vec<Issue>), PublishError> {
        ensure_managed(registry)?;
        let (server, warnings) = self.valid(document).await?;
        let replaced = self.store.replace_version(&registry.name, &server).await?;
        Ok((replaced, warnings))
    }

    /// The document, normalised and parsed, with its warnings; or every issue when one is an error.
    async fn valid(&self, document: Value) -> Result<(ServerJson, Vec<Issue>), PublishError> {
        let mut document = document;
        validation::normalize(&mut document);
        let (server, issues) = self.checked(&document).await;
        match server.filter(|_| !issues.iter().any(Issue::is_error)) {
            Some(server) => Ok((server, issues)),
            None => Err(PublishError::Invalid(issues)),
        }
    }

    /// Every check publishing would make, including the registry's data, without storing anything.
    pub async fn check(
        &self,
        registry: &RegistryConfig,
        document: &Value,
    ) -> Result<Vec<Issue>, PublishError> {
        let (server, mut issues) = self.normalized_and_checked(registry, document).await?;
        if let Some(server) = server.filter(|_| !issues.iter().any(Issue::is_error)) {
            let conflicts = self.store.publish_conflicts(&registry.name, &server).await?;
            issues.extend(conflicts.iter().map(|conflict| conflict_issue(&server, conflict)));
        }
        Ok(issues)
    }

    /// The checks of the document alone, none of the registry's data: what a caller without a token may learn
    /// (a 422 from publish comes from these; conflicts are 409).
    pub async fn check_document(
        &self,
        registry: &RegistryConfig,
        document: &Value,
    ) -> Result<Vec<Issue>, PublishError> {
        Ok(self.normalized_and_checked(registry, document).await?.1)
    }

    /// [`Publisher::checked`] on the document as publishing normalises it, for a managed registry.
    async fn normalized_and_checked(
        &self,
        registry: &RegistryConfig,
        document: &Value,
    ) -> Result<(Option<ServerJson>, Vec<Issue>), PublishError> {
        ensure_managed(registry)?;
        let mut document = document.clone();
        validation::normalize(&mut document);
        Ok(self.checked(&document).await)
    }

    /// The document's issues, and the parsed server when it can be stored as far as the document goes.
    async fn checked(&self, document: &Value) -> (Option<ServerJson>, Vec<Issue>) {
        let mut issues = validation::validate(document, self.validation);
        if issues.iter().any(Issue::is_error) {
            return (None, issues);
        }
        let server = match ServerJson::from_value(document.clone()) {
            Ok(server) => server,
            Err(e) => {
                issues.push(Issue::error(IssueKind::Schema, "", e.to_string()));
                return (None, issues);
            }
        };
        let name = server.name().as_str();
        for (index, package) in server.detail().packages.iter().flatten().enumerate() {
            issues.extend(self.packages.check(name, index, package).await);
        }
        (Some(server), issues)
    }
}
