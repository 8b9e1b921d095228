//! One identity provider's HTTP client ([`ProviderClient`]): discovery, key set and introspection, through
//! the guarded client of `registry_runtime::outbound`, with `authTokenFile` read again at every call
//! (projected Kubernetes tokens rotate).

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::http;
use openidconnect::{HttpRequest, HttpResponse};
use registry_runtime::config::OAuthProvider;
use registry_runtime::outbound::{self, CallError, HostTable, check_literal, read_capped};

/// The longest an identity provider call may take, and the most it may answer.
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct ProviderClient {
    client: reqwest::Client,
    allow_private: bool,
    auth_token_file: Option<PathBuf>,
}

impl ProviderClient {
    pub fn new(provider: &OAuthProvider) -> Result<Self, String> {
        let client = outbound::client(
            provider.ca_cert_path.as_deref(),
            provider.allow_private_ip,
            TIMEOUT,
            HostTable::default(),
        )?;
        Ok(Self {
            client,
            allow_private: provider.allow_private_ip,
            auth_token_file: provider.auth_token_file.clone(),
        })
    }

    /// Sends `request` (openidconnect's shape), adding the provider's bearer token when it has one.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, CallError> {
        let (parts, body) = request.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| CallError::Request(e.into()))?;
        check_literal(&url, self.allow_private)?;
        let authorized = parts.headers.contains_key(http::header::AUTHORIZATION);
        let mut builder = self.client.request(parts.method, url).headers(parts.headers).body(body);
        // Introspection carries client credentials: the token is for discovery and key sets.
        if let Some(path) = self.auth_token_file.as_ref().filter(|_| !authorized) {
            let token = std::fs::read_to_string(path)
                .map_err(|source| CallError::File { path: path.clone(), source })?;
            builder = builder.bearer_auth(token.trim());
        }
        let response = builder.send().await.map_err(|e| CallError::Request(e.into()))?;
        let mut answer = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let body = read_capped(response, MAX_BODY).await?;
        answer.body(body).map_err(|e| CallError::Request(e.into()))
    }

    /// A form POST (introspection), with HTTP basic client credentials when given.
    pub async fn post_form(
        &self,
        url: &url::Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<HttpResponse, CallError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json");
        if let Some((user, password)) = basic {
            use base64::Engine as _;
            // RFC 6749 §2.3.1: each part form-encoded first.
            let encode =
                |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(user),
                encode(password)
            ));
            request = request.header(http::header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        let request = request.body(body.into_bytes()).map_err(|e| CallError::Request(e.into()))?;
        self.send(request).await
    }
}

/// openidconnect's discovery and key set fetches go through [`ProviderClient::send`].
impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderClient {
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, CallError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
