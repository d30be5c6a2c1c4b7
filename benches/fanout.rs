//! Fan-out benchmark: `aisbf-doctor check health` over a fake fleet of N
//! auth-enabled nodes (one process, each node on its own 127.1.x.y address,
//! every answer after 200 ms) against its peers doing the same five requests
//! per node: the playbook's sequential curl loop, `xargs -P64 curl`, and
//! Prometheus blackbox_exporter (one module per request, driven at the
//! doctor's concurrency). Then the slow-node and hung-node mixes, output
//! size with half the nodes rejecting the token, and CLI start-up.
//!
//! `cargo bench --bench fanout` (release profile) prints Markdown table rows
//! (`scripts/bench.sh` adds the header). Environment:
//! `AISBF_DOCTOR_BIN` (the binary to measure), `FANOUT_NS` (default
//! `100,1000,5000`), `FANOUT_RUNS` (doctor runs per N, best kept; default 3),
//! `FANOUT_CURL_SAMPLE` (nodes the sequential loop really asks before it is
//! extrapolated; default 20), `FANOUT_MIX_N` (default 1000), `FANOUT_SIZE_NS`
//! (output-size cluster sizes, default `1000,3000`), `FANOUT_PEERS=0` (the
//! doctor alone, no peers), `BLACKBOX_EXPORTER` (default `/usr/bin/prometheus-blackbox-exporter`;
//! skipped when absent).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aisbf_doctor::demo::fake_node::{Behaviour, FakeFleet, FakeNodeSpec, demo};
use futures::StreamExt;

const DELAY: Duration = Duration::from_millis(200);
/// The doctor's default `cluster.concurrency`; every peer gets the same.
const CONCURRENCY: usize = 256;

fn bin() -> PathBuf {
    std::env::var_os("AISBF_DOCTOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aisbf-doctor")))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

struct CliRun {
    wall: Duration,
    peak_rss_kib: u64,
    code: i32,
    stdout: String,
}

/// Runs the CLI, sampling its peak RSS (VmHWM) from /proc while it runs.
fn run_cli(config: &Path, args: &[&str]) -> CliRun {
    let started = Instant::now();
    let mut child = match Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("AISBF_TOKEN", demo::TOKEN)
        .env("AISBF_GLOBAL_TOKEN", demo::GLOBAL_TOKEN)
        .env_remove("AISBF_DOCTOR_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run {}: {e}", bin().display()),
    };
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut out) = stdout {
            let _ = std::io::Read::read_to_string(&mut out, &mut s);
        }
        s
    });
    let code = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            peak = peak.max(vm_hwm_kib(&text));
        }
        match child.try_wait() {
            Ok(Some(status)) => break status.code().unwrap_or(-1),
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("wait: {e}"),
        }
    };
    CliRun {
        wall: started.elapsed(),
        peak_rss_kib: peak,
        code,
        stdout: reader.join().unwrap_or_default(),
    }
}

fn vm_hwm_kib(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The best (fastest) of `runs` doctor runs of `check health`.
fn doctor(config: &Path, runs: usize) -> CliRun {
    let mut best: Option<CliRun> = None;
    for _ in 0..runs.max(1) {
        let r = run_cli(config, &["check", "health", "--format", "json"]);
        if best.as_ref().is_none_or(|b| r.wall < b.wall) {
            best = Some(r);
        }
    }
    best.unwrap_or_else(|| unreachable!("at least one run"))
}

/// The five requests the doctor sends each node: path and bearer token.
fn five_requests(base: &str) -> [(String, Option<&'static str>); 5] {
    let u = demo::USER;
    [
        (format!("{base}/"), None),
        (format!("{base}/health"), Some(demo::GLOBAL_TOKEN)),
        (format!("{base}/api/version"), Some(demo::GLOBAL_TOKEN)),
        (format!("{base}/api/u/{u}/models"), Some(demo::TOKEN)),
        (format!("{base}/api/u/{u}/providers"), Some(demo::TOKEN)),
    ]
}

fn curl_args(url: &str, token: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = ["-s", "-o", "/dev/null", "-m", "5"]
        .map(String::from)
        .to_vec();
    if let Some(t) = token {
        a.push("-H".into());
        a.push(format!("Authorization: Bearer {t}"));
    }
    a.push(url.into());
    a
}

/// The playbook's loop: one curl after another, five per node. Only `sample`
/// nodes are really asked; the rest is extrapolated (and marked so).
fn curl_loop(bases: &[String], sample: usize) -> (Duration, bool) {
    let take = bases.len().min(sample.max(1));
    let started = Instant::now();
    for base in &bases[..take] {
        for (url, token) in five_requests(base) {
            let _ = Command::new("curl").args(curl_args(&url, token)).status();
        }
    }
    let took = started.elapsed();
    let extrapolated = take < bases.len();
    (took.mul_f64(bases.len() as f64 / take as f64), extrapolated)
}

/// `xargs -P64 curl` over every request (quoted lines: xargs splits them).
fn xargs_curl(bases: &[String], dir: &Path) -> Duration {
    let list = dir.join("xargs-requests.txt");
    let mut text = String::new();
    for base in bases {
        for (url, token) in five_requests(base) {
            match token {
                Some(t) => text.push_str(&format!("-H \"Authorization: Bearer {t}\" {url}\n")),
                None => text.push_str(&format!("{url}\n")),
            }
        }
    }
    if let Err(e) = std::fs::write(&list, text) {
        panic!("write {}: {e}", list.display());
    }
    let started = Instant::now();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xargs -P64 -L1 curl -s -o /dev/null -m 5 < '{}'",
            list.display()
        ))
        .status();
    started.elapsed()
}

