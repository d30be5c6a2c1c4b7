//! The one outbound HTTP client: pooled, rustls, a timeout around every request
//! (headers *and* body), a cap on body size, no redirects followed.
//!
//! Every request ends in an [`Outcome`]: either an [`Answer`] (any status) or a
//! classified [`Failure`]. Nothing here panics or waits past the timeout, so a
//! hung, refusing or garbage-spewing node becomes data for a probe. The parts:
//! `answer` (what a request ends in), `budget` (one call's time, shared with
//! the database and cache probes) and `failure` (why no answer came, by type).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::secret::{Redactor, Secret};

mod answer;
mod budget;
mod failure;

pub use answer::{
    Answer, Body, CUT_BY_DEADLINE, DEFAULT_BODY_CAP, Failure, FailureKind,
    NOT_SENT_BEFORE_DEADLINE, Outcome, truncate,
};
pub use budget::{Budget, OutOfTime};
use failure::{SystemResolver, classify, cut_by_deadline, elapsed_ms, not_sent, timed_out};

/// The shared client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    /// A second client that skips certificate checks, used only for the
    /// origins of nodes configured with `tls_insecure = true`.
    insecure: Option<(reqwest::Client, Vec<url::Origin>)>,
    /// The per-request timeout, cut by the run's overall deadline: no request
    /// outlives the run, so a probe always finishes with what it saw instead
    /// of being cut off empty-handed.
    budget: Budget,
    body_cap: usize,
    /// Masks configured secrets in bodies and `Location` headers before any
    /// probe sees them, so a node echoing a token cannot leak it into a finding.
    redactor: Redactor,
}

impl Http {
    /// No idle pool: a fan-out asks each node a handful of times, so kept
    /// connections would only make open files grow with the cluster size
    /// instead of with the requests in flight (5,000 nodes ran out of them).
    /// Without idle connections every request opens a fresh one, so a
    /// balancer that balances per connection spreads them over its members.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: client(timeout, false)?,
            insecure: None,
            budget: Budget::new(timeout),
            body_cap: DEFAULT_BODY_CAP,
            redactor: Redactor::default(),
        })
    }

    /// Ends every request at `deadline` at the latest (as a timeout).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.budget = self.budget.with_deadline(deadline);
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
    ) -> Result<Self, reqwest::Error> {
        let origins: Vec<url::Origin> = urls.into_iter().map(Url::origin).collect();
        self.insecure = if origins.is_empty() {
            None
        } else {
            Some((client(self.budget.timeout(), true)?, origins))
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
        self.budget.timeout()
    }

    /// The per-request timeout and the run's deadline, for calls that are not
    /// HTTP (database queries, Redis commands) to keep the same time.
    pub fn budget(&self) -> Budget {
        self.budget
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
        let resp = self.send_headers(req, started).await?;
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
        let resp = self.send_headers(req, started).await?;
        let status = resp.status().as_u16();
        let body = if resp.status().is_redirection() {
            self.redirect(&resp)
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
        match self.budget.run(fut).await {
            Ok(r) => r,
            Err(OutOfTime::NotStarted) => Err(not_sent()),
            // A limit below the timeout is what the deadline left.
            Err(OutOfTime::TimedOut { limit }) if limit < self.budget.timeout() => {
                Err(cut_by_deadline(started))
            }
            Err(OutOfTime::TimedOut { .. }) => Err(timed_out(started)),
        }
    }

    /// Sends `req` within its budget and returns once the headers are in (the
    /// body is not read).
    async fn send_headers(
        &self,
        req: reqwest::RequestBuilder,
        started: Instant,
    ) -> Result<reqwest::Response, Failure> {
        self.in_budget(started, async {
            req.send()
                .await
                .map_err(|e| classify(&e, started, &self.redactor))
        })
        .await
    }

    /// A 3xx answer's body: where it points, masked.
    fn redirect(&self, resp: &reqwest::Response) -> Body {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        Body::Redirect {
            location: self.redactor.scrub(&location),
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
            return Ok(Answer {
                status,
                latency_ms: elapsed_ms(started),
                body: self.redirect(&resp),
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
                Body::Json(v.into())
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
    accept_invalid_certs: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        // Our resolver types a failed lookup, so DNS is told apart by type.
        .dns_resolver(Arc::new(SystemResolver))
        .danger_accept_invalid_certs(accept_invalid_certs)
        .user_agent(concat!("aisbf-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
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
