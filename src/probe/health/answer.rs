//! What one answer says: a 200 of the shape AISBF gives, or a request that
//! got no usable answer. Shared with the token probe.

use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::{Answer, Failure, FailureKind, Outcome};

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

pub(super) fn failure_code(f: &Failure) -> Code {
    match f.kind {
        FailureKind::Timeout => Code::NodeTimeout,
        FailureKind::Tls => Code::NodeTls,
        _ => Code::NodeUnreachable,
    }
}

pub(super) fn server_error(node: &str, path: &str, a: &Answer) -> Finding {
    let reason = a.body.aisbf_error().unwrap_or_else(|| a.body.describe());
    Finding::new(
        ProbeKind::Health,
        Severity::Fail,
        node,
        Code::NodeServerError,
        format!("GET {path} answered {}: {reason}", a.status),
    )
}
