//! Storage settings. No `database:` section, or one with only `path`, selects the embedded SQLite file;
//! `host` or `url` selects PostgreSQL.
//!
//! PostgreSQL passwords are resolved when connecting and never held in the configuration, so `Debug` and
//! `config check` cannot show them. The application login's comes from `passwordFile`, else
//! `REGISTRY_DATABASE__PASSWORD`. The migration login's comes from `migrationPasswordFile`, else
//! `REGISTRY_DATABASE__MIGRATION_PASSWORD`, else, when it is the application's login (the `url` form, or
//! `migrationUser` unset or equal to `user`), from the application's. Without any of them, libpq's own apply:
//! `PGPASSWORD`, then the pgpass file (`PGPASSFILE` or `~/.pgpass`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use url::Url;

/// The default SQLite file of the embedded setup.
pub const DEFAULT_SQLITE_PATH: &str = "./data/registry.db";

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
#[expect(clippy::large_enum_variant, reason = "one value per process, read at start-up")]
pub enum StorageConfig {
    Sqlite { path: PathBuf },
    Postgres(PostgresConfig),
}

impl StorageConfig {
    /// One process on one file, which migrates itself, applies its configuration and runs its own worker:
    /// SQLite. PostgreSQL serves any number of replicas, and only the release step migrates it.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Sqlite { .. })
    }

    /// What the database is, for messages: `SQLite file ./data/registry.db` or `PostgreSQL`.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("SQLite file {}", path.display()),
            Self::Postgres(_) => "PostgreSQL".to_owned(),
        }
    }

    /// The file descriptors a serving process's connections to it take: on PostgreSQL its read and write
    /// pools and the generation listener's connection; on SQLite the file's reader and writer connections.
    pub fn serving_connections(&self) -> u64 {
        match self {
            Self::Postgres(pg) => 2 * u64::from(pg.max_open_conns) + 1,
            Self::Sqlite { .. } => 5,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Sqlite { path: PathBuf::from(DEFAULT_SQLITE_PATH) }
    }
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresConfig {
    pub target: PostgresTarget,
    pub max_open_conns: u32,
    pub max_idle_conns: u32,
    #[serde(with = "registry_core::duration::humantime_serde")]
    pub conn_max_lifetime: Duration,
    /// How long a query waits for a pool connection; past it, the API answers 503.
    #[serde(with = "registry_core::duration::humantime_serde")]
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on the API's read connections (never on migrations or the worker's
    /// snapshot writes).
    #[serde(with = "registry_core::duration::humantime_serde")]
    pub statement_timeout: Duration,
    /// A direct (session) connection for the listener of new content generations, when `target` goes
    /// through a pooler in transaction mode (PgBouncer), where `LISTEN` does not work.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_redacted_opt_url")]
    pub listen_url: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_password_file: Option<PathBuf>,
}

/// Where PostgreSQL is: a URL, or libpq-style fields.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase", untagged)]
pub enum PostgresTarget {
    Url {
        #[serde(serialize_with = "serialize_redacted_url")]
        url: Url,
    },
    Fields {
        host: String,
        port: u16,
        user: String,
        #[serde(rename = "migrationUser")]
        migration_user: String,
        database: String,
        #[serde(rename = "sslMode")]
        ssl_mode: SslMode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "unknown sslMode {other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }
}

impl From<SslMode> for PgSslMode {
    fn from(mode: SslMode) -> Self {
        match mode {
            SslMode::Disable => Self::Disable,
            SslMode::Allow => Self::Allow,
            SslMode::Prefer => Self::Prefer,
            SslMode::Require => Self::Require,
            SslMode::VerifyCa => Self::VerifyCa,
            SslMode::VerifyFull => Self::VerifyFull,
        }
    }
}

/// Where a login's password is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file named by a key of `database` (`passwordFile`, `migrationPasswordFile`).
    File { key: &'static str, path: PathBuf },
    /// An environment variable of that name.
    Environment(&'static str),
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { key, .. } => write!(f, "database.{key}"),
            Self::Environment(variable) => f.write_str(variable),
        }
    }
}

/// Which database role a connection is for: the application's, or the migrator's (DDL rights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    App,
    Migration,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("database.{key}: cannot read {path}: {source}")]
    PasswordFile {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database.url: {0}")]
    Url(#[from] sqlx::Error),
}

impl PostgresConfig {
    /// Connection options for one role, with the password resolved. Reading the environment here (not at
    /// load time) keeps the secret out of the configuration value.
    pub fn connect_options(&self, role: Role) -> Result<PgConnectOptions, CredentialError> {
        self.with_password(self.base_options(role)?, role)
    }

    /// The options of the generation listener's connection: `listenUrl` when set (with the application
    /// role's password unless the URL carries one), else the application role's.
    pub fn listen_options(&self) -> Result<PgConnectOptions, CredentialError> {
        match &self.listen_url {
            None => self.connect_options(Role::App),
            Some(url) if url.password().is_some() => Ok(PgConnectOptions::from_str(url.as_str())?),
            Some(url) => self.with_password(PgConnectOptions::from_str(url.as_str())?, Role::App),
        }
    }

    fn with_password(
        &self,
        options: PgConnectOptions,
        role: Role,
    ) -> Result<PgConnectOptions, CredentialError> {
        let password = match self.password_source(role) {
            None => None,
            Some(PasswordSource::File { key, path }) => Some(read_secret(key, &path)?),
            Some(PasswordSource::Environment(variable)) => {
                std::env::var(variable).ok().map(SecretString::from)
            }
        };
        Ok(match password {
            Some(password) => options.password(password.expose_secret()),
            None => options,
        })
    }

    /// Where a role's password comes from, read from the environment now; `None` leaves it to libpq's own
    /// sources (`PGPASSWORD`, pgpass).
    pub fn password_source(&self, role: Role) -> Option<PasswordSource> {
        match role {
            Role::App => self.own_password_source(Role::App),
            Role::Migration => self.own_password_source(Role::Migration).or_else(|| {
                if self.migration_is_app_login() { self.own_password_source(Role::App) } else { None }
            }),
        }
    }

    /// The sources set for this role itself: its file, else its environment variable.
    fn own_password_source(&self, role: Role) -> Option<PasswordSource> {
        let (file, key, variable) = match role {
            Role::App => (&self.password_file, "passwordFile", "REGISTRY_DATABASE__PASSWORD"),
            Role::Migration => (
                &self.migration_password_file,
                "migrationPasswordFile",
                "REGISTRY_DATABASE__MIGRATION_PASSWORD",
            ),
        };
        match file {
            Some(path) => Some(PasswordSource::File { key, path: path.clone() }),
            None => std::env::var_os(variable).is_some().then_some(PasswordSource::Environment(variable)),
        }
    }

    /// Whether the migration login is the application's: the `url` form has one user; the fields form when
    /// `migrationUser` is `user` (its default).
    fn migration_is_app_login(&self) -> bool {
        match &self.target {
            PostgresTarget::Url { .. } => true,
            PostgresTarget::Fields { user, migration_user, .. } => user == migration_user,
        }
    }

    /// The options from the URL or fields. Parsing a URL applies `PGPASSWORD` and the pgpass file for the
    /// final host, port, user and database, as libpq does.
    fn base_options(&self, role: Role) -> Result<PgConnectOptions, CredentialError> {
        let url = match &self.target {
            PostgresTarget::Url { url } => url.clone(),
            PostgresTarget::Fields { host, port, user, migration_user, database, ssl_mode } => {
                let mut url =
                    Url::parse("postgres://localhost").map_err(|e| sqlx::Error::Configuration(e.into()))?;
                let user = if role == Role::Migration { migration_user } else { user };
                url.set_host(Some(host)).map_err(|e| sqlx::Error::Configuration(e.into()))?;
                url.set_port(Some(*port)).ok();
                url.set_username(user).ok();
                url.set_path(database);
                let mode = serde_json::to_value(ssl_mode).ok().and_then(|v| v.as_str().map(str::to_owned));
                url.query_pairs_mut().append_pair("sslmode", mode.as_deref().unwrap_or("prefer"));
                url
            }
        };
        Ok(PgConnectOptions::from_str(url.as_str())?)
    }
}

fn read_secret(key: &'static str, path: &Path) -> Result<SecretString, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialError::PasswordFile {
        key,
        path: path.to_owned(),
        source,
    })?;
    Ok(SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned()))
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("target", &self.target)
            .field("max_open_conns", &self.max_open_conns)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("conn_max_lifetime", &self.conn_max_lifetime)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("listen_url", &self.listen_url.as_ref().map(redacted_url))
            .field("password_file", &self.password_file)
            .field("migration_password_file", &self.migration_password_file)
            .finish()
    }
}

impl fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url { url } => f.debug_struct("Url").field("url", &redacted_url(url)).finish(),
            Self::Fields { host, port, user, migration_user, database, ssl_mode } => f
                .debug_struct("Fields")
                .field("host", host)
                .field("port", port)
                .field("user", user)
                .field("migration_user", migration_user)
                .field("database", database)
                .field("ssl_mode", ssl_mode)
                .finish(),
        }
    }
}

/// The URL with any password replaced by `***`.
pub fn redacted_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        shown.set_password(Some("***")).ok();
    }
    shown.to_string()
}

pub fn serialize_redacted_url<S: Serializer>(url: &Url, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redacted_url(url))
}

fn serialize_redacted_opt_url<S: Serializer>(url: &Option<Url>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_some(&url.as_ref().map(redacted_url))
}
