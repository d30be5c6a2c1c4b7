//! Pure rendering of verdicts as Discord messages: golden snapshots of
//! typical verdicts (regenerate with UPDATE_GOLDEN=1) and a property test
//! that any verdict stays within every Discord limit.

use aisbf_doctor::discord::render::{self, Extras, check_limits};
use aisbf_doctor::engine::Report;
use aisbf_doctor::finding::{Code, Finding, ProbeKind, Severity};
use aisbf_doctor::secret::{Redactor, Secret};
use proptest::prelude::*;
use serde_json::Value;

use crate::report_fixtures::{drifted, healthy, many_nodes};

fn golden(name: &str, actual: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/discord")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        text, want,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"
    );
}

fn redactor() -> Redactor {
    Redactor::new(vec![Secret::new("demo-alice-token-0001")])
}

#[test]
fn healthy_verdict_renders_as_a_green_embed_with_a_field_per_node() {
    let m = render::verdict(
        &healthy(),
        &redactor(),
        &Extras {
            command_label: Some("/aisbf health"),
            rerun_id: Some("run:health:"),
            ..Extras::default()
        },
    );
    assert!(m.attachment.is_none());
    assert_eq!(m.json["embeds"][0]["color"], 0x2E_CC_71);
    golden("healthy", &m.json);
}

#[test]
fn drifted_node_renders_red_with_pin_button_and_no_secret_or_mass_mention() {
    let m = render::verdict(
        &drifted(),
        &redactor(),
        &Extras {
            command_label: Some("/aisbf health"),
            rerun_id: Some("run:health:"),
            pin_node: Some("aisbf-3"),
            content: Some("Incident thread: <#123>"),
        },
    );
    let text = m.json.to_string();
    assert!(!text.contains("sk-leaked-secret-value"), "{text}");
    assert!(!text.contains("@everyone"), "{text}");
    assert_eq!(
        m.json["components"][0]["components"][1]["custom_id"],
        "pin:aisbf-3"
    );
    golden("drifted", &m.json);
}

#[test]
fn forty_nodes_are_cut_to_the_limits_with_and_n_more_and_the_full_report_attached() {
    let m = render::verdict(&many_nodes(), &redactor(), &Extras::default());
    check_limits(&m.json).expect("within limits");
    let fields = m.json["embeds"][0]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(fields.len() <= 25);
    let last = fields
        .last()
        .map(|f| f["value"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert!(
        last.starts_with("…and ") && last.ends_with(" more"),
        "{last}"
    );
    let (name, bytes) = m.attachment.expect("full report attached");
    assert_eq!(name, "aisbf-doctor-report.txt");
    let report = String::from_utf8(bytes).expect("utf8");
    assert!(
        report.contains("aisbf-40"),
        "the attachment holds every node"
    );
    assert_eq!(
        m.json["attachments"][0]["filename"],
        "aisbf-doctor-report.txt"
    );
    golden("many-nodes", &m.json);
}

#[test]
fn refusals_are_ephemeral_and_never_ping() {
    let v = render::text("@everyone token=abc123secret", &redactor(), true);
    assert_eq!(v["flags"], 64);
    assert_eq!(v["allowed_mentions"], serde_json::json!({"parse": []}));
    let c = v["content"].as_str().unwrap_or_default();
    assert!(
        !c.contains("abc123secret") && !c.contains("@everyone"),
        "{c}"
    );
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Ok),
        Just(Severity::Warn),
        Just(Severity::Fail)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn any_verdict_stays_within_every_discord_limit(
        cluster in ".{0,300}",
        findings in prop::collection::vec((severity(), ".{0,400}", ".{0,3000}"), 0..80),
        label in ".{0,300}",
        content in ".{0,3000}",
    ) {
        let findings = findings
            .into_iter()
            .map(|(s, subject, msg)| Finding::new(ProbeKind::Health, s, subject, Code::NodeOk, msg))
            .collect();
        let report = Report::from_findings(&cluster, findings, None, 1);
        let m = render::verdict(&report, &redactor(), &Extras {
            command_label: Some(&label),
            rerun_id: Some("run:health:"),
            pin_node: Some("aisbf-1"),
            content: Some(&content),
        });
        prop_assert!(check_limits(&m.json).is_ok(), "{:?}", check_limits(&m.json));
        // Anything cut means the full report is attached.
        let fields = m.json["embeds"][0]["fields"].as_array().map(Vec::len).unwrap_or(0);
        if fields > 0 && m.json["embeds"][0]["fields"][fields - 1]["name"] == "…" {
            prop_assert!(m.attachment.is_some());
        }
    }
}
