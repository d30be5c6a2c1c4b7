//! The bot's Discord REST client: a few endpoints, with 429 `retry_after`
//! respected and 5xx / connection failures retried a bounded number of times.
//! A post that still fails is logged with its reason and returned as an error,
//! never dropped silently.
//!
//! Why not serenity's `Http`: serenity 0.12's rate limiter builds requests
//! without the configured proxy, so with a custom `api_base` (tests, proxies)
//! its 429 handling has to be switched off. This client does both.

use std::time::Duration;

use serde_json::Value;

use crate::secret::Secret;

/// How a delivery failed for good.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{what} failed: {reason}")]
pub struct RestError {
    pub what: String,
    pub reason: String,
    /// HTTP status of the last answer, if any.
    pub status: Option<u16>,
}

#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
    token: Secret,
    pub application_id: u64,
    /// Attempts for 5xx / connection errors (429s do not count).
    pub attempts: u32,
    /// First back-off after a 5xx; doubles each time.
    pub backoff: Duration,
    /// Longest 429 wait honoured; longer waits fail the delivery.
    pub max_retry_after: Duration,
    /// 429 answers waited out per request before giving up (a `retry_after`
    /// of 0 forever must not become thousands of requests).
    pub rate_limit_retries: u32,
    /// Longest time one request may take, waits and retries included.
    pub total: Duration,
    /// Counts delivered and failed posts (`aisbf_doctor_discord_posts_total`).
    pub metrics: Option<crate::metrics::Metrics>,
    /// Discord's rate limits as its answers state them, shared by every
    /// clone of this client (every task of the process).
    limits: std::sync::Arc<std::sync::Mutex<RateLimits>>,
}

/// Requests per second Discord allows a bot across all routes.
const GLOBAL_PER_SECOND: usize = 50;

/// What Discord's rate-limit headers said, per route, and the global limit.
#[derive(Default)]
struct RateLimits {
    /// Per route (method and path): requests left and when the bucket resets.
    routes: std::collections::HashMap<String, (u32, std::time::Instant)>,
    /// A global 429 holds every request until then.
    global_until: Option<std::time::Instant>,
    /// When the last requests went out (at most [`GLOBAL_PER_SECOND`]).
    recent: std::collections::VecDeque<std::time::Instant>,
    /// One request in flight per route: a burst into one thread queues
    /// behind the answer that says how much of the bucket is left.
    queues: std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// Tracked routes above which idle ones are forgotten (see [`RateLimits::forget_idle`]).
    forget_above: usize,
}

impl RateLimits {
    /// Forgets routes nobody waits on whose bucket has reset, once there are
    /// more than twice as many as were left last time. An interaction's
    /// webhook is a route of its own (its token is in the path), so a bot
    /// that never forgets keeps every token it ever answered.
    fn forget_idle(&mut self, now: std::time::Instant) {
        if self.queues.len() + self.routes.len() <= self.forget_above {
            return;
        }
        self.routes.retain(|_, (_, reset)| *reset > now);
        self.queues
            .retain(|_, q| std::sync::Arc::strong_count(q) > 1);
        self.forget_above = 2 * (self.queues.len() + self.routes.len()) + 256;
    }

    /// How long to wait before sending on `route`; `Duration::ZERO` reserves
    /// a request in its bucket and in the global second.
    fn reserve(&mut self, route: &str, now: std::time::Instant) -> Duration {
        let mut wait = Duration::ZERO;
        if let Some(until) = self.global_until {
            wait = wait.max(until.saturating_duration_since(now));
        }
        if let Some((remaining, reset)) = self.routes.get(route)
            && *remaining == 0
        {
            wait = wait.max(reset.saturating_duration_since(now));
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= GLOBAL_PER_SECOND
            && let Some(first) = self.recent.front()
        {
            wait = wait.max((*first + Duration::from_secs(1)).saturating_duration_since(now));
        }
        if wait.is_zero() {
            self.recent.push_back(now);
            if let Some((remaining, _)) = self.routes.get_mut(route) {
                *remaining = remaining.saturating_sub(1);
            }
        }
        wait
    }

    /// Records what an answer's headers say about `route`.
    fn learn(
        &mut self,
        route: &str,
        headers: &reqwest::header::HeaderMap,
        now: std::time::Instant,
    ) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
        };
        if let (Some(remaining), Some(reset_after)) =
            (num("x-ratelimit-remaining"), num("x-ratelimit-reset-after"))
        {
            let reset = now + Duration::from_secs_f64(reset_after.clamp(0.0, 3600.0));
            self.routes
                .insert(route.to_string(), (remaining.max(0.0) as u32, reset));
        }
    }
}

