//! `check health`: every node answers, and the nodes agree with each other.
//!
//! For each node, in parallel: `GET /` (global config keys, no token needed),
//! `GET /health` (with the global token when configured), `GET /api/version`
//! (global token only) and `GET /api/u/{user}/models` (user token). Observation
//! and judgement are split: [`observe`] does the I/O, [`assess`] is pure and
//! compares nodes (never raw bodies: `created` changes per request). A node the
//! first pass makes look like a latency outlier gets a second pass first.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use futures::future::BoxFuture;
use tracing::Instrument;

use crate::aisbf::{self, Refusal};
use crate::config::{Config, Node};
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::{Answer, Failure, FailureKind, Http, Outcome};
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::probe::target::{join, model_ids};
use crate::secret::Secret;

pub struct HealthProbe;

impl super::Probe for HealthProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Health
    }

    fn requires(&self, _config: &Config) -> Result<(), String> {
        Ok(())
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let mut observations = observe(ctx).await;
            resample_slow(ctx, &mut observations).await;
            assess(&observations, ctx.config.cluster.global_token.is_some())
        })
    }
}

/// What one node answered to the four requests.
#[derive(Debug, Clone)]
pub struct NodeObservation {
    pub name: String,
    pub root: Outcome,
    pub health: Outcome,
    /// `None` when no global token is configured (the endpoint needs one).
    pub version: Option<Outcome>,
    pub models: Outcome,
    /// `GET /api/u/{user}/providers`: 0.99.92 leaves user providers out of the
    /// models list, so their ids come from here.
    pub providers: Outcome,
    /// The node's clock minus ours, in seconds, from the `created` AISBF puts
    /// in the models list (the time of the request on the node).
    pub clock_offset_s: Option<i64>,
    /// The node's latency on a second pass of the same requests, taken only when
    /// the first pass made it look like an outlier (see [`outlier_candidates`]).
    pub second_latency_ms: Option<u64>,
}

/// Observes every node in scope, `cluster.concurrency` nodes at a time.
pub async fn observe(ctx: &ProbeContext) -> Vec<NodeObservation> {
    let cluster = &ctx.config.cluster;
    // Futures are built first: a closure inside the stream trips the
    // higher-ranked lifetime check of the boxed `Send` future.
    let requests: Vec<_> = ctx
        .nodes()
        .into_iter()
        .map(|node| {
            let span = tracing::info_span!("node", node = %node.name);
            observe_node(
                &ctx.http,
                node,
                &cluster.user,
                &cluster.token,
                cluster.global_token.as_ref(),
            )
            .instrument(span)
        })
        .collect();
    bounded_in_order(requests, cluster.concurrency).await
}

/// The four requests to one node, concurrently.
pub async fn observe_node(
    http: &Http,
    node: &Node,
    user: &str,
    token: &Secret,
    global_token: Option<&Secret>,
) -> NodeObservation {
    let root = join(&node.url, "/");
    let health = join(&node.url, "/health");
    let version = join(&node.url, "/api/version");
    let models = join(&node.url, &format!("/api/u/{user}/models"));
    let providers = join(&node.url, &format!("/api/u/{user}/providers"));
    let (root, health, version, models, providers) = tokio::join!(
        http.get(&root, None),
        http.get(&health, global_token),
        async {
            match global_token {
                Some(t) => Some(http.get(&version, Some(t)).await),
                None => None,
            }
        },
        http.get(&models, Some(token)),
        http.get(&providers, Some(token)),
    );
    let clock_offset_s = clock_offset(&models, unix_now());
    NodeObservation {
        name: node.name.clone(),
        root,
        health,
        version,
        models,
        providers,
        clock_offset_s,
        second_latency_ms: None,
    }
}

