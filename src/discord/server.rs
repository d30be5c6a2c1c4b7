//! Http mode: Discord POSTs signed interactions; we verify, answer, and run
//! the slow work in a task. `GET /healthz` answers "ok" on the same listener.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ed25519_dalek::VerifyingKey;

use super::bot::Bot;
use super::interaction;
use super::verify::verify;

#[derive(Clone)]
struct AppState {
    bot: Arc<Bot>,
    key: VerifyingKey,
}

/// The interactions endpoint (`POST /` and `POST /interactions`) and `/healthz`.
pub fn router(bot: Arc<Bot>, key: VerifyingKey) -> Router {
    Router::new()
        .route("/", post(interactions))
        .route("/interactions", post(interactions))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState { bot, key })
}

async fn interactions(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Verify before parsing anything.
    if !verify(
        &st.key,
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
        &body,
    ) {
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    let ix = match interaction::parse(&body) {
        Ok(ix) => ix,
        Err(e) => {
            tracing::warn!(error = %e, "malformed interaction refused");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let handled = st.bot.handle(ix).await;
    if let Some(work) = handled.work {
        tokio::spawn(crate::memory::returning_memory_after(work));
    }
    axum::Json(handled.reply).into_response()
}

/// Serves until the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    bot: Arc<Bot>,
    key: VerifyingKey,
) -> std::io::Result<()> {
    axum::serve(listener, router(bot, key)).await
}
