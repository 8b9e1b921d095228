//! The web catalogue's sign-in, as a client of one of the identity providers (`ui.signIn.provider`): the
//! OpenID Connect authorization code flow with PKCE and a nonce, through `openidconnect`'s client. The ID
//! token names the person; the access token is verified as the API verifies any bearer token, so its claims
//! give the session exactly the roles and namespaces the API would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use registry_runtime::config::SignInConfig;
use registry_runtime::outbound::error_chain;
use url::Url;

use super::providers::{Provider, REFRESH};
use super::{Authenticator, Principal};

/// What starting a sign-in gives: where to send the browser, and what finishing needs.
pub struct Started {
    pub authorize_url: Url,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

/// A finished sign-in: who, and until when the access token holds.
pub struct SignedIn {
    pub principal: Principal,
    /// A name to show: `name`, `preferred_username`, `email` or the subject, from the ID token.
    pub display_name: String,
    /// When the access token expires, when the provider said.
    pub expires_in: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the registry does not accept the access token the identity provider gave: {0}")]
    TokenRefused(String),
}

/// The provider's discovery document, and when it was fetched.
type Discovered = (Arc<CoreProviderMetadata>, Instant);

pub struct SignIn {
    pub config: SignInConfig,
    provider: Arc<Provider>,
    /// The registry's `resourceUrl`, asked for as the access token's audience (RFC 8707).
    resource: String,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
}

impl SignIn {
    /// Sign-in through `config.provider`, one of `authenticator`'s (config check made sure it is, with a
    /// client id).
    pub fn new(config: &SignInConfig, authenticator: &Authenticator) -> Result<Self, String> {
        let provider = authenticator
            .provider(&config.provider)
            .ok_or_else(|| format!("ui.signIn.provider: no provider {}", config.provider))?;
        Ok(Self {
            config: config.clone(),
            provider,
            resource: authenticator.oauth().resource.clone(),
            discovered: tokio::sync::Mutex::new(None),
        })
    }

    /// The provider's issuer, exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.provider.config.issuer
    }

    /// The provider's metadata, discovered again every [`REFRESH`].
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, SignInError> {
        let mut discovered = self.discovered.lock().await;
        if let Some((metadata, at)) = discovered.as_ref()
            && at.elapsed() < REFRESH
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.provider.config.issuer.clone())
            .map_err(|e| SignInError::Unreachable(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.provider.client)
            .await
            .map_err(|e| SignInError::Unreachable(error_chain(&e)))?;
        let metadata = Arc::new(metadata);
        *discovered = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    async fn client(&self, redirect_url: &Url) -> Result<SignInClient, SignInError> {
        let metadata = self.metadata().await?;
        let config = &self.provider.config;
        let secret = match &config.client_secret_file {
            Some(path) => Some(ClientSecret::new(
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| SignInError::Unreachable(format!("reading {}: {e}", path.display())))?
                    .trim()
                    .to_owned(),
            )),
            None => None,
        };
        let client_id = ClientId::new(config.client_id.clone().unwrap_or_default());
        Ok(CoreClient::from_provider_metadata(metadata.as_ref().clone(), client_id, secret)
            .set_redirect_uri(RedirectUrl::from_url(redirect_url.clone())))
    }

    /// Where to send the browser to sign in, coming back to `redirect_url`.
    pub async fn start(&self, redirect_url: &Url) -> Result<Started, SignInError> {
        let client = self.client(redirect_url).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_extra_param("resource", self.resource.clone());
        for scope in self.config.scopes.iter().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (authorize_url, state, nonce) = request.url();
        Ok(Started {
            authorize_url,
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        })
    }

    /// Exchanges the code the provider sent back, verifies the ID token (signature, audience, nonce, and the
    /// access token's hash when it carries one) and the access token, as the API would.
    pub async fn finish(
        &self,
        authenticator: &Authenticator,
        redirect_url: &Url,
        code: String,
        pkce_verifier: String,
        nonce: String,
    ) -> Result<SignedIn, SignInError> {
        let client = self.client(redirect_url).await?;
        let exchange = client.exchange_code(AuthorizationCode::new(code)).map_err(|e| {
            SignInError::Refused(format!("the provider's discovery document has no token endpoint: {e}"))
        })?;
        let tokens = exchange
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .add_extra_param("resource", self.resource.clone())
            .request_async(&self.provider.client)
            .await
            .map_err(|e| SignInError::Refused(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SignInError::Refused("the token response has no ID token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce))
            .map_err(|e| SignInError::Refused(format!("the ID token: {}", error_chain(&e))))?;
        if let Some(expected) = claims.access_token_hash() {
            let refused =
                |e: &dyn std::error::Error| SignInError::Refused(format!("the at_hash: {}", error_chain(e)));
            let algorithm = id_token.signing_alg().map_err(|e| refused(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| refused(&e))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), algorithm, key)
                .map_err(|e| refused(&e))?;
            if actual != *expected {
                return Err(SignInError::Refused(
                    "the access token does not match the ID token's at_hash".into(),
                ));
            }
        }
        let principal = authenticator
            .verify(tokens.access_token().secret())
            .await
            .map_err(|rejection| SignInError::TokenRefused(rejection.to_string()))?;
        let display_name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned())
            .or_else(|| claims.preferred_username().map(|name| name.as_str().to_owned()))
            .or_else(|| claims.email().map(|email| email.as_str().to_owned()))
            .unwrap_or_else(|| claims.subject().as_str().to_owned());
        Ok(SignedIn { principal, display_name, expires_in: tokens.expires_in() })
    }
}

/// The client as `from_provider_metadata` types it.
type SignInClient = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;
