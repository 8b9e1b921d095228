//! The web catalogue in a real browser: headless Chromium over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test.sh` installs), driven by thirtyfour. Pages load only from
//! 127.0.0.1, and Chromium's own background traffic is off. The flows a person follows, with JavaScript on
//! and off; axe-core (vendored under `tests/fixtures/axe-core`) on every page at WCAG 2.1 AA, light and dark;
//! and screenshots of every page at 1280 and 375 px, light and dark, saved under `target/ui-screens/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thirtyfour::prelude::*;
use tokio::process::{Child, Command};

use registry_testkit::*;

use crate::helpers::*;
use crate::ui::ui_app;

/// A chromedriver on a free loopback port and one browser session, both ended when dropped.
struct Browser {
    driver: WebDriver,
    _chromedriver: Child,
}

impl Browser {
    async fn start(javascript: bool) -> Self {
        let port = free_port();
        let chromedriver = Command::new("chromedriver")
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (scripts/test.sh installs Debian's chromium-driver)");
        let status = format!("http://127.0.0.1:{port}/status");
        let client = client_builder().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(&status).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = DesiredCapabilities::chrome();
        caps.set_headless().unwrap();
        for arg in ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            .into_iter()
            .chain(CHROMIUM_QUIET)
        {
            caps.add_arg(arg).unwrap();
        }
        if !javascript {
            caps.add_experimental_option(
                "prefs",
                json!({"profile.managed_default_content_settings.javascript": 2}),
            )
            .unwrap();
        }
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps).await.unwrap();
        Self { driver, _chromedriver: chromedriver }
    }

