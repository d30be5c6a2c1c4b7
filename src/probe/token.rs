//! `check token`: "a token works on one endpoint but not another".
//!
//! Calls the user endpoints with the configured token on every node and through
//! the balancer: `/api/u/{user}/models`, `/mcp/u/{user}/tools`, and one cheap chat
//! completion when smoke routes are configured. Each refusal is classified with
//! AISBF's own texts ([`crate::aisbf::Refusal`]). A token refused by some nodes
//! only is drift on those nodes, not a credential problem.

use futures::future::BoxFuture;
use url::Url;

use crate::aisbf::{self, ChatResult, Refusal};
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::{Http, Outcome};
use crate::probe::NotConfigured;
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::probe::health;
use crate::probe::target::{join, model_ids};
use crate::secret::Secret;
use crate::verdict::Symptom;

pub struct TokenProbe;

use crate::probe::target::nodes_and_balancer;

impl super::Probe for TokenProbe {
    fn requires(&self, _config: &Config) -> Result<(), NotConfigured> {
        Ok(())
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let observations = observe(ctx).await;
            assess(&observations, ctx.scope.symptom)
        })
    }
}

/// What one target (node or balancer) answered to the token.
#[derive(Debug, Clone)]
pub struct TokenObservation {
    pub target: String,
    pub is_balancer: bool,
    pub models: Outcome,
    pub mcp: Outcome,
    /// `None` when no smoke route is configured.
    pub chat: Option<Outcome>,
}

async fn observe(ctx: &ProbeContext) -> Vec<TokenObservation> {
    let c = &ctx.config.cluster;
    let route = ctx
        .config
        .routes
        .as_ref()
        .and_then(|r| r.smoke.first().map(|s| (s.clone(), r.prompt.clone())));
    let targets = nodes_and_balancer(ctx);
    // Futures are built first: a closure inside the fan-out trips the
    // higher-ranked lifetime check of the boxed `Send` future.
    let requests: Vec<_> = targets
        .into_iter()
        .map(|(target, is_balancer, base)| {
            let route = route.clone();
            // Boxed on first poll (see `bounded_in_order`).
            async move {
                Box::pin(observe_target(
                    &ctx.http,
                    target,
                    is_balancer,
                    base,
                    &c.user,
                    &c.token,
                    route,
                ))
                .await
            }
        })
        .collect();
    // Bounded like every fan-out: 1,000 nodes are not 3,000 requests at once.
    bounded_in_order(requests, c.concurrency).await
}

async fn observe_target(
    http: &Http,
    target: String,
    is_balancer: bool,
    base: &Url,
    user: &str,
    token: &Secret,
    route: Option<(String, String)>,
) -> TokenObservation {
    let models = join(base, &format!("/api/u/{user}/models"));
    let mcp = join(base, &format!("/mcp/u/{user}/tools"));
    let chat_url = join(base, &format!("/api/u/{user}/chat/completions"));
    let (models, mcp, chat) = tokio::join!(
        http.get(&models, Some(token)),
        http.get(&mcp, Some(token)),
        async {
            match &route {
                Some((r, prompt)) => Some(
                    http.post_json(&chat_url, Some(token), &aisbf::smoke_request(r, prompt))
                        .await,
                ),
                None => None,
            }
        }
    );
    TokenObservation {
        target,
        is_balancer,
        models,
        mcp,
        chat,
    }
}

/// What the API side of a target said about the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiAnswer {
    Accepted,
    Refused(Refusal),
    /// No answer or a server error: the health probe's business.
    Unknown,
}

fn api_answer(o: &TokenObservation) -> ApiAnswer {
    let models = match &o.models {
        Ok(a) if a.status == 200 && model_ids(a).is_some() => ApiAnswer::Accepted,
        Ok(a) => Refusal::of(a).map_or(ApiAnswer::Unknown, ApiAnswer::Refused),
        Err(_) => ApiAnswer::Unknown,
    };
    // The chat endpoint can refuse what the models endpoint accepted.
    match (models, o.chat.as_ref().map(ChatResult::of)) {
        (ApiAnswer::Accepted, Some(ChatResult::Refused(r))) => ApiAnswer::Refused(r),
        (m, _) => m,
    }
}

fn mcp_refusal(o: &TokenObservation) -> Option<Refusal> {
    o.mcp.as_ref().ok().and_then(Refusal::of)
}

