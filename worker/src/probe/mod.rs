//! The prober: `client` probes one remote MCP server; `pass` probes the remotes of a registry's latest
//! versions, as a job of the probe queue, within the worker's bounds, and records what it found.

mod client;
mod pass;

pub use client::{Limits, Outcome, Report, Target, http_client, probe, targets};
pub use pass::{PassSummary, Prober};
