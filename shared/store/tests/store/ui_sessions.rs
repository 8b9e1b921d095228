//! The web catalogue's sign-ins under way and sessions: a sign-in finishes once and only in time, a session
//! is found by its id until it expires or ends, and a sweep drops what expired.

use chrono::Duration;
use registry_store::{PendingSignIn, UiSession};

use super::*;

fn pending(return_to: &str) -> PendingSignIn {
    PendingSignIn {
        pkce_verifier: "verifier".into(),
        nonce: "nonce".into(),
        redirect_url: "http://127.0.0.1:8080/ui/auth/callback".into(),
        return_to: return_to.into(),
    }
}

fn session(expires_in: Duration) -> UiSession {
    UiSession {
        principal: json!({"provider": "idp", "subject": "alice"}).to_string(),
        csrf_token: "csrf".into(),
        expires_at: Utc::now().trunc_subsecs(6) + expires_in,
    }
}

on_both_backends! {
    async fn a_sign_in_finishes_once_and_only_in_time(test: &TestStore) {
        let store = &test.store;
        store.begin_sign_in("state-1", &pending("/ui/registries"), Utc::now() + Duration::minutes(10)).await.unwrap();
        store.begin_sign_in("state-2", &pending("/ui"), Utc::now() - Duration::seconds(1)).await.unwrap();

        assert_eq!(store.take_sign_in("state-1").await.unwrap(), Some(pending("/ui/registries")));
        assert_eq!(store.take_sign_in("state-1").await.unwrap(), None, "taken once");
        assert_eq!(store.take_sign_in("state-2").await.unwrap(), None, "expired");
        assert_eq!(store.take_sign_in("never-begun").await.unwrap(), None);
    }

    async fn a_session_lasts_until_it_expires_or_ends_and_a_sweep_drops_the_expired(test: &TestStore) {
        let store = &test.store;
        let live = session(Duration::hours(1));
        store.create_ui_session("swept-id", &session(-Duration::seconds(1))).await.unwrap();
        // Beginning a sign-in sweeps first: the expired session goes, the expired sign-in stays for now.
        store.begin_sign_in("late", &pending("/ui"), Utc::now() - Duration::seconds(1)).await.unwrap();
        store.create_ui_session("live-id", &live).await.unwrap();
        store.create_ui_session("old-id", &session(-Duration::seconds(1))).await.unwrap();

        assert_eq!(store.ui_session("live-id").await.unwrap(), Some(live));
        assert_eq!(store.ui_session("old-id").await.unwrap(), None, "expired");
        assert_eq!(store.ui_session("live").await.unwrap(), None, "an id matches whole");
        assert_eq!(store.sweep_ui_sessions().await.unwrap(), 2, "old-id and the sign-in late");
        assert!(store.end_ui_session("live-id").await.unwrap());
        assert_eq!(store.ui_session("live-id").await.unwrap(), None, "ended");
        assert!(!store.end_ui_session("live-id").await.unwrap(), "ended once");
    }
}