/// Times the same requests once more on each node the first pass made look
/// like a latency outlier: one cold first request (a new connection, a worker
/// waking up) must not make a healthy node an outlier.
pub async fn resample_slow(ctx: &ProbeContext, obs: &mut [NodeObservation]) {
    let slow = outlier_candidates(obs);
    // No second pass that could run past the deadline: then no warning either.
    if slow.is_empty() || ctx.remaining() < ctx.http.timeout() {
        return;
    }
    let cluster = &ctx.config.cluster;
    let again: Vec<_> = ctx
        .nodes()
        .into_iter()
        .filter(|n| slow.contains(&n.name))
        .map(|node| {
            observe_node(
                &ctx.http,
                node,
                &cluster.user,
                &cluster.token,
                cluster.global_token.as_ref(),
            )
        })
        .collect();
    for second in futures::future::join_all(again).await {
        if let Some(o) = obs.iter_mut().find(|o| o.name == second.name) {
            o.second_latency_ms = max_latency(&second);
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The node's clock minus `now`: AISBF stamps every model with the time of the
/// request, so any entry's `created` is the node's clock.
fn clock_offset(models: &Outcome, now: i64) -> Option<i64> {
    let a = models.as_ref().ok().filter(|a| a.status == 200)?;
    let created = a
        .body
        .json()?
        .get("data")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("created").and_then(serde_json::Value::as_i64))
        .max()?;
    Some(created.saturating_sub(now))
}

// ---------------------------------------------------------------------------
// Pure judgement
// ---------------------------------------------------------------------------

/// What the user-token request says about the token on one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TokenAnswer {
    Accepted(BTreeSet<String>),
    /// Rejected with AISBF's reason text.
    Rejected {
        status: u16,
        refusal: Refusal,
        reason: String,
    },
}

/// Compares the nodes and reports one or more findings per node.
pub fn assess(obs: &[NodeObservation], has_global_token: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut answering: Vec<&NodeObservation> = Vec::new();
    for o in obs {
        match node_reachability(o) {
            Some(f) => findings.push(f),
            None => answering.push(o),
        }
    }

    // Per-node request failures after the node proved reachable.
    for o in &answering {
        for (path, outcome) in [("/health", &o.health), ("/api/u/{user}/models", &o.models)] {
            if let Some(f) = request_failure(&o.name, path, outcome) {
                findings.push(f);
            }
        }
        if let Some(Ok(a)) = &o.version
            && a.status >= 500
        {
            findings.push(server_error(&o.name, "/api/version", a));
        }
        // A 200 is only an answer when it has the shape AISBF gives: an HTML
        // page, `{}` or invalid UTF-8 is not "up".
        for (path, outcome, shape) in [
            ("/health", Some(&o.health), Shape::Status),
            ("/api/version", o.version.as_ref(), Shape::Version),
            ("/api/u/{user}/models", Some(&o.models), Shape::ModelList),
            (
                "/api/u/{user}/providers",
                Some(&o.providers),
                Shape::Providers,
            ),
        ] {
            if let Some(f) = outcome.and_then(|oc| bad_shape(&o.name, path, oc, shape)) {
                findings.push(f);
            }
        }
    }

    compare_global_config(&answering, &mut findings);
    compare_tokens(&answering, &mut findings);
    if has_global_token {
        compare_global_token(&answering, &mut findings);
    } else {
        for o in &answering {
            if let Ok(a) = &o.health
                && matches!(a.status, 401 | 403)
            {
                findings.push(Finding::new(
                    ProbeKind::Health,
                    Severity::Ok,
                    &o.name,
                    Code::HealthAuthGated,
                    format!(
                        "GET /health answered {} (auth-gated: the process is up; set cluster.global_token for the full check)",
                        a.status
                    ),
                ));
            }
        }
    }
    compare_versions(&answering, &mut findings);
    clock_skew(&answering, &mut findings);
    latency_outliers(&answering, &mut findings);

    // One ok line for every node nothing was wrong with (sets and maps keep
    // this linear in the number of nodes and findings).
    let troubled: HashSet<String> = findings
        .iter()
        .filter(|f| f.severity > Severity::Ok)
        .map(|f| f.subject.clone())
        .collect();
    for o in &answering {
        if !troubled.contains(&o.name) {
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Ok,
                &o.name,
                Code::NodeOk,
                ok_line(o),
            ));
        }
    }
    // Every finding about a node carries its latency, for charts and metrics.
    let latency: HashMap<&str, Option<u64>> = obs
        .iter()
        .map(|o| (o.name.as_str(), max_latency(o)))
        .collect();
    for f in &mut findings {
        if let Some(l) = latency.get(f.subject.as_str()) {
            f.latency_ms = *l;
        }
    }
    order_by_node(obs, findings)
}

fn ok_line(o: &NodeObservation) -> String {
    let mut parts = vec!["up".to_string()];
    if let Some(v) = version_of(o) {
        parts.push(format!("AISBF {v}"));
    }
    if let Some(ids) = user_catalogue(o) {
        parts.push(format!("{} user routes", ids.len()));
    }
    parts.push(format!("{} ms", max_latency(o).unwrap_or(0)));
    parts.join(", ")
}

