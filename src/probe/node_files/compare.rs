//! Pure: each node's keys against the cluster's config and the other nodes',
//! one finding per node and section naming the differing keys.

use std::collections::BTreeMap;

use super::finding;
use super::keys::{Key, keys_of};
use crate::aisbf_json::NodeConfig;
use crate::finding::{Code, Finding, Severity};

/// What a differing key is measured against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// The doctor's config says `value`; `holders` are the nodes that agree.
    Cluster { value: String, holders: Vec<String> },
    /// Most nodes (`holders`) have `value`.
    Majority { value: String, holders: Vec<String> },
    /// No value is held by more than half the nodes: the other values, each
    /// with its nodes.
    Split(Vec<(String, Vec<String>)>),
}

/// One key on which a node is the odd one out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub key: Key,
    /// The node's own value.
    pub value: String,
    pub reference: Reference,
}

impl Difference {
    /// `response_cache.enabled: false here, true on aisbf-1, aisbf-3`.
    pub fn describe(&self) -> String {
        let (k, v) = (self.key, &self.value);
        match &self.reference {
            Reference::Cluster { value, holders } if holders.is_empty() => {
                format!("{k}: {v} here, {value} in the doctor's config (and on no node)")
            }
            Reference::Cluster { value, holders } => format!(
                "{k}: {v} here, {value} in the doctor's config and on {}",
                holders.join(", ")
            ),
            Reference::Majority { value, holders } => {
                format!("{k}: {v} here, {value} on {}", holders.join(", "))
            }
            Reference::Split(others) => format!(
                "{k}: {v} here, no majority: {}",
                others
                    .iter()
                    .map(|(val, nodes)| format!("{val} on {}", nodes.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

/// Pure: for every node, the keys on which it differs from the cluster's
/// config (where the config says) or else from the majority of the nodes
/// that have the key. Nodes come back in the given order, each with its
/// differences in key order (empty when it agrees).
pub fn compare(
    expected: &BTreeMap<Key, String>,
    nodes: &[(String, NodeConfig)],
) -> Vec<(String, Vec<Difference>)> {
    let keyed: Vec<(String, BTreeMap<Key, String>)> = nodes
        .iter()
        .map(|(n, c)| (n.clone(), keys_of(c).into_iter().collect()))
        .collect();
    let mut order: Vec<Key> = Vec::new();
    for (_, keys) in &keyed {
        for k in keys.keys() {
            if !order.contains(k) {
                order.push(k);
            }
        }
    }
    let mut out: Vec<(String, Vec<Difference>)> =
        keyed.iter().map(|(n, _)| (n.clone(), Vec::new())).collect();
    for key in order {
        // value -> nodes holding it, in node order.
        let mut by_value: Vec<(String, Vec<String>)> = Vec::new();
        for (node, keys) in &keyed {
            if let Some(v) = keys.get(key) {
                match by_value.iter_mut().find(|(x, _)| x == v) {
                    Some((_, holders)) => holders.push(node.clone()),
                    None => by_value.push((v.clone(), vec![node.clone()])),
                }
            }
        }
        let total: usize = by_value.iter().map(|(_, h)| h.len()).sum();
        let holders_of = |v: &str| -> Vec<String> {
            by_value
                .iter()
                .find(|(x, _)| x == v)
                .map(|(_, h)| h.clone())
                .unwrap_or_default()
        };
        let majority = by_value
            .iter()
            .find(|(_, h)| h.len() * 2 > total)
            .map(|(v, _)| v.clone());
        for (i, (_, keys)) in keyed.iter().enumerate() {
            let Some(value) = keys.get(key) else {
                continue;
            };
            let reference = if let Some(want) = expected.get(key) {
                (value != want).then(|| Reference::Cluster {
                    value: want.clone(),
                    holders: holders_of(want),
                })
            } else if let Some(m) = &majority {
                (value != m).then(|| Reference::Majority {
                    value: m.clone(),
                    holders: holders_of(m),
                })
            } else if by_value.len() > 1 {
                Some(Reference::Split(
                    by_value
                        .iter()
                        .filter(|(v, _)| v != value)
                        .cloned()
                        .collect(),
                ))
            } else {
                None
            };
            if let Some(reference) = reference {
                out[i].1.push(Difference {
                    key,
                    value: value.clone(),
                    reference,
                });
            }
        }
    }
    out
}

/// Pure: findings from the differences, one per node and section.
pub fn config_findings(diffs: &[(String, Vec<Difference>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (node, differences) in diffs {
        for (section, code) in [
            ("database", Code::NodeDatabaseDiffers),
            ("cache", Code::NodeCacheDiffers),
            ("response_cache", Code::NodeResponseCacheDiffers),
            ("auth", Code::NodeAuthDiffers),
            ("client_rate_limiting", Code::NodeRateLimitDiffers),
        ] {
            let mine: Vec<&Difference> = differences
                .iter()
                .filter(|d| d.key.split('.').next() == Some(section))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let keys = mine
                .iter()
                .map(|d| d.describe())
                .collect::<Vec<_>>()
                .join("; ");
            let only_ttl = mine.iter().all(|d| d.key == "response_cache.ttl");
            // A per-node rate limit bites only under load: a warning.
            let severity = if only_ttl || section == "client_rate_limiting" {
                Severity::Warn
            } else {
                Severity::Fail
            };
            let effect = match section {
                "database" => format!(
                    "{node} does not share users, tokens and user routes with the other nodes"
                ),
                "cache" => format!("{node} does not share the general cache with the other nodes"),
                "response_cache"
                    if mine
                        .iter()
                        .any(|d| d.key == "response_cache.enabled" && d.value == "false") =>
                {
                    format!(
                        "{node} sends every identical request upstream instead of answering from the shared response cache"
                    )
                }
                "response_cache" if only_ttl => {
                    format!("{node} keeps cached answers for another time than the other nodes")
                }
                "response_cache" => format!(
                    "{node} does not share cached answers with the other nodes: identical requests get different answers depending on the node"
                ),
                "client_rate_limiting" => format!(
                    "under load {node} answers 429 \"Too many requests\" where the other nodes serve: behind a balancer some requests fail and others do not"
                ),
                _ if mine[0].value == "false" => format!(
                    "auth.enabled false on {node} while the others enforce it: {node} answers /health without a token and 401 to every /api/u/ request"
                ),
                _ => format!(
                    "{node} enforces auth while the key differs elsewhere: tokens work on some nodes only"
                ),
            };
            out.push(finding(
                severity,
                node,
                code,
                format!("{node}'s aisbf.json differs: {keys}. {effect}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::node_files::fixtures::*;

    fn described(diffs: &[(String, Vec<Difference>)], who: &str) -> Vec<String> {
        diffs
            .iter()
            .find(|(n, _)| n == who)
            .map(|(_, d)| d.iter().map(Difference::describe).collect())
            .unwrap_or_default()
    }

    struct Case {
        name: &'static str,
        expected: Vec<(Key, &'static str)>,
        nodes: Vec<(String, NodeConfig)>,
        /// (node, described difference) that must appear.
        want: Vec<(&'static str, &'static str)>,
        /// Nodes that must have no difference at all.
        clean: Vec<&'static str>,
    }

    #[test]
    fn comparison_table() {
        let cases = vec![
            Case {
                name: "identical nodes agree",
                expected: vec![],
                nodes: three(node(SHARED)),
                want: vec![],
                clean: vec!["aisbf-1", "aisbf-2", "aisbf-3"],
            },
            Case {
                name: "the odd node is named against the majority",
                expected: vec![],
                nodes: three(with(r#"{"response_cache":{"enabled":false}}"#)),
                want: vec![(
                    "aisbf-2",
                    "response_cache.enabled: false here, true on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
            Case {
                name: "missing keys are AISBF's defaults: no auth.enabled means auth off",
                expected: vec![],
                nodes: three(node(
                    &SHARED.replace(r#""auth":{"enabled":true}"#, r#""auth":{}"#),
                )),
                want: vec![(
                    "aisbf-2",
                    "auth.enabled: false here, true on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
            Case {
                name: "a default that equals the others' explicit value is no difference",
                expected: vec![],
                nodes: three(with(
                    r#"{"cache":{"redis_port":6379,"redis_db":0,"redis_key_prefix":"aisbf:"}}"#,
                )),
                want: vec![],
                clean: vec!["aisbf-1", "aisbf-2", "aisbf-3"],
            },
            Case {
                name: "the cluster's config wins over a wrong majority",
                expected: vec![("cache.db", "0")],
                nodes: vec![
                    ("aisbf-1".into(), with(r#"{"cache":{"redis_db":1}}"#)),
                    ("aisbf-2".into(), node(SHARED)),
                    ("aisbf-3".into(), with(r#"{"cache":{"redis_db":1}}"#)),
                ],
                want: vec![
                    (
                        "aisbf-1",
                        "cache.db: 1 here, 0 in the doctor's config and on aisbf-2",
                    ),
                    (
                        "aisbf-3",
                        "cache.db: 1 here, 0 in the doctor's config and on aisbf-2",
                    ),
                ],
                clean: vec!["aisbf-2"],
            },
            Case {
                name: "no node matches the cluster's config",
                expected: vec![("database.port", "3307")],
                nodes: three(node(SHARED)),
                want: vec![(
                    "aisbf-2",
                    "database.port: 3306 here, 3307 in the doctor's config (and on no node)",
                )],
                clean: vec![],
            },
            Case {
                name: "no majority flags every node with the split",
                expected: vec![],
                nodes: vec![
                    ("aisbf-1".into(), with(r#"{"response_cache":{"ttl":60}}"#)),
                    ("aisbf-2".into(), with(r#"{"response_cache":{"ttl":600}}"#)),
                ],
                want: vec![
                    (
                        "aisbf-1",
                        "response_cache.ttl: 60 here, no majority: 600 on aisbf-2",
                    ),
                    (
                        "aisbf-2",
                        "response_cache.ttl: 600 here, no majority: 60 on aisbf-1",
                    ),
                ],
                clean: vec![],
            },
            Case {
                name: "a node on sqlite differs by type, not by host",
                expected: vec![],
                nodes: three(node(&SHARED.replace(
                    r#"{"type":"mysql","mysql_host":"db","mysql_database":"aisbf"}"#,
                    r#"{"type":"sqlite"}"#,
                ))),
                want: vec![(
                    "aisbf-2",
                    "database.type: sqlite here, mysql on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
            Case {
                name: "a present response_cache section without backend is memory",
                expected: vec![],
                nodes: three(node(&SHARED.replace(
                    r#""response_cache":{"backend":"redis","redis_host":"redis"}"#,
                    r#""response_cache":{"ttl":600}"#,
                ))),
                want: vec![(
                    "aisbf-2",
                    "response_cache.backend: memory here, redis on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
        ];
        for case in cases {
            let expected: BTreeMap<Key, String> = case
                .expected
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect();
            let diffs = compare(&expected, &case.nodes);
            for (who, text) in &case.want {
                let got = described(&diffs, who);
                assert!(
                    got.iter().any(|g| g == text),
                    "{}: {who}: {got:?}",
                    case.name
                );
            }
            for who in &case.clean {
                assert!(
                    described(&diffs, who).is_empty(),
                    "{}: {who}: {:?}",
                    case.name,
                    described(&diffs, who)
                );
            }
            let flagged: usize = diffs.iter().map(|(_, d)| d.len()).sum();
            assert!(flagged >= case.want.len(), "{}", case.name);
        }
    }

    #[test]
    fn findings_pick_the_code_of_each_section_and_say_what_breaks() {
        let diffs = compare(
            &BTreeMap::new(),
            &three(with(
                r#"{"auth":{"enabled":false},"cache":{"redis_db":2},"database":{"mysql_port":3307},"response_cache":{"enabled":false}}"#,
            )),
        );
        let f = config_findings(&diffs);
        let codes: Vec<Code> = f.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                Code::NodeDatabaseDiffers,
                Code::NodeCacheDiffers,
                Code::NodeResponseCacheDiffers,
                Code::NodeAuthDiffers
            ]
        );
        assert!(
            f.iter()
                .all(|f| f.subject == "aisbf-2" && f.severity == Severity::Fail)
        );
        assert!(
            f[3].message
                .contains("auth.enabled false on aisbf-2 while the others enforce it"),
            "{}",
            f[3].message
        );
        assert!(f[2].message.contains("upstream"), "{}", f[2].message);
        let ttl_only = config_findings(&compare(
            &BTreeMap::new(),
            &three(with(r#"{"response_cache":{"ttl":5}}"#)),
        ));
        assert_eq!(ttl_only.len(), 1);
        assert_eq!(ttl_only[0].severity, Severity::Warn);
    }

    #[test]
    fn a_node_with_its_own_client_rate_limit_is_a_warning_that_names_the_limit() {
        let odd = with(
            r#"{"client_rate_limiting": {"enabled": true, "api": {"requests_per_minute": 10}}}"#,
        );
        let diffs = compare(&BTreeMap::new(), &three(odd));
        assert_eq!(
            described(&diffs, "aisbf-2"),
            [
                "client_rate_limiting: api 10/min 1000/h, general 120/min 3000/h here, off on aisbf-1, aisbf-3"
            ]
        );
        let f = config_findings(&diffs);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].code, f[0].severity),
            (Code::NodeRateLimitDiffers, Severity::Warn)
        );
        assert!(f[0].message.contains("429"), "{}", f[0].message);
    }
}
