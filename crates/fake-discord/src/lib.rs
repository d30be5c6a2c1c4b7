//! A fake Discord on loopback for aisbf-doctor's tests and benchmark: the REST endpoints
//! the bot uses (recording every request) and a gateway websocket that speaks
//! HELLO → IDENTIFY → READY → dispatches, with heartbeat ACKs and RESUME.
//!
//! Faults can be scripted per path: answer the next N matching requests with
//! a given status and body (e.g. 429 with `retry_after`, or 500).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path below the API base, e.g. `/channels/1/messages`.
    pub path: String,
    /// The JSON body (for multipart: the `payload_json` part).
    pub json: Value,
    /// Names and contents of uploaded files.
    pub files: Vec<(String, String)>,
    pub authorization: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// The status the fake answered with.
    pub status: u16,
}

struct Fault {
    path_contains: String,
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    faults: VecDeque<Fault>,
    commands: Value,
    next_id: u64,
    identifies: u32,
    resumes: u32,
    seq: u64,
    /// Per-channel message limit (messages per window), like Discord's
    /// 5 per 5 s: `None` enforces nothing.
    channel_limit: Option<(usize, std::time::Duration)>,
    /// Message times per channel inside the current window.
    channel_sent: std::collections::HashMap<String, VecDeque<Instant>>,
    /// 401, 403 and 429 answers: Discord bans an IP after 10,000 in 10 minutes.
    invalid: u32,
}

pub struct FakeDiscord {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    events: broadcast::Sender<Value>,
    kill: broadcast::Sender<()>,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct St {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    events: broadcast::Sender<Value>,
    kill: broadcast::Sender<()>,
    base: String,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeDiscord {
    pub async fn start() -> std::io::Result<FakeDiscord> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            commands: json!([]),
            next_id: 900_000_000_000_000_000,
            ..Inner::default()
        }));
        let changed = Arc::new(Notify::new());
        let (events, _) = broadcast::channel(64);
        let (kill, _) = broadcast::channel(4);
        let st = St {
            inner: inner.clone(),
            changed: changed.clone(),
            events: events.clone(),
            kill: kill.clone(),
            base: format!("127.0.0.1:{}", addr.port()),
        };
        let app = Router::new()
            .route("/gw", get(gateway))
            .route("/api/v10/{*rest}", any(rest))
            .with_state(st);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeDiscord {
            inner,
            changed,
            events,
            kill,
            addr,
            task,
        })
    }

    /// The `api_base` to configure: `http://127.0.0.1:PORT/api/v10`.
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner).requests.clone()
    }

    /// Requests whose method matches and whose path contains `part`.
    pub fn matching(&self, method: &str, part: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .collect()
    }

    /// The statuses the fake answered to the requests [`matching`](Self::matching).
    pub fn statuses(&self, method: &str, part: &str) -> Vec<u16> {
        self.matching(method, part)
            .iter()
            .map(|r| r.status)
            .collect()
    }

    /// Waits until `count` successful requests match (or `timeout` passes).
    pub async fn wait_for(
        &self,
        method: &str,
        part: &str,
        count: usize,
        timeout: std::time::Duration,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let got: Vec<Recorded> = self
                .matching(method, part)
                .into_iter()
                .filter(|r| (200..300).contains(&r.status))
                .collect();
            if got.len() >= count {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return got;
            }
        }
    }

    /// Answers the next request whose path contains `path_contains` with `status`/`body`.
    pub fn fail_next(&self, path_contains: &str, status: u16, body: Value) {
        self.fail_next_with_headers(path_contains, status, body, vec![]);
    }

    pub fn fail_next_with_headers(
        &self,
        path_contains: &str,
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    ) {
        lock(&self.inner).faults.push_back(Fault {
            path_contains: path_contains.to_string(),
            status,
            body,
            headers,
        });
    }

    /// Enforces `limit` messages per `window` per channel, answering
    /// rate-limit headers on every message and 429 past the limit.
    pub fn limit_channels(&self, limit: usize, window: std::time::Duration) {
        lock(&self.inner).channel_limit = Some((limit, window));
    }

    /// How many 401, 403 and 429 answers were given.
    pub fn invalid_requests(&self) -> u32 {
        lock(&self.inner).invalid
    }

    /// Sets what `GET .../commands` returns.
    pub fn set_commands(&self, v: Value) {
        lock(&self.inner).commands = v;
    }

    /// Sends a dispatch (e.g. INTERACTION_CREATE) to every connected gateway client.
    pub fn dispatch(&self, event: &str, d: Value) {
        let _ = self.events.send(json!({"t": event, "d": d}));
    }

    /// Drops every gateway connection without a close frame.
    pub fn drop_gateway(&self) {
        let _ = self.kill.send(());
    }

    pub fn identifies(&self) -> u32 {
        lock(&self.inner).identifies
    }

    pub fn resumes(&self) -> u32 {
        lock(&self.inner).resumes
    }

    /// Waits until `n` sessions are up (IDENTIFY or RESUME counted).
    pub async fn wait_sessions(&self, n: u32, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if self.identifies() + self.resumes() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.identifies() + self.resumes() >= n;
            }
        }
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn multipart_parts(headers: &HeaderMap, body: &[u8]) -> Option<(Value, Vec<(String, String)>)> {
    let ct = headers.get("content-type")?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let mut json = Value::Null;
    let mut files = Vec::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        if name == "payload_json" {
            json = serde_json::from_str(content).unwrap_or(Value::Null);
        } else if let Some(file) = head
            .split("filename=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            files.push((file.to_string(), content.to_string()));
        }
    }
    Some((json, files))
}

