//! The verdict: a pure function from findings to "what is broken and what to do".
//!
//! It follows the playbook's "start with the failure shape": does the failure
//! follow a node, a token, a route or a provider? What each finding code means
//! is data ([`rules::JUDGEMENTS`], one row per code); facts from one probe that
//! change how another's finding reads are data too ([`cross::CROSS_RULES`]).
//! The verdict ranks by cause: infrastructure drift outranks route policy ("fix
//! the node before touching routes"), and a failure a node shows directly
//! outranks the same failure relayed by the balancer.

pub mod cross;
pub mod rules;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::finding::{Code, Finding, Severity};
use cross::{Facts, Reading};
pub use rules::{Judgement, Tier, judgement};

/// The broken layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Layer {
    None,
    Node,
    Database,
    Cache,
    Auth,
    Balancer,
    Route,
    Provider,
}

/// What the operator should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    None,
    /// Nodes disagree, prefixes collide, auth differs per node: repair the cluster.
    EditInfrastructure,
    /// A provider is down, slow, expensive or wrong for the workload: change routes.
    EditRoutes,
    /// The token itself is wrong for every node.
    FixCredentials,
}

/// A symptom reported by a user; it orders the checks and is echoed in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Symptom {
    EveryOtherRequestFails,
    DashboardChangeInvisible,
    StaleCache,
    TokenEndpointMismatch,
}

impl Symptom {
    pub const ALL: [Symptom; 4] = [
        Symptom::EveryOtherRequestFails,
        Symptom::DashboardChangeInvisible,
        Symptom::StaleCache,
        Symptom::TokenEndpointMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Symptom::EveryOtherRequestFails => "every-other-request-fails",
            Symptom::DashboardChangeInvisible => "dashboard-change-invisible",
            Symptom::StaleCache => "stale-cache",
            Symptom::TokenEndpointMismatch => "token-endpoint-mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<Symptom> {
        Symptom::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Layers this symptom points at first, in the playbook's order.
    pub fn suspects(self) -> &'static [Layer] {
        match self {
            Symptom::EveryOtherRequestFails => &[Layer::Balancer, Layer::Node],
            Symptom::DashboardChangeInvisible => &[Layer::Database, Layer::Node],
            Symptom::StaleCache => &[Layer::Cache],
            Symptom::TokenEndpointMismatch => &[Layer::Auth, Layer::Database],
        }
    }
}

/// The decision shown to people and monitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub layer: Layer,
    pub action: Action,
    pub culprits: Vec<String>,
    pub summary: String,
    pub first_check: String,
}

/// The overall status: the worst severity among the findings. No finding at
/// all means nothing was checked: unknown, never ok.
pub fn status(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Unknown)
}

/// Turns findings into a verdict. Pure: same findings, same verdict, whatever
/// the nodes are called and in whichever probe a fact was seen.
///
/// The worst severity present picks the findings that matter; among those the
/// one closest to the cause wins (its [`Tier`], then its row's place in the
/// table, a symptom's suspects first within a tier). Culprits are every subject
/// of those findings that indicts the same layer and action.
pub fn decide(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let worst = status(findings);
    match worst {
        Severity::Ok => return healthy(findings, symptom),
        Severity::Unknown => return unknown(findings, symptom),
        Severity::Warn | Severity::Fail => {}
    }
    let facts = Facts::of(findings);
    let deciding: Vec<(&Finding, Reading)> = findings
        .iter()
        .filter(|f| f.severity == worst)
        .filter_map(|f| facts.read(f).map(|r| (f, r)))
        .collect();
    let suspect = |layer: Layer| symptom.is_some_and(|s| s.suspects().contains(&layer));
    let Some(&(top, top_reading)) = deciding
        .iter()
        .min_by_key(|(_, r)| (r.tier, !suspect(r.layer), r.order))
    else {
        return unexplained(findings, worst, symptom);
    };

    let mut seen = HashSet::new();
    let culprits: Vec<String> = deciding
        .iter()
        .filter(|(_, r)| r.layer == top_reading.layer && r.action == top_reading.action)
        .filter(|(f, _)| seen.insert(f.subject.as_str()))
        .map(|(f, _)| f.subject.clone())
        .collect();
    let summary = summarize(top, top_reading, &culprits, &deciding, findings, symptom);
    Verdict {
        layer: top_reading.layer,
        action: top_reading.action,
        first_check: (judgement(top.code).0.first_check)(&top.subject),
        culprits,
        summary,
    }
}

