//! aisbf.json files and session keys for the unit tests of `check files`.

use crate::aisbf_json::{self, NodeConfig};
use crate::probe::node_files::{Fingerprint, SessionKey};

pub(super) fn node(json: &str) -> NodeConfig {
    aisbf_json::parse_config(json).unwrap()
}

pub(super) const SHARED: &str = r#"{"database":{"type":"mysql","mysql_host":"db","mysql_database":"aisbf"},
        "cache":{"type":"redis","redis_host":"redis"},
        "response_cache":{"backend":"redis","redis_host":"redis"},
        "auth":{"enabled":true}}"#;

pub(super) fn with(patch: &str) -> NodeConfig {
    let mut v: serde_json::Value = serde_json::from_str(SHARED).unwrap();
    let p: serde_json::Value = serde_json::from_str(patch).unwrap();
    for (section, keys) in p.as_object().unwrap() {
        for (k, val) in keys.as_object().unwrap() {
            v[section][k] = val.clone();
        }
    }
    node(&v.to_string())
}

pub(super) fn three(odd: NodeConfig) -> Vec<(String, NodeConfig)> {
    vec![
        ("aisbf-1".into(), node(SHARED)),
        ("aisbf-2".into(), odd),
        ("aisbf-3".into(), node(SHARED)),
    ]
}

pub(super) fn key(s: &str) -> SessionKey {
    SessionKey::Present(Fingerprint::of(s.as_bytes()))
}
