//! `registry-admin migrate` logs in to a PostgreSQL server that asks for passwords (scram-sha-256, as a
//! production server does), with each way a configuration can give the migration login its password. The
//! shared test server trusts every login, so only a cluster of the test's own can show a missing password.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use registry_testkit::PrivatePostgres;
use sqlx::{Connection, PgConnection};

const APP_PASSWORD: &str = "app-secret-5d1f";
const OWNER_PASSWORD: &str = "owner-secret-93ac";

/// A cluster with two logins: `registry`, owner of the database `registry`, and `registry_owner`, owner of
/// the database `owned`, whose objects `registry` may use. Both databases are empty.
async fn cluster_with_two_logins() -> PrivatePostgres {
    let cluster = PrivatePostgres::start_with_passwords("superuser-secret");
    let mut admin = PgConnection::connect(cluster.url.as_str()).await.unwrap();
    for statement in [
        format!("create role registry login password '{APP_PASSWORD}'"),
        format!("create role registry_owner login password '{OWNER_PASSWORD}'"),
        "create database registry owner registry".to_owned(),
        "create database owned owner registry_owner".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut admin).await.unwrap();
    }
    admin.close().await.unwrap();
    // What a two-login setup grants: the application may use what the migration user creates.
    let mut owned_url = cluster.url.clone();
    owned_url.set_path("owned");
    let mut owned = PgConnection::connect(owned_url.as_str()).await.unwrap();
    for statement in [
        "alter default privileges for role registry_owner grant usage on schemas to registry",
        "alter default privileges for role registry_owner grant select, insert, update, delete on tables to registry",
        "alter default privileges for role registry_owner grant usage, select on sequences to registry",
        "grant usage on schema public to registry",
    ] {
        sqlx::query(statement).execute(&mut owned).await.unwrap();
    }
    owned.close().await.unwrap();
    cluster
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app-password"), format!("{APP_PASSWORD}\n")).unwrap();
        std::fs::write(dir.path().join("owner-password"), OWNER_PASSWORD).unwrap();
        Self { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A configuration with one managed registry and this `database:` section.
    fn config(&self, database: &str) -> PathBuf {
        let path = self.dir.path().join("config.yaml");
        let yaml = format!(
            "auth: {{mode: anonymous}}\nregistries:\n  - name: internal\n    managed: {{}}\ndatabase:\n{database}"
        );
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Runs `registry-admin` with only the environment given (no PGPASSWORD or pgpass of the machine).
    fn admin(&self, args: &[&str], config: &Path, env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_registry-admin"));
        command
            .args(args)
            .arg("--config")
            .arg(config)
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", self.dir.path().join("no-pgpass"))
            .envs(env.iter().copied());
        command.output().unwrap()
    }
}

fn fields(port: u16, database: &str, extra: &str) -> String {
    format!(
        "  host: 127.0.0.1\n  port: {port}\n  user: registry\n  database: {database}\n  sslMode: disable\n{extra}"
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_migration_login_uses_the_application_password_when_it_is_the_same_user() {
    let cluster = cluster_with_two_logins().await;
    let case = Case::new();
    let app_file = case.file("app-password");

    let implicit = case.config(&fields(cluster.port, "registry", &format!("  passwordFile: {app_file}\n")));
    let migrated = case.admin(&["migrate"], &implicit, &[]);
    assert!(migrated.status.success(), "the migration user defaults to user: {}", stderr(&migrated));

    let same_user = case.config(&fields(
        cluster.port,
        "registry",
        &format!("  migrationUser: registry\n  passwordFile: {app_file}\n"),
    ));
    let again = case.admin(&["migrate"], &same_user, &[]);
    assert!(again.status.success(), "migrationUser equal to user: {}", stderr(&again));

    let by_environment = case.config(&fields(cluster.port, "registry", ""));
    let from_env =
        case.admin(&["migrate"], &by_environment, &[("REGISTRY_DATABASE__PASSWORD", APP_PASSWORD)]);
    assert!(
        from_env.status.success(),
        "the application's password from the environment: {}",
        stderr(&from_env)
    );

    let url = case.config(&format!(
        "  url: postgres://registry@127.0.0.1:{}/registry?sslmode=disable\n  passwordFile: {app_file}\n",
        cluster.port
    ));
    let from_url = case.admin(&["migrate"], &url, &[]);
    assert!(from_url.status.success(), "the url form logs in once, as its user: {}", stderr(&from_url));
}

#[tokio::test]
async fn an_explicit_migration_password_comes_first_and_libpq_sources_come_last() {
    let cluster = cluster_with_two_logins().await;
    let case = Case::new();

    // One login for both: `migrate` stores the registries as the application, so its password must be right;
    // a wrong explicit migration password shows that the migration login takes it before the application's.
    let app_password = case.config(&fields(
        cluster.port,
        "registry",
        &format!("  passwordFile: {}\n", case.file("app-password")),
    ));
    let explicit = case.admin(
        &["migrate"],
        &app_password,
        &[("REGISTRY_DATABASE__MIGRATION_PASSWORD", "not-the-password")],
    );
    assert!(!explicit.status.success());
    assert!(
        stderr(&explicit).contains("migrating PostgreSQL")
            && stderr(&explicit).contains("password authentication failed"),
        "{}",
        stderr(&explicit)
    );

    let none = case.config(&fields(cluster.port, "registry", ""));
    let pgpassword = case.admin(&["migrate"], &none, &[("PGPASSWORD", APP_PASSWORD)]);
    assert!(pgpassword.status.success(), "PGPASSWORD when nothing else is set: {}", stderr(&pgpassword));
}

#[tokio::test]
async fn a_separate_migration_user_needs_its_own_password_and_config_check_warns_without_one() {
    let cluster = cluster_with_two_logins().await;
    let case = Case::new();
    let owner = |extra: &str| {
        fields(
            cluster.port,
            "owned",
            &format!(
                "  migrationUser: registry_owner\n  passwordFile: {}\n{extra}",
                case.file("app-password")
            ),
        )
    };

    let missing = case.config(&owner(""));
    let refused = case.admin(&["migrate"], &missing, &[]);
    let checked = case.admin(&["config", "check"], &missing, &[]);
    let denied = case.admin(&["config", "check", "--deny-warnings"], &missing, &[]);

    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("password authentication failed for user \"registry_owner\""),
        "{}",
        stderr(&refused)
    );
    assert_eq!(checked.status.code(), Some(0), "a warning alone passes: {}", stderr(&checked));
    let warnings: Vec<String> =
        stderr(&checked).lines().filter(|line| line.starts_with("warning: ")).map(str::to_owned).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("warning: database.migrationPasswordFile: ")
            && warnings[0].contains("database.passwordFile")
            && warnings[0].contains("registry_owner"),
        "{}",
        warnings[0]
    );
    assert_eq!(denied.status.code(), Some(2), "{}", stderr(&denied));
    assert!(stderr(&denied).contains("warning: database.migrationPasswordFile: "), "{}", stderr(&denied));

    let given = case.config(&owner(&format!("  migrationPasswordFile: {}\n", case.file("owner-password"))));
    let migrated = case.admin(&["migrate"], &given, &[]);
    let clean = case.admin(&["config", "check", "--deny-warnings"], &given, &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(clean.status.success() && !stderr(&clean).contains("warning"), "{}", stderr(&clean));
}
