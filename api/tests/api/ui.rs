//! The web catalogue's pages over HTTP: what they list, how they page and search without JavaScript, the
//! server page with its install snippets, error pages in the layout, the headers every page carries, and
//! what untrusted text in a server.json becomes. (The browser flows run in Chromium: see `docs.rs` for the
//! pattern.)

use registry_core::formats::Entry;
use registry_runtime::config::{Config, UiConfig};
use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;

fn hostile() -> Entry {
    let fields = json!({
        "title": "Evil <b>Tool</b>",
        "description": "<script>alert('x')</script> & more",
        "repository": {"url": "javascript:alert(1)", "source": "github"},
        "websiteUrl": "https://evil.example.com/docs",
    });
    Entry { server: server_with("io.example/evil", "1.0.0", fields), origin: None }
}

fn forecast() -> Entry {
    let package = json!({
        "repository": {"url": "https://github.com/example/forecast", "source": "github"},
        "packages": [{"registryType": "pypi", "identifier": "weather-mcp", "version": "2.0.0", "transport": {"type": "stdio"},
            "environmentVariables": [{"name": "WEATHER_KEY", "description": "The API key", "isRequired": true, "isSecret": true}]}],
    });
    Entry { server: server_with("io.example/forecast", "2.0.0", package), origin: None }
}

pub async fn ui_app(test: &TestStore) -> TestApp {
    let app = spawn_app(test, vec![file_registry("files"), managed_registry("internal")]).await;
    let mut entries: Vec<Entry> =
        (0..25).map(|n| entry(&format!("io.example/tool-{n:02}"), "1.0.0")).collect();
    entries.extend([hostile(), forecast(), entry("io.example/forecast", "1.0.0")]);
    app.snapshot("files", entries).await;
    app
}

fn html(reply: &Reply) -> String {
    reply.text.clone()
}

/// The servers a catalogue page lists.
fn listed(page: &str) -> usize {
    page.matches("<h2><a href=\"/ui/servers/").count()
}

