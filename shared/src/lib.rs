//! MCP Platform: the shared crate behind the local host, the CLI and every
//! Lambda function. See `docs/architecture.md` for the map.
// Only `sandbox::child` (the pre_exec steps) allows unsafe code.
#![deny(unsafe_code)]

pub mod adapters;
pub mod analysis;
pub mod api;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod digest;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod http;
pub mod jobs;
pub mod knowledge;
pub mod lambda;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod migrate;
pub mod ports;
pub mod ratelimit;
pub mod redact;
pub mod registry;
pub mod request_id;
pub mod sandbox;
pub mod scheduler;
pub mod state;
pub mod tasks;
pub mod telemetry;
pub mod text;
pub mod upstream;
pub mod worker;