/// Keeps the findings in config order of nodes, other subjects last.
fn order_by_node(obs: &[NodeObservation], mut findings: Vec<Finding>) -> Vec<Finding> {
    let at: HashMap<&str, usize> = obs
        .iter()
        .enumerate()
        .map(|(i, o)| (o.name.as_str(), i))
        .collect();
    let pos = |subject: &str| at.get(subject).copied().unwrap_or(usize::MAX);
    findings.sort_by_key(|f| pos(&f.subject));
    findings
}

fn node_reachability(o: &NodeObservation) -> Option<Finding> {
    let fail = |code, msg: String| {
        Some(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            &o.name,
            code,
            msg,
        ))
    };
    match &o.root {
        Err(f) => fail(failure_code(f), format!("GET / failed: {}", f.describe())),
        Ok(a) if a.status >= 500 => Some(server_error(&o.name, "/", a)),
        Ok(a) if matches!(a.body, crate::http::Body::Redirect { .. }) => fail(
            Code::NodeRedirect,
            format!("GET / answered {} with {}", a.status, a.body.describe()),
        ),
        Ok(a) if a.status != 200 || !looks_like_aisbf(a) => fail(
            Code::NodeBadAnswer,
            format!(
                "GET / answered {} with {}: this does not look like an AISBF node",
                a.status,
                a.body.describe()
            ),
        ),
        Ok(_) => None,
    }
}

fn looks_like_aisbf(a: &Answer) -> bool {
    a.body
        .json()
        .is_some_and(|v| v.get("providers").is_some() || v.get("message").is_some())
}

fn failure_code(f: &Failure) -> Code {
    match f.kind {
        FailureKind::Timeout => Code::NodeTimeout,
        FailureKind::Tls => Code::NodeTls,
        _ => Code::NodeUnreachable,
    }
}

fn server_error(node: &str, path: &str, a: &Answer) -> Finding {
    let reason = a.body.aisbf_error().unwrap_or_else(|| a.body.describe());
    Finding::new(
        ProbeKind::Health,
        Severity::Fail,
        node,
        Code::NodeServerError,
        format!("GET {path} answered {}: {reason}", a.status),
    )
}

/// Up to three node names and a count of the others.
pub(crate) fn name_few(names: &[&str]) -> String {
    crate::finding::name_few(names, 3, "other nodes")
}

/// What a 200 from an AISBF endpoint looks like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// `{"status": "ok"}` (`/health`).
    Status,
    /// `{"version": "0.99.92"}` (`/api/version`).
    Version,
    /// `{"object": "list", "data": [...]}` (models lists).
    ModelList,
    /// `{"providers": {...}}` (`/api/u/{user}/providers`).
    Providers,
}

impl Shape {
    fn fits(self, a: &Answer) -> bool {
        let Some(v) = a.body.json() else {
            return false;
        };
        match self {
            Shape::Status => v.get("status").is_some_and(serde_json::Value::is_string),
            Shape::Version => v.get("version").is_some_and(serde_json::Value::is_string),
            Shape::ModelList => v.get("data").is_some_and(serde_json::Value::is_array),
            Shape::Providers => v.get("providers").is_some_and(serde_json::Value::is_object),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Shape::Status => "{\"status\": ...}",
            Shape::Version => "{\"version\": ...}",
            Shape::ModelList => "a models list {\"data\": [...]}",
            Shape::Providers => "{\"providers\": {...}}",
        }
    }
}

/// `node_bad_answer` for a 200 that is not the shape AISBF gives.
pub(crate) fn bad_shape(
    node: &str,
    path: &str,
    outcome: &Outcome,
    shape: Shape,
) -> Option<Finding> {
    let a = outcome.as_ref().ok().filter(|a| a.status == 200)?;
    (!shape.fits(a)).then(|| {
        Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            node,
            Code::NodeBadAnswer,
            format!(
                "GET {path} answered 200 with {}, not {} as AISBF answers",
                a.body.describe(),
                shape.expected()
            ),
        )
    })
}

/// The finding for a request that got no usable answer (no answer, or 5xx).
pub(crate) fn request_failure(node: &str, path: &str, outcome: &Outcome) -> Option<Finding> {
    match outcome {
        Err(f) => Some(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            node,
            failure_code(f),
            format!("GET {path} failed: {}", f.describe()),
        )),
        Ok(a) if a.status >= 500 => Some(server_error(node, path, a)),
        Ok(_) => None,
    }
}

