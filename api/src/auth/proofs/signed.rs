//! What the `dns` and `http` proofs share: the domain a caller claims, the timestamp it signed, and the
//! `v=MCPv1; k=…; p=…` records that publish its keys. The CLI signs the bytes of an RFC 3339 UTC timestamp
//! (`2026-04-25T12:00:00Z`) with an Ed25519 seed or a P-384 scalar; any published key that verifies is
//! enough.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use p384::ecdsa::signature::Verifier as _;

/// How far a signed timestamp may lie from this registry's clock, either way, as upstream.
pub const WINDOW_SECONDS: i64 = 15;

/// Why a proof is refused: bad input (400), a proof that does not hold (401), or a partner that cannot
/// answer (503), with a detail saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    BadRequest(String),
    Refused(String),
    /// A partner of the registry's (GitHub, or the key set of GitHub Actions) cannot answer: 503, not the
    /// caller's fault.
    Unavailable(String),
}

/// The domain as a DNS name of two labels at least: never an IP literal, `localhost` or a bad label.
/// Returned in lower case, without a trailing dot.
pub fn domain(raw: &str) -> Result<String, ProofError> {
    let bad = |why: &str| Err(ProofError::BadRequest(format!("domain {raw:?} {why}")));
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    // As URLs read hosts: `127.0x1` and `2130706433` are IPv4 addresses there, whatever their labels look like.
    if !matches!(url::Host::parse(&domain), Ok(url::Host::Domain(_))) {
        return bad("is an IP address, or not a host name: a proof is for a domain name");
    }
    if domain.is_empty() || domain.len() > 253 {
        return bad("must be a domain name of 1 to 253 characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return bad("has one label: a proof is for a public domain such as example.com");
    }
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if let Some(label) = labels.iter().find(|label| !label_ok(label)) {
        return bad(&format!(
            "has the label {label:?}: labels are 1 to 63 letters, digits or hyphens, not starting or ending with one"
        ));
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return bad("ends in a numeric label");
    }
    Ok(domain)
}

/// The timestamp, when it lies within [`WINDOW_SECONDS`] of `now`; else what the skew is.
pub fn timestamp(raw: &str, now: DateTime<Utc>) -> Result<(), ProofError> {
    let signed = DateTime::parse_from_rfc3339(raw).map_err(|_| {
        ProofError::BadRequest(format!(
            "timestamp {raw:?} is not an RFC 3339 time such as 2026-04-25T12:00:00Z"
        ))
    })?;
    let skew = signed.with_timezone(&Utc).signed_duration_since(now).num_milliseconds();
    if skew.abs() <= WINDOW_SECONDS * 1000 {
        return Ok(());
    }
    let (amount, side) = if skew < 0 { (-skew / 1000, "behind") } else { (skew / 1000, "ahead of") };
    Err(ProofError::Refused(format!(
        "the signed timestamp is {amount} s {side} this registry's clock; it must be within {WINDOW_SECONDS} s: \
         check the signing machine's clock, and sign again"
    )))
}

/// A signed timestamp for `domain`, as the `dns` and `http` exchanges take it.
pub struct DomainClaim<'a> {
    pub domain: &'a str,
    pub timestamp: &'a str,
    pub signed_timestamp: &'a str,
}

/// A key published for proofs.
#[derive(Debug, Clone)]
pub enum ProofKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// A record naming an algorithm or key this registry cannot use, kept to say so in a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub fingerprint: String,
    pub why: &'static str,
}

/// The keys of every `v=MCPv1; k=<alg>; p=<base64>` found in `texts` (matched anywhere in each, as
/// upstream), and those that could not be read.
pub fn keys(texts: &[String]) -> (Vec<(String, ProofKey)>, Vec<Unusable>) {
    let (mut keys, mut unusable) = (Vec::new(), Vec::new());
    for text in texts {
        for (algorithm, encoded) in records(text) {
            let fingerprint = format!("{algorithm}:{}", encoded.get(..8).unwrap_or(encoded));
            match key(algorithm, encoded) {
                Ok(key) => keys.push((fingerprint, key)),
                Err(why) => unusable.push(Unusable { fingerprint, why }),
            }
        }
    }
    (keys, unusable)
}

