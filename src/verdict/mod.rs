//! The verdict: a pure function from findings to "what is broken and what to do".
//!
//! It follows the playbook's "start with the failure shape": does the failure
//! follow a node, a token, a route or a provider? What each finding code means
//! is data ([`rules::JUDGEMENTS`], one row per code); facts from one probe that
//! change how another's finding reads are data too ([`cross::CROSS_RULES`]).
//! The verdict ranks by cause: infrastructure drift outranks route policy ("fix
//! the node before touching routes"), and a failure a node shows directly
//! outranks the same failure relayed by the balancer.

pub mod cross;
mod decide;
mod layer;
pub mod rules;
mod summary;
mod symptom;
#[cfg(test)]
mod table_tests;

pub use decide::{Verdict, decide, status};
pub use layer::{Action, Layer};
pub use rules::{Judgement, Tier, judgement};
pub use symptom::Symptom;
