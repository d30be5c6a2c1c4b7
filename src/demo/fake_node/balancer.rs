//! A fake round-robin load balancer in front of fake (or dead) nodes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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

/// Starts a balancer over `members` on an ephemeral loopback port.
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