/// The `(k, p)` pairs of the records in `text`.
fn records(text: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("v=MCPv1;") {
        rest = &rest[at + "v=MCPv1;".len()..];
        let Some(after_k) = rest.trim_start().strip_prefix("k=") else { continue };
        let Some((algorithm, after_alg)) = after_k.split_once(';') else { continue };
        let Some(after_p) = after_alg.trim_start().strip_prefix("p=") else { continue };
        let end = after_p
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            .unwrap_or(after_p.len());
        if end > 0 {
            found.push((algorithm, &after_p[..end]));
        }
    }
    found
}

fn key(algorithm: &str, encoded: &str) -> Result<ProofKey, &'static str> {
    let bytes = STANDARD.decode(encoded).map_err(|_| "its p= is not base64")?;
    match algorithm {
        "ed25519" => {
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| "an Ed25519 key is 32 bytes")?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(ProofKey::Ed25519)
                .map_err(|_| "not an Ed25519 key")
        }
        "ecdsap384" => {
            if bytes.len() != 49 || !matches!(bytes[0], 2 | 3) {
                return Err("a P-384 key is a 49-byte compressed point");
            }
            p384::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
                .map(ProofKey::P384)
                .map_err(|_| "not a P-384 point")
        }
        _ => Err("the algorithm is not ed25519 or ecdsap384"),
    }
}

impl ProofKey {
    /// Whether `signature` signs `message` with this key. A P-384 signature is `r || s`; the CLI drops
    /// leading zero bytes of each half, so a short one is read every way its halves could have been cut.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok()),
            Self::P384(key) => {
                p384_readings(signature).iter().any(|signature| key.verify(message, signature).is_ok())
            }
        }
    }
}

/// The P-384 signatures `bytes` may be: itself at 96 bytes; when shorter, each split into halves of at most
/// 48 bytes, each half padded on the left.
fn p384_readings(bytes: &[u8]) -> Vec<p384::ecdsa::Signature> {
    const HALF: usize = 48;
    if bytes.len() > 2 * HALF || bytes.len() < HALF {
        return Vec::new();
    }
    let shortest_r = bytes.len().saturating_sub(HALF).max(1);
    (shortest_r..=HALF.min(bytes.len() - 1))
        .filter_map(|r_len| {
            let (r, s) = bytes.split_at(r_len);
            let mut padded = [0u8; 2 * HALF];
            padded[HALF - r.len()..HALF].copy_from_slice(r);
            padded[2 * HALF - s.len()..].copy_from_slice(s);
            p384::ecdsa::Signature::from_slice(&padded).ok()
        })
        .collect()
}

