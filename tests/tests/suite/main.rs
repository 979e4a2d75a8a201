//! Every black-box suite in one test binary. Each module was a binary of its
//! own; 29 binaries of ~135 MB each (every one links the whole platform) filled
//! a CI disk and spent minutes linking. Run one suite with a filter:
//! `cargo test -p mcp-platform-tests --test suite -- queue::`.

mod analysis;
mod analyze_tasks;
mod auth;
mod bad_input;
mod contracts;
mod deployment_contracts;
mod deployment_operations;
mod embedders;
mod embeddings;
mod gateway;
mod hardening;
mod knowledge;
mod knowledge_contracts;
mod knowledge_properties;
mod lambda;
mod lambda_jobs;
mod migrations;
mod ops;
mod outage;
mod permissions;
mod process_deployments;
mod properties;
mod queue;
mod rate_limits;
mod realtime;
mod retrieval;
mod sandbox;
mod secrets;
mod secrets_manager;
mod smoke;
mod tokens;
mod tools;
mod upstream;
mod vector_index;
