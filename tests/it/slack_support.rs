//! Shared pieces of the Slack tests: a fake cluster, a fake Slack, the app
//! wired to both, signed http-mode posts and the real binary.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aisbf_doctor::config;
use aisbf_doctor::demo::fake_node::{FakeCluster, demo};
use aisbf_doctor::secret::Secret;
use aisbf_doctor::slack::SlackBot;
use aisbf_doctor::slack::verify::{now_secs, sign};
use aisbf_doctor::store::Store;
use fake_slack::FakeSlack;
use serde_json::Value;

pub const BOT_TOKEN: &str = "xoxb-1-fake-bot-token-value";
pub const APP_TOKEN: &str = "xapp-1-fake-app-token-value";
pub const SIGNING_SECRET: &str = "fake-signing-secret-0123456789";
pub const TEAM: &str = "T0123456";
pub const INCIDENT_CHANNEL: &str = "C0123456";
/// Where commands are typed.
pub const ASK_CHANNEL: &str = "C0999999";
pub const OPS_USER: &str = "U0000001";
pub const USER: &str = "U0000002";
pub const OPS_GROUP: &str = "S0000001";
pub const WAIT: Duration = Duration::from_secs(20);

/// A `[slack]` section for the fake Slack at `api_base`.
pub fn slack_section(api_base: &str, mode: &str, listen: &str) -> String {
    format!(
        "[slack]\nmode = \"{mode}\"\nbot_token = \"${{SLACK_BOT_TOKEN}}\"\napp_token = \"${{SLACK_APP_TOKEN}}\"\nsigning_secret = \"${{SLACK_SIGNING_SECRET}}\"\nlisten = \"{listen}\"\napi_base = \"{api_base}\"\nteam_id = \"{TEAM}\"\nincident_channel = \"{INCIDENT_CHANNEL}\"\nops_users = [\"{OPS_USER}\"]\nops_user_groups = [\"{OPS_GROUP}\"]\n"
    )
}

pub fn env(name: &str) -> Option<String> {
    match name {
        "AISBF_TOKEN" => Some(demo::TOKEN.to_string()),
        "SLACK_BOT_TOKEN" => Some(BOT_TOKEN.to_string()),
        "SLACK_APP_TOKEN" => Some(APP_TOKEN.to_string()),
        "SLACK_SIGNING_SECRET" => Some(SIGNING_SECRET.to_string()),
        _ => None,
    }
}

pub fn config_text(cluster: &FakeCluster, api_base: &str, mode: &str, listen: &str) -> String {
    let mut text = cluster.config_toml("AISBF_TOKEN", None, 2000);
    text.push_str(&format!("[routes]\nsmoke = [\"{}\"]\n\n", demo::ROUTE_OK));
    text.push_str(&slack_section(api_base, mode, listen));
    text
}

pub struct Harness {
    pub fake: FakeSlack,
    pub cluster: FakeCluster,
    pub bot: Arc<SlackBot>,
    pub dir: tempfile::TempDir,
}

pub async fn harness(cluster: FakeCluster) -> Harness {
    let fake = FakeSlack::start(BOT_TOKEN, APP_TOKEN)
        .await
        .expect("fake slack");
    let text = config_text(&cluster, &fake.api_base(), "http", "127.0.0.1:0");
    let config = Arc::new(config::parse(&text, &env).expect("config parses"));
    let dir = tempfile::tempdir().expect("temp dir");
    let store_url = Secret::new(format!("sqlite://{}", dir.path().join("bot.db").display()));
    let store = Store::open(&store_url).await.expect("store");
    let mut api = SlackBot::api(&config).expect("api");
    api.backoff = Duration::from_millis(20);
    api.post_interval = Duration::from_millis(20);
    let engine = Arc::new(aisbf_doctor::engine::Engine::new(config).expect("engine"));
    let bot = Arc::new(SlackBot::with_engine(engine, api, store).expect("bot"));
    Harness {
        fake,
        cluster,
        bot,
        dir,
    }
}

/// Starts the http-mode endpoint in-process; returns its base URL.
pub async fn serve_http(bot: Arc<SlackBot>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(aisbf_doctor::slack::server::serve(listener, bot));
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

/// POSTs a form body to `url` signed at `ts` with `secret`.
pub async fn post_signed_at(url: &str, body: &str, secret: &str, ts: i64) -> Answer {
    let sig = sign(secret, ts, body.as_bytes());
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-signature", sig)
        .header("x-slack-request-timestamp", ts.to_string())
        .body(body.to_string())
        .send()
        .await
        .expect("post to the slack endpoint");
    Answer {
        status: resp.status().as_u16(),
        body: resp.text().await.unwrap_or_default(),
    }
}

pub async fn post_signed(url: &str, body: &str) -> Answer {
    post_signed_at(url, body, SIGNING_SECRET, now_secs()).await
}

/// `/aisbf <text>` from `user` in the ops workspace, answered at a fresh response URL.
pub fn command(fake: &FakeSlack, user: &str, text: &str, trigger: &str) -> (Value, String) {
    let url = fake.response_url();
    (
        fake_slack::slash_command(TEAM, user, ASK_CHANNEL, text, &url, trigger),
        url,
    )
}

/// The real `serve` binary on config `text` with a SQLite store in a temp dir.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    _config: crate::helpers::ConfigFile,
    _store_dir: tempfile::TempDir,
}

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
        .env("AISBF_TOKEN", demo::TOKEN)
        .env("AISBF_GLOBAL_TOKEN", demo::GLOBAL_TOKEN)
        .env("DISCORD_TOKEN", crate::discord_support::BOT_TOKEN)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_APP_TOKEN", APP_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
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
