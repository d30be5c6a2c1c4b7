//! `/metrics` text checked by a Prometheus parser we did not write (the
//! `prometheus-client` Python package's text parser), with names that would
//! break an unescaped label value.

use std::process::Command;

use aisbf_doctor::engine::Report;
use aisbf_doctor::finding::{Code, Finding, ProbeKind, Severity};
use aisbf_doctor::metrics::Metrics;

/// Python with `prometheus_client`, installed for the user when missing.
fn python_with_prometheus_client() -> &'static str {
    let has = |py: &str| {
        Command::new(py)
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("python3") {
        let ok = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--user",
                "prometheus-client==0.21.1",
            ])
            .status()
            .is_ok_and(|s| s.success())
            || Command::new("python3")
                .args(["-m", "pip", "install", "-q", "prometheus-client==0.21.1"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok && has("python3"), "pip install prometheus-client failed");
    }
    "python3"
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

#[test]
fn cluster_and_node_names_with_quotes_backslashes_and_newlines_keep_metrics_parseable() {
    let cluster = "prod \"eu\" \\ west";
    let node = "aisbf-\"2\"\\\nx";
    let report = Report::from_findings(
        cluster,
        vec![
            Finding::new(
                ProbeKind::Health,
                Severity::Ok,
                "aisbf-1",
                Code::NodeOk,
                "up",
            ),
            Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                node,
                Code::NodeUnreachable,
                "down",
            ),
        ],
        None,
        5,
    );
    let m = Metrics::new();
    m.observe(&report);
    let text = m.render();

    let py = python_with_prometheus_client();
    let mut child = Command::new(py)
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let up: Vec<&serde_json::Value> = samples
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| s["name"] == "aisbf_doctor_node_up")
        .collect();
    assert_eq!(up.len(), 2, "{samples}");
    // What the parser reads back is the cluster name as given, and the node
    // name as the report shows it (made inert: the newline is a visible escape).
    assert!(
        up.iter().all(|s| s["labels"]["cluster"] == cluster),
        "{samples}"
    );
    assert!(
        up.iter()
            .any(|s| s["labels"]["node"] == "aisbf-\"2\"\\\\u{a}x" && s["value"] == 0.0),
        "{samples}"
    );
}
