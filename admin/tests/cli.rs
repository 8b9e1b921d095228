//! `registry-admin` as an operator runs it: the real binary, real PostgreSQL, real SQLite files.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use registry_testkit::PostgresDatabase;
use sqlx::{Connection, PgConnection};

fn admin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_registry-admin"));
    command.args(args).envs(env.iter().copied());
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn config_check_prints_the_loaded_configuration_with_secrets_redacted() {
    let output = admin(
        &["config", "check", "--config", &example("production.yaml")],
        &[("REGISTRY_REDIS__URL", "redis://:very-secret@cache:6379")],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("registryName: acme-registry"));
    assert!(printed.contains("redis://:***@cache:6379"), "{printed}");
    assert!(!printed.contains("very-secret"));
}

/// Runs `config check` on each file, and says how many there were.
fn assert_config_check_accepts(paths: &[PathBuf]) -> usize {
    for path in paths {
        let output = admin(&["config", "check", "--config", path.to_str().unwrap()], &[]);
        assert!(output.status.success(), "{}: {}", path.display(), stderr(&output));
    }
    paths.len()
}

#[test]
fn config_check_accepts_every_toolhive_v049_style_config() {
    let checked = assert_config_check_accepts(&registry_testkit::fixtures::toolhive_v049_configs());

    assert!(checked >= 6, "found only {checked} configurations");
}

#[test]
#[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
fn reference_config_check_accepts_every_toolhive_v049_example_config() {
    let Some(reference) = registry_testkit::reference::dir("ToolHive v0.4.9's example configs") else {
        return;
    };
    let dir = reference.join("toolhive-registry-server/v0.4.9/examples");
    let paths = registry_testkit::fixtures::files_in(&dir, "yaml");

    assert_eq!(assert_config_check_accepts(&paths), 12);
}

#[test]
fn config_check_rejects_a_broken_config_with_exit_2_and_one_line_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "registries:\n  - name: a\n    git: {repository: 'https://x.example/r.git', branch: main, commit: abcdef1}\n    syncPolicy: {interval: 5 minutes please}\nauth: {mode: anonymous}\ndatabase: {port: 5432}\n",
    );

    let output = admin(&["config", "check", "--config", config.to_str().unwrap()], &[]);

    assert_eq!(output.status.code(), Some(2));
    let lines: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "registries[0].git: exactly one of branch, tag, commit, or none for the default branch",
            "registries[0].syncPolicy.interval: \"5 minutes please\" is not a duration (write e.g. 200ms, 30s, 5m, 1h)",
            "database.port: is a PostgreSQL setting: also set database.host or database.url",
        ]
    );
    assert!(stdout(&output).is_empty());
}

/// The signing key of registry tokens: a malformed file fails the check naming its key; a file that cannot
/// be read here (mounted only where the API runs) is a warning.
#[test]
fn config_check_reads_the_registry_token_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing-key");
    let config = write_config(
        dir.path(),
        &format!(
            "registries: [{{name: internal, managed: {{}}}}]\nauth: {{mode: anonymous, publisherTokens: {{signingKeyFile: {}, methods: {{none: {{enabled: true}}}}}}}}\n",
            key.display()
        ),
    );
    let check = |extra: &[&str]| {
        let mut args = vec!["config", "check", "--config", config.to_str().unwrap()];
        args.extend(extra);
        admin(&args, &[])
    };

    std::fs::write(&key, "not hex\n").unwrap();
    let malformed = check(&[]);
    assert_eq!(malformed.status.code(), Some(2));
    assert_eq!(
        stderr(&malformed).trim(),
        format!(
            "auth.publisherTokens.signingKeyFile: {}: must hold an Ed25519 seed: 64 hex digits",
            key.display()
        )
    );

    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let good = check(&[]);
    assert!(good.status.success() && stderr(&good).is_empty(), "{}", stderr(&good));

    std::fs::remove_file(&key).unwrap();
    let unmounted = check(&[]);
    assert!(unmounted.status.success(), "{}", stderr(&unmounted));
    assert!(
        stderr(&unmounted).starts_with("warning: auth.publisherTokens.signingKeyFile: "),
        "{}",
        stderr(&unmounted)
    );
    assert_eq!(check(&["--deny-warnings"]).status.code(), Some(2));
}

#[test]
fn a_missing_config_file_is_named() {
    let output = admin(&["config", "check", "--config", "/nonexistent/registry.yaml"], &[]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).starts_with("/nonexistent/registry.yaml: "), "{}", stderr(&output));
}

