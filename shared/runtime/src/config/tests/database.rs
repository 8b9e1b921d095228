//! `database`: the backend chosen, credentials and the listener's connection.

use super::*;

#[test]
fn without_a_database_section_the_backend_is_sqlite_at_the_default_path() {
    let config = Config::from_yaml(MINIMAL, no_env()).unwrap();

    assert!(
        matches!(&config.database, StorageConfig::Sqlite { path } if path == &PathBuf::from("./data/registry.db"))
    );
    assert_eq!(config.registries[0].source, Source::Managed);
    assert_eq!(config.worker, WorkerConfig::default());
    assert_eq!(config.registry_name, "default");
}

#[test]
fn host_or_url_selects_postgres_and_path_alone_keeps_sqlite() {
    let with =
        |db: &str| Config::from_yaml(&format!("{MINIMAL}database: {db}\n"), no_env()).unwrap().database;

    assert!(
        matches!(with("{path: /tmp/r.db}"), StorageConfig::Sqlite { path } if path.as_path() == std::path::Path::new("/tmp/r.db"))
    );
    assert!(matches!(with("{host: db, user: app, database: registry}"), StorageConfig::Postgres(_)));
    assert!(matches!(with("{url: 'postgres://app@db/registry'}"), StorageConfig::Postgres(_)));
}

#[test]
fn postgres_passwords_come_from_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let yaml = format!(
        "{MINIMAL}database: {{host: db, user: app, migrationUser: owner, database: reg, passwordFile: {}}}\n",
        file.display()
    );
    let StorageConfig::Postgres(pg) = Config::from_yaml(&yaml, no_env()).unwrap().database else { panic!() };

    let app = pg.connect_options(Role::App).unwrap();
    let migrator = pg.connect_options(Role::Migration).unwrap();

    assert_eq!(app.get_username(), "app");
    assert_eq!(migrator.get_username(), "owner");
    assert_eq!(app.get_host(), "db");
    assert!(format!("{app:?}").contains("from-file"), "the resolved options carry the password");
}

#[test]
fn the_listener_connects_through_listen_url_with_the_application_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let yaml = |listen: &str| {
        format!(
            "{MINIMAL}database: {{url: 'postgres://app@pgbouncer:6432/reg', passwordFile: {}{listen}}}\n",
            file.display()
        )
    };
    let options = |yaml: &str| {
        let StorageConfig::Postgres(pg) = Config::from_yaml(yaml, no_env()).unwrap().database else {
            panic!()
        };
        pg.listen_options().unwrap()
    };

    let direct = options(&yaml(", listenUrl: 'postgres://app@db:5432/reg'"));
    let own_password = options(&yaml(", listenUrl: 'postgres://app:direct@db:5432/reg'"));
    let pooled = options(&yaml(""));

    assert_eq!((direct.get_host(), direct.get_port()), ("db", 5432));
    assert!(format!("{direct:?}").contains("from-file"), "the application password applies");
    assert!(
        format!("{own_password:?}").contains("direct") && !format!("{own_password:?}").contains("from-file")
    );
    assert_eq!(
        (pooled.get_host(), pooled.get_port()),
        ("pgbouncer", 6432),
        "without listenUrl, the database URL"
    );
    assert_eq!(
        problems(&format!("{MINIMAL}database: {{url: 'postgres://db/reg', listenUrl: 'http://db'}}\n")),
        ["database.listenUrl: \"http://db\" is not an absolute postgres or postgresql URL"]
    );
    assert_eq!(
        problems(&format!("{MINIMAL}database: {{listenUrl: 'postgres://db/reg'}}\n")),
        ["database.listenUrl: is a PostgreSQL setting: also set database.host or database.url"]
    );
}
