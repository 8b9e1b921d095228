//! Kubernetes discovery: ToolHive objects in clusters become the entries of a `kubernetes` registry.

pub mod cluster;
pub mod derive;
mod discover;
pub mod watch;

pub use discover::discover;
