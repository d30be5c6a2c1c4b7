//! The integration suite: one test binary, real servers on loopback ports.

mod cache;
mod cli_health;
mod config_errors;
mod db;
mod discord_announce;
mod discord_config;
mod discord_gateway;
mod discord_http;
mod discord_render;
mod discord_support;
mod flush;
mod helpers;
mod lease;
mod real_cluster;
mod store;
mod traffic;
mod watch;
