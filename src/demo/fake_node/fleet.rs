//! A fake fleet: thousands of fake nodes in one process, each on its own
//! loopback address (127.1.x.y), cheap enough that the doctor, not the fleet,
//! is what a scale test or benchmark measures.
//!
//! Nodes of one kind share one router and one state: a fleet of 10,000
//! healthy nodes is 10,000 listening sockets and a handful of routers, not
//! 10,000 copies of a node. A node's identity is its address; its name is
//! only in the config the fleet writes.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::NodeState;
use super::routes::router;
use super::spec::{FakeNodeSpec, FakeResponseCache, ResponseStore, demo};

/// The most nodes a fleet can hold: 127.1.0.1 to 127.1.255.254.
pub const MAX_FLEET: usize = 256 * 254;

/// One node of a fleet.
#[derive(Debug, Clone)]
pub struct FleetNode {
    pub name: String,
    pub addr: SocketAddr,
    /// Which of the fleet's specs this node answers as.
    pub kind: usize,
}

/// Many fake nodes, a few kinds of them, all in this process.
pub struct FakeFleet {
    pub nodes: Vec<FleetNode>,
    handles: Vec<JoinHandle<()>>,
    states: Vec<Arc<NodeState>>,
}

impl FakeFleet {
    /// Starts `n` nodes; node `i` answers as `kinds[pick(i)]` (an index out of
    /// range picks the first kind). Raises this process's open-file limit
    /// first: every node is a listening socket.
    pub async fn start(
        kinds: Vec<FakeNodeSpec>,
        n: usize,
        pick: impl Fn(usize) -> usize,
    ) -> std::io::Result<FakeFleet> {
        if n > MAX_FLEET {
            return Err(std::io::Error::other(format!(
                "a fleet holds at most {MAX_FLEET} nodes"
            )));
        }
        if kinds.is_empty() {
            return Err(std::io::Error::other(
                "a fleet needs at least one kind of node",
            ));
        }
        // Best effort: if the limit cannot be raised, binding says so.
        let _ = rlimit::increase_nofile_limit(u64::MAX);
        let store = ResponseStore::default();
        let states: Vec<Arc<NodeState>> = kinds
            .into_iter()
            .map(|spec| {
                let responses = match &spec.response_cache {
                    FakeResponseCache::Cluster => Some(store.clone()),
                    FakeResponseCache::Shared(s) => Some(s.clone()),
                    FakeResponseCache::Private => Some(ResponseStore::default()),
                    FakeResponseCache::Disabled => None,
                };
                Arc::new(NodeState {
                    spec,
                    responses,
                    requests: AtomicU64::new(0),
                    failing: AtomicBool::new(false),
                })
            })
            .collect();
        let routers: Vec<axum::Router> = states.iter().map(|s| router(s.clone())).collect();
        let mut nodes = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let kind = if pick(i) < routers.len() { pick(i) } else { 0 };
            let listener = TcpListener::bind(SocketAddr::from((fleet_ip(i), 0))).await?;
            let addr = listener.local_addr()?;
            let app = routers[kind].clone();
            handles.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::warn!(error = %e, "fake fleet node stopped");
                }
            }));
            nodes.push(FleetNode {
                name: format!("node-{i:05}"),
                addr,
                kind,
            });
        }
        Ok(FakeFleet {
            nodes,
            handles,
            states,
        })
    }

    /// How many requests the nodes of `kind` have answered (or started to).
    pub fn requests(&self, kind: usize) -> u64 {
        self.states
            .get(kind)
            .map_or(0, |s| s.requests.load(Ordering::Relaxed))
    }

    /// The names of the nodes of `kind`, in fleet order.
    pub fn names_of(&self, kind: usize) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.name.as_str())
            .collect()
    }

    /// `[cluster]` config text for the fleet; tokens come from the given env names.
    pub fn config_toml(
        &self,
        token_var: &str,
        global_token_var: Option<&str>,
        timeout_ms: u64,
    ) -> String {
        let mut s = format!(
            "[cluster]\nname = \"fleet\"\nuser = \"{}\"\ntoken = \"${{{token_var}}}\"\ntimeout_ms = {timeout_ms}\n",
            demo::USER
        );
        if let Some(g) = global_token_var {
            s.push_str(&format!("global_token = \"${{{g}}}\"\n"));
        }
        for n in &self.nodes {
            s.push_str(&format!(
                "[[cluster.nodes]]\nname = \"{}\"\nurl = \"http://{}\"\n",
                n.name, n.addr
            ));
        }
        s
    }
}

impl Drop for FakeFleet {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Node `i`'s address: 127.1.x.y, skipping .0 and .255 in the last byte.
fn fleet_ip(i: usize) -> Ipv4Addr {
    let x = u8::try_from(i / 254).unwrap_or(u8::MAX);
    let y = u8::try_from(i % 254 + 1).unwrap_or(1);
    Ipv4Addr::new(127, 1, x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_addresses_are_distinct_and_never_a_network_or_broadcast_byte() {
        let ips: std::collections::HashSet<Ipv4Addr> = (0..MAX_FLEET).map(fleet_ip).collect();
        assert_eq!(ips.len(), MAX_FLEET);
        assert!(
            ips.iter()
                .all(|ip| ip.octets()[3] != 0 && ip.octets()[3] != 255)
        );
    }
}
