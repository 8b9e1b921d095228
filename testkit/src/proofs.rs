//! Stand-ins for what `mcp-publisher login dns|http|github` talks to, all on 127.0.0.1: a key pair that
//! signs timestamps as the CLI does ([`Prover`]), a DNS server answering TXT records ([`DnsZone`]), an
//! HTTPS site under a test CA serving the well-known proof file ([`ProofSite`]), and GitHub's REST API
//! ([`GithubStandIn`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

/// A proof key, signing as the CLI signs: Ed25519 over the timestamp's bytes, or ECDSA P-384 over its
/// SHA-384 written as `r || s` with each half's leading zero bytes dropped (Go's `big.Int.Bytes()`).
pub enum Prover {
    Ed25519(ed25519_dalek::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl Prover {
    pub fn ed25519(seed: u8) -> Self {
        Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    /// A P-384 key whose signature of `timestamp`, as the CLI writes it, is 95 bytes: the case the official
    /// registry refuses (about one login in 128).
    pub fn p384_with_short_signature(timestamp: &str) -> Self {
        for first in 1u8..=255 {
            for last in 0u8..=255 {
                let mut scalar = [first; 48];
                scalar[47] = last;
                let Ok(key) = p384::ecdsa::SigningKey::from_slice(&scalar) else { continue };
                let prover = Self::P384(key);
                if prover.signature(timestamp).len() == 95 {
                    return prover;
                }
            }
        }
        panic!("no P-384 key among 65,280 gives a 95-byte signature");
    }

    /// The record to publish: `v=MCPv1; k=<alg>; p=<base64 public key>`, as `mcp-publisher login` prints it.
    pub fn record(&self) -> String {
        let (algorithm, key) = match self {
            Self::Ed25519(key) => ("ed25519", key.verifying_key().to_bytes().to_vec()),
            Self::P384(key) => ("ecdsap384", key.verifying_key().to_sec1_point(true).as_bytes().to_vec()),
        };
        format!("v=MCPv1; k={algorithm}; p={}", STANDARD.encode(key))
    }

    /// The signature the CLI sends for `timestamp`.
    pub fn signature(&self, timestamp: &str) -> Vec<u8> {
        match self {
            Self::Ed25519(key) => key.sign(timestamp.as_bytes()).to_bytes().to_vec(),
            Self::P384(_) => {
                let padded = self.padded_signature(timestamp);
                let trim = |half: &[u8]| half.iter().copied().skip_while(|b| *b == 0).collect::<Vec<u8>>();
                [trim(&padded[..48]), trim(&padded[48..])].concat()
            }
        }
    }

    /// A P-384 signature of `timestamp` at its full 96 bytes (an Ed25519 one as it is).
    pub fn padded_signature(&self, timestamp: &str) -> Vec<u8> {
        match self {
            Self::Ed25519(_) => self.signature(timestamp),
            Self::P384(key) => {
                let signature: p384::ecdsa::Signature =
                    p384::ecdsa::signature::Signer::sign(key, timestamp.as_bytes());
                signature.to_bytes().to_vec()
            }
        }
    }

    /// The body of `POST /v0/auth/dns|http` for `domain`, signed now.
    pub fn body(&self, domain: &str) -> Value {
        self.body_at(domain, chrono::Utc::now())
    }

    pub fn body_at(&self, domain: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
        let timestamp = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let signed: String = self.signature(&timestamp).iter().map(|b| format!("{b:02x}")).collect();
        json!({"domain": domain, "timestamp": timestamp, "signed_timestamp": signed})
    }
}

/// A DNS server on a UDP port of 127.0.0.1 answering TXT queries from its records (any other name is
/// NXDOMAIN), optionally after a delay.
#[derive(Clone)]
pub struct DnsZone {
    pub address: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<Vec<String>>>>>,
    delay: Arc<Mutex<Option<Duration>>>,
}

impl DnsZone {
    pub async fn start() -> Self {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let zone =
            Self { address: socket.local_addr().unwrap(), records: Arc::default(), delay: Arc::default() };
        let serving = zone.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else { return };
                let Ok(query) = Message::from_vec(&buffer[..length]) else { continue };
                let (zone, socket) = (serving.clone(), socket.clone());
                tokio::spawn(async move {
                    let delay = *zone.delay.lock().unwrap();
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    if let Ok(answer) = zone.answer(&query).to_vec() {
                        let _ = socket.send_to(&answer, peer).await;
                    }
                });
            }
        });
        zone
    }

    /// Publishes a TXT record at `name` (no trailing dot), as one or more strings.
    pub fn add_txt(&self, name: &str, strings: &[&str]) {
        let strings = strings.iter().map(|s| (*s).to_owned()).collect();
        self.records.lock().unwrap().entry(name.to_ascii_lowercase()).or_default().push(strings);
    }

    /// Holds every answer this long.
    pub fn set_delay(&self, delay: Option<Duration>) {
        *self.delay.lock().unwrap() = delay;
    }

