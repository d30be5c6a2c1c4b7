//! Pure rendering of verdicts as Slack Block Kit messages: snapshots of
//! typical verdicts (in `tests/golden/slack/`; review with `cargo insta
//! review`) and a property test that any verdict stays within every Slack
//! limit and never pings.

use aisbf_doctor::engine::Report;
use aisbf_doctor::finding::{Code, Finding, ProbeKind, Severity};
use aisbf_doctor::secret::{Redactor, Secret};
use aisbf_doctor::slack::render::{self, Extras, check_limits, escape};
use proptest::prelude::*;
use serde_json::Value;

use crate::report_fixtures::{drifted, f, healthy};

fn snapshot(name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("json");
    insta::with_settings!({
        snapshot_path => "../golden/slack",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

fn redactor() -> Redactor {
    Redactor::new(vec![Secret::new("demo-alice-token-0001")])
}

#[test]
fn a_healthy_verdict_is_a_green_header_and_a_section_per_node() {
    let m = render::verdict(
        &healthy(),
        &redactor(),
        &Extras {
            command_label: Some("/aisbf health"),
            rerun_id: Some("run:health:"),
            ..Extras::default()
        },
    );
    assert!(m.files.is_empty());
    let header = m.json["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(header.starts_with(":large_green_circle:"), "{header}");
    check_limits(&m.json).expect("within limits");
    snapshot("healthy", &m.json);
}

#[test]
fn a_failing_verdict_is_red_with_pin_button_and_no_secret_or_ping() {
    let m = render::verdict(
        &drifted(),
        &redactor(),
        &Extras {
            command_label: Some("/aisbf health"),
            rerun_id: Some("run:health:"),
            pin_node: Some("aisbf-3"),
            note: Some("New failure"),
            link: Some("Incident thread: in <#C0123456>"),
        },
    );
    let text = m.json.to_string();
    assert!(!text.contains("sk-leaked-secret-value"), "{text}");
    assert!(!text.contains("@everyone"), "{text}");
    let header = m.json["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        header.starts_with(":red_circle:") && header.contains("FAIL"),
        "{header}"
    );
    assert!(text.contains("First check"), "{text}");
    let actions = m.json["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
        .cloned()
        .expect("buttons");
    assert_eq!(actions["elements"][0]["value"], "run:health:");
    assert_eq!(actions["elements"][1]["value"], "pin:aisbf-3");
    check_limits(&m.json).expect("within limits");
    snapshot("drifted", &m.json);
}

#[test]
fn sixty_nodes_are_cut_to_fifty_blocks_with_and_n_more_and_the_full_report_attached() {
    let findings = (1..=60)
        .map(|i| f(Severity::Ok, &format!("aisbf-{i:02}"), Code::NodeOk, "up"))
        .collect();
    let report = Report::from_findings("big", findings, None, 900);
    let m = render::verdict(&report, &redactor(), &Extras::default());
    check_limits(&m.json).expect("within limits");
    let blocks = m.json["blocks"].as_array().cloned().unwrap_or_default();
    assert!(blocks.len() <= 50);
    let more = blocks
        .iter()
        .filter_map(|b| b["elements"][0]["text"].as_str())
        .find(|t| t.starts_with("…and "))
        .expect("an …and N more line");
    assert!(more.ends_with(" more"), "{more}");
    let (name, bytes) = m.files.first().cloned().expect("full report attached");
    assert_eq!(name, "aisbf-doctor-report.txt");
    assert!(String::from_utf8_lossy(&bytes).contains("aisbf-60"));
}

#[test]
fn server_text_cannot_mention_link_or_ping() {
    assert_eq!(
        escape("<!channel> <!here> <@U123> a&b <https://evil|click>"),
        "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; a&amp;b &lt;https://evil|click&gt;"
    );
    let report = Report::from_findings(
        "prod",
        vec![Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            "<@U999>",
            Code::TokenRejectedOnNode,
            "<!channel> @here token=abc123secret",
        )],
        None,
        1,
    );
    let m = render::verdict(&report, &redactor(), &Extras::default());
    check_limits(&m.json).expect("no ping");
    let plain = render::text("<!here> token=abc123secret", &redactor());
    check_limits(&plain).expect("no ping");
    assert!(!plain.to_string().contains("abc123secret"));
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Ok),
        Just(Severity::Warn),
        Just(Severity::Fail)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_verdict_stays_within_every_slack_limit_and_never_pings(
        cluster in ".{0,300}",
        findings in prop::collection::vec((severity(), ".{0,400}", "[<>&@!a-z ]{0,3500}"), 0..80),
        label in ".{0,300}",
        note in "[<>&@!a-z ]{0,4000}",
        node in ".{0,120}",
    ) {
        let findings = findings
            .into_iter()
            .map(|(s, subject, msg)| Finding::new(ProbeKind::Health, s, subject, Code::NodeOk, msg))
            .collect();
        let report = Report::from_findings(&cluster, findings, None, 1);
        let m = render::verdict(&report, &redactor(), &Extras {
            command_label: Some(&label),
            rerun_id: Some("run:health:"),
            pin_node: Some(&node),
            note: Some(&note),
            link: None,
        });
        prop_assert!(check_limits(&m.json).is_ok(), "{:?}", check_limits(&m.json));
        let text = render::text(&note, &redactor());
        prop_assert!(check_limits(&text).is_ok(), "{:?}", check_limits(&text));
    }
}
