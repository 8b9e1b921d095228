//! Newtypes for the identifiers that cross the edge. Each is parsed once; past that point the type proves
//! the value is valid.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why an identifier was refused. The message is meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidName(pub String);

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A server name as the official registry defines it: `namespace/name`, 3–200 characters, matching
/// `^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]/[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerName(String);
string_newtype!(ServerName);

impl ServerName {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidName> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(InvalidName(format!(
                "server name must be {}-{} characters, got {len}",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        let Some((namespace, name)) = raw.split_once('/') else {
            return Err(InvalidName(format!("server name {raw:?} must have the form namespace/name")));
        };
        let namespace_ok = is_bounded_by_alnum(namespace)
            && namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let name_ok = is_bounded_by_alnum(name)
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if namespace_ok && name_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidName(format!(
                "server name {raw:?} must match namespace/name: letters, digits, '.', '-' in the namespace, \
                 also '_' in the name, each part starting and ending with a letter or digit"
            )))
        }
    }
}

/// At least two characters, the first and last ASCII letters or digits.
fn is_bounded_by_alnum(part: &str) -> bool {
    let bytes = part.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if bytes.len() >= 2 => {
            first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
        }
        _ => false,
    }
}

/// The name of one configured registry: a DNS label (RFC 1123), so it is safe in URL paths and metric labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryName(String);
string_newtype!(RegistryName);

impl RegistryName {
    pub const MAX_LEN: usize = 63;

    pub fn parse(raw: &str) -> Result<Self, InvalidName> {
        let bytes = raw.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidName(format!(
                "registry name {raw:?} must be a DNS label: 1-63 lowercase letters, digits or '-', \
                 starting and ending with a letter or digit"
            )))
        }
    }
}

/// A version string as stored: not empty (after trimming) and at most 255 characters. Whether it is
/// semver matters only for ordering (see [`crate::versioning`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(String);
string_newtype!(Version);

impl Version {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, InvalidName> {
        if raw.trim().is_empty() {
            return Err(InvalidName("version must not be empty".to_owned()));
        }
        let len = raw.chars().count();
        if len > Self::MAX_LEN {
            return Err(InvalidName(format!(
                "version must be at most {} characters, got {len}",
                Self::MAX_LEN
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_accepts_the_official_shapes() {
        for ok in ["io.github.user/weather", "a1/b2", "com.example/my_server.v2", "x-y.z/a-b_c.d"] {
            assert!(ServerName::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn server_name_rejects_what_the_official_rule_rejects() {
        let too_long = format!("io.example/{}", "a".repeat(200));
        for bad in [
            "noslash",
            "a/b",
            "-io.x/name",
            "io.x-/name",
            "io.x/name_",
            "io.x/_name",
            "io_x/name",
            "io.x/na me",
            "io.x/a/b",
            "",
            too_long.as_str(),
        ] {
            assert!(ServerName::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn registry_name_is_a_dns_label() {
        assert!(RegistryName::parse("mcp-upstream").is_ok());
        assert!(RegistryName::parse("a").is_ok());
        for bad in ["", "-a", "a-", "UPPER", "under_score", "dot.ted", &"a".repeat(64)] {
            assert!(RegistryName::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn version_must_be_non_empty_and_bounded() {
        assert!(Version::parse("1.0.0+build.5").is_ok());
        assert!(Version::parse("  ").is_err());
        assert!(Version::parse(&"1".repeat(256)).is_err());
        assert!(Version::parse(&"1".repeat(255)).is_ok());
    }

    #[test]
    fn newtypes_deserialize_through_parse() {
        let err = serde_json::from_str::<ServerName>("\"nope\"").unwrap_err();
        assert!(err.to_string().contains("namespace/name"));
        let ok: RegistryName = serde_json::from_str("\"internal\"").unwrap();
        assert_eq!(ok.as_str(), "internal");
    }
}
