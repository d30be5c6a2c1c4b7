//! The shipped Prometheus rules and Grafana dashboard, checked by Prometheus's
//! own `promtool` (Debian package `prometheus`; `.ci/run` installs it):
//! `check rules`, `test rules` on the unit-test series beside the rules,
//! `check metrics` on a live `/metrics` scrape of the real binary, and every
//! metric the rules and the dashboard name is one the binary exposes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};

use crate::helpers::*;

const INSTALL: &str = "apt-get install -y prometheus";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs promtool; fails loudly, with the install command, when it is absent.
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let spawned = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = spawned.unwrap_or_else(|e| panic!("promtool is needed ({e}): {INSTALL}"));
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write");
    }
    drop(input);
    let out = child.wait_with_output().expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `aisbf_doctor_*` names in a text (PromQL expressions, a scrape).
fn metric_names(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"aisbf_doctor_[a-z_]+").expect("regex");
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// Every `expr` of the dashboard, with Grafana's `$cluster` filled in.
fn dashboard_exprs() -> Vec<String> {
    let text =
        std::fs::read_to_string(repo("config/grafana/aisbf-doctor.json")).expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            out.push(expr.replace("$cluster", ".*"));
        }
    }
    out
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = repo("config/prometheus/aisbf-doctor.rules.yml");
    let (ok, out) = promtool(&["check", "rules", &rules.display().to_string()], None);
    assert!(ok, "{out}");
    assert!(out.contains("4 rules found"), "{out}");
    let tests = repo("config/prometheus/aisbf-doctor.rules.test.yml");
    let (ok, out) = promtool(&["test", "rules", &tests.display().to_string()], None);
    assert!(ok, "{out}");
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    // promtool checks PromQL through rules: each query becomes a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in dashboard_exprs().iter().enumerate() {
        let quoted = serde_json::to_string(expr).expect("quote");
        rules.push_str(&format!(
            "      - record: dashboard:q{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("dashboard.rules.yml");
    std::fs::write(&path, &rules).expect("write");
    let (ok, out) = promtool(&["check", "rules", &path.display().to_string()], None);
    assert!(ok, "{out}\n{rules}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_scrape_passes_promtool_check_metrics_and_has_every_metric_the_rules_and_dashboard_use()
 {
    let mut cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ])
    .await
    .expect("fake");
    cluster.node_mut("aisbf-2").expect("node").stop();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("dir");
    let store = dir.path().join("store.db");
    // No Redis: a single replica that always leads.
    let cfg = config_file(&format!(
        "{}[store]\nurl = \"sqlite://{}\"\n[watch]\nevery = \"300ms\"\nprobes = [\"health\"]\nconfirm = 1\n\
         [metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000),
        store.display()
    ));
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg.path)
        .arg("watch")
        .env_remove("AISBF_DOCTOR_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in demo_env() {
        cmd.env(k, v);
    }
    let mut watch = cmd.spawn().expect("spawn watch");

    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::new();
    let mut scrape = String::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(&url).send().await {
            scrape = r.text().await.unwrap_or_default();
            if scrape.contains("aisbf_doctor_node_up{") && !scrape.contains("runs_total 0") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let openmetrics = client
        .get(&url)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("scrape");
    let content_type = openmetrics
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let openmetrics = openmetrics.text().await.expect("body");
    let _ = watch.kill().await;

    assert!(
        scrape.contains("aisbf_doctor_node_up{"),
        "no run was scraped: {scrape}"
    );
    let (ok, out) = promtool(&["check", "metrics"], Some(&scrape));
    assert!(ok, "promtool check metrics:\n{out}\n{scrape}");
    // Prometheus itself asks for OpenMetrics and gets it.
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(openmetrics.trim_end().ends_with("# EOF"), "{openmetrics}");

    let exposed = metric_names(&scrape);
    let rules =
        std::fs::read_to_string(repo("config/prometheus/aisbf-doctor.rules.yml")).expect("rules");
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(dashboard_exprs().iter().flat_map(|e| metric_names(e)))
        .collect();
    // discord_posts_total appears only once something was posted: `watch`
    // posts to stdout. Its name is checked against the registry instead.
    let registered = aisbf_doctor::metrics::Metrics::new();
    registered.discord_post(true);
    let registered = metric_names(&registered.render());
    for name in &used {
        assert!(
            exposed.contains(name) || registered.contains(name),
            "{name} is used by the rules or dashboard but not exposed:\n{scrape}"
        );
    }
    assert!(used.len() >= 5, "{used:?}");
}
