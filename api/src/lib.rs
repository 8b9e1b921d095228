#![doc = include_str!("../README.md")]

pub mod app;
pub mod audit;
pub mod auth;
pub mod body;
pub mod error;
pub mod extract;
pub mod http_cache;
pub mod mcp;
pub mod middleware;
pub mod names;
pub mod page_cache;
pub mod pipeline;
pub mod rate_limit;
pub mod redis_link;
pub mod registry_set;
pub mod routes;
pub mod server;
pub mod state;
pub mod ui;

pub use app::Application;
