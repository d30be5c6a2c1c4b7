//! Correctness at scale: the real binary against a fake fleet of thousands of
//! auth-enabled nodes in this process, each on its own loopback address
//! (127.1.x.y). No false failure at 5,000 and 10,000 healthy nodes, a full
//! report with hung nodes, honest partial counts when the deadline fires,
//! and output that grows linearly with the cluster. Speed is the benchmark's
//! business (`scripts/bench.sh`); nothing here is timed.

use std::time::Duration;

use aisbf_doctor::demo::fake_node::{
    Behaviour, FakeBalancer, FakeFleet, FakeNodeSpec, FakeRoute, demo, start_balancer,
};
use serde_json::Value;

use crate::helpers::*;

/// Fleets run one at a time: each is thousands of sockets, and the open-file
/// limit is the process's, shared by every test.
static ONE_FLEET_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `check <probe> --format json` against `config`: five minutes at most,
/// a guard against a hang, not a speed target (a debug build on a busy machine
/// takes minutes for 10,000 nodes).
async fn check(config: &str, probe: &str) -> (Run, Value) {
    let cfg = config_file(config);
    let run = within(
        300,
        probe,
        run_cli(&cfg, &["check", probe, "--format", "json"], &demo_env()),
    )
    .await;
    let json = run.json();
    (run, json)
}

async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(t) => t,
        Err(_) => panic!("{what} did not finish within {secs} s"),
    }
}

fn findings(report: &Value) -> &[Value] {
    report["findings"].as_array().map_or(&[], Vec::as_slice)
}

fn count_code(report: &Value, code: &str) -> usize {
    findings(report)
        .iter()
        .filter(|f| f["code"] == code)
        .count()
}

/// How many findings of each code: what an assertion shows when it fails.
fn tally(report: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for f in findings(report) {
        *out.entry(f["code"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    out
}

fn message_of<'a>(report: &'a Value, subject: &str, code: &str) -> Option<&'a str> {
    findings(report)
        .iter()
        .find(|f| f["subject"] == subject && f["code"] == code)
        .and_then(|f| f["message"].as_str())
}

/// The fleet's config with room for a debug build on a busy machine: a 20 s
/// timeout and 64 nodes at once, so no healthy node waits behind a thousand
/// requests in flight. Open files, deadlines and output still scale with N.
fn roomy(fleet: &FakeFleet) -> String {
    fleet
        .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 20_000)
        .replacen(
            "timeout_ms = 20000",
            "timeout_ms = 20000\nconcurrency = 64",
            1,
        )
}

