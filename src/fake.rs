//! An in-process fake AISBF cluster on loopback ports.
//!
//! Each fake node answers as a real AISBF 0.99.92 node does (see
//! `shared/aisbf-facts.md` and `tests/aisbf-cluster/OBSERVED.md`): the same
//! auth rules and error texts, `created` changing per request, `{"error"}` from
//! middleware and `{"detail"}` from handlers. It powers `aisbf-doctor demo` and
//! the fast tests. Where the real nodes answer differently, fix it here.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// API token scope, as in `user_api_tokens.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    Api,
    Mcp,
    Both,
}

#[derive(Debug, Clone)]
pub struct FakeToken {
    pub user: String,
    pub token: String,
    pub scope: TokenScope,
}

/// How a smoke route answers on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeRoute {
    /// 200 with an OpenAI-shaped completion from this upstream model.
    Answers { model: String },
    /// The provider cannot be reached: 500 `{"detail":"Connection error."}`.
    ProviderDown,
    /// Cooldown or manual disable: 503.
    Unavailable,
    /// 200 with `"aisbf_error": true` (every provider of a rotation failed, notifyerrors on).
    SoftError,
}

/// What the node does with every request, for fault tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Accepts, then never answers.
    Hang,
    /// 200 with bytes that are not JSON nor UTF-8.
    Garbage,
    /// 200 with a JSON body of this many bytes.
    Huge(usize),
    /// Bare-text 500, like an unhandled exception in AISBF.
    ServerError,
    /// A hostile node for the secrets test: echoes the request's
    /// `Authorization` header and these strings (config secrets) back in JSON
    /// bodies, error texts, bare-text 500s and `Location` headers.
    Echo(Vec<String>),
}

/// Stored chat answers by request key, like AISBF's response cache in Redis.
pub type ResponseStore = Arc<Mutex<HashMap<String, Value>>>;

/// Where a node's response cache lives. AISBF answers a cache hit with the
/// stored body, so nodes sharing one store repeat the same `id`.
#[derive(Debug, Clone)]
pub enum FakeResponseCache {
    /// The store shared by every `Cluster` node of one [`FakeCluster`] (one
    /// Redis); a node started alone gets a store of its own.
    Cluster,
    /// This store, shared with whichever nodes hold a clone of it.
    Shared(ResponseStore),
    /// Its own memory cache: Redis was unreachable when the node started.
    Private,
    /// `response_cache.enabled = false`: every request goes upstream.
    Disabled,
}

/// One fake node's state: what its own config files and database hold.
#[derive(Debug, Clone)]
pub struct FakeNodeSpec {
    pub name: String,
    pub version: String,
    pub auth_enabled: bool,
    pub global_tokens: Vec<String>,
    /// User tokens in this node's database.
    pub tokens: Vec<FakeToken>,
    /// Users' model ids as this node lists them on /api/u/{user}/models (one
    /// list for every user). Like 0.99.92, only rotations and autoselects.
    pub models: Vec<String>,
    /// Users' provider ids, listed on /api/u/{user}/providers.
    pub user_providers: Vec<String>,
    /// Users' rotation ids, listed on /api/u/{user}/rotations.
    pub user_rotations: Vec<String>,
    /// Users' autoselect ids, listed on /api/u/{user}/autoselects.
    pub user_autoselects: Vec<String>,
    pub providers: Vec<String>,
    pub rotations: Vec<String>,
    pub autoselect: Vec<String>,
    pub routes: BTreeMap<String, FakeRoute>,
    pub behaviour: Behaviour,
    /// Added before every answer.
    pub delay: Duration,
    /// Added before the node's first answer only (a cold start).
    pub first_delay: Duration,
    pub response_cache: FakeResponseCache,
}

