//! The JSON contract's schema (`docs/report.schema.json`, generated from the
//! report types) checked by a validator we did not write (the `jsonschema`
//! crate). [`assert_valid`] runs on every `--format json` output of the suite
//! (`Run::json` calls it), and here on documents that must fail.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::helpers::*;

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");
        let text = std::fs::read_to_string(path).expect("docs/report.schema.json");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema")
    })
}

/// Every way `report` breaks the schema, one line each.
pub fn violations(report: &Value) -> Vec<String> {
    validator()
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Panics with the violations when `report` does not follow the contract.
pub fn assert_valid(report: &Value) {
    let errors = violations(report);
    assert!(
        errors.is_empty(),
        "--format json output breaks docs/report.schema.json:\n{}\n{report:#}",
        errors.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_report_follows_the_schema_and_broken_ones_do_not() {
    let run: Run = tokio::process::Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/never-read.toml",
            "demo",
            "--format",
            "json",
        ])
        .output()
        .await
        .expect("run")
        .into();
    let report = run.json();
    assert_valid(&report);

    let mut no_verdict = report.clone();
    no_verdict
        .as_object_mut()
        .expect("object")
        .remove("verdict");
    let mut odd_code = report.clone();
    odd_code["findings"][0]["code"] = json!("node_is_fine_honest");
    let mut odd_status = report.clone();
    odd_status["status"] = json!("FAIL");
    let mut negative = report.clone();
    negative["elapsed_ms"] = json!(-1);
    for (what, broken) in [
        ("no verdict", no_verdict),
        ("unknown code", odd_code),
        ("upper-case status", odd_status),
        ("negative elapsed", negative),
    ] {
        assert!(!violations(&broken).is_empty(), "{what} passed the schema");
    }
}
