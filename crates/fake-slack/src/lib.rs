//! A fake Slack on loopback for aisbf-doctor's tests and benchmark, enforcing
//! the documented rules the app must follow:
//!
//! - Web API (`POST /api/<method>`): bearer tokens checked (`not_authed`,
//!   `invalid_auth`; the app token only for `apps.connections.open`);
//!   `chat.postMessage` with `thread_ts` (which must be a message of that
//!   channel), at most 50 blocks, 150 per header, 3,000 per section text,
//!   10 fields of 2,000, 40,000 of message text; `files.getUploadURLExternal`
//!   + upload + `files.completeUploadExternal`; `usergroups.users.list`.
//! - Response URLs (`POST /response/<id>`): valid 30 minutes and 5 uses.
//! - Socket Mode (`GET /socket`): `hello`, envelopes handed to one
//!   connection each, acknowledgements recorded by `envelope_id`,
//!   `disconnect` on demand.
//! - Faults: the next N requests of a method answered with a given status,
//!   body and headers (429 with `Retry-After`, 500).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The Web API method (`chat.postMessage`), or `response` / `upload`.
    pub method: String,
    /// The response URL or upload id for `response` / `upload`.
    pub id: String,
    /// The JSON body, or the form fields as a JSON object.
    pub json: Value,
    /// Bytes of an upload.
    pub bytes: usize,
    pub authorization: Option<String>,
    pub at: Instant,
    /// HTTP status answered.
    pub status: u16,
    /// `error` of an `ok: false` answer.
    pub error: Option<String>,
}

struct Fault {
    method: String,
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

struct ResponseUrl {
    created: Instant,
    uses: u32,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    faults: VecDeque<Fault>,
    next: u64,
    /// Message timestamps per channel (for `thread_ts`).
    messages: HashMap<String, HashSet<String>>,
    response_urls: HashMap<String, ResponseUrl>,
    uploads: HashMap<String, usize>,
    groups: HashMap<String, Vec<String>>,
    /// Envelopes not yet taken by a connection.
    pending: VecDeque<Value>,
    acks: HashMap<String, (Value, Instant)>,
    sent_at: HashMap<String, Instant>,
    connections: u32,
    opened: u32,
}

/// How long a response URL lives, and how often it may be used.
pub const RESPONSE_URL_TTL: Duration = Duration::from_secs(30 * 60);
pub const RESPONSE_URL_USES: u32 = 5;

pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    control: broadcast::Sender<Value>,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    ttl: Arc<Mutex<Duration>>,
}

