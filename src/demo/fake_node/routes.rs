//! The endpoints a fake node serves, answering as AISBF 0.99.92 does:
//! `{"error"}` from middleware, `{"detail"}` from handlers, `created` changing
//! per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::NodeState;
use super::auth::{api_access, global_auth, mcp_access};
use super::behaviour::{echo, fault};
use super::spec::{Behaviour, FakeRoute};

pub(super) fn router(state: Arc<NodeState>) -> Router {
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

pub(super) fn error(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "error": text }))).into_response()
}

pub(super) fn detail(status: StatusCode, text: &str) -> Response {
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

/// What a user API endpoint answers before its own work: the node's fault, or
/// the auth refusal.
async fn refused_api(s: &NodeState, headers: &HeaderMap, user: &str) -> Option<Response> {
    if let Some(r) = fault(s).await {
        return Some(r);
    }
    api_access(&s.spec, headers, user)
}

/// The same for MCP endpoints.
async fn refused_mcp(s: &NodeState, headers: &HeaderMap, user: &str) -> Option<Response> {
    if let Some(r) = fault(s).await {
        return Some(r);
    }
    mcp_access(&s.spec, headers, user)
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
    if let Some(r) = refused_api(&s, &headers, &user).await {
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
    if let Some(r) = refused_api(&s, &headers, &user).await {
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
    if let Some(r) = refused_api(s, headers, user).await {
        return r;
    }
    let map: serde_json::Map<String, Value> = ids
        .iter()
        .map(|id| (id.clone(), json!({"name": id, "config": {}})))
        .collect();
    axum::Json(json!({ key: map })).into_response()
}

/// AISBF's 404 handler rewrites every 404 detail to this.
pub(super) async fn not_found() -> Response {
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
    if let Some(r) = refused_api(&s, &headers, &user).await {
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

/// The bare MCP path has no route in 0.99.92: auth first, then 404.
async fn mcp_root(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    refused_mcp(&s, &headers, &user)
        .await
        .unwrap_or_else(|| detail(StatusCode::NOT_FOUND, "Not found"))
}

async fn mcp_tools(
    State(s): State<Arc<NodeState>>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused_mcp(&s, &headers, &user).await {
        return r;
    }
    axum::Json(json!({"tools": [{"name": "list_models"}]})).into_response()
}
