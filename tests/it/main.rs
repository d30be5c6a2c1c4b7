//! The integration suite: one test binary, real servers on loopback ports.

mod cache;
mod cli_health;
mod config_errors;
mod config_fuzz;
mod db;
mod discord_announce;
mod discord_config;
mod discord_gateway;
mod discord_http;
mod discord_render;
mod discord_support;
mod faults;
mod flush;
mod helpers;
mod lease;
mod metrics_text;
mod node_files;
mod real_cluster;
mod render_snapshots;
mod report_fixtures;
mod secrets;
mod store;
mod traffic;
mod watch;
mod watch_faults;
mod watch_outbox;