fn message(id: u64, channel: &str, body: &Value) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel, "type": 0,
        "content": body["content"].clone(), "embeds": body["embeds"].clone(),
        "author": {"id": "1", "username": "aisbf-doctor", "discriminator": "0", "avatar": null, "bot": true},
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "pinned": false
    })
}

async fn rest(
    State(st): State<St>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api/v10")
        .unwrap_or(uri.path())
        .to_string();
    let is_multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let (json_body, files) = if is_multipart {
        multipart_parts(&headers, &body).unwrap_or((Value::Null, vec![]))
    } else {
        (serde_json::from_slice(&body).unwrap_or(Value::Null), vec![])
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut inner = lock(&st.inner);
    let fault = inner
        .faults
        .iter()
        .position(|f| path.contains(&f.path_contains))
        .and_then(|i| inner.faults.remove(i));
    let (status, answer, extra): (u16, Value, Vec<(String, String)>) = if let Some(f) = fault {
        (f.status, f.body, f.headers)
    } else {
        inner.next_id += 1;
        let id = inner.next_id;
        let m = method.as_str();
        let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (m, seg.as_slice()) {
            ("GET", ["gateway"]) => (200, json!({"url": format!("ws://{}/gw", st.base)}), vec![]),
            ("GET", ["gateway", "bot"]) => (
                200,
                json!({"url": format!("ws://{}/gw", st.base), "shards": 1,
                       "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}),
                vec![],
            ),
            ("POST", ["interactions", _, _, "callback"]) => (204, Value::Null, vec![]),
            ("PATCH", ["webhooks", _, _, "messages", "@original"]) => {
                (200, message(id, "0", &json_body), vec![])
            }
            ("POST", ["channels", c, "threads"]) => (
                201,
                json!({"id": id.to_string(), "type": 11, "parent_id": c, "name": json_body["name"].clone()}),
                vec![],
            ),
            ("POST", ["channels", c, "messages"]) => match inner.channel_limit {
                None => (200, message(id, c, &json_body), vec![]),
                Some((limit, window)) => {
                    let now = Instant::now();
                    let sent = inner.channel_sent.entry(c.to_string()).or_default();
                    while sent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= window)
                    {
                        sent.pop_front();
                    }
                    let reset = sent
                        .front()
                        .map(|t| window.saturating_sub(now.duration_since(*t)))
                        .unwrap_or(window);
                    let headers = |remaining: usize| {
                        vec![
                            ("x-ratelimit-limit".to_string(), limit.to_string()),
                            ("x-ratelimit-remaining".to_string(), remaining.to_string()),
                            (
                                "x-ratelimit-reset-after".to_string(),
                                format!("{:.3}", reset.as_secs_f64()),
                            ),
                            (
                                "x-ratelimit-bucket".to_string(),
                                "channel-messages".to_string(),
                            ),
                        ]
                    };
                    if sent.len() >= limit {
                        let mut h = headers(0);
                        h.push(("x-ratelimit-scope".to_string(), "user".to_string()));
                        (
                            429,
                            json!({"message": "You are being rate limited.", "retry_after": reset.as_secs_f64(), "global": false}),
                            h,
                        )
                    } else {
                        sent.push_back(now);
                        let left = limit - sent.len();
                        (200, message(id, c, &json_body), headers(left))
                    }
                }
            },
            ("PATCH", ["channels", c]) => (
                200,
                json!({"id": c, "type": 11, "thread_metadata": {"archived": true}}),
                vec![],
            ),
            ("GET", ["applications", _, "commands"])
            | ("GET", ["applications", _, "guilds", _, "commands"]) => {
                (200, inner.commands.clone(), vec![])
            }
            ("PUT", ["applications", _, "commands"])
            | ("PUT", ["applications", _, "guilds", _, "commands"]) => {
                inner.commands = json_body.clone();
                (200, json_body.clone(), vec![])
            }
            _ => (404, json!({"message": "404: Not Found", "code": 0}), vec![]),
        }
    };
    if matches!(status, 401 | 403 | 429) {
        inner.invalid += 1;
    }
    inner.requests.push(Recorded {
        method: method.to_string(),
        path,
        json: json_body,
        files,
        authorization,
        at: Instant::now(),
        status,
    });
    drop(inner);
    st.changed.notify_waiters();
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = if answer.is_null() {
        code.into_response()
    } else {
        (code, axum::Json(answer)).into_response()
    };
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

async fn gateway(State(st): State<St>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(st, socket))
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(WsMessage::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn session(st: St, mut socket: WebSocket) {
    let mut events = st.events.subscribe();
    let mut kill = st.kill.subscribe();
    if !send(
        &mut socket,
        json!({"op": 10, "d": {"heartbeat_interval": 41250}}),
    )
    .await
    {
        return;
    }
    let mut ready = false;
    loop {
        tokio::select! {
            _ = kill.recv() => return,
            ev = events.recv(), if ready => {
                let Ok(ev) = ev else { continue };
                let seq = { let mut i = lock(&st.inner); i.seq += 1; i.seq };
                if !send(&mut socket, json!({"op": 0, "s": seq, "t": ev["t"], "d": ev["d"]})).await {
                    return;
                }
            }
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { return };
                let text = match msg {
                    WsMessage::Text(t) => t.to_string(),
                    WsMessage::Close(_) => return,
                    _ => continue,
                };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match v["op"].as_u64() {
                    Some(1) if !send(&mut socket, json!({"op": 11})).await => return,
                    Some(2) => {
                        let seq = { let mut i = lock(&st.inner); i.identifies += 1; i.seq += 1; i.seq };
                        st.changed.notify_waiters();
                        let readyd = json!({
                            "v": 10,
                            "user": {"id": "100000000000000001", "username": "aisbf-doctor", "discriminator": "0",
                                     "global_name": null, "avatar": null, "bot": true, "verified": true,
                                     "mfa_enabled": false, "flags": 0},
                            "guilds": [],
                            "session_id": "fake-session",
                            "resume_gateway_url": format!("ws://{}/gw", st.base),
                            "shard": [0, 1],
                            "application": {"id": "100000000000000002", "flags": 0}
                        });
                        if !send(&mut socket, json!({"op": 0, "s": seq, "t": "READY", "d": readyd})).await { return; }
                        ready = true;
                    }
                    Some(6) => {
                        let seq = { let mut i = lock(&st.inner); i.resumes += 1; i.seq += 1; i.seq };
                        st.changed.notify_waiters();
                        if !send(&mut socket, json!({"op": 0, "s": seq, "t": "RESUMED", "d": {}})).await { return; }
                        ready = true;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A full APPLICATION_COMMAND interaction, shaped like Discord's documented
/// example, for `/aisbf <sub>` with string options.
pub fn command_interaction(
    id: &str,
    token: &str,
    sub: &str,
    options: &[(&str, &str)],
    roles: &[&str],
) -> Value {
    let opts: Vec<Value> = options
        .iter()
        .map(|(n, v)| json!({"name": n, "type": 3, "value": v}))
        .collect();
    let sub_opt = if let Some(rest) = sub.strip_prefix("incident ") {
        json!({"name": "incident", "type": 2, "options": [{"name": rest, "type": 1, "options": []}]})
    } else {
        json!({"name": sub, "type": 1, "options": opts})
    };
    json!({
        "id": id,
        "application_id": "100000000000000002",
        "type": 2,
        "data": {"id": "100000000000000003", "name": "aisbf", "type": 1, "options": [sub_opt]},
        "guild_id": "100000000000000004",
        "channel_id": "100000000000000005",
        "channel": {"id": "100000000000000005", "type": 0, "name": "ops", "permissions": "2147483647"},
        "member": {
            "user": {"id": "100000000000000006", "username": "ops-person", "discriminator": "0",
                     "global_name": null, "avatar": null},
            "roles": roles, "joined_at": "2025-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0, "pending": false,
            "permissions": "2147483647", "nick": null, "avatar": null, "premium_since": null,
            "communication_disabled_until": null
        },
        "token": token,
        "version": 1,
        "app_permissions": "2147483647",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": "100000000000000004"},
        "context": 0,
        "attachment_size_limit": 8388608
    })
}