#[test]
fn migrate_creates_the_sqlite_file_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/registry.db");
    let config = write_config(
        dir.path(),
        &format!(
            "registries: [{{name: internal, managed: {{}}}}]\nauth: {{mode: anonymous}}\ndatabase: {{path: {}}}\n",
            db.display()
        ),
    );
    let config = config.to_str().unwrap();

    let first = admin(&["migrate", "--config", config], &[]);
    let second = admin(&["migrate", "--config", config], &[]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert!(db.is_file());
    assert!(stdout(&first).contains("applied registry 20261122000001 core schema"), "{}", stdout(&first));
    assert!(stdout(&first).contains("applied queue "));
    assert!(stdout(&first).ends_with("registries: added internal (1 configured)\n"), "{}", stdout(&first));
    assert_eq!(
        stdout(&second).trim(),
        format!(
            "SQLite file {}: nothing to apply, the schema is up to date\nregistries: none (1 configured)",
            db.display()
        )
    );
}

#[tokio::test]
async fn migrate_builds_the_postgres_schema_once() {
    let database = PostgresDatabase::create().await;
    let url = database.url.to_string();
    let dir = tempfile::tempdir().unwrap();
    // The database comes from the environment alone, as a container would set it.
    let env_only =
        write_config(dir.path(), "registries: [{name: internal, managed: {}}]\nauth: {mode: anonymous}\n");
    let env = [("REGISTRY_DATABASE__URL", url.as_str())];
    let first = admin(&["migrate", "--config", env_only.to_str().unwrap()], &env);
    let second = admin(&["migrate", "--config", env_only.to_str().unwrap()], &env);

    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("applied registry 20261122000001 core schema"));
    assert_eq!(
        stdout(&second).trim(),
        "PostgreSQL: nothing to apply, the schema is up to date\nregistries: none (1 configured)"
    );
    let mut db = PgConnection::connect(&url).await.unwrap();
    let tables: Vec<(String,)> =
        sqlx::query_as("select tablename::text from pg_tables where schemaname = 'public' order by 1")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let tables: Vec<&str> = tables.iter().map(|(t,)| t.as_str()).collect();
    assert_eq!(
        tables,
        [
            "content_generation",
            "probe_change",
            "probe_result",
            "probe_schedule",
            "probe_tool_list",
            "registry",
            "registry_instance",
            "registry_schema_migration",
            "server_version",
            "sync_staging",
            "sync_status",
            "ui_session",
            "ui_sign_in"
        ]
    );
    db.close().await.unwrap();
    database.drop_now().await;
}

/// A SQLite configuration with a managed and a file registry.
fn two_registries(dir: &Path) -> PathBuf {
    write_config(
        dir,
        &format!(
            "registries:\n  - {{name: internal, managed: {{}}}}\n  - {{name: files, file: {{path: x.json}}, syncPolicy: {{interval: 5m}}}}\nauth: {{mode: anonymous}}\ndatabase: {{path: {}}}\n",
            dir.join("r.db").display()
        ),
    )
}

#[test]
fn enqueue_sync_queues_once_refuses_managed_and_unknown_and_jobs_shows_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_registries(dir.path());
    let config = config.to_str().unwrap();
    assert!(admin(&["migrate", "--config", config], &[]).status.success());

    let first = admin(&["enqueue-sync", "files", "--config", config], &[]);
    let again = admin(&["enqueue-sync", "--all", "--config", config], &[]);
    let managed = admin(&["enqueue-sync", "internal", "--config", config], &[]);
    let unknown = admin(&["enqueue-sync", "nope", "--config", config], &[]);
    let jobs = admin(&["jobs", "--config", config], &[]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).starts_with("files: queued job "), "{}", stdout(&first));
    assert!(
        stdout(&again).starts_with("files: a sync is already queued or running (job "),
        "{}",
        stdout(&again)
    );
    assert_eq!(managed.status.code(), Some(1));
    assert!(stderr(&managed).contains("internal is managed"), "{}", stderr(&managed));
    assert!(stderr(&unknown).contains("nope is not a stored registry"), "{}", stderr(&unknown));
    assert_eq!(stdout(&jobs).trim(), "sync queue: Pending 1");
}

