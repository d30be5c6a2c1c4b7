//! The judgement table: one row per finding code.
//!
//! A row says what a code means once it decides a verdict: its default
//! severity, the layer it indicts, what the operator should change, how close
//! to the cause it is ([`Tier`]) and the first command to run. Rows are data so
//! that a new code is one line here, and a test fails when a code has none.
//! Within a tier, earlier rows win: the order below is the tie-break, so the
//! verdict never depends on what a node is called.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{Action, Layer};
use crate::finding::{Code, Severity};

/// How close a finding is to the cause. Ordered: the first tier present among
/// the worst findings decides the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// The doctor itself could not look: not a fact about the cluster.
    Doctor,
    /// Something every node shares is down: the database or the cache server.
    SharedInfrastructure,
    /// A node does not answer as an AISBF node (down, hung, 5xx, TLS, redirect).
    NodeDown,
    /// The balancer itself: unreachable, a dead or unknown member.
    Balancer,
    /// Nodes disagree: one node's config or state differs from the others'.
    Drift,
    /// The credentials are wrong for every node alike.
    Credentials,
    /// Route policy: a malformed name, a broken route, a provider down.
    RoutePolicy,
    /// A failure seen through the balancer that a node shows directly: the
    /// balancer merely relays it, so it never outranks the direct finding.
    Relayed,
    /// Slow, not failing.
    Performance,
    /// A probe did less than it was asked (the finding says how much).
    Incomplete,
    /// Not a problem.
    Healthy,
}

/// What one finding code means in a verdict.
#[derive(Debug, Clone, Copy)]
pub struct Judgement {
    pub code: Code,
    /// The severity probes give this code unless they say otherwise.
    pub severity: Severity,
    pub layer: Layer,
    pub action: Action,
    pub tier: Tier,
    /// The first command for the operator, given the finding's subject.
    pub first_check: fn(&str) -> String,
}

use Action::{EditInfrastructure as Infra, EditRoutes as Routes, FixCredentials as Creds};
use Severity::{Fail, Ok, Unknown, Warn};

const fn row(
    code: Code,
    severity: Severity,
    layer: Layer,
    action: Action,
    tier: Tier,
    first_check: fn(&str) -> String,
) -> Judgement {
    Judgement {
        code,
        severity,
        layer,
        action,
        tier,
        first_check,
    }
}

const fn healthy(code: Code) -> Judgement {
    row(code, Ok, Layer::None, Action::None, Tier::Healthy, |_| {
        "Nothing to fix.".into()
    })
}

