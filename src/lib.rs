//! aisbf-doctor: diagnoses multi-node AISBF clusters.
//!
//! Pure core, thin edges: [`probe`] modules observe the cluster and return
//! [`finding::Finding`]s; [`verdict::decide`] turns findings into a verdict;
//! [`render`] turns the report into text, JSON or Markdown. Only probes, the CLI
//! and the chat edge do I/O.

pub mod aisbf;
pub mod aisbf_json;
pub mod app;
pub mod chat;
pub mod config;
pub mod demo;
pub mod discord;
pub mod engine;
pub mod finding;
pub mod flush;
pub mod http;
pub mod inert;
pub mod lease;
pub mod memory;
pub mod metrics;
pub mod probe;
pub mod render;
pub mod secret;
pub mod slack;
pub mod store;
pub mod verdict;
pub mod watch;
pub mod watch_runner;