#[test]
fn enqueue_probe_queues_once_and_refuses_a_registry_without_probing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "registries:\n  - {{name: files, file: {{path: x.json}}, syncPolicy: {{interval: 5m}}}}\n  - {{name: probed, file: {{path: x.json}}, syncPolicy: {{interval: 5m}}, probe: {{enabled: true}}}}\nauth: {{mode: anonymous}}\ndatabase: {{path: {}}}\n",
            dir.path().join("r.db").display()
        ),
    );
    let config = config.to_str().unwrap();
    assert!(admin(&["migrate", "--config", config], &[]).status.success());

    let first = admin(&["enqueue-probe", "probed", "--config", config], &[]);
    let again = admin(&["enqueue-probe", "--all", "--config", config], &[]);
    let off = admin(&["enqueue-probe", "files", "--config", config], &[]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).starts_with("probed: queued job "), "{}", stdout(&first));
    assert!(
        stdout(&again).starts_with("probed: a probe pass is already queued or running (job "),
        "--all takes only the registries with probing on: {}",
        stdout(&again)
    );
    assert_eq!(off.status.code(), Some(1));
    assert!(stderr(&off).contains("probing is off for files"), "{}", stderr(&off));
}

#[test]
fn status_lists_every_registry_as_a_table_or_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_registries(dir.path());
    let config = config.to_str().unwrap();
    assert!(admin(&["migrate", "--config", config], &[]).status.success());

    let table = admin(&["status", "--config", config], &[]);
    let json = admin(&["status", "--config", config, "-o", "json"], &[]);

    assert!(table.status.success(), "{}", stderr(&table));
    let lines: Vec<String> = stdout(&table).lines().map(str::to_owned).collect();
    assert!(lines[0].starts_with("REGISTRY  TYPE     PHASE"), "{}", lines[0]);
    assert!(lines[1].starts_with("internal  managed  complete"), "{}", lines[1]);
    assert!(lines[2].starts_with("files     file     idle"), "{}", lines[2]);
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(parsed[1]["name"], "files");
    assert_eq!(parsed[1]["phase"], "idle");
    assert!(parsed[1]["nextDueAt"].is_string());
}

#[test]
fn version_names_the_commit_and_build_date() {
    let output = admin(&["version"], &[]);

    assert!(output.status.success());
    let line = stdout(&output);
    assert!(line.starts_with(&format!("registry-admin {} (commit ", env!("CARGO_PKG_VERSION"))), "{line}");
    assert!(line.contains(", built 20"), "{line}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["migrate", "--help"],
        &["config", "--help"],
        &["config", "check", "--help"],
        &["enqueue-probe", "--help"],
        &["version", "--help"],
    ] {
        let output = admin(args, &[]);
        assert!(output.status.success(), "{args:?}");
        assert!(stdout(&output).contains("Usage: registry-admin"), "{args:?}");
    }
}

#[test]
fn publish_reports_one_line_per_file_and_fails_when_any_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_registries(dir.path());
    let config = config.to_str().unwrap();
    let only_internal = dir.path().join("internal-only.yaml");
    let yaml = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        &only_internal,
        yaml.replace("  - {name: files, file: {path: x.json}, syncPolicy: {interval: 5m}}\n", ""),
    )
    .unwrap();
    let only_internal = only_internal.to_str().unwrap();
    let good = example("publish/ticket-desk.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json", "name": "io.example/bad", "description": "d", "version": "^1.0"}"#).unwrap();
    let bad = bad.to_str().unwrap();

    let not_stored = admin(&["publish", &good, "--registry", "internal", "--config", config], &[]);
    assert!(admin(&["migrate", "--config", config], &[]).status.success());
    let checked = admin(
        &["publish", &good, "--registry", "internal", "--validate-only", "--config", only_internal],
        &[],
    );
    let first = admin(&["publish", &good, bad, "--registry", "internal", "--config", only_internal], &[]);
    let again = admin(&["publish", &good, "--registry", "internal", "--config", config], &[]);
    let not_managed = admin(&["publish", &good, "--registry", "files", "--config", config], &[]);
    let status = admin(&["status", "--output", "json", "--config", config], &[]);

    assert!(
        stderr(&not_stored).contains("the database schema is behind")
            && stderr(&not_stored).contains("registry-admin migrate"),
        "{}",
        stderr(&not_stored)
    );
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert_eq!(stdout(&checked), format!("{good}: valid\n"));
    assert_eq!(first.status.code(), Some(1));
    let lines: Vec<String> = stdout(&first).lines().map(str::to_owned).collect();
    assert_eq!(lines[0], format!("{good}: published com.example.platform/ticket-desk 1.4.0"));
    assert!(lines[1].starts_with(&format!("{bad}: invalid: version: ")), "{}", lines[1]);
    assert!(stderr(&first).contains("1 of 2 files failed"));
    assert_eq!(
        stdout(&again),
        format!("{good}: already published, unchanged: com.example.platform/ticket-desk 1.4.0\n"),
        "a retry of the same file stores nothing"
    );
    assert!(stderr(&not_managed).contains("files is a file registry"), "{}", stderr(&not_managed));
    assert!(stdout(&status).contains("\"files\""), "a configuration naming only internal left files alone");
}

