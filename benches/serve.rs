//! `serve` benchmark: start-up to ready (`/healthz` answering) on a fresh and
//! on an existing SQLite store, idle RSS, and RSS after a burst of 500 signed
//! commands (50 at a time) once their verdicts are in: memory must come back
//! to within 2× idle. Loopback only: the fake Discord and two fake nodes.
//!
//! `cargo bench --bench serve` (release profile) prints Markdown table rows
//! (`scripts/bench.sh` adds the header). `AISBF_DOCTOR_BIN` overrides the
//! binary, `SERVE_BURST` the number of commands (default 500).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec, demo};
use ed25519_dalek::{Signer, SigningKey};
use fake_discord::{FakeDiscord, command_interaction};

const AT_ONCE: usize = 50;
const RUNS: usize = 5;

fn bin() -> PathBuf {
    std::env::var_os("AISBF_DOCTOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aisbf-doctor")))
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Serve {
    child: tokio::process::Child,
    port: u16,
}

/// Starts `serve` in http mode on a free port with the store at `db`, and
/// returns once `/healthz` answers, with the time that took.
async fn start_serve(
    cluster: &FakeCluster,
    fake: &FakeDiscord,
    key_hex: &str,
    dir: &Path,
    db: &Path,
    client: &reqwest::Client,
) -> anyhow::Result<(Serve, Duration)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut text = cluster.config_toml("AISBF_TOKEN", None, 2000);
    text.push_str(&format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[discord]\nmode = \"http\"\ntoken = \"bench-bot-token\"\napplication_id = \"100000000000000002\"\npublic_key = \"{key_hex}\"\ninteractions_endpoint = \"127.0.0.1:{port}\"\napi_base = \"{}\"\nincident_channel = \"400000000000000001\"\nguilds = [\"100000000000000004\"]\n",
        db.display(),
        fake.api_base()
    ));
    let path = dir.join(format!("serve-{port}.toml"));
    std::fs::write(&path, text)?;
    let started = Instant::now();
    let child = tokio::process::Command::new(bin())
        .arg("--config")
        .arg(&path)
        .arg("serve")
        .env("AISBF_TOKEN", demo::TOKEN)
        .env_remove("AISBF_DOCTOR_CONFIG")
        .stdout(std::process::Stdio::null())
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
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok((Serve { child, port }, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let burst: usize = std::env::var("SERVE_BURST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let key_hex = hex::encode(key.verifying_key().to_bytes());
    let dir = tempfile::tempdir()?;
    let cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ])
    .await?;
    let fake = FakeDiscord::start().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(AT_ONCE)
        .build()?;

    // Start-up on a fresh store each time, then on the one store it made.
    let mut fresh = Vec::new();
    let mut existing = Vec::new();
    let kept = dir.path().join("kept.db");
    for i in 0..RUNS {
        let db = dir.path().join(format!("fresh-{i}.db"));
        let (mut s, took) =
            start_serve(&cluster, &fake, &key_hex, dir.path(), &db, &client).await?;
        fresh.push(took.as_secs_f64() * 1000.0);
        let _ = s.child.kill().await;
    }
    let (mut first, _) = start_serve(&cluster, &fake, &key_hex, dir.path(), &kept, &client).await?;
    let _ = first.child.kill().await;
    for _ in 0..RUNS {
        let (mut s, took) =
            start_serve(&cluster, &fake, &key_hex, dir.path(), &kept, &client).await?;
        existing.push(took.as_secs_f64() * 1000.0);
        let _ = s.child.kill().await;
    }
    println!(
        "| `serve` start-up to `/healthz` (http mode), fresh SQLite store | {:.0} ms median of {RUNS} | |",
        median(fresh)
    );
    println!(
        "| `serve` start-up to `/healthz` (http mode), existing SQLite store | {:.0} ms median of {RUNS} | |",
        median(existing)
    );

    // Idle, then a burst of signed commands, then idle again.
    let (serve, _) = start_serve(&cluster, &fake, &key_hex, dir.path(), &kept, &client).await?;
    let pid = serve.child.id().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = status_kib(pid, "VmRSS:");
    let url = format!("http://127.0.0.1:{}", serve.port);
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(burst);
    for wave in 0..burst.div_ceil(AT_ONCE) {
        let mut tasks = Vec::new();
        for j in 0..AT_ONCE.min(burst - wave * AT_ONCE) {
            let id = format!("8{:017}", wave * AT_ONCE + j);
            let token = format!("burst-{id}");
            let body = command_interaction(&id, &token, "health", &[], &[]).to_string();
            let ts = "1767225600";
            let sig = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                client
                    .post(&url)
                    .header("x-signature-ed25519", sig)
                    .header("x-signature-timestamp", ts)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }));
            tokens.push(token);
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    let mut answered = 0;
    for token in &tokens {
        if !fake
            .wait_for("PATCH", token, 1, Duration::from_secs(60))
            .await
            .is_empty()
        {
            answered += 1;
        }
    }
    let busy = started.elapsed();
    let peak = status_kib(pid, "VmHWM:");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = status_kib(pid, "VmRSS:");
    let within = after <= idle * 2;
    println!(
        "| `serve` idle RSS (http mode, SQLite store) | {} | |",
        mib(idle)
    );
    println!(
        "| `serve` RSS 3 s after {burst} commands ({AT_ONCE} at a time; {answered} verdicts in {:.1} s) | {} (peak {}) | {} 2× idle: {} |",
        busy.as_secs_f64(),
        mib(after),
        mib(peak),
        if within { "within" } else { "above" },
        if within { "met" } else { "missed" }
    );
    Ok(())
}
