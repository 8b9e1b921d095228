#![doc = include_str!("../README.md")]

pub mod audit;
pub mod bootstrap;
pub mod build_info;
pub mod config;
pub mod internal;
pub mod logging;
pub mod metrics;
pub mod outbound;
pub mod shutdown;