#[derive(Clone)]
struct St {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    control: broadcast::Sender<Value>,
    base: String,
    bot_token: String,
    app_token: String,
    ttl: Arc<Mutex<Duration>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeSlack {
    /// Starts the fake; only `bot_token` and `app_token` are accepted.
    pub async fn start(bot_token: &str, app_token: &str) -> std::io::Result<FakeSlack> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            next: 1_700_000_000_000_000,
            ..Inner::default()
        }));
        let changed = Arc::new(Notify::new());
        let (control, _) = broadcast::channel(1024);
        let ttl = Arc::new(Mutex::new(RESPONSE_URL_TTL));
        let st = St {
            inner: inner.clone(),
            changed: changed.clone(),
            control: control.clone(),
            base: format!("http://{addr}"),
            bot_token: bot_token.to_string(),
            app_token: app_token.to_string(),
            ttl: ttl.clone(),
        };
        let app = Router::new()
            .route("/api/{method}", post(web_api))
            .route("/response/{id}", post(response_url))
            .route("/upload/{id}", post(upload))
            .route("/socket", get(socket))
            .with_state(st);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSlack {
            inner,
            changed,
            control,
            addr,
            task,
            ttl,
        })
    }

    /// The `api_base` to configure: `http://127.0.0.1:PORT/api`.
    pub fn api_base(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// A fresh response URL, as Slack puts in a command's payload.
    pub fn response_url(&self) -> String {
        let mut inner = lock(&self.inner);
        inner.next += 1;
        let id = format!("R{}", inner.next);
        inner.response_urls.insert(
            id.clone(),
            ResponseUrl {
                created: Instant::now(),
                uses: 0,
            },
        );
        format!("http://{}/response/{id}", self.addr)
    }

    /// How long response URLs live (30 minutes unless a test shortens it).
    pub fn set_response_url_ttl(&self, ttl: Duration) {
        *lock(&self.ttl) = ttl;
    }

    /// Members of user group `group` for `usergroups.users.list`.
    pub fn set_group(&self, group: &str, users: &[&str]) {
        lock(&self.inner)
            .groups
            .insert(group.into(), users.iter().map(|u| u.to_string()).collect());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner).requests.clone()
    }

    /// Requests of `method` (`chat.postMessage`, `response`, `upload`, ...).
    pub fn matching(&self, method: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    /// Waits until `count` successful requests of `method` arrived (or `timeout` passed).
    pub async fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let got: Vec<Recorded> = self
                .matching(method)
                .into_iter()
                .filter(|r| r.status == 200 && r.error.is_none())
                .collect();
            if got.len() >= count {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return got;
            }
        }
    }

    /// Answers the next request of `method` with `status`, `body` and `headers`.
    pub fn fail_next(&self, method: &str, status: u16, body: Value, headers: &[(&str, &str)]) {
        lock(&self.inner).faults.push_back(Fault {
            method: method.into(),
            status,
            body,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }

    /// Sends an envelope of `kind` (`slash_commands`, `interactive`) to one
    /// connected client; returns its `envelope_id`.
    pub fn send_envelope(&self, kind: &str, payload: Value) -> String {
        let id = {
            let mut inner = lock(&self.inner);
            inner.next += 1;
            let id = format!("env-{}", inner.next);
            inner.pending.push_back(json!({
                "envelope_id": id, "type": kind, "payload": payload,
                "accepts_response_payload": kind == "slash_commands", "retry_attempt": 0
            }));
            inner.sent_at.insert(id.clone(), Instant::now());
            id
        };
        let _ = self.control.send(json!({"deliver": true}));
        id
    }

    /// Asks every connection to reconnect (`disconnect` envelope).
    pub fn disconnect_all(&self) {
        let _ = self
            .control
            .send(json!({"type": "disconnect", "reason": "refresh_requested"}));
    }

    /// The acknowledgement of `envelope_id` (its payload) and how long after
    /// sending it arrived, once it did.
    pub async fn wait_ack(
        &self,
        envelope_id: &str,
        timeout: Duration,
    ) -> Option<(Value, Duration)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            {
                let inner = lock(&self.inner);
                if let Some((payload, at)) = inner.acks.get(envelope_id) {
                    let sent = inner.sent_at.get(envelope_id).copied().unwrap_or(*at);
                    return Some((payload.clone(), at.saturating_duration_since(sent)));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Socket connections open now, and `apps.connections.open` calls so far.
    pub fn connections(&self) -> (u32, u32) {
        let inner = lock(&self.inner);
        (inner.connections, inner.opened)
    }

    /// Waits until `n` socket connections are open.
    pub async fn wait_connections(&self, n: u32, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if self.connections().0 >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.connections().0 >= n;
            }
        }
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A slash command payload as Slack sends it (JSON; form-encode it with
/// [`form`] for http mode).
pub fn slash_command(
    team: &str,
    user: &str,
    channel: &str,
    text: &str,
    response_url: &str,
    trigger: &str,
) -> Value {
    json!({
        "token": "deprecated-verification-token", "team_id": team, "team_domain": "ops",
        "channel_id": channel, "channel_name": "ops", "user_id": user, "user_name": "someone",
        "command": "/aisbf", "text": text, "api_app_id": "A0123456", "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger
    })
}

/// A `block_actions` payload for a click on a button with `action_id` and `value`.
pub fn block_actions(
    team: &str,
    user: &str,
    channel: &str,
    action_id: &str,
    value: &str,
    response_url: &str,
    trigger: &str,
) -> Value {
    json!({
        "type": "block_actions", "team": {"id": team, "domain": "ops"}, "enterprise": null,
        "user": {"id": user, "team_id": team}, "api_app_id": "A0123456", "trigger_id": trigger,
        "response_url": response_url, "channel": {"id": channel, "name": "ops"},
        "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button", "action_ts": "1.2"}]
    })
}

/// A flat JSON object as `application/x-www-form-urlencoded`.
pub fn form(v: &Value) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    if let Some(map) = v.as_object() {
        for (k, v) in map {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.append_pair(k, &s);
        }
    }
    out.finish()
}

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// Slack's message limits; the `error` Slack would answer.
fn check_message(body: &Value) -> Result<(), &'static str> {
    if chars(&body["text"]) > 40_000 {
        return Err("msg_too_long");
    }
    let blocks = body["blocks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if body["text"].as_str().unwrap_or_default().is_empty() && blocks.is_empty() {
        return Err("no_text");
    }
    if blocks.len() > 50 {
        return Err("invalid_blocks");
    }
    for b in blocks {
        let bad = match b["type"].as_str().unwrap_or_default() {
            "header" => chars(&b["text"]["text"]) > 150,
            "section" => {
                let fields = b["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                chars(&b["text"]["text"]) > 3000
                    || fields.len() > 10
                    || fields.iter().any(|f| chars(&f["text"]) > 2000)
            }
            _ => false,
        };
        if bad {
            return Err("invalid_blocks");
        }
    }
    Ok(())
}

fn record(st: &St, r: Recorded) {
    lock(&st.inner).requests.push(r);
    st.changed.notify_waiters();
}

fn fault_for(st: &St, method: &str) -> Option<Fault> {
    let mut inner = lock(&st.inner);
    let i = inner.faults.iter().position(|f| f.method == method)?;
    inner.faults.remove(i)
}

fn reply(status: u16, body: Value, headers: &[(String, String)]) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn body_json(headers: &HeaderMap, body: &[u8]) -> Value {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let map: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(map)
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    }
}

