//! Shared test helpers: run the real binary against real loopback servers,
//! with one helper per real service (a fresh MariaDB database, a fresh Redis
//! key prefix or a private redis-server).

#![allow(dead_code)]

mod recording_surface;
mod test_db;
mod test_redis;

pub use recording_surface::RecordingSurface;
pub use test_db::{TestDb, mariadb_exec};
pub use test_redis::{
    OwnRedis, REDIS_URL, TestPrefix, redis, redis_del_blocking, redis_get_blocking,
};

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub const BIN: &str = env!("CARGO_BIN_EXE_aisbf-doctor");

/// Output of one CLI run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON document on stdout, checked against the JSON contract's
    /// schema (`docs/report.schema.json`).
    pub fn json(&self) -> Value {
        let report = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout));
        crate::schema::assert_valid(&report);
        report
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A config file in a temp dir that lives as long as the value.
pub struct ConfigFile {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn config_file(text: &str) -> ConfigFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("aisbf-doctor.toml");
    std::fs::write(&path, text).expect("write config");
    ConfigFile { dir, path }
}

/// Runs the binary with `args` after `--config <file>`, with env vars set.
pub async fn run_cli(config: &ConfigFile, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config")
        .arg(&config.path)
        .args(args)
        .env_remove("AISBF_DOCTOR_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("run aisbf-doctor").into()
}

/// The env that resolves the fake cluster's `${AISBF_TOKEN}` and `${AISBF_GLOBAL_TOKEN}`.
pub fn demo_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AISBF_TOKEN", aisbf_doctor::demo::fake_node::demo::TOKEN),
        (
            "AISBF_GLOBAL_TOKEN",
            aisbf_doctor::demo::fake_node::demo::GLOBAL_TOKEN,
        ),
    ]
}

/// A port that refuses connections (bound, then released).
pub async fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// A server that accepts connections and never answers (nor closes).
pub async fn silent_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

/// A server that answers every request with these raw bytes, then closes.
pub async fn raw_server(response: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let _ = s.write_all(response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// Findings of a JSON report for one subject, as codes.
pub fn codes(report: &Value, subject: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["subject"] == subject)
                .filter_map(|f| f["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the future `make` builds to completion on a runtime of its own, on a
/// thread of its own: lets sync code (constructors, `Drop`) talk to a service
/// from inside or outside a test's runtime. The future is built on that
/// thread, so it need not be `Send`.
pub fn on_side_runtime<T, F>(make: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("side runtime")
            .block_on(make())
    })
    .join()
    .expect("side thread")
}