fn compare_global_config(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let keyed: Vec<(&str, GlobalKeys)> = answering
        .iter()
        .filter_map(|o| {
            o.root
                .as_ref()
                .ok()
                .map(|a| (o.name.as_str(), global_keys(a)))
        })
        .collect();
    for (name, keys, majority) in odd_ones_out(&keyed) {
        let msg = match majority {
            Some(m) => format!(
                "global config differs from the majority: {}",
                describe_key_diff(keys, m)
            ),
            None => "global config keys differ between nodes and no majority exists".to_string(),
        };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            name,
            Code::GlobalConfigDiffers,
            msg,
        ));
    }
}

/// The node's global providers, rotations and autoselect keys from `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct GlobalKeys {
    providers: BTreeSet<String>,
    rotations: BTreeSet<String>,
    autoselect: BTreeSet<String>,
}

fn global_keys(a: &Answer) -> GlobalKeys {
    let set = |key: &str| -> BTreeSet<String> {
        match a.body.json().and_then(|v| v.get(key)) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect(),
            Some(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => BTreeSet::new(),
        }
    };
    GlobalKeys {
        providers: set("providers"),
        rotations: set("rotations"),
        autoselect: set("autoselect"),
    }
}

fn describe_key_diff(mine: &GlobalKeys, majority: &GlobalKeys) -> String {
    let mut parts = Vec::new();
    for (label, a, b) in [
        ("providers", &mine.providers, &majority.providers),
        ("rotations", &mine.rotations, &majority.rotations),
        ("autoselect", &mine.autoselect, &majority.autoselect),
    ] {
        if let Some(d) = set_diff(a, b) {
            parts.push(format!("{label} {d}"));
        }
    }
    parts.join("; ")
}

/// "missing [..], extra [..]" of `mine` against `majority`, or None when equal.
fn set_diff(mine: &BTreeSet<String>, majority: &BTreeSet<String>) -> Option<String> {
    let missing: Vec<&str> = majority
        .difference(mine)
        .map(String::as_str)
        .take(10)
        .collect();
    let extra: Vec<&str> = mine
        .difference(majority)
        .map(String::as_str)
        .take(10)
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing [{}]", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("extra [{}]", extra.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The user's routes as a node lists them: model ids plus `user-provider/<id>`.
fn user_catalogue(o: &NodeObservation) -> Option<BTreeSet<String>> {
    let mut ids = match &o.models {
        Ok(a) if a.status == 200 => model_ids(a)?,
        _ => return None,
    };
    if let Ok(a) = &o.providers
        && a.status == 200
        && let Some(map) = a
            .body
            .json()
            .and_then(|v| v.get("providers"))
            .and_then(|v| v.as_object())
    {
        ids.extend(map.keys().map(|k| format!("user-provider/{k}")));
    }
    Some(ids)
}

fn token_answer(o: &NodeObservation) -> Option<TokenAnswer> {
    let a = o.models.as_ref().ok()?;
    match a.status {
        200 => user_catalogue(o).map(TokenAnswer::Accepted),
        401 | 403 => Some(TokenAnswer::Rejected {
            status: a.status,
            refusal: Refusal::of(a).unwrap_or(Refusal::Other),
            reason: aisbf::reason(a),
        }),
        _ => None,
    }
}

fn compare_tokens(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let answers: Vec<(&str, TokenAnswer)> = answering
        .iter()
        .filter_map(|o| token_answer(o).map(|t| (o.name.as_str(), t)))
        .collect();
    let accepted: Vec<(&str, &BTreeSet<String>)> = answers
        .iter()
        .filter_map(|(n, t)| match t {
            TokenAnswer::Accepted(ids) => Some((*n, ids)),
            TokenAnswer::Rejected { .. } => None,
        })
        .collect();
    let rejected: Vec<(&str, u16, Refusal, &str)> = answers
        .iter()
        .filter_map(|(n, t)| match t {
            TokenAnswer::Rejected {
                status,
                refusal,
                reason,
            } => Some((*n, *status, *refusal, reason.as_str())),
            TokenAnswer::Accepted(_) => None,
        })
        .collect();

    if accepted.is_empty() {
        if let Some((_, status, refusal, reason)) = rejected.first() {
            let nodes: Vec<&str> = rejected.iter().map(|(n, _, _, _)| *n).collect();
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                "token",
                Code::TokenRejected,
                format!(
                    "every node ({}) rejects the user token with {status} \"{reason}\": {}",
                    name_few(&nodes),
                    refusal.explain()
                ),
            ));
        }
    } else {
        for (name, status, refusal, reason) in &rejected {
            let code = if *refusal == Refusal::AuthDisabled {
                Code::AuthDisabledOnNode
            } else {
                Code::TokenRejectedOnNode
            };
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                *name,
                code,
                format!(
                    "rejects the user token that {} accept(s): {status} \"{reason}\" ({})",
                    name_few(&accepted.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
                    refusal.explain()
                ),
            ));
        }
    }

    let sets: Vec<(&str, BTreeSet<String>)> =
        accepted.iter().map(|(n, s)| (*n, (*s).clone())).collect();
    for (name, ids, majority) in odd_ones_out(&sets) {
        let msg = match majority {
            Some(m) => format!(
                "models for the user differ from the majority: {}",
                set_diff(ids, m).unwrap_or_default()
            ),
            None => format!(
                "nodes disagree on the user's models and no majority exists ({} models here)",
                ids.len()
            ),
        };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            name,
            Code::ModelsDiffer,
            msg,
        ));
    }
}