/// Every finding code, grouped by tier; within a tier the earlier row wins.
/// One row a line or three: kept as a table, not as rustfmt would wrap it.
#[rustfmt::skip]
pub static JUDGEMENTS: &[Judgement] = &[
    // --- the doctor itself ---
    row(Code::DoctorError, Unknown, Layer::None, Action::None, Tier::Doctor, |_| {
        "Read the doctor's own error above (run with RUST_LOG=debug); it says nothing about the cluster".into()
    }),
    row(Code::ProbeDeadline, Unknown, Layer::None, Action::None, Tier::Doctor, |_| {
        "Raise cluster.deadline_ms or find which target hangs (run the probes one by one)".into()
    }),
    // --- shared infrastructure ---
    row(Code::DbUnreachable, Fail, Layer::Database, Infra, Tier::SharedInfrastructure, |_| {
        "From where the nodes run: can the database host be reached on its port (nc -vz host 3306)? Is mysqld/mariadbd running?".into()
    }),
    row(Code::DbAccessDenied, Fail, Layer::Database, Infra, Tier::SharedInfrastructure, |_| {
        "Check database.url's user and password, and the user's GRANT (SHOW GRANTS FOR the user)".into()
    }),
    row(Code::DbNotFound, Fail, Layer::Database, Infra, Tier::SharedInfrastructure, |_| {
        "Check the database name in database.url against SHOW DATABASES and the nodes' aisbf.json mysql_database".into()
    }),
    row(Code::CacheUnreachable, Fail, Layer::Cache, Infra, Tier::SharedInfrastructure, |_| {
        "Can the Redis host be reached from the nodes (redis-cli -u URL PING)? Nodes that cannot reach Redis silently fall back to private caches".into()
    }),
    row(Code::CacheAccessDenied, Fail, Layer::Cache, Infra, Tier::SharedInfrastructure, |_| {
        "Check the password/ACL user in cache.url (redis-cli AUTH)".into()
    }),
    row(Code::CacheNotRedis, Fail, Layer::Cache, Infra, Tier::SharedInfrastructure, |_| {
        "cache.url points at something that is not Redis: check host and port".into()
    }),
    row(Code::CacheFull, Fail, Layer::Cache, Infra, Tier::SharedInfrastructure, |_| {
        "Redis is full with maxmemory-policy noeviction, so every AISBF cache write fails: raise maxmemory, or set maxmemory-policy volatile-lru / allkeys-lru (CONFIG SET), then check used_memory against maxmemory (redis-cli INFO memory)".into()
    }),
    row(Code::CacheNearFull, Warn, Layer::Cache, Infra, Tier::SharedInfrastructure, |_| {
        "Redis is close to maxmemory with maxmemory-policy noeviction: raise maxmemory or pick an evicting policy before writes start failing (redis-cli INFO memory)".into()
    }),
    // --- a node down ---
    row(Code::NodeUnreachable, Fail, Layer::Node, Infra, Tier::NodeDown, |n| {
        format!("On {n}: is the AISBF process running and listening on its port? (systemctl status / ss -ltnp), then curl -sS -m 5 its URL /")
    }),
    row(Code::NodeTimeout, Fail, Layer::Node, Infra, Tier::NodeDown, |n| {
        format!("On {n}: the port accepts but does not answer: check CPU, a stuck worker or a firewall dropping replies; read /var/log/aisbf/aisbf.log")
    }),
    row(Code::NodeServerError, Fail, Layer::Node, Infra, Tier::NodeDown, |n| {
        format!("Read {n}'s /var/log/aisbf/aisbf.log and aisbf_stderr.log around the 5xx")
    }),
    row(Code::NodeBadAnswer, Fail, Layer::Node, Infra, Tier::NodeDown, |n| {
        format!("Check that {n}'s URL points at an AISBF node (curl -sS its URL /) and not at another service or proxy")
    }),
    row(Code::NodeTls, Fail, Layer::Node, Infra, Tier::NodeDown, |n| {
        format!("Check {n}'s certificate (openssl s_client -connect host:port): renew it or install the right chain; set tls_insecure = true on that node only for a known self-signed test node")
    }),
    row(Code::NodeRedirect, Fail, Layer::Node, Infra, Tier::NodeDown, |n| {
        format!("Point {n}'s url at the AISBF node itself, not at a proxy or login page that redirects elsewhere")
    }),
    // --- the balancer ---
    row(Code::BalancerUnreachable, Fail, Layer::Balancer, Infra, Tier::Balancer, |_| {
        "curl -sS -m 5 the balancer URL from where apps run; check the balancer's listener and TLS".into()
    }),
    row(Code::BalancerDeadMember, Fail, Layer::Balancer, Infra, Tier::Balancer, |_| {
        "List the balancer's upstream members (nginx upstream / HAProxy backend) and compare them with [[cluster.nodes]]: remove or repair the member that is not a healthy node".into()
    }),
    row(Code::BalancerUnknownMember, Fail, Layer::Balancer, Infra, Tier::Balancer, |_| {
        "List the balancer's upstream members: one of them is an AISBF node this config does not know (another environment or an old node)".into()
    }),
    // --- drift: one node differs ---
    row(Code::DbNodeSqlite, Fail, Layer::Database, Infra, Tier::Drift, |n| {
        format!("Set {n}'s aisbf.json \"database\" to the shared MySQL (type mysql, same host, port and database as the other nodes) and restart {n}")
    }),
    row(Code::DbNodeOtherDatabase, Fail, Layer::Database, Infra, Tier::Drift, |n| {
        format!("Point {n}'s aisbf.json \"database\" at the same MySQL host, port and database as the other nodes, then restart {n}")
    }),
    row(Code::NodeDatabaseDiffers, Fail, Layer::Database, Infra, Tier::Drift, |n| {
        format!("Set {n}'s aisbf.json \"database\" (type, mysql_host, mysql_port, mysql_database) to the values the finding names, then restart {n}")
    }),
    row(Code::AuthDisabledOnNode, Fail, Layer::Auth, Infra, Tier::Drift, |n| {
        format!("Set auth.enabled = true in {n}'s aisbf.json like the other nodes and restart {n}: with auth off it refuses every user token")
    }),
    row(Code::NodeAuthDiffers, Fail, Layer::Auth, Infra, Tier::Drift, |n| {
        format!("Set auth.enabled in {n}'s aisbf.json like the other nodes (true: tokens enforced) and restart {n}")
    }),
    row(Code::TokenRejectedOnNode, Fail, Layer::Auth, Infra, Tier::Drift, |n| {
        format!("Compare {n}'s aisbf.json \"database\" and \"auth\" sections with a node that accepts the token: is it on the shared MySQL, or on its own SQLite?")
    }),
    row(Code::GlobalTokenRejectedOnNode, Fail, Layer::Auth, Infra, Tier::Drift, |n| {
        format!("Compare {n}'s aisbf.json \"auth\" tokens with a node that accepts the global token")
    }),
    row(Code::CachePrefixOverlap, Fail, Layer::Cache, Infra, Tier::Drift, |_| {
        "Give each environment its own prefix that is not a prefix of another's (aisbf.json cache.redis_key_prefix and response_cache.redis_key_prefix); AISBF's cache clear runs KEYS prefix* and would delete the other environment's keys".into()
    }),
    row(Code::CacheNodePrefixDiffers, Fail, Layer::Cache, Infra, Tier::Drift, |n| {
        format!("Set {n}'s aisbf.json cache.redis_key_prefix and response_cache.redis_key_prefix to the cluster's prefixes and restart {n}")
    }),
    row(Code::CacheNodeNotShared, Fail, Layer::Cache, Infra, Tier::Drift, |n| {
        format!("Set {n}'s aisbf.json cache type / response_cache backend to redis like the other nodes")
    }),
    row(Code::NodeCacheDiffers, Fail, Layer::Cache, Infra, Tier::Drift, |n| {
        format!("Set {n}'s aisbf.json \"cache\" (type, redis_host, redis_port, redis_db, redis_key_prefix) to the values the finding names, then restart {n}")
    }),
    row(Code::NodeResponseCacheDiffers, Fail, Layer::Cache, Infra, Tier::Drift, |n| {
        format!("Set {n}'s aisbf.json \"response_cache\" (enabled, backend, redis_host, redis_port, redis_db, redis_key_prefix, ttl) to the values the finding names, then restart {n}")
    }),
    row(Code::ResponseCacheNotShared, Fail, Layer::Cache, Infra, Tier::Drift, |n| {
        format!("Restart {n} once Redis is reachable from it (redis-cli -h <its redis_host> PING from {n}: at start-up without Redis it falls back to a private memory cache), and check its aisbf.json response_cache section (enabled, backend redis, same redis host, port, db and prefix as the other nodes): it does not share the response cache")
    }),
    row(Code::NodeRoutesStale, Fail, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Reload on {n}: POST /dashboard/user/reload-config with the user's dashboard session (0.99.92 answers 500 \"Failed to reload configuration\" but has already dropped its cached routes), or restart {n}; then run check db again")
    }),
    row(Code::ModelsDiffer, Fail, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Compare {n}'s aisbf.json \"database\" section with the other nodes, then POST /dashboard/user/reload-config on {n}")
    }),
    row(Code::GlobalConfigDiffers, Fail, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Diff {n}'s providers.json, rotations.json and autoselect.json against another node's: global config lives in each node's own files")
    }),
    row(Code::SessionSecretDiffers, Fail, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Copy ~/.aisbf/session_secret.key from a node of the majority to {n} (same file on every node, mode 600) and restart {n}; dashboard users log in once more")
    }),
    row(Code::DashboardSessionRefused, Fail, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Compare {n}'s ~/.aisbf/session_secret.key (sha256sum, never print it) and its clock (date -u) with the other nodes'; copy the key from the majority and sync time, then restart {n}")
    }),
    row(Code::NodeRateLimitDiffers, Warn, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Set client_rate_limiting in {n}'s aisbf.json like the other nodes (enabled, api and general requests_per_minute / requests_per_hour) and restart {n}")
    }),
    row(Code::RouteFailsOnNode, Fail, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Compare {n} with a node where the routes work: its database (user providers come from it), its provider network access, and its logs")
    }),
    row(Code::TokenRejectedByBalancer, Fail, Layer::Balancer, Infra, Tier::Drift, |_| {
        "Check which nodes the balancer sends to: a member outside [[cluster.nodes]] does not know this token".into()
    }),
    row(Code::RouteFailsViaBalancer, Fail, Layer::Balancer, Infra, Tier::Drift, |_| {
        "Pin the route's request to each balancer member: one member the config does not list fails it".into()
    }),
    row(Code::DbSchemaDrift, Fail, Layer::Database, Infra, Tier::Drift, |_| {
        "Compare the tables and columns with a node at the same AISBF version; restart a 0.99.92 node against this database so it runs its migrations".into()
    }),
    row(Code::DbQueryFailed, Fail, Layer::Database, Infra, Tier::Drift, |_| {
        "Check that the doctor's database user may SELECT on the AISBF tables (see README: read-only GRANT)".into()
    }),
    row(Code::VersionDrift, Warn, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Upgrade {n} to the version the other nodes run (pip show aisbf)")
    }),
    row(Code::ClockSkew, Warn, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Check time sync on {n} (timedatectl / chronyc tracking) and compare `date -u` with another node")
    }),
    row(Code::NodeConfigUnreadable, Warn, Layer::Node, Infra, Tier::Drift, |n| {
        format!("Check the aisbf_json path configured for {n}: the doctor must be able to read it")
    }),
    row(Code::ResponseCacheUnused, Warn, Layer::Cache, Infra, Tier::Drift, |_| {
        "Check the nodes' aisbf.json response_cache section (enabled = true, backend redis) and their logs at start-up for \"Redis connection failed, falling back to memory cache\": no node shares cached answers".into()
    }),
    row(Code::CacheNodeNotConnected, Warn, Layer::Cache, Infra, Tier::Drift, |n| {
        format!("On {n}: do aisbf.json cache and response_cache (redis_host, redis_port, redis_db) point at this Redis, and can {n} reach it (redis-cli -h HOST -p PORT PING from {n})? Then restart {n}")
    }),
    row(Code::CacheStaleResponses, Warn, Layer::Cache, Infra, Tier::Drift, |_| {
        "Keys without TTL under the response prefix never expire: flush that prefix (aisbf-doctor cache flush --prefix ...) and check response_cache.ttl".into()
    }),
    row(Code::CacheForeignKeys, Warn, Layer::Cache, Infra, Tier::Drift, |_| {
        "Another environment writes under this cluster's prefix: give it its own prefix".into()
    }),
    row(Code::CacheEvicting, Warn, Layer::Cache, Infra, Tier::Drift, |_| {
        "Raise maxmemory or shorten response-cache TTLs: Redis is evicting AISBF keys".into()
    }),
    // --- credentials wrong everywhere ---
    row(Code::DbUserMissing, Fail, Layer::Auth, Creds, Tier::Credentials, |_| {
        "Check cluster.user against SELECT username, is_active FROM users".into()
    }),
    row(Code::DbTokenMissing, Fail, Layer::Auth, Creds, Tier::Credentials, |_| {
        "The configured token is not an active token of cluster.user in user_api_tokens: issue a new token on the dashboard".into()
    }),
    row(Code::DbTokenNoApiScope, Fail, Layer::Auth, Creds, Tier::Credentials, |_| {
        "Use a token with scope api or both for cluster.token (user_api_tokens.scope); mcp tokens are for MCP clients only".into()
    }),
    row(Code::TokenRejected, Fail, Layer::Auth, Creds, Tier::Credentials, |_| {
        "Check the token in config: right user, scope api or both, active in user_api_tokens, no trailing whitespace".into()
    }),
    row(Code::GlobalTokenRejected, Fail, Layer::Auth, Creds, Tier::Credentials, |_| {
        "Check cluster.global_token against aisbf.json auth tokens on the nodes".into()
    }),
    row(Code::TokenScopeLimited, Ok, Layer::Auth, Creds, Tier::Credentials, |_| {
        "Issue a token with scope both (or use the matching token for MCP clients): user_api_tokens.scope".into()
    }),
    // --- route policy ---
    row(Code::RouteMalformed, Fail, Layer::Route, Routes, Tier::RoutePolicy, |n| {
        format!("Rename the route in the calling app: {n} is not a valid AISBF 0.99.92 model name (kind/name, not kind:name)")
    }),
    row(Code::RouteProviderDown, Fail, Layer::Provider, Routes, Tier::RoutePolicy, |n| {
        format!("Check the provider behind {n} (reachable, key valid, not in cooldown), or point the route at another provider")
    }),
    row(Code::RouteBroken, Fail, Layer::Route, Routes, Tier::RoutePolicy, |n| {
        format!("Check that {n} exists for cluster.user (dashboard: providers/rotations) and read the node logs for the error")
    }),
    // --- relayed through the balancer ---
    row(Code::BalancerFailuresFollowNode, Fail, Layer::Node, Infra, Tier::Relayed, |n| {
        format!("Take {n} out of the balancer's pool only as a stopgap; first find why {n} fails (see its health line) and repair it")
    }),
    // --- slow ---
    row(Code::LatencyOutlier, Warn, Layer::Node, Infra, Tier::Performance, |n| {
        format!("Check load and upstream latency on {n}")
    }),
    row(Code::RouteSlowOnNode, Warn, Layer::Node, Infra, Tier::Performance, |n| {
        format!("Check {n}'s network path to the providers and its load")
    }),
    // --- incomplete ---
    row(Code::DashboardLoginFailed, Warn, Layer::None, Action::None, Tier::Incomplete, |_| {
        "Check cluster.dashboard_user and cluster.dashboard_password: log in on the first node's /dashboard/login by hand".into()
    }),
    row(Code::ProbeIncomplete, Warn, Layer::None, Action::None, Tier::Incomplete, |_| {
        "Raise cluster.deadline_ms (or lower the number of requests asked for): the probe ran out of time".into()
    }),
    // --- healthy ---
    healthy(Code::ProbeNotConfigured),
    healthy(Code::NodeOk),
    healthy(Code::HealthAuthGated),
    healthy(Code::TokenOk),
    healthy(Code::RouteOk),
    healthy(Code::BalancerOk),
    healthy(Code::DbOk),
    healthy(Code::DbSchemaOk),
    healthy(Code::DbDataOk),
    healthy(Code::DbTokenActive),
    healthy(Code::DbNodeOk),
    healthy(Code::CacheOk),
    healthy(Code::CachePrefixesOk),
    healthy(Code::CacheNodeOk),
    healthy(Code::CacheCensus),
    healthy(Code::CacheCensusIncomplete),
    healthy(Code::ResponseCacheShared),
    healthy(Code::NodeFilesOk),
    healthy(Code::NodeRoutesMatchDb),
];