/// A file to upload with a message.
pub type File = (String, Vec<u8>);

impl Rest {
    pub fn new(api_base: &str, token: Secret, application_id: u64) -> Result<Rest, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("DiscordBot (https://github.com/aisbf-doctor, 0.1)")
            .build()?;
        Ok(Rest {
            client,
            base: api_base.trim_end_matches('/').to_string(),
            token,
            application_id,
            attempts: 4,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(60),
            rate_limit_retries: 5,
            total: Duration::from_secs(30),
            metrics: None,
            limits: Default::default(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request with retries and counts writes in the metrics.
    async fn send(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        files: &[File],
        auth: bool,
    ) -> Result<Value, RestError> {
        let write = method != reqwest::Method::GET;
        let result = self
            .send_retrying(what, method, path, body, files, auth)
            .await;
        if write && let Some(m) = &self.metrics {
            m.discord_post(result.is_ok());
        }
        result
    }

    /// Sends one request with retries; returns the JSON answer (Null when empty).
    async fn send_retrying(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        files: &[File],
        auth: bool,
    ) -> Result<Value, RestError> {
        let url = format!("{}{}", self.base, path);
        let started = std::time::Instant::now();
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        let mut backoff = self.backoff;
        // A body may echo our Authorization header: the token never leaves
        // in an error, a log line or a stored text.
        let redactor = crate::secret::Redactor::new([self.token.clone()]);
        let fail = |reason: String, status: Option<u16>| {
            let e = RestError {
                what: what.to_string(),
                reason: redactor.scrub(&reason),
                status,
            };
            tracing::warn!(error = %e, "discord request failed");
            e
        };
        // Creating a thread twice makes two threads: once the request may
        // have reached Discord (a 5xx, a timeout), it is not sent again.
        let repeatable = !(method == reqwest::Method::POST && path.ends_with("/threads"));
        let route = format!("{method} {path}");
        let queue = {
            let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            limits.forget_idle(std::time::Instant::now());
            limits.queues.entry(route.clone()).or_default().clone()
        };
        let _turn = queue.lock().await;
        loop {
            // Wait for the bucket (and the global limit) instead of drawing a
            // 429: Discord bans IPs that collect too many invalid requests.
            loop {
                let wait = {
                    let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
                    limits.reserve(&route, std::time::Instant::now())
                };
                if wait.is_zero() {
                    break;
                }
                if wait > self.total.saturating_sub(started.elapsed()) {
                    return Err(fail(
                        format!(
                            "rate limit resets in {:.1} s, longer than we wait",
                            wait.as_secs_f64()
                        ),
                        None,
                    ));
                }
                tokio::time::sleep(wait).await;
            }
            let mut maybe_sent = true;
            let mut req = self.client.request(method.clone(), &url);
            if auth {
                req = req.header("Authorization", format!("Bot {}", self.token.expose()));
            }
            req = match body {
                Some(b) if !files.is_empty() => {
                    let json = reqwest::multipart::Part::text(b.to_string())
                        .mime_str("application/json")
                        .map_err(|e| fail(e.to_string(), None))?;
                    let mut form = reqwest::multipart::Form::new().part("payload_json", json);
                    for (i, (name, bytes)) in files.iter().enumerate() {
                        let mime = if name.ends_with(".png") {
                            "image/png"
                        } else {
                            "text/plain"
                        };
                        let part = reqwest::multipart::Part::bytes(bytes.clone())
                            .file_name(name.clone())
                            .mime_str(mime)
                            .map_err(|e| fail(e.to_string(), None))?;
                        form = form.part(format!("files[{i}]"), part);
                    }
                    req.multipart(form)
                }
                Some(b) => req.json(b),
                None => req,
            };
            let answer = req.send().await;
            let (status, retry_after, text) = match answer {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    {
                        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
                        limits.learn(&route, resp.headers(), std::time::Instant::now());
                    }
                    let header = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|h| h.to_str().ok())
                        .and_then(|s| s.parse::<f64>().ok());
                    let text = resp.text().await.unwrap_or_default();
                    (Some(status), header, text)
                }
                Err(e) => {
                    // A connection never made means nothing reached Discord.
                    maybe_sent = !e.is_connect();
                    (None, None, e.without_url().to_string())
                }
            };
            match status {
                Some(s) if (200..300).contains(&s) => {
                    return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
                }
                Some(429) => {
                    let from_body = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["retry_after"].as_f64());
                    let secs = from_body.or(retry_after).unwrap_or(1.0).max(0.0);
                    let wait = Duration::from_secs_f64(secs.min(3600.0));
                    let global = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["global"].as_bool())
                        .unwrap_or(false);
                    if global {
                        // A global limit holds every request of the process.
                        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
                        limits.global_until = Some(std::time::Instant::now() + wait);
                    }
                    let left = self.total.saturating_sub(started.elapsed());
                    if wait > self.max_retry_after || wait > left {
                        return Err(fail(
                            format!("rate limited for {secs:.1} s, longer than we wait"),
                            Some(429),
                        ));
                    }
                    rate_limited += 1;
                    if rate_limited > self.rate_limit_retries {
                        return Err(fail(
                            format!(
                                "still rate limited after {} waits; gave up",
                                self.rate_limit_retries
                            ),
                            Some(429),
                        ));
                    }
                    // Never a tight loop: at least the back-off, with jitter.
                    let wait = wait.max(jittered(self.backoff));
                    tracing::info!(
                        what,
                        retry_after_s = secs,
                        "rate limited by Discord; waiting"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Some(s) if s >= 500 => {
                    failures += 1;
                    let reason = redactor.scrub(&format!("HTTP {s}: {}", short(&text)));
                    if !repeatable {
                        return Err(fail(
                            format!("{reason} (not repeated: Discord may have created it)"),
                            Some(s),
                        ));
                    }
                    if failures >= self.attempts {
                        return Err(fail(
                            format!("{reason} (gave up after {failures} attempts)"),
                            Some(s),
                        ));
                    }
                    tracing::warn!(what, attempt = failures, %reason, "discord request failed; retrying");
                }
                Some(s) => {
                    return Err(fail(format!("HTTP {s}: {}", short(&text)), Some(s)));
                }
                None => {
                    failures += 1;
                    if !repeatable && maybe_sent {
                        return Err(fail(
                            format!("{text} (not repeated: Discord may have created it)"),
                            None,
                        ));
                    }
                    if failures >= self.attempts {
                        return Err(fail(
                            format!("{text} (gave up after {failures} attempts)"),
                            None,
                        ));
                    }
                    tracing::warn!(what, attempt = failures, reason = %redactor.scrub(&text), "discord request failed; retrying");
                }
            }
            let pause = jittered(backoff);
            if pause > self.total.saturating_sub(started.elapsed()) {
                return Err(fail(
                    format!("no time left to retry within {} s", self.total.as_secs()),
                    status,
                ));
            }
            tokio::time::sleep(pause).await;
            backoff = backoff.saturating_mul(2);
        }
    }

    /// Answers an interaction (gateway mode; http mode answers in the HTTP response).
    pub async fn interaction_callback(
        &self,
        id: &str,
        token: &str,
        body: &Value,
    ) -> Result<(), RestError> {
        self.send(
            "interaction callback",
            reqwest::Method::POST,
            &format!("/interactions/{id}/{token}/callback"),
            Some(body),
            &[],
            false,
        )
        .await
        .map(|_| ())
    }

    /// Replaces the deferred answer with the verdict (PATCH @original).
    pub async fn edit_original(
        &self,
        token: &str,
        body: &Value,
        files: &[File],
    ) -> Result<(), RestError> {
        self.send(
            "edit original response",
            reqwest::Method::PATCH,
            &format!(
                "/webhooks/{}/{token}/messages/@original",
                self.application_id
            ),
            Some(body),
            files,
            false,
        )
        .await
        .map(|_| ())
    }

    /// Starts a public thread in `channel`; returns its id.
    pub async fn create_thread(&self, channel: u64, name: &str) -> Result<String, RestError> {
        let (name, _) = super::render::clip(name, 100);
        let body = serde_json::json!({"name": name, "type": 11, "auto_archive_duration": 1440});
        let v = self
            .send(
                "create thread",
                reqwest::Method::POST,
                &format!("/channels/{channel}/threads"),
                Some(&body),
                &[],
                true,
            )
            .await?;
        v["id"].as_str().map(str::to_string).ok_or(RestError {
            what: "create thread".into(),
            reason: "answer has no thread id".into(),
            status: None,
        })
    }

    /// Posts a message into a channel or thread, with a nonce Discord
    /// enforces: a retry after a lost answer cannot post it twice.
    pub async fn post(&self, channel: &str, body: &Value, files: &[File]) -> Result<(), RestError> {
        let mut body = body.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("nonce".into(), Value::String(nonce()));
            o.insert("enforce_nonce".into(), Value::Bool(true));
        }
        self.send(
            "post message",
            reqwest::Method::POST,
            &format!("/channels/{channel}/messages"),
            Some(&body),
            files,
            true,
        )
        .await
        .map(|_| ())
    }

