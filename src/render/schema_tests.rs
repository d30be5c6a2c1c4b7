//! `docs/report.schema.json` is generated from the report types (schemars,
//! derived under `cfg(test)` only, so the binary does not carry it) and must
//! match them: a changed field fails here until the file is regenerated with
//! `AISBF_DOCTOR_UPDATE_SCHEMA=1 cargo test --lib render::schema_tests`.

use crate::engine::Report;

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");

fn generated() -> String {
    let mut schema = schemars::schema_for!(Report);
    schema.insert(
        "description".into(),
        "What `aisbf-doctor --format json` prints: exactly one document per run. \
         Fields are only ever added, never renamed."
            .into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[test]
fn the_shipped_json_schema_is_the_one_the_report_types_generate() {
    let want = generated();
    if std::env::var_os("AISBF_DOCTOR_UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &want).expect("write the schema");
    }
    let have = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        have == want,
        "docs/report.schema.json is out of date: run AISBF_DOCTOR_UPDATE_SCHEMA=1 cargo test --lib render::schema_tests"
    );
}

#[test]
fn the_schema_names_every_finding_code_and_the_contract_fields() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).unwrap_or_default();
    let text = schema.to_string();
    for code in <crate::finding::Code as strum::IntoEnumIterator>::iter() {
        assert!(
            text.contains(&format!("\"{}\"", code.as_str())),
            "{code:?} missing"
        );
    }
    let required = &schema["required"];
    for field in ["cluster", "status", "verdict", "findings", "elapsed_ms"] {
        assert!(
            required
                .as_array()
                .is_some_and(|r| r.iter().any(|f| f == field)),
            "{field} not required: {required}"
        );
    }
    assert!(
        !text.contains("timings") && !text.contains("latency_ms"),
        "{text}"
    );
}
