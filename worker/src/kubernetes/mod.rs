//! Kubernetes discovery: ToolHive objects in clusters become the entries of a `kubernetes` registry.

pub mod derive;
