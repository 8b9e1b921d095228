#![doc = include_str!("../README.md")]

pub mod sources;
pub mod sync;
