//! The application layer between the chat surfaces and the engine.
//!
//! A surface parses what someone typed into a [`Request`] and hands it to the
//! [`Service`], which runs the probes, records the run, drives the incident
//! lifecycle ([`incident`]) and answers through the surface's
//! [`crate::chat::ChatSurface`]. Watch mode drives the same lifecycle.

pub mod incident;
pub mod request;
pub mod service;

pub use incident::Incidents;
pub use request::{Request, RequestError};
pub use service::Service;
