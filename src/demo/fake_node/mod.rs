//! An in-process fake AISBF cluster on loopback ports.
//!
//! Each fake node answers as a real AISBF 0.99.92 node does (see
//! `shared/aisbf-facts.md` and `tests/aisbf-cluster/OBSERVED.md`): the same
//! auth rules and error texts, `created` changing per request, `{"error"}` from
//! middleware and `{"detail"}` from handlers. It powers `aisbf-doctor demo` and
//! the fast tests. Where the real nodes answer differently, fix it here.
//!
//! [`spec`] says what a node is, [`routes`] what it answers, [`auth`] whom it
//! lets in, [`behaviour`] how it misbehaves; [`balancer`] fronts several;
//! [`fleet`] serves thousands from one process for scale tests and benches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

mod auth;
mod balancer;
mod behaviour;
mod fleet;
mod routes;
mod spec;

pub use balancer::{FakeBalancer, start_balancer};
pub use fleet::{FakeFleet, FleetNode, MAX_FLEET};
pub use spec::{
    Behaviour, FakeNodeSpec, FakeResponseCache, FakeRoute, FakeToken, ResponseStore, TokenScope,
    demo,
};

use routes::router;

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
