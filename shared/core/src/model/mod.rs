//! The domain model: server.json, identifiers and the API envelopes.

pub mod envelope;
pub mod names;
pub mod server_json;

pub use envelope::{ListMetadata, OfficialMeta, ServerList, ServerResponse, Status};
pub use names::{InvalidName, RegistryName, ServerName, Version};
pub use server_json::{ServerDetail, ServerJson};
