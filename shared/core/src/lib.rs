#![doc = include_str!("../README.md")]

pub mod digest;
pub mod duration;
pub mod error;
pub mod filter;
pub mod formats;
pub mod install;
pub mod kubernetes;
pub mod model;
pub mod namespace;
pub mod probe;
pub mod publish;
pub mod registry;
pub mod sync;
pub mod validation;
pub mod versioning;
