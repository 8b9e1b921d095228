#![doc = include_str!("../README.md")]

pub mod audit;
pub mod bootstrap;
pub mod build_info;
pub mod config;
pub mod filter;
pub mod formats;
pub mod jobs;
pub mod kubernetes;
pub mod logging;
pub mod model;
pub mod publish;
pub mod shutdown;
pub mod store;
pub mod validation;
pub mod versioning;
