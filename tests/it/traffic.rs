//! Token, route matrix, balancer and `diagnose` end to end against fake AISBF
//! nodes and a fake round-robin balancer on loopback.

use aisbf_doctor::fake::{FakeCluster, FakeNodeSpec, FakeRoute, demo, start_balancer};
use serde_json::{Value, json};

use crate::helpers::*;

fn healthy3() -> Vec<FakeNodeSpec> {
    ["aisbf-1", "aisbf-2", "aisbf-3"]
        .iter()
        .map(|n| FakeNodeSpec::healthy(n))
        .collect()
}

/// Config for the cluster, plus an optional balancer and extra sections.
fn config(cluster: &FakeCluster, balancer: Option<&str>, extra: &str) -> ConfigFile {
    let mut text = cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 2000);
    if let Some(b) = balancer {
        text = text.replacen(
            "timeout_ms = 2000\n",
            &format!("timeout_ms = 2000\nbalancer = \"{b}\"\n"),
            1,
        );
    }
    config_file(&format!("{text}{extra}"))
}

fn routes(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "[routes]\nsmoke = [{}]\nconcurrency = 4\n",
        quoted.join(", ")
    )
}

async fn run_json(cfg: &ConfigFile, args: &[&str], token: &str) -> (Run, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let run = run_cli(
        cfg,
        &all,
        &[
            ("AISBF_TOKEN", token),
            ("AISBF_GLOBAL_TOKEN", demo::GLOBAL_TOKEN),
        ],
    )
    .await;
    let v = run.json();
    (run, v)
}

