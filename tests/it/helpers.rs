//! Shared test helpers: run the real binary against real loopback servers.

#![allow(dead_code)]

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
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
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

/// Our own redis-server on a free port, killed when dropped.
pub struct OwnRedis {
    child: std::process::Child,
    pub port: u16,
    args: Vec<String>,
}

impl OwnRedis {
    pub async fn start(extra: &[&str]) -> OwnRedis {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            l.local_addr().expect("addr").port()
        };
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn_redis(port, &args);
        wait_for_redis(port).await;
        OwnRedis { child, port, args }
    }

    pub fn url(&self) -> aisbf_doctor::secret::Secret {
        aisbf_doctor::secret::Secret::new(format!("redis://127.0.0.1:{}/0", self.port))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis(self.port, &self.args);
        wait_for_redis(self.port).await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_redis(port: u16, extra: &[String]) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server must be installed")
}

async fn wait_for_redis(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("redis-server on port {port} did not start");
}
