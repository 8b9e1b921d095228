//! `database`: SQLite by default, PostgreSQL with `host` or `url`; never a password in the file.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::Check;
use crate::config::raw::*;
use registry_store::settings::{self as database, PostgresConfig, PostgresTarget, StorageConfig};

pub(super) fn database(check: &mut Check, value: Option<Value>) -> Option<StorageConfig> {
    let Some(mut value) = value else { return Some(StorageConfig::default()) };
    refuse_passwords(check, &mut value);
    let raw: RawDatabase = check.section("database", value)?;
    if raw.url.is_none() && raw.host.is_none() {
        return Some(sqlite(check, raw));
    }
    if raw.path.is_some() {
        check.fail("database.path", "is the SQLite file: remove it, or remove host/url to use SQLite");
    }
    postgres(check, raw).map(StorageConfig::Postgres)
}

/// A password in the file is a problem, reported by key, and then set aside.
fn refuse_passwords(check: &mut Check, value: &mut Value) {
    let Some(section) = value.as_object_mut() else { return };
    for key in ["password", "migrationPassword"] {
        if section.remove(key).is_some() {
            check.fail(
                format!("database.{key}"),
                "passwords do not belong in the config file: use passwordFile / migrationPasswordFile, \
                 REGISTRY_DATABASE__PASSWORD / REGISTRY_DATABASE__MIGRATION_PASSWORD, or the pgpass file",
            );
        }
    }
}

/// The SQLite file; PostgreSQL's settings beside it are problems.
fn sqlite(check: &mut Check, raw: RawDatabase) -> StorageConfig {
    let postgres_only = [
        ("port", raw.port.is_some()),
        ("user", raw.user.is_some()),
        ("migrationUser", raw.migration_user.is_some()),
        ("database", raw.database.is_some()),
        ("sslMode", raw.ssl_mode.is_some()),
        ("acquireTimeout", raw.acquire_timeout.is_some()),
        ("statementTimeout", raw.statement_timeout.is_some()),
        ("listenUrl", raw.listen_url.is_some()),
    ];
    for (key, _) in postgres_only.iter().filter(|(_, set)| *set) {
        check.fail(
            format!("database.{key}"),
            "is a PostgreSQL setting: also set database.host or database.url",
        );
    }
    let path = raw.path.unwrap_or_else(|| database::DEFAULT_SQLITE_PATH.to_owned());
    StorageConfig::Sqlite { path: PathBuf::from(path) }
}

fn postgres(check: &mut Check, raw: RawDatabase) -> Option<PostgresConfig> {
    let target = postgres_target(check, &raw)?;
    let max_open_conns = raw.max_open_conns.unwrap_or(10);
    let max_idle_conns = raw.max_idle_conns.unwrap_or(2.min(max_open_conns));
    if max_open_conns == 0 {
        check.fail("database.maxOpenConns", "must be at least 1");
    }
    if max_idle_conns > max_open_conns {
        check.fail("database.maxIdleConns", "must not exceed maxOpenConns");
    }
    let lifetime = raw.conn_max_lifetime.as_deref();
    let conn_max_lifetime =
        check.duration("database.connMaxLifetime", lifetime, Some(Duration::from_secs(1800)));
    let acquire = raw.acquire_timeout.as_deref();
    let acquire_timeout = check.duration("database.acquireTimeout", acquire, Some(Duration::from_secs(2)));
    let statement = raw.statement_timeout.as_deref();
    let statement_timeout =
        check.duration("database.statementTimeout", statement, Some(Duration::from_secs(30)));
    // `Some(None)`: set, and not a PostgreSQL URL (reported).
    let listen_url = raw.listen_url.as_deref().map(|url| check.url("database.listenUrl", url, POSTGRES));
    Some(PostgresConfig {
        target,
        max_open_conns,
        max_idle_conns,
        conn_max_lifetime: conn_max_lifetime?,
        acquire_timeout: acquire_timeout?,
        statement_timeout: statement_timeout?,
        listen_url: match listen_url {
            Some(None) => return None,
            checked => checked.flatten(),
        },
        password_file: raw.password_file.map(PathBuf::from),
        migration_password_file: raw.migration_password_file.map(PathBuf::from),
    })
}

const POSTGRES: &[&str] = &["postgres", "postgresql"];

fn postgres_target(check: &mut Check, raw: &RawDatabase) -> Option<PostgresTarget> {
    if let Some(url) = &raw.url {
        if raw.host.is_some() {
            check.fail("database", "set either url or host, not both");
        }
        return check.url("database.url", url, POSTGRES).map(|url| PostgresTarget::Url { url });
    }
    let host = check.required("database.host", raw.host.as_deref()).map(str::to_owned);
    let user = check.required("database.user", raw.user.as_deref()).map(str::to_owned);
    let database = check.required("database.database", raw.database.as_deref()).map(str::to_owned);
    let ssl_mode = match raw.ssl_mode.as_deref().unwrap_or("prefer").parse() {
        Ok(mode) => Some(mode),
        Err(message) => {
            check.fail("database.sslMode", message);
            None
        }
    };
    let user = user?;
    Some(PostgresTarget::Fields {
        host: host?,
        port: raw.port.unwrap_or(5432),
        migration_user: raw.migration_user.clone().unwrap_or_else(|| user.clone()),
        user,
        database: database?,
        ssl_mode: ssl_mode?,
    })
}
