//! What a request ends in: an [`Answer`] of any status with its [`Body`], or a
//! classified [`Failure`]. Plain data: probes read it, nothing here does I/O.

use serde_json::Value;

/// Bodies above this size are not read further.
pub const DEFAULT_BODY_CAP: usize = 1024 * 1024;

/// `Failure::detail` of a request the overall deadline left no time for.
pub const NOT_SENT_BEFORE_DEADLINE: &str = "not sent: the overall deadline had passed";

/// `Failure::detail` of a request the overall deadline ended before its own
/// timeout did.
pub const CUT_BY_DEADLINE: &str = "cut short by the overall deadline";

/// A JSON body kept as its text (masked, keys sorted), parsed again when read:
/// a parsed `Value` takes about ten times the room of its text, and a fan-out
/// holds five answers a node until the verdict is in (at 5,000 nodes the
/// parsed bodies were a third of the peak RSS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(Box<str>);

impl JsonText {
    pub fn value(&self) -> Value {
        // Our own serialisation of a `Value`: it always parses.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Value> for JsonText {
    fn from(v: Value) -> JsonText {
        JsonText(v.to_string().into_boxed_str())
    }
}

/// What came back in the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(JsonText),
    /// Not JSON (or not UTF-8): the first bytes, lossily decoded.
    Text(String),
    /// Larger than the cap; reading stopped there.
    TooLarge {
        cap: usize,
    },
    /// A 3xx answer: where it pointed (masked). Redirects are never followed.
    Redirect {
        location: String,
    },
}

impl Body {
    pub fn json(&self) -> Option<Value> {
        match self {
            Body::Json(t) => Some(t.value()),
            _ => None,
        }
    }

    /// One top-level field of a JSON object body.
    pub fn field(&self, key: &str) -> Option<Value> {
        self.json()?.as_object_mut()?.remove(key)
    }

    /// AISBF's error text: `{"error": ...}` from middleware, `{"detail": ...}` from handlers.
    pub fn aisbf_error(&self) -> Option<String> {
        let v = self.json()?;
        for key in ["error", "detail"] {
            match v.get(key) {
                Some(Value::String(s)) => return Some(s.clone()),
                Some(Value::Object(o)) => {
                    if let Some(Value::String(s)) = o.get("message") {
                        return Some(s.clone());
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Body::Json(t) => truncate(t.as_str(), 160),
            Body::Text(t) => format!("non-JSON body {:?}", truncate(t, 120)),
            Body::TooLarge { cap } => format!("body larger than {} KiB", cap / 1024),
            Body::Redirect { location } => {
                format!("a redirect to {:?} (not followed)", truncate(location, 200))
            }
        }
    }
}

/// An HTTP answer of any status.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub latency_ms: u64,
    pub body: Body,
}

/// Why no answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Accepted nothing or answered nothing within the timeout.
    Timeout,
    Refused,
    Dns,
    Tls,
    /// Connection reset, broken body, protocol error.
    Broken,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub latency_ms: u64,
    pub detail: String,
}

impl Failure {
    /// The run's deadline, not the node, ended this request (or left no
    /// time to send it): the node was not fully asked.
    pub fn by_deadline(&self) -> bool {
        self.kind == FailureKind::Timeout
            && (self.detail == NOT_SENT_BEFORE_DEADLINE || self.detail == CUT_BY_DEADLINE)
    }

    pub fn describe(&self) -> String {
        match self.kind {
            FailureKind::Timeout if self.detail == NOT_SENT_BEFORE_DEADLINE => {
                "not asked: the overall deadline (cluster.deadline_ms) had passed".into()
            }
            FailureKind::Timeout if self.detail == CUT_BY_DEADLINE => format!(
                "no answer within {} ms, when the overall deadline (cluster.deadline_ms) ended the request",
                self.latency_ms
            ),
            FailureKind::Timeout => format!("no answer within {} ms", self.latency_ms),
            FailureKind::Refused => "connection refused".into(),
            FailureKind::Dns => format!("DNS lookup failed ({})", self.detail),
            FailureKind::Tls => format!("TLS failed ({})", self.detail),
            FailureKind::Broken => format!("connection broken ({})", self.detail),
        }
    }
}

pub type Outcome = Result<Answer, Failure>;

/// Cuts `s` to at most `max` characters, on a char boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aisbf_error_reads_error_and_detail() {
        let b = Body::Json(serde_json::json!({"error": "Invalid authentication token"}).into());
        assert_eq!(
            b.aisbf_error().as_deref(),
            Some("Invalid authentication token")
        );
        let b = Body::Json(serde_json::json!({"detail": "Connection error."}).into());
        assert_eq!(b.aisbf_error().as_deref(), Some("Connection error."));
        assert_eq!(
            Body::Text("Internal Server Error".into()).aisbf_error(),
            None
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééééé", 2), "éé…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
