//! `--format nagios` end to end: the real binary against fake nodes, its
//! performance data read back by a parser we did not write, the Monitoring
//! Plugins project's own Perl library (`Monitoring::Plugin::Performance`,
//! Debian package `libmonitoring-plugin-perl`; `.ci/run` installs it).

use std::io::Write;
use std::process::{Command, Stdio};

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};
use serde_json::Value;

use crate::helpers::*;

const INSTALL: &str = "apt-get install -y libmonitoring-plugin-perl";

const PARSE: &str = r#"
use strict; use warnings;
use JSON::PP; use Monitoring::Plugin::Performance;
local $/; my $perf = <STDIN>;
my @out = map { { label => $_->label, value => $_->value, uom => $_->uom,
    min => $_->min, max => $_->max } }
    Monitoring::Plugin::Performance->parse_perfstring($perf);
print encode_json(\@out);
"#;

/// Every metric the Monitoring Plugins' parser reads from `perfdata`.
fn parse_perfdata(perfdata: &str) -> Vec<Value> {
    let has = Command::new("perl")
        .args(["-MMonitoring::Plugin::Performance", "-e", "1"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has,
        "perl with Monitoring::Plugin::Performance is needed: {INSTALL}"
    );
    let mut child = Command::new("perl")
        .args(["-e", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run perl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(perfdata.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("perl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A number the parser returned, as a string or a number.
fn num(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn metric<'a>(metrics: &'a [Value], label: &str) -> &'a Value {
    metrics
        .iter()
        .find(|m| m["label"] == label)
        .unwrap_or_else(|| panic!("no metric {label:?} in {metrics:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_node_is_critical_with_perfdata_the_monitoring_plugins_parser_reads() {
    let mut cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("eu node 2"),
        FakeNodeSpec::healthy("aisbf-3"),
    ])
    .await
    .expect("start");
    cluster.node_mut("aisbf-3").expect("node").stop();
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000));
    let run = run_cli(
        &cfg,
        &["check", "health", "--format", "nagios"],
        &demo_env(),
    )
    .await;

    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let mut lines = run.stdout.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("AISBF CRITICAL - "), "{first}");
    assert!(first.contains("aisbf-3"), "{first}");
    let (_, perfdata) = first.split_once(" | ").expect("perfdata after ' | '");
    // Long output follows on later lines and never starts more perfdata.
    let rest: Vec<&str> = lines.collect();
    assert!(
        rest.iter().any(|l| l.starts_with("[CRITICAL] aisbf-3: ")),
        "{rest:?}"
    );
    assert!(rest.iter().all(|l| !l.contains('|')), "{rest:?}");

    let metrics = parse_perfdata(perfdata);
    assert_eq!(
        metrics.len(),
        perfdata.split("=").count() - 1,
        "every metric parsed: {perfdata}"
    );
    let up = metric(&metrics, "nodes_up");
    assert_eq!((num(&up["value"]), num(&up["max"])), (Some(2.0), Some(3.0)));
    assert_eq!(num(&metric(&metrics, "findings_fail")["value"]), Some(1.0));
    let spaced = metric(&metrics, "eu node 2 latency");
    assert_eq!(spaced["uom"], "ms");
    assert_eq!(num(&spaced["min"]), Some(0.0));
    assert_eq!(metric(&metrics, "elapsed")["uom"], "ms");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_name_with_a_quote_is_one_metric_and_a_healthy_cluster_exits_ok() {
    let cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("ops' node"),
    ])
    .await
    .expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000));
    let run = run_cli(
        &cfg,
        &["check", "health", "--format", "nagios"],
        &demo_env(),
    )
    .await;

    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("AISBF OK - "), "{first}");
    let (_, perfdata) = first.split_once(" | ").expect("perfdata");
    // The guidelines double a quote inside a label.
    assert!(perfdata.contains("'ops'' node latency'="), "{perfdata}");
    let metrics = parse_perfdata(perfdata);
    // That library predates the doubled-quote rule (Icinga 2 follows it): it
    // skips that one metric, and every other metric still reads whole, so a
    // quote in a node name cannot shift or swallow its neighbours.
    assert_eq!(metrics.len(), 7, "{metrics:?}");
    assert!(
        metrics
            .iter()
            .all(|m| !m["label"].as_str().unwrap_or_default().contains("ops")),
        "{metrics:?}"
    );
    assert_eq!(metric(&metrics, "aisbf-1 latency")["uom"], "ms");
    assert_eq!(num(&metric(&metrics, "nodes_up")["value"]), Some(2.0));
}
