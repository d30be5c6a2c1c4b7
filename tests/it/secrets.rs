//! Secrets never leave the process: every probe and every renderer, run
//! against nodes that echo the Authorization header and the config's secrets
//! back in bodies, error texts and Location headers, with trace logs on and a
//! SQLite store recording the runs.

use aisbf_doctor::demo::fake_node::{Behaviour, FakeCluster, FakeNodeSpec, start_balancer};
use tokio::net::TcpListener;

use crate::helpers::*;

const TOKEN: &str = "tokSEKRITalpha1";
const GLOBAL: &str = "globSEKRITbeta2";
const DB_PW: &str = "dbSEKRITgamma3";
const REDIS_PW: &str = "rdSEKRITdelta4";
const SECRETS: [&str; 4] = [TOKEN, GLOBAL, DB_PW, REDIS_PW];

fn echo(name: &str) -> FakeNodeSpec {
    let mut spec = FakeNodeSpec::healthy(name);
    spec.behaviour = Behaviour::Echo(SECRETS.iter().map(|s| s.to_string()).collect());
    spec
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(
            !text.contains(s),
            "secret {s:?} leaked into {what}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_stdout_logs_json_or_the_store() {
    let cluster = FakeCluster::start(vec![echo("leaky-1"), echo("leaky-2")])
        .await
        .expect("start");
    let balancer = start_balancer(cluster.nodes.iter().map(|n| n.url()).collect())
        .await
        .expect("balancer");
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("dir");
    let store = dir.path().join("store.db");
    let mut text = cluster.config_toml("T", Some("G"), 1500);
    text = text.replacen(
        "timeout_ms = 1500\n",
        &format!("timeout_ms = 1500\nbalancer = \"{}\"\n", balancer.url()),
        1,
    );
    text.push_str(&format!(
        "[database]\nurl = \"mysql://aisbf:${{DBPW}}@127.0.0.1:{closed}/aisbf\"\n\
         [cache]\nurl = \"redis://:${{REDISPW}}@127.0.0.1:{closed}/0\"\n\
         [routes]\nsmoke = [\"openai/gpt-4o\", \"user-rotation/coding\"]\n\
         [lb]\nrequests = 3\n\
         [store]\nurl = \"sqlite://{}\"\n",
        store.display()
    ));
    assert_clean("the config file itself", &text);
    let cfg = config_file(&text);
    let env_base = [
        ("T", TOKEN),
        ("G", GLOBAL),
        ("DBPW", DB_PW),
        ("REDISPW", REDIS_PW),
    ];

    let mut runs = 0;
    for (i, args) in [
        vec!["check", "health"],
        vec!["check", "token"],
        vec!["check", "routes"],
        vec!["check", "lb"],
        vec!["diagnose"],
    ]
    .into_iter()
    .enumerate()
    {
        for format in ["text", "json", "markdown"] {
            let mut all = args.clone();
            all.extend(["--format", format]);
            let mut env = env_base.to_vec();
            env.push(("RUST_LOG", "trace"));
            if (i + runs) % 2 == 0 {
                env.push(("LOG_FORMAT", "json"));
            }
            let run = run_cli(&cfg, &all, &env).await;
            let what = format!("`{}`", all.join(" "));
            assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
            assert!(
                (0..=2).contains(&run.code),
                "{what} exited {}: {}",
                run.code,
                run.stderr
            );
            assert!(!run.stdout.is_empty(), "{what} printed nothing");
            assert!(!run.stderr.is_empty(), "{what}: trace logs missing");
            assert_clean(&format!("stdout of {what}"), &run.stdout);
            assert_clean(&format!("stderr (logs) of {what}"), &run.stderr);
            runs += 1;
        }
    }
    assert!(
        cluster.nodes.iter().all(|n| n.requests() > 0),
        "the echoing nodes were never asked"
    );

    // Every file of the SQLite store (main, WAL, journal).
    let mut store_bytes = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read dir").flatten() {
        let bytes = std::fs::read(entry.path()).expect("read store file");
        store_bytes += bytes.len();
        assert_clean(
            &format!("store file {}", entry.path().display()),
            &String::from_utf8_lossy(&bytes),
        );
    }
    assert!(store_bytes > 0, "the store was never written");
}
