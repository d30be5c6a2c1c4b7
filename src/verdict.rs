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
        Code::DbUnreachable => rule(L::Database, EditInfrastructure, 5),
        Code::DbAccessDenied => rule(L::Database, EditInfrastructure, 6),
        Code::DbNotFound => rule(L::Database, EditInfrastructure, 7),
        Code::CacheUnreachable => rule(L::Cache, EditInfrastructure, 8),
        Code::CacheAccessDenied => rule(L::Cache, EditInfrastructure, 8),
        Code::CacheNotRedis => rule(L::Cache, EditInfrastructure, 9),
        Code::DbNodeSqlite => rule(L::Database, EditInfrastructure, 18),
        Code::DbNodeOtherDatabase => rule(L::Database, EditInfrastructure, 18),
        Code::CachePrefixOverlap => rule(L::Cache, EditInfrastructure, 19),
        Code::CacheNodePrefixDiffers => rule(L::Cache, EditInfrastructure, 19),
        Code::CacheNodeNotShared => rule(L::Cache, EditInfrastructure, 20),
        Code::DbSchemaDrift => rule(L::Database, EditInfrastructure, 28),
        Code::DbQueryFailed => rule(L::Database, EditInfrastructure, 29),
        Code::NodeConfigUnreadable => rule(L::Node, EditInfrastructure, 35),
        Code::CacheStaleResponses => rule(L::Cache, EditInfrastructure, 40),
        Code::CacheForeignKeys => rule(L::Cache, EditInfrastructure, 41),
        Code::CacheEvicting => rule(L::Cache, EditInfrastructure, 42),
        Code::DbUserMissing => rule(L::Auth, FixCredentials, 48),
        Code::DbTokenMissing => rule(L::Auth, FixCredentials, 49),
        Code::NodeTls => rule(L::Node, EditInfrastructure, 18),
        Code::NodeRedirect => rule(L::Node, EditInfrastructure, 19),
        // --- node files (issue 12) ---
        Code::NodeDatabaseDiffers => rule(L::Database, EditInfrastructure, 18),
        Code::NodeCacheDiffers => rule(L::Cache, EditInfrastructure, 20),
        Code::NodeResponseCacheDiffers => rule(L::Cache, EditInfrastructure, 21),
        Code::NodeAuthDiffers => rule(L::Auth, EditInfrastructure, 19),
        Code::NodeRoutesStale => rule(L::Node, EditInfrastructure, 22),
        Code::SessionSecretDiffers => rule(L::Node, EditInfrastructure, 31),
        Code::NodeFilesOk | Code::NodeRoutesMatchDb => rule(L::None, None, 255),
        Code::ProbeNotConfigured
        | Code::NodeOk
        | Code::HealthAuthGated
        | Code::TokenOk
        | Code::RouteOk
        | Code::BalancerOk
        | Code::DbOk
        | Code::DbSchemaOk
        | Code::DbDataOk
        | Code::DbTokenActive
        | Code::DbNodeOk
        | Code::CacheOk
        | Code::CachePrefixesOk
        | Code::CacheNodeOk
        | Code::CacheCensus
        | Code::CacheCensusIncomplete => rule(L::None, None, 255),
    }
}

/// Facts from one probe that change how another probe's finding reads
/// (issue 5's cross-probe verdict).
#[derive(Debug, Default)]
struct CrossFacts {
    /// The database probe found the configured token active for `cluster.user`.
    token_in_db: bool,
    /// Nodes whose aisbf.json points at another database than the cluster's.
    off_db_nodes: Vec<String>,
    /// Nodes whose user routes match the database (issue 12): when they are
    /// the odd ones out, the others are stale, not they.
    fresh_nodes: Vec<String>,
}

impl CrossFacts {
    fn of(findings: &[Finding]) -> CrossFacts {
        CrossFacts {
            token_in_db: findings.iter().any(|f| f.code == Code::DbTokenActive),
            off_db_nodes: findings
                .iter()
                .filter(|f| matches!(f.code, Code::DbNodeSqlite | Code::DbNodeOtherDatabase))
                .map(|f| f.subject.clone())
                .collect(),
            fresh_nodes: findings
                .iter()
                .filter(|f| f.code == Code::NodeRoutesMatchDb)
                .map(|f| f.subject.clone())
                .collect(),
        }
    }

    /// The rule for `f` in the light of the other probes' findings.
    fn rule(&self, f: &Finding) -> Rule {
        if f.code == Code::ModelsDiffer && self.fresh_nodes.contains(&f.subject) {
            // It differs from the majority because the majority is stale
            // (`node_routes_stale` names those nodes): not a culprit.
            return rule(Layer::None, Action::None, 255);
        }
        let drift = matches!(
            f.code,
            Code::TokenRejectedOnNode
                | Code::ModelsDiffer
                | Code::RouteFailsOnNode
                | Code::GlobalTokenRejectedOnNode
        );
        if drift && self.off_db_nodes.contains(&f.subject) {
            // The node's own aisbf.json explains the drift: its database config.
            return rule(Layer::Database, Action::EditInfrastructure, 18);
        }
        if self.token_in_db && matches!(f.code, Code::TokenRejected | Code::TokenRejectedOnNode) {
            // The token is fine where it should be read: the nodes are not reading it there.
            return rule(Layer::Database, Action::EditInfrastructure, 19);
        }
        rule_for(f.code)
    }
}

