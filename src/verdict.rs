//! The verdict: a pure function from findings to "what is broken and what to do".
//!
//! It follows the playbook's "start with the failure shape": does the failure
//! follow a node, a token, a route or a provider? Every finding code maps to one
//! [`Rule`] (layer, action, rank). The worst severity present picks the
//! findings that matter; among those the lowest rank wins, so infrastructure
//! drift always outranks route policy ("fix the node before touching routes").

use serde::{Deserialize, Serialize};

use crate::finding::{Code, Finding, Severity};

/// The broken layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// The overall status: the worst severity among the findings.
pub fn status(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok)
}

/// How one finding code reads in a verdict.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub layer: Layer,
    pub action: Action,
    /// Lower wins. Infrastructure < credentials < routes/providers < latency.
    pub rank: u8,
}

const fn rule(layer: Layer, action: Action, rank: u8) -> Rule {
    Rule {
        layer,
        action,
        rank,
    }
}

/// The rule table: one row per finding code.
pub fn rule_for(code: Code) -> Rule {
    use Action::*;
    use Layer as L;
    match code {
        Code::NodeUnreachable => rule(L::Node, EditInfrastructure, 10),
        Code::NodeTimeout => rule(L::Node, EditInfrastructure, 11),
        Code::NodeServerError => rule(L::Node, EditInfrastructure, 12),
        Code::NodeBadAnswer => rule(L::Node, EditInfrastructure, 13),
        Code::AuthDisabledOnNode => rule(L::Auth, EditInfrastructure, 20),
        Code::TokenRejectedOnNode => rule(L::Auth, EditInfrastructure, 21),
        Code::GlobalTokenRejectedOnNode => rule(L::Auth, EditInfrastructure, 22),
        Code::ModelsDiffer => rule(L::Node, EditInfrastructure, 23),
        Code::GlobalConfigDiffers => rule(L::Node, EditInfrastructure, 24),
        Code::VersionDrift => rule(L::Node, EditInfrastructure, 30),
        Code::TokenRejected => rule(L::Auth, FixCredentials, 50),
        Code::GlobalTokenRejected => rule(L::Auth, FixCredentials, 51),
        Code::LatencyOutlier => rule(L::Node, EditInfrastructure, 90),
        Code::ProbeDeadline => rule(L::Node, EditInfrastructure, 95),
        Code::BalancerFailuresFollowNode => rule(L::Node, EditInfrastructure, 14),
        Code::BalancerUnreachable => rule(L::Balancer, EditInfrastructure, 15),
        Code::BalancerDeadMember => rule(L::Balancer, EditInfrastructure, 16),
        Code::BalancerUnknownMember => rule(L::Balancer, EditInfrastructure, 17),
        Code::RouteFailsOnNode => rule(L::Node, EditInfrastructure, 25),
        Code::TokenRejectedByBalancer => rule(L::Balancer, EditInfrastructure, 26),
        Code::RouteFailsViaBalancer => rule(L::Balancer, EditInfrastructure, 27),
        Code::TokenScopeLimited => rule(L::Auth, FixCredentials, 52),
        Code::RouteMalformed => rule(L::Route, EditRoutes, 60),
        Code::RouteProviderDown => rule(L::Provider, EditRoutes, 61),
        Code::RouteBroken => rule(L::Route, EditRoutes, 62),
        Code::RouteSlowOnNode => rule(L::Node, EditInfrastructure, 91),
        Code::NodeTls => rule(L::Node, EditInfrastructure, 18),
        Code::NodeRedirect => rule(L::Node, EditInfrastructure, 19),
        Code::ProbeNotConfigured
        | Code::NodeOk
        | Code::HealthAuthGated
        | Code::TokenOk
        | Code::RouteOk
        | Code::BalancerOk => rule(L::None, None, 255),
    }
}