fn compare_global_token(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for o in answering {
        if let Ok(a) = &o.health {
            match a.status {
                200 => accepted.push(o.name.as_str()),
                401 | 403 => rejected.push((
                    o.name.as_str(),
                    a.status,
                    Refusal::of(a).unwrap_or(Refusal::Other),
                    aisbf::reason(a),
                )),
                _ => {}
            }
        }
    }
    if accepted.is_empty() {
        if let Some((_, status, refusal, reason)) = rejected.first() {
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                "global_token",
                Code::GlobalTokenRejected,
                format!(
                    "every node rejects cluster.global_token on GET /health with {status} \"{reason}\": {}",
                    refusal.explain()
                ),
            ));
        }
        return;
    }
    for (name, status, _, reason) in rejected {
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            name,
            Code::GlobalTokenRejectedOnNode,
            format!(
                "rejects the global token that {} accept(s) on GET /health: {status} \"{reason}\"; its auth config differs",
                accepted.join(", ")
            ),
        ));
    }
}

fn version_of(o: &NodeObservation) -> Option<String> {
    match &o.version {
        Some(Ok(a)) if a.status == 200 => a
            .body
            .json()
            .and_then(|v| v.get("version"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => None,
    }
}

fn compare_versions(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let versions: Vec<(&str, String)> = answering
        .iter()
        .filter_map(|o| version_of(o).map(|v| (o.name.as_str(), v)))
        .collect();
    for (name, v, majority) in odd_ones_out(&versions) {
        let msg = match majority {
            Some(m) => format!("runs AISBF {v} while the majority runs {m}"),
            None => format!("runs AISBF {v}; nodes run different versions and no majority exists"),
        };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Warn,
            name,
            Code::VersionDrift,
            msg,
        ));
    }
}

/// Clocks further apart than this break signed dashboard sessions between
/// nodes (itsdangerous refuses a signature from the future) and confuse logs.
const CLOCK_SKEW_S: i64 = 60;

/// A node whose clock is off from the median node's by more than a minute.
/// Comparing nodes with each other (not with ours) keeps the doctor's own
/// clock out of it.
fn clock_skew(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let mut offsets: Vec<(&str, i64)> = answering
        .iter()
        .filter_map(|o| o.clock_offset_s.map(|d| (o.name.as_str(), d)))
        .collect();
    if offsets.len() < 2 {
        return;
    }
    let mut sorted: Vec<i64> = offsets.iter().map(|(_, d)| *d).collect();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    offsets.retain(|(_, d)| d.abs_diff(median) > CLOCK_SKEW_S.unsigned_abs());
    // Without a clear majority there is no "right" clock to name.
    if offsets.len() * 2 >= answering.len() {
        return;
    }
    for (name, d) in offsets {
        let off = d - median;
        let dir = if off > 0 { "ahead of" } else { "behind" };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Warn,
            name,
            Code::ClockSkew,
            format!(
                "its clock runs {} s {dir} the other nodes': dashboard sessions it signs are refused by them (and theirs by it) until the clocks agree",
                off.unsigned_abs()
            ),
        ));
    }
}

