//! AI analysis of MCP tool configurations (SPEC §3 "AI analysis"): the
//! providers behind the [`LlmProvider`] port of `/analyze/*` that need no
//! network. [`offline::OfflineAnalyser`] is the always-available one: a
//! deterministic rule set, so analysis works on a laptop, in CI and when a
//! configured chat API is down (as the [`FindingsBaseline`] a remote
//! provider is grounded on, it is also that provider's fallback).
//!
//! The result types are domain types (`crate::domain::{Feasibility, Risk,
//! …}`); which provider runs is decided in `state.rs`.
//!
//! [`LlmProvider`]: crate::ports::LlmProvider
//! [`FindingsBaseline`]: crate::ports::FindingsBaseline

pub mod offline;

pub use offline::OfflineAnalyser;
