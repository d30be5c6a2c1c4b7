//! Pure checks of the key prefixes: environments must not contain each
//! other's, and every node's aisbf.json must use the cluster's.

use super::finding;
use crate::aisbf_json::NodeData;
use crate::config::Cache;
use crate::finding::{Code, Finding, Severity};

/// Pure: prefixes of different environments must not contain each other.
pub fn prefix_findings(cache: &Cache) -> Vec<Finding> {
    let mut envs: Vec<(&str, &str)> = vec![
        ("this cluster", cache.prefix.as_str()),
        ("this cluster", cache.response_prefix.as_str()),
    ];
    for e in &cache.other_environments {
        envs.push((e.name.as_str(), e.prefix.as_str()));
    }
    let mut out = Vec::new();
    for (i, (an, ap)) in envs.iter().enumerate() {
        for (bn, bp) in envs.iter().skip(i + 1) {
            if an == bn || !(ap.starts_with(bp) || bp.starts_with(ap)) {
                continue;
            }
            let (short, long) = if ap.len() <= bp.len() {
                (ap, bp)
            } else {
                (bp, ap)
            };
            let subject = if *an == "this cluster" { *bn } else { *an };
            out.push(finding(
                Severity::Fail,
                subject,
                Code::CachePrefixOverlap,
                format!(
                    "prefix {short:?} ({}) contains {long:?} ({}): clearing one environment's cache (AISBF runs KEYS {short}*) deletes the other's keys",
                    if short == ap { an } else { bn },
                    if long == ap { an } else { bn },
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(finding(
            Severity::Ok,
            "prefixes",
            Code::CachePrefixesOk,
            format!(
                "prefixes {:?} and {:?} overlap no other environment's ({} declared)",
                cache.prefix,
                cache.response_prefix,
                cache.other_environments.len()
            ),
        ));
    }
    out
}

/// Pure: each node's aisbf.json cache prefixes against the cluster's.
pub fn compare_nodes(cache: &Cache, nodes: &[(String, Result<NodeData, String>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, data) in nodes {
        let d = match data {
            Ok(d) => d,
            Err(e) => {
                out.push(finding(
                    Severity::Warn,
                    name,
                    Code::NodeConfigUnreadable,
                    format!("cannot compare {name}'s cache config: {e}"),
                ));
                continue;
            }
        };
        let mut diffs = Vec::new();
        if d.cache_prefix != cache.prefix {
            diffs.push(format!(
                "cache prefix {:?} (cluster: {:?})",
                d.cache_prefix, cache.prefix
            ));
        }
        if d.response_prefix != cache.response_prefix {
            diffs.push(format!(
                "response-cache prefix {:?} (cluster: {:?})",
                d.response_prefix, cache.response_prefix
            ));
        }
        if !diffs.is_empty() {
            out.push(finding(
                Severity::Fail,
                name,
                Code::CacheNodePrefixDiffers,
                format!(
                    "{name}'s aisbf.json uses {}: it does not share the cluster's cache",
                    diffs.join(" and ")
                ),
            ));
            continue;
        }
        let private: Vec<String> = [
            ("cache type", &d.cache_type),
            ("response_cache backend", &d.response_backend),
        ]
        .into_iter()
        .filter_map(|(what, v)| {
            v.as_deref()
                .filter(|v| !v.eq_ignore_ascii_case("redis"))
                .map(|v| format!("{what} {v:?}"))
        })
        .collect();
        if !private.is_empty() {
            out.push(finding(
                Severity::Fail,
                name,
                Code::CacheNodeNotShared,
                format!(
                    "{name}'s aisbf.json sets {}: it keeps a private cache, not the shared Redis",
                    private.join(" and ")
                ),
            ));
            continue;
        }
        out.push(finding(
            Severity::Ok,
            name,
            Code::CacheNodeOk,
            format!("{name}'s aisbf.json uses the cluster's cache prefixes"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::cache::test_cache as cache;

    fn node(prefix: &str, response: &str) -> NodeData {
        NodeData {
            database: crate::aisbf_json::DbTarget::Sqlite { path: "x".into() },
            cache_type: Some("redis".into()),
            cache_prefix: prefix.into(),
            response_backend: Some("redis".into()),
            response_prefix: response.into(),
        }
    }

    #[test]
    fn prefix_overlap_table() {
        // (prefix, response, others, expected overlapping subjects)
        type Row<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
        let rows: Vec<Row> = vec![
            (
                "aisbf:prod:",
                "aisbf:prod:response:",
                vec![("staging", "aisbf:staging:")],
                vec![],
            ),
            (
                "aisbf:",
                "aisbf:response:",
                vec![("staging", "aisbf:staging:")],
                vec!["staging"],
            ),
            (
                "aisbf:prod:",
                "aisbf:prod:response:",
                vec![("staging", "aisbf:")],
                vec!["staging", "staging"],
            ),
            (
                "aisbf:prod:",
                "aisbf:prod:response:",
                vec![("a", "x:"), ("b", "x:y:")],
                vec!["a"],
            ),
            (
                "aisbf:h1:",
                "aisbf:h1:response:",
                vec![("staging", "aisbf:h1staging:")],
                vec![],
            ),
        ];
        for (p, r, others, expected) in rows {
            let f = prefix_findings(&cache(p, r, &others));
            let got: Vec<&str> = f
                .iter()
                .filter(|f| f.code == Code::CachePrefixOverlap)
                .map(|f| f.subject.as_str())
                .collect();
            assert_eq!(got, expected, "{p} {r} {others:?}");
            if expected.is_empty() {
                assert_eq!(f[0].code, Code::CachePrefixesOk);
            }
        }
    }

    #[test]
    fn node_prefix_differences_name_the_node() {
        let c = cache("aisbf:p:", "aisbf:p:response:", &[]);
        let mut private = node("aisbf:p:", "aisbf:p:response:");
        private.cache_type = Some("sqlite".into());
        let nodes = vec![
            (
                "aisbf-1".to_string(),
                Ok(node("aisbf:p:", "aisbf:p:response:")),
            ),
            (
                "aisbf-2".to_string(),
                Ok(node("aisbf:q:", "aisbf:q:response:")),
            ),
            ("aisbf-3".to_string(), Ok(private)),
            ("aisbf-4".to_string(), Err("unreadable".to_string())),
        ];
        let f = compare_nodes(&c, &nodes);
        let got: Vec<(&str, Code)> = f.iter().map(|f| (f.subject.as_str(), f.code)).collect();
        assert_eq!(
            got,
            [
                ("aisbf-1", Code::CacheNodeOk),
                ("aisbf-2", Code::CacheNodePrefixDiffers),
                ("aisbf-3", Code::CacheNodeNotShared),
                ("aisbf-4", Code::NodeConfigUnreadable)
            ]
        );
        assert!(f[1].message.contains("aisbf:q:"));
    }
}