/// The node's latency: its slowest answered request of the pass.
fn max_latency(o: &NodeObservation) -> Option<u64> {
    [
        Some(&o.root),
        Some(&o.health),
        o.version.as_ref(),
        Some(&o.models),
        Some(&o.providers),
    ]
    .into_iter()
    .flatten()
    .filter_map(|r| r.as_ref().ok().map(|a| a.latency_ms))
    .max()
}

/// The outlier rule: 3× the median node and at least a second more (sub-second
/// jitter on a busy Python node is not worth a warning).
fn is_outlier(latency_ms: u64, median_ms: u64) -> bool {
    latency_ms > median_ms.saturating_mul(3) && latency_ms.saturating_sub(median_ms) >= 1000
}

/// Median of the answering nodes' first-pass latencies, and those latencies.
fn first_pass<'a>(answering: &[&'a NodeObservation]) -> Option<(u64, Vec<(&'a str, u64)>)> {
    if answering.len() < 3 {
        return None;
    }
    let mut lat: Vec<(&str, u64)> = answering
        .iter()
        .filter_map(|o| max_latency(o).map(|l| (o.name.as_str(), l)))
        .collect();
    lat.sort_by_key(|(_, l)| *l);
    let median = lat.get(lat.len() / 2)?.1;
    Some((median, lat))
}

/// Pure: the nodes the first pass makes look like outliers; they get a second
/// sample before anything is said about them.
pub fn outlier_candidates(obs: &[NodeObservation]) -> Vec<String> {
    let answering: Vec<&NodeObservation> = obs
        .iter()
        .filter(|o| node_reachability(o).is_none())
        .collect();
    let Some((median, lat)) = first_pass(&answering) else {
        return Vec::new();
    };
    lat.into_iter()
        .filter(|(_, l)| is_outlier(*l, median))
        .map(|(n, _)| n.to_string())
        .collect()
}

/// A node that is an outlier on both samples: its fastest sample is still 3×
/// the median node and a second more. Without a second sample, no warning.
fn latency_outliers(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let Some((median, lat)) = first_pass(answering) else {
        return;
    };
    for (name, first) in lat {
        let Some(second) = answering
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.second_latency_ms)
        else {
            continue;
        };
        let best = first.min(second);
        if is_outlier(first, median) && is_outlier(best, median) {
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Warn,
                name,
                Code::LatencyOutlier,
                format!(
                    "answers in {best} ms at best (two samples: {first} ms, then {second} ms) while the median node answers in {median} ms"
                ),
            ));
        }
    }
}

