//! The Slack Web API client: the handful of methods the app uses, over the
//! process's reqwest, with the bot token as a bearer.
//!
//! Slack answers 429 with `Retry-After` (seconds) when a method's tier is
//! exhausted; that wait is honoured a bounded number of times. 5xx and
//! connection failures are retried with doubling back-off. `chat.postMessage`
//! is paced to one message per second per channel (Slack's documented
//! limit): posts into one channel queue in order behind each other. Every
//! error text goes through the redactor, and reqwest's errors lose their URL
//! (a `response_url` is a credential).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::secret::{Redactor, Secret};

/// How a call failed for good.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("slack {what} failed: {reason}")]
pub struct ApiError {
    pub what: String,
    pub reason: String,
    /// HTTP status of the last answer, if any.
    pub status: Option<u16>,
}

/// One request to send (rebuilt for every attempt).
enum Body<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, String)]),
    Bytes(&'a [u8]),
}

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    bot_token: Secret,
    redactor: Redactor,
    /// Attempts for 5xx / connection errors (429s do not count).
    pub attempts: u32,
    /// First back-off after a 5xx; doubles each time.
    pub backoff: Duration,
    /// Longest `Retry-After` honoured; longer waits fail the call.
    pub max_retry_after: Duration,
    /// 429 answers waited out per call.
    pub rate_limit_retries: u32,
    /// Time between two `chat.postMessage` into one channel.
    pub post_interval: Duration,
    /// Per channel: when the last message went out; the lock queues posts.
    channels: Arc<Mutex<HashMap<String, ChannelSlot>>>,
}

/// When a channel's last message went out; held while posting, so posts
/// into one channel queue behind each other.
type ChannelSlot = Arc<tokio::sync::Mutex<Option<Instant>>>;

