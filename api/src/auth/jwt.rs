//! Access tokens as compact JWS (RFC 7515), verified the way RFC 8725 and RFC 9068 ask a resource server to:
//! the algorithm comes from the provider's allow-list (the header only picks among them), the key must fit
//! the algorithm (no `none`, no HMAC, RSA of 2048 bits at least), header URLs (`jku`, `x5u`, `jwk`) are
//! ignored, and the claims are checked here, not with an ID-token verifier: `exp` required, `nbf`
//! honoured, both with the leeway, and `aud` (a string or an array) containing the audience.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeyType, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm};
use registry_runtime::config::SigningAlgorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A token that parsed as a compact JWS; nothing about it is trusted yet.
#[derive(Debug)]
pub struct Jws<'a> {
    pub header: Header,
    signing_input: &'a str,
    signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

/// The JOSE header fields that matter here; everything else (`jku`, `x5u`, `jwk`, …) is ignored.
#[derive(Debug, Deserialize)]
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// Extensions the token says a recipient must understand (RFC 7515 §4.1.11); we understand none.
    pub crit: Option<Value>,
}

/// Why a token was refused: logged at debug level and kept in the audit trail for operators, with the
/// token's own strings cut to [`clip`]'s length; a client only hears "invalid token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("not a compact JWS")]
    NotJws,
    #[error("not a compact JWS, and no provider introspects opaque tokens")]
    NotIntrospected,
    #[error("the header lists critical extensions (`crit`)")]
    CriticalExtension,
    #[error("no `iss` claim")]
    NoIssuer,
    #[error("issuer {0:?} is not a configured provider")]
    UnknownIssuer(String),
    #[error("algorithm {0:?} is not allowed for this provider")]
    AlgorithmNotAllowed(String),
    #[error("`typ` {0:?} is not at+jwt")]
    WrongType(Option<String>),
    #[error("no `kid` in the header")]
    NoKeyId,
    #[error("no key {0:?} in the provider's key set")]
    UnknownKey(String),
    #[error("the key does not fit the algorithm: {0}")]
    KeyMismatch(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("no `exp` claim")]
    NoExpiry,
    #[error("expired")]
    Expired,
    #[error("not valid yet (`nbf`)")]
    NotYetValid,
    #[error("`aud` does not contain {0:?}")]
    WrongAudience(String),
    #[error("the provider's keys are not loaded yet")]
    KeysNotLoaded,
    #[error("no `auth_method` and `permissions` claims")]
    NoPermissions,
    #[error("not a token this registry issued (in anonymous mode no other token can be checked)")]
    NotIssuedHere,
    #[error("introspection: {0}")]
    Introspection(String),
}

/// A string from a token, cut to 64 characters for logs and the audit trail.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Splits and decodes a compact JWS. Anything that is not three base64url parts with JSON-object header and
/// payload is [`Rejection::NotJws`] (an opaque token, perhaps).
pub fn parse(token: &str) -> Result<Jws<'_>, Rejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::NotJws);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Rejection::NotJws);
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| Rejection::NotJws)?;
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(&decode(payload)?) else {
        return Err(Rejection::NotJws);
    };
    if header.crit.is_some() {
        return Err(Rejection::CriticalExtension);
    }
    let signing_input = &token[..token.len() - signature.len() - 1];
    Ok(Jws { header, signing_input, signature: decode(signature)?, claims })
}

impl Jws<'_> {
    /// The `iss` claim, read before anything is verified, to pick the provider whose keys may verify it.
    pub fn unverified_issuer(&self) -> Result<&str, Rejection> {
        self.claims.get("iss").and_then(Value::as_str).ok_or(Rejection::NoIssuer)
    }

    /// The header's algorithm, if it is one of `allowed`.
    pub fn algorithm(&self, allowed: &[SigningAlgorithm]) -> Result<SigningAlgorithm, Rejection> {
        allowed
            .iter()
            .copied()
            .find(|alg| alg.as_str() == self.header.alg)
            .ok_or_else(|| Rejection::AlgorithmNotAllowed(clip(&self.header.alg)))
    }

    /// RFC 9068 explicit typing: `at+jwt` or `application/at+jwt`, in any case.
    pub fn check_type(&self) -> Result<(), Rejection> {
        let typ = self.header.typ.as_deref().map(str::to_ascii_lowercase);
        match typ.as_deref() {
            Some("at+jwt" | "application/at+jwt") => Ok(()),
            _ => Err(Rejection::WrongType(self.header.typ.as_deref().map(clip))),
        }
    }

    /// What the signature covers, and the signature, for a verifier of its own (registry tokens).
    pub fn signed(&self) -> (&[u8], &[u8]) {
        (self.signing_input.as_bytes(), &self.signature)
    }

    /// Verifies the signature with `key` under `alg`, after checking the key fits the algorithm.
    pub fn verify_signature(&self, key: &CoreJsonWebKey, alg: SigningAlgorithm) -> Result<(), Rejection> {
        check_key(key, alg)?;
        key.verify_signature(&core_algorithm(alg), self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| Rejection::BadSignature)
    }
}

