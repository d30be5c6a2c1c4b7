//! What AISBF 0.99.92 says, in one place: its refusal texts, route-name rules
//! and how a chat answer reads. Probes classify answers with these, so a change
//! in AISBF's wording is a change here only (see `shared/aisbf-facts.md`).

use serde_json::Value;

use crate::http::{Answer, Failure, Outcome};

/// Why AISBF refused a token (401/403 from its auth middleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// 401 "Missing or invalid Authorization header."
    MissingHeader,
    /// 403 "Invalid authentication token": unknown to the node's database.
    UnknownToken,
    /// 403 "You can only access your own user-specific endpoints."
    OtherUser,
    /// 403 "This token does not have API access.": scope `mcp`.
    NoApiScope,
    /// 403 "This token does not have MCP access.": scope `api`.
    NoMcpScope,
    /// 403 "Global tokens cannot access user-specific endpoints."
    GlobalOnUserPath,
    /// 403 "User tokens cannot access global endpoints."
    UserOnGlobalPath,
    /// 401 "Authentication required. Use a valid API token.": auth is off on the node.
    AuthDisabled,
    /// Some other 401/403.
    Other,
}

/// A lowercase piece of each refusal text AISBF 0.99.92 answers, in the order
/// they are tried.
const REFUSAL_TEXTS: [(&str, Refusal); 8] = [
    ("invalid authentication token", Refusal::UnknownToken),
    ("only access your own", Refusal::OtherUser),
    ("does not have api access", Refusal::NoApiScope),
    ("does not have mcp access", Refusal::NoMcpScope),
    (
        "global tokens cannot access user",
        Refusal::GlobalOnUserPath,
    ),
    (
        "user tokens cannot access global",
        Refusal::UserOnGlobalPath,
    ),
    ("authentication required", Refusal::AuthDisabled),
    ("missing or invalid authorization", Refusal::MissingHeader),
];

impl Refusal {
    /// Classifies a 401/403 answer; `None` for any other status.
    pub fn of(answer: &Answer) -> Option<Refusal> {
        if !matches!(answer.status, 401 | 403) {
            return None;
        }
        // AISBF's own answer texts are all that tell these apart (same status,
        // same shape): matching them is the point, not a shortcut.
        let text = answer.body.aisbf_error().unwrap_or_default().to_lowercase();
        Some(
            REFUSAL_TEXTS
                .iter()
                .find(|(needle, _)| text.contains(needle))
                .map_or(Refusal::Other, |(_, refusal)| *refusal),
        )
    }

    /// The refusal in the playbook's words.
    pub fn explain(self) -> &'static str {
        match self {
            Refusal::MissingHeader => "the Authorization header is missing or malformed",
            Refusal::UnknownToken => "the token is unknown to this node's database",
            Refusal::OtherUser => {
                "the token belongs to another user than cluster.user (username mismatch)"
            }
            Refusal::NoApiScope => "the token's scope is mcp only; /api needs scope api or both",
            Refusal::NoMcpScope => "the token's scope is api only; MCP needs scope mcp or both",
            Refusal::GlobalOnUserPath => {
                "a global token was used on a user path; use the user's own API token"
            }
            Refusal::UserOnGlobalPath => "a user token was used on a global endpoint",
            Refusal::AuthDisabled => {
                "auth is disabled on this node, so user tokens are not accepted"
            }
            Refusal::Other => "the token was refused",
        }
    }
}

/// AISBF's own error text of an answer, or a short description of the body.
pub fn reason(answer: &Answer) -> String {
    answer
        .body
        .aisbf_error()
        .unwrap_or_else(|| answer.body.describe())
}

/// How one chat completion request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatResult {
    /// 200 with a completion; the upstream model that answered.
    Answered { model: String },
    /// 400 "Model must be in format ...": the route name itself is wrong.
    MalformedRoute { detail: String },
    /// The provider behind the route failed: 500 "Connection error.", 503 cooldown,
    /// 429 rate limit, or 200 with `"aisbf_error": true`.
    ProviderFailed { status: u16, detail: String },
    /// 401/403: the token, not the route.
    Refused(Refusal),
    /// Anything else from the node (bare 500, 404 unknown route, odd body).
    NodeError { status: u16, detail: String },
    /// No answer: refused, timeout, DNS, TLS.
    NoAnswer(Failure),
}