on_both_backends! {
    async fn the_catalogue_lists_pages_and_searches_with_plain_get_forms(test: &TestStore) {
        let app = ui_app(test).await;

        let root = app.get("/").await;
        assert_eq!((root.status.as_u16(), root.headers["location"].to_str().unwrap()), (303, "/ui"));
        let first = app.get("/ui").await;
        assert_eq!(first.status, 200);
        assert_eq!(first.headers["content-type"], "text/html; charset=utf-8");
        let csp = first.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(first.headers["x-content-type-options"], "nosniff");
        assert_eq!(first.headers["cache-control"], "private, no-store", "a page may carry a visitor's name and token");
        assert!(first.headers.get_all("vary").iter().any(|v| v == "Cookie"), "{:?}", first.headers);
        let page = html(&first);
        assert_eq!(listed(&page), 20, "{page}");
        assert!(page.contains("20 servers on this page."));
        assert!(page.contains("<form class=\"search\" method=\"get\" action=\"/ui\""), "search works without JavaScript");
        let next = page.split("rel=\"next\"").next().unwrap().rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&amp;", "&");
        let second = html(&app.get(&next).await);
        assert_eq!(listed(&second), 7, "27 servers in all: {second}");
        assert!(!second.contains("rel=\"next\""), "the last page");

        let found = html(&app.get("/ui?q=WEATHER").await);
        assert_eq!(listed(&found), 0, "the package name is not searched: {found}");
        let found = html(&app.get("/ui?q=forecast").await);
        assert!(found.contains("href=\"/ui/servers/io.example/forecast\""), "one `/` as a path separator: {found}");
        assert!(found.contains("version 2.0.0") && found.contains("<span class=\"badge\">pypi</span>"));
        let facets = html(&app.get("/ui?q=forecast").await);
        assert!(facets.contains("<nav aria-label=\"Package type\">"), "{facets}");
        let pypi = facets.split("aria-label=\"Package type\"").nth(1).unwrap().split("</nav>").next().unwrap();
        assert!(pypi.contains(">pypi</a> <span class=\"muted\">1</span>"), "{pypi}");
        let chosen = html(&app.get("/ui?q=forecast&type=pypi").await);
        assert!(chosen.contains("aria-current=\"true\" class=\"chosen\">pypi</a>"), "{chosen}");
        assert!(chosen.contains("<input type=\"hidden\" name=\"type\" value=\"pypi\">"), "a new search keeps the facet");
        assert_eq!(listed(&chosen), 1);
        let local = html(&app.get("/ui?where=local&type=npm").await);
        assert_eq!(listed(&local), 0, "no npm package here: {local}");
        let unknown = app.get("/ui?status=sleeping").await;
        assert_eq!(unknown.status, 400);
        assert!(html(&unknown).contains("No status is called"), "{}", unknown.text);
        let none = html(&app.get("/ui?q=%3Cnothing%3E").await);
        assert!(none.contains("No server matches “&#60;nothing&#62;”.") || none.contains("No server matches “&lt;nothing&gt;”."), "{none}");

        // What the script swaps in as a search is typed: the facets and results alone, from the same template.
        let part = html(&app.get("/ui?q=forecast&type=pypi&fragment=listing").await);
        assert!(part.starts_with("<div class=\"catalogue\" id=\"listing\">") && part.ends_with("</div>"), "{part}");
        assert!(!part.contains("<html") && !part.contains("<form class=\"search\""), "{part}");
        assert_eq!(listed(&part), 1);
        assert!(part.contains("aria-current=\"true\" class=\"chosen\">pypi</a>"), "{part}");
        assert!(html(&app.get("/ui?q=forecast&type=pypi").await).starts_with("<!doctype html>"), "the page is cached apart");
        let registries = html(&app.get("/ui/registries?fragment=list").await);
        assert!(registries.starts_with("<div id=\"registry-list\">") && registries.contains("id=\"registry-files\""), "{registries}");
    }

    async fn a_server_page_shows_its_settings_versions_and_a_snippet_per_client(test: &TestStore) {
        let app = ui_app(test).await;

        let page = app.get("/ui/servers/io.example/forecast").await;
        assert_eq!(page.status, 200);
        let page = html(&page);
        for client in ["VS Code", "Claude Desktop", "Claude Code", "Cursor", "ToolHive"] {
            assert!(page.contains(&format!("-title\">{client}</h3>")), "{client}: {page}");
        }
        assert!(page.contains("uvx"), "the package's command");
        assert!(page.contains("<code>WEATHER_KEY</code></td><td>environment</td><td>yes</td><td>yes</td><td>The API key</td>"), "{page}");
        assert!(page.contains("<a href=\"https://github.com/example/forecast\" rel=\"noopener noreferrer\">"));
        assert!(page.contains("href=\"/ui/servers/io.example/forecast/versions/1.0.0\""), "the older version links to its page");
        let older = html(&app.get("/ui/servers/io.example/forecast/versions/1.0.0").await);
        assert!(older.contains("<strong>1.0.0</strong>") && !older.contains("(latest)"));
    }

    async fn untrusted_text_is_escaped_and_a_javascript_url_is_no_link(test: &TestStore) {
        let app = ui_app(test).await;

        let page = html(&app.get("/ui/servers/io.example/evil").await);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<b>Tool</b>"), "{page}");
        assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("href=\"javascript:"), "{page}");
        assert!(page.contains("<code>javascript:alert(1)</code>"), "shown as text: {page}");
        let listed = html(&app.get("/ui?q=evil").await);
        assert!(!listed.contains("<script>alert") && !listed.contains("<b>Tool</b>"), "{listed}");
    }

    async fn errors_are_pages_in_the_layout_and_assets_are_cached_for_good(test: &TestStore) {
        let app = ui_app(test).await;

        let missing = app.get("/ui/servers/io.example/nothing-here").await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.headers["content-type"], "text/html; charset=utf-8");
        assert!(html(&missing).contains("No server io.example/nothing-here version latest in this catalogue."));
        let nowhere = app.get("/ui/no/such/page").await;
        assert_eq!(nowhere.status, 404);
        assert!(html(&nowhere).contains("Back to the catalogue"));
        assert!(nowhere.headers.contains_key("content-security-policy"));
        let bad_cursor = app.get("/ui?cursor=%%%").await;
        assert_eq!(bad_cursor.status, 400);
        assert!(html(&bad_cursor).contains("Back to the catalogue"));

        let page = html(&app.get("/ui").await);
        let css = page.split("rel=\"stylesheet\" href=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert!(css.starts_with("/ui/assets/ui.") && css.ends_with(".css") && css.len() > "/ui/assets/ui..css".len(), "{css}");
        let sheet = app.get(&css).await;
        assert_eq!(sheet.status, 200);
        assert!(sheet.headers["cache-control"].to_str().unwrap().contains("immutable"), "{:?}", sheet.headers);
        assert!(html(&sheet).contains("prefers-color-scheme: dark"));
    }
}

#[tokio::test]
async fn with_the_ui_off_neither_ui_nor_root_is_served() {
    let test = TestStore::sqlite().await;
    let config = Config {
        ui: UiConfig { enabled: false, ..UiConfig::default() },
        ..test_config(test.config.clone(), vec![file_registry("files")])
    };
    let app = spawn_config(&test, config).await;

    assert_eq!(app.get("/ui").await.status, 404);
    assert_eq!(app.get("/").await.status, 404);
    test.cleanup().await;
}

