//! Signing in to the web catalogue through a real OpenID provider (npm oidc-provider, as in `oidc_e2e.rs`)
//! with the repository's example configuration: the authorization code flow with PKCE, sessions in the
//! database on both backends, what the claims let a person do ("Sync now", "Publish"), CSRF tokens on every
//! changing form, sign-out, and what forged, expired or misplaced session ids and callbacks get.

use std::collections::BTreeMap;

use registry_runtime::config::Config;
use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;
use crate::oidc_e2e::LocalProvider;

/// A browser, as far as these flows need one: it keeps cookies (127.0.0.1 serves the provider and the
/// registry on two ports, and cookies ignore ports, as browsers do) and follows no redirect by itself.
struct Browser {
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        let client = client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, cookies: BTreeMap::new() }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Reply {
        let cookies: Vec<String> =
            self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let request = if cookies.is_empty() { request } else { request.header("cookie", cookies.join("; ")) };
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let cookie = cookie::Cookie::parse(set.to_str().unwrap().to_owned()).unwrap();
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        Reply { status, headers, body: serde_json::Value::Null, text }
    }

    async fn get(&mut self, url: &str) -> Reply {
        let request = self.client.get(url);
        self.send(request).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request =
            self.client.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.send(request).await
    }
}

/// Where a redirect leads, resolved against the URL that answered it.
fn location(reply: &Reply, from: &str) -> String {
    let location = reply.headers["location"].to_str().unwrap();
    url::Url::parse(from).unwrap().join(location).unwrap().to_string()
}

/// The value of a page's first hidden `csrf` field.
fn csrf(page: &str) -> String {
    let field =
        page.split("name=\"csrf\" value=\"").nth(1).unwrap_or_else(|| panic!("no CSRF field: {page}"));
    field.split('"').next().unwrap().to_owned()
}

struct Setup {
    app: TestApp,
    _provider: LocalProvider,
    _dir: tempfile::TempDir,
}

/// examples/oauth-local.yaml on `test`'s store, pointed at a fresh provider, with a file registry to sync;
/// `confidential`: sign in as the provider's confidential client (with its secret file) instead of the
/// example's public one.
async fn setup(test: &TestStore, confidential: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let provider = LocalProvider::start(&dir.path().join("oidc-provider.log")).await;
    let mut config: Config = provider.example_config();
    config.database = test.config.clone();
    config.audit.file = Some(dir.path().join("audit.jsonl"));
    config.registries.push(file_registry("files"));
    let port = free_port();
    let sign_in = config.ui.sign_in.as_mut().expect("the example signs in");
    sign_in.redirect_urls = vec![format!("http://127.0.0.1:{port}/ui/auth/callback").parse().unwrap()];
    if confidential {
        let secret = dir.path().join("client-secret");
        std::fs::write(&secret, "registry-secret\n").unwrap();
        let local = &mut config.auth.oauth.as_mut().unwrap().providers[0];
        (local.client_id, local.client_secret_file) = (Some("registry".into()), Some(secret));
    }
    let app = spawn_config_at(test, config, port).await;
    Setup { app, _provider: provider, _dir: dir }
}

