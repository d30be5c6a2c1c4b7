//! What probes report: one [`Finding`] per thing observed.
//!
//! A finding says what was seen (severity, subject, a stable code and a human
//! message); it never decides what is broken. That is the verdict's job.

use serde::{Deserialize, Serialize};

/// How bad one observation is. Ordered: `Ok < Warn < Unknown < Fail`: a
/// failure seen is reported even when the doctor could not look at everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warn,
    /// The doctor could not tell (its own error, or nothing was checked).
    Unknown,
    Fail,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warn => "warn",
            Severity::Unknown => "unknown",
            Severity::Fail => "fail",
        }
    }
}

pub use crate::probe::ProbeKind;

/// Stable, machine-readable finding codes (part of the JSON contract).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum Code {
    // --- engine ---
    /// The doctor itself failed (not a fact about the cluster): status unknown.
    DoctorError,
    /// A probe did not finish before the overall deadline.
    ProbeDeadline,
    /// A probe was selected but the config lacks what it needs.
    ProbeNotConfigured,
    /// A probe did less than it was asked before the deadline (the message says how much).
    ProbeIncomplete,

    // --- health (node) probe ---
    /// The node answered and agrees with the majority.
    NodeOk,
    /// Connection refused, DNS or TLS failure: the node is not reachable.
    NodeUnreachable,
    /// The node accepted the connection but did not answer in time.
    NodeTimeout,
    /// The node answered 5xx.
    NodeServerError,
    /// The node answered something that is not AISBF (garbage, oversized, odd status).
    NodeBadAnswer,
    /// `/health` answered 401/403 without a global token: up and auth-gated.
    HealthAuthGated,
    /// The node rejects the global token that other nodes accept.
    GlobalTokenRejectedOnNode,
    /// Every node rejects the configured global token.
    GlobalTokenRejected,
    /// The node's set of model ids differs from the majority.
    ModelsDiffer,
    /// The node's global providers/rotations/autoselect keys differ from the majority.
    GlobalConfigDiffers,
    /// The node runs another AISBF version than the majority.
    VersionDrift,
    /// The node rejects the user token that other nodes accept.
    TokenRejectedOnNode,
    /// The node has auth disabled while others enforce it.
    AuthDisabledOnNode,
    /// Every node rejects the user token the same way.
    TokenRejected,
    /// The node is much slower than the others.
    LatencyOutlier,
    /// The node's clock is minutes off the other nodes' (signed sessions break).
    ClockSkew,

    // --- token probe ---
    /// The user token is accepted on this node's user endpoints.
    TokenOk,
    /// The token works on /api but its scope refuses MCP (or the reverse).
    TokenScopeLimited,
    /// The balancer rejects the token that every configured node accepts.
    TokenRejectedByBalancer,

    // --- route matrix ---
    /// The route answered on every node.
    RouteOk,
    /// AISBF answered 400 "Model must be in format ...": the route name is wrong.
    RouteMalformed,
    /// The route's provider fails on every node (connection error, cooldown, 429, aisbf_error).
    RouteProviderDown,
    /// The route fails on every node with a node-side error (unknown route, bare 500).
    RouteBroken,
    /// Routes fail on this node only: infrastructure on that node.
    RouteFailsOnNode,
    /// Routes fail only through the balancer.
    RouteFailsViaBalancer,
    /// This node answers routes much slower than the others.
    RouteSlowOnNode,

    // --- balancer probe ---
    /// Every request through the balancer succeeded.
    BalancerOk,
    /// The balancer itself cannot be reached.
    BalancerUnreachable,
    /// Requests through the balancer fail while every configured node is healthy.
    BalancerDeadMember,
    /// The balancer's failures are explained by this failing node.
    BalancerFailuresFollowNode,
    /// The balancer serves answers that match no configured node.
    BalancerUnknownMember,

    // --- database probe ---
    /// The shared database answered: version and latency.
    DbOk,
    /// The database server cannot be reached (refused, DNS, timeout, TLS).
    DbUnreachable,
    /// The database refused the login (wrong user or password, no grant).
    DbAccessDenied,
    /// The server answered but the configured database does not exist.
    DbNotFound,
    /// Tables and columns match what AISBF 0.99.92 creates.
    DbSchemaOk,
    /// Tables or columns AISBF 0.99.92 needs are missing (or extra ones exist).
    DbSchemaDrift,
    /// Counts of users, active tokens, user providers and rotations.
    DbDataOk,
    /// A bounded data query failed (table missing, no SELECT grant).
    DbQueryFailed,
    /// `cluster.user` is not in `users`, or is not active.
    DbUserMissing,
    /// The configured token is not an active token of `cluster.user`.
    DbTokenMissing,
    /// The configured token exists in the shared database, active, for `cluster.user`.
    DbTokenActive,
    /// The configured token is active in the shared database but its scope is `mcp` only.
    DbTokenNoApiScope,
    /// The node's aisbf.json points at the same database as the cluster.
    DbNodeOk,
    /// The node's aisbf.json says SQLite while the cluster uses MySQL: routes vanish.
    DbNodeSqlite,
    /// The node's aisbf.json points at another MySQL host, port or database.
    DbNodeOtherDatabase,
    /// The node's aisbf.json cannot be read or parsed.
    NodeConfigUnreadable,

    // --- cache probe ---
    /// Redis answered: version, latency, memory, eviction policy, keyspace.
    CacheOk,
    /// Redis cannot be reached (refused, DNS, timeout, TLS).
    CacheUnreachable,
    /// Redis refused the login (NOAUTH / WRONGPASS).
    CacheAccessDenied,
    /// Something answers on the port, but it is not Redis.
    CacheNotRedis,
    /// Redis has evicted keys, or its memory policy will.
    CacheEvicting,
    /// Configured prefixes of different environments overlap.
    CachePrefixOverlap,
    /// The configured prefixes are disjoint.
    CachePrefixesOk,
    /// The node's aisbf.json cache prefixes equal the cluster's.
    CacheNodeOk,
    /// The node's aisbf.json cache or response-cache prefix differs from the cluster's.
    CacheNodePrefixDiffers,
    /// The node's aisbf.json does not use Redis: it keeps a private cache.
    CacheNodeNotShared,
    /// The SCAN census: counts per prefix.
    CacheCensus,
    /// Keys under the response prefix without a TTL: stale answers never expire.
    CacheStaleResponses,
    /// Keys under the cluster's prefix that look like another environment's.
    CacheForeignKeys,
    /// The census stopped at its time budget: counts are a lower bound.
    CacheCensusIncomplete,
    // --- hardening ---
    /// The TLS handshake with the node failed (bad, expired or self-signed certificate).
    NodeTls,
    /// The node answered with a redirect; redirects are never followed.
    NodeRedirect,

    // --- cache sharing and latency (issue 12) ---
    /// Redis is at `maxmemory` with policy `noeviction`: every AISBF cache write
    /// fails, so nothing is shared or cached (and `evicted_keys` stays 0).
    CacheFull,
    /// Redis is at 90 % or more of `maxmemory` with policy `noeviction`: writes
    /// start failing when it is full.
    CacheNearFull,
    /// The node answered the identical smoke request with another `id` than the
    /// nodes that share the response cache: it does not share it (private
    /// memory fallback, or `response_cache` disabled).
    ResponseCacheNotShared,
    /// Every node answered the identical smoke request with its own `id`:
    /// nothing is cached or shared anywhere.
    ResponseCacheUnused,
    /// Nodes answered the identical smoke request with the same `id`: they share
    /// the response cache.
    ResponseCacheShared,
    /// No Redis client connection comes from the node's address: it does not use
    /// the shared Redis.
    CacheNodeNotConnected,
    // --- node files (issue 12) ---
    /// The node's aisbf.json `database` (type, host, port, name) differs from
    /// the cluster's `[database]` or from the majority of nodes.
    NodeDatabaseDiffers,
    /// The node's aisbf.json `cache` (type, host, port, db, prefix) differs
    /// from the cluster's `[cache]` or from the majority of nodes.
    NodeCacheDiffers,
    /// The node's aisbf.json `response_cache` (enabled, backend, host, port,
    /// db, prefix, ttl) differs from the cluster's or the majority's.
    NodeResponseCacheDiffers,
    /// The node's aisbf.json `auth.enabled` differs from the other nodes'.
    NodeAuthDiffers,
    /// The node's aisbf.json `client_rate_limiting` differs from the other nodes'.
    NodeRateLimitDiffers,
    /// A dashboard session issued by one node is refused by this one (or the reverse).
    DashboardSessionRefused,
    /// The doctor could not log in to the dashboard with the configured user.
    DashboardLoginFailed,
    /// The node's aisbf.json and session key agree with the cluster and the majority.
    NodeFilesOk,
    /// The node's `session_secret.key` differs from the majority's (or is
    /// missing): dashboard sessions break behind the balancer.
    SessionSecretDiffers,
    /// The node serves user providers, rotations or autoselects that differ
    /// from the database's: a stale in-process copy.
    NodeRoutesStale,
    /// The node's user providers, rotations and autoselects match the database.
    NodeRoutesMatchDb,
}