fn healthy(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let checked = findings.len();
    let mut summary = format!("No problem found ({checked} checks ok).");
    if let Some(s) = symptom {
        summary.push_str(&format!(
            " Symptom \"{}\" is not explained by what the doctor can see; check the client's base URL, route name and token.",
            s.as_str()
        ));
    }
    Verdict {
        layer: Layer::None,
        action: Action::None,
        culprits: Vec::new(),
        summary,
        first_check: "Nothing to fix.".into(),
    }
}

/// Nothing could be judged: the doctor's own error, or no check ran. Never a
/// cluster culprit.
fn unknown(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let reasons: Vec<&str> = findings
        .iter()
        .filter(|f| f.severity == Severity::Unknown)
        .map(|f| f.message.as_str())
        .take(3)
        .collect();
    let mut summary = if reasons.is_empty() {
        "Unknown: no check ran, so nothing can be said about the cluster.".to_string()
    } else {
        format!(
            "Unknown: the doctor could not finish ({}); this says nothing about the cluster.",
            reasons.join("; ")
        )
    };
    if let Some(s) = symptom {
        summary = format!("Symptom \"{}\": {summary}", s.as_str());
    }
    let first_check = match findings.iter().find(|f| f.severity == Severity::Unknown) {
        Some(f) => (judgement(f.code).0.first_check)(&f.subject),
        None => "Check the scope of the run: which nodes and probes it was asked for".into(),
    };
    Verdict {
        layer: Layer::None,
        action: Action::None,
        culprits: Vec::new(),
        summary,
        first_check,
    }
}

/// Problems were seen but every one was explained away by another probe.
fn unexplained(findings: &[Finding], worst: Severity, symptom: Option<Symptom>) -> Verdict {
    let n = findings.iter().filter(|f| f.severity == worst).count();
    let mut v = healthy(findings, symptom);
    v.summary = format!(
        "{n} finding(s) at {} level, none of which points at a layer on its own; read the findings.",
        worst.as_str()
    );
    v.first_check = "Read the findings one by one".into();
    v
}