/// The user, tokens and routes of the demo and of most fast tests.
pub mod demo {
    pub const USER: &str = "alice";
    pub const TOKEN: &str = "demo-alice-token-0001";
    pub const MCP_TOKEN: &str = "demo-alice-mcp-token-0001";
    pub const BOB_TOKEN: &str = "demo-bob-token-0001";
    pub const GLOBAL_TOKEN: &str = "demo-global-token-0001";
    pub const ROUTE_OK: &str = "user-provider/local-ollama";
    pub const ROUTE_ROTATION: &str = "user-rotation/support-private-rotation";
}

impl FakeNodeSpec {
    /// A healthy node of the demo cluster.
    pub fn healthy(name: &str) -> Self {
        let mut routes = BTreeMap::new();
        routes.insert(
            demo::ROUTE_OK.to_string(),
            FakeRoute::Answers {
                model: "llama3".into(),
            },
        );
        routes.insert(
            demo::ROUTE_ROTATION.to_string(),
            FakeRoute::Answers {
                model: "gpt-4o-mini".into(),
            },
        );
        Self {
            name: name.into(),
            version: "0.99.92".into(),
            auth_enabled: true,
            global_tokens: vec![demo::GLOBAL_TOKEN.into()],
            tokens: vec![
                FakeToken {
                    user: demo::USER.into(),
                    token: demo::TOKEN.into(),
                    scope: TokenScope::Both,
                },
                FakeToken {
                    user: demo::USER.into(),
                    token: demo::MCP_TOKEN.into(),
                    scope: TokenScope::Mcp,
                },
                FakeToken {
                    user: "bob".into(),
                    token: demo::BOB_TOKEN.into(),
                    scope: TokenScope::Both,
                },
            ],
            models: vec![
                "rotation/support-private-rotation".into(),
                "autoselect/chat-default".into(),
            ],
            user_providers: vec!["local-ollama".into(), "openai-team".into()],
            user_rotations: vec!["support-private-rotation".into()],
            user_autoselects: vec!["chat-default".into()],
            providers: vec!["openai".into(), "anthropic".into(), "ollama".into()],
            rotations: vec!["default-rotation".into()],
            autoselect: vec!["autoselect".into()],
            routes,
            behaviour: Behaviour::Normal,
            delay: Duration::ZERO,
            first_delay: Duration::ZERO,
            response_cache: FakeResponseCache::Cluster,
        }
    }

    /// A node that silently runs on its own SQLite file: its database knows no
    /// users, so it rejects every user token and lists no user models.
    pub fn on_private_sqlite(name: &str) -> Self {
        let mut spec = Self::healthy(name);
        spec.tokens.clear();
        spec.models.clear();
        spec.user_providers.clear();
        spec.user_rotations.clear();
        spec.user_autoselects.clear();
        spec
    }
}

struct NodeState {
    spec: FakeNodeSpec,
    /// The resolved response cache (`None` when disabled).
    responses: Option<ResponseStore>,
    requests: AtomicU64,
    /// Runtime switch: answer every request with a bare 500 (watch-mode tests).
    failing: AtomicBool,
}

/// A running fake node.
pub struct FakeNode {
    pub name: String,
    pub addr: SocketAddr,
    handle: Option<JoinHandle<()>>,
    state: Arc<NodeState>,
}

impl FakeNode {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests this node has answered (or started to).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Flips the node between its spec and a node that answers every request
    /// with a bare 500, while it keeps running (for watch-mode tests).
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::Relaxed);
    }

    /// Stops listening: later connections are refused.
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts one fake node on an ephemeral loopback port.
pub async fn start_node(spec: FakeNodeSpec) -> std::io::Result<FakeNode> {
    start_node_in(spec, &ResponseStore::default()).await
}

/// Starts one fake node; a `Cluster` response cache resolves to `cluster_store`.
async fn start_node_in(
    spec: FakeNodeSpec,
    cluster_store: &ResponseStore,
) -> std::io::Result<FakeNode> {
    let responses = match &spec.response_cache {
        FakeResponseCache::Cluster => Some(cluster_store.clone()),
        FakeResponseCache::Shared(store) => Some(store.clone()),
        FakeResponseCache::Private => Some(ResponseStore::default()),
        FakeResponseCache::Disabled => None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let name = spec.name.clone();
    let state = Arc::new(NodeState {
        spec,
        responses,
        requests: AtomicU64::new(0),
        failing: AtomicBool::new(false),
    });
    let app = router(state.clone());
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "fake node stopped");
        }
    });
    Ok(FakeNode {
        name,
        addr,
        handle: Some(handle),
        state,
    })
}

