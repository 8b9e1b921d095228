//! The web catalogue's sign-ins under way and its signed-in sessions, on both backends, so that any API
//! replica serves any browser. The browser holds the random session id and sign-in state; these tables hold
//! only their SHA-256 digests, so a reader of the database cannot act as a signed-in user.

use chrono::{DateTime, Utc};
use registry_core::digest::text_hash;

use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::rows::now;
use crate::timestamp::Timestamp;

/// What the sign-in callback needs to finish a sign-in the browser began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub pkce_verifier: String,
    pub nonce: String,
    /// The callback the provider was given, which the code exchange must repeat.
    pub redirect_url: String,
    /// The page to show once signed in.
    pub return_to: String,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    /// The principal its access token proved, as the API serialised it.
    pub principal: String,
    /// What its forms must carry.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Keeps a sign-in under way until `expires_at`, under its `state`; first drops every expired sign-in and
    /// session, so neither table outgrows the sign-ins of one session lifetime.
    pub async fn begin_sign_in(
        &self,
        state: &str,
        pending: &PendingSignIn,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sweep_ui_sessions().await?;
        on_backend!(self, db => {
            let mut conn = db.write.acquire().await?;
            let mut insert = sql!(DB;
                "insert into ui_sign_in (state_hash, pkce_verifier, nonce, redirect_url, return_to, expires_at) values ("
                [text_hash(state), pending.pkce_verifier.as_str(), pending.nonce.as_str(),
                 pending.redirect_url.as_str(), pending.return_to.as_str(), Timestamp(expires_at)] ")"
            );
            DB::execute(&mut conn, &mut insert).await?;
        });
        Ok(())
    }

    /// The sign-in under way under `state`, removed so it finishes once; `None` when there is none, or it
    /// expired.
    pub async fn take_sign_in(&self, state: &str) -> Result<Option<PendingSignIn>, StoreError> {
        let rows: Vec<(String, String, String, String)> = on_backend!(self, db => {
            let mut conn = db.write.acquire().await?;
            let mut take = sql!(DB;
                "delete from ui_sign_in where state_hash = " {text_hash(state)} " and expires_at > " {Timestamp(now())}
                " returning pkce_verifier, nonce, redirect_url, return_to"
            );
            DB::fetch_all(&mut conn, &mut take).await?
        });
        Ok(rows.into_iter().next().map(|(pkce_verifier, nonce, redirect_url, return_to)| PendingSignIn {
            pkce_verifier,
            nonce,
            redirect_url,
            return_to,
        }))
    }

    /// Stores a session under its random `id`.
    pub async fn create_ui_session(&self, id: &str, session: &UiSession) -> Result<(), StoreError> {
        on_backend!(self, db => {
            let mut conn = db.write.acquire().await?;
            let mut insert = sql!(DB;
                "insert into ui_session (id_hash, principal, csrf_token, created_at, expires_at) values ("
                [text_hash(id), session.principal.as_str(), session.csrf_token.as_str(), Timestamp(now()),
                 Timestamp(session.expires_at)] ")"
            );
            DB::execute(&mut conn, &mut insert).await?;
        });
        Ok(())
    }

    /// The session whose id is `id`, unless it expired or ended.
    pub async fn ui_session(&self, id: &str) -> Result<Option<UiSession>, StoreError> {
        let rows: Vec<(String, String, Timestamp)> = on_backend!(self, db => {
            let select = || sql!(DB;
                "select principal, csrf_token, expires_at from ui_session where id_hash = " {text_hash(id)}
                " and expires_at > " {Timestamp(now())}
            );
            db.fetch_all(select).await?
        });
        Ok(rows.into_iter().next().map(|(principal, csrf_token, expires_at)| UiSession {
            principal,
            csrf_token,
            expires_at: expires_at.into(),
        }))
    }

    /// Ends the session whose id is `id` (signing out); whether there was one.
    pub async fn end_ui_session(&self, id: &str) -> Result<bool, StoreError> {
        on_backend!(self, db => {
            let mut conn = db.write.acquire().await?;
            let mut delete = sql!(DB; "delete from ui_session where id_hash = " {text_hash(id)});
            Ok(DB::execute(&mut conn, &mut delete).await? > 0)
        })
    }

    /// Drops every expired sign-in and session; how many.
    pub async fn sweep_ui_sessions(&self) -> Result<u64, StoreError> {
        on_backend!(self, db => {
            let mut conn = db.write.acquire().await?;
            let now = Timestamp(now());
            let mut sign_ins = sql!(DB; "delete from ui_sign_in where expires_at <= " {now});
            let mut sessions = sql!(DB; "delete from ui_session where expires_at <= " {now});
            Ok(DB::execute(&mut conn, &mut sign_ins).await? + DB::execute(&mut conn, &mut sessions).await?)
        })
    }
}