/// `n` healthy nodes answer: exit 0, one `node_ok` per node, nothing unreachable.
async fn healthy_fleet_reads_ok(n: usize) {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let fleet = FakeFleet::start(vec![FakeNodeSpec::healthy("fleet")], n, |_| 0)
        .await
        .expect("start fleet");
    let config = roomy(&fleet);
    let (run, report) = check(&config, "health").await;
    assert_eq!(count_code(&report, "node_unreachable"), 0, "{}", run.stderr);
    assert_eq!(count_code(&report, "node_ok"), n, "{:?}", tally(&report));
    assert_eq!(run.code, 0, "{}", report["verdict"]);
    assert_eq!(report["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_healthy_nodes_read_ok() {
    healthy_fleet_reads_ok(5000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_healthy_nodes_read_ok() {
    healthy_fleet_reads_ok(10_000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hung_nodes_past_the_timeout_are_named_and_every_other_finding_is_kept() {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let mut hung = FakeNodeSpec::healthy("hung");
    hung.behaviour = Behaviour::Hang;
    // 1% of 1,500 nodes hang: the run the old deadline collapsed into one
    // probe_deadline warning.
    let n = 1500;
    let fleet = FakeFleet::start(vec![FakeNodeSpec::healthy("fleet"), hung], n, |i| {
        usize::from(i % 100 == 7)
    })
    .await
    .expect("start fleet");
    let config = roomy(&fleet);
    let (run, report) = check(&config, "health").await;
    let hung_names = fleet.names_of(1);
    assert_eq!(hung_names.len(), 15);
    assert_eq!(
        count_code(&report, "probe_deadline"),
        0,
        "{}",
        report["verdict"]
    );
    let timed_out: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["code"] == "node_timeout")
        .collect();
    assert_eq!(
        count_code(&report, "node_ok"),
        n - hung_names.len(),
        "{:?} in {} ms: {timed_out:?}",
        tally(&report),
        report["elapsed_ms"]
    );
    for name in &hung_names {
        assert_eq!(codes(&report, name), vec!["node_timeout"], "{name}");
    }
    assert_eq!(run.code, 2, "{}", report["verdict"]);
    let culprits: Vec<&str> = report["verdict"]["culprits"]
        .as_array()
        .expect("culprits")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(culprits, hung_names);
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_deadline_fires_completed_findings_are_kept_and_the_probe_says_how_much_it_did() {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let mut slow = FakeNodeSpec::healthy("slow");
    slow.delay = Duration::from_millis(300);
    let fleet = FakeFleet::start(vec![slow], 1000, |_| 0)
        .await
        .expect("start fleet");
    // 1,000 nodes 16 at a time at 300 ms need about 19 s; the deadline is 3 s.
    let config = fleet
        .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000)
        .replacen(
            "timeout_ms = 1000",
            "timeout_ms = 1000\ndeadline_ms = 3000\nconcurrency = 16",
            1,
        );
    let (run, report) = check(&config, "health").await;
    assert_eq!(
        count_code(&report, "probe_deadline"),
        0,
        "{}",
        report["verdict"]
    );
    let said = message_of(&report, "health", "probe_incomplete").expect("probe_incomplete");
    let answered: usize = said
        .strip_suffix(" of 1,000 nodes were checked before the deadline")
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("unexpected message {said:?}"));
    assert!(answered > 0 && answered < 1000, "{said}");
    // Every node that answered keeps its finding.
    assert_eq!(count_code(&report, "node_ok"), answered, "{said}");
    assert_ne!(report["status"], "ok");
    assert_ne!(run.code, 0);
}

/// Ten fleet nodes behind a fake balancer, `[lb] requests = 1000`.
async fn lb_config(
    fleet: &FakeFleet,
    timeout_ms: u64,
    extra_cluster: &str,
) -> (String, FakeBalancer) {
    let members: Vec<String> = fleet
        .nodes
        .iter()
        .map(|n| format!("http://{}", n.addr))
        .collect();
    let lb = start_balancer(members).await.expect("start balancer");
    let config = fleet
        .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), timeout_ms)
        .replacen(
            &format!("timeout_ms = {timeout_ms}"),
            &format!(
                "timeout_ms = {timeout_ms}\nbalancer = \"{}\"{extra_cluster}",
                lb.url()
            ),
            1,
        );
    (format!("{config}[lb]\nrequests = 1000\n"), lb)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_requests_through_the_balancer_are_all_sent() {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let fleet = FakeFleet::start(vec![FakeNodeSpec::healthy("fleet")], 10, |_| 0)
        .await
        .expect("start fleet");
    let (config, _lb) = lb_config(&fleet, 5000, "\nconcurrency = 64").await;
    let (run, report) = check(&config, "lb").await;
    assert_eq!(count_code(&report, "probe_incomplete"), 0, "{report}");
    assert_eq!(run.code, 0, "{report}");
    // The nodes' own requests plus the thousand through the balancer.
    assert!(fleet.requests(0) >= 1000, "{}", fleet.requests(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_the_deadline_leaves_unsent_are_counted_and_the_balancer_is_not_ok() {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let mut slow = FakeNodeSpec::healthy("slow");
    slow.delay = Duration::from_millis(200);
    let fleet = FakeFleet::start(vec![slow], 10, |_| 0)
        .await
        .expect("start fleet");
    // 1,000 requests 8 at a time at 200 ms need 25 s; the deadline is 3 s.
    let (config, _lb) = lb_config(&fleet, 1000, "\ndeadline_ms = 3000\nconcurrency = 8").await;
    let (run, report) = check(&config, "lb").await;
    let said = message_of(&report, "balancer", "probe_incomplete").expect("probe_incomplete");
    let sent: usize = said
        .strip_suffix(" of 1,000 requests sent through the balancer before the deadline")
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("unexpected message {said:?}"));
    assert!(sent > 0 && sent < 1000, "{said}");
    assert_ne!(report["status"], "ok");
    assert_ne!(run.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_routes_on_a_hundred_nodes_complete_under_the_default_deadline() {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let routes: Vec<String> = (0..20)
        .map(|i| format!("user-provider/smoke-{i:02}"))
        .collect();
    let mut spec = FakeNodeSpec::healthy("fleet");
    for r in &routes {
        spec.routes.insert(
            r.clone(),
            FakeRoute::Answers {
                model: "llama3".into(),
            },
        );
    }
    let fleet = FakeFleet::start(vec![spec], 100, |_| 0)
        .await
        .expect("start fleet");
    let smoke: Vec<String> = routes.iter().map(|r| format!("\"{r}\"")).collect();
    // Default routes.concurrency (8) and the default deadline.
    let config = format!(
        "{}[routes]\nsmoke = [{}]\n",
        fleet.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 5000),
        smoke.join(", ")
    );
    let (run, report) = check(&config, "routes").await;
    assert_eq!(
        count_code(&report, "probe_incomplete"),
        0,
        "{}",
        report["verdict"]
    );
    assert_eq!(
        count_code(&report, "probe_deadline"),
        0,
        "{}",
        report["verdict"]
    );
    assert_eq!(run.code, 0, "{}", report["verdict"]);
    // Every cell was asked: 2,000 node cells, one completion each.
    assert!(fleet.requests(0) >= 2000, "{}", fleet.requests(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_stays_under_two_kib_a_node_with_half_the_nodes_rejecting_the_token() {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let mut rejecting = FakeNodeSpec::healthy("rejecting");
    rejecting.tokens.retain(|t| t.token != demo::TOKEN);
    for n in [1000, 3000] {
        let fleet = FakeFleet::start(
            vec![FakeNodeSpec::healthy("fleet"), rejecting.clone()],
            n,
            |i| i % 2,
        )
        .await
        .expect("start fleet");
        let config = roomy(&fleet);
        let (run, report) = check(&config, "health").await;
        assert_eq!(
            count_code(&report, "token_rejected_on_node"),
            n / 2,
            "{:?}",
            tally(&report)
        );
        assert!(
            run.stdout.len() <= 2048 * n,
            "{} bytes for {n} nodes",
            run.stdout.len()
        );
        drop(fleet);
    }
}