#[tokio::test]
async fn the_registries_page_shows_each_source_and_sync_state_and_needs_a_token_in_oauth_mode() {
    let test = TestStore::sqlite().await;
    let app = spawn_app(&test, vec![file_registry("files"), managed_registry("internal")]).await;

    let page = app.get("/ui/registries").await;
    assert_eq!(page.status, 200);
    let page = html(&page);
    assert!(page.contains("id=\"registry-files\">files <span class=\"badge\">file</span>"), "{page}");
    assert!(
        page.contains("<code>{&#34;path&#34;:&#34;files.json&#34;}</code>") || page.contains("files.json"),
        "{page}"
    );
    assert!(page.contains("every 1m"), "the schedule: {page}");
    assert!(page.contains("written through the API"), "a managed registry's source: {page}");
    assert!(page.contains("<dt>Last success</dt><dd>never</dd>"), "{page}");
    test.cleanup().await;
}

#[tokio::test]
async fn with_public_reads_the_catalogue_is_open_and_the_registries_page_needs_a_token() {
    use crate::auth::{AUDIENCE, app_with, oauth, provider};
    use registry_testkit::oidc::MockProvider;
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let app = app_with(&test, oauth(vec![provider(&mock, "idp")], true)).await;
    let token = mock.token(AUDIENCE, json!({}));

    assert_eq!(app.get("/ui").await.status, 200, "a read, open with publicReads");
    assert_eq!(app.get("/ui/registries").await.status, 401, "sources and sync state need a token");
    let with_token = app.get_as("/ui/registries", Some(&format!("Bearer {token}"))).await;
    assert_eq!(with_token.status, 200, "{}", with_token.text);
    assert!(html(&with_token).contains("id=\"registry-internal\""));
    test.cleanup().await;
}

#[tokio::test]
async fn the_validate_page_lists_every_issue_with_its_path_from_a_plain_form() {
    let test = TestStore::sqlite().await;
    let app = spawn_app(&test, vec![managed_registry("internal")]).await;
    let form = |document: &str| {
        let body =
            url::form_urlencoded::Serializer::new(String::new()).append_pair("document", document).finish();
        let request = app.client.post(format!("{}/ui/publish/validate", app.base));
        app.send(request.header("content-type", "application/x-www-form-urlencoded").body(body))
    };

    let page = app.get("/ui/publish").await;
    assert_eq!(page.status, 200);
    assert!(html(&page).contains("<form method=\"post\" action=\"/ui/publish/validate\""), "{}", page.text);
    assert!(html(&page).contains("registry <strong>internal</strong>"));
    let broken =
        form(r#"{"name": "io.example/x", "version": "1.0.0", "description": "", "websiteUrl": "ftp://x"}"#)
            .await;
    assert_eq!(broken.status, 200);
    let broken = html(&broken);
    assert!(broken.contains("Not valid:"), "{broken}");
    assert!(broken.contains("<code>description</code>"), "each issue names its path: {broken}");
    assert!(
        broken.contains("&#34;io.example/x&#34;") || broken.contains("&quot;io.example/x&quot;"),
        "the document stays in the form"
    );
    let good = serde_json::to_string(&server("io.example/ok", "1.0.0")).unwrap();
    assert!(html(&form(&good).await).contains("Valid: no issues found"));
    assert!(html(&form("{not json").await).contains("not valid JSON"));
    // Validating stores nothing.
    assert!(
        test.store
            .list_servers(&registry_store::ListQuery::new(registry_store::Scope::Aggregated))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    test.cleanup().await;
}

#[tokio::test]
async fn with_a_registry_chosen_a_row_opens_that_registrys_version_of_a_shared_name() {
    let test = TestStore::sqlite().await;
    let app = spawn_app(&test, vec![file_registry("first"), file_registry("second")]).await;
    let described = |text: &str| Entry {
        server: server_with("io.example/shared", "1.0.0", json!({"description": text})),
        origin: None,
    };
    app.snapshot("first", vec![described("as the first registry has it")]).await;
    app.snapshot("second", vec![described("as the second registry has it")]).await;

    let listed = html(&app.get("/ui?registry=second").await);
    assert!(listed.contains("href=\"/ui/servers/io.example/shared?registry=second\""), "{listed}");
    let scoped = html(&app.get("/ui/servers/io.example/shared?registry=second").await);
    assert!(scoped.contains("as the second registry has it"), "{scoped}");
    assert!(
        scoped.contains("href=\"/ui/servers/io.example/shared/versions/1.0.0?registry=second\"")
            || scoped.contains("<strong>1.0.0</strong>")
    );
    let aggregated = html(&app.get("/ui/servers/io.example/shared").await);
    assert!(aggregated.contains("as the first registry has it"), "the first in precedence: {aggregated}");
    assert_eq!(app.get("/ui/servers/io.example/shared?registry=nope").await.status, 404);
    test.cleanup().await;
}