/// Pure judgement over every target's answers.
pub fn assess(obs: &[TokenObservation], symptom: Option<Symptom>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let nodes: Vec<(&TokenObservation, ApiAnswer)> = obs
        .iter()
        .filter(|o| !o.is_balancer)
        .map(|o| (o, api_answer(o)))
        .collect();
    let accepting: Vec<&str> = nodes
        .iter()
        .filter(|(_, a)| *a == ApiAnswer::Accepted)
        .map(|(o, _)| o.target.as_str())
        .collect();
    let refused: Vec<(&str, Refusal)> = nodes
        .iter()
        .filter_map(|(o, a)| match a {
            ApiAnswer::Refused(r) => Some((o.target.as_str(), *r)),
            _ => None,
        })
        .collect();

    // A node that did not answer is named as such: `check token` alone must
    // not read "ok" with every node down.
    for (o, a) in &nodes {
        if *a == ApiAnswer::Unknown
            && let Some(mut f) =
                health::request_failure(&o.target, "/api/u/{user}/models", &o.models).or_else(
                    || {
                        health::bad_shape(
                            &o.target,
                            "/api/u/{user}/models",
                            &o.models,
                            health::Shape::ModelList,
                        )
                    },
                )
        {
            f.probe = ProbeKind::Token;
            findings.push(f);
        }
    }

    if accepting.is_empty() {
        if let Some(common) = most_common(refused.iter().map(|(_, r)| *r)) {
            let same: Vec<&str> = refused
                .iter()
                .filter(|(_, r)| *r == common)
                .map(|(n, _)| *n)
                .collect();
            findings.push(Finding::new(
                ProbeKind::Token,
                Severity::Fail,
                "token",
                Code::TokenRejected,
                format!(
                    "{} refuse(s) the token on /api/u/{{user}}: {}",
                    health::name_few(&same),
                    common.explain()
                ),
            ));
            for (node, r) in refused.iter().filter(|(_, r)| *r != common) {
                findings.push(rejected_on_node(node, *r, &same));
            }
        }
    } else {
        for (node, r) in &refused {
            findings.push(rejected_on_node(node, *r, &accepting));
        }
    }

    for (o, a) in &nodes {
        if *a != ApiAnswer::Accepted {
            continue;
        }
        let mut msg = "token accepted on /api".to_string();
        if o.chat.is_some() {
            msg.push_str(" and chat");
        }
        match mcp_refusal(o) {
            Some(Refusal::NoMcpScope) => {
                let sev = if symptom == Some(Symptom::TokenEndpointMismatch) {
                    Severity::Warn
                } else {
                    Severity::Ok
                };
                findings.push(Finding::new(
                    ProbeKind::Token,
                    sev,
                    &o.target,
                    Code::TokenScopeLimited,
                    "the token's scope is api only: /mcp/u/{user}/tools refuses it (MCP clients need a token with scope mcp or both)",
                ));
            }
            Some(r) if r != Refusal::NoMcpScope => {
                msg.push_str(&format!("; /mcp refused it: {}", r.explain()));
            }
            _ => msg.push_str(" and /mcp"),
        }
        findings.push(Finding::new(
            ProbeKind::Token,
            Severity::Ok,
            &o.target,
            Code::TokenOk,
            msg,
        ));
    }

    for o in obs.iter().filter(|o| o.is_balancer) {
        match api_answer(o) {
            ApiAnswer::Accepted => findings.push(Finding::new(
                ProbeKind::Token,
                Severity::Ok,
                &o.target,
                Code::TokenOk,
                "token accepted through the balancer",
            )),
            ApiAnswer::Refused(r) if !accepting.is_empty() && refused.is_empty() => findings.push(Finding::new(
                ProbeKind::Token,
                Severity::Fail,
                &o.target,
                Code::TokenRejectedByBalancer,
                format!(
                    "the balancer refuses the token ({}) that every configured node accepts: it sends requests to a member outside [[cluster.nodes]]",
                    r.explain()
                ),
            )),
            _ => {}
        }
    }
    findings
}

fn rejected_on_node(node: &str, r: Refusal, accepting: &[&str]) -> Finding {
    let code = if r == Refusal::AuthDisabled {
        Code::AuthDisabledOnNode
    } else {
        Code::TokenRejectedOnNode
    };
    Finding::new(
        ProbeKind::Token,
        Severity::Fail,
        node,
        code,
        format!(
            "refuses the token that {} accept(s): {}; not a credential problem but drift on this node (auth config or database)",
            health::name_few(accepting),
            r.explain()
        ),
    )
}

