//! The API as clients meet it: the real application over HTTP, on PostgreSQL and on SQLite.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod audit;
mod auth;
mod authz;
mod browser;
mod docs;
mod helpers;
mod http_cache;
mod lifecycle;
mod mcp;
mod mcp_replicas;
mod mcp_sdk;
mod oidc_e2e;
mod ops;
mod page_cache;
mod probes;
mod publish;
mod publisher;
mod publisher_proofs;
mod rate_limits;
mod reference;
mod registries;
mod servers;
mod servers_queries;
mod ui;
mod ui_sign_in;
mod url_rules;
