//! `check health` end to end: the real binary against fake AISBF nodes and
//! misbehaving servers on loopback.

use aisbf_doctor::demo::fake_node::{Behaviour, FakeCluster, FakeNodeSpec};
use serde_json::Value;

use crate::helpers::*;

fn healthy3() -> Vec<FakeNodeSpec> {
    vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
        FakeNodeSpec::healthy("aisbf-3"),
    ]
}

async fn check_json(cluster: &FakeCluster, extra: &str, args: &[&str]) -> (Run, Value) {
    let cfg = config_file(&format!(
        "{}{extra}",
        cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000)
    ));
    let mut all = vec!["check", "health", "--format", "json"];
    all.extend_from_slice(args);
    let run = run_cli(&cfg, &all, &demo_env()).await;
    let json = run.json();
    (run, json)
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_cluster_is_ok_and_exits_zero() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let (run, report) = check_json(&cluster, "", &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(report["status"], "ok");
    assert_eq!(report["verdict"]["layer"], "none");
    assert_eq!(report["verdict"]["action"], "none");
    assert_eq!(report["verdict"]["culprits"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_node_is_the_culprit_with_layer_node_and_exit_2() {
    let mut cluster = FakeCluster::start(healthy3()).await.expect("start");
    cluster.node_mut("aisbf-2").expect("node").stop();
    let (run, report) = check_json(&cluster, "", &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(report["status"], "fail");
    assert_eq!(report["verdict"]["layer"], "node");
    assert_eq!(report["verdict"]["action"], "edit_infrastructure");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["aisbf-2"])
    );
    assert_eq!(codes(&report, "aisbf-2"), vec!["node_unreachable"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_report_follows_the_public_contract() {
    let cluster = FakeCluster::demo().await.expect("start");
    let (_, report) = check_json(&cluster, "", &[]).await;
    let keys: Vec<&str> = report
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for k in ["cluster", "status", "verdict", "findings", "elapsed_ms"] {
        assert!(report.get(k).is_some(), "missing {k}");
    }
    for k in ["layer", "action", "culprits", "summary", "first_check"] {
        assert!(report["verdict"].get(k).is_some(), "missing verdict.{k}");
    }
    for f in report["findings"].as_array().expect("findings") {
        for k in ["probe", "severity", "subject", "code", "message"] {
            assert!(f.get(k).is_some(), "missing finding.{k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_drift_is_auth_drift_on_the_sqlite_node() {
    let cluster = FakeCluster::demo().await.expect("start");
    let (run, report) = check_json(&cluster, "", &[]).await;
    assert_eq!(run.code, 2);
    assert_eq!(report["verdict"]["layer"], "auth");
    assert_eq!(report["verdict"]["action"], "edit_infrastructure");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["aisbf-3"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_that_never_answers_is_reported_within_the_timeout() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let silent = silent_server().await;
    let extra = format!("[[cluster.nodes]]\nname = \"silent\"\nurl = \"{silent}\"\n");
    let started = std::time::Instant::now();
    let (run, report) = check_json(&cluster, &extra, &[]).await;
    let wall = started.elapsed().as_millis();
    assert_eq!(run.code, 2);
    assert_eq!(codes(&report, "silent"), vec!["node_timeout"]);
    assert_eq!(report["verdict"]["culprits"], serde_json::json!(["silent"]));
    // timeout_ms is 1000: the run must not wait much past it (process start included).
    assert!(wall < 1000 + 2500, "took {wall} ms");
}

#[tokio::test(flavor = "multi_thread")]
async fn hanging_garbage_and_huge_nodes_become_findings() {
    let mut specs = healthy3();
    let mut hang = FakeNodeSpec::healthy("hang");
    hang.behaviour = Behaviour::Hang;
    let mut garbage = FakeNodeSpec::healthy("garbage");
    garbage.behaviour = Behaviour::Garbage;
    let mut huge = FakeNodeSpec::healthy("huge");
    huge.behaviour = Behaviour::Huge(50 * 1024 * 1024);
    let mut err = FakeNodeSpec::healthy("err500");
    err.behaviour = Behaviour::ServerError;
    specs.extend([hang, garbage, huge, err]);
    let cluster = FakeCluster::start(specs).await.expect("start");
    let refused = refused_url().await;
    let extra = format!("[[cluster.nodes]]\nname = \"refused\"\nurl = \"{refused}\"\n");
    let (run, report) = check_json(&cluster, &extra, &[]).await;
    assert_eq!(run.code, 2);
    assert_eq!(codes(&report, "hang"), vec!["node_timeout"]);
    assert_eq!(codes(&report, "garbage"), vec!["node_bad_answer"]);
    assert_eq!(codes(&report, "huge"), vec!["node_bad_answer"]);
    assert_eq!(codes(&report, "err500"), vec!["node_server_error"]);
    assert_eq!(codes(&report, "refused"), vec!["node_unreachable"]);
    assert_eq!(codes(&report, "aisbf-1"), vec!["node_ok"]);
    assert_eq!(report["verdict"]["layer"], "node");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_http_answer_is_a_finding_not_a_crash() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let redisish = raw_server(b"-ERR wrong protocol\r\n").await;
    let extra = format!("[[cluster.nodes]]\nname = \"notaisbf\"\nurl = \"{redisish}\"\n");
    let (run, report) = check_json(&cluster, &extra, &[]).await;
    assert_eq!(run.code, 2);
    assert_eq!(codes(&report, "notaisbf"), vec!["node_unreachable"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_option_limits_the_probe_to_that_node() {
    let mut cluster = FakeCluster::start(healthy3()).await.expect("start");
    cluster.node_mut("aisbf-3").expect("node").stop();
    let (run, report) = check_json(&cluster, "", &["--node", "aisbf-1"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(codes(&report, "aisbf-3"), Vec::<String>::new());
    assert_eq!(codes(&report, "aisbf-1"), vec!["node_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_node_option_is_refused_without_probing() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", None, 1000));
    let run = run_cli(
        &cfg,
        &["check", "health", "--node", "http://evil.example"],
        &demo_env(),
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("unknown node"), "{}", run.stderr);
    assert!(cluster.nodes.iter().all(|n| n.requests() == 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn text_output_has_one_line_per_node_and_the_verdict() {
    let cluster = FakeCluster::demo().await.expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000));
    let run = run_cli(&cfg, &["check", "health"], &demo_env()).await;
    assert_eq!(run.code, 2);
    let node_lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("aisbf-"))
        .filter(|l| l.starts_with('['))
        .collect();
    assert_eq!(node_lines.len(), 3, "{}", run.stdout);
    assert!(run.stdout.contains("[FAIL] aisbf-3"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("verdict: FAIL (layer auth, action edit infrastructure)")
    );
    assert!(!run.stdout.contains('\x1b'), "no colour when not a TTY");
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_output_has_verdict_and_table() {
    let cluster = FakeCluster::demo().await.expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", None, 1000));
    let run = run_cli(
        &cfg,
        &["check", "health", "--format", "markdown"],
        &demo_env(),
    )
    .await;
    assert!(
        run.stdout.starts_with("## ❌ aisbf-doctor: fake is fail"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("| ❌ | health | aisbf-3 | `token_rejected_on_node` |")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_any_format() {
    let cluster = FakeCluster::demo().await.expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000));
    for format in ["text", "json", "markdown"] {
        let run = run_cli(&cfg, &["check", "health", "--format", format], &demo_env()).await;
        for secret in [
            aisbf_doctor::demo::fake_node::demo::TOKEN,
            aisbf_doctor::demo::fake_node::demo::GLOBAL_TOKEN,
        ] {
            assert!(!run.stdout.contains(secret), "{format} leaked a secret");
            assert!(
                !run.stderr.contains(secret),
                "{format} leaked a secret on stderr"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_command_runs_with_no_config_and_names_the_drifted_node() {
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
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["cluster"], "demo");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["aisbf-3"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chart_option_writes_a_png_of_node_latencies() {
    let cluster = FakeCluster::demo().await.expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", None, 1000));
    let png = cfg.dir.path().join("latency.png");
    let png_arg = png.display().to_string();
    let run = run_cli(&cfg, &["check", "health", "--chart", &png_arg], &demo_env()).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let bytes = std::fs::read(&png).expect("chart written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 1000, "a real image, not an empty file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chart_that_cannot_be_written_keeps_the_verdict_and_its_exit_code() {
    let cluster = FakeCluster::demo().await.expect("start");
    let cfg = config_file(&cluster.config_toml("AISBF_TOKEN", None, 1000));
    let run = run_cli(
        &cfg,
        &["check", "health", "--chart", "/nonexistent/dir/latency.png"],
        &demo_env(),
    )
    .await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("verdict: FAIL"), "{}", run.stdout);
    assert!(run.stderr.contains("cannot write chart"), "{}", run.stderr);
}
