//! Which nodes hold a connection to Redis: the nodes' addresses against the
//! clients in CLIENT LIST (only when the addresses tell the nodes apart).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::finding;
use crate::finding::{Code, Finding, Severity};

/// Each node's host addresses: the IP in its URL, or what its name resolves to
/// (empty when it does not resolve in time).
pub(super) async fn node_addresses(
    nodes: &[(String, url::Url)],
    timeout: Duration,
) -> Vec<(String, BTreeSet<IpAddr>)> {
    let mut out = Vec::with_capacity(nodes.len());
    for (name, url) in nodes {
        let port = url.port_or_known_default().unwrap_or(80);
        let ips: BTreeSet<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => BTreeSet::from([IpAddr::V4(ip)]),
            Some(url::Host::Ipv6(ip)) => BTreeSet::from([IpAddr::V6(ip)]),
            Some(url::Host::Domain(d)) => {
                match tokio::time::timeout(timeout, tokio::net::lookup_host((d, port))).await {
                    Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                    _ => BTreeSet::new(),
                }
            }
            None => BTreeSet::new(),
        };
        out.push((name.clone(), ips));
    }
    out
}

/// Pure: the node addresses tell the nodes apart (at least two nodes, each with
/// an address, none shared with another node). Nodes on one host, or behind
/// names that do not resolve, cannot be matched with Redis clients.
pub fn distinct_addresses(nodes: &[(String, BTreeSet<IpAddr>)]) -> bool {
    nodes.len() >= 2
        && nodes.iter().all(|(_, ips)| !ips.is_empty())
        && nodes
            .iter()
            .enumerate()
            .all(|(i, (_, a))| nodes.iter().skip(i + 1).all(|(_, b)| a.is_disjoint(b)))
}

/// Pure: the client IPs in a `CLIENT LIST` answer (`addr=ip:port`, IPv6 in brackets or not).
pub fn client_ips(list: &str) -> BTreeSet<IpAddr> {
    list.lines()
        .filter_map(|line| {
            let addr = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("addr="))?;
            let (ip, _port) = addr.rsplit_once(':')?;
            ip.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        })
        .collect()
}

/// Pure: nodes none of whose addresses has a client connection to Redis.
pub fn connection_findings(
    nodes: &[(String, BTreeSet<IpAddr>)],
    clients: &BTreeSet<IpAddr>,
) -> Vec<Finding> {
    nodes
        .iter()
        .filter(|(_, ips)| ips.is_disjoint(clients))
        .map(|(name, ips)| {
            let ips: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
            finding(
                Severity::Warn,
                name,
                Code::CacheNodeNotConnected,
                format!(
                    "no Redis client is connected from {name}'s address ({}): {name} does not use this Redis (its aisbf.json points at another Redis, or it fell back to a private cache), unless it reaches Redis through another address or has not used its cache since it started",
                    ips.join(", ")
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn node_address_without_a_redis_client_is_not_connected() {
        let list = "id=3 addr=127.0.0.2:50412 laddr=127.0.0.1:6379 fd=8 name= db=0 cmd=client|list\nid=4 addr=[::1]:4000 fd=9\n";
        assert_eq!(client_ips(list), ips(&["127.0.0.2", "::1"]));
        let nodes = vec![
            ("aisbf-1".to_string(), ips(&["127.0.0.2"])),
            ("aisbf-2".to_string(), ips(&["127.0.0.3"])),
            ("aisbf-3".to_string(), ips(&["::1"])),
        ];
        assert!(distinct_addresses(&nodes));
        let f = connection_findings(&nodes, &client_ips(list));
        let got: Vec<(&str, Code)> = f.iter().map(|f| (f.subject.as_str(), f.code)).collect();
        assert_eq!(got, vec![("aisbf-2", Code::CacheNodeNotConnected)]);
    }

    #[test]
    fn nodes_on_one_address_or_unresolved_are_not_matched_with_clients() {
        let same = vec![
            ("a".to_string(), ips(&["127.0.0.1"])),
            ("b".to_string(), ips(&["127.0.0.1"])),
        ];
        assert!(!distinct_addresses(&same));
        let unresolved = vec![
            ("a".to_string(), ips(&["10.0.0.1"])),
            ("b".to_string(), ips(&[])),
        ];
        assert!(!distinct_addresses(&unresolved));
        assert!(!distinct_addresses(&[(
            "a".to_string(),
            ips(&["10.0.0.1"])
        )]));
    }
}
