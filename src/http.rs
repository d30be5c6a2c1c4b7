//! The one outbound HTTP client: pooled, rustls, a timeout around every request
//! (headers *and* body), a cap on body size, no redirects followed.
//!
//! Every request ends in an [`Outcome`]: either an [`Answer`] (any status) or a
//! classified [`Failure`]. Nothing here panics or waits past the timeout, so a
//! hung, refusing or garbage-spewing node becomes data for a probe.

use std::error::Error as _;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::secret::{Redactor, Secret};

/// Bodies above this size are not read further.
pub const DEFAULT_BODY_CAP: usize = 1024 * 1024;

/// What came back in the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
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
    pub fn json(&self) -> Option<&Value> {
        match self {
            Body::Json(v) => Some(v),
            _ => None,
        }
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
            Body::Json(v) => {
                let s = v.to_string();
                truncate(&s, 160)
            }
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
    pub fn describe(&self) -> String {
        match self.kind {
            FailureKind::Timeout if self.detail == NOT_SENT_BEFORE_DEADLINE => {
                "not asked: the overall deadline (cluster.deadline_ms) had passed".into()
            }
            FailureKind::Timeout => format!("no answer within {} ms", self.latency_ms),
            FailureKind::Refused => "connection refused".into(),
            FailureKind::Dns => format!("DNS lookup failed ({})", self.detail),
            FailureKind::Tls => format!("TLS failed ({})", self.detail),
            FailureKind::Broken => format!("connection broken ({})", self.detail),
        }
    }
}

pub type Outcome = Result<Answer, Failure>;

/// The shared client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    /// A second client that skips certificate checks, used only for the
    /// origins of nodes configured with `tls_insecure = true`.
    insecure: Option<(reqwest::Client, Vec<url::Origin>)>,
    timeout: Duration,
    body_cap: usize,
    idle_per_host: usize,
    /// Masks configured secrets in bodies and `Location` headers before any
    /// probe sees them, so a node echoing a token cannot leak it into a finding.
    redactor: Redactor,
    /// The run's overall deadline: no request outlives it, so a probe always
    /// finishes with what it saw instead of being cut off empty-handed.
    deadline: Option<Instant>,
}

/// `Failure::detail` of a request the overall deadline left no time for.
pub const NOT_SENT_BEFORE_DEADLINE: &str = "not sent: the overall deadline had passed";

impl Http {
    /// No idle pool: a fan-out asks each node a handful of times, so kept
    /// connections would only make open files grow with the cluster size
    /// instead of with the requests in flight (5,000 nodes ran out of them).
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        Self::build(timeout, 0)
    }

    /// A client that opens a fresh connection per request, so a balancer that
    /// balances per connection spreads them over its members.
    pub fn fresh_connections(timeout: Duration) -> anyhow::Result<Self> {
        Self::build(timeout, 0)
    }

    fn build(timeout: Duration, idle_per_host: usize) -> anyhow::Result<Self> {
        Ok(Self {
            client: client(timeout, idle_per_host, false)?,
            insecure: None,
            timeout,
            body_cap: DEFAULT_BODY_CAP,
            idle_per_host,
            redactor: Redactor::default(),
            deadline: None,
        })
    }

    /// Ends every request at `deadline` at the latest (as a timeout).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Masks these secrets in everything read from the network.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Accepts any certificate from the origins (scheme, host, port) of these
    /// URLs, and only from them. An empty list keeps every check on.
    pub fn with_insecure<'a>(
        mut self,
        urls: impl IntoIterator<Item = &'a Url>,
    ) -> anyhow::Result<Self> {
        let origins: Vec<url::Origin> = urls.into_iter().map(Url::origin).collect();
        self.insecure = if origins.is_empty() {
            None
        } else {
            Some((client(self.timeout, self.idle_per_host, true)?, origins))
        };
        Ok(self)
    }

    fn client_for(&self, url: &Url) -> &reqwest::Client {
        match &self.insecure {
            Some((insecure, origins)) if origins.contains(&url.origin()) => insecure,
            _ => &self.client,
        }
    }

    pub fn with_body_cap(mut self, cap: usize) -> Self {
        self.body_cap = cap;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn get(&self, url: &Url, bearer: Option<&Secret>) -> Outcome {
        self.send(Method::GET, url, bearer, None).await
    }

    pub async fn post_json(&self, url: &Url, bearer: Option<&Secret>, body: &Value) -> Outcome {
        self.send(Method::POST, url, bearer, Some(body)).await
    }

    /// Sends one request; the timeout covers connect, headers and the whole body.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        bearer: Option<&Secret>,
        body: Option<&Value>,
    ) -> Outcome {
        let span = tracing::debug_span!("http", %method, path = url.path(), host = url.host_str().unwrap_or(""));
        let started = Instant::now();
        let fut = self.send_inner(method, url, bearer, body, started);
        self.in_budget(started, fut).instrument(span).await
    }

    /// Posts a form login and returns the status and the `session` cookie the
    /// node set, if any (kept as a secret: it is a credential). Redirects are
    /// not followed: AISBF answers a login with 303.
    pub async fn login_form(
        &self,
        url: &Url,
        fields: &[(&str, &str)],
        cookie_name: &str,
    ) -> Result<(u16, Option<Secret>), Failure> {
        let started = Instant::now();
        let req = self.client_for(url).post(url.clone()).form(fields);
        let resp = self
            .in_budget(started, async {
                req.send()
                    .await
                    .map_err(|e| classify(&e, started, &self.redactor))
            })
            .await?;
        let prefix = format!("{cookie_name}=");
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&prefix))
            .map(|v| v.split(';').next().unwrap_or_default())
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(format!("{prefix}{v}")));
        Ok((resp.status().as_u16(), cookie))
    }

    /// A GET carrying `cookie` (a `name=value` pair) instead of a bearer token.
    pub async fn get_with_cookie(&self, url: &Url, cookie: &Secret) -> Outcome {
        let started = Instant::now();
        let req = self
            .client_for(url)
            .get(url.clone())
            .header(reqwest::header::COOKIE, cookie.expose());
        let resp = self
            .in_budget(started, async {
                req.send()
                    .await
                    .map_err(|e| classify(&e, started, &self.redactor))
            })
            .await?;
        let status = resp.status().as_u16();
        let body = if resp.status().is_redirection() {
            Body::Redirect {
                location: resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|v| self.redactor.scrub(&String::from_utf8_lossy(v.as_bytes())))
                    .unwrap_or_default(),
            }
        } else {
            // The page itself is not read: only whether the session held.
            Body::Text(String::new())
        };
        Ok(Answer {
            status,
            latency_ms: elapsed_ms(started),
            body,
        })
    }

    /// Runs one request within its budget: not sent at all once the deadline
    /// has passed, a timeout when the budget runs out.
    async fn in_budget<T>(
        &self,
        started: Instant,
        fut: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let budget = self.budget(started);
        if budget.is_zero() {
            return Err(not_sent());
        }
        match tokio::time::timeout(budget, fut).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(started)),
        }
    }

    /// This request's timeout: the per-request one, cut by the deadline.
    fn budget(&self, started: Instant) -> Duration {
        match self.deadline {
            Some(d) => self.timeout.min(d.saturating_duration_since(started)),
            None => self.timeout,
        }
    }

    async fn send_inner(
        &self,
        method: Method,
        url: &Url,
        bearer: Option<&Secret>,
        body: Option<&Value>,
        started: Instant,
    ) -> Outcome {
        let mut req = self.client_for(url).request(method, url.clone());
        if let Some(token) = bearer {
            req = req.bearer_auth(token.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| classify(&e, started, &self.redactor))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return Ok(Answer {
                status,
                latency_ms: elapsed_ms(started),
                body: Body::Redirect {
                    location: self.redactor.scrub(&location),
                },
            });
        }
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > self.body_cap {
                        return Ok(Answer {
                            status,
                            latency_ms: elapsed_ms(started),
                            body: Body::TooLarge { cap: self.body_cap },
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(&e, started, &self.redactor)),
            }
        }
        let body = match serde_json::from_slice::<Value>(&bytes) {
            Ok(mut v) => {
                mask_json(&mut v, &self.redactor);
                Body::Json(v)
            }
            Err(_) => Body::Text(
                self.redactor
                    .scrub(&truncate(&String::from_utf8_lossy(&bytes), 512)),
            ),
        };
        Ok(Answer {
            status,
            latency_ms: elapsed_ms(started),
            body,
        })
    }
}

