//! `auth.publisherTokens`: the tokens the registry issues itself, in exchange for a proof of who is calling,
//! as the official registry does for its publisher CLI (`mcp-publisher login <method>`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use registry_core::duration::humantime_serde;

use super::publisher_methods::PublisherMethods;

/// How long a registry token lives unless configured: the official registry's five minutes.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

/// The namespace the `none` method grants unless configured, as upstream.
pub const ANONYMOUS_NAMESPACE: &str = "io.modelcontextprotocol.anonymous/*";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublisherTokensConfig {
    /// The Ed25519 seed (64 hex characters) every replica signs with; read by the API when it starts.
    /// Required with PostgreSQL; on the embedded database, without it, the process makes a key of its own
    /// when it starts (its tokens end with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<PathBuf>,
    /// Keys whose tokens are still accepted, for a rotation without downtime.
    pub previous_key_files: Vec<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// The tokens' `iss`: `auth.oauth.resourceUrl` unless configured, else `mcp-registry`.
    pub issuer: String,
    /// Name patterns no exchange may grant (a grant of `*` is exempt, as upstream).
    pub blocked_namespaces: Vec<String>,
    pub methods: PublisherMethods,
}

/// An Ed25519 seed: the 32 bytes a key file holds as 64 hex digits, as the official registry takes its key.
pub type Seed = [u8; 32];

/// Why a key file gives no seed; the text names the configuration key and the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("auth.publisherTokens.{key}: {file}: {source}")]
    Unreadable {
        key: String,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("auth.publisherTokens.{key}: {file}: must hold an Ed25519 seed: 64 hex digits")]
    Malformed { key: String, file: String },
}

impl PublisherTokensConfig {
    /// The signing seed (none without `signingKeyFile`), then the previous keys' seeds, read from their files.
    pub fn read_seeds(&self) -> Result<(Option<Seed>, Vec<Seed>), KeyFileError> {
        let signing =
            self.signing_key_file.as_deref().map(|file| read_seed("signingKeyFile", file)).transpose()?;
        let previous = (self.previous_key_files.iter().enumerate())
            .map(|(i, file)| read_seed(&format!("previousKeyFiles[{i}]"), file))
            .collect::<Result<_, _>>()?;
        Ok((signing, previous))
    }
}

fn read_seed(key: &str, file: &Path) -> Result<Seed, KeyFileError> {
    let (key, name) = (key.to_owned(), file.display().to_string());
    let text = std::fs::read_to_string(file).map_err(|source| KeyFileError::Unreadable {
        key: key.clone(),
        file: name.clone(),
        source,
    })?;
    registry_core::digest::unhex(text.trim())
        .and_then(|bytes| Seed::try_from(bytes).ok())
        .ok_or(KeyFileError::Malformed { key, file: name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(signing: &Path, previous: &[&Path]) -> PublisherTokensConfig {
        PublisherTokensConfig {
            signing_key_file: Some(signing.to_owned()),
            previous_key_files: previous.iter().map(|p| p.to_path_buf()).collect(),
            ttl: DEFAULT_TOKEN_TTL,
            issuer: "mcp-registry".into(),
            blocked_namespaces: Vec::new(),
            methods: PublisherMethods::default(),
        }
    }

    #[test]
    fn key_files_hold_64_hex_digits_and_a_bad_one_is_named_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
        std::fs::write(&good, format!("{}\n", "0a".repeat(32))).unwrap();
        std::fs::write(&bad, "0a0b").unwrap();
        assert_eq!(config(&good, &[&good]).read_seeds().unwrap(), (Some([10; 32]), vec![[10; 32]]));
        let malformed = config(&good, &[&good, &bad]).read_seeds().unwrap_err().to_string();
        assert_eq!(
            malformed,
            format!(
                "auth.publisherTokens.previousKeyFiles[1]: {}: must hold an Ed25519 seed: 64 hex digits",
                bad.display()
            )
        );
        let missing = config(&dir.path().join("none"), &[]).read_seeds().unwrap_err();
        assert!(matches!(missing, KeyFileError::Unreadable { .. }), "{missing}");
        assert!(missing.to_string().starts_with("auth.publisherTokens.signingKeyFile: "), "{missing}");
    }
}
