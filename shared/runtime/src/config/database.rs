//! What a database section that loads may still get wrong.

use registry_store::settings::{PostgresConfig, PostgresTarget, Role};

use super::ConfigProblem;

/// What a configuration that loads may still get wrong: a migration login of its own with no password
/// source while the application login has one (`registry-admin migrate` would log in without it).
pub fn database_warnings(postgres: &PostgresConfig) -> Vec<ConfigProblem> {
    let mut warnings = Vec::new();
    if let (None, Some(app), PostgresTarget::Fields { migration_user, .. }) =
        (postgres.password_source(Role::Migration), postgres.password_source(Role::App), &postgres.target)
    {
        warnings.push(ConfigProblem {
            path: "database.migrationPasswordFile".into(),
            message: format!(
                "the migration login ({migration_user:?}, database.migrationUser) has no password source, \
                 while the application login has {app}; set database.migrationPasswordFile or \
                 REGISTRY_DATABASE__MIGRATION_PASSWORD, or the migration logs in with PGPASSWORD or pgpass \
                 alone"
            ),
        });
    }
    warnings
}