fn most_common(items: impl Iterator<Item = Refusal>) -> Option<Refusal> {
    let mut counts: Vec<(Refusal, usize)> = Vec::new();
    for r in items {
        match counts.iter_mut().find(|(x, _)| *x == r) {
            Some((_, c)) => *c += 1,
            None => counts.push((r, 1)),
        }
    }
    counts.into_iter().max_by_key(|(_, c)| *c).map(|(r, _)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Answer, Body};
    use serde_json::json;

    fn answer(status: u16, body: serde_json::Value) -> Outcome {
        Ok(Answer {
            status,
            latency_ms: 1,
            body: Body::Json(body.into()),
        })
    }

    fn refused(text: &str) -> Outcome {
        answer(403, json!({ "error": text }))
    }

    fn node(name: &str, models: Outcome, mcp: Outcome) -> TokenObservation {
        TokenObservation {
            target: name.into(),
            is_balancer: false,
            models,
            mcp,
            chat: None,
        }
    }

    fn ok_node(name: &str) -> TokenObservation {
        node(
            name,
            answer(200, json!({"data": []})),
            answer(200, json!({})),
        )
    }

    fn codes(f: &[Finding], subject: &str) -> Vec<Code> {
        f.iter()
            .filter(|x| x.subject == subject)
            .map(|x| x.code)
            .collect()
    }

    #[test]
    fn token_rejected_on_some_nodes_only_is_drift_on_those_nodes() {
        let f = assess(
            &[
                ok_node("a"),
                ok_node("b"),
                node(
                    "c",
                    refused("Invalid authentication token"),
                    refused("Invalid authentication token"),
                ),
            ],
            None,
        );
        assert_eq!(codes(&f, "c"), vec![Code::TokenRejectedOnNode]);
        assert!(codes(&f, "token").is_empty());
    }

    #[test]
    fn each_refusal_everywhere_is_a_credential_finding_with_its_reason() {
        let rows = [
            (
                "Invalid authentication token",
                "unknown to this node's database",
            ),
            (
                "You can only access your own user-specific endpoints.",
                "username mismatch",
            ),
            ("This token does not have API access.", "scope is mcp only"),
            (
                "Global tokens cannot access user-specific endpoints.",
                "global token was used on a user path",
            ),
        ];
        for (text, expected) in rows {
            let f = assess(
                &[
                    node("a", refused(text), refused(text)),
                    node("b", refused(text), refused(text)),
                ],
                None,
            );
            let t: Vec<_> = f.iter().filter(|x| x.code == Code::TokenRejected).collect();
            assert_eq!(t.len(), 1, "{text}");
            assert!(t[0].message.contains(expected), "{}", t[0].message);
        }
    }

    #[test]
    fn api_only_scope_is_reported_and_warned_under_the_matching_symptom() {
        let mk = || {
            vec![node(
                "a",
                answer(200, json!({"data": []})),
                refused("This token does not have MCP access."),
            )]
        };
        let quiet = assess(&mk(), None);
        let s: Vec<_> = quiet
            .iter()
            .filter(|x| x.code == Code::TokenScopeLimited)
            .collect();
        assert_eq!(s[0].severity, Severity::Ok);
        let loud = assess(&mk(), Some(Symptom::TokenEndpointMismatch));
        let s: Vec<_> = loud
            .iter()
            .filter(|x| x.code == Code::TokenScopeLimited)
            .collect();
        assert_eq!(s[0].severity, Severity::Warn);
    }

    #[test]
    fn balancer_refusing_a_token_all_nodes_accept_is_a_balancer_finding() {
        let mut lb = node(
            "balancer",
            refused("Invalid authentication token"),
            answer(200, json!({})),
        );
        lb.is_balancer = true;
        let f = assess(&[ok_node("a"), ok_node("b"), lb], None);
        assert_eq!(codes(&f, "balancer"), vec![Code::TokenRejectedByBalancer]);
    }

    #[test]
    fn chat_refusal_counts_even_when_models_accept() {
        let mut c = ok_node("c");
        c.chat = Some(refused("This token does not have API access."));
        let f = assess(&[ok_node("a"), c], None);
        assert_eq!(codes(&f, "c"), vec![Code::TokenRejectedOnNode]);
    }
}