impl Code {
    /// The code as it appears in JSON (`node_unreachable`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The first `shown` names, then how many more (`"a, b, c and 7 more"`), so a
/// message or summary stays short at any cluster size. `more` is the tail's
/// wording ("more", "other nodes").
pub fn name_few<S: AsRef<str>>(names: &[S], shown: usize, more: &str) -> String {
    let all: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    if all.len() <= shown {
        return all.join(", ");
    }
    format!(
        "{} and {} {more}",
        all[..shown].join(", "),
        all.len() - shown
    )
}

/// One observation, already phrased for people and keyed for machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Finding {
    pub probe: ProbeKind,
    pub severity: Severity,
    /// What the finding is about: a node name, a route, `token`, `database`, `cache`, ...
    pub subject: String,
    pub code: Code,
    pub message: String,
    /// The subject's latency when the probe measured one (for charts and
    /// metrics; not part of the JSON contract).
    #[serde(skip)]
    pub latency_ms: Option<u64>,
}

impl Finding {
    pub fn new(
        probe: ProbeKind,
        severity: Severity,
        subject: impl Into<String>,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        Self {
            probe,
            severity,
            subject: subject.into(),
            code,
            message: message.into(),
            latency_ms: None,
        }
    }

    /// The same finding with a measured latency attached.
    pub fn with_latency(mut self, latency_ms: Option<u64>) -> Self {
        self.latency_ms = latency_ms;
        self
    }
}
