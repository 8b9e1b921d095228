//! `publishRegistry` and `validation`: where the root publish routes write, and how strictly.

use serde_json::Value;

use super::Check;
use crate::config::raw::RawValidation;
use crate::config::{RegistryConfig, Source, ValidationConfig};
use registry_core::model::RegistryName;

/// The largest `validation.maxPublisherMetaBytes`: a publish body is at most 1 MiB.
const META_LIMIT_MAX: u64 = 1024 * 1024;

pub(super) fn validation(check: &mut Check, value: Option<Value>) -> Option<ValidationConfig> {
    let defaults = ValidationConfig::default();
    let Some(value) = value else { return Some(defaults) };
    let raw: RawValidation = check.section("validation", value)?;
    let max = raw.max_publisher_meta_bytes.map_or(Some(defaults.max_publisher_meta_bytes), |max| {
        if (1..=META_LIMIT_MAX).contains(&max) {
            usize::try_from(max).ok()
        } else {
            check.fail("validation.maxPublisherMetaBytes", format!("must be from 1 to {META_LIMIT_MAX}"));
            None
        }
    })?;
    Some(ValidationConfig {
        strict_repository: raw.strict_repository.unwrap_or(defaults.strict_repository),
        max_publisher_meta_bytes: max,
    })
}

/// `publishRegistry` must name a configured managed registry.
pub(super) fn publish_registry(
    check: &mut Check,
    raw: Option<String>,
    registries: &[RegistryConfig],
) -> Option<RegistryName> {
    let raw = raw?;
    let Some(registry) = registries.iter().find(|r| r.name.as_str() == raw) else {
        check.fail("publishRegistry", format!("{raw:?} is not one of the configured registries"));
        return None;
    };
    if registry.source != Source::Managed {
        check.fail(
            "publishRegistry",
            format!(
                "{raw:?} is a {} registry; only a managed registry accepts publishes",
                registry.source.kind()
            ),
        );
        return None;
    }
    Some(registry.name.clone())
}