static BY_CODE: LazyLock<HashMap<Code, usize>> = LazyLock::new(|| {
    JUDGEMENTS
        .iter()
        .enumerate()
        .map(|(i, j)| (j.code, i))
        .collect()
});

/// A code without a row (a test keeps this from happening): judged as the
/// doctor's own gap, never as a cluster culprit.
static UNJUDGED: Judgement = row(
    Code::DoctorError,
    Unknown,
    Layer::None,
    Action::None,
    Tier::Doctor,
    |_| "This finding code has no judgement row: report it as a bug of aisbf-doctor".into(),
);

/// The row for `code`, and its position (the tie-break within its tier).
pub fn judgement(code: Code) -> (&'static Judgement, usize) {
    match BY_CODE.get(&code) {
        Some(&i) => (&JUDGEMENTS[i], i),
        None => (&UNJUDGED, usize::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_finding_code_has_exactly_one_judgement_row() {
        for code in Code::iter() {
            let rows = JUDGEMENTS.iter().filter(|j| j.code == code).count();
            assert_eq!(rows, 1, "{code:?} has {rows} judgement rows");
        }
    }

    #[test]
    fn rows_are_grouped_by_tier_in_rank_order() {
        // The table's order is the tie-break: a row of a better tier after a
        // worse one would silently change verdicts.
        for pair in JUDGEMENTS.windows(2) {
            assert!(
                pair[0].tier <= pair[1].tier,
                "{:?} ({:?}) is listed after {:?} ({:?})",
                pair[1].code,
                pair[1].tier,
                pair[0].code,
                pair[0].tier
            );
        }
    }

    #[test]
    fn healthy_rows_indict_nothing_and_problem_rows_indict_a_layer() {
        for j in JUDGEMENTS {
            match j.tier {
                Tier::Healthy | Tier::Doctor | Tier::Incomplete => {
                    assert_eq!(j.layer, Layer::None, "{:?}", j.code);
                    assert_eq!(j.action, Action::None, "{:?}", j.code);
                }
                _ => {
                    assert_ne!(j.layer, Layer::None, "{:?}", j.code);
                    assert_ne!(j.action, Action::None, "{:?}", j.code);
                }
            }
        }
    }

    #[test]
    fn first_checks_about_a_node_or_route_name_it() {
        for j in JUDGEMENTS {
            let text = (j.first_check)("node-x");
            assert!(!text.trim().is_empty(), "{:?}", j.code);
            let names_subject = matches!(j.layer, Layer::Node | Layer::Route | Layer::Provider)
                && j.tier != Tier::Incomplete;
            if names_subject {
                assert!(text.contains("node-x"), "{:?}: {text}", j.code);
            }
        }
    }
}