fn client(
    timeout: Duration,
    idle_per_host: usize,
    accept_invalid_certs: bool,
) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(idle_per_host)
        .danger_accept_invalid_certs(accept_invalid_certs)
        .user_agent(concat!("aisbf-doctor/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Masks known secrets in every string (and key) of a JSON answer. Only exact
/// configured values are masked here: pattern masking would alter model ids
/// the probes compare. Findings get the full scrub later.
fn mask_json(v: &mut Value, redactor: &Redactor) {
    match v {
        Value::String(s) => {
            if let Some(masked) = redactor.mask_known(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mask_json(i, redactor)),
        Value::Object(map) => {
            let leaking: Vec<String> = map
                .keys()
                .filter(|k| redactor.mask_known(k).is_some())
                .cloned()
                .collect();
            for k in leaking {
                if let Some(val) = map.remove(&k) {
                    let masked = redactor.mask_known(&k).unwrap_or_default();
                    map.insert(masked, val);
                }
            }
            map.values_mut().for_each(|i| mask_json(i, redactor));
        }
        _ => {}
    }
}

fn not_sent() -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        latency_ms: 0,
        detail: NOT_SENT_BEFORE_DEADLINE.into(),
    }
}

fn timed_out(started: Instant) -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        latency_ms: elapsed_ms(started),
        detail: "timed out".into(),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn classify(e: &reqwest::Error, started: Instant, redactor: &Redactor) -> Failure {
    let chain = error_chain(e);
    let lower = chain.to_lowercase();
    // rustls meeting a plain-HTTP answer where a TLS record should be.
    if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        return Failure {
            kind: FailureKind::Tls,
            latency_ms: elapsed_ms(started),
            detail: "the node answers plain HTTP on this port; use http://".into(),
        };
    }
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        FailureKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        FailureKind::Tls
    } else if lower.contains("connection refused") {
        FailureKind::Refused
    } else {
        FailureKind::Broken
    };
    Failure {
        kind,
        latency_ms: elapsed_ms(started),
        detail: truncate(&redactor.scrub(&chain), 200),
    }
}

fn error_chain(e: &reqwest::Error) -> String {
    // The innermost causes say what really happened ("Connection refused").
    let mut parts = Vec::new();
    let mut src = e.source();
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    if parts.is_empty() {
        // reqwest's top-level text includes the URL; the causes do not.
        "request failed".to_string()
    } else {
        // The innermost cause is the useful part ("Connection refused").
        parts.last().cloned().unwrap_or_default()
    }
}

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
        let b = Body::Json(serde_json::json!({"error": "Invalid authentication token"}));
        assert_eq!(
            b.aisbf_error().as_deref(),
            Some("Invalid authentication token")
        );
        let b = Body::Json(serde_json::json!({"detail": "Connection error."}));
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
