//! Benchmark of the Slack edge (see scripts/bench-slack.sh): signed slash
//! command → acknowledgement latency with 50 concurrent commands (http mode),
//! envelope → ack in Socket Mode, and time to the verdict at the response URL.
//!
//! Usage: bench_slack [ROUNDS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec, demo};
use aisbf_doctor::secret::Secret;
use aisbf_doctor::slack::SlackBot;
use aisbf_doctor::slack::verify::{now_secs, sign};
use aisbf_doctor::store::Store;
use fake_slack::{FakeSlack, form, slash_command};

const CONCURRENT: usize = 50;
const BOT: &str = "xoxb-bench-bot";
const APP: &str = "xapp-bench-app";
const SECRET: &str = "bench-signing-secret";
const TEAM: &str = "T0BENCH";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what} ({} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ])
    .await?;
    let fake = FakeSlack::start(BOT, APP).await?;
    let store_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut text = cluster.config_toml("AISBF_TOKEN", None, 2000);
    text.push_str(&format!(
        "[store]\nurl = \"{store_url}\"\n\n[slack]\nmode = \"http\"\nbot_token = \"{BOT}\"\napp_token = \"{APP}\"\nsigning_secret = \"{SECRET}\"\napi_base = \"{}\"\nteam_id = \"{TEAM}\"\nincident_channel = \"C0BENCH\"\n",
        fake.api_base()
    ));
    let config = Arc::new(aisbf_doctor::config::parse(&text, &|n| {
        (n == "AISBF_TOKEN").then(|| demo::TOKEN.to_string())
    })?);
    let store = Store::open(&Secret::new(store_url)).await?;
    let api = SlackBot::api(&config)?;
    let engine = Arc::new(aisbf_doctor::engine::Engine::new(config)?);
    let bot = Arc::new(SlackBot::with_engine(engine, api, store)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/slack/commands", listener.local_addr()?);
    tokio::spawn(aisbf_doctor::slack::server::serve(listener, bot.clone()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENT)
        .build()?;

    // Http mode: 50 signed commands at once, per round.
    let mut ack_ms = Vec::new();
    let mut verdict_ms = Vec::new();
    let mut n = 0u64;
    for _ in 0..rounds {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENT {
            n += 1;
            let response_url = fake.response_url();
            let cmd = slash_command(
                TEAM,
                "U0BENCH",
                "C0ASK",
                "health",
                &response_url,
                &format!("trig-{n}"),
            );
            let body = form(&cmd);
            let ts = now_secs();
            let sig = sign(SECRET, ts, body.as_bytes());
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let resp = client
                    .post(&url)
                    .header("x-slack-signature", sig)
                    .header("x-slack-request-timestamp", ts.to_string())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().is_success(), "refused: {}", resp.status());
                Ok::<_, anyhow::Error>((response_url, started, started.elapsed()))
            }));
        }
        let mut sent = Vec::new();
        for t in tasks {
            let (response_url, started, took) = t.await??;
            ack_ms.push(took.as_secs_f64() * 1000.0);
            sent.push((response_url, started));
        }
        let _ = fake
            .wait_for("response", n as usize, Duration::from_secs(60))
            .await;
        let answers = fake.matching("response");
        for (response_url, started) in sent {
            if let Some(r) = answers.iter().find(|r| response_url.ends_with(&r.id)) {
                verdict_ms.push(r.at.duration_since(started).as_secs_f64() * 1000.0);
            }
        }
    }
    report(
        &format!("http mode: signed command -> 200 ack ({CONCURRENT} concurrent)"),
        ack_ms,
    );
    report(
        "http mode: signed command -> verdict at the response URL",
        verdict_ms,
    );

    // Socket Mode: the same bot on the fake's websocket.
    tokio::spawn(aisbf_doctor::slack::socket::run(bot, Secret::new(APP)));
    anyhow::ensure!(
        fake.wait_connections(1, Duration::from_secs(10)).await,
        "no socket"
    );
    let mut socket_ms = Vec::new();
    for _ in 0..rounds {
        let mut ids = Vec::new();
        for _ in 0..CONCURRENT {
            n += 1;
            let cmd = slash_command(
                TEAM,
                "U0BENCH",
                "C0ASK",
                "health",
                &fake.response_url(),
                &format!("trig-{n}"),
            );
            ids.push(fake.send_envelope("slash_commands", cmd));
        }
        for id in ids {
            if let Some((_, took)) = fake.wait_ack(&id, Duration::from_secs(10)).await {
                socket_ms.push(took.as_secs_f64() * 1000.0);
            }
        }
    }
    report(
        &format!("socket mode: envelope -> ack ({CONCURRENT} at once)"),
        socket_ms,
    );
    Ok(())
}
