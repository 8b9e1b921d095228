//! The fault suite: the real binaries, on a PostgreSQL cluster of each test's own that the test stops and
//! starts, against sources that hang, and under connection floods. Each case reproduces a defect found when
//! the release binaries were tried the way production treats them; docs/reliability.md lists them with the
//! recovery times measured.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod api;
mod audit;
mod cluster;
mod http;
mod kubernetes;
mod observability;
#[cfg(feature = "otlp")]
mod otlp;
mod prometheus;
mod publish;
mod skew;
mod sources;
mod support;
mod worker;