/// A set of fake nodes.
pub struct FakeCluster {
    pub nodes: Vec<FakeNode>,
}

impl FakeCluster {
    pub async fn start(specs: Vec<FakeNodeSpec>) -> std::io::Result<Self> {
        let store = ResponseStore::default();
        let mut nodes = Vec::with_capacity(specs.len());
        for spec in specs {
            nodes.push(start_node_in(spec, &store).await?);
        }
        Ok(Self { nodes })
    }

    /// The demo: three nodes, `aisbf-3` drifted onto its own SQLite.
    pub async fn demo() -> std::io::Result<Self> {
        Self::start(vec![
            FakeNodeSpec::healthy("aisbf-1"),
            FakeNodeSpec::healthy("aisbf-2"),
            FakeNodeSpec::on_private_sqlite("aisbf-3"),
        ])
        .await
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut FakeNode> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// `[cluster]` config text for this cluster; tokens come from the given env names.
    pub fn config_toml(
        &self,
        token_var: &str,
        global_token_var: Option<&str>,
        timeout_ms: u64,
    ) -> String {
        let mut s = format!(
            "[cluster]\nname = \"fake\"\nuser = \"{}\"\ntoken = \"${{{token_var}}}\"\ntimeout_ms = {timeout_ms}\n",
            demo::USER
        );
        if let Some(g) = global_token_var {
            s.push_str(&format!("global_token = \"${{{g}}}\"\n"));
        }
        for n in &self.nodes {
            s.push_str(&format!(
                "[[cluster.nodes]]\nname = \"{}\"\nurl = \"{}\"\n",
                n.name,
                n.url()
            ));
        }
        s
    }
}

fn router(state: Arc<NodeState>) -> Router {
    if matches!(state.spec.behaviour, Behaviour::Echo(_)) {
        return Router::new().fallback(echo).with_state(state);
    }
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/api/version", get(version))
        .route("/api/v1/models", get(public_models))
        .route("/api/u/{user}/models", get(user_models))
        .route("/api/u/{user}/providers", get(user_providers))
        .route("/api/u/{user}/rotations", get(user_rotations))
        .route("/api/u/{user}/autoselects", get(user_autoselects))
        .route("/api/u/{user}/chat/completions", post(chat))
        .route("/mcp/u/{user}", get(mcp_root))
        .route("/mcp/u/{user}/", get(mcp_root))
        .route("/mcp/u/{user}/tools", get(mcp_tools))
        .fallback(not_found)
        .with_state(state)
}

fn error(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "error": text }))).into_response()
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "detail": text }))).into_response()
}

/// Completion ids, unique across every fake node of the process.
static CHAT_SEQ: AtomicU64 = AtomicU64::new(1);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Applies the node's behaviour and delay; `Some` when the behaviour answers instead.
async fn fault(state: &NodeState) -> Option<Response> {
    let first = state.requests.fetch_add(1, Ordering::Relaxed) == 0;
    if first && !state.spec.first_delay.is_zero() {
        tokio::time::sleep(state.spec.first_delay).await;
    }
    if state.failing.load(Ordering::Relaxed) {
        return Some((StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response());
    }
    if !state.spec.delay.is_zero() {
        tokio::time::sleep(state.spec.delay).await;
    }
    match &state.spec.behaviour {
        Behaviour::Normal => None,
        Behaviour::Hang => {
            // Never answer; the client's timeout must end this.
            std::future::pending::<()>().await;
            None
        }
        Behaviour::Garbage => Some(
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(vec![0xff, 0xfe, b'{', b'g', 0x00, 0xc3]))
                .unwrap_or_default(),
        ),
        Behaviour::Huge(n) => {
            // Streamed in chunks, so a 50 MB answer costs no 50 MB buffer.
            const CHUNK: usize = 64 * 1024;
            let head = axum::body::Bytes::from_static(b"{\"pad\":\"");
            let pad = axum::body::Bytes::from(vec![b'x'; CHUNK]);
            let chunks = n.saturating_sub(16) / CHUNK;
            let tail = axum::body::Bytes::from_static(b"\"}");
            let parts = std::iter::once(head)
                .chain(std::iter::repeat_n(pad, chunks))
                .chain(std::iter::once(tail))
                .map(Ok::<_, std::convert::Infallible>);
            Some(
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from_stream(futures::stream::iter(parts)))
                    .unwrap_or_default(),
            )
        }
        Behaviour::ServerError => {
            Some((StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response())
        }
        Behaviour::Echo(_) => None,
    }
}