/// Signs `user` in from `start` (a page that needs it), through the provider's login form; the page the
/// callback leads back to.
async fn sign_in(browser: &mut Browser, app: &TestApp, start: &str, user: &str) -> Reply {
    let start_url = format!("{}{start}", app.base);
    let page = browser.get(&start_url).await;
    assert_eq!(page.status, 303, "{start} needs a signed-in user: {}", page.text);
    let sign_in = location(&page, &start_url);
    let to_provider = browser.get(&sign_in).await;
    assert_eq!(to_provider.status, 303, "{}", to_provider.text);
    let authorize = location(&to_provider, &sign_in);
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="), "{authorize}");
    let to_form = browser.get(&authorize).await;
    let form_url = location(&to_form, &authorize);
    let form = browser.get(&form_url).await;
    assert!(form.text.contains("name=\"login\""), "the provider's login form: {}", form.text);
    let (mut next, mut at) = (browser.post(&form_url, &[("login", user)]).await, form_url);
    // The provider's own redirects, until the callback.
    let callback = format!("{}/ui/auth/callback", app.base);
    while !location(&next, &at).starts_with(&callback) {
        assert_eq!(next.status.as_u16() / 100, 3, "{}", next.text);
        at = location(&next, &at);
        next = browser.get(&at).await;
    }
    let callback = location(&next, &at);
    let finished = browser.get(&callback).await;
    assert_eq!(finished.status, 303, "the callback: {}", finished.text);
    assert_eq!(finished.headers["location"], start, "back where sign-in began");
    let set = finished
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = set.iter().find(|c| c.starts_with("registry_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/ui", "Max-Age="] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP on loopback: {session}");
    browser.get(&location(&finished, &callback)).await
}

on_both_backends! {
    async fn a_person_signs_in_and_the_claims_decide_what_the_pages_offer(test: &TestStore) {
        let setup = setup(test, false).await;
        let app = &setup.app;
        let mut alice = Browser::new();

        let registries = sign_in(&mut alice, app, "/ui/registries", "alice").await;
        assert_eq!(registries.status, 200, "{}", registries.text);
        assert!(registries.text.contains("Signed in as <strong>Alice Example</strong>"), "{}", registries.text);
        assert!(registries.text.contains("Sync files now"), "alice may sync: {}", registries.text);
        assert!(!registries.text.contains("Sync internal now"), "a managed registry never syncs");
        let id = alice.cookies["registry_session"].clone();
        let stored = test.store.ui_session(&id).await.unwrap().expect("the session is stored");
        assert!(!stored.principal.contains(&id), "only the id's digest is kept");

        // Sync now: the form's token is the session's.
        let token = csrf(&registries.text);
        let queued = alice.post(&format!("{}/ui/registries/files/sync", app.base), &[("csrf", &token)]).await;
        assert_eq!(queued.status, 303, "{}", queued.text);
        let shown = alice.get(&location(&queued, &app.base)).await;
        assert!(shown.text.contains("A sync of <strong>files</strong> is queued"), "{}", shown.text);
        let forged = alice.post(&format!("{}/ui/registries/files/sync", app.base), &[("csrf", "not-the-token")]).await;
        assert_eq!(forged.status, 403);
        assert!(forged.text.contains("Form refused"), "{}", forged.text);
        let no_token = alice.post(&format!("{}/ui/registries/files/sync", app.base), &[]).await;
        assert_eq!(no_token.status, 403);

        // Publish: inside alice's namespaces it lands on the new page; outside them it is refused.
        let publish = alice.get(&format!("{}/ui/publish", app.base)).await;
        assert!(publish.text.contains(">Publish</button>"), "{}", publish.text);
        let document = server_json("com.example.acme/desk", "1.0.0").to_string();
        let published = alice
            .post(&format!("{}/ui/publish", app.base), &[("document", &document), ("csrf", &csrf(&publish.text))])
            .await;
        assert_eq!(published.status, 303, "{}", published.text);
        assert_eq!(published.headers["location"], "/ui/servers/com.example.acme/desk/versions/1.0.0?registry=internal");
        let page = alice.get(&location(&published, &app.base)).await;
        assert_eq!(page.status, 200);
        assert!(page.text.contains("com.example.acme/desk"), "{}", page.text);
        let outside = server_json("org.other/tool", "1.0.0").to_string();
        let refused = alice
            .post(&format!("{}/ui/publish", app.base), &[("document", &outside), ("csrf", &csrf(&publish.text))])
            .await;
        assert_eq!(refused.status, 403);
        assert!(refused.text.contains("outside your namespaces"), "{}", refused.text);
        let invalid = json!({"name": "com.example/broken"}).to_string();
        let issues = alice
            .post(&format!("{}/ui/publish", app.base), &[("document", &invalid), ("csrf", &csrf(&publish.text))])
            .await;
        assert_eq!(issues.status, 422);
        assert!(issues.text.contains("Not valid:"), "{}", issues.text);

        // bob is signed in, and holds no role: nothing is offered, and a write is refused.
        let mut bob = Browser::new();
        let page = sign_in(&mut bob, app, "/ui/registries", "bob").await;
        assert!(page.text.contains("Signed in as <strong>Bob Example</strong>"), "{}", page.text);
        assert!(!page.text.contains("Sync files now"), "{}", page.text);
        let refused = bob.post(&format!("{}/ui/registries/files/sync", app.base), &[("csrf", &csrf(&page.text))]).await;
        assert_eq!(refused.status, 403);
        assert!(refused.text.contains("insufficient permissions"), "{}", refused.text);
        assert!(!bob.get(&format!("{}/ui/publish", app.base)).await.text.contains(">Publish</button>"));

        // Sign-out ends the session for good, and takes a token too.
        let forged = alice.post(&format!("{}/ui/auth/sign-out", app.base), &[("csrf", "nope")]).await;
        assert_eq!(forged.status, 403);
        let out = alice.post(&format!("{}/ui/auth/sign-out", app.base), &[("csrf", &token)]).await;
        assert_eq!((out.status.as_u16(), out.headers["location"].to_str().unwrap()), (303, "/ui/auth/signed-out"));
        let signed_out = alice.get(&location(&out, &app.base)).await;
        assert!(signed_out.status == 200 && signed_out.text.contains("You are signed out"), "{}", signed_out.text);
        assert!(!alice.cookies.contains_key("registry_session"), "the cookie is removed");
        assert_eq!(test.store.ui_session(&id).await.unwrap(), None);
        alice.cookies.insert("registry_session".into(), id);
        assert_eq!(alice.get(&format!("{}/ui/registries", app.base)).await.status, 303, "an ended session is nobody's");
    }
}

#[tokio::test]
async fn forged_expired_and_misplaced_sessions_and_callbacks_sign_nobody_in() {
    let test = TestStore::postgres().await;
    let setup = setup(&test, true).await;
    let app = &setup.app;
    let registries = format!("{}/ui/registries", app.base);
    let state_of = |reply: &Reply| -> String {
        let to = location(reply, &app.base);
        to.split("state=").nth(1).unwrap().split('&').next().unwrap().to_owned()
    };
    let mut alice = Browser::new();
    sign_in(&mut alice, app, "/ui/registries", "alice").await;
    let first = alice.cookies["registry_session"].clone();

    // Signing in again ends the session before.
    let mut at = format!("{}/ui/auth/sign-in?return=/ui/registries", app.base);
    let mut reply = alice.get(&at).await;
    while !at.starts_with(&format!("{}/ui/auth/callback", app.base)) {
        if reply.text.contains("name=\"login\"") {
            reply = alice.post(&at, &[("login", "alice")]).await;
        }
        assert_eq!(reply.status.as_u16() / 100, 3, "{at}: {}", reply.text);
        at = location(&reply, &at);
        reply = alice.get(&at).await;
    }
    assert_eq!(reply.headers["location"], "/ui/registries", "{}", reply.text);
    let id = alice.cookies["registry_session"].clone();
    assert_ne!(id, first, "a new session");
    assert_eq!(test.store.ui_session(&first).await.unwrap(), None, "signing in again ends the one before");

    // A made-up id, and the real one in the query string or another cookie's name, are nobody.
    let mut forger = Browser::new();
    forger.cookies.insert("registry_session".into(), "A".repeat(43));
    assert_eq!(forger.get(&registries).await.status, 303);
    let mut forger = Browser::new();
    assert_eq!(forger.get(&format!("{registries}?registry_session={id}")).await.status, 303);
    forger.cookies.insert("session".into(), id.clone());
    assert_eq!(forger.get(&registries).await.status, 303);
    assert_eq!(alice.get(&registries).await.status, 200, "the real one still works");

    // A callback that this browser did not begin; one from another issuer; a made-up code; a replay.
    let mut other = Browser::new();
    let state = state_of(&other.get(&format!("{}/ui/auth/sign-in?return=/ui", app.base)).await);
    let callback = format!("{}/ui/auth/callback?state={state}", app.base);
    let mut stranger = Browser::new();
    let elsewhere = stranger.get(&format!("{callback}&code=x")).await;
    assert_eq!(elsewhere.status, 400);
    assert!(elsewhere.text.contains("not begun in this browser"), "{}", elsewhere.text);
    let wrong_issuer = other.get(&format!("{callback}&code=x&iss=https%3A%2F%2Fevil.example")).await;
    assert!(wrong_issuer.text.contains("another identity provider"), "{}", wrong_issuer.text);
    assert!(!other.cookies.contains_key("registry_sign_in"), "a failed sign-in drops its cookie");
    other.cookies.insert("registry_sign_in".into(), state.clone());
    let bad_code = other.get(&format!("{callback}&code=x")).await;
    assert_eq!(bad_code.status, 403, "the provider refuses a made-up code: {}", bad_code.text);
    assert!(bad_code.text.contains("refused the sign-in"), "{}", bad_code.text);
    let replay = other.get(&format!("{callback}&code=x")).await;
    assert!(replay.text.contains("finished already"), "a state finishes once: {}", replay.text);

    // The provider's error: its code is shown, its free text never, and only to the browser that began it.
    other.cookies.insert("registry_sign_in".into(), state.clone());
    let denied = format!("{callback}&error=access_denied&error_description=%3Cb%3EBuy+now%3C%2Fb%3E");
    let planted = stranger.get(&denied).await;
    assert!(planted.text.contains("not begun in this browser"), "{}", planted.text);
    assert!(!planted.text.contains("access_denied") && !planted.text.contains("Buy now"));
    let shown = other.get(&denied).await;
    assert!(shown.text.contains("did not sign you in (access_denied)"), "{}", shown.text);
    assert!(!shown.text.contains("Buy now"), "{}", shown.text);

    // Sign-in only comes back to this catalogue's own pages.
    let away =
        ["https://evil.example/", "/ui/..//evil.example/", "/ui/%2e%2e//evil.example/", "//evil.example/ui"];
    for away in away.into_iter().chain(["/ui/x\u{1}", "/ui\\evil", "/ui/auth/sign-in"]) {
        let asked: String = url::form_urlencoded::byte_serialize(away.as_bytes()).collect();
        let state = state_of(&other.get(&format!("{}/ui/auth/sign-in?return={asked}", app.base)).await);
        assert_eq!(test.store.take_sign_in(&state).await.unwrap().unwrap().return_to, "/ui", "{away}");
    }
    let kept = "/ui/registries?queued=files";
    let asked: String = url::form_urlencoded::byte_serialize(kept.as_bytes()).collect();
    let state = state_of(&other.get(&format!("{}/ui/auth/sign-in?return={asked}", app.base)).await);
    assert_eq!(test.store.take_sign_in(&state).await.unwrap().unwrap().return_to, kept);

    // A session begun through a provider sign-in no longer uses, and an expired one, are nobody's.
    let session = |provider: &str, expires_in: chrono::Duration| registry_store::UiSession {
        principal: json!({"provider": provider, "subject": "alice", "claims": {}, "display_name": "Alice"})
            .to_string(),
        csrf_token: "t".into(),
        expires_at: chrono::Utc::now() + expires_in,
    };
    test.store
        .create_ui_session("retired-id", &session("retired", chrono::Duration::hours(1)))
        .await
        .unwrap();
    test.store
        .create_ui_session("expired-id", &session("local", -chrono::Duration::seconds(1)))
        .await
        .unwrap();
    for id in ["retired-id", "expired-id"] {
        let mut late = Browser::new();
        late.cookies.insert("registry_session".into(), id.into());
        assert_eq!(late.get(&registries).await.status, 303, "{id}");
    }
    assert!(test.store.sweep_ui_sessions().await.unwrap() >= 1);
    test.cleanup().await;
}

#[tokio::test]
async fn in_anonymous_mode_the_forms_carry_the_token_their_cookie_holds() {
    let test = TestStore::sqlite().await;
    let app = spawn_app(&test, vec![file_registry("files"), managed_registry("internal")]).await;
    let mut browser = Browser::new();

    let page = browser.get(&format!("{}/ui/registries", app.base)).await;
    assert!(page.text.contains("Sync files now") && !page.text.contains("Sign in"), "{}", page.text);
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let token = csrf(&page.text);
    assert_eq!(browser.cookies["registry_csrf"], token);
    let queued = browser.post(&format!("{}/ui/registries/files/sync", app.base), &[("csrf", &token)]).await;
    assert_eq!(queued.status, 303, "{}", queued.text);
    let mut cross_site = Browser::new();
    let forged =
        cross_site.post(&format!("{}/ui/registries/files/sync", app.base), &[("csrf", &token)]).await;
    assert_eq!(forged.status, 403, "without the cookie the token proves nothing");
    let document = server_json("io.example/anonymous", "1.0.0").to_string();
    let published =
        browser.post(&format!("{}/ui/publish", app.base), &[("document", &document), ("csrf", &token)]).await;
    assert_eq!(published.status, 303, "{}", published.text);
    assert_eq!(app.get("/v0.1/servers/io.example%2Fanonymous/versions/1.0.0").await.status, 200);
    assert_eq!(app.get("/ui/auth/sign-in").await.status, 404, "nobody signs in");
    test.cleanup().await;
}