/// The key must be of the algorithm's type (never `oct`), carry no other algorithm, allow signing, and an
/// RSA modulus must have 2048 bits at least (RFC 7518 §3.3).
fn check_key(key: &CoreJsonWebKey, alg: SigningAlgorithm) -> Result<(), Rejection> {
    let wanted = match alg {
        SigningAlgorithm::ES256 | SigningAlgorithm::ES384 => CoreJsonWebKeyType::EllipticCurve,
        _ => CoreJsonWebKeyType::RSA,
    };
    let mismatch = |why: &str| Err(Rejection::KeyMismatch(why.to_owned()));
    if *key.key_type() != wanted {
        return mismatch("wrong key type");
    }
    match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => {}
        JsonWebKeyAlgorithm::Algorithm(declared) if *declared == core_algorithm(alg) => {}
        _ => return mismatch("the key is for another algorithm"),
    }
    if key.key_use().is_some_and(|key_use| !openidconnect::JsonWebKeyUse::allows_signature(key_use)) {
        return mismatch("the key is not for signatures");
    }
    if wanted == CoreJsonWebKeyType::RSA && rsa_modulus_bytes(key).is_some_and(|bytes| bytes < 256) {
        return mismatch("RSA key shorter than 2048 bits");
    }
    Ok(())
}

fn rsa_modulus_bytes(key: &CoreJsonWebKey) -> Option<usize> {
    let json = serde_json::to_value(key).ok()?;
    let n = URL_SAFE_NO_PAD.decode(json.get("n")?.as_str()?).ok()?;
    Some(n.iter().skip_while(|b| **b == 0).count())
}

pub fn core_algorithm(alg: SigningAlgorithm) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlgorithm::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlgorithm::RS384 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        SigningAlgorithm::RS512 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        SigningAlgorithm::PS256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        SigningAlgorithm::PS384 => CoreJwsSigningAlgorithm::RsaSsaPssSha384,
        SigningAlgorithm::PS512 => CoreJwsSigningAlgorithm::RsaSsaPssSha512,
        SigningAlgorithm::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlgorithm::ES384 => CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    }
}

/// The time claims and the audience: [`check_times`], and `aud`, a string or an array, must contain
/// `audience`.
pub fn check_claims(
    claims: &Map<String, Value>,
    audience: &str,
    leeway: Duration,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    check_times(claims, leeway, now)?;
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&audience) {
        return Err(Rejection::WrongAudience(audience.to_owned()));
    }
    Ok(())
}

/// `exp` is required and `nbf` honoured, both with `leeway`.
pub fn check_times(
    claims: &Map<String, Value>,
    leeway: Duration,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
    let now = now.timestamp();
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as i64);
    let expires = time("exp").ok_or(Rejection::NoExpiry)?;
    if now > expires.saturating_add(leeway) {
        return Err(Rejection::Expired);
    }
    if time("nbf").is_some_and(|not_before| not_before > now.saturating_add(leeway)) {
        return Err(Rejection::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(claims) => claims,
            _ => Map::new(),
        }
    }

    #[test]
    fn time_claims_use_the_leeway_and_exp_is_required() {
        let now = Utc::now();
        let t = now.timestamp();
        let leeway = Duration::from_secs(30);
        let check = |value: Value| check_claims(&claims(value), "api", leeway, now);

        assert_eq!(check(serde_json::json!({"aud": "api", "exp": t - 10})), Ok(()), "inside the leeway");
        assert_eq!(check(serde_json::json!({"aud": "api", "exp": t - 120})), Err(Rejection::Expired));
        assert_eq!(check(serde_json::json!({"aud": "api"})), Err(Rejection::NoExpiry));
        assert_eq!(
            check(serde_json::json!({"aud": "api", "exp": t + 60, "nbf": t + 300})),
            Err(Rejection::NotYetValid)
        );
        assert_eq!(check(serde_json::json!({"aud": "api", "exp": t + 60, "nbf": t + 20})), Ok(()));
    }

    #[test]
    fn the_audience_may_be_a_string_or_an_array_and_must_contain_ours() {
        let now = Utc::now();
        let exp = now.timestamp() + 60;
        let check = |aud: Value| {
            check_claims(&claims(serde_json::json!({"aud": aud, "exp": exp})), "api", Duration::ZERO, now)
        };

        assert_eq!(check("api".into()), Ok(()));
        assert_eq!(check(serde_json::json!(["other", "api"])), Ok(()));
        assert!(check("apis".into()).is_err());
        assert!(check(serde_json::json!(["other"])).is_err());
        assert!(check(Value::Null).is_err());
    }

    #[test]
    fn only_three_base64url_json_parts_are_a_jws() {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let token = format!(
            "{}.{}.{}",
            part(r#"{"alg":"RS256","kid":"k1"}"#),
            part(r#"{"iss":"https://idp"}"#),
            part("sig")
        );

        let parsed = parse(&token).unwrap();

        assert_eq!((parsed.header.alg.as_str(), parsed.header.kid.as_deref()), ("RS256", Some("k1")));
        assert_eq!(parsed.unverified_issuer(), Ok("https://idp"));
        assert_eq!(
            parsed.algorithm(&[SigningAlgorithm::ES256]),
            Err(Rejection::AlgorithmNotAllowed("RS256".into()))
        );
        for opaque in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            &format!("{}.{}.", part("[]"), part("{}")),
            "2YotnFZFEjr1zCsicMWpAA",
        ] {
            assert!(matches!(parse(opaque), Err(Rejection::NotJws)), "{opaque}");
        }
    }

    #[test]
    fn a_critical_extension_is_refused() {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let token = format!(
            "{}.{}.{}",
            part(r#"{"alg":"RS256","kid":"k1","crit":["exp"],"exp":1}"#),
            part(r#"{"iss":"https://idp"}"#),
            part("sig")
        );

        assert!(matches!(parse(&token), Err(Rejection::CriticalExtension)));
    }

    #[test]
    fn strings_from_a_token_are_clipped_to_64_characters() {
        assert_eq!(clip("RS256"), "RS256");
        assert_eq!(clip(&"é".repeat(64)), "é".repeat(64));
        assert_eq!(clip(&"é".repeat(1000)), format!("{}…", "é".repeat(64)));
    }
}