/// The subjects whose value differs from the majority, with the majority value
/// (`None` when there is no strict largest group: then every node is listed).
fn odd_ones_out<'a, T: Eq + Hash + Clone>(
    items: &'a [(&'a str, T)],
) -> Vec<(&'a str, &'a T, Option<&'a T>)> {
    if items.len() < 2 {
        return Vec::new();
    }
    let mut counts: HashMap<&T, usize> = HashMap::new();
    for (_, v) in items {
        *counts.entry(v).or_default() += 1;
    }
    if counts.len() == 1 {
        return Vec::new();
    }
    let best = counts.values().copied().max().unwrap_or(0);
    let leaders: Vec<&T> = counts
        .iter()
        .filter(|(_, c)| **c == best)
        .map(|(v, _)| *v)
        .collect();
    match leaders.as_slice() {
        [majority] => items
            .iter()
            .filter(|(_, v)| v != *majority)
            .map(|(n, v)| (*n, v, Some(*majority)))
            .collect(),
        _ => items.iter().map(|(n, v)| (*n, v, None)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;
    use serde_json::json;

    fn ok(status: u16, body: serde_json::Value) -> Outcome {
        Ok(Answer {
            status,
            latency_ms: 10,
            body: Body::Json(body),
        })
    }

    fn root() -> Outcome {
        ok(
            200,
            json!({"message": "AI Proxy Server is running", "providers": ["openai"], "rotations": [], "autoselect": []}),
        )
    }

    fn models(ids: &[&str]) -> Outcome {
        let data: Vec<_> = ids
            .iter()
            .map(|i| json!({"id": i, "type": "provider", "created": 1}))
            .collect();
        ok(200, json!({"object": "list", "data": data}))
    }

    fn healthy(name: &str) -> NodeObservation {
        NodeObservation {
            name: name.into(),
            clock_offset_s: Some(0),
            root: root(),
            health: ok(
                401,
                json!({"error": "Missing or invalid Authorization header."}),
            ),
            version: None,
            models: models(&["rotation/r1", "autoselect/a1"]),
            providers: ok(200, json!({"providers": {"p1": {}, "p2": {}}})),
            second_latency_ms: None,
        }
    }

    fn codes_for(findings: &[Finding], subject: &str) -> Vec<Code> {
        findings
            .iter()
            .filter(|f| f.subject == subject)
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn healthy_nodes_are_ok_and_auth_gated_health_is_not_down() {
        let f = assess(&[healthy("a"), healthy("b"), healthy("c")], false);
        assert!(f.iter().all(|x| x.severity == Severity::Ok), "{f:#?}");
        assert_eq!(
            codes_for(&f, "a"),
            vec![Code::HealthAuthGated, Code::NodeOk]
        );
    }

    #[test]
    fn refused_and_hung_nodes_are_reported_by_kind() {
        let mut b = healthy("b");
        b.root = Err(Failure {
            kind: FailureKind::Refused,
            latency_ms: 1,
            detail: String::new(),
        });
        let mut c = healthy("c");
        c.root = Err(Failure {
            kind: FailureKind::Timeout,
            latency_ms: 500,
            detail: String::new(),
        });
        let f = assess(&[healthy("a"), b, c], false);
        assert_eq!(codes_for(&f, "b"), vec![Code::NodeUnreachable]);
        assert_eq!(codes_for(&f, "c"), vec![Code::NodeTimeout]);
    }

    #[test]
    fn node_with_different_models_is_the_odd_one_out() {
        let mut c = healthy("c");
        c.models = models(&["rotation/r1"]);
        c.providers = ok(200, json!({"providers": {"p1": {}, "p3": {}}}));
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        let drift: Vec<_> = f.iter().filter(|x| x.code == Code::ModelsDiffer).collect();
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].subject, "c");
        assert!(
            drift[0]
                .message
                .contains("missing [autoselect/a1, user-provider/p2], extra [user-provider/p3]"),
            "{}",
            drift[0].message
        );
    }

    #[test]
    fn token_rejected_on_one_node_is_auth_drift_on_that_node() {
        let mut c = healthy("c");
        c.models = ok(403, json!({"error": "Invalid authentication token"}));
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::TokenRejectedOnNode, Code::HealthAuthGated]
        );
        assert!(!f.iter().any(|x| x.code == Code::TokenRejected));
    }

    #[test]
    fn token_rejected_everywhere_is_a_credentials_finding_with_the_reason() {
        let nodes: Vec<_> = ["a", "b"]
            .iter()
            .map(|n| {
                let mut o = healthy(n);
                o.models = ok(
                    403,
                    json!({"error": "This token does not have API access."}),
                );
                o
            })
            .collect();
        let f = assess(&nodes, false);
        let t: Vec<_> = f.iter().filter(|x| x.code == Code::TokenRejected).collect();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].subject, "token");
        assert!(
            t[0].message.contains("scope is mcp only"),
            "{}",
            t[0].message
        );
    }

    #[test]
    fn version_drift_and_global_config_drift_are_found() {
        let with = |name: &str, version: &str, providers: serde_json::Value| {
            let mut o = healthy(name);
            o.health = ok(200, json!({"status": "ok"}));
            o.version = Some(ok(200, json!({"version": version})));
            o.root = ok(
                200,
                json!({"message": "AI Proxy Server is running", "providers": providers, "rotations": [], "autoselect": []}),
            );
            o
        };
        let f = assess(
            &[
                with("a", "0.99.92", json!(["openai"])),
                with("b", "0.99.92", json!(["openai"])),
                with("c", "0.99.90", json!(["openai", "ollama"])),
            ],
            true,
        );
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::GlobalConfigDiffers, Code::VersionDrift]
        );
        assert!(codes_for(&f, "a").contains(&Code::NodeOk));
    }

    #[test]
    fn garbage_and_5xx_roots_are_bad_answers() {
        let mut b = healthy("b");
        b.root = Ok(Answer {
            status: 200,
            latency_ms: 1,
            body: Body::Text("<html>".into()),
        });
        let mut c = healthy("c");
        c.root = Ok(Answer {
            status: 502,
            latency_ms: 1,
            body: Body::Text("Bad Gateway".into()),
        });
        let f = assess(&[healthy("a"), b, c], false);
        assert_eq!(codes_for(&f, "b"), vec![Code::NodeBadAnswer]);
        assert_eq!(codes_for(&f, "c"), vec![Code::NodeServerError]);
    }

    #[test]
    fn global_token_rejected_by_one_node_is_auth_drift() {
        let with = |name: &str, status: u16| {
            let mut o = healthy(name);
            o.health = if status == 200 {
                ok(200, json!({"status": "ok"}))
            } else {
                ok(status, json!({"error": "Invalid authentication token"}))
            };
            o
        };
        let f = assess(&[with("a", 200), with("b", 200), with("c", 403)], true);
        assert_eq!(codes_for(&f, "c"), vec![Code::GlobalTokenRejectedOnNode]);
    }

    fn slow_root(latency_ms: u64) -> Outcome {
        Ok(Answer {
            status: 200,
            latency_ms,
            body: root().map(|a| a.body).unwrap_or(Body::Text(String::new())),
        })
    }

    #[test]
    fn node_slow_on_both_samples_is_a_latency_outlier() {
        let mut c = healthy("c");
        c.root = slow_root(1500);
        let first = [healthy("a"), healthy("b"), c.clone()];
        assert_eq!(outlier_candidates(&first), vec!["c".to_string()]);
        c.second_latency_ms = Some(1400);
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::HealthAuthGated, Code::LatencyOutlier]
        );
        let msg = &f
            .iter()
            .find(|x| x.code == Code::LatencyOutlier)
            .expect("outlier")
            .message;
        assert!(msg.contains("1400 ms at best"), "{msg}");
    }

    #[test]
    fn cold_first_request_then_fast_second_is_no_warning() {
        let mut c = healthy("c");
        c.root = slow_root(1500);
        c.second_latency_ms = Some(12);
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert!(f.iter().all(|x| x.severity == Severity::Ok), "{f:#?}");
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::HealthAuthGated, Code::NodeOk]
        );
    }

    #[test]
    fn one_slow_sample_without_a_second_is_no_warning() {
        let mut c = healthy("c");
        c.root = slow_root(1500);
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert!(!f.iter().any(|x| x.code == Code::LatencyOutlier), "{f:#?}");
    }

    #[test]
    fn fast_nodes_get_no_second_sample() {
        let mut c = healthy("c");
        c.root = slow_root(900);
        assert!(outlier_candidates(&[healthy("a"), healthy("b"), c]).is_empty());
    }

    #[test]
    fn messages_name_a_few_nodes_and_a_count_at_any_cluster_size() {
        let obs: Vec<NodeObservation> = (0..1000)
            .map(|i| {
                let mut o = healthy(&format!("node-{i:04}"));
                if i % 2 == 1 {
                    o.models = ok(403, json!({"error": "Invalid authentication token"}));
                }
                o
            })
            .collect();
        let f = assess(&obs, false);
        let rejected: Vec<_> = f
            .iter()
            .filter(|x| x.code == Code::TokenRejectedOnNode)
            .collect();
        assert_eq!(rejected.len(), 500);
        let longest = f.iter().map(|x| x.message.len()).max().unwrap_or(0);
        assert!(longest < 400, "{longest}: {}", rejected[0].message);
        assert!(
            rejected[0].message.contains("and 497 other nodes"),
            "{}",
            rejected[0].message
        );
    }

    #[test]
    fn a_node_whose_clock_runs_minutes_ahead_is_a_clock_skew_warning() {
        let mut c = healthy("c");
        c.clock_offset_s = Some(300);
        let mut b = healthy("b");
        b.clock_offset_s = Some(2);
        let f = assess(&[healthy("a"), b, c], false);
        let skew: Vec<_> = f.iter().filter(|x| x.code == Code::ClockSkew).collect();
        assert_eq!(skew.len(), 1, "{f:#?}");
        assert_eq!(skew[0].subject, "c");
        assert!(
            skew[0].message.contains("298 s ahead"),
            "{}",
            skew[0].message
        );
    }

    #[test]
    fn clock_offset_is_read_from_created_in_the_models_list() {
        let m = ok(200, json!({"data": [{"id": "x", "created": 1_000_300}]}));
        assert_eq!(clock_offset(&m, 1_000_000), Some(300));
        assert_eq!(clock_offset(&ok(403, json!({})), 1_000_000), None);
    }
}