    /// Archives a thread.
    pub async fn archive_thread(&self, thread: &str) -> Result<(), RestError> {
        self.send(
            "archive thread",
            reqwest::Method::PATCH,
            &format!("/channels/{thread}"),
            Some(&serde_json::json!({"archived": true})),
            &[],
            true,
        )
        .await
        .map(|_| ())
    }

    fn commands_path(&self, guild: Option<u64>) -> String {
        match guild {
            Some(g) => format!("/applications/{}/guilds/{g}/commands", self.application_id),
            None => format!("/applications/{}/commands", self.application_id),
        }
    }

    pub async fn get_commands(&self, guild: Option<u64>) -> Result<Value, RestError> {
        self.send(
            "get commands",
            reqwest::Method::GET,
            &self.commands_path(guild),
            None,
            &[],
            true,
        )
        .await
    }

    pub async fn put_commands(&self, guild: Option<u64>, tree: &Value) -> Result<Value, RestError> {
        self.send(
            "put commands",
            reqwest::Method::PUT,
            &self.commands_path(guild),
            Some(tree),
            &[],
            true,
        )
        .await
    }
}

/// A message nonce: at most 25 characters, unique per message.
fn nonce() -> String {
    format!("{:x}", fastrand::u64(..))
}

/// `d` plus up to a quarter more, so replicas retrying together spread out.
fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(fastrand::f64() / 4.0)
}

fn short(text: &str) -> String {
    let one_line = text.replace('\n', " ");
    super::render::clip(&one_line, 200).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_answered_interactions_are_forgotten_once_idle_and_reset() {
        let mut limits = RateLimits::default();
        let now = std::time::Instant::now();
        for i in 0..1000 {
            let route = format!("PATCH /webhooks/1/token-{i}/messages/@original");
            limits.queues.entry(route.clone()).or_default();
            limits.routes.insert(route, (4, now));
        }
        let busy = "POST /channels/1/messages".to_string();
        let _waiter = limits.queues.entry(busy.clone()).or_default().clone();
        limits
            .routes
            .insert(busy.clone(), (0, now + Duration::from_secs(5)));
        limits.forget_idle(now + Duration::from_millis(1));
        // Kept: the route someone waits on, and the bucket not yet reset.
        assert_eq!(limits.queues.keys().collect::<Vec<_>>(), [&busy]);
        assert_eq!(limits.routes.keys().collect::<Vec<_>>(), [&busy]);
    }
}