/// Checks that one of the keys found in `texts` signed `timestamp`; `place` says where they were found.
pub fn verify(texts: &[String], place: &str, timestamp: &str, signature_hex: &str) -> Result<(), ProofError> {
    let signature = registry_core::digest::unhex(signature_hex)
        .ok_or_else(|| ProofError::BadRequest("signed_timestamp must be the signature in hex".to_owned()))?;
    let (keys, unusable) = keys(texts);
    if keys.iter().any(|(_, key)| key.verifies(timestamp.as_bytes(), &signature)) {
        return Ok(());
    }
    let mut detail = if keys.is_empty() {
        format!("no v=MCPv1 key record at {place}")
    } else {
        let found: Vec<&str> = keys.iter().map(|(fingerprint, _)| fingerprint.as_str()).collect();
        format!(
            "the signature does not verify with the {} key(s) at {place} ({}); publish the record that \
             `mcp-publisher login` prints for the key it signs with",
            found.len(),
            found.join(", ")
        )
    };
    for skipped in unusable {
        detail.push_str(&format!("; the record {} is unusable: {}", skipped.fingerprint, skipped.why));
    }
    Err(ProofError::Refused(detail))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;
    use registry_testkit::proofs::Prover;

    use super::*;

    fn ed25519_record(key: &ed25519_dalek::SigningKey) -> String {
        format!("v=MCPv1; k=ed25519; p={}", STANDARD.encode(key.verifying_key().to_bytes()))
    }

    #[test]
    fn domains_are_names_of_two_labels_or_more() {
        assert_eq!(domain("Example.COM.").unwrap(), "example.com");
        assert_eq!(domain("a-b.example.co.uk").unwrap(), "a-b.example.co.uk");
        for bad in [
            "127.0x1",
            "0x7f.1",
            "127.0.0.1",
            "::1",
            "[::1]",
            "localhost",
            "",
            "-a.example.com",
            "a_b.example.com",
            "a..b",
            "1.2.3.4.5",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(matches!(domain(bad), Err(ProofError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn a_timestamp_within_fifteen_seconds_either_way_is_accepted_and_a_skew_is_reported() {
        let now = DateTime::parse_from_rfc3339("2026-04-25T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp("2026-04-25T12:00:15Z", now), Ok(()));
        assert_eq!(timestamp("2026-04-25T11:59:45Z", now), Ok(()));
        let Err(ProofError::Refused(late)) = timestamp("2026-04-25T11:59:18Z", now) else { panic!() };
        assert!(late.starts_with("the signed timestamp is 42 s behind this registry's clock"), "{late}");
        let Err(ProofError::Refused(early)) = timestamp("2026-04-25T12:01:00Z", now) else { panic!() };
        assert!(early.starts_with("the signed timestamp is 60 s ahead of"), "{early}");
        assert!(matches!(timestamp("yesterday", now), Err(ProofError::BadRequest(_))));
    }

    #[test]
    fn any_published_key_that_verifies_is_enough_and_a_mismatch_lists_the_fingerprints() {
        let (signer, other) = (
            ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
        );
        let ts = "2026-04-25T12:00:00Z";
        let signature = registry_core::digest::hex(&signer.sign(ts.as_bytes()).to_bytes());
        let records =
            vec!["google-site-verification=abc".to_owned(), ed25519_record(&other), ed25519_record(&signer)];
        assert_eq!(verify(&records, "example.com", ts, &signature), Ok(()));
        let Err(ProofError::Refused(detail)) = verify(&records[..2], "example.com", ts, &signature) else {
            panic!()
        };
        let fingerprint = format!("ed25519:{}", &STANDARD.encode(other.verifying_key().to_bytes())[..8]);
        assert!(detail.contains(&format!("the 1 key(s) at example.com ({fingerprint})")), "{detail}");
        let Err(ProofError::Refused(none)) = verify(&records[..1], "example.com", ts, &signature) else {
            panic!()
        };
        assert_eq!(none, "no v=MCPv1 key record at example.com");
        assert!(matches!(verify(&records, "example.com", ts, "zz"), Err(ProofError::BadRequest(_))));
    }

    #[test]
    fn records_are_found_anywhere_and_bad_keys_are_named() {
        let text = "x v=MCPv1;k=ed25519;p=AAAA v=MCPv1; k=rsa; p=QUJDREVGR0g= v=MCPv1; k=ed25519";
        let (keys, unusable) = keys(&[text.to_owned()]);
        assert!(keys.is_empty());
        assert_eq!(
            unusable,
            vec![
                Unusable { fingerprint: "ed25519:AAAA".into(), why: "an Ed25519 key is 32 bytes" },
                Unusable {
                    fingerprint: "rsa:QUJDREVG".into(),
                    why: "the algorithm is not ed25519 or ecdsap384"
                },
            ]
        );
    }

    #[test]
    fn a_p384_signature_with_a_short_half_verifies() {
        let ts = "2026-04-25T12:00:00Z";
        let prover = Prover::p384_with_short_signature(ts);
        let short = prover.signature(ts);
        assert_eq!(short.len(), 95);
        let (keys, _) = keys(&[prover.record()]);
        assert!(keys[0].1.verifies(ts.as_bytes(), &short));
        assert!(keys[0].1.verifies(ts.as_bytes(), &prover.padded_signature(ts)));
        assert!(!keys[0].1.verifies(b"2026-04-25T12:00:01Z", &short));
    }
}