    fn answer(&self, query: &Message) -> Message {
        let (id, op_code) = (query.metadata.id, query.metadata.op_code);
        let Some(question) = query.queries.first() else {
            return Message::error_msg(id, op_code, ResponseCode::FormErr);
        };
        let name = question.name().to_string().trim_end_matches('.').to_ascii_lowercase();
        let records = self.records.lock().unwrap().get(&name).cloned();
        let Some(records) = records else {
            let mut missing = Message::error_msg(id, op_code, ResponseCode::NXDomain);
            missing.add_queries(query.queries.clone());
            return missing;
        };
        let mut answer = Message::response(id, op_code);
        answer.metadata.authoritative = true;
        answer.metadata.recursion_desired = query.metadata.recursion_desired;
        answer.add_queries(query.queries.clone());
        if question.query_type() == RecordType::TXT {
            for strings in records {
                answer.add_answer(Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::TXT(TXT::new(strings)),
                ));
            }
        }
        answer
    }
}

/// A test certificate authority and a certificate it signed for a set of names.
pub struct TestCa {
    /// The authority's certificate, in PEM: what the registry's `caCertPath` names.
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn for_names(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "registry test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let leaf = rcgen::CertificateParams::new(names).unwrap().signed_by(&leaf_key, &issuer).unwrap();
        if rustls::crypto::ring::default_provider().install_default().is_err() {
            // Installed already by an earlier test in this process.
        }
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        Self { ca_pem: ca_cert.pem(), server: Arc::new(server) }
    }
}

/// What the proof site answers at `/.well-known/mcp-registry-auth`.
#[derive(Clone)]
pub enum ProofFile {
    Text(String),
    /// No file: 404.
    Missing,
    /// A redirect to this URL.
    Redirect(String),
}

/// An HTTPS server on 127.0.0.1, with a certificate of [`TestCa`], serving the well-known proof file; it
/// counts the requests it gets.
pub struct ProofSite {
    pub address: SocketAddr,
    file: Arc<Mutex<ProofFile>>,
    hits: Arc<AtomicUsize>,
}

impl ProofSite {
    pub async fn start(ca: &TestCa, file: ProofFile) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (file, hits) = (Arc::new(Mutex::new(file)), Arc::new(AtomicUsize::new(0)));
        let router = Router::new()
            .route("/.well-known/mcp-registry-auth", get(proof_file))
            .with_state((file.clone(), hits.clone()));
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ =
                        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                });
            }
        });
        Self { address, file, hits }
    }

    pub fn set(&self, file: ProofFile) {
        *self.file.lock().unwrap() = file;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn proof_file(State((file, hits)): State<(Arc<Mutex<ProofFile>>, Arc<AtomicUsize>)>) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let file = file.lock().unwrap().clone();
    match file {
        ProofFile::Text(text) => ([(header::CONTENT_TYPE, "text/plain")], text).into_response(),
        ProofFile::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        ProofFile::Missing => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One GitHub user as the stand-in knows it: its login, its organisation roles (`admin` or `member`), and
/// whether its token may read them (a token without `read:org` may not).
#[derive(Clone)]
pub struct GithubAccount {
    pub login: String,
    pub orgs: Vec<(String, String)>,
    pub read_org: bool,
}

/// GitHub's REST API as the `github-at` exchange calls it: `GET /user` and `GET /user/memberships/orgs`,
/// answering by bearer token; an unknown token gets 401.
pub struct GithubStandIn {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

type Accounts = Arc<HashMap<String, GithubAccount>>;

impl GithubStandIn {
    pub async fn start(accounts: HashMap<String, GithubAccount>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let router = Router::new()
            .route("/user", get(github_user))
            .route("/user/memberships/orgs", get(github_memberships))
            .with_state((Arc::new(accounts), requests.clone()));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The account whose token the request bears.
fn account<'a>(accounts: &'a Accounts, headers: &HeaderMap) -> Option<&'a GithubAccount> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    accounts.get(value.strip_prefix("Bearer ")?)
}

/// GitHub's answer to an unknown token.
fn bad_credentials() -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials"}))).into_response()
}

async fn github_user(
    State((accounts, requests)): State<(Accounts, Arc<AtomicUsize>)>,
    headers: HeaderMap,
) -> Response {
    requests.fetch_add(1, Ordering::SeqCst);
    match account(&accounts, &headers) {
        Some(account) => axum::Json(json!({"login": account.login, "id": 1, "type": "User"})).into_response(),
        None => bad_credentials(),
    }
}

async fn github_memberships(
    State((accounts, requests)): State<(Accounts, Arc<AtomicUsize>)>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    requests.fetch_add(1, Ordering::SeqCst);
    let Some(account) = account(&accounts, &headers) else { return bad_credentials() };
    if !account.read_org {
        let message = json!({"message": "You need at least read:org scope or user scope to list your organization memberships."});
        return (StatusCode::FORBIDDEN, axum::Json(message)).into_response();
    }
    let memberships: Vec<Value> = (account.orgs.iter())
        .skip(page.per_page * (page.page.max(1) - 1))
        .take(page.per_page)
        .map(|(org, role)| json!({"state": "active", "role": role, "organization": {"login": org}}))
        .collect();
    axum::Json(memberships).into_response()
}

/// GitHub's paging parameters, with its defaults.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(default = "first_page")]
    page: usize,
    #[serde(default = "thirty")]
    per_page: usize,
}

fn first_page() -> usize {
    1
}

fn thirty() -> usize {
    30
}
