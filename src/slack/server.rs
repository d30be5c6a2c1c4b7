//! Http mode: Slack POSTs signed, form-encoded requests to
//! `/slack/commands` (slash commands) and `/slack/actions` (button clicks).
//! The signature is checked before anything is parsed (401 otherwise); the
//! answer goes at once and the work runs in a task. `GET /healthz` says "ok".

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::bot::{Handled, SlackBot};
use super::command::{BlockActions, SlashCommand};
use super::verify::{now_secs, verify};

#[derive(Clone)]
struct AppState {
    bot: Arc<SlackBot>,
}

pub fn router(bot: Arc<SlackBot>) -> Router {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/actions", post(actions))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState { bot })
}

fn verified(st: &AppState, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(secret) = st.bot.slack.signing_secret.as_ref() else {
        return false;
    };
    verify(
        secret.expose(),
        header("x-slack-signature"),
        header("x-slack-request-timestamp"),
        body,
        now_secs(),
    )
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "invalid request signature").into_response()
}

fn answer(handled: Handled) -> Response {
    if let Some(work) = handled.work {
        tokio::spawn(crate::memory::returning_memory_after(work));
    }
    match handled.ack {
        Some(v) => axum::Json(v).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

async fn commands(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !verified(&st, &headers, &body) {
        return unauthorized();
    }
    let fields: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    let cmd: SlashCommand = match serde_json::from_value(serde_json::Value::Object(fields)) {
        Ok(c) => c,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("malformed command: {e}")).into_response();
        }
    };
    answer(st.bot.command(cmd).await)
}

async fn actions(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !verified(&st, &headers, &body) {
        return unauthorized();
    }
    let payload = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned());
    let Some(payload) = payload else {
        return (StatusCode::BAD_REQUEST, "no payload").into_response();
    };
    let a: BlockActions = match serde_json::from_str(&payload) {
        Ok(a) => a,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("malformed payload: {e}")).into_response();
        }
    };
    answer(st.bot.action(a).await)
}

/// Serves until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, bot: Arc<SlackBot>) -> std::io::Result<()> {
    axum::serve(listener, router(bot)).await
}
