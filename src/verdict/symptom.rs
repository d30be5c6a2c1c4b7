//! Symptoms users report, and the layers each one points at first.

use serde::{Deserialize, Serialize};

use super::Layer;

/// A symptom reported by a user; it orders the checks and is echoed in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Symptom {
    EveryOtherRequestFails,
    DashboardChangeInvisible,
    StaleCache,
    TokenEndpointMismatch,
}

impl Symptom {
    pub const ALL: [Symptom; 4] = [
        Symptom::EveryOtherRequestFails,
        Symptom::DashboardChangeInvisible,
        Symptom::StaleCache,
        Symptom::TokenEndpointMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Symptom::EveryOtherRequestFails => "every-other-request-fails",
            Symptom::DashboardChangeInvisible => "dashboard-change-invisible",
            Symptom::StaleCache => "stale-cache",
            Symptom::TokenEndpointMismatch => "token-endpoint-mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<Symptom> {
        Symptom::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Layers this symptom points at first, in the playbook's order.
    pub fn suspects(self) -> &'static [Layer] {
        match self {
            Symptom::EveryOtherRequestFails => &[Layer::Balancer, Layer::Node],
            Symptom::DashboardChangeInvisible => &[Layer::Database, Layer::Node],
            Symptom::StaleCache => &[Layer::Cache],
            Symptom::TokenEndpointMismatch => &[Layer::Auth, Layer::Database],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symptom_parse_round_trips() {
        for s in Symptom::ALL {
            assert_eq!(Symptom::parse(s.as_str()), Some(s));
        }
        assert_eq!(Symptom::parse("nope"), None);
    }
}