fn verdict(v: &Value) -> (String, String, Value) {
    (
        v["verdict"]["layer"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        v["verdict"]["action"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        v["verdict"]["culprits"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn token_accepted_everywhere_is_ok() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_OK]));
    let (run, v) = run_json(&cfg, &["check", "token"], demo::TOKEN).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(codes(&v, "aisbf-1"), vec!["token_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_rejected_by_one_node_is_infrastructure_on_that_node() {
    let cluster = FakeCluster::demo().await.expect("start");
    let cfg = config(&cluster, None, "");
    let (run, v) = run_json(&cfg, &["check", "token"], demo::TOKEN).await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "auth".into(),
            "edit_infrastructure".into(),
            json!(["aisbf-3"])
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_tokens_for_every_node_are_credentials_with_the_reason() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config(&cluster, None, "");
    let rows = [
        ("not-a-known-token", "unknown to this node's database"),
        (demo::MCP_TOKEN, "scope is mcp only"),
        (demo::BOB_TOKEN, "username mismatch"),
        (demo::GLOBAL_TOKEN, "global token was used on a user path"),
    ];
    for (token, reason) in rows {
        let (run, v) = run_json(&cfg, &["check", "token"], token).await;
        assert_eq!(run.code, 2, "{token}");
        assert_eq!(
            verdict(&v),
            ("auth".into(), "fix_credentials".into(), json!(["token"])),
            "{token}"
        );
        assert!(
            v["verdict"]["summary"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{reason}: {}",
            v["verdict"]["summary"]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn route_down_on_every_node_is_edit_routes_naming_the_route() {
    let mut specs = healthy3();
    for s in &mut specs {
        s.routes
            .insert(demo::ROUTE_ROTATION.into(), FakeRoute::ProviderDown);
    }
    let cluster = FakeCluster::start(specs).await.expect("start");
    let cfg = config(
        &cluster,
        None,
        &routes(&[demo::ROUTE_OK, demo::ROUTE_ROTATION]),
    );
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "provider".into(),
            "edit_routes".into(),
            json!([demo::ROUTE_ROTATION])
        )
    );
    assert_eq!(codes(&v, demo::ROUTE_OK), vec!["route_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn route_failing_on_one_node_is_that_node_not_the_route() {
    let mut specs = healthy3();
    specs[1]
        .routes
        .insert(demo::ROUTE_OK.into(), FakeRoute::ProviderDown);
    let cluster = FakeCluster::start(specs).await.expect("start");
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_OK]));
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "node".into(),
            "edit_infrastructure".into(),
            json!(["aisbf-2"])
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn colon_route_name_is_malformed_with_the_corrected_name() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config(
        &cluster,
        None,
        &routes(&["rotation:support-private-rotation"]),
    );
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "route".into(),
            "edit_routes".into(),
            json!(["rotation:support-private-rotation"])
        )
    );
    let msg = v["findings"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("user-rotation/support-private-rotation"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn route_option_must_name_a_configured_route() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_OK]));
    let run = run_cli(
        &cfg,
        &["check", "routes", "--route", "provider/gpt-4"],
        &demo_env(),
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("unknown route"), "{}", run.stderr);
    assert!(cluster.nodes.iter().all(|n| n.requests() == 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn balancer_with_a_dead_member_is_the_balancer() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let mut members: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    members.push(refused_url().await);
    let lb = start_balancer(members).await.expect("balancer");
    let cfg = config(&cluster, Some(&lb.url()), "");
    let (run, v) = run_json(&cfg, &["check", "lb"], demo::TOKEN).await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "balancer".into(),
            "edit_infrastructure".into(),
            json!(["balancer"])
        )
    );
    let msg = v["findings"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("3 of 12"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn balancer_failures_from_a_stopped_node_name_the_node() {
    let mut cluster = FakeCluster::start(healthy3()).await.expect("start");
    let members: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let lb = start_balancer(members).await.expect("balancer");
    cluster.node_mut("aisbf-2").expect("node").stop();
    let cfg = config(&cluster, Some(&lb.url()), "");
    let (run, v) = run_json(
        &cfg,
        &["diagnose", "--symptom", "every-other-request-fails"],
        demo::TOKEN,
    )
    .await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "node".into(),
            "edit_infrastructure".into(),
            json!(["aisbf-2"])
        )
    );
    assert!(
        v["verdict"]["summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Symptom \"every-other-request-fails\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diagnose_healthy_cluster_is_ok_with_no_warning() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let members: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let lb = start_balancer(members).await.expect("balancer");
    let cfg = config(
        &cluster,
        Some(&lb.url()),
        &routes(&[demo::ROUTE_OK, demo::ROUTE_ROTATION]),
    );
    let (run, v) = run_json(&cfg, &["diagnose"], demo::TOKEN).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(v["status"], "ok");
    assert_eq!(verdict(&v), ("none".into(), "none".into(), json!([])));
    let not_ok: Vec<&Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "ok")
        .collect();
    assert!(not_ok.is_empty(), "{not_ok:?}");
    let probes: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["probe"].as_str())
        .collect();
    for p in ["health", "token", "routes", "lb"] {
        assert!(probes.contains(&p), "{p} did not run: {probes:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn diagnose_puts_node_drift_before_a_failing_route() {
    let mut specs = healthy3();
    for s in &mut specs {
        s.routes
            .insert(demo::ROUTE_ROTATION.into(), FakeRoute::ProviderDown);
    }
    specs[2] = FakeNodeSpec::on_private_sqlite("aisbf-3");
    let cluster = FakeCluster::start(specs).await.expect("start");
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_ROTATION]));
    let (run, v) = run_json(&cfg, &["diagnose"], demo::TOKEN).await;
    assert_eq!(run.code, 2);
    let (layer, action, culprits) = verdict(&v);
    assert_eq!(action, "edit_infrastructure", "do not mask drift: {v}");
    assert_eq!(layer, "auth");
    assert_eq!(culprits, json!(["aisbf-3"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_symptom_is_a_usage_error_with_exit_3() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config(&cluster, None, "");
    let run = run_cli(
        &cfg,
        &["diagnose", "--symptom", "everything-is-on-fire"],
        &demo_env(),
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("every-other-request-fails"),
        "{}",
        run.stderr
    );
}
