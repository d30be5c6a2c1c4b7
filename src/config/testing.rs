//! What the config's unit tests share: a minimal valid config and its environment.

use super::parse;

pub(super) const MINIMAL: &str = r#"
[cluster]
name = "prod"
user = "alice"
token = "${AISBF_TOKEN}"
[[cluster.nodes]]
name = "aisbf-1"
url = "http://127.0.0.1:17765"
"#;

pub(super) fn env(name: &str) -> Option<String> {
    (name == "AISBF_TOKEN").then(|| "tok-secret".to_string())
}

pub(super) fn problem(text: &str) -> String {
    parse(text, &env)
        .expect_err("config should be rejected")
        .problem
}