/// [`Behaviour::Echo`]: every path leaks what it was sent, each in another way.
async fn echo(
    State(s): State<Arc<NodeState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    let Behaviour::Echo(secrets) = &s.spec.behaviour else {
        return not_found().await;
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let leak = format!("{auth} {}", secrets.join(" "));
    let path = uri.path();
    if path == "/" {
        return axum::Json(json!({
            "message": format!("AI Proxy Server is running {leak}"),
            "providers": { leak.clone(): {"id": leak} },
        }))
        .into_response();
    }
    if path == "/health" {
        return error(StatusCode::UNAUTHORIZED, &format!("Invalid token: {leak}"));
    }
    if path == "/api/version" || path.starts_with("/mcp/") {
        let location = format!(
            "http://127.0.0.1:9/steal?auth={auth}&s={}",
            secrets.join(",")
        );
        return Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location.replace(' ', "%20"))
            .body(Body::from(leak))
            .unwrap_or_default();
    }
    if path.ends_with("/providers") {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Traceback: {leak}"),
        )
            .into_response();
    }
    if path.ends_with("/chat/completions") {
        return detail(StatusCode::BAD_GATEWAY, &format!("upstream said {leak}"));
    }
    error(
        StatusCode::FORBIDDEN,
        &format!("Invalid authentication token {leak}"),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // AISBF does not trim: trailing whitespace makes a valid token unknown.
    v.strip_prefix("Bearer ")
}

/// AISBF's global-endpoint auth.
fn global_auth(spec: &FakeNodeSpec, headers: &HeaderMap) -> Option<Response> {
    if !spec.auth_enabled {
        return None;
    }
    let Some(token) = bearer(headers) else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Missing or invalid Authorization header.",
        ));
    };
    if spec.global_tokens.iter().any(|t| t == token) {
        return None;
    }
    if spec.tokens.iter().any(|t| t.token == token) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "User tokens cannot access global endpoints.",
        ));
    }
    Some(error(StatusCode::FORBIDDEN, "Invalid authentication token"))
}

/// A refusal: status and AISBF's `{"error"}` text.
type Refusal = (StatusCode, &'static str);

/// AISBF's user-endpoint auth: `Ok(scope)` or the refusal.
fn user_auth(spec: &FakeNodeSpec, headers: &HeaderMap, user: &str) -> Result<TokenScope, Refusal> {
    if !spec.auth_enabled {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Authentication required. Use a valid API token.",
        ));
    }
    let Some(token) = bearer(headers) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Missing or invalid Authorization header.",
        ));
    };
    if spec.global_tokens.iter().any(|t| t == token) {
        return Err((
            StatusCode::FORBIDDEN,
            "Global tokens cannot access user-specific endpoints.",
        ));
    }
    let Some(t) = spec.tokens.iter().find(|t| t.token == token) else {
        return Err((StatusCode::FORBIDDEN, "Invalid authentication token"));
    };
    if t.user != user {
        return Err((
            StatusCode::FORBIDDEN,
            "You can only access your own user-specific endpoints.",
        ));
    }
    Ok(t.scope)
}

