//! Token, route matrix, balancer and `diagnose` end to end against fake AISBF
//! nodes and a fake round-robin balancer on loopback.

use aisbf_doctor::demo::fake_node::{
    FakeCluster, FakeNodeSpec, FakeResponseCache, FakeRoute, ResponseStore, demo, start_balancer,
    start_node,
};
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

fn with_cache(mode: FakeResponseCache) -> impl Fn(FakeNodeSpec) -> FakeNodeSpec {
    move |mut s| {
        s.response_cache = mode.clone();
        s
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_response_cache_is_seen_without_extra_requests() {
    let cluster = FakeCluster::start(healthy3()).await.expect("start");
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_OK]));
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(codes(&v, "cache"), vec!["response_cache_shared"]);
    // One smoke request per node: the round trip rides on the matrix.
    let per_node: Vec<u64> = cluster.nodes.iter().map(|n| n.requests()).collect();
    assert_eq!(per_node, vec![1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_that_fell_back_to_a_private_response_cache_is_response_cache_not_shared() {
    let mut specs = healthy3();
    let third = specs.pop().expect("three specs");
    specs.push(with_cache(FakeResponseCache::Private)(third));
    let cluster = FakeCluster::start(specs).await.expect("start");
    let cfg = config(
        &cluster,
        None,
        &routes(&[demo::ROUTE_OK, demo::ROUTE_ROTATION]),
    );
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&v, "aisbf-3"), vec!["response_cache_not_shared"]);
    assert_eq!(
        verdict(&v),
        (
            "cache".into(),
            "edit_infrastructure".into(),
            json!(["aisbf-3"])
        )
    );
    assert!(
        v["verdict"]["first_check"]
            .as_str()
            .unwrap_or_default()
            .contains("Restart aisbf-3 once Redis is reachable"),
        "{}",
        v["verdict"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_started_apart_on_one_store_share_it_and_a_disabled_cache_does_not() {
    let store = ResponseStore::default();
    let mut nodes = Vec::new();
    for (name, mode) in [
        ("aisbf-1", FakeResponseCache::Shared(store.clone())),
        ("aisbf-2", FakeResponseCache::Disabled),
        ("aisbf-3", FakeResponseCache::Shared(store.clone())),
    ] {
        nodes.push(
            start_node(with_cache(mode)(FakeNodeSpec::healthy(name)))
                .await
                .expect("node"),
        );
    }
    let cluster = FakeCluster { nodes };
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_OK]));
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&v, "aisbf-2"), vec!["response_cache_not_shared"]);
    assert_eq!(codes(&v, "aisbf-1"), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_node_sharing_a_response_cache_is_response_cache_unused() {
    let specs = healthy3()
        .into_iter()
        .map(with_cache(FakeResponseCache::Disabled))
        .collect();
    let cluster = FakeCluster::start(specs).await.expect("start");
    let cfg = config(&cluster, None, &routes(&[demo::ROUTE_OK]));
    let (run, v) = run_json(&cfg, &["check", "routes"], demo::TOKEN).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(codes(&v, "cache"), vec!["response_cache_unused"]);
    assert_eq!(
        verdict(&v),
        (
            "cache".into(),
            "edit_infrastructure".into(),
            json!(["cache"])
        )
    );
}

/// Exit code and the codes for `aisbf-3` of one run with this node 3.
async fn run_with_slow_node(
    slow: FakeNodeSpec,
    args: &[&str],
    timeout_ms: u64,
) -> (i32, Vec<String>, u64) {
    let mut specs: Vec<FakeNodeSpec> = healthy3()
        .into_iter()
        .map(with_cache(FakeResponseCache::Disabled))
        .collect();
    specs[2] = slow;
    let cluster = FakeCluster::start(specs).await.expect("start");
    let text = cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), timeout_ms);
    let cfg = config_file(&format!("{text}{}", routes(&[demo::ROUTE_OK])));
    let (run, v) = run_json(&cfg, args, demo::TOKEN).await;
    (run.code, codes(&v, "aisbf-3"), cluster.nodes[2].requests())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_slow_only_on_its_first_request_is_not_a_latency_outlier() {
    let mut cold = FakeNodeSpec::healthy("aisbf-3");
    cold.first_delay = std::time::Duration::from_millis(1300);
    let (code, got, requests) = run_with_slow_node(cold, &["check", "health"], 3000).await;
    assert_eq!(code, 0, "{got:?}");
    assert_eq!(got, vec!["node_ok"]);
    assert_eq!(requests, 10, "a second pass of the five requests");

    let mut slow = FakeNodeSpec::healthy("aisbf-3");
    slow.delay = std::time::Duration::from_millis(1300);
    let (code, got, _) = run_with_slow_node(slow, &["check", "health"], 3000).await;
    assert_eq!(code, 1, "{got:?}");
    assert!(got.contains(&"latency_outlier".to_string()), "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn node_slow_only_on_its_first_chat_is_not_route_slow_on_node() {
    let mut cold = with_cache(FakeResponseCache::Disabled)(FakeNodeSpec::healthy("aisbf-3"));
    cold.first_delay = std::time::Duration::from_millis(3300);
    let (_, got, requests) = run_with_slow_node(cold, &["check", "routes"], 8000).await;
    assert!(!got.contains(&"route_slow_on_node".to_string()), "{got:?}");
    assert_eq!(requests, 2, "one second timed request for the slow cell");

    let mut slow = with_cache(FakeResponseCache::Disabled)(FakeNodeSpec::healthy("aisbf-3"));
    slow.delay = std::time::Duration::from_millis(3300);
    let (_, got, _) = run_with_slow_node(slow, &["check", "routes"], 8000).await;
    assert!(got.contains(&"route_slow_on_node".to_string()), "{got:?}");
}
