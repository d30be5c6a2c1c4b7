//! Shared pieces of the Discord tests: a fake cluster, a fake Discord, the
//! bot wired to both, and signed interaction posts.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aisbf_doctor::config;
use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec, demo};
use aisbf_doctor::discord::{Bot, Rest};
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::Store;
use ed25519_dalek::{Signer, SigningKey};
use fake_discord::FakeDiscord;
use serde_json::Value;

pub const OPS_ROLE: &str = "300000000000000001";
pub const INCIDENT_CHANNEL: &str = "400000000000000001";
/// The ops server: the guild `fake_discord::command_interaction` comes from.
pub const GUILD: &str = "100000000000000004";
pub const BOT_TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAy.fake-bot-token-value";
pub const WAIT: Duration = Duration::from_secs(20);

pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub fn public_key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

pub struct Harness {
    pub fake: FakeDiscord,
    pub cluster: FakeCluster,
    pub bot: Arc<Bot>,
    pub config_text: String,
    pub dir: tempfile::TempDir,
    pub store_url: Secret,
}

/// Config text for `cluster` with a `[discord]` section pointing at `api_base`.
pub fn config_text(cluster: &FakeCluster, api_base: &str, mode: &str, endpoint: &str) -> String {
    let mut text = cluster.config_toml("AISBF_TOKEN", None, 2000);
    text.push_str(&format!("[routes]\nsmoke = [\"{}\"]\n\n", demo::ROUTE_OK));
    text.push_str(&discord_section(api_base, mode, endpoint));
    text
}

/// A `[discord]` section for the fake Discord at `api_base`.
pub fn discord_section(api_base: &str, mode: &str, endpoint: &str) -> String {
    format!(
        "[discord]\nmode = \"{mode}\"\ntoken = \"${{DISCORD_TOKEN}}\"\napplication_id = \"100000000000000002\"\npublic_key = \"{}\"\ninteractions_endpoint = \"{endpoint}\"\napi_base = \"{api_base}\"\nincident_channel = \"{INCIDENT_CHANNEL}\"\nops_roles = [\"{OPS_ROLE}\"]\nguilds = [\"{GUILD}\"]\n",
        public_key_hex()
    )
}

pub fn env(name: &str) -> Option<String> {
    match name {
        "AISBF_TOKEN" => Some(demo::TOKEN.to_string()),
        "DISCORD_TOKEN" => Some(BOT_TOKEN.to_string()),
        _ => None,
    }
}

/// One healthy node and one drifted onto its own SQLite (a failing verdict).
pub async fn drifted_cluster() -> FakeCluster {
    FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::on_private_sqlite("aisbf-2"),
    ])
    .await
    .expect("fake cluster")
}

pub async fn healthy_cluster() -> FakeCluster {
    FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ])
    .await
    .expect("fake cluster")
}

pub async fn harness(cluster: FakeCluster, mode: &str) -> Harness {
    let fake = FakeDiscord::start().await.expect("fake discord");
    let text = config_text(&cluster, &fake.api_base(), mode, "127.0.0.1:0");
    let config = Arc::new(config::parse(&text, &env).expect("config parses"));
    let dir = tempfile::tempdir().expect("temp dir");
    let store_url = Secret::new(format!("sqlite://{}", dir.path().join("bot.db").display()));
    let store = Store::open(&store_url).await.expect("store");
    let d = config.discord.clone().expect("discord section");
    let mut rest = Rest::new(&d.api_base, d.token.clone(), d.application_id).expect("rest");
    rest.backoff = Duration::from_millis(20);
    let bot = Arc::new(Bot::new(config, rest, store).expect("bot"));
    Harness {
        fake,
        cluster,
        bot,
        config_text: text,
        dir,
        store_url,
    }
}

/// Starts the http-mode server in-process; returns its base URL.
pub async fn serve_http(bot: Arc<Bot>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let key = signing_key().verifying_key();
    tokio::spawn(aisbf_doctor::discord::server::serve(listener, bot, key));
    format!("http://{addr}")
}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.body))
    }
}

/// POSTs `body` signed with the test key (or with the given signature headers).
pub async fn post_signed(url: &str, body: &str) -> Answer {
    let ts = "1767225600";
    let sig = signing_key().sign(format!("{ts}{body}").as_bytes());
    post_raw(url, body, Some(&hex::encode(sig.to_bytes())), Some(ts)).await
}

pub async fn post_raw(url: &str, body: &str, sig: Option<&str>, ts: Option<&str>) -> Answer {
    let client = reqwest::Client::new();
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = sig {
        req = req.header("x-signature-ed25519", s);
    }
    if let Some(t) = ts {
        req = req.header("x-signature-timestamp", t);
    }
    let resp = req.send().await.expect("post interaction");
    Answer {
        status: resp.status().as_u16(),
        body: resp.text().await.unwrap_or_default(),
    }
}

/// `/aisbf <sub>` as Discord sends it (with the ops role when `ops`).
pub fn command(id: &str, sub: &str, options: &[(&str, &str)], ops: bool) -> String {
    let roles: &[&str] = if ops { &[OPS_ROLE] } else { &[] };
    fake_discord::command_interaction(id, &format!("tok-{id}"), sub, options, roles).to_string()
}

/// The real `serve` binary running with `text` plus a SQLite store in a temp dir.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    _config: crate::helpers::ConfigFile,
    _store_dir: tempfile::TempDir,
}

/// A free loopback port (bound and released; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Spawns `aisbf-doctor serve` on config `text` (a SQLite `[store]` section is
/// appended unless `text` has one).
pub fn spawn_serve(text: &str) -> ServeProcess {
    let store_dir = tempfile::tempdir().expect("dir");
    let text = if text.contains("[store]") {
        text.to_string()
    } else {
        format!(
            "{text}\n[store]\nurl = \"sqlite://{}\"\n",
            store_dir.path().join("s.db").display()
        )
    };
    let config = crate::helpers::config_file(&text);
    let child = tokio::process::Command::new(crate::helpers::BIN)
        .arg("--config")
        .arg(&config.path)
        .arg("serve")
        .env("AISBF_TOKEN", aisbf_doctor::demo::fake_node::demo::TOKEN)
        .env(
            "AISBF_GLOBAL_TOKEN",
            aisbf_doctor::demo::fake_node::demo::GLOBAL_TOKEN,
        )
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    ServeProcess {
        child,
        _config: config,
        _store_dir: store_dir,
    }
}