fn api_access(spec: &FakeNodeSpec, headers: &HeaderMap, user: &str) -> Option<Response> {
    match user_auth(spec, headers, user) {
        Err((status, text)) => Some(error(status, text)),
        Ok(TokenScope::Mcp) => Some(error(
            StatusCode::FORBIDDEN,
            "This token does not have API access.",
        )),
        Ok(_) => None,
    }
}

async fn root(State(s): State<Arc<NodeState>>) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    axum::Json(json!({
        "message": "AI Proxy Server is running",
        "providers": s.spec.providers,
        "rotations": s.spec.rotations,
        "autoselect": s.spec.autoselect,
    }))
    .into_response()
}

async fn health(State(s): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    if let Some(r) = global_auth(&s.spec, &headers) {
        return r;
    }
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn version(State(s): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    if let Some(r) = global_auth(&s.spec, &headers) {
        return r;
    }
    axum::Json(json!({"version": s.spec.version})).into_response()
}

async fn public_models(State(s): State<Arc<NodeState>>) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    let data: Vec<Value> = s
        .spec
        .providers
        .iter()
        .map(|p| json!({"id": p, "object": "model", "created": now()}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn user_models(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    if let Some(r) = api_access(&s.spec, &headers, &user) {
        return r;
    }
    let data: Vec<Value> = s
        .spec
        .models
        .iter()
        .map(|id| {
            let kind = id.split('/').next().unwrap_or("rotation");
            json!({"id": id, "object": "model", "type": kind, "source": "user_config", "created": now()})
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn user_providers(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    if let Some(r) = api_access(&s.spec, &headers, &user) {
        return r;
    }
    let providers: serde_json::Map<String, Value> = s
        .spec
        .user_providers
        .iter()
        .map(|p| {
            (
                p.clone(),
                json!({"name": p, "type": "unknown", "endpoint": null, "models_count": 0, "config": {}}),
            )
        })
        .collect();
    axum::Json(json!({ "providers": providers })).into_response()
}

/// `{"rotations": {"<id>": {...}}}`: only the keys matter.
async fn user_rotations(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    user_ids(&s, &user, &headers, "rotations", &s.spec.user_rotations).await
}

/// `{"autoselects": {"<id>": {...}}}`: only the keys matter.
async fn user_autoselects(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    user_ids(&s, &user, &headers, "autoselects", &s.spec.user_autoselects).await
}

async fn user_ids(
    s: &NodeState,
    user: &str,
    headers: &HeaderMap,
    key: &str,
    ids: &[String],
) -> Response {
    if let Some(r) = fault(s).await {
        return r;
    }
    if let Some(r) = api_access(&s.spec, headers, user) {
        return r;
    }
    let map: serde_json::Map<String, Value> = ids
        .iter()
        .map(|id| (id.clone(), json!({"name": id, "config": {}})))
        .collect();
    axum::Json(json!({ key: map })).into_response()
}

/// AISBF's 404 handler rewrites every 404 detail to this.
async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not found")
}

const GLOBAL_DETAIL: &str = "Model must be in format 'provider/model', 'rotation/name', or 'autoselect/name'. Global configurations are only available to admin users.";

const FORMAT_DETAIL: &str = "Model must be in format 'provider/model', 'rotation/name', 'autoselect/name', 'user-provider/name', 'user-rotation/name' or 'user-autoselect/name'";

async fn chat(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    if let Some(r) = api_access(&s.spec, &headers, &user) {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "Invalid JSON body");
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or_default();
    let parts: Vec<&str> = model.split('/').collect();
    match parts.as_slice() {
        [_, _, _, ..] => return not_found().await,
        ["provider" | "rotation" | "autoselect", _] => {
            return detail(StatusCode::BAD_REQUEST, GLOBAL_DETAIL);
        }
        ["user-provider" | "user-rotation" | "user-autoselect", _] => {}
        _ => return detail(StatusCode::BAD_REQUEST, FORMAT_DETAIL),
    }
    match s.spec.routes.get(model) {
        Some(FakeRoute::Answers { model: upstream }) => {
            // AISBF's key: endpoint, model, messages, temperature.
            let key = format!(
                "endpoint:{upstream}|model:{model}|msgs:{}|temp:{}",
                req.get("messages").unwrap_or(&Value::Null),
                req.get("temperature").unwrap_or(&Value::Null)
            );
            let fresh = || {
                json!({
                    "id": format!("chatcmpl-fake-{}", CHAT_SEQ.fetch_add(1, Ordering::Relaxed)),
                    "object": "chat.completion",
                    "created": now(),
                    "model": upstream,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })
            };
            let answer = match &s.responses {
                Some(store) => {
                    let mut map = store.lock().unwrap_or_else(|e| e.into_inner());
                    map.entry(key).or_insert_with(fresh).clone()
                }
                None => fresh(),
            };
            axum::Json(answer).into_response()
        }
        Some(FakeRoute::ProviderDown) => {
            detail(StatusCode::INTERNAL_SERVER_ERROR, "Connection error.")
        }
        Some(FakeRoute::Unavailable) => detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Provider temporarily unavailable",
        ),
        Some(FakeRoute::SoftError) => axum::Json(json!({
            "aisbf_error": true,
            "error": {"message": "All providers in rotation failed"},
        }))
        .into_response(),
        None => {
            let (kind, name) = model.split_once('/').unwrap_or_default();
            let kind = kind.trim_start_matches("user-").replace('-', " ");
            detail(
                StatusCode::BAD_REQUEST,
                &format!(
                    "User {kind} '{name}' not found. Available: {:?}",
                    s.spec.user_providers
                ),
            )
        }
    }
}

fn mcp_access(spec: &FakeNodeSpec, headers: &HeaderMap, user: &str) -> Option<Response> {
    match user_auth(spec, headers, user) {
        Err((status, text)) => Some(error(status, text)),
        Ok(TokenScope::Api) => Some(error(
            StatusCode::FORBIDDEN,
            "This token does not have MCP access.",
        )),
        Ok(_) => None,
    }
}

/// The bare MCP path has no route in 0.99.92: auth first, then 404.
async fn mcp_root(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    mcp_access(&s.spec, &headers, &user)
        .unwrap_or_else(|| detail(StatusCode::NOT_FOUND, "Not found"))
}

async fn mcp_tools(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    if let Some(r) = mcp_access(&s.spec, &headers, &user) {
        return r;
    }
    axum::Json(json!({"tools": [{"name": "list_models"}]})).into_response()
}

/// A round-robin HTTP load balancer in front of some members (any URLs, dead or
/// alive), like an nginx upstream that still lists a removed node. A dead
/// member answers 502, as nginx does.
pub struct FakeBalancer {
    pub addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl FakeBalancer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeBalancer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

struct BalancerState {
    members: Vec<String>,
    next: AtomicU64,
    client: reqwest::Client,
}

pub async fn start_balancer(members: Vec<String>) -> std::io::Result<FakeBalancer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(std::io::Error::other)?;
    let state = Arc::new(BalancerState {
        members,
        next: AtomicU64::new(0),
        client,
    });
    let app = Router::new().fallback(forward).with_state(state);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "fake balancer stopped");
        }
    });
    Ok(FakeBalancer { addr, handle })
}

async fn forward(State(s): State<Arc<BalancerState>>, req: axum::extract::Request) -> Response {
    if s.members.is_empty() {
        return (StatusCode::BAD_GATEWAY, "no members").into_response();
    }
    let i = s.next.fetch_add(1, Ordering::Relaxed) as usize % s.members.len();
    let member = &s.members[i];
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let method = req.method().clone();
    let auth = req.headers().get(header::AUTHORIZATION).cloned();
    let Ok(body) = axum::body::to_bytes(req.into_body(), 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "body too large").into_response();
    };
    let mut out = s
        .client
        .request(method, format!("{member}{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(a) = auth {
        out = out.header(header::AUTHORIZATION, a);
    }
    match out.send().await {
        Ok(resp) => {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, bytes).into_response()
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
    }
}