/// Turns findings into a verdict. Pure: same findings, same verdict.
pub fn decide(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let worst = status(findings);
    let deciding: Vec<(&Finding, Rule)> = findings
        .iter()
        .filter(|f| f.severity == worst && worst != Severity::Ok)
        .map(|f| (f, rule_for(f.code)))
        .filter(|(_, r)| r.layer != Layer::None)
        .collect();

    let Some(&(top, top_rule)) = deciding
        .iter()
        .min_by_key(|(f, r)| (effective_rank(*r, symptom), f.subject.clone()))
    else {
        return healthy(findings, symptom);
    };

    let mut culprits: Vec<String> = Vec::new();
    for (f, r) in &deciding {
        if r.layer == top_rule.layer
            && r.action == top_rule.action
            && !culprits.contains(&f.subject)
        {
            culprits.push(f.subject.clone());
        }
    }
    let summary = summarize(top, top_rule, &culprits, &deciding, symptom);
    Verdict {
        layer: top_rule.layer,
        action: top_rule.action,
        first_check: first_check(top),
        culprits,
        summary,
    }
}

/// A symptom moves its suspect layers ahead only among findings of similar
/// rank class; it never lifts routes above infrastructure drift.
fn effective_rank(rule: Rule, symptom: Option<Symptom>) -> u8 {
    match symptom {
        Some(s) if s.suspects().contains(&rule.layer) && rule.rank < 50 => {
            rule.rank.saturating_sub(5)
        }
        _ => rule.rank,
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

fn summarize(
    top: &Finding,
    rule: Rule,
    culprits: &[String],
    deciding: &[(&Finding, Rule)],
    symptom: Option<Symptom>,
) -> String {
    let who = culprits.join(", ");
    let mut s = match rule.layer {
        Layer::Node => format!("The failure follows the node: {who} ({}).", top.message),
        Layer::Auth if rule.action == Action::FixCredentials => {
            format!("The failure follows the token: {}", top.message)
        }
        Layer::Auth => format!(
            "Auth differs per node: {who} ({}). Its database or auth config differs from the other nodes'.",
            top.message
        ),
        Layer::Database => format!("The failure follows the database: {who} ({}).", top.message),
        Layer::Cache => format!("The failure follows the cache: {who} ({}).", top.message),
        Layer::Balancer => format!(
            "The failure follows the load balancer: {who} ({}).",
            top.message
        ),
        Layer::Route => format!("The failure follows the route: {who} ({}).", top.message),
        Layer::Provider => format!("The failure follows the provider: {who} ({}).", top.message),
        Layer::None => top.message.clone(),
    };
    if rule.action == Action::EditInfrastructure
        && matches!(
            rule.layer,
            Layer::Node | Layer::Auth | Layer::Database | Layer::Cache
        )
    {
        s.push_str(&format!(
            " Fix {who} before touching route policy; routing around it would mask drift."
        ));
    }
    let others = deciding
        .iter()
        .filter(|(f, r)| r.layer != rule.layer && !culprits.contains(&f.subject))
        .count();
    if others > 0 {
        s.push_str(&format!(
            " ({others} other finding(s) of the same severity follow.)"
        ));
    }
    if let Some(sym) = symptom {
        s = format!("Symptom \"{}\": {s}", sym.as_str());
    }
    s
}

/// The first command an operator should run, for the deciding finding.
fn first_check(top: &Finding) -> String {
    let n = &top.subject;
    match top.code {
        Code::NodeUnreachable => format!(
            "On {n}: is the AISBF process running and listening on its port? (systemctl status / ss -ltnp), then curl -sS -m 5 its URL /"
        ),
        Code::NodeTimeout => format!(
            "On {n}: the port accepts but does not answer: check CPU, a stuck worker or a firewall dropping replies; read /var/log/aisbf/aisbf.log"
        ),
        Code::NodeServerError => format!(
            "Read {n}'s /var/log/aisbf/aisbf.log and aisbf_stderr.log around the 5xx"
        ),
        Code::NodeBadAnswer => format!(
            "Check that {n}'s URL points at an AISBF node (curl -sS its URL /) and not at another service or proxy"
        ),
        Code::TokenRejectedOnNode | Code::GlobalTokenRejectedOnNode | Code::AuthDisabledOnNode => format!(
            "Compare {n}'s aisbf.json \"database\" and \"auth\" sections with a node that accepts the token: is it on the shared MySQL, or on its own SQLite?"
        ),
        Code::ModelsDiffer => format!(
            "Compare {n}'s aisbf.json \"database\" section with the other nodes, then POST /dashboard/user/reload-config on {n}"
        ),
        Code::GlobalConfigDiffers => format!(
            "Diff {n}'s providers.json, rotations.json and autoselect.json against another node's: global config lives in each node's own files"
        ),
        Code::VersionDrift => format!("Upgrade {n} to the version the other nodes run (pip show aisbf)"),
        Code::TokenRejected => "Check the token in config: right user, scope api or both, active in user_api_tokens, no trailing whitespace".into(),
        Code::GlobalTokenRejected => "Check cluster.global_token against aisbf.json auth tokens on the nodes".into(),
        Code::LatencyOutlier => format!("Check load and upstream latency on {n}"),
        Code::ProbeDeadline => "Raise cluster.deadline_ms or find which target hangs (run the probes one by one)".into(),
        Code::BalancerFailuresFollowNode => format!(
            "Take {n} out of the balancer's pool only as a stopgap; first find why {n} fails (see its health line) and repair it"
        ),
        Code::BalancerUnreachable => "curl -sS -m 5 the balancer URL from where apps run; check the balancer's listener and TLS".into(),
        Code::BalancerDeadMember => "List the balancer's upstream members (nginx upstream / HAProxy backend) and compare them with [[cluster.nodes]]: remove or repair the member that is not a healthy node".into(),
        Code::BalancerUnknownMember => "List the balancer's upstream members: one of them is an AISBF node this config does not know (another environment or an old node)".into(),
        Code::RouteFailsOnNode => format!(
            "Compare {n} with a node where the routes work: its database (user providers come from it), its provider network access, and its logs"
        ),
        Code::TokenRejectedByBalancer => "Check which nodes the balancer sends to: a member outside [[cluster.nodes]] does not know this token".into(),
        Code::RouteFailsViaBalancer => "Pin the route's request to each balancer member: one member the config does not list fails it".into(),
        Code::TokenScopeLimited => "Issue a token with scope both (or use the matching token for MCP clients): user_api_tokens.scope".into(),
        Code::RouteMalformed => format!(
            "Rename the route in the calling app: {n} is not a valid AISBF 0.99.92 model name (kind/name, not kind:name)"
        ),
        Code::RouteProviderDown => format!(
            "Check the provider behind {n} (reachable, key valid, not in cooldown), or point the route at another provider"
        ),
        Code::RouteBroken => format!("Check that {n} exists for cluster.user (dashboard: providers/rotations) and read the node logs for the error"),
        Code::RouteSlowOnNode => format!("Check {n}'s network path to the providers and its load"),
        Code::NodeTls => format!(
            "Check {n}'s certificate (openssl s_client -connect host:port): renew it or install the right chain; set tls_insecure = true on that node only for a known self-signed test node"
        ),
        Code::NodeRedirect => format!(
            "Point {n}'s url at the AISBF node itself, not at a proxy or login page that redirects elsewhere"
        ),
        Code::ProbeNotConfigured
        | Code::NodeOk
        | Code::HealthAuthGated
        | Code::TokenOk
        | Code::RouteOk
        | Code::BalancerOk => "Nothing to fix.".into(),
    }
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
                name: "deadline",
                findings: vec![f(Warn, "db", Code::ProbeDeadline)],
                layer: Layer::Node,
                action: Action::EditInfrastructure,
                culprits: &["db"],
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
    fn status_is_the_worst_severity() {
        assert_eq!(status(&[]), Severity::Ok);
        assert_eq!(
            status(&[
                f(Severity::Warn, "a", Code::VersionDrift),
                f(Severity::Ok, "b", Code::NodeOk)
            ]),
            Severity::Warn
        );
    }

    #[test]
    fn symptom_parse_round_trips() {
        for s in Symptom::ALL {
            assert_eq!(Symptom::parse(s.as_str()), Some(s));
        }
        assert_eq!(Symptom::parse("nope"), None);
    }
}
