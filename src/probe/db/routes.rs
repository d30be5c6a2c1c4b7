//! The user's routes as each node serves them against the database's: AISBF
//! caches them per process at first use and never refreshes them.

use std::collections::BTreeSet;

use super::finding;
use super::observe::UserRoutes;
use crate::finding::{Code, Finding, Severity, name_few};
use crate::http::{Http, Outcome};
use crate::secret::Secret;

/// The ids under `key` of a 200 JSON answer (`{"providers":{"<id>":{...}}}`).
fn route_ids(outcome: &Outcome, key: &str) -> Option<BTreeSet<String>> {
    let answer = outcome.as_ref().ok()?;
    if answer.status != 200 {
        return None;
    }
    match answer.body.field(key)? {
        serde_json::Value::Object(ids) => Some(ids.into_iter().map(|(k, _)| k).collect()),
        _ => None,
    }
}

/// One node's lists of the user's routes, asked with the user token.
pub async fn node_routes(http: &Http, base: &url::Url, user: &str, token: &Secret) -> UserRoutes {
    let url = |kind: &str| crate::probe::target::join(base, &format!("/api/u/{user}/{kind}"));
    let (p, r, a) = (url("providers"), url("rotations"), url("autoselects"));
    let (p, r, a) = tokio::join!(
        http.get(&p, Some(token)),
        http.get(&r, Some(token)),
        http.get(&a, Some(token)),
    );
    UserRoutes {
        providers: route_ids(&p, "providers"),
        rotations: route_ids(&r, "rotations"),
        autoselects: route_ids(&a, "autoselects"),
    }
}

/// Pure: each node's user routes against the database's. A node that
/// disagrees with the database is stale even when most nodes agree with it.
/// Nodes whose lists could not be read are left out (the health probe says why).
pub fn route_findings(
    user: &str,
    in_db: &UserRoutes,
    nodes: &[(String, UserRoutes)],
) -> Vec<Finding> {
    let mut stale = Vec::new();
    let mut fresh = Vec::new();
    for (node, seen) in nodes {
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        let mut compared = Vec::new();
        for ((kind, db_ids), (_, node_ids)) in in_db.kinds().into_iter().zip(seen.kinds()) {
            let (Some(db_ids), Some(node_ids)) = (db_ids, node_ids) else {
                continue;
            };
            compared.push(format!("{kind}s ({})", db_ids.len()));
            missing.extend(db_ids.difference(node_ids).map(|id| format!("{kind} {id}")));
            extra.extend(node_ids.difference(db_ids).map(|id| format!("{kind} {id}")));
        }
        if compared.is_empty() {
            continue;
        }
        if missing.is_empty() && extra.is_empty() {
            fresh.push((node, compared));
        } else {
            stale.push((node, missing, extra));
        }
    }
    let compared = stale.len() + fresh.len();
    let mut out = Vec::new();
    for (node, missing, extra) in &stale {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "missing {} (in the database)",
                name_few(missing, 8, "more")
            ));
        }
        if !extra.is_empty() {
            parts.push(format!(
                "extra {} (no longer in the database)",
                name_few(extra, 8, "more")
            ));
        }
        let mut message = format!(
            "{node} serves stale user routes for {user:?}: {}. AISBF caches a user's routes per process at first use and never refreshes them, so {node} does not see dashboard changes",
            parts.join("; ")
        );
        if stale.len() * 2 >= compared && compared > 1 {
            message.push_str(&format!(
                " ({} of {compared} nodes are stale: the database is the truth, not the majority)",
                stale.len()
            ));
        }
        out.push(finding(
            Severity::Fail,
            node,
            Code::NodeRoutesStale,
            message,
        ));
    }
    for (node, kinds) in fresh {
        out.push(finding(
            Severity::Ok,
            node,
            Code::NodeRoutesMatchDb,
            format!(
                "{node}'s user routes for {user:?} match the database: {}",
                kinds.join(", ")
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;

    fn codes(f: &[Finding]) -> Vec<Code> {
        f.iter().map(|f| f.code).collect()
    }

    fn routes(p: &[&str], r: &[&str], a: &[&str]) -> UserRoutes {
        let set = |x: &[&str]| Some(x.iter().map(|s| s.to_string()).collect());
        UserRoutes {
            providers: set(p),
            rotations: set(r),
            autoselects: set(a),
        }
    }

    #[test]
    fn a_stale_majority_is_stale_and_the_fresh_node_matches() {
        let db = routes(&["local-ollama"], &["new-rot"], &["chat-default"]);
        let stale = routes(&["local-ollama", "old-provider"], &[], &["chat-default"]);
        let f = route_findings(
            "alice",
            &db,
            &[
                ("aisbf-1".into(), stale.clone()),
                ("aisbf-2".into(), stale),
                ("aisbf-3".into(), db.clone()),
            ],
        );
        assert_eq!(
            codes(&f),
            [
                Code::NodeRoutesStale,
                Code::NodeRoutesStale,
                Code::NodeRoutesMatchDb
            ]
        );
        assert_eq!(f[0].subject, "aisbf-1");
        assert_eq!(f[0].severity, Severity::Fail);
        assert!(
            f[0].message.contains("missing rotation new-rot"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("extra provider old-provider"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("not the majority"),
            "{}",
            f[0].message
        );
        assert_eq!(f[2].subject, "aisbf-3");
    }

    #[test]
    fn unreadable_node_lists_are_not_compared() {
        let db = routes(&["p"], &[], &[]);
        let partial = UserRoutes {
            providers: Some(["p".to_string()].into()),
            ..UserRoutes::default()
        };
        let f = route_findings(
            "alice",
            &db,
            &[
                ("down".into(), UserRoutes::default()),
                ("half".into(), partial),
            ],
        );
        assert_eq!(codes(&f), [Code::NodeRoutesMatchDb]);
        assert_eq!(f[0].subject, "half");
        assert!(f[0].message.contains("providers (1)"), "{}", f[0].message);
    }
}
