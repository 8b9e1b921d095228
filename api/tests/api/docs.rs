//! The `/docs` page as a person sees it: headless Chromium loads it, runs its scripts, and the DOM and a
//! screenshot show the operations.

use std::path::PathBuf;
use std::time::Duration;

use registry_testkit::*;

use crate::helpers::*;

/// Chromium from Debian's package (scripts/test.sh installs it).
fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect(
            "headless Chromium is needed for the page tests: apt-get install chromium (scripts/test.sh does)",
        )
}

/// Runs headless Chromium on `url` with `args`; its stdout.
async fn headless(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(chromium());
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(CHROMIUM_QUIET)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=15000", "--window-size=1280,900"])
        .args(args)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output()).await.unwrap().unwrap();
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_docs_page_shows_every_operation_in_a_real_browser() {
    let test = TestStore::sqlite().await;
    let app = spawn_app(&test, vec![managed_registry("internal"), file_registry("files")]).await;
    let shots = tempfile::tempdir().unwrap();
    let screenshot = shots.path().join("docs.png");

    let bare = app.get("/docs").await;
    let page = app.send(app.client.get(format!("{}/docs/", app.base))).await;
    let dom = headless(&format!("{}/docs", app.base), &["--dump-dom"]).await;
    headless(&format!("{}/docs", app.base), &[&format!("--screenshot={}", screenshot.display())]).await;

    assert_eq!(bare.status.as_u16(), 303, "/docs leads to /docs/");
    assert_eq!(bare.headers["location"], "/docs/");
    assert_eq!(page.status, 200, "/docs/ is served, not redirected back");
    assert!(!dom.contains("[object HTML"), "the old page's failure");
    let operations = dom.matches("class=\"opblock-summary-path\"").count();
    let document = app.get("/openapi.json").await.body;
    let declared: usize =
        document["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(operations, declared, "one block per operation of /openapi.json");
    for path in [
        "/v0.1/servers",
        "/registry/{registryName}/v0.1/publish",
        "/extension/v0/registries/{name}/sync",
        "/readiness",
    ] {
        assert!(dom.contains(&format!("data-path=\"{path}\"")), "{path} is shown");
    }
    assert!(dom.contains("MCP Registry Server"), "the document's title is shown");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 30_000,
        "a rendered page, not a blank one: {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("KEEP_SCREENSHOTS") {
        std::fs::copy(&screenshot, PathBuf::from(keep).join("docs.png")).unwrap();
    }
    test.cleanup().await;
}