/// Turns findings into a verdict. Pure: same findings, same verdict.
pub fn decide(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let worst = status(findings);
    let facts = CrossFacts::of(findings);
    let deciding: Vec<(&Finding, Rule)> = findings
        .iter()
        .filter(|f| f.severity == worst && worst != Severity::Ok)
        .map(|f| (f, facts.rule(f)))
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
        Layer::Database if matches!(top.code, Code::TokenRejected | Code::TokenRejectedOnNode) => {
            format!(
                "The token exists and is active in the shared database, yet it is rejected ({}): {who}: the nodes are not reading the shared database. This is not a bad token.",
                top.message
            )
        }
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
        Code::DbUnreachable => "From where the nodes run: can the database host be reached on its port (nc -vz host 3306)? Is mysqld/mariadbd running?".into(),
        Code::DbAccessDenied => "Check database.url's user and password, and the user's GRANT (SHOW GRANTS FOR the user)".into(),
        Code::DbNotFound => "Check the database name in database.url against SHOW DATABASES and the nodes' aisbf.json mysql_database".into(),
        Code::DbNodeSqlite => format!(
            "Set {n}'s aisbf.json \"database\" to the shared MySQL (type mysql, same host, port and database as the other nodes) and restart {n}"
        ),
        Code::DbNodeOtherDatabase => format!(
            "Point {n}'s aisbf.json \"database\" at the same MySQL host, port and database as the other nodes, then restart {n}"
        ),
        Code::DbSchemaDrift => "Compare the tables and columns with a node at the same AISBF version; restart a 0.99.92 node against this database so it runs its migrations".into(),
        Code::DbQueryFailed => "Check that the doctor's database user may SELECT on the AISBF tables (see README: read-only GRANT)".into(),
        Code::DbUserMissing => "Check cluster.user against SELECT username, is_active FROM users".into(),
        Code::DbTokenMissing => "The configured token is not an active token of cluster.user in user_api_tokens: issue a new token on the dashboard".into(),
        Code::NodeConfigUnreadable => format!("Check the aisbf_json path configured for {n}: the doctor must be able to read it"),
        Code::CacheUnreachable => "Can the Redis host be reached from the nodes (redis-cli -u URL PING)? Nodes that cannot reach Redis silently fall back to private caches".into(),
        Code::CacheAccessDenied => "Check the password/ACL user in cache.url (redis-cli AUTH)".into(),
        Code::CacheNotRedis => "cache.url points at something that is not Redis: check host and port".into(),
        Code::CacheEvicting => "Raise maxmemory or shorten response-cache TTLs: Redis is evicting AISBF keys".into(),
        Code::CachePrefixOverlap => "Give each environment its own prefix that is not a prefix of another's (aisbf.json cache.redis_key_prefix and response_cache.redis_key_prefix); AISBF's cache clear runs KEYS prefix* and would delete the other environment's keys".into(),
        Code::CacheNodePrefixDiffers => format!(
            "Set {n}'s aisbf.json cache.redis_key_prefix and response_cache.redis_key_prefix to the cluster's prefixes and restart {n}"
        ),
        Code::CacheNodeNotShared => format!("Set {n}'s aisbf.json cache type / response_cache backend to redis like the other nodes"),
        Code::CacheStaleResponses => "Keys without TTL under the response prefix never expire: flush that prefix (aisbf-doctor cache flush --prefix ...) and check response_cache.ttl".into(),
        Code::CacheForeignKeys => "Another environment writes under this cluster's prefix: give it its own prefix".into(),
        Code::NodeTls => format!(
            "Check {n}'s certificate (openssl s_client -connect host:port): renew it or install the right chain; set tls_insecure = true on that node only for a known self-signed test node"
        ),
        Code::NodeRedirect => format!(
            "Point {n}'s url at the AISBF node itself, not at a proxy or login page that redirects elsewhere"
        ),
        // --- node files (issue 12) ---
        Code::NodeDatabaseDiffers => format!(
            "Set {n}'s aisbf.json \"database\" (type, mysql_host, mysql_port, mysql_database) to the values the finding names, then restart {n}"
        ),
        Code::NodeCacheDiffers => format!(
            "Set {n}'s aisbf.json \"cache\" (type, redis_host, redis_port, redis_db, redis_key_prefix) to the values the finding names, then restart {n}"
        ),
        Code::NodeResponseCacheDiffers => format!(
            "Set {n}'s aisbf.json \"response_cache\" (enabled, backend, redis_host, redis_port, redis_db, redis_key_prefix, ttl) to the values the finding names, then restart {n}"
        ),
        Code::NodeAuthDiffers => format!(
            "Set auth.enabled in {n}'s aisbf.json like the other nodes (true: tokens enforced) and restart {n}"
        ),
        Code::SessionSecretDiffers => format!(
            "Copy ~/.aisbf/session_secret.key from a node of the majority to {n} (same file on every node, mode 600) and restart {n}; dashboard users log in once more"
        ),
        Code::NodeRoutesStale => format!(
            "Reload on {n}: POST /dashboard/user/reload-config with the user's dashboard session (0.99.92 answers 500 \"Failed to reload configuration\" but has already dropped its cached routes), or restart {n}; then run check db again"
        ),
        Code::ProbeNotConfigured
        | Code::NodeOk
        | Code::HealthAuthGated
        | Code::TokenOk
        | Code::RouteOk
        | Code::BalancerOk
        | Code::DbOk
        | Code::DbSchemaOk
        | Code::DbDataOk
        | Code::DbTokenActive
        | Code::DbNodeOk
        | Code::CacheOk
        | Code::CachePrefixesOk
        | Code::CacheNodeOk
        | Code::CacheCensus
        | Code::CacheCensusIncomplete
        | Code::NodeFilesOk
        | Code::NodeRoutesMatchDb => "Nothing to fix.".into(),
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