fn summarize(
    top: &Finding,
    reading: Reading,
    culprits: &[String],
    deciding: &[(&Finding, Reading)],
    findings: &[Finding],
    symptom: Option<Symptom>,
) -> String {
    let who = crate::finding::name_few(culprits, 5, "more");
    let mut s = match (reading.tier, reading.layer) {
        (Tier::Performance, _) => format!(
            "Slow: {who} ({}). Nothing is failing; compare load and upstream latency.",
            top.message
        ),
        (Tier::Incomplete, _) => format!("Incomplete: {}.", top.message),
        (_, Layer::Node) => format!("The failure follows the node: {who} ({}).", top.message),
        (_, Layer::Auth) if reading.action == Action::FixCredentials => {
            format!("The failure follows the token: {}", top.message)
        }
        (_, Layer::Auth) => format!(
            "Auth differs per node: {who} ({}). Its database or auth config differs from the other nodes'.",
            top.message
        ),
        (_, Layer::Database)
            if matches!(top.code, Code::TokenRejected | Code::TokenRejectedOnNode) =>
        {
            format!(
                "The token exists and is active in the shared database, yet it is rejected ({}): {who}: the nodes are not reading the shared database. This is not a bad token.",
                top.message
            )
        }
        (_, Layer::Database) => {
            format!("The failure follows the database: {who} ({}).", top.message)
        }
        (_, Layer::Cache) => format!("The failure follows the cache: {who} ({}).", top.message),
        (_, Layer::Balancer) => format!(
            "The failure follows the load balancer: {who} ({}).",
            top.message
        ),
        (_, Layer::Route) => format!("The failure follows the route: {who} ({}).", top.message),
        (_, Layer::Provider) => {
            format!("The failure follows the provider: {who} ({}).", top.message)
        }
        (_, Layer::None) => top.message.clone(),
    };
    if reading.action == Action::EditInfrastructure
        && reading.tier < Tier::Relayed
        && matches!(
            reading.layer,
            Layer::Node | Layer::Auth | Layer::Database | Layer::Cache
        )
    {
        s.push_str(&format!(
            " Fix {who} before touching route policy; routing around it would mask drift."
        ));
    }
    let culprit_set: HashSet<&str> = culprits.iter().map(String::as_str).collect();
    let others = deciding
        .iter()
        .filter(|(f, r)| r.layer != reading.layer && !culprit_set.contains(f.subject.as_str()))
        .count();
    if others > 0 {
        s.push_str(&format!(
            " ({others} other finding(s) of the same severity follow.)"
        ));
    }
    let unknown = findings
        .iter()
        .filter(|f| f.severity == Severity::Unknown)
        .count();
    if unknown > 0 {
        s.push_str(&format!(
            " ({unknown} check(s) could not be completed by the doctor.)"
        ));
    }
    if let Some(sym) = symptom {
        s = format!("Symptom \"{}\": {s}", sym.as_str());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::ProbeKind;

    fn f(sev: Severity, subject: &str, code: Code) -> Finding {
        Finding::new(
            ProbeKind::Health,
            sev,
            subject,
            code,
            format!("{subject} {code:?}"),
        )
    }

    struct Row {
        name: &'static str,
        findings: Vec<Finding>,
        layer: Layer,
        action: Action,
        culprits: &'static [&'static str],
    }

    #[test]
    fn verdict_rules_table() {
        use Severity::*;
        let rows = vec![
            Row {
                name: "no findings is healthy",
                findings: vec![],
                layer: Layer::None,
                action: Action::None,
                culprits: &[],
            },
            Row {
                name: "all ok is healthy, auth-gated health is not down",
                findings: vec![f(Ok, "a", Code::NodeOk), f(Ok, "a", Code::HealthAuthGated)],
                layer: Layer::None,
                action: Action::None,
                culprits: &[],
            },
            Row {
                name: "unreachable node is the culprit",
                findings: vec![
                    f(Ok, "a", Code::NodeOk),
                    f(Fail, "b", Code::NodeUnreachable),
                ],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "hung node",
                findings: vec![f(Fail, "c", Code::NodeTimeout)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["c"],
            },
            Row {
                name: "5xx node",
                findings: vec![f(Fail, "c", Code::NodeServerError)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["c"],
            },
            Row {
                name: "garbage node",
                findings: vec![f(Fail, "c", Code::NodeBadAnswer)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["c"],
            },
            Row {
                name: "token rejected on one node is auth drift",
                findings: vec![
                    f(Fail, "b", Code::TokenRejectedOnNode),
                    f(Ok, "a", Code::NodeOk),
                ],
                layer: Layer::Auth,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "global token rejected on one node is auth drift",
                findings: vec![f(Fail, "b", Code::GlobalTokenRejectedOnNode)],
                layer: Layer::Auth,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "auth disabled on one node",
                findings: vec![f(Fail, "b", Code::AuthDisabledOnNode)],
                layer: Layer::Auth,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "token rejected everywhere is credentials",
                findings: vec![f(Fail, "token", Code::TokenRejected)],
                layer: Layer::Auth,
                action: Action::FixCredentials,
                culprits: &["token"],
            },
            Row {
                name: "global token rejected everywhere is credentials",
                findings: vec![f(Fail, "global_token", Code::GlobalTokenRejected)],
                layer: Layer::Auth,
                action: Action::FixCredentials,
                culprits: &["global_token"],
            },
            Row {
                name: "node drift outranks credentials",
                findings: vec![
                    f(Fail, "token", Code::TokenRejected),
                    f(Fail, "b", Code::ModelsDiffer),
                ],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "models differ",
                findings: vec![f(Fail, "b", Code::ModelsDiffer)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "global config differs",
                findings: vec![f(Fail, "b", Code::GlobalConfigDiffers)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "version drift alone is a warning on the node",
                findings: vec![f(Warn, "b", Code::VersionDrift), f(Ok, "a", Code::NodeOk)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["b"],
            },
            Row {
                name: "a failure outranks a warning",
                findings: vec![
                    f(Warn, "a", Code::LatencyOutlier),
                    f(Fail, "token", Code::TokenRejected),
                ],
                layer: Layer::Auth,
                action: Action::FixCredentials,
                culprits: &["token"],
            },
            Row {
                name: "latency outlier",
                findings: vec![f(Warn, "a", Code::LatencyOutlier)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["a"],
            },
            Row {
                // A probe cut off names no culprit: "db" is not a node, route or credential.
                name: "deadline is unknown, never a culprit",
                findings: vec![f(Unknown, "db", Code::ProbeDeadline)],
                layer: Layer::None,
                action: Action::None,
                culprits: &[],
            },
            Row {
                name: "two node failures name both culprits",
                findings: vec![
                    f(Fail, "b", Code::NodeUnreachable),
                    f(Fail, "c", Code::NodeServerError),
                ],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["b", "c"],
            },
        ];
        for row in rows {
            let v = decide(&row.findings, None);
            assert_eq!(v.layer, row.layer, "{}", row.name);
            assert_eq!(v.action, row.action, "{}", row.name);
            assert_eq!(v.culprits, row.culprits, "{}", row.name);
        }
    }

    fn db(sev: Severity, subject: &str, code: Code) -> Finding {
        Finding::new(
            ProbeKind::Db,
            sev,
            subject,
            code,
            format!("{subject} {code:?}"),
        )
    }

    #[test]
    fn data_layer_rules_table() {
        use Severity::*;
        let rows = vec![
            Row {
                name: "healthy db and cache",
                findings: vec![
                    db(Ok, "database", Code::DbOk),
                    db(Ok, "database", Code::DbSchemaOk),
                    db(Ok, "token", Code::DbTokenActive),
                    db(Ok, "aisbf-1", Code::DbNodeOk),
                    db(Ok, "cache", Code::CacheOk),
                    db(Ok, "cache", Code::CacheCensus),
                    db(Ok, "cache", Code::CacheCensusIncomplete),
                    db(Ok, "aisbf-1", Code::CacheNodeOk),
                    db(Ok, "prefixes", Code::CachePrefixesOk),
                ],
                layer: Layer::None,
                action: Action::None,
                culprits: &[],
            },
            Row {
                name: "database unreachable",
                findings: vec![db(Fail, "database", Code::DbUnreachable)],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["database"],
            },
            Row {
                name: "database login refused",
                findings: vec![db(Fail, "database", Code::DbAccessDenied)],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["database"],
            },
            Row {
                name: "database missing",
                findings: vec![db(Fail, "database", Code::DbNotFound)],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["database"],
            },
            Row {
                name: "node on sqlite is the database culprit, ahead of its token rejection",
                findings: vec![
                    f(Fail, "aisbf-2", Code::TokenRejectedOnNode),
                    db(Fail, "aisbf-2", Code::DbNodeSqlite),
                ],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "node on another mysql",
                findings: vec![db(Fail, "aisbf-2", Code::DbNodeOtherDatabase)],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "schema drift",
                findings: vec![db(Fail, "database", Code::DbSchemaDrift)],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["database"],
            },
            Row {
                name: "query failed",
                findings: vec![db(Fail, "database", Code::DbQueryFailed)],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["database"],
            },
            Row {
                name: "unreadable aisbf.json",
                findings: vec![db(Warn, "aisbf-3", Code::NodeConfigUnreadable)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-3"],
            },
            Row {
                name: "user missing is credentials",
                findings: vec![db(Fail, "user", Code::DbUserMissing)],
                layer: Layer::Auth,
                action: Action::FixCredentials,
                culprits: &["user"],
            },
            Row {
                name: "token missing in the db and rejected everywhere is credentials",
                findings: vec![
                    db(Fail, "token", Code::DbTokenMissing),
                    f(Fail, "token", Code::TokenRejected),
                ],
                layer: Layer::Auth,
                action: Action::FixCredentials,
                culprits: &["token"],
            },
            Row {
                name: "cache unreachable",
                findings: vec![db(Fail, "cache", Code::CacheUnreachable)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["cache"],
            },
            Row {
                name: "cache login refused",
                findings: vec![db(Fail, "cache", Code::CacheAccessDenied)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["cache"],
            },
            Row {
                name: "not redis",
                findings: vec![db(Fail, "cache", Code::CacheNotRedis)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["cache"],
            },
            Row {
                name: "prefix overlap",
                findings: vec![db(Fail, "staging", Code::CachePrefixOverlap)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["staging"],
            },
            Row {
                name: "node cache prefix differs",
                findings: vec![
                    db(Ok, "aisbf-1", Code::CacheNodeOk),
                    db(Fail, "aisbf-2", Code::CacheNodePrefixDiffers),
                ],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "node cache not shared",
                findings: vec![db(Fail, "aisbf-3", Code::CacheNodeNotShared)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-3"],
            },
            Row {
                name: "stale responses",
                findings: vec![db(Warn, "cache", Code::CacheStaleResponses)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["cache"],
            },
            Row {
                name: "foreign keys",
                findings: vec![db(Warn, "cache", Code::CacheForeignKeys)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["cache"],
            },
            Row {
                name: "evicting",
                findings: vec![db(Warn, "cache", Code::CacheEvicting)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["cache"],
            },
            Row {
                name: "cross: token active in the db yet rejected everywhere is the database",
                findings: vec![
                    db(Ok, "token", Code::DbTokenActive),
                    f(Fail, "token", Code::TokenRejected),
                ],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["token"],
            },
            Row {
                name: "cross: token active in the db yet rejected by one node names that node",
                findings: vec![
                    db(Ok, "token", Code::DbTokenActive),
                    f(Fail, "aisbf-2", Code::TokenRejectedOnNode),
                ],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "cross: models differ on a node whose aisbf.json points elsewhere",
                findings: vec![
                    f(Fail, "aisbf-2", Code::ModelsDiffer),
                    db(Warn, "aisbf-2", Code::DbNodeOtherDatabase),
                ],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "files: database differs on one node",
                findings: vec![
                    db(Fail, "aisbf-2", Code::NodeDatabaseDiffers),
                    db(Ok, "aisbf-1", Code::NodeFilesOk),
                ],
                layer: Layer::Database,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "files: cache differs on one node",
                findings: vec![db(Fail, "aisbf-2", Code::NodeCacheDiffers)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "files: response cache differs on one node",
                findings: vec![db(Fail, "aisbf-3", Code::NodeResponseCacheDiffers)],
                layer: Layer::Cache,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-3"],
            },
            Row {
                name: "files: auth differs on one node",
                findings: vec![db(Fail, "aisbf-2", Code::NodeAuthDiffers)],
                layer: Layer::Auth,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "files: session key differs on one node",
                findings: vec![db(Fail, "aisbf-2", Code::SessionSecretDiffers)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "files: an api-breaking difference outranks the session key",
                findings: vec![
                    db(Fail, "aisbf-1", Code::SessionSecretDiffers),
                    db(Fail, "aisbf-2", Code::NodeAuthDiffers),
                ],
                layer: Layer::Auth,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
            Row {
                name: "routes: stale nodes are the culprits",
                findings: vec![
                    db(Fail, "aisbf-1", Code::NodeRoutesStale),
                    db(Ok, "aisbf-2", Code::NodeRoutesMatchDb),
                ],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-1"],
            },
            Row {
                name: "cross: models differ on the only fresh node blames the stale majority",
                findings: vec![
                    f(Fail, "aisbf-3", Code::ModelsDiffer),
                    db(Fail, "aisbf-1", Code::NodeRoutesStale),
                    db(Fail, "aisbf-2", Code::NodeRoutesStale),
                    db(Ok, "aisbf-3", Code::NodeRoutesMatchDb),
                ],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-1", "aisbf-2"],
            },
            Row {
                name: "cross: models differ on a node whose routes match the database is no culprit",
                findings: vec![
                    f(Fail, "aisbf-3", Code::ModelsDiffer),
                    db(Ok, "aisbf-3", Code::NodeRoutesMatchDb),
                ],
                layer: Layer::None,
                action: Action::None,
                culprits: &[],
            },
            Row {
                name: "cross: without the db facts a node rejection stays auth drift",
                findings: vec![f(Fail, "aisbf-2", Code::TokenRejectedOnNode)],
                layer: Layer::Auth,
                action: Action::EditInfrastructure,
                culprits: &["aisbf-2"],
            },
        ];
        for row in rows {
            let v = decide(&row.findings, None);
            assert_eq!(v.layer, row.layer, "{}", row.name);
            assert_eq!(v.action, row.action, "{}", row.name);
            assert_eq!(v.culprits, row.culprits, "{}", row.name);
        }
    }

    #[test]
    fn token_in_db_but_rejected_says_nodes_do_not_read_the_shared_database() {
        let v = decide(
            &[
                db(Severity::Ok, "token", Code::DbTokenActive),
                f(Severity::Fail, "token", Code::TokenRejected),
            ],
            None,
        );
        assert!(
            v.summary
                .contains("the nodes are not reading the shared database"),
            "{}",
            v.summary
        );
        assert_ne!(v.action, Action::FixCredentials);
    }

    #[test]
    fn node_drift_verdict_says_fix_the_node_before_routes() {
        let v = decide(&[f(Severity::Fail, "aisbf-2", Code::ModelsDiffer)], None);
        assert!(
            v.summary
                .contains("Fix aisbf-2 before touching route policy"),
            "{}",
            v.summary
        );
        assert!(v.first_check.contains("aisbf-2"));
    }

    #[test]
    fn symptom_is_echoed_in_the_verdict() {
        let v = decide(
            &[f(Severity::Fail, "aisbf-2", Code::NodeUnreachable)],
            Some(Symptom::EveryOtherRequestFails),
        );
        assert!(
            v.summary
                .starts_with("Symptom \"every-other-request-fails\""),
            "{}",
            v.summary
        );
        let healthy = decide(&[], Some(Symptom::StaleCache));
        assert!(healthy.summary.contains("stale-cache"));
    }

    #[test]
    fn status_is_the_worst_severity_and_nothing_checked_is_unknown() {
        assert_eq!(status(&[]), Severity::Unknown);
        assert_eq!(
            status(&[
                f(Severity::Warn, "a", Code::VersionDrift),
                f(Severity::Ok, "b", Code::NodeOk)
            ]),
            Severity::Warn
        );
    }

    #[test]
    fn every_judgement_row_decides_its_own_layer_action_culprit_and_first_check() {
        for row in rules::JUDGEMENTS {
            if matches!(row.tier, Tier::Healthy | Tier::Doctor) {
                continue;
            }
            let sev = row.severity.max(Severity::Warn);
            let v = decide(&[f(sev, "node-x", row.code)], None);
            assert_eq!(
                (v.layer, v.action, v.culprits.clone()),
                (row.layer, row.action, vec!["node-x".to_string()]),
                "{:?}",
                row.code
            );
            assert_eq!(v.first_check, (row.first_check)("node-x"), "{:?}", row.code);
        }
    }

    #[test]
    fn a_failure_the_nodes_show_directly_outranks_the_same_failure_relayed_by_the_balancer() {
        // Every node refuses an mcp-only token; check lb sees the same refusal.
        let mut findings: Vec<Finding> = ["aisbf-1", "aisbf-2", "aisbf-3"]
            .iter()
            .map(|n| f(Severity::Fail, n, Code::BalancerFailuresFollowNode))
            .collect();
        findings.push(f(Severity::Fail, "token", Code::TokenRejected));
        let v = decide(&findings, None);
        assert_eq!(
            (v.layer, v.action, v.culprits),
            (
                Layer::Auth,
                Action::FixCredentials,
                vec!["token".to_string()]
            )
        );
        // With the shared database knowing the token, it is the database.
        findings.push(f(Severity::Ok, "token", Code::DbTokenActive));
        let v = decide(&findings, None);
        assert_eq!(
            (v.layer, v.action),
            (Layer::Database, Action::EditInfrastructure)
        );
    }

    #[test]
    fn auth_disabled_on_a_node_is_the_auth_layer_whichever_probes_ran() {
        let direct = f(Severity::Fail, "aisbf-2", Code::AuthDisabledOnNode);
        let relayed = f(Severity::Fail, "aisbf-2", Code::BalancerFailuresFollowNode);
        for findings in [vec![direct.clone()], vec![relayed.clone(), direct.clone()]] {
            let v = decide(&findings, None);
            assert_eq!(
                (v.layer, v.action, v.culprits),
                (
                    Layer::Auth,
                    Action::EditInfrastructure,
                    vec!["aisbf-2".to_string()]
                )
            );
        }
    }

    #[test]
    fn renaming_nodes_never_changes_the_layer_or_action() {
        // Equal-tier findings on different nodes: the table order decides, not names.
        for (sqlite_node, tls_node) in [("aisbf-2", "aisbf-1"), ("aisbf-1", "aisbf-2"), ("z", "a")]
        {
            let findings = [
                f(Severity::Fail, tls_node, Code::CacheNodeNotShared),
                f(Severity::Fail, sqlite_node, Code::DbNodeSqlite),
            ];
            let v = decide(&findings, None);
            assert_eq!(
                (v.layer, v.culprits),
                (Layer::Database, vec![sqlite_node.to_string()]),
                "{sqlite_node}/{tls_node}"
            );
        }
    }

    #[test]
    fn an_internal_error_of_the_doctor_is_unknown_and_never_a_culprit() {
        let findings = [Finding::new(
            ProbeKind::Health,
            Severity::Unknown,
            "aisbf-doctor",
            Code::DoctorError,
            "internal error: cannot build an HTTP client",
        )];
        assert_eq!(status(&findings), Severity::Unknown);
        let v = decide(&findings, None);
        assert_eq!((v.layer, v.action), (Layer::None, Action::None));
        assert!(v.culprits.is_empty());
        assert!(v.summary.starts_with("Unknown:"), "{}", v.summary);
        assert!(
            v.summary.contains("cannot build an HTTP client"),
            "{}",
            v.summary
        );
        assert!(!v.summary.contains("follows the node"), "{}", v.summary);
    }

    #[test]
    fn nothing_checked_is_unknown_not_no_problem_found() {
        let v = decide(&[], None);
        assert!(v.summary.starts_with("Unknown:"), "{}", v.summary);
        assert!(!v.summary.contains("No problem found"), "{}", v.summary);
    }

    #[test]
    fn a_latency_warning_says_slow_not_fix_before_route_policy() {
        let v = decide(&[f(Severity::Warn, "aisbf-3", Code::LatencyOutlier)], None);
        assert!(v.summary.starts_with("Slow: aisbf-3"), "{}", v.summary);
        assert!(!v.summary.contains("route policy"), "{}", v.summary);
        assert!(!v.summary.contains("failure follows"), "{}", v.summary);
    }

    #[test]
    fn a_summary_names_a_few_culprits_and_counts_the_rest() {
        let findings: Vec<Finding> = (0..1000)
            .map(|i| f(Severity::Fail, &format!("n{i}"), Code::NodeUnreachable))
            .collect();
        let v = decide(&findings, None);
        assert_eq!(v.culprits.len(), 1000);
        assert!(
            v.summary.contains("n0, n1, n2, n3, n4 and 995 more"),
            "{}",
            v.summary
        );
        assert!(v.summary.len() < 600, "{}", v.summary.len());
    }

    #[test]
    fn symptom_parse_round_trips() {
        for s in Symptom::ALL {
            assert_eq!(Symptom::parse(s.as_str()), Some(s));
        }
        assert_eq!(Symptom::parse("nope"), None);
    }
}
