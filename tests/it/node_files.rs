//! `check files` and the db probe's route comparison end to end: the real
//! binary against aisbf.json and session_secret.key files in temp dirs, fake
//! AISBF nodes and the real MariaDB.

use std::path::{Path, PathBuf};

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec, FakeToken, TokenScope};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::db::{AisbfDb, GOOD_TOKEN};
use crate::helpers::*;

/// The aisbf.json every node of a healthy shared cluster has.
fn shared_json() -> Value {
    json!({
        "database": {"type": "mysql", "mysql_host": "127.0.0.1", "mysql_port": 3306,
                     "mysql_user": "aisbf", "mysql_password": "db-pw-NEVER-shown", "mysql_database": "aisbf"},
        "cache": {"type": "redis", "redis_host": "127.0.0.1", "redis_port": 6379, "redis_db": 0,
                  "redis_password": "redis-pw-NEVER-shown", "redis_key_prefix": "aisbf:prod:"},
        "response_cache": {"enabled": true, "backend": "redis", "redis_host": "127.0.0.1",
                           "redis_key_prefix": "aisbf:prod:response:", "ttl": 600},
        "auth": {"enabled": true, "tokens": ["global-tok-NEVER-shown"]}
    })
}

/// One HOME per node: `<dir>/<name>/aisbf.json` and, when given, its session key.
struct Homes {
    dir: tempfile::TempDir,
}

impl Homes {
    fn new() -> Homes {
        Homes {
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    fn node(&self, name: &str, json: &Value, session_key: Option<&str>) -> PathBuf {
        let home = self.dir.path().join(name);
        std::fs::create_dir_all(&home).expect("home");
        let path = home.join("aisbf.json");
        std::fs::write(&path, serde_json::to_string_pretty(json).unwrap()).expect("write");
        if let Some(key) = session_key {
            std::fs::write(home.join("session_secret.key"), key).expect("key");
        }
        path
    }
}

/// A config whose nodes are never contacted by `check files`.
fn files_config(nodes: &[(&str, &Path)], extra: &str) -> ConfigFile {
    let mut text = "[cluster]\nname = \"t\"\nuser = \"alice\"\ntoken = \"${AISBF_TOKEN}\"\ntimeout_ms = 1000\n".to_string();
    for (name, json) in nodes {
        text.push_str(&format!(
            "\n[[cluster.nodes]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9\"\naisbf_json = \"{}\"\n",
            json.display()
        ));
    }
    text.push_str(extra);
    config_file(&text)
}

async fn check_files(cfg: &ConfigFile, env: &[(&str, &str)]) -> (Run, Value) {
    let mut env = env.to_vec();
    env.push(("AISBF_TOKEN", "tok-x"));
    let run = run_cli(cfg, &["check", "files", "--format", "json"], &env).await;
    let json = run.json();
    (run, json)
}

fn message<'a>(report: &'a Value, subject: &str, code: &str) -> &'a str {
    report["findings"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|f| f["subject"] == subject && f["code"] == code)
        })
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("no {code} on {subject}: {report:#}"))
}

const KEY: &str = "k3y-Shared-SECRET-value-0123456789abcdef";