/// A running blackbox_exporter with one module per request the doctor makes.
struct Blackbox {
    child: std::process::Child,
    url: String,
}

impl Drop for Blackbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MODULES: [&str; 5] = ["root", "health", "version", "models", "providers"];

fn blackbox_start(dir: &Path) -> Option<Blackbox> {
    let exe = std::env::var("BLACKBOX_EXPORTER")
        .unwrap_or_else(|_| "/usr/bin/prometheus-blackbox-exporter".into());
    if !Path::new(&exe).exists() {
        return None;
    }
    let module = |token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| format!("      bearer_token: \"{t}\"\n"));
        format!(
            "    prober: http\n    timeout: 5s\n    http:\n      follow_redirects: false\n{auth}"
        )
    };
    let config = format!(
        "modules:\n  root:\n{}  health:\n{}  version:\n{}  models:\n{}  providers:\n{}",
        module(None),
        module(Some(demo::GLOBAL_TOKEN)),
        module(Some(demo::GLOBAL_TOKEN)),
        module(Some(demo::TOKEN)),
        module(Some(demo::TOKEN)),
    );
    let path = dir.join("blackbox.yml");
    std::fs::write(&path, config).ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = Command::new(exe)
        .arg(format!("--config.file={}", path.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let bb = Blackbox {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    // Ready when it answers its own page.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(bb);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Every node's five modules through the exporter, `CONCURRENCY` nodes at a
/// time with their five probes at once (as the doctor does). Returns the
/// wall time, how many probes succeeded, and the exporter's peak RSS.
async fn blackbox_run(bb: &Blackbox, bases: &[String]) -> (Duration, usize, u64) {
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY * 5)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => panic!("client: {e}"),
    };
    let started = Instant::now();
    let probe = |module: &'static str, target: String| {
        let client = client.clone();
        let url = format!("{}/probe", bb.url);
        async move {
            let Ok(resp) = client
                .get(url)
                .query(&[("module", module), ("target", target.as_str())])
                .send()
                .await
            else {
                return false;
            };
            resp.text()
                .await
                .is_ok_and(|t| t.lines().any(|l| l == "probe_success 1"))
        }
    };
    let ok: usize = futures::stream::iter(bases.iter().map(|base| {
        let reqs = five_requests(base);
        let probes: Vec<_> = MODULES
            .iter()
            .zip(reqs)
            .map(|(m, (url, _))| probe(m, url))
            .collect();
        async move {
            futures::future::join_all(probes)
                .await
                .into_iter()
                .filter(|ok| *ok)
                .count()
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .fold(0, |acc, n| async move { acc + n })
    .await;
    let rss = std::fs::read_to_string(format!("/proc/{}/status", bb.child.id()))
        .map(|s| vm_hwm_kib(&s))
        .unwrap_or(0);
    (started.elapsed(), ok, rss)
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn row(
    figure: impl std::fmt::Display,
    value: impl std::fmt::Display,
    note: impl std::fmt::Display,
) {
    println!("| {figure} | {value} | {note} |");
}

fn tally(stdout: &str, code: &str) -> usize {
    serde_json::from_str::<serde_json::Value>(stdout)
        .ok()
        .and_then(|v| {
            v["findings"]
                .as_array()
                .map(|a| a.iter().filter(|f| f["code"] == code).count())
        })
        .unwrap_or(0)
}

fn slow(delay: Duration) -> FakeNodeSpec {
    let mut s = FakeNodeSpec::healthy("fleet");
    s.delay = delay;
    s
}

fn write_config(dir: &Path, name: &str, fleet: &FakeFleet) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    if let Err(e) = std::fs::write(
        &path,
        fleet.config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 5000),
    ) {
        panic!("write {}: {e}", path.display());
    }
    path
}

fn main() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("cannot raise RLIMIT_NOFILE: {e}");
    }
    let ns: Vec<usize> = std::env::var("FANOUT_NS")
        .unwrap_or_else(|_| "100,1000,5000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = env_or("FANOUT_RUNS", 3);
    let curl_sample: usize = env_or("FANOUT_CURL_SAMPLE", 20);
    let mix_n: usize = env_or("FANOUT_MIX_N", 1000);
    // FANOUT_PEERS=0 measures the doctor alone: quick to re-run after a change.
    let peers = env_or("FANOUT_PEERS", 1) != 0;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let blackbox = peers.then(|| blackbox_start(dir.path())).flatten();
    if peers && blackbox.is_none() {
        eprintln!("blackbox_exporter not found: its rows are skipped");
    }

    for &n in &ns {
        let fleet = rt
            .block_on(FakeFleet::start(vec![slow(DELAY)], n, |_| 0))
            .unwrap_or_else(|e| panic!("start {n} fake nodes: {e}"));
        let config = write_config(dir.path(), &format!("fanout-{n}"), &fleet);
        let _ = run_cli(&config, &["check", "health", "--format", "json"]); // warm-up
        let d = doctor(&config, runs);
        let unreachable = tally(&d.stdout, "node_unreachable");
        row(
            format!("`check health`, N = {n} (best of {runs})"),
            format!("{}, exit {}", ms(d.wall), d.code),
            format!(
                "{} node_ok, {unreachable} node_unreachable; peak RSS {}; {} KiB JSON",
                tally(&d.stdout, "node_ok"),
                mib(d.peak_rss_kib),
                d.stdout.len() / 1024
            ),
        );
        if !peers {
            continue;
        }
        let bases: Vec<String> = fleet
            .nodes
            .iter()
            .map(|n| format!("http://{}", n.addr))
            .collect();
        let ratio = |t: Duration| t.as_secs_f64() / d.wall.as_secs_f64();
        let (loop_t, extrapolated) = curl_loop(&bases, curl_sample);
        row(
            format!("playbook curl loop (5 requests a node, one at a time), N = {n}"),
            ms(loop_t),
            format!(
                "{:.1}× the doctor's time{}",
                ratio(loop_t),
                if extrapolated {
                    format!("; extrapolated from {curl_sample} nodes")
                } else {
                    String::new()
                }
            ),
        );
        let x = xargs_curl(&bases, dir.path());
        row(
            format!("`xargs -P64 curl` (5 requests a node), N = {n}"),
            ms(x),
            format!("{:.1}× the doctor's time", ratio(x)),
        );
        if let Some(bb) = &blackbox {
            let (t, ok, rss) = rt.block_on(blackbox_run(bb, &bases));
            row(
                format!(
                    "blackbox_exporter (5 modules a node, {CONCURRENCY} nodes at once), N = {n}"
                ),
                ms(t),
                format!(
                    "{:.1}× the doctor's time; {ok} of {} probes succeeded; exporter peak RSS {}",
                    ratio(t),
                    5 * n,
                    mib(rss)
                ),
            );
        }
    }
    drop(blackbox);

    // Mixes: 2% of nodes answer in 1 s, or 1% hang past the timeout.
    for (label, odd, every) in [
        ("2% answer in 1 s", slow(Duration::from_secs(1)), 50),
        (
            "1% hung past the 5 s timeout",
            {
                let mut h = slow(DELAY);
                h.behaviour = Behaviour::Hang;
                h
            },
            100,
        ),
    ] {
        let fleet = rt
            .block_on(FakeFleet::start(vec![slow(DELAY), odd], mix_n, |i| {
                usize::from(i % every == every / 2)
            }))
            .unwrap_or_else(|e| panic!("start the mix: {e}"));
        let config = write_config(dir.path(), "mix", &fleet);
        let d = doctor(&config, runs);
        row(
            format!("`check health`, N = {mix_n}, {label}"),
            format!("{}, exit {}", ms(d.wall), d.code),
            format!(
                "{} node_ok, {} node_timeout, {} probe_deadline; peak RSS {}",
                tally(&d.stdout, "node_ok"),
                tally(&d.stdout, "node_timeout"),
                tally(&d.stdout, "probe_deadline"),
                mib(d.peak_rss_kib)
            ),
        );
    }

    // Output size with half the nodes rejecting the token.
    let mut rejecting = FakeNodeSpec::healthy("rejecting");
    rejecting.tokens.retain(|t| t.token != demo::TOKEN);
    let size_ns: Vec<usize> = std::env::var("FANOUT_SIZE_NS")
        .unwrap_or_else(|_| "1000,3000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in size_ns {
        let fleet = rt
            .block_on(FakeFleet::start(
                vec![FakeNodeSpec::healthy("fleet"), rejecting.clone()],
                n,
                |i| i % 2,
            ))
            .unwrap_or_else(|e| panic!("start {n} nodes: {e}"));
        let config = write_config(dir.path(), "half-rejecting", &fleet);
        let d = run_cli(&config, &["check", "health", "--format", "json"]);
        row(
            format!("JSON output, N = {n}, half rejecting the token"),
            format!("{} KiB", d.stdout.len() / 1024),
            format!("{} bytes a node (≤ 2 KiB)", d.stdout.len() / n),
        );
    }

    // Start-up: exec to exit of `--version` (clap, no runtime work), median of 21.
    let mut startup: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new(bin())
                .arg("--version")
                .stdout(Stdio::null())
                .status();
            t.elapsed()
        })
        .collect();
    startup.sort();
    row(
        "CLI start-up (`--version`, median of 21)",
        format!("{:.1} ms", startup[10].as_secs_f64() * 1000.0),
        "",
    );
}
