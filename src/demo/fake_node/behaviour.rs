//! [`Behaviour`]s for fault tests: delays, hangs, garbage, huge bodies, bare
//! 500s, and the hostile node that echoes secrets back.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::NodeState;
use super::routes::{detail, error, not_found};
use super::spec::Behaviour;

/// Applies the node's behaviour and delay; `Some` when the behaviour answers instead.
pub(super) async fn fault(state: &NodeState) -> Option<Response> {
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
pub(super) async fn echo(
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
