//! A mock OpenID provider on 127.0.0.1 for the token tests: discovery, a key set it can rotate, fail or
//! hang, RFC 7662 introspection of opaque tokens it was told about, and tokens signed with its RSA (RS256,
//! PS256) and EC (ES256) keys, with any header and claims a case needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};

/// The RSA keys the provider can sign with: `rsa-1`, `rsa-2`, and `rsa-short` (1,024 bits, to be refused).
const RSA_KEYS: [(&str, &str); 3] = [
    ("rsa-1", include_str!("../fixtures/oidc-rsa-1.pem")),
    ("rsa-2", include_str!("../fixtures/oidc-rsa-2.pem")),
    ("rsa-short", include_str!("../fixtures/oidc-rsa-short.pem")),
];
/// The EC P-256 key `ec-1`, from a fixed scalar.
const EC_SCALAR: [u8; 32] = [7; 32];

/// What the provider does at a given moment.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The key ids its key set publishes.
    pub published: Vec<String>,
    /// Answer discovery and the key set with 500.
    pub failing: bool,
    /// Hold discovery and key set requests this long first.
    pub delay: Option<Duration>,
    /// Opaque tokens introspection knows, with the claims it answers (`active` is added).
    pub opaque: HashMap<String, Value>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            published: vec!["rsa-1".into(), "ec-1".into(), "rsa-short".into()],
            failing: false,
            delay: None,
            opaque: HashMap::new(),
        }
    }
}

#[derive(Default)]
struct Counters {
    key_set_requests: usize,
    discoveries: usize,
    introspections: usize,
}

struct Shared {
    issuer: String,
    behaviour: Mutex<Behaviour>,
    counters: Mutex<Counters>,
}

#[derive(Clone)]
pub struct MockProvider {
    pub issuer: String,
    shared: Arc<Shared>,
}

impl MockProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let issuer = format!("http://{}", listener.local_addr().expect("an address"));
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            behaviour: Mutex::new(Behaviour::default()),
            counters: Mutex::new(Counters::default()),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(key_set))
            .route("/introspect", post(introspect))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.expect("the mock provider serves") });
        Self { issuer, shared }
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.behaviour.lock().expect("not poisoned"));
    }

    /// How many discovery requests it got.
    pub fn discoveries(&self) -> usize {
        self.shared.counters.lock().expect("not poisoned").discoveries
    }

    pub fn key_set_requests(&self) -> usize {
        self.shared.counters.lock().expect("not poisoned").key_set_requests
    }

    pub fn introspections(&self) -> usize {
        self.shared.counters.lock().expect("not poisoned").introspections
    }

    /// A token with `claims`, signed by key `kid` with `alg` (RS256, RS384, PS256 with an RSA key; ES256
    /// with `ec-1`; `none` or HS256 to forge). `header` adds or replaces header fields.
    pub fn sign(&self, kid: &str, alg: &str, header: Value, claims: &Value) -> String {
        let mut head = json!({"alg": alg, "kid": kid});
        if let (Some(head), Value::Object(extra)) = (head.as_object_mut(), header) {
            head.extend(extra);
        }
        let input = format!("{}.{}", encode(&head.to_string()), encode(&claims.to_string()));
        let signature = match alg {
            "none" => Vec::new(),
            "HS256" => hs256(rsa_public_pem(kid).as_bytes(), input.as_bytes()),
            "ES256" => {
                let signature: p256::ecdsa::Signature = ec_key().sign(input.as_bytes());
                signature.to_bytes().to_vec()
            }
            _ => rsa_key(kid).sign(&rsa_alg(alg), input.as_bytes()).expect("an RSA signature"),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A valid RS256 access token for `audience` with extra claims, lasting an hour.
    pub fn token(&self, audience: &str, extra: Value) -> String {
        self.sign("rsa-1", "RS256", json!({"typ": "at+jwt"}), &self.claims(audience, extra))
    }

    /// Standard claims for `audience` (issuer, subject, an hour of validity) with `extra` merged in.
    pub fn claims(&self, audience: &str, extra: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims =
            json!({"iss": self.issuer, "aud": audience, "sub": "client-1", "iat": now, "exp": now + 3600});
        if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
            claims.extend(extra);
        }
        claims
    }
}

fn encode(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn rsa_key(kid: &str) -> CoreRsaPrivateSigningKey {
    let pem = RSA_KEYS.iter().find(|(id, _)| *id == kid).map_or(RSA_KEYS[0].1, |(_, pem)| pem);
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_owned()))).expect("a PKCS#1 key")
}

fn rsa_alg(alg: &str) -> CoreJwsSigningAlgorithm {
    match alg {
        "RS384" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        "RS512" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        "PS256" => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        _ => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    }
}

fn ec_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&EC_SCALAR).expect("a P-256 scalar")
}

/// The public key as JSON, in the form the key set publishes it (used as an HMAC secret by the forger).
fn rsa_public_pem(kid: &str) -> String {
    serde_json::to_string(&rsa_key(kid).as_verification_key()).expect("a JWK")
}

fn hs256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = openidconnect::core::CoreHmacKey::new(secret);
    key.sign(&CoreJwsSigningAlgorithm::HmacSha256, message).expect("an HMAC")
}

fn jwk(kid: &str) -> Value {
    if kid == "ec-1" {
        let point = ec_key().verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        return json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]), "y": URL_SAFE_NO_PAD.encode(&bytes[33..65])});
    }
    serde_json::to_value(rsa_key(kid).as_verification_key()).expect("a JWK")
}

async fn wait_or_fail(shared: &Shared) -> Option<Response> {
    let (delay, failing) = {
        let behaviour = shared.behaviour.lock().expect("not poisoned");
        (behaviour.delay, behaviour.failing)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    failing.then(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.lock().expect("not poisoned").discoveries += 1;
    if let Some(failure) = wait_or_fail(&shared).await {
        return failure;
    }
    let issuer = &shared.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
    .into_response()
}

async fn key_set(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.lock().expect("not poisoned").key_set_requests += 1;
    if let Some(failure) = wait_or_fail(&shared).await {
        return failure;
    }
    let published = shared.behaviour.lock().expect("not poisoned").published.clone();
    axum::Json(json!({"keys": published.iter().map(|kid| jwk(kid)).collect::<Vec<_>>()})).into_response()
}

async fn introspect(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.counters.lock().expect("not poisoned").introspections += 1;
    let token =
        url::form_urlencoded::parse(body.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    let known = token.and_then(|t| shared.behaviour.lock().expect("not poisoned").opaque.get(&t).cloned());
    match known {
        Some(Value::Object(mut claims)) => {
            claims.insert("active".into(), Value::Bool(true));
            axum::Json(Value::Object(claims)).into_response()
        }
        _ => axum::Json(json!({"active": false})).into_response(),
    }
}