impl ChatResult {
    pub fn of(outcome: &Outcome) -> ChatResult {
        let a = match outcome {
            Ok(a) => a,
            Err(f) => return ChatResult::NoAnswer(f.clone()),
        };
        if let Some(r) = Refusal::of(a) {
            return ChatResult::Refused(r);
        }
        let detail = reason(a);
        let body = a.body.json();
        let json = body.as_ref();
        match a.status {
            200 => {
                if json
                    .and_then(|v| v.get("aisbf_error"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    return ChatResult::ProviderFailed {
                        status: 200,
                        detail,
                    };
                }
                match json.and_then(|v| v.get("model")).and_then(Value::as_str) {
                    Some(model) if json.and_then(|v| v.get("choices")).is_some() => {
                        ChatResult::Answered {
                            model: model.to_string(),
                        }
                    }
                    _ => ChatResult::NodeError {
                        status: 200,
                        detail: format!("200 without a completion: {}", a.body.describe()),
                    },
                }
            }
            // AISBF's answer to a malformed route name; its text is the only sign.
            400 if detail.contains("Model must be in format") => {
                ChatResult::MalformedRoute { detail }
            }
            429 | 502 | 503 | 504 => ChatResult::ProviderFailed {
                status: a.status,
                detail,
            },
            500 if json.is_some() => ChatResult::ProviderFailed {
                status: 500,
                detail,
            },
            status => ChatResult::NodeError { status, detail },
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, ChatResult::Answered { .. })
    }

    /// One line for a finding.
    pub fn describe(&self) -> String {
        match self {
            ChatResult::Answered { model } => format!("answered by {model}"),
            ChatResult::MalformedRoute { detail } => format!("400 {detail}"),
            ChatResult::ProviderFailed { status, detail } => format!("{status} {detail}"),
            ChatResult::Refused(r) => format!("refused: {}", r.explain()),
            ChatResult::NodeError { status, detail } => format!("{status} {detail}"),
            ChatResult::NoAnswer(f) => f.describe(),
        }
    }
}

/// Route kinds AISBF 0.99.92 accepts before the `/`.
pub const ROUTE_KINDS: [&str; 6] = [
    "provider",
    "rotation",
    "autoselect",
    "user-provider",
    "user-rotation",
    "user-autoselect",
];

/// The corrected name for a route in an old runbook's colon form
/// (`rotation:support` → `user-rotation/support`), or `None` if it has no colon.
pub fn suggest_route(name: &str) -> Option<String> {
    let (kind, rest) = name.split_once(':')?;
    let kind = kind.trim();
    let kind = match kind {
        "provider" | "rotation" | "autoselect" => format!("user-{kind}"),
        k if ROUTE_KINDS.contains(&k) => k.to_string(),
        other => other.to_string(),
    };
    Some(format!("{kind}/{}", rest.trim()))
}

/// The cheapest chat request for a route: one message, one token, no stream.
pub fn smoke_request(route: &str, prompt: &str) -> Value {
    serde_json::json!({
        "model": route,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 1,
        "stream": false,
    })
}

/// The smoke request with a marker in the prompt that no response cache holds
/// yet (AISBF's cache key includes a hash of the messages), so the node sends
/// it upstream: for timing a node's own path to the provider.
pub fn uncached_smoke_request(route: &str, prompt: &str, nonce: u128) -> Value {
    smoke_request(route, &format!("{prompt} [aisbf-doctor {nonce}]"))
}

/// The smoke request for the response-cache round trip: its own marker, new
/// each run, so no other request (the token probe's chat, the balancer's cell,
/// an app) can have put an answer for it in the cache first. The first node's
/// answer is the one paid completion; nodes that share the cache repeat its id.
pub fn round_trip_request(route: &str, prompt: &str, nonce: u128) -> Value {
    smoke_request(
        route,
        &format!("{prompt} [aisbf-doctor round trip {nonce}]"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Body, FailureKind};
    use serde_json::json;

    fn answer(status: u16, body: Value) -> Outcome {
        Ok(Answer {
            status,
            latency_ms: 1,
            body: Body::Json(body.into()),
        })
    }

    #[test]
    fn refusals_are_classified_by_aisbf_text() {
        let rows = [
            (
                401,
                "Missing or invalid Authorization header.",
                Refusal::MissingHeader,
            ),
            (403, "Invalid authentication token", Refusal::UnknownToken),
            (
                403,
                "You can only access your own user-specific endpoints.",
                Refusal::OtherUser,
            ),
            (
                403,
                "This token does not have API access.",
                Refusal::NoApiScope,
            ),
            (
                403,
                "This token does not have MCP access.",
                Refusal::NoMcpScope,
            ),
            (
                403,
                "Global tokens cannot access user-specific endpoints.",
                Refusal::GlobalOnUserPath,
            ),
            (
                403,
                "User tokens cannot access global endpoints.",
                Refusal::UserOnGlobalPath,
            ),
            (
                401,
                "Authentication required. Use a valid API token.",
                Refusal::AuthDisabled,
            ),
            (403, "Forbidden by WAF", Refusal::Other),
        ];
        for (status, text, expected) in rows {
            let a = answer(status, json!({ "error": text })).expect("answer");
            assert_eq!(Refusal::of(&a), Some(expected), "{text}");
        }
        let ok = answer(200, json!({})).expect("answer");
        assert_eq!(Refusal::of(&ok), None);
    }

    #[test]
    fn chat_answers_are_classified() {
        let rows: Vec<(Outcome, &str)> = vec![
            (
                answer(200, json!({"model": "llama3", "choices": []})),
                "answered",
            ),
            (
                answer(200, json!({"aisbf_error": true, "error": {"message": "x"}})),
                "provider",
            ),
            (
                answer(
                    400,
                    json!({"detail": "Model must be in format 'provider/model', ..."}),
                ),
                "malformed",
            ),
            (
                answer(500, json!({"detail": "Connection error."})),
                "provider",
            ),
            (
                answer(503, json!({"detail": "Provider temporarily unavailable"})),
                "provider",
            ),
            (answer(429, json!({"detail": "Rate limit"})), "provider"),
            (
                answer(403, json!({"error": "Invalid authentication token"})),
                "refused",
            ),
            (
                Ok(Answer {
                    status: 500,
                    latency_ms: 1,
                    body: Body::Text("Internal Server Error".into()),
                }),
                "node",
            ),
            (
                Err(Failure {
                    kind: FailureKind::Refused,
                    latency_ms: 1,
                    detail: String::new(),
                }),
                "none",
            ),
        ];
        for (outcome, kind) in rows {
            let got = ChatResult::of(&outcome);
            let matches = match kind {
                "answered" => matches!(got, ChatResult::Answered { .. }),
                "provider" => matches!(got, ChatResult::ProviderFailed { .. }),
                "malformed" => matches!(got, ChatResult::MalformedRoute { .. }),
                "refused" => matches!(got, ChatResult::Refused(Refusal::UnknownToken)),
                "node" => matches!(got, ChatResult::NodeError { status: 500, .. }),
                _ => matches!(got, ChatResult::NoAnswer(_)),
            };
            assert!(matches, "{kind}: {got:?}");
        }
    }

    #[test]
    fn colon_routes_get_a_corrected_name() {
        assert_eq!(
            suggest_route("rotation:support-private-rotation").as_deref(),
            Some("user-rotation/support-private-rotation")
        );
        assert_eq!(
            suggest_route("autoselect:chat-default").as_deref(),
            Some("user-autoselect/chat-default")
        );
        assert_eq!(
            suggest_route("user-provider:local").as_deref(),
            Some("user-provider/local")
        );
        assert_eq!(suggest_route("user-rotation/x"), None);
    }
}
