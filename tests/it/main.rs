//! The integration suite: one test binary, real servers on loopback ports.

mod cache;
mod cli_health;
mod config_errors;
mod db;
mod flush;
mod helpers;
mod lease;
mod real_cluster;
mod store;
mod traffic;
mod watch;
