//! The integration suite: one test binary, real servers on loopback ports.

mod cli_health;
mod config_errors;
mod config_fuzz;
mod faults;
mod helpers;
mod lease;
mod real_cluster;
mod secrets;
mod store;
mod traffic;
