//! The fault suite: nodes and servers that misbehave in every way we know of.
//! Each test asserts the finding (or error) and that nothing panics or hangs.
//! "No hang" is a generous outer bound (`within`), not a performance check.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};
use aisbf_doctor::lease::Lease;
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

/// Fails the test if `fut` has not finished after `secs` (a hang, not slowness).
async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung for {secs} s"),
    }
}

/// A server that runs `serve` on every accepted connection after reading the request head.
async fn raw<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let serve = serve.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf).await;
                serve(s).await;
            });
        }
    });
    format!("http://{addr}")
}

/// `check health --format json` on one healthy fake node plus `extra` nodes.
async fn check_with(extra: &str, timeout_ms: u64) -> (Run, Value) {
    let cluster = FakeCluster::start(vec![FakeNodeSpec::healthy("aisbf-1")])
        .await
        .expect("start");
    let cfg = config_file(&format!(
        "{}{extra}",
        cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), timeout_ms)
    ));
    let run = within(
        60,
        "aisbf-doctor check health",
        run_cli(&cfg, &["check", "health", "--format", "json"], &demo_env()),
    )
    .await;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let json = run.json();
    (run, json)
}

fn node(name: &str, url: &str) -> String {
    format!("[[cluster.nodes]]\nname = \"{name}\"\nurl = \"{url}\"\n")
}

