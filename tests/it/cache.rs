//! `check cache` end to end against a real Redis, each test under its own
//! key prefix, and against ports where Redis is absent or something else answers.

use serde_json::Value;

use crate::helpers::*;

/// A config with `[cache]` for `root`: prefix `root`, response `root` + `response:`,
/// staging `staging_prefix`.
pub fn cache_config(
    url: &str,
    prefix: &str,
    response: &str,
    staging: &str,
    nodes: &[(&str, &std::path::Path)],
) -> ConfigFile {
    let mut text = format!(
        "[cluster]\nname = \"t\"\nuser = \"alice\"\ntoken = \"t0k\"\ntimeout_ms = 1500\n\n[cache]\nurl = \"{url}\"\nprefix = \"{prefix}\"\nresponse_prefix = \"{response}\"\n\n[[cache.other_environments]]\nname = \"staging\"\nprefix = \"{staging}\"\n"
    );
    if nodes.is_empty() {
        text.push_str("\n[[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.1:9\"\n");
    }
    for (name, p) in nodes {
        text.push_str(&format!(
            "\n[[cluster.nodes]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9\"\naisbf_json = \"{}\"\n",
            p.display()
        ));
    }
    config_file(&text)
}

async fn check_cache(cfg: &ConfigFile) -> (Run, Value) {
    let run = run_cli(cfg, &["check", "cache", "--format", "json"], &[]).await;
    let json = run.json();
    (run, json)
}