async fn web_api(
    State(st): State<St>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = body_json(&headers, &body);
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut rec = Recorded {
        method: method.clone(),
        id: String::new(),
        json: json_body.clone(),
        bytes: body.len(),
        authorization: authorization.clone(),
        at: Instant::now(),
        status: 200,
        error: None,
    };
    if let Some(f) = fault_for(&st, &method) {
        rec.status = f.status;
        rec.error = f.body["error"].as_str().map(str::to_string);
        record(&st, rec);
        return reply(f.status, f.body, &f.headers);
    }
    let token = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "));
    let wanted = if method == "apps.connections.open" {
        &st.app_token
    } else {
        &st.bot_token
    };
    let answer: Result<Value, &'static str> = match token {
        None => Err("not_authed"),
        Some(t) if t != wanted => Err("invalid_auth"),
        Some(_) => web_method(&st, &method, &json_body),
    };
    let body = match answer {
        Ok(v) => v,
        Err(e) => {
            rec.error = Some(e.to_string());
            json!({"ok": false, "error": e})
        }
    };
    record(&st, rec);
    reply(200, body, &[])
}

fn web_method(st: &St, method: &str, body: &Value) -> Result<Value, &'static str> {
    let mut inner = lock(&st.inner);
    inner.next += 1;
    let n = inner.next;
    match method {
        "chat.postMessage" => {
            let channel = body["channel"]
                .as_str()
                .ok_or("channel_not_found")?
                .to_string();
            check_message(body)?;
            if let Some(thread) = body["thread_ts"].as_str()
                && !inner
                    .messages
                    .get(&channel)
                    .is_some_and(|m| m.contains(thread))
            {
                return Err("thread_not_found");
            }
            let ts = format!("{}.{:06}", n / 1_000_000, n % 1_000_000);
            inner
                .messages
                .entry(channel.clone())
                .or_default()
                .insert(ts.clone());
            Ok(json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": body["text"]}}))
        }
        "files.getUploadURLExternal" => {
            let name = body["filename"].as_str().unwrap_or_default();
            let length: usize = body["length"]
                .as_str()
                .and_then(|l| l.parse().ok())
                .ok_or("invalid_arguments")?;
            if name.is_empty() || length == 0 {
                return Err("invalid_arguments");
            }
            let id = format!("F{n}");
            inner.uploads.insert(id.clone(), 0);
            Ok(json!({"ok": true, "upload_url": format!("{}/upload/{id}", st.base), "file_id": id}))
        }
        "files.completeUploadExternal" => {
            let files = body["files"].as_array().cloned().unwrap_or_default();
            if files.is_empty() {
                return Err("invalid_arguments");
            }
            for f in &files {
                let id = f["id"].as_str().unwrap_or_default();
                if inner.uploads.get(id).is_none_or(|b| *b == 0) {
                    return Err("file_not_found");
                }
            }
            if let (Some(channel), Some(thread)) =
                (body["channel_id"].as_str(), body["thread_ts"].as_str())
                && !inner
                    .messages
                    .get(channel)
                    .is_some_and(|m| m.contains(thread))
            {
                return Err("thread_not_found");
            }
            Ok(json!({"ok": true, "files": files}))
        }
        "usergroups.users.list" => {
            let g = body["usergroup"].as_str().unwrap_or_default();
            let users = inner.groups.get(g).cloned().ok_or("no_such_subteam")?;
            Ok(json!({"ok": true, "users": users}))
        }
        "apps.connections.open" => {
            inner.opened += 1;
            let ws = st.base.replace("http://", "ws://");
            Ok(json!({"ok": true, "url": format!("{ws}/socket?ticket=t{n}")}))
        }
        _ => Err("unknown_method"),
    }
}