#[tokio::test]
async fn publish_writes_to_postgres_through_the_same_store_path() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "registries:\n  - {{name: internal, managed: {{}}}}\nauth: {{mode: anonymous}}\ndatabase: {{url: \"{}\"}}\n",
        database.url
    );
    let config = write_config(dir.path(), &yaml);
    let config = config.to_str().unwrap();
    assert!(admin(&["migrate", "--config", config], &[]).status.success());

    let published = admin(
        &["publish", &example("publish/ticket-desk.json"), "--registry", "internal", "--config", config],
        &[],
    );

    assert!(published.status.success(), "{}{}", stdout(&published), stderr(&published));
    let mut conn = PgConnection::connect(database.url.as_str()).await.unwrap();
    let (name, latest): (String, bool) =
        sqlx::query_as("select name, is_latest from server_version where registry = 'internal'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((name.as_str(), latest), ("com.example.platform/ticket-desk", true));
    conn.close().await.unwrap();
    database.drop_now().await;
}

#[test]
fn drop_registry_deletes_only_a_registry_that_left_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_registries(dir.path());
    let config = config.to_str().unwrap();
    assert!(admin(&["migrate", "--config", config], &[]).status.success());
    assert!(
        admin(
            &["publish", &example("publish/ticket-desk.json"), "--registry", "internal", "--config", config],
            &[]
        )
        .status
        .success()
    );
    let files_only = dir.path().join("files-only.yaml");
    std::fs::write(
        &files_only,
        std::fs::read_to_string(config).unwrap().replace("  - {name: internal, managed: {}}\n", ""),
    )
    .unwrap();
    let files_only = files_only.to_str().unwrap();

    let refused = admin(&["migrate", "--config", files_only], &[]);
    let configured = admin(&["drop-registry", "internal", "--config", config], &[]);
    let dropped = admin(&["drop-registry", "internal", "--config", files_only], &[]);
    let again = admin(&["drop-registry", "internal", "--config", files_only], &[]);
    let applied = admin(&["migrate", "--config", files_only], &[]);

    assert!(
        stderr(&configured).contains("remove it from the configuration first"),
        "{}",
        stderr(&configured)
    );
    assert_eq!(stdout(&dropped), "internal: deleted, with its 1 versions\n", "{}", stderr(&dropped));
    assert!(stderr(&again).contains("internal is not a stored registry"));
    assert_eq!(refused.status.code(), Some(1), "the release step stops rather than losing published data");
    assert!(stderr(&refused).contains("`registry-admin drop-registry internal`"), "{}", stderr(&refused));
    assert!(applied.status.success(), "{}", stderr(&applied));
}

#[test]
fn every_write_of_the_cli_is_audited_with_the_operating_system_user() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = two_registries(dir.path());
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{yaml}audit: {{file: {}}}\n", audit.display())).unwrap();
    let files_only = dir.path().join("files-only.yaml");
    let without_internal =
        std::fs::read_to_string(&config).unwrap().replace("  - {name: internal, managed: {}}\n", "");
    std::fs::write(&files_only, without_internal).unwrap();
    let (config, files_only) = (config.to_str().unwrap(), files_only.to_str().unwrap());

    for (args, succeeds) in [
        (&["migrate", "--config", config][..], true),
        (&["migrate", "--config", config], true),
        (&["enqueue-sync", "files", "--config", config], true),
        (
            &["publish", &example("publish/ticket-desk.json"), "--registry", "internal", "--config", config],
            true,
        ),
        (
            &[
                "publish",
                &example("publish/ticket-desk.json"),
                "--registry",
                "internal",
                "--validate-only",
                "--config",
                config,
            ],
            false,
        ),
        (&["migrate", "--config", files_only], false),
        (&["drop-registry", "internal", "--config", files_only], true),
        (&["drop-registry", "internal", "--config", files_only], false),
    ] {
        assert_eq!(admin(args, &[]).status.success(), succeeds, "{args:?}");
    }

    let text = std::fs::read_to_string(&audit).unwrap();
    let events: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["registry"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("apply-registries", "success", "-"),
            ("enqueue-sync", "success", "files"),
            ("publish", "success", "internal"),
            ("apply-registries", "failed", "-"),
            ("drop-registry", "success", "internal"),
            ("drop-registry", "failed", "internal"),
        ],
        "a migrate that changes nothing and a validation store nothing, so they are not audited"
    );
    assert_eq!(events[0]["detail"], "added internal, files");
    assert_eq!(events[2]["name"], "com.example.platform/ticket-desk");
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    assert!(
        events.iter().all(|e| e["provider"] == "registry-admin" && e["subject"] == user.trim()),
        "{text}"
    );
}
