//! The real thing: aisbf-doctor's CLI against real AISBF 0.99.92 nodes started
//! by `tests/aisbf-cluster/cluster.py` (a venv cached in ~/.cache, one MariaDB
//! database and one Redis prefix per cluster, torn down after each test).
//!
//! Each test starts one cluster with one fault injected and asserts the verdict's
//! layer, action and culprits: the single-run faults are rows of
//! [`real_fault_is_named`], the ones that need several runs or a change to
//! the cluster between runs are tests of their own. A healthy cluster must be
//! ok with exit 0.

use std::process::Command;
use std::sync::Mutex;

use rstest::rstest;
use serde_json::{Value, json};

use crate::helpers::*;

const HARNESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/aisbf-cluster/cluster.py"
);

/// `install` once per test process (the script also locks across processes).
static INSTALLED: Mutex<bool> = Mutex::new(false);

fn install() {
    let mut done = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let out = Command::new("python3")
        .args([HARNESS, "install"])
        .output()
        .expect("run harness install");
    assert!(
        out.status.success(),
        "harness install failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    *done = true;
}

/// A running real cluster; `down` on drop, even when the test fails.
struct RealCluster {
    dir: tempfile::TempDir,
    state: Value,
}

impl RealCluster {
    fn up(fault: &str) -> RealCluster {
        RealCluster::up_with(fault, &[])
    }

    /// A cluster with extra `cluster.py up` arguments (e.g. `--balancer`).
    fn up_with(fault: &str, extra: &[&str]) -> RealCluster {
        install();
        let dir = tempfile::Builder::new()
            .prefix("aisbf-real-")
            .tempdir()
            .expect("temp dir");
        let out = Command::new("python3")
            .args([HARNESS, "up", "--state-dir"])
            .arg(dir.path())
            .args(["--fault", fault])
            .args(extra)
            .output()
            .expect("run harness up");
        // Read whatever state exists so Drop can clean up a half-started cluster.
        let state = std::fs::read_to_string(dir.path().join("state.json"))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null);
        let cluster = RealCluster { dir, state };
        assert!(
            out.status.success(),
            "harness up --fault {fault} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn env(&self) -> Vec<(String, String)> {
        self.state["env"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn secret(&self, name: &str) -> String {
        self.state["env"][name]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs the CLI with the config minus the data layer: what the traffic
    /// probes (health, token, routes, lb) need.
    async fn traffic(&self, args: &[&str]) -> (Run, Value) {
        self.doctor(&without_data_layer(&self.config_text()), args, None)
            .await
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("doctor.toml")).expect("doctor.toml")
    }

    fn route(&self, kind: &str) -> String {
        self.state["routes"][kind][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs the CLI with this cluster's config (or a variant of it) and env,
    /// the user token overridden by `token` when given.
    async fn doctor(&self, config: &str, args: &[&str], token: Option<&str>) -> (Run, Value) {
        let cfg = config_file(config);
        let mut env = self.env();
        if let Some(t) = token {
            env.retain(|(k, _)| k != "AISBF_TOKEN");
            env.push(("AISBF_TOKEN".into(), t.to_string()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let run = run_cli(&cfg, &all, &env).await;
        let v = run.json();
        (run, v)
    }

    /// Kills one node's process group. Python's os.killpg, not a `kill`
    /// binary: this machine's /bin/kill is not procps and its argument rules
    /// are unknown, and a wrong `kill -9 -N` can take down everything.
    fn kill_node(&self, name: &str) {
        let pgid = self.state["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["name"] == name))
            .and_then(|n| n["pgid"].as_i64())
            .filter(|p| *p > 1)
            .expect("node pgid");
        let status = Command::new("python3")
            .args([
                "-c",
                &format!("import os, signal; os.killpg({pgid}, signal.SIGKILL)"),
            ])
            .status()
            .expect("run python3");
        assert!(status.success(), "could not kill {name}");
        // Wait until the port refuses, so the next probe sees a dead node.
        let port = self.state["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["name"] == name))
            .and_then(|n| n["port"].as_u64())
            .unwrap_or(0);
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{name} still accepts connections after SIGKILL");
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .args([HARNESS, "down", "--state-dir"])
            .arg(self.dir.path())
            .output();
    }
}

/// Asserts the verdict says: repair infrastructure in `layer`, blaming `culprits`.
fn assert_infrastructure(v: &Value, layer: &str, culprits: Value) {
    assert_eq!(
        verdict(v),
        (layer.into(), "edit_infrastructure".into(), culprits),
        "{v}"
    );
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

fn problems(v: &Value) -> Vec<Value> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["severity"] != "ok")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The config without [database] and [cache]: what `check` runs need when the
/// data-layer probes are not the point of the test.
fn without_data_layer(config: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in config.lines() {
        if line.starts_with('[') {
            skipping = line.starts_with("[database]") || line.contains("cache");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn with_routes(config: &str, routes: &[String]) -> String {
    let quoted: Vec<String> = routes.iter().map(|r| format!("\"{r}\"")).collect();
    let mut out = String::new();
    for line in config.lines() {
        if line.starts_with("smoke = ") {
            out.push_str(&format!("smoke = [{}]\n", quoted.join(", ")));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Which config a case runs with.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// Without [database] and [cache]: the traffic probes only.
    Traffic,
    /// The harness's full config ([database], [cache], aisbf_json).
    Full,
}

/// One more thing a case's run must show, beyond exit code and verdict.
#[derive(Debug)]
enum Expect {
    /// The report's status.
    Status(&'static str),
    /// A subject's finding codes, exactly and in order.
    CodesAre(&'static str, &'static [&'static str]),
    /// A subject's finding codes include each of these.
    CodesInclude(&'static str, &'static [&'static str]),
    SummaryContains(&'static str),
    SummaryStartsWith(&'static str),
    SummaryLacks(&'static str),
    FirstCheckContains(&'static str),
    StdoutContains(&'static str),
}

impl Expect {
    fn check(&self, run: &Run, v: &Value) {
        let text = |key: &str| v["verdict"][key].as_str().unwrap_or_default().to_string();
        match self {
            Expect::Status(s) => assert_eq!(v["status"], *s, "{v}"),
            Expect::CodesAre(subject, want) => assert_eq!(codes(v, subject), *want, "{v}"),
            Expect::CodesInclude(subject, want) => {
                let got = codes(v, subject);
                for code in *want {
                    assert!(got.contains(&code.to_string()), "{code}: {got:?} {v}");
                }
            }
            Expect::SummaryContains(s) => assert!(text("summary").contains(s), "{v}"),
            Expect::SummaryStartsWith(s) => assert!(text("summary").starts_with(s), "{v}"),
            Expect::SummaryLacks(s) => assert!(!text("summary").contains(s), "{v}"),
            Expect::FirstCheckContains(s) => assert!(text("first_check").contains(s), "{v}"),
            Expect::StdoutContains(s) => assert!(run.stdout.contains(s), "{}", run.stdout),
        }
    }
}

/// One fault, one run: the exit code, an edit-infrastructure verdict on
/// `layer` blaming `culprits`, and whatever else the row expects.
#[rstest]
#[case::stopped_node_is_the_culprit(
    "node-stopped", Via::Traffic, &["check", "health"], 2, "node", &["aisbf-2"],
    &[Expect::CodesAre("aisbf-2", &["node_unreachable"])]
)]
#[case::balancer_with_a_dead_member_is_the_balancer(
    "balancer-dead-member", Via::Traffic,
    &["diagnose", "--symptom", "every-other-request-fails"], 2, "balancer", &["balancer"], &[]
)]
#[case::node_on_sqlite_is_the_database_on_that_node_when_db_facts_are_known(
    "node-sqlite", Via::Full, &["diagnose"], 2, "database", &["aisbf-2"],
    &[
        Expect::CodesInclude("aisbf-2", &["db_node_sqlite"]),
        Expect::StdoutContains("routes vanish"),
    ]
)]
#[case::node_on_another_mysql_database_is_the_database_on_that_node(
    "node-other-mysql", Via::Full, &["diagnose"], 2, "database", &["aisbf-2"],
    &[Expect::CodesInclude("aisbf-2", &["db_node_other_database"])]
)]
// Its aisbf.json is right; only the token found active in the shared
// database, yet rejected by that node, tells where it really reads.
#[case::node_with_the_mysql_pool_defect_is_not_reading_the_shared_database(
    "node-mysql-pool-defect", Via::Full, &["diagnose"], 2, "database", &["aisbf-2"],
    &[
        Expect::CodesAre("token", &["db_token_active"]),
        Expect::SummaryContains("not reading the shared database"),
    ]
)]
// Its response-cache keys differ too: real nodes 1 and 3 repeat one `id`, node 2 not.
#[case::node_with_another_redis_prefix_is_the_cache_on_that_node(
    "node-other-redis-prefix", Via::Full, &["diagnose"], 2, "cache", &["aisbf-2"],
    &[
        Expect::CodesInclude("aisbf-2", &["cache_node_prefix_differs", "response_cache_not_shared"]),
        Expect::CodesInclude("cache", &["response_cache_shared"]),
    ]
)]
#[case::version_drift_is_a_warning_on_that_node(
    "node-version-drift", Via::Traffic, &["check", "health"], 1, "node", &["aisbf-2"],
    &[Expect::Status("warn")]
)]
#[case::global_config_drift_names_the_node(
    "node-global-config-drift", Via::Traffic, &["check", "health"], 2, "node", &["aisbf-2"],
    &[Expect::CodesAre("aisbf-2", &["global_config_differs"])]
)]
#[case::node_whose_global_token_differs_is_auth_drift_on_that_node(
    "node-global-token-differs", Via::Traffic, &["check", "health"], 2, "auth", &["aisbf-2"],
    &[Expect::CodesInclude("aisbf-2", &["global_token_rejected_on_node"])]
)]
#[case::consistently_slow_node_is_a_slow_warning_not_a_failure(
    "node-latency", Via::Traffic, &["check", "health"], 1, "node", &["aisbf-2"],
    &[
        Expect::Status("warn"),
        Expect::SummaryStartsWith("Slow: aisbf-2"),
        Expect::SummaryLacks("route policy"),
    ]
)]
// One GET per node never reaches the limit; the node's files show it.
#[case::node_with_its_own_client_rate_limit_is_named_from_its_files(
    "node-client-rate-limited", Via::Full, &["check", "files"], 1, "node", &["aisbf-2"],
    &[Expect::CodesAre("aisbf-2", &["node_rate_limit_differs"])]
)]
#[case::node_with_its_response_cache_disabled_is_the_cache_on_that_node(
    "node-response-cache-disabled", Via::Full, &["diagnose"], 2, "cache", &["aisbf-2"],
    &[Expect::CodesInclude("aisbf-2", &["node_response_cache_differs", "response_cache_not_shared"])]
)]
#[case::node_on_another_redis_db_is_the_cache_on_that_node(
    "node-other-redis-db", Via::Full, &["diagnose"], 2, "cache", &["aisbf-2"],
    &[Expect::CodesInclude("aisbf-2", &["node_cache_differs"])]
)]
#[case::stale_majority_is_blamed_not_the_one_freshly_reloaded_node(
    "node-stale-routes", Via::Full, &["diagnose"], 2, "node", &["aisbf-1", "aisbf-3"],
    &[
        Expect::FirstCheckContains("reload-config"),
        Expect::CodesInclude("aisbf-2", &["node_routes_match_db"]),
    ]
)]
#[tokio::test(flavor = "multi_thread")]
async fn real_fault_is_named(
    #[case] fault: &str,
    #[case] via: Via,
    #[case] args: &[&str],
    #[case] exit: i32,
    #[case] layer: &str,
    #[case] culprits: &[&str],
    #[case] expect: &[Expect],
) {
    let c = RealCluster::up(fault);
    let (run, v) = match via {
        Via::Traffic => c.traffic(args).await,
        Via::Full => c.doctor(&c.config_text(), args, None).await,
    };
    assert_eq!(run.code, exit, "{fault}: {}", run.stdout);
    assert_infrastructure(&v, layer, json!(culprits));
    for e in expect {
        e.check(&run, &v);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_healthy_cluster_is_ok_then_each_traffic_fault_is_named() {
    let c = RealCluster::up("none");
    let full = c.config_text();

    // No false alarms: every probe the config allows, status ok, exit 0.
    let (run, v) = c.doctor(&full, &["diagnose"], None).await;
    assert_eq!(run.code, 0, "healthy cluster: {}", run.stdout);
    assert_eq!(v["status"], "ok");
    assert!(problems(&v).is_empty(), "{:?}", problems(&v));
    assert_eq!(verdict(&v), ("none".into(), "none".into(), json!([])));
    // The data layer was part of it: the shared MariaDB and Redis as AISBF left them.
    for code in [
        "db_ok",
        "db_schema_ok",
        "db_data_ok",
        "cache_ok",
        "cache_prefixes_ok",
    ] {
        assert!(
            v["findings"]
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f["code"] == code)),
            "{code}: {v}"
        );
    }
    assert_eq!(codes(&v, "token"), ["db_token_active"]);
    for node in ["aisbf-1", "aisbf-2", "aisbf-3"] {
        let got = codes(&v, node);
        assert!(got.contains(&"db_node_ok".to_string()), "{node}: {got:?}");
        assert!(
            got.contains(&"cache_node_ok".to_string()),
            "{node}: {got:?}"
        );
        // Issue 12: whole aisbf.json and session key agree; routes match the database.
        assert!(
            got.contains(&"node_files_ok".to_string()),
            "{node}: {got:?}"
        );
        assert!(
            got.contains(&"node_routes_match_db".to_string()),
            "{node}: {got:?}"
        );
    }

    let cfg = without_data_layer(&full);
    // An mcp-only token on /api, another user's token, and a global token: credentials.
    for (var, reason) in [
        ("AISBF_MCP_TOKEN", "scope is mcp only"),
        ("AISBF_BOB_TOKEN", "username mismatch"),
        ("AISBF_GLOBAL_TOKEN", "global token was used on a user path"),
    ] {
        let (run, v) = c
            .doctor(&cfg, &["check", "token"], Some(&c.secret(var)))
            .await;
        assert_eq!(run.code, 2, "{var}");
        assert_eq!(
            verdict(&v),
            ("auth".into(), "fix_credentials".into(), json!(["token"])),
            "{var}"
        );
        assert!(
            v["verdict"]["summary"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{var}: {v}"
        );
    }
    // An api-only token works on /api: ok, with its scope noted.
    let (run, v) = c
        .doctor(
            &cfg,
            &["check", "token"],
            Some(&c.secret("AISBF_API_TOKEN")),
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        codes(&v, "aisbf-1").contains(&"token_scope_limited".to_string()),
        "{v}"
    );

    // A route whose provider is gone fails on every node: edit routes.
    let gone = c.route("provider_gone");
    let routes_cfg = with_routes(&cfg, &[c.route("ok"), gone.clone()]);
    let (run, v) = c.doctor(&routes_cfg, &["check", "routes"], None).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(
        verdict(&v),
        ("provider".into(), "edit_routes".into(), json!([gone]))
    );

    // The colon form from older runbooks is a malformed name, not a down route.
    let colon = c.route("malformed");
    let (run, v) = c
        .doctor(
            &with_routes(&cfg, std::slice::from_ref(&colon)),
            &["check", "routes"],
            None,
        )
        .await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        ("route".into(), "edit_routes".into(), json!([colon]))
    );

    // Finally a node dies: the failure follows it.
    c.kill_node("aisbf-2");
    let (run, v) = c.doctor(&cfg, &["check", "health"], None).await;
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
async fn real_node_on_its_own_sqlite_is_auth_drift_on_that_node() {
    let c = RealCluster::up("node-sqlite");
    let (run, v) = c.traffic(&["check", "health"]).await;
    assert_eq!(run.code, 2);
    assert_eq!(
        verdict(&v),
        (
            "auth".into(),
            "edit_infrastructure".into(),
            json!(["aisbf-2"])
        )
    );
    let (_, v) = c.traffic(&["check", "token"]).await;
    assert_eq!(
        verdict(&v),
        (
            "auth".into(),
            "edit_infrastructure".into(),
            json!(["aisbf-2"])
        )
    );
}

/// `diagnose` with the harness's full config ([database], [cache], aisbf_json).
async fn diagnose_full(c: &RealCluster) -> (Run, Value) {
    c.doctor(&c.config_text(), &["diagnose"], None).await
}

/// Every probe subset that sees the cluster through the nodes or the balancer.
const PROBE_SUBSETS: &[&[&str]] = &[
    &["check", "health"],
    &["check", "token"],
    &["check", "lb"],
    &["diagnose"],
];

#[tokio::test(flavor = "multi_thread")]
async fn real_refusal_every_node_gives_is_credentials_whichever_probes_ran() {
    // Behind a balancer, check lb sees the nodes' refusal relayed; the verdict
    // must still follow the token, not "every node".
    let c = RealCluster::up_with("none", &["--balancer"]);
    let cfg = without_data_layer(&c.config_text());
    assert!(cfg.contains("balancer = "), "{cfg}");
    // A token read from a file with its newline is refused before any probe
    // (the same cluster: it costs no second start-up).
    {
        let token = format!("{}\n", c.secret("AISBF_TOKEN"));
        let cfg = config_file(&without_data_layer(&c.config_text()));
        let mut env = c.env();
        env.retain(|(k, _)| k != "AISBF_TOKEN");
        env.push(("AISBF_TOKEN".into(), token));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let run = run_cli(&cfg, &["check", "health"], &env).await;
        assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stderr
                .contains("key `cluster.token`: ends with a newline: strip it"),
            "{}",
            run.stderr
        );
        assert!(!run.stdout.contains("node_unreachable"), "{}", run.stdout);
    }
    for var in ["AISBF_MCP_TOKEN", "AISBF_BOB_TOKEN", "AISBF_GLOBAL_TOKEN"] {
        for args in PROBE_SUBSETS {
            let (run, v) = c.doctor(&cfg, args, Some(&c.secret(var))).await;
            assert_eq!(run.code, 2, "{var} {args:?}: {}", run.stdout);
            assert_eq!(
                verdict(&v),
                ("auth".into(), "fix_credentials".into(), json!(["token"])),
                "{var} {args:?}: {v}"
            );
        }
        // With the shared database in view it is still the token: the
        // database knows it, but as mcp-only, another user's or not at all.
        let (run, v) = c
            .doctor(&c.config_text(), &["diagnose"], Some(&c.secret(var)))
            .await;
        assert_eq!(run.code, 2, "{var}: {}", run.stdout);
        assert_eq!(
            (verdict(&v).0, verdict(&v).1),
            ("auth".into(), "fix_credentials".into()),
            "{var} with db: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_node_with_auth_disabled_is_auth_drift_on_that_node_whichever_probes_ran() {
    let c = RealCluster::up_with("node-auth-disabled", &["--balancer"]);
    let cfg = without_data_layer(&c.config_text());
    for args in PROBE_SUBSETS {
        let (run, v) = c.doctor(&cfg, args, None).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert_infrastructure(&v, "auth", json!(["aisbf-2"]));
    }
    assert!(
        codes(
            &c.doctor(&cfg, &["check", "health"], None).await.1,
            "aisbf-2"
        )
        .contains(&"auth_disabled_on_node".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn real_cluster_with_every_node_on_its_own_sqlite_is_the_database_not_the_token() {
    // Each node refuses alice's token the same way, yet the shared database
    // has it active: the nodes are not reading the shared database.
    let c = RealCluster::up("all-nodes-sqlite");
    let (run, v) = diagnose_full(&c).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(verdict(&v).0, "database", "{v}");
    assert_eq!(verdict(&v).1, "edit_infrastructure", "{v}");
    let culprits = verdict(&v).2;
    for node in ["aisbf-1", "aisbf-2", "aisbf-3"] {
        assert!(
            culprits
                .as_array()
                .is_some_and(|a| a.contains(&json!(node))),
            "{node}: {v}"
        );
    }
    // Without the data layer the same refusal reads as the token.
    let (_, v) = c.traffic(&["check", "token"]).await;
    assert_eq!(
        verdict(&v),
        ("auth".into(), "fix_credentials".into(), json!(["token"]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn real_node_whose_clock_runs_five_minutes_ahead_is_named() {
    let c = RealCluster::up("node-clock-skew");
    let (run, v) = c.traffic(&["check", "health"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_infrastructure(&v, "node", json!(["aisbf-2"]));
    assert_eq!(codes(&v, "aisbf-2"), ["clock_skew"]);
    // Identical files; only the dashboard sessions node 2 issues itself are
    // refused by the others, which a login on each of the first nodes shows.
    let (run, v) = c
        .doctor(
            &with_dashboard_login(&c.config_text()),
            &["check", "files"],
            None,
        )
        .await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_infrastructure(&v, "node", json!(["aisbf-2"]));
    assert_eq!(codes(&v, "aisbf-2"), ["dashboard_session_refused"], "{v}");
}
#[tokio::test(flavor = "multi_thread")]
async fn real_node_with_its_own_session_key_is_named_without_the_key() {
    let c = RealCluster::up("node-session-secret-differs");
    let (run, v) = c.doctor(&c.config_text(), &["check", "files"], None).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_infrastructure(&v, "node", json!(["aisbf-2"]));
    assert_eq!(codes(&v, "aisbf-2"), ["session_secret_differs"]);
    assert_eq!(codes(&v, "aisbf-1"), ["node_files_ok"]);
    let home = c.state["nodes"][1]["home"].as_str().expect("home");
    let key = std::fs::read_to_string(format!("{home}/.aisbf/session_secret.key")).expect("key");
    assert!(!key.trim().is_empty());
    assert!(!run.stdout.contains(key.trim()) && !run.stderr.contains(key.trim()));
    // With the dashboard login configured, a live session agrees with the files.
    let (run, v) = c
        .doctor(
            &with_dashboard_login(&c.config_text()),
            &["check", "files"],
            None,
        )
        .await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_infrastructure(&v, "node", json!(["aisbf-2"]));
    let got = codes(&v, "aisbf-2");
    for code in ["session_secret_differs", "dashboard_session_refused"] {
        assert!(got.contains(&code.to_string()), "{code}: {got:?}");
    }
    assert_eq!(codes(&v, "aisbf-1"), ["node_files_ok"], "{v}");
    let password = c.secret("AISBF_DASHBOARD_PASSWORD");
    assert!(!password.is_empty());
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password));
}

#[tokio::test(flavor = "multi_thread")]
async fn real_nodes_that_cached_a_deleted_provider_are_stale_even_all_of_them() {
    let c = RealCluster::up("none");
    let cfg = c.config_text();
    let (run, v) = c.doctor(&cfg, &["check", "db"], None).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(codes(&v, "aisbf-1"), ["db_node_ok", "node_routes_match_db"]);
    // A dashboard delete writes only to the database; every node keeps its cached copy.
    let json = c.state["nodes"][0]["aisbf_json"]
        .as_str()
        .expect("aisbf_json");
    let node: Value =
        serde_json::from_str(&std::fs::read_to_string(json).expect("read")).expect("json");
    let db = node["database"]["mysql_database"]
        .as_str()
        .expect("db name");
    mariadb_exec(
        db,
        "DELETE FROM user_providers WHERE provider_id = 'stub-gone'",
    );
    let (run, v) = c.doctor(&cfg, &["check", "db"], None).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    for n in ["aisbf-1", "aisbf-2", "aisbf-3"] {
        assert_eq!(
            codes(&v, n),
            ["db_node_ok", "node_routes_stale"],
            "{n}: {v}"
        );
    }
    assert_infrastructure(&v, "node", json!(["aisbf-1", "aisbf-2", "aisbf-3"]));
    assert!(
        run.stdout.contains("extra provider stub-gone"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 of 3 nodes are stale"),
        "{}",
        run.stdout
    );
}

/// The verdict of `diagnose` with the harness's full config.
async fn diagnosed(fault: &str) -> (RealCluster, Value) {
    let c = RealCluster::up(fault);
    let (run, v) = diagnose_full(&c).await;
    assert_eq!(run.code, 2, "{fault}: {}", run.stdout);
    (c, v)
}

#[tokio::test(flavor = "multi_thread")]
async fn real_node_whose_cache_fell_back_to_memory_is_the_cache_on_that_node() {
    // Its aisbf.json is identical and the Redis census is healthy: only the
    // response-cache round trip of the smoke routes shows it.
    let (c, v) = diagnosed("node-cache-fallback").await;
    assert_infrastructure(&v, "cache", json!(["aisbf-2"]));
    assert!(
        codes(&v, "aisbf-2").contains(&"response_cache_not_shared".to_string()),
        "{v}"
    );
    let (_, files) = c.doctor(&c.config_text(), &["check", "files"], None).await;
    assert_eq!(files["status"], "ok", "the files agree: {files}");
}

#[tokio::test(flavor = "multi_thread")]
async fn real_redis_at_maxmemory_with_noeviction_is_the_cache() {
    let (c, v) = diagnosed("redis-full").await;
    assert_eq!(verdict(&v).0, "cache", "{v}");
    assert_eq!(verdict(&v).1, "edit_infrastructure", "{v}");
    assert!(
        codes(&v, "cache").contains(&"cache_full".to_string()),
        "{v}"
    );
    let (run, v) = c.doctor(&c.config_text(), &["check", "cache"], None).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_infrastructure(&v, "cache", json!(["cache"]));
}

/// The harness's config with the dashboard login of its user, for the live
/// session cross-check of `check files`.
fn with_dashboard_login(config: &str) -> String {
    config.replacen(
        "[cluster]\n",
        "[cluster]\ndashboard_user = \"${AISBF_DASHBOARD_USER}\"\ndashboard_password = \"${AISBF_DASHBOARD_PASSWORD}\"\n",
        1,
    )
}