fn has(report: &Value, code: &str) -> bool {
    report["findings"]
        .as_array()
        .is_some_and(|a| a.iter().any(|f| f["code"] == code))
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_cache_is_ok_and_counts_this_clusters_keys() {
    let root = TestPrefix::new("healthy");
    let prefix = format!("{}prod:", root.0);
    let response = format!("{prefix}response:");
    let staging = format!("{}staging:", root.0);
    let mut con = redis().await;
    let mut pipe = redis::pipe();
    for i in 0..20 {
        pipe.cmd("SET").arg(format!("{prefix}k{i}")).arg(1).ignore();
        pipe.cmd("SET")
            .arg(format!("{response}r{i}"))
            .arg(1)
            .arg("EX")
            .arg(600)
            .ignore();
    }
    let _: () = pipe.query_async(&mut con).await.expect("seed");
    let cfg = cache_config(REDIS_URL, &prefix, &response, &staging, &[]);
    let (run, report) = check_cache(&cfg).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(report["verdict"]["layer"], "none");
    for code in ["cache_ok", "cache_prefixes_ok"] {
        assert!(has(&report, code), "{code}: {}", run.stdout);
    }
    assert!(has(&report, "cache_census") || has(&report, "cache_census_incomplete"));
    if has(&report, "cache_census") {
        assert!(
            run.stdout.contains(&format!(
                "{prefix} 40 (of which response cache {response} 20)"
            )),
            "{}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn response_keys_without_ttl_are_a_stale_cache_warning() {
    let root = TestPrefix::new("stale");
    let prefix = format!("{}prod:", root.0);
    let response = format!("{prefix}response:");
    let mut con = redis().await;
    let _: () = redis::cmd("SET")
        .arg(format!("{response}forever"))
        .arg(1)
        .query_async(&mut con)
        .await
        .expect("set");
    let cfg = cache_config(REDIS_URL, &prefix, &response, &format!("{}s:", root.0), &[]);
    let (run, report) = check_cache(&cfg).await;
    if has(&report, "cache_census_incomplete") {
        return; // another test filled Redis; the census is a lower bound then
    }
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(has(&report, "cache_stale_responses"), "{}", run.stdout);
    assert_eq!(report["verdict"]["layer"], "cache");
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_environment_prefixes_are_a_cache_failure() {
    let root = TestPrefix::new("overlap");
    let prefix = root.0.clone();
    let cfg = cache_config(
        REDIS_URL,
        &prefix,
        &format!("{prefix}response:"),
        &format!("{prefix}staging:"),
        &[],
    );
    let (run, report) = check_cache(&cfg).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(has(&report, "cache_prefix_overlap"));
    assert_eq!(report["verdict"]["layer"], "cache");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["staging"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_with_another_cache_prefix_is_the_cache_culprit() {
    let root = TestPrefix::new("nodes");
    let prefix = format!("{}prod:", root.0);
    let response = format!("{prefix}response:");
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, p: &str, r: &str| {
        let path = dir.path().join(format!("{name}.json"));
        let json = serde_json::json!({
            "cache": {"type": "redis", "redis_key_prefix": p},
            "response_cache": {"backend": "redis", "redis_key_prefix": r}
        });
        std::fs::write(&path, json.to_string()).expect("write");
        path
    };
    let n1 = write("n1", &prefix, &response);
    let n2 = write("n2", "aisbf:", "aisbf:response:");
    let cfg = cache_config(
        REDIS_URL,
        &prefix,
        &response,
        &format!("{}staging:", root.0),
        &[("aisbf-1", &n1), ("aisbf-2", &n2)],
    );
    let (run, report) = check_cache(&cfg).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "aisbf-1"), ["cache_node_ok"]);
    assert_eq!(codes(&report, "aisbf-2"), ["cache_node_prefix_differs"]);
    assert_eq!(report["verdict"]["layer"], "cache");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["aisbf-2"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_or_impostor_redis_is_a_clear_finding_and_nothing_hangs() {
    let refused = refused_url().await.replace("http://", "redis://");
    let silent = silent_server().await.replace("http://", "redis://");
    let http = raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        .await
        .replace("http://", "redis://");
    let rows = [
        (refused, "cache_unreachable"),
        (silent, "cache_unreachable"),
        (http, "cache_not_redis"),
        // TLS required by the URL, plain Redis on the port.
        ("rediss://127.0.0.1:6379/0".to_string(), "cache_unreachable"),
        (
            "redis://:Sup3rWrongPw@127.0.0.1:6379/0".to_string(),
            "cache_access_denied",
        ),
    ];
    for (url, code) in rows {
        let cfg = cache_config(&url, "aisbf:p:", "aisbf:p:response:", "aisbf:s:", &[]);
        let (run, report) = check_cache(&cfg).await;
        assert_eq!(run.code, 2, "{url}: {}", run.stdout);
        assert!(has(&report, code), "{url}: {}", run.stdout);
        assert_eq!(report["verdict"]["layer"], "cache");
        assert!(!run.stdout.contains("Sup3rWrongPw"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn noeviction_redis_at_maxmemory_is_cache_full_though_nothing_was_evicted() {
    let redis = OwnRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]).await;
    let mut con = redis.connection().await;
    let blob = vec![b'x'; 64 * 1024];
    let mut refused = None;
    for i in 0..200 {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("aisbf:p:response:fill:{i}"))
            .arg(&blob)
            .query_async(&mut con)
            .await;
        if let Err(e) = r {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("Redis never refused a write");
    assert!(refused.contains("maxmemory"), "{refused}");
    let cfg = cache_config(
        redis.url().expose(),
        "aisbf:p:",
        "aisbf:p:response:",
        "aisbf:s:",
        &[],
    );
    let (run, report) = check_cache(&cfg).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(has(&report, "cache_full"), "{}", run.stdout);
    assert!(!has(&report, "cache_evicting"), "{}", run.stdout);
    assert_eq!(report["verdict"]["layer"], "cache");
    assert_eq!(report["verdict"]["culprits"], serde_json::json!(["cache"]));
    assert!(
        run.stdout.contains("every AISBF cache write fails"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_address_with_no_redis_connection_is_cache_node_not_connected() {
    // Protected mode refuses clients from 127.0.0.2 (not 127.0.0.1); the
    // server still listens on 127.0.0.1 only.
    let redis = OwnRedis::start(&["--protected-mode", "no"]).await;
    // aisbf-1 (127.0.0.2) holds a connection to Redis; aisbf-2 (127.0.0.3) has none.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut held = socket
        .connect(format!("127.0.0.1:{}", redis.port).parse().expect("addr"))
        .await
        .expect("connect from 127.0.0.2");
    tokio::io::AsyncWriteExt::write_all(&mut held, b"PING\r\n")
        .await
        .expect("ping");
    let mut pong = [0u8; 7];
    tokio::io::AsyncReadExt::read_exact(&mut held, &mut pong)
        .await
        .expect("pong");
    assert_eq!(&pong, b"+PONG\r\n");
    let cfg = config_file(&format!(
        "[cluster]\nname = \"t\"\nuser = \"alice\"\ntoken = \"t0k\"\ntimeout_ms = 1500\n\n[cache]\nurl = \"{}\"\nprefix = \"aisbf:p:\"\nresponse_prefix = \"aisbf:p:response:\"\n\n[[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.2:9\"\n\n[[cluster.nodes]]\nname = \"aisbf-2\"\nurl = \"http://127.0.0.3:9\"\n",
        redis.url().expose()
    ));
    let (run, report) = check_cache(&cfg).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(codes(&report, "aisbf-2"), ["cache_node_not_connected"]);
    assert!(codes(&report, "aisbf-1").is_empty(), "{}", run.stdout);
    assert_eq!(report["verdict"]["layer"], "cache");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["aisbf-2"])
    );
    drop(held);
}