impl Api {
    pub fn new(
        api_base: &str,
        bot_token: Secret,
        redactor: Redactor,
    ) -> Result<Api, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("aisbf-doctor (slack app)")
            .build()?;
        Ok(Api {
            client,
            base: api_base.trim_end_matches('/').to_string(),
            bot_token,
            redactor,
            attempts: 4,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(60),
            rate_limit_retries: 5,
            post_interval: Duration::from_secs(1),
            channels: Arc::default(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn error(&self, what: &str, reason: &str, status: Option<u16>) -> ApiError {
        ApiError {
            what: what.to_string(),
            reason: self.redactor.scrub(reason),
            status,
        }
    }

    /// Sends with retries; the answer's JSON (`ok` checked for Web API calls).
    async fn send(
        &self,
        what: &str,
        url: &str,
        token: Option<&Secret>,
        body: Body<'_>,
        web_api: bool,
    ) -> Result<Value, ApiError> {
        let mut failures = 0u32;
        let mut waits = 0u32;
        let mut backoff = self.backoff;
        loop {
            let mut req = self.client.post(url);
            if let Some(t) = token {
                req = req.bearer_auth(t.expose());
            }
            req = match &body {
                Body::Json(v) => req.json(v),
                Body::Form(f) => req.form(f),
                Body::Bytes(b) => req
                    .header("content-type", "application/octet-stream")
                    .body(b.to_vec()),
            };
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    if failures >= self.attempts {
                        return Err(self.error(what, &e.without_url().to_string(), None));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if status == 429 {
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
                    .unwrap_or(Duration::from_secs(1));
                waits += 1;
                if waits > self.rate_limit_retries || after > self.max_retry_after {
                    return Err(self.error(
                        what,
                        &format!("rate limited (Retry-After {} s)", after.as_secs_f64()),
                        Some(429),
                    ));
                }
                tracing::info!(
                    what,
                    wait_ms = after.as_millis() as u64,
                    "slack rate limit; waiting"
                );
                tokio::time::sleep(after).await;
                continue;
            }
            let text = resp.text().await.unwrap_or_default();
            if status >= 500 {
                failures += 1;
                if failures >= self.attempts {
                    return Err(self.error(
                        what,
                        &format!("HTTP {status}: {}", short(&text)),
                        Some(status),
                    ));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(self.error(
                    what,
                    &format!("HTTP {status}: {}", short(&text)),
                    Some(status),
                ));
            }
            if !web_api {
                return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
            }
            let v: Value = serde_json::from_str(&text).map_err(|_| {
                self.error(what, &format!("not JSON: {}", short(&text)), Some(status))
            })?;
            if v["ok"] != json!(true) {
                let reason = v["error"].as_str().unwrap_or("ok is not true");
                return Err(self.error(what, reason, Some(status)));
            }
            return Ok(v);
        }
    }

    /// A Web API method with a JSON body and the bot token.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ApiError> {
        let url = format!("{}/{method}", self.base);
        self.send(method, &url, Some(&self.bot_token), Body::Json(body), true)
            .await
    }

    /// Posts `msg` into `channel` (into the thread `thread_ts` when given);
    /// returns the new message's `ts`. Paced per channel.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        msg: &Value,
    ) -> Result<String, ApiError> {
        let slot = {
            let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(channel.to_string()).or_default().clone()
        };
        let mut last = slot.lock().await;
        if let Some(at) = *last {
            let next = at + self.post_interval;
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
        }
        let mut body = msg.clone();
        body["channel"] = json!(channel);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        // Names and links are never expanded into mentions.
        body["link_names"] = json!(false);
        body["parse"] = json!("none");
        let sent = self.call("chat.postMessage", &body).await;
        *last = Some(Instant::now());
        let v = sent?;
        v["ts"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error("chat.postMessage", "answer without ts", None))
    }

    /// Whether `url` may receive an answer: Slack's hooks host, or the host
    /// of the configured API base (a proxy, the tests' fake). A payload
    /// cannot make the bot POST anywhere else.
    pub fn response_url_allowed(&self, url: &str) -> bool {
        let Ok(u) = url::Url::parse(url) else {
            return false;
        };
        if u.scheme() == "https" && u.host_str() == Some("hooks.slack.com") {
            return true;
        }
        match url::Url::parse(&self.base) {
            Ok(b) => {
                u.scheme() == b.scheme()
                    && u.host_str() == b.host_str()
                    && u.port_or_known_default() == b.port_or_known_default()
            }
            Err(_) => false,
        }
    }

    /// Answers a command through its `response_url` (no token needed).
    pub async fn respond(&self, response_url: &Secret, msg: &Value) -> Result<(), ApiError> {
        if !self.response_url_allowed(response_url.expose()) {
            return Err(self.error("response_url", "not a Slack hooks URL; refused", None));
        }
        self.send(
            "response_url",
            response_url.expose(),
            None,
            Body::Json(msg),
            false,
        )
        .await
        .map(|_| ())
    }

    /// Uploads a file and shares it into `channel` (in the thread when
    /// `thread_ts` is given): `files.getUploadURLExternal`, the bytes, then
    /// `files.completeUploadExternal`.
    pub async fn upload(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let form = [
            ("filename", name.to_string()),
            ("length", bytes.len().to_string()),
        ];
        let url = format!("{}/files.getUploadURLExternal", self.base);
        let got = self
            .send(
                "files.getUploadURLExternal",
                &url,
                Some(&self.bot_token),
                Body::Form(&form),
                true,
            )
            .await?;
        let (Some(upload_url), Some(file_id)) =
            (got["upload_url"].as_str(), got["file_id"].as_str())
        else {
            return Err(self.error(
                "files.getUploadURLExternal",
                "answer without upload_url or file_id",
                None,
            ));
        };
        if !self.response_url_allowed(upload_url)
            && !upload_url.starts_with("https://files.slack.com/")
        {
            return Err(self.error("files upload", "upload URL outside Slack; refused", None));
        }
        self.send(
            "files upload",
            upload_url,
            Some(&self.bot_token),
            Body::Bytes(bytes),
            false,
        )
        .await?;
        let mut complete =
            json!({"files": [{"id": file_id, "title": name}], "channel_id": channel});
        if let Some(ts) = thread_ts {
            complete["thread_ts"] = json!(ts);
        }
        self.call("files.completeUploadExternal", &complete)
            .await
            .map(|_| ())
    }

    /// The members of a user group (`usergroups.users.list`).
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, ApiError> {
        let v = self
            .call("usergroups.users.list", &json!({"usergroup": group}))
            .await?;
        Ok(v["users"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A Socket Mode websocket URL (`apps.connections.open`, app token).
    pub async fn open_connection(&self, app_token: &Secret) -> Result<String, ApiError> {
        let url = format!("{}/apps.connections.open", self.base);
        let v = self
            .send(
                "apps.connections.open",
                &url,
                Some(app_token),
                Body::Json(&json!({})),
                true,
            )
            .await?;
        v["url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error("apps.connections.open", "answer without url", None))
    }
}

fn short(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_go_only_to_slacks_hooks_or_the_configured_api_host() {
        let api = Api::new(
            "http://127.0.0.1:4000/api",
            Secret::new("xoxb-1"),
            Redactor::default(),
        )
        .expect("client");
        assert!(api.response_url_allowed("https://hooks.slack.com/commands/T1/2/abc"));
        assert!(api.response_url_allowed("http://127.0.0.1:4000/response/R1"));
        assert!(!api.response_url_allowed("http://hooks.slack.com/commands/T1/2/abc"));
        assert!(!api.response_url_allowed("http://127.0.0.1:4001/response/R1"));
        assert!(!api.response_url_allowed("https://hooks.slack.com.evil.example/x"));
        assert!(!api.response_url_allowed("http://169.254.169.254/latest/meta-data"));
        assert!(!api.response_url_allowed("not a url"));
    }
}
