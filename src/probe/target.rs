//! Probe-neutral helpers about targets: where a request goes and what the
//! answers name, shared by every probe that talks to nodes or the balancer.

use std::collections::BTreeSet;

use url::Url;

use crate::http::Answer;
use crate::probe::context::ProbeContext;

/// Subject used for the balancer in findings.
pub const BALANCER: &str = "balancer";

/// Where an app's request can go: every node in scope, then the balancer
/// when one is configured, as (subject, is the balancer, base URL).
pub fn nodes_and_balancer(ctx: &ProbeContext) -> Vec<(String, bool, &Url)> {
    let mut targets: Vec<(String, bool, &Url)> = ctx
        .nodes()
        .into_iter()
        .map(|n| (n.name.clone(), false, &n.url))
        .collect();
    if let Some(b) = &ctx.config.cluster.balancer {
        targets.push((BALANCER.to_string(), true, b));
    }
    targets
}

/// Joins a path onto a node's base URL, keeping any path prefix the base has.
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url
}

/// The model ids of a models list (`{"data": [{"id": ...}]}`), or `None`
/// when the answer is not one.
pub fn model_ids(a: &Answer) -> Option<BTreeSet<String>> {
    let data = a.body.field("data")?;
    let data = data.as_array()?;
    Some(
        data.iter()
            .filter_map(|m| m.get("id").and_then(|i| i.as_str()).map(str::to_string))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_base_path_prefix() {
        let base = Url::parse("http://lb.example/aisbf/").expect("url");
        assert_eq!(
            join(&base, "/health").as_str(),
            "http://lb.example/aisbf/health"
        );
        let base = Url::parse("http://n1:17765").expect("url");
        assert_eq!(
            join(&base, "/api/u/alice/models").as_str(),
            "http://n1:17765/api/u/alice/models"
        );
    }
}