#[tokio::test(flavor = "multi_thread")]
async fn files_names_each_differing_key_and_the_odd_node() {
    let homes = Homes::new();
    let mut odd = shared_json();
    odd["response_cache"]["enabled"] = json!(false);
    odd["auth"]["enabled"] = json!(false);
    let n1 = homes.node("aisbf-1", &shared_json(), Some(KEY));
    let n2 = homes.node("aisbf-2", &odd, Some(KEY));
    let n3 = homes.node("aisbf-3", &shared_json(), Some(KEY));
    let cfg = files_config(&[("aisbf-1", &n1), ("aisbf-2", &n2), ("aisbf-3", &n3)], "");
    let (run, report) = check_files(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "aisbf-1"), ["node_files_ok"]);
    assert_eq!(codes(&report, "aisbf-3"), ["node_files_ok"]);
    assert_eq!(
        codes(&report, "aisbf-2"),
        ["node_response_cache_differs", "node_auth_differs"]
    );
    let rc = message(&report, "aisbf-2", "node_response_cache_differs");
    assert!(
        rc.contains("response_cache.enabled: false here, true on aisbf-1, aisbf-3"),
        "{rc}"
    );
    let auth = message(&report, "aisbf-2", "node_auth_differs");
    assert!(
        auth.contains("auth.enabled false on aisbf-2 while the others enforce it"),
        "{auth}"
    );
    assert_eq!(report["verdict"]["layer"], "auth");
    assert_eq!(report["verdict"]["culprits"], json!(["aisbf-2"]));
    // --node reports one node, still measured against all of them.
    let one = run_cli(
        &cfg,
        &["check", "files", "--node", "aisbf-2", "--format", "json"],
        &[("AISBF_TOKEN", "t")],
    )
    .await;
    let one = one.json();
    assert!(codes(&one, "aisbf-1").is_empty(), "{one:#}");
    assert_eq!(
        codes(&one, "aisbf-2"),
        ["node_response_cache_differs", "node_auth_differs"]
    );
    for secret in [
        "db-pw-NEVER-shown",
        "redis-pw-NEVER-shown",
        "global-tok-NEVER-shown",
    ] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_doctors_config_wins_over_a_majority_of_nodes() {
    let homes = Homes::new();
    let mut old = shared_json();
    old["database"]["mysql_database"] = json!("aisbf_old");
    let mut other_redis_db = shared_json();
    other_redis_db["cache"]["redis_db"] = json!(1);
    let n1 = homes.node("aisbf-1", &old, Some(KEY));
    let n2 = homes.node("aisbf-2", &shared_json(), Some(KEY));
    let n3 = homes.node("aisbf-3", &old, Some(KEY));
    let n4 = homes.node("aisbf-4", &other_redis_db, Some(KEY));
    let extra = "\n[database]\nurl = \"mysql://root:dbpass-X@localhost:3306/aisbf\"\n\n[cache]\nurl = \"redis://127.0.0.1:6379/0\"\nprefix = \"aisbf:prod:\"\nresponse_prefix = \"aisbf:prod:response:\"\n";
    let cfg = files_config(
        &[
            ("aisbf-1", &n1),
            ("aisbf-2", &n2),
            ("aisbf-3", &n3),
            ("aisbf-4", &n4),
        ],
        extra,
    );
    let (run, report) = check_files(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let m = message(&report, "aisbf-1", "node_database_differs");
    assert!(
        m.contains(
            "database.name: aisbf_old here, aisbf in the doctor's config and on aisbf-2, aisbf-4"
        ),
        "{m}"
    );
    assert_eq!(codes(&report, "aisbf-3"), ["node_database_differs"]);
    assert_eq!(codes(&report, "aisbf-2"), ["node_files_ok"]);
    let c = message(&report, "aisbf-4", "node_cache_differs");
    assert!(
        c.contains("cache.db: 1 here, 0 in the doctor's config"),
        "{c}"
    );
    assert_eq!(report["verdict"]["layer"], "database");
    assert_eq!(report["verdict"]["culprits"], json!(["aisbf-1", "aisbf-3"]));
    assert!(!run.stdout.contains("dbpass-X"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn session_keys_are_compared_but_never_shown() {
    let homes = Homes::new();
    let other = "0ther-Node-SECRET-key-fedcba9876543210\n";
    let n1 = homes.node("aisbf-1", &shared_json(), Some(KEY));
    let n2 = homes.node("aisbf-2", &shared_json(), Some(other));
    let n3 = homes.node("aisbf-3", &shared_json(), Some(KEY));
    let n4 = homes.node("aisbf-4", &shared_json(), None);
    let n5 = homes.node("aisbf-5", &shared_json(), Some(&format!("{KEY}\n")));
    let cfg = files_config(
        &[
            ("aisbf-1", &n1),
            ("aisbf-2", &n2),
            ("aisbf-3", &n3),
            ("aisbf-4", &n4),
            ("aisbf-5", &n5),
        ],
        "",
    );
    let (run, report) = check_files(&cfg, &[("RUST_LOG", "trace")]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let m = message(&report, "aisbf-2", "session_secret_differs");
    // AISBF strips the file: aisbf-5's trailing newline is the same key.
    assert!(m.contains("differs from aisbf-1, aisbf-3, aisbf-5"), "{m}");
    assert!(m.contains("logged out on every other request"), "{m}");
    let missing = message(&report, "aisbf-4", "session_secret_differs");
    assert!(missing.contains("generates its own"), "{missing}");
    assert_eq!(codes(&report, "aisbf-1"), ["node_files_ok"]);
    assert_eq!(codes(&report, "aisbf-5"), ["node_files_ok"]);
    assert_eq!(report["verdict"]["layer"], "node");
    assert_eq!(report["verdict"]["culprits"], json!(["aisbf-2", "aisbf-4"]));

    let text = run_cli(
        &cfg,
        &["check", "files"],
        &[("AISBF_TOKEN", "t"), ("RUST_LOG", "trace")],
    )
    .await;
    assert_eq!(text.code, 2, "{}", text.stdout);
    let mut forbidden = Vec::new();
    for key in [KEY, other, other.trim()] {
        forbidden.push(key.to_string());
        let h = Sha256::digest(key.as_bytes());
        forbidden.push(hex(&h));
        forbidden.push(hex(&h).to_uppercase());
        forbidden.push(hex(&h)[..16].to_string());
    }
    for out in [&run.stdout, &run.stderr, &text.stdout, &text.stderr] {
        for f in &forbidden {
            assert!(!out.contains(f.as_str()), "{f:?} leaked:\n{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_files_needs_an_aisbf_json_and_diagnose_runs_it_when_there_is_one() {
    let cfg = config_file(
        "[cluster]\nname = \"t\"\nuser = \"alice\"\ntoken = \"x\"\n[[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.1:9\"\n",
    );
    let run = run_cli(&cfg, &["check", "files"], &[]).await;
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stderr.contains("aisbf_json"), "{}", run.stderr);

    let homes = Homes::new();
    let mut odd = shared_json();
    odd["cache"]["redis_key_prefix"] = json!("aisbf:staging:");
    let n1 = homes.node("aisbf-1", &shared_json(), Some(KEY));
    let n2 = homes.node("aisbf-2", &odd, Some(KEY));
    let cfg = files_config(&[("aisbf-1", &n1), ("aisbf-2", &n2)], "");
    let run = run_cli(
        &cfg,
        &["diagnose", "--format", "json"],
        &[("AISBF_TOKEN", "t")],
    )
    .await;
    let report = run.json();
    let files: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["probe"] == "files")
        .collect();
    // Two nodes with two prefixes: no majority, both named.
    assert_eq!(files.len(), 2, "{report:#}");
    assert!(files.iter().all(|f| f["code"] == "node_cache_differs"));
    assert!(
        files[0]["message"]
            .as_str()
            .unwrap()
            .contains("cache.prefix: aisbf:prod: here, no majority: aisbf:staging: on aisbf-2"),
        "{report:#}"
    );
}

/// A fake node whose database knows alice's token, serving these route lists.
fn node(name: &str, providers: &[&str], rotations: &[&str], autoselects: &[&str]) -> FakeNodeSpec {
    let mut spec = FakeNodeSpec::healthy(name);
    spec.tokens = vec![FakeToken {
        user: "alice".into(),
        token: GOOD_TOKEN.into(),
        scope: TokenScope::Both,
    }];
    let owned = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    spec.user_providers = owned(providers);
    spec.user_rotations = owned(rotations);
    spec.user_autoselects = owned(autoselects);
    spec.models = rotations
        .iter()
        .map(|r| format!("rotation/{r}"))
        .chain(autoselects.iter().map(|a| format!("autoselect/{a}")))
        .collect();
    spec
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_majority_is_blamed_and_the_only_fresh_node_is_not() {
    let db = AisbfDb::create("stale");
    db.exec(
        "INSERT INTO user_rotations (user_id, rotation_id, config) VALUES (1, 'new-rotation', '{}');
         INSERT INTO user_autoselects (user_id, autoselect_id, config) VALUES (1, 'chat-default', '{}');
         INSERT INTO user_providers (user_id, provider_id, config) VALUES (2, 'bobs-provider', '{}');",
    );
    // The database: provider local-ollama, rotation new-rotation, autoselect chat-default.
    let stale = |n| node(n, &["local-ollama", "old-provider"], &[], &["chat-default"]);
    let cluster = FakeCluster::start(vec![
        stale("aisbf-1"),
        stale("aisbf-2"),
        node(
            "aisbf-3",
            &["local-ollama"],
            &["new-rotation"],
            &["chat-default"],
        ),
    ])
    .await
    .expect("start");
    let text = format!(
        "{}\n[database]\nurl = \"{}\"\n",
        cluster.config_toml("AISBF_TOKEN", None, 2000),
        db.url()
    );
    let cfg = config_file(&text);
    let env = [("AISBF_TOKEN", GOOD_TOKEN)];

    let run = run_cli(&cfg, &["check", "db", "--format", "json"], &env).await;
    let report = run.json();
    assert_eq!(run.code, 2, "{}", run.stdout);
    for n in ["aisbf-1", "aisbf-2"] {
        let m = message(&report, n, "node_routes_stale");
        assert!(m.contains("missing rotation new-rotation"), "{m}");
        assert!(m.contains("extra provider old-provider"), "{m}");
        assert!(!m.contains("bobs-provider"), "{m}");
    }
    assert_eq!(codes(&report, "aisbf-3"), ["node_routes_match_db"]);
    assert_eq!(report["verdict"]["culprits"], json!(["aisbf-1", "aisbf-2"]));
    assert!(
        report["verdict"]["first_check"]
            .as_str()
            .unwrap()
            .contains("reload-config"),
        "{}",
        report["verdict"]
    );

    // The health probe sees aisbf-3 as the odd one out; the verdict must not blame it.
    let run = run_cli(&cfg, &["diagnose", "--format", "json"], &env).await;
    let report = run.json();
    assert!(
        codes(&report, "aisbf-3").contains(&"models_differ".to_string()),
        "{report:#}"
    );
    assert_eq!(report["verdict"]["layer"], "node", "{}", report["verdict"]);
    assert_eq!(report["verdict"]["culprits"], json!(["aisbf-1", "aisbf-2"]));

    // The database now holds what aisbf-1 and aisbf-2 serve: aisbf-3 is the stale one.
    db.exec("INSERT INTO user_providers (user_id, provider_id, config) VALUES (1, 'old-provider', '{}'); DELETE FROM user_rotations WHERE user_id = 1;");
    let run = run_cli(&cfg, &["check", "db", "--format", "json"], &env).await;
    let report = run.json();
    assert_eq!(
        codes(&report, "aisbf-1"),
        ["node_routes_match_db"],
        "{report:#}"
    );
    assert_eq!(codes(&report, "aisbf-3"), ["node_routes_stale"]);
}

#[test]
fn discord_has_a_files_command_that_runs_the_files_probe() {
    use aisbf_doctor::app::Request;
    use aisbf_doctor::discord::commands::tree;
    use aisbf_doctor::discord::interaction::command_of_custom_id;
    use aisbf_doctor::finding::ProbeKind;
    let t = tree();
    let subs: Vec<&str> = t[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(subs.contains(&"files"), "{subs:?}");
    let c = command_of_custom_id("run:files:").expect("button");
    assert_eq!(
        c,
        Request::Check {
            probe: ProbeKind::Files,
            target: None
        }
    );
    assert_eq!(c.rerun_id().as_deref(), Some("run:files:"));
    assert_eq!(c.label(), "/aisbf files");
}