async fn response_url(
    State(st): State<St>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = body_json(&headers, &body);
    let mut rec = Recorded {
        method: "response".into(),
        id: id.clone(),
        json: json_body.clone(),
        bytes: body.len(),
        authorization: None,
        at: Instant::now(),
        status: 200,
        error: None,
    };
    if let Some(f) = fault_for(&st, "response") {
        rec.status = f.status;
        record(&st, rec);
        return reply(f.status, f.body, &f.headers);
    }
    let ttl = *lock(&st.ttl);
    let verdict = {
        let mut inner = lock(&st.inner);
        match inner.response_urls.get_mut(&id) {
            None => Err("no_such_url"),
            Some(u) if u.created.elapsed() > ttl => Err("expired_url"),
            Some(u) if u.uses >= RESPONSE_URL_USES => Err("used_url"),
            Some(u) => {
                u.uses += 1;
                check_message(&json_body)
            }
        }
    };
    let (status, body) = match verdict {
        Ok(()) => (200, json!({"ok": true})),
        Err(e @ ("no_such_url" | "expired_url" | "used_url")) => {
            rec.error = Some(e.into());
            (404, json!({"ok": false, "error": e}))
        }
        Err(e) => {
            rec.error = Some(e.into());
            (400, json!({"ok": false, "error": e}))
        }
    };
    rec.status = status;
    record(&st, rec);
    reply(status, body, &[])
}

async fn upload(
    State(st): State<St>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let known = {
        let mut inner = lock(&st.inner);
        match inner.uploads.get_mut(&id) {
            Some(b) => {
                *b = body.len();
                true
            }
            None => false,
        }
    };
    let status = if known && !body.is_empty() { 200 } else { 404 };
    record(
        &st,
        Recorded {
            method: "upload".into(),
            id,
            json: Value::Null,
            bytes: body.len(),
            authorization,
            at: Instant::now(),
            status,
            error: None,
        },
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND),
        format!("OK - {}", body.len()),
    )
        .into_response()
}

async fn socket(State(st): State<St>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| connection(st, socket))
}

async fn connection(st: St, mut socket: WebSocket) {
    let mut control = st.control.subscribe();
    lock(&st.inner).connections += 1;
    st.changed.notify_waiters();
    let hello =
        json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0123456"}});
    let mut open = socket
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_ok();
    // Envelopes sent before this connection came up.
    let _ = st.control.send(json!({"deliver": true}));
    while open {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(WsMessage::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(t.as_str())
                        && let Some(id) = v["envelope_id"].as_str()
                    {
                        lock(&st.inner).acks.insert(id.to_string(), (v["payload"].clone(), Instant::now()));
                        st.changed.notify_waiters();
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
            msg = control.recv() => match msg {
                Ok(m) if m["deliver"] == json!(true) => {
                    let next = lock(&st.inner).pending.pop_front();
                    if let Some(envelope) = next
                        && socket.send(WsMessage::Text(envelope.to_string().into())).await.is_err()
                    {
                        lock(&st.inner).pending.push_front(envelope);
                        open = false;
                    }
                }
                Ok(m) => {
                    let _ = socket.send(WsMessage::Text(m.to_string().into())).await;
                    open = false;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = st.control.send(json!({"deliver": true}));
                }
                Err(_) => open = false,
            },
        }
    }
    lock(&st.inner).connections -= 1;
    st.changed.notify_waiters();
}