    async fn quit(self) {
        self.driver.quit().await.unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (up to 10 s) until the address is `path`: a navigation, or the script's `replaceState`.
async fn until_path(driver: &WebDriver, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path_of(driver).await != path {
        assert!(Instant::now() < deadline, "the address stayed {}, not {path}", path_of(driver).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path_of(driver: &WebDriver) -> String {
    let url = driver.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[tokio::test]
async fn a_person_searches_opens_a_server_copies_a_snippet_filters_by_a_facet_and_pages_to_the_end() {
    let test = TestStore::sqlite().await;
    let app = ui_app(&test).await;
    let browser = Browser::start(true).await;
    let driver = &browser.driver;

    driver.goto(format!("{}/ui", app.base)).await.unwrap();
    driver.find(By::Id("q")).await.unwrap().send_keys("forecast").await.unwrap();
    driver.find(By::Css("form.search button")).await.unwrap().click().await.unwrap();
    // The form's page, or the script's swap as the name was typed: either way one result, at this address.
    driver.query(By::XPath("//p[@id='count'][. = '1 server on this page.']")).first().await.unwrap();
    until_path(driver, "/ui?q=forecast").await;
    driver.query(By::Css("ol.results li h2 a")).first().await.unwrap().click().await.unwrap();
    until_path(driver, "/ui/servers/io.example/forecast").await;
    assert_eq!(driver.find(By::Css("h1")).await.unwrap().text().await.unwrap(), "io.example/forecast");

    // The copy button shows with JavaScript; it copies, or (without a clipboard) selects the snippet.
    let copy = driver.find(By::Css("button[data-copy='install-cursor']")).await.unwrap();
    assert!(copy.is_displayed().await.unwrap());
    copy.click().await.unwrap();
    let status = driver.find(By::Id("install-cursor-status")).await.unwrap().text().await.unwrap();
    let snippet = driver.find(By::Id("install-cursor")).await.unwrap().value().await.unwrap().unwrap();
    assert!(snippet.contains("\"command\": \"uvx\""), "{snippet}");
    match status.as_str() {
        "Copied." => {}
        selected if selected.starts_with("Selected") => {
            let chosen = driver.execute("return window.getSelection().toString() || document.activeElement.value.substring(document.activeElement.selectionStart, document.activeElement.selectionEnd);", Vec::new()).await.unwrap();
            assert_eq!(chosen.json(), &Value::String(snippet), "the whole snippet is selected");
        }
        other => panic!("the copy button said {other:?}"),
    }

    // A facet narrows the list, and choosing it again clears it.
    driver.goto(format!("{}/ui", app.base)).await.unwrap();
    driver
        .find(By::XPath("//nav[@aria-label='Package type']//a[text()='pypi']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until_path(driver, "/ui?type=pypi").await;
    assert_eq!(driver.find_all(By::Css("ol.results li")).await.unwrap().len(), 1);
    driver
        .find(By::Css("nav[aria-label='Package type'] a[aria-current='true']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until_path(driver, "/ui").await;

    // As a search is typed, the results, their count and the address follow, without loading the page.
    driver.execute("window.samePage = true;", Vec::new()).await.unwrap();
    driver.find(By::Id("q")).await.unwrap().send_keys("tool-0").await.unwrap();
    driver.query(By::XPath("//p[@id='count'][. = '10 servers on this page.']")).first().await.unwrap();
    until_path(driver, "/ui?q=tool-0").await;
    let page = driver
        .execute(
            "return [window.samePage === true, document.getElementById('announce').textContent];",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(page.json(), &json!([true, "10 servers on this page."]), "no page load; the count is said");

    // Paging to the end: 27 servers, 20 then 7.
    driver.goto(format!("{}/ui", app.base)).await.unwrap();
    let mut seen = 0;
    loop {
        seen += driver.find_all(By::Css("ol.results li")).await.unwrap().len();
        let Ok(next) = driver.find(By::Css("a[rel='next']")).await else { break };
        next.click().await.unwrap();
    }
    assert_eq!(seen, 27);
    browser.quit().await;
    test.cleanup().await;
}

#[tokio::test]
async fn without_javascript_search_and_snippets_still_work() {
    let test = TestStore::sqlite().await;
    let app = ui_app(&test).await;
    let browser = Browser::start(false).await;
    let driver = &browser.driver;

    driver.goto(format!("{}/ui", app.base)).await.unwrap();
    driver.find(By::Id("q")).await.unwrap().send_keys("tool-0").await.unwrap();
    driver.find(By::Css("form.search button")).await.unwrap().click().await.unwrap();
    until_path(driver, "/ui?q=tool-0").await;
    assert_eq!(driver.find_all(By::Css("ol.results li")).await.unwrap().len(), 10, "tool-00 to tool-09");
    driver.goto(format!("{}/ui/servers/io.example/forecast", app.base)).await.unwrap();
    let copy = driver.find(By::Css("button[data-copy='install-vscode']")).await.unwrap();
    assert!(!copy.is_displayed().await.unwrap(), "no copy button without the script");
    let snippet = driver.find(By::Id("install-vscode")).await.unwrap();
    assert!(
        snippet.value().await.unwrap().unwrap().contains("weather-mcp"),
        "the snippet is there to select"
    );
    // Publish is a plain form too (anonymous mode: anyone may, with the form's token from its cookie).
    driver.goto(format!("{}/ui/publish", app.base)).await.unwrap();
    let document = server_json("io.example/no-script", "1.0.0").to_string();
    driver.find(By::Id("document")).await.unwrap().send_keys(&document).await.unwrap();
    driver.find(By::Css("button[formaction='/ui/publish']")).await.unwrap().click().await.unwrap();
    driver.query(By::XPath("//h1[contains(., 'io.example/no-script')]")).first().await.unwrap();
    until_path(driver, "/ui/servers/io.example/no-script/versions/1.0.0?registry=internal").await;
    browser.quit().await;
    test.cleanup().await;
}

/// Where the screenshots go: `target/ui-screens/`, beside the build.
fn screens() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    let dir = target.join("ui-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// axe-core's violations of WCAG 2.0 A and AA and 2.1 AA on the page shown.
async fn violations(driver: &WebDriver) -> Vec<Value> {
    let axe = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/axe-core/axe.min.js"),
    )
    .unwrap();
    driver.execute(axe, Vec::new()).await.unwrap();
    let run = "const done = arguments[arguments.length - 1]; \
        axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa']}) \
        .then(r => done({violations: r.violations, passes: r.passes.length}), e => done({error: String(e)}));";
    let found = driver.execute_async(run, Vec::new()).await.unwrap();
    let found = found.json();
    assert!(found["passes"].as_u64().is_some_and(|n| n > 0), "axe ran and checked rules: {found}");
    found["violations"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn every_page_passes_axe_at_wcag_21_aa_light_and_dark_and_is_photographed_at_two_widths() {
    let test = TestStore::sqlite().await;
    let app = ui_app(&test).await;
    let browser = Browser::start(true).await;
    let driver = &browser.driver;
    let tools = driver.cdp();
    let dir = screens();
    let pages = [
        ("catalogue", "/ui"),
        ("search", "/ui?q=tool"),
        ("server", "/ui/servers/io.example/forecast"),
        ("hostile", "/ui/servers/io.example/evil"),
        ("not-found", "/ui/servers/io.example/nothing-here"),
        ("registries", "/ui/registries"),
        ("validate", "/ui/publish"),
        ("signed-out", "/ui/auth/signed-out"),
    ];
    let mut failures = Vec::new();
    for scheme in ["light", "dark"] {
        let media = json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]});
        tools.send_raw("Emulation.setEmulatedMedia", media).await.unwrap();
        for (width, height) in [(1280, 900), (375, 812)] {
            driver.set_window_rect(0, 0, width, height).await.unwrap();
            for (name, path) in pages {
                driver.goto(format!("{}{path}", app.base)).await.unwrap();
                let png = driver.screenshot_as_png().await.unwrap();
                assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}: a rendered page");
                std::fs::write(dir.join(format!("{name}-{width}-{scheme}.png")), png).unwrap();
                if width == 1280 {
                    for violation in violations(driver).await {
                        failures
                            .push(format!("{name} ({scheme}): {} {}", violation["id"], violation["help"]));
                    }
                }
            }
        }
    }
    // The validation page with its errors, submitted as a person would.
    driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
    driver.goto(format!("{}/ui/publish", app.base)).await.unwrap();
    driver
        .find(By::Id("document"))
        .await
        .unwrap()
        .send_keys(r#"{"name": "bad name", "version": ""}"#)
        .await
        .unwrap();
    driver.find(By::Css("form.publish button")).await.unwrap().click().await.unwrap();
    // The answer is a new page: wait for it rather than read the old one.
    let result = driver.query(By::Id("result")).first().await.unwrap();
    assert!(result.text().await.unwrap().starts_with("Not valid"));
    std::fs::write(dir.join("validate-errors-1280-dark.png"), driver.screenshot_as_png().await.unwrap())
        .unwrap();
    for violation in violations(driver).await {
        failures.push(format!("validate-errors: {} {}", violation["id"], violation["help"]));
    }
    assert!(failures.is_empty(), "axe found:\n{}", failures.join("\n"));
    browser.quit().await;
    test.cleanup().await;
}

/// The text of the element `css` selects once `wanted` shows in it, as the page's script shows it again (a
/// worker's sync takes its time), without reloading the page.
async fn shown_in_place(driver: &WebDriver, css: &str, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The script may swap the element between finding it and reading it: then read it again.
        let text = match driver.find(By::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(wanted) {
            return text;
        }
        assert!(Instant::now() < deadline, "{wanted:?} never showed:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_person_signs_in_syncs_a_registry_publishes_and_signs_out() {
    use registry_store::SyncPhase;

    let test = TestStore::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let provider = crate::oidc_e2e::LocalProvider::start(&dir.path().join("oidc-provider.log")).await;
    let mut config = provider.example_config();
    config.database = test.config.clone();
    config.audit.file = Some(dir.path().join("audit.jsonl"));
    config.registries.push(file_registry("files"));
    let port = free_port();
    let sign_in = config.ui.sign_in.as_mut().unwrap();
    sign_in.redirect_urls = vec![format!("http://127.0.0.1:{port}/ui/auth/callback").parse().unwrap()];
    let app = spawn_config_at(&test, config.clone(), port).await;
    let browser = Browser::start(true).await;
    let driver = &browser.driver;

    // The registries page needs a signed-in user: the provider's form, then back.
    driver.goto(format!("{}/ui/registries", app.base)).await.unwrap();
    let login = driver.query(By::Id("login")).first().await.unwrap();
    login.send_keys("alice").await.unwrap();
    driver.find(By::Id("sign-in")).await.unwrap().click().await.unwrap();
    let who = driver.query(By::ClassName("who")).first().await.unwrap();
    assert_eq!(who.text().await.unwrap(), "Signed in as Alice Example");
    until_path(driver, "/ui/registries").await;
    const FILES: &str = "section[aria-labelledby='registry-files']";
    let before = driver.find(By::Css(FILES)).await.unwrap().text().await.unwrap();
    assert!(before.contains("idle"), "no worker has run yet: {before}");
    for width in [375, 1280] {
        driver.set_window_rect(0, 0, width, 900).await.unwrap();
        let png = driver.screenshot_as_png().await.unwrap();
        std::fs::write(screens().join(format!("registries-signed-in-{width}-light.png")), png).unwrap();
    }
    let found = violations(driver).await;
    assert!(found.is_empty(), "axe on the signed-in registries page: {found:?}");

    // Sync now: queued at once; then, as a worker reports the sync's phases (the worker's own tests run the
    // sync itself), the page shows each in place, without a reload.
    driver
        .find(By::Css("form[action='/ui/registries/files/sync'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = driver.query(By::Css("p.notice")).first().await.unwrap();
    assert!(notice.text().await.unwrap().contains("A sync of files is queued"));
    assert!(driver.find(By::Css(FILES)).await.unwrap().text().await.unwrap().contains("queued"));
    driver.execute("window.samePage = true;", Vec::new()).await.unwrap();
    let mut status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
    status.phase = SyncPhase::Syncing;
    test.store.put_sync_status(&status).await.unwrap();
    shown_in_place(driver, FILES, "syncing").await;
    test.store.write_snapshot(&name("files"), vec![entry("io.example.files/one", "1.0.0")]).await.unwrap();
    (status.phase, status.server_count, status.job_id) = (SyncPhase::Complete, 1, None);
    status.last_success_at = Some(chrono::Utc::now());
    test.store.put_sync_status(&status).await.unwrap();
    let synced = shown_in_place(driver, FILES, "complete").await;
    assert!(synced.contains("Servers\n1"), "{synced}");
    let same = driver.execute("return window.samePage === true;", Vec::new()).await.unwrap();
    assert_eq!(same.json(), &Value::Bool(true), "the page showed the sync go by without a reload");

    // Publish: a person with the right pastes a document, and lands on its page.
    driver.goto(format!("{}/ui/publish", app.base)).await.unwrap();
    let document = server_json("com.example.acme/desk", "1.0.0").to_string();
    driver.find(By::Id("document")).await.unwrap().send_keys(&document).await.unwrap();
    driver.find(By::Css("button[formaction='/ui/publish']")).await.unwrap().click().await.unwrap();
    let heading = driver.query(By::XPath("//h1[contains(., 'com.example.acme/desk')]")).first().await;
    assert!(heading.is_ok(), "the new version's page: {}", path_of(driver).await);
    until_path(driver, "/ui/servers/com.example.acme/desk/versions/1.0.0?registry=internal").await;

    // Sign out: a page anyone may see says so, and the bar offers sign-in again.
    driver.find(By::Css("form[action='/ui/auth/sign-out'] button")).await.unwrap().click().await.unwrap();
    driver.query(By::XPath("//h1[. = 'Signed out']")).first().await.unwrap();
    until_path(driver, "/ui/auth/signed-out").await;
    assert!(driver.find_all(By::ClassName("who")).await.unwrap().is_empty(), "nobody is signed in");

    // bob, without roles, is offered no Publish (and a forged post is refused: ui_sign_in.rs). The provider
    // remembers alice: forget every cookie of 127.0.0.1 (both sites) first.
    driver.delete_all_cookies().await.unwrap();
    driver.goto(format!("{}/ui/publish", app.base)).await.unwrap();
    driver.query(By::Id("login")).first().await.unwrap().send_keys("bob").await.unwrap();
    driver.find(By::Id("sign-in")).await.unwrap().click().await.unwrap();
    let who = driver.query(By::ClassName("who")).first().await.unwrap();
    assert_eq!(who.text().await.unwrap(), "Signed in as Bob Example");
    assert_eq!(driver.find(By::Tag("h1")).await.unwrap().text().await.unwrap(), "Validate a server.json");
    assert!(driver.find_all(By::Css("button[formaction='/ui/publish']")).await.unwrap().is_empty());

    browser.quit().await;
    test.cleanup().await;
}
