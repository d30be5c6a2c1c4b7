//! Benchmark of the Discord edge (see scripts/bench-discord.sh):
//! signed interaction → type 5 latency with 50 concurrent commands, time to
//! the verdict PATCH, and `serve` start-up to ready (/healthz answering).
//!
//! Usage: bench_discord [PATH-TO-aisbf-doctor-BINARY] [ROUNDS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec, demo};
use aisbf_doctor::discord::{Bot, Rest};
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::Store;
use ed25519_dalek::{Signer, SigningKey};
use fake_discord::{FakeDiscord, command_interaction};

const CONCURRENT: usize = 50;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn config_text(
    cluster: &FakeCluster,
    api_base: &str,
    key_hex: &str,
    endpoint: &str,
    store: &str,
) -> String {
    let mut text = cluster.config_toml("AISBF_TOKEN", None, 2000);
    text.push_str(&format!(
        "[store]\nurl = \"{store}\"\n\n[discord]\nmode = \"http\"\ntoken = \"bench-bot-token\"\napplication_id = \"100000000000000002\"\npublic_key = \"{key_hex}\"\ninteractions_endpoint = \"{endpoint}\"\napi_base = \"{api_base}\"\nincident_channel = \"400000000000000001\"\nguilds = [\"100000000000000004\"]\n"
    ));
    text
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let binary = args.get(1).cloned();
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(10);
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let key_hex = hex::encode(key.verifying_key().to_bytes());
    let dir = tempfile::tempdir()?;
    let cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ])
    .await?;
    let fake = FakeDiscord::start().await?;
    let store_url = format!("sqlite://{}", dir.path().join("bench.db").display());

    // In-process server, the same router `serve` uses.
    let text = config_text(
        &cluster,
        &fake.api_base(),
        &key_hex,
        "127.0.0.1:0",
        &store_url,
    );
    let config = Arc::new(aisbf_doctor::config::parse(&text, &|n| {
        (n == "AISBF_TOKEN").then(|| demo::TOKEN.to_string())
    })?);
    let d = config
        .discord
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no discord"))?;
    let rest = Rest::new(&d.api_base, d.token.clone(), d.application_id)?;
    let store = Store::open(&Secret::new(store_url.clone())).await?;
    let bot = Arc::new(Bot::new(config, rest, store)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(aisbf_doctor::discord::server::serve(
        listener,
        bot,
        key.verifying_key(),
    ));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENT)
        .build()?;

    // One command at a time: the cost of a verdict without queueing.
    let mut single_ms = Vec::new();
    for i in 0..20u64 {
        let id = format!("6{i:017}");
        let token = format!("single-{id}");
        let body = command_interaction(&id, &token, "health", &[], &[]).to_string();
        let ts = "1767225600";
        let sig = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
        let started = Instant::now();
        client
            .post(&url)
            .header("x-signature-ed25519", sig)
            .header("x-signature-timestamp", ts)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let got = fake
            .wait_for("PATCH", &token, 1, Duration::from_secs(30))
            .await;
        if let Some(r) = got.first() {
            single_ms.push(r.at.duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    single_ms.sort_by(f64::total_cmp);
    println!(
        "one command at a time -> verdict PATCH ({} samples): p50 {:.1} ms, p99 {:.1} ms",
        single_ms.len(),
        percentile(&single_ms, 50.0),
        percentile(&single_ms, 99.0)
    );
    let mut deferred_ms = Vec::new();
    let mut verdict_ms = Vec::new();
    let mut n = 0u64;
    for _ in 0..rounds {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENT {
            n += 1;
            let id = format!("7{n:017}");
            let token = format!("bench-{id}");
            let body = command_interaction(&id, &token, "health", &[], &[]).to_string();
            let ts = "1767225600";
            let sig = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
            let client = client.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let resp = client
                    .post(&url)
                    .header("x-signature-ed25519", sig)
                    .header("x-signature-timestamp", ts)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let v: serde_json::Value = resp.json().await?;
                anyhow::ensure!(v["type"] == 5, "not deferred: {v}");
                Ok::<_, anyhow::Error>((token, started, started.elapsed()))
            }));
        }
        let mut sent = Vec::new();
        for t in tasks {
            let (token, started, took) = t.await??;
            deferred_ms.push(took.as_secs_f64() * 1000.0);
            sent.push((token, started));
        }
        for (token, started) in sent {
            let got = fake
                .wait_for("PATCH", &token, 1, Duration::from_secs(30))
                .await;
            if let Some(r) = got.first() {
                verdict_ms.push(r.at.duration_since(started).as_secs_f64() * 1000.0);
            }
        }
    }
    deferred_ms.sort_by(f64::total_cmp);
    verdict_ms.sort_by(f64::total_cmp);
    println!(
        "signed interaction -> type 5 ({CONCURRENT} concurrent, {} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        deferred_ms.len(),
        percentile(&deferred_ms, 50.0),
        percentile(&deferred_ms, 99.0),
        deferred_ms.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "signed interaction -> verdict PATCH @original at the fake ({} samples): p50 {:.1} ms, p99 {:.1} ms",
        verdict_ms.len(),
        percentile(&verdict_ms, 50.0),
        percentile(&verdict_ms, 99.0)
    );

    if let Some(bin) = binary {
        let mut startups = Vec::new();
        for i in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let store = format!(
                "sqlite://{}",
                dir.path().join(format!("startup-{i}.db")).display()
            );
            let text = config_text(
                &cluster,
                &fake.api_base(),
                &key_hex,
                &format!("127.0.0.1:{port}"),
                &store,
            );
            let path = dir.path().join(format!("startup-{i}.toml"));
            std::fs::write(&path, text)?;
            let started = Instant::now();
            let mut child = tokio::process::Command::new(&bin)
                .arg("--config")
                .arg(&path)
                .arg("serve")
                .env("AISBF_TOKEN", demo::TOKEN)
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            let health = format!("http://127.0.0.1:{port}/healthz");
            loop {
                if let Ok(r) = client.get(&health).send().await
                    && r.status().is_success()
                {
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(30),
                    "serve never became ready"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            startups.push(started.elapsed().as_secs_f64() * 1000.0);
            let _ = child.kill().await;
        }
        startups.sort_by(f64::total_cmp);
        println!(
            "serve start-up to ready (http mode, fresh SQLite store, 5 runs): median {:.0} ms, max {:.0} ms",
            percentile(&startups, 50.0),
            startups.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