fn message(report: &Value, subject: &str) -> String {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["subject"] == subject)
        .filter_map(|f| f["message"].as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

// ---------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn node_that_hangs_after_accept_is_a_timeout_and_the_cli_exits_2() {
    let url = silent_server().await;
    let (run, report) = check_with(&node("hang", &url), 500).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "hang"), vec!["node_timeout"]);
    assert_eq!(codes(&report, "aisbf-1"), vec!["node_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_drip_body_is_cut_by_the_timeout_covering_the_whole_body() {
    // Headers at once, then one byte every 100 ms of a 10,000-byte body: the
    // headers arrive in time, so only a timeout around the body read ends it.
    let url = raw(|mut s| async move {
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n";
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..10_000 {
            if s.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let (run, report) = check_with(&node("drip", &url), 600).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "drip"), vec!["node_timeout"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_reset_mid_body_is_unreachable_not_a_crash() {
    let url = raw(|s| async move {
        let mut s = s;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{\"message\":";
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.flush().await;
        // Linger 0: close sends RST instead of FIN.
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await;
    let (run, report) = check_with(&node("reset", &url), 2000).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "reset"), vec!["node_unreachable"]);
    assert!(
        message(&report, "reset").contains("connection broken"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_body_is_a_bad_answer() {
    let url = raw_server(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n\xff\xfe\xc3(\x80\x80{\x00",
    )
    .await;
    let (run, report) = check_with(&node("utf8", &url), 2000).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "utf8"), vec!["node_bad_answer"]);
    assert!(run.stdout.is_ascii() || serde_json::from_str::<Value>(&run.stdout).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_megabytes_of_json_is_capped_and_reported() {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let url = raw(move |mut s| {
        let counter = counter.clone();
        async move {
            let size = 10 * 1024 * 1024;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n{{\"pad\":\""
            );
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..(size / chunk.len()) {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
    })
    .await;
    let (run, report) = check_with(&node("huge", &url), 5000).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "huge"), vec!["node_bad_answer"]);
    assert!(
        message(&report, "huge").contains("body larger than 1024 KiB"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_to_another_host_is_reported_and_never_followed() {
    let target = FakeCluster::start(vec![FakeNodeSpec::healthy("elsewhere")])
        .await
        .expect("start");
    let elsewhere = target.nodes[0].url();
    let location: &'static str = Box::leak(
        format!(
            "{}/login?next=/",
            elsewhere.replace("127.0.0.1", "localhost")
        )
        .into_boxed_str(),
    );
    let url = raw(move |mut s| async move {
        let answer =
            format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
        let _ = s.write_all(answer.as_bytes()).await;
        let _ = s.shutdown().await;
    })
    .await;
    let (run, report) = check_with(&node("redirecting", &url), 2000).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "redirecting"), vec!["node_redirect"]);
    assert!(
        message(&report, "redirecting").contains("not followed"),
        "{report}"
    );
    assert!(
        message(&report, "redirecting").contains("/login"),
        "{report}"
    );
    assert_eq!(target.nodes[0].requests(), 0, "the redirect was followed");
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/// A TLS terminator with a fresh self-signed certificate for `localhost`,
/// forwarding the plain bytes to `upstream` (a fake node's `host:port`).
async fn self_signed_tls_proxy(upstream: String) -> String {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://localhost:{port}")
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_tls_is_a_tls_finding_unless_that_node_is_tls_insecure() {
    let backends = FakeCluster::start(vec![
        FakeNodeSpec::healthy("b1"),
        FakeNodeSpec::healthy("b2"),
    ])
    .await
    .expect("start");
    let strict = self_signed_tls_proxy(backends.nodes[0].addr.to_string()).await;
    let trusting = self_signed_tls_proxy(backends.nodes[1].addr.to_string()).await;
    let extra = format!(
        "{}{}tls_insecure = true\n",
        node("strict", &strict),
        node("trusting", &trusting)
    );
    let (run, report) = check_with(&extra, 3000).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "strict"), vec!["node_tls"], "{report}");
    assert!(
        message(&report, "strict").contains("TLS failed"),
        "{report}"
    );
    assert_eq!(codes(&report, "trusting"), vec!["node_ok"], "{report}");
    assert_eq!(report["verdict"]["culprits"], serde_json::json!(["strict"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_shorter_than_hung_nodes_need_keeps_what_completed_and_fails_the_hung_nodes() {
    let cluster = FakeCluster::start(vec![FakeNodeSpec::healthy("aisbf-1")])
        .await
        .expect("start");
    let mut extra = String::new();
    for name in ["hung-1", "hung-2", "hung-3"] {
        extra.push_str(&node(name, &silent_server().await));
    }
    let text = cluster
        .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000)
        // One node at a time: the second hung node is cut by the deadline and
        // the third is never asked.
        .replacen(
            "timeout_ms = 1000",
            "timeout_ms = 1000\ndeadline_ms = 1500\nconcurrency = 1",
            1,
        );
    assert!(text.contains("deadline_ms = 1500"), "{text}");
    let cfg = config_file(&format!("{text}{extra}"));
    let run = within(
        60,
        "check health",
        run_cli(&cfg, &["check", "health", "--format", "json"], &demo_env()),
    )
    .await;
    assert!(
        run.stderr.is_empty() || !run.stdout.is_empty(),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(run.code, 2, "an outage stays a failure: {report}");
    assert_eq!(codes(&report, "aisbf-1"), vec!["node_ok"], "{report}");
    for name in ["hung-1", "hung-2", "hung-3"] {
        assert_eq!(
            codes(&report, name),
            vec!["node_timeout"],
            "{name}: {report}"
        );
    }
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["hung-1", "hung-2", "hung-3"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_to_a_plain_http_node_is_a_tls_mismatch_that_says_use_http() {
    let plain = FakeCluster::start(vec![FakeNodeSpec::healthy("b1")])
        .await
        .expect("start");
    let url = format!("https://{}", plain.nodes[0].addr);
    let (run, report) = check_with(&node("mismatch", &url), 3000).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "mismatch"), vec!["node_tls"], "{report}");
    assert!(
        message(&report, "mismatch")
            .contains("the node answers plain HTTP on this port; use http://"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------
// Servers: the store (MariaDB) and the lease (Redis)
// ---------------------------------------------------------------------------

async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread")]
async fn store_with_mysql_down_is_a_clear_error() {
    let port = closed_port().await;
    let url = Secret::new(format!(
        "mysql://root:pw-down-9@127.0.0.1:{port}/aisbf_doctor"
    ));
    let e = within(60, "Store::open", Store::open(&url))
        .await
        .err()
        .expect("opening a store on a closed port must fail");
    let text = e.to_string();
    assert!(!text.contains("pw-down-9"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.to_lowercase().contains("refused") || text.contains("timed out"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn store_with_wrong_mysql_credentials_is_a_clear_error_without_the_password() {
    let url = Secret::new("mysql://no_such_user:wrong-pw-7@127.0.0.1:3306/aisbf_doctor");
    let e = within(60, "Store::open", Store::open(&url))
        .await
        .err()
        .expect("wrong credentials must fail");
    let text = e.to_string();
    assert!(!text.contains("wrong-pw-7"), "{text}");
    assert!(text.contains("Access denied"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_still_gives_the_verdict_when_its_mysql_store_is_down() {
    let port = closed_port().await;
    let extra = format!("[store]\nurl = \"mysql://root:store-pw-5@127.0.0.1:{port}/x\"\n");
    let (run, report) = check_with(&extra, 2000).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(report["status"], "ok");
    assert!(run.stderr.contains("run not recorded"), "{}", run.stderr);
    assert!(!run.stderr.contains("store-pw-5"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_with_redis_down_is_a_clear_error() {
    let port = closed_port().await;
    let url = Secret::new(format!("redis://:pw-r-1@127.0.0.1:{port}/0"));
    let e = within(
        30,
        "Lease::connect",
        Lease::connect(&url, "faults:down", "me", Duration::from_secs(5)),
    )
    .await
    .err()
    .expect("connect to a closed port must fail");
    let text = e.to_string();
    assert!(text.starts_with("lease: "), "{text}");
    assert!(!text.contains("pw-r-1"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_with_wrong_redis_password_is_a_clear_error() {
    // The test Redis has no password: AUTH with one is refused.
    let url = Secret::new("redis://:wrong-redis-pw@127.0.0.1:6379/0");
    let e = within(
        30,
        "Lease::connect",
        Lease::connect(&url, "faults:auth", "me", Duration::from_secs(5)),
    )
    .await
    .err()
    .expect("AUTH must fail");
    let text = e.to_string();
    assert!(!text.contains("wrong-redis-pw"), "{text}");
    assert!(text.contains("AUTH") || text.contains("auth"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_survives_a_redis_restart_with_errors_then_leads_again() {
    let mut redis = OwnRedis::start(&[]).await;
    let mut lease = Lease::connect(&redis.url(), "faults:restart", "me", Duration::from_secs(5))
        .await
        .expect("connect");
    assert!(lease.tick().await.expect("first tick"), "should lead");

    redis.kill();
    let down = within(30, "tick with Redis down", lease.tick()).await;
    let text = down
        .expect_err("tick must fail while Redis is down")
        .to_string();
    assert!(text.starts_with("lease: "), "{text}");

    redis.restart().await;
    // The old connection may or may not recover; it must answer either way.
    let _ = within(30, "tick after restart", lease.tick()).await;
    let mut fresh = Lease::connect(
        &redis.url(),
        "faults:restart",
        "me-2",
        Duration::from_secs(5),
    )
    .await
    .expect("reconnect after restart");
    // The restarted Redis lost the key (no persistence): the lease is free again.
    let leads = within(30, "tick on fresh connection", fresh.tick()).await;
    assert!(leads.is_ok(), "{leads:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_redis_makes_the_lease_fail_with_the_oom_error() {
    let redis = OwnRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]).await;
    let mut con = redis.connection().await;
    let blob = vec![b'x'; 100 * 1024];
    let mut filled = false;
    for i in 0..200 {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("fill:{i}"))
            .arg(&blob)
            .query_async(&mut con)
            .await;
        if r.is_err() {
            filled = true;
            break;
        }
    }
    assert!(filled, "Redis never reported maxmemory");
    let mut lease = Lease::connect(&redis.url(), "faults:full", "me", Duration::from_secs(5))
        .await
        .expect("connect still works when full");
    let e = within(30, "tick on a full Redis", lease.tick())
        .await
        .expect_err("a full Redis refuses the lease");
    assert!(e.to_string().contains("OOM"), "{e}");
}

/// A node that answers like `upstream` except on `/api/u/alice/models`, where it
/// answers 200 with `body`: a proxy or a broken deployment in front of a node.
async fn node_with_odd_models(upstream: std::net::SocketAddr, body: &'static [u8]) -> String {
    use axum::extract::Request;
    use axum::response::IntoResponse;
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: Request| {
        let client = client.clone();
        async move {
            if req.uri().path() == "/api/u/alice/models" {
                return (axum::http::StatusCode::OK, body.to_vec()).into_response();
            }
            let url = format!("http://{upstream}{}", req.uri());
            let mut out = client.get(url);
            if let Some(auth) = req.headers().get("authorization") {
                out = out.header("authorization", auth.clone());
            }
            match out.send().await {
                Ok(r) => {
                    let status = axum::http::StatusCode::from_u16(r.status().as_u16())
                        .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
                    let bytes = r.bytes().await.unwrap_or_default();
                    (
                        status,
                        [("content-type", "application/json")],
                        bytes.to_vec(),
                    )
                        .into_response()
                }
                Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_answering_200_with_something_that_is_not_a_models_list_is_a_bad_answer_not_ok() {
    for (label, body) in [
        ("html", &b"<html><body>Welcome to nginx</body></html>"[..]),
        ("empty object", &b"{}"[..]),
        ("invalid utf-8", &b"\xff\xfe\x00garbage"[..]),
    ] {
        let backend = FakeCluster::start(vec![FakeNodeSpec::healthy("b1")])
            .await
            .expect("start");
        let odd = node_with_odd_models(backend.nodes[0].addr, body).await;
        for args in [["check", "health"], ["check", "token"]] {
            let cluster = FakeCluster::start(vec![FakeNodeSpec::healthy("aisbf-1")])
                .await
                .expect("start");
            let cfg = config_file(&format!(
                "{}{}",
                cluster.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 3000),
                node("odd", &odd)
            ));
            let mut all = args.to_vec();
            all.extend(["--format", "json"]);
            let run = run_cli(&cfg, &all, &demo_env()).await;
            let report = run.json();
            assert_eq!(run.code, 2, "{label} {args:?}: {report}");
            assert!(
                codes(&report, "odd").contains(&"node_bad_answer".to_string()),
                "{label} {args:?}: {report}"
            );
            assert_eq!(
                report["verdict"]["culprits"],
                serde_json::json!(["odd"]),
                "{label}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_refused_nodes_under_a_short_deadline_are_still_a_failure_not_a_warning() {
    let refused = refused_url().await;
    let mut text = String::from(
        "[cluster]\nname = \"big\"\nuser = \"alice\"\ntoken = \"${AISBF_TOKEN}\"\ntimeout_ms = 1000\ndeadline_ms = 1000\nconcurrency = 16\n",
    );
    for i in 0..3000 {
        text.push_str(&node(&format!("n{i:04}"), &refused));
    }
    let cfg = config_file(&text);
    let run = within(
        60,
        "check health",
        run_cli(&cfg, &["check", "health", "--format", "json"], &demo_env()),
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 2, "{}", report["verdict"]);
    assert_eq!(report["status"], "fail");
    assert_eq!(report["verdict"]["layer"], "node");
    let findings = report["findings"].as_array().expect("findings");
    // Every node is accounted for: refused, or not asked before the deadline;
    // and the probe says how many of them were really asked.
    let (about_nodes, about_probe): (Vec<&Value>, Vec<&Value>) =
        findings.iter().partition(|f| f["subject"] != "health");
    assert_eq!(about_nodes.len(), 3000, "one finding per node");
    assert!(about_nodes.iter().all(|f| f["severity"] == "fail"));
    assert!(!findings.iter().any(|f| f["code"] == "probe_deadline"));
    assert!(about_probe.len() <= 1, "{about_probe:?}");
    if let [f] = about_probe.as_slice() {
        assert_eq!(f["code"], "probe_incomplete");
        let said = f["message"].as_str().unwrap_or_default();
        assert!(
            said.ends_with(" of 3,000 nodes were checked before the deadline"),
            "{said}"
        );
    }
}
