//! The shared core of the MCP Registry Server: the domain model, registry file formats, configuration,
//! storage and version ordering. The API, the worker and the admin CLI all build on it.

pub mod build_info;
pub mod config;
pub mod formats;
pub mod model;
pub mod store;
pub mod versioning;

#[cfg(test)]
mod test_support;
