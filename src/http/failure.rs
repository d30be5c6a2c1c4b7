//! Why a request got no answer, read from the error's types: reqwest's own
//! flags, the `std::io::Error` kinds underneath, rustls errors and a failed
//! lookup of our own resolver. Never from the error's message text.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::answer::{CUT_BY_DEADLINE, Failure, FailureKind, NOT_SENT_BEFORE_DEADLINE, truncate};
use crate::secret::Redactor;

/// A host name that did not resolve: a type of our own, so the connect error
/// says "DNS" by what it carries.
#[derive(Debug)]
pub struct LookupFailed(io::Error);

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for LookupFailed {}

/// The system resolver (getaddrinfo on tokio's blocking pool, as reqwest's
/// default does), with failures typed as [`LookupFailed`].
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    Ok(Box::new(addrs.into_iter()) as Addrs)
                }
                Err(e) => Err(Box::new(LookupFailed(e)) as Box<dyn Error + Send + Sync>),
            }
        })
    }
}

/// The error and its causes, outermost first. `io::Error::source` skips the
/// error it wraps, so an `io::Error`'s inner error is listed too.
fn causes<'a>(e: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    // A cap: a chain is finite, but nothing here may loop on a strange one.
    while let Some(err) = next.filter(|_| out.len() < 32) {
        out.push(err);
        next = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => err.source(),
        };
    }
    out
}

/// What the causes of a failed request say, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cause {
    /// rustls met a record that is not TLS: the port speaks plain HTTP.
    PlainHttp,
    Kind(FailureKind),
}

fn cause_of(causes: &[&(dyn Error + 'static)], timed_out: bool, connecting: bool) -> Cause {
    let io_errors = || causes.iter().filter_map(|c| c.downcast_ref::<io::Error>());
    // tokio-rustls hands every rustls error up as an `io::Error` of kind
    // InvalidData wrapping it; while connecting, nothing else does.
    let tls = connecting
        .then(|| {
            io_errors().find_map(|e| {
                (e.kind() == io::ErrorKind::InvalidData)
                    .then(|| e.get_ref())
                    .flatten()
            })
        })
        .flatten();
    // rustls is no direct dependency, so its error cannot be downcast: its
    // variant name (Debug, not the message) tells a non-TLS record, which is
    // a plain-HTTP answer on the port.
    if tls.is_some_and(|e| format!("{e:?}").starts_with("InvalidMessage(")) {
        return Cause::PlainHttp;
    }
    let io_kind = |kind: io::ErrorKind| io_errors().any(|e| e.kind() == kind);
    let kind = if timed_out || io_kind(io::ErrorKind::TimedOut) {
        FailureKind::Timeout
    } else if causes.iter().any(|c| c.is::<LookupFailed>()) {
        FailureKind::Dns
    } else if tls.is_some() {
        FailureKind::Tls
    } else if io_kind(io::ErrorKind::ConnectionRefused) {
        FailureKind::Refused
    } else {
        FailureKind::Broken
    };
    Cause::Kind(kind)
}

/// The failure for a reqwest error, its detail masked and short.
pub(super) fn classify(e: &reqwest::Error, started: Instant, redactor: &Redactor) -> Failure {
    let chain = causes(e);
    let kind = match cause_of(&chain, e.is_timeout(), e.is_connect()) {
        Cause::PlainHttp => {
            return Failure {
                kind: FailureKind::Tls,
                latency_ms: elapsed_ms(started),
                detail: "the node answers plain HTTP on this port; use http://".into(),
            };
        }
        Cause::Kind(kind) => kind,
    };
    Failure {
        kind,
        latency_ms: elapsed_ms(started),
        detail: truncate(&redactor.scrub(&innermost(&chain)), 200),
    }
}

/// The innermost cause says what really happened ("Connection refused");
/// reqwest's own top-level text includes the URL, so it is never shown.
fn innermost(chain: &[&(dyn Error + 'static)]) -> String {
    match chain.get(1..).and_then(<[_]>::last) {
        Some(e) => e.to_string(),
        None => "request failed".to_string(),
    }
}

pub(super) fn not_sent() -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        latency_ms: 0,
        detail: NOT_SENT_BEFORE_DEADLINE.into(),
    }
}

pub(super) fn cut_by_deadline(started: Instant) -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        latency_ms: elapsed_ms(started),
        detail: CUT_BY_DEADLINE.into(),
    }
}

pub(super) fn timed_out(started: Instant) -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        latency_ms: elapsed_ms(started),
        detail: "timed out".into(),
    }
}

pub(super) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose source is `cause`, as hyper wraps a connect error.
    #[derive(Debug)]
    struct Wrap(Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    fn cause(e: impl Error + Send + Sync + 'static) -> Cause {
        let outer = Wrap(Box::new(e));
        cause_of(&causes(&outer), false, true)
    }

    #[test]
    fn causes_are_read_by_type() {
        let kind = |k: io::ErrorKind| io::Error::new(k, "whatever the text says");
        assert_eq!(
            cause(kind(io::ErrorKind::ConnectionRefused)),
            Cause::Kind(FailureKind::Refused)
        );
        assert_eq!(
            cause(kind(io::ErrorKind::TimedOut)),
            Cause::Kind(FailureKind::Timeout)
        );
        assert_eq!(
            cause(kind(io::ErrorKind::ConnectionReset)),
            Cause::Kind(FailureKind::Broken)
        );
        assert_eq!(
            cause(LookupFailed(io::Error::other("connection refused"))),
            Cause::Kind(FailureKind::Dns)
        );
        // rustls errors arrive wrapped in an io::Error of kind InvalidData.
        let tls = |e: Tls| io::Error::new(io::ErrorKind::InvalidData, e);
        assert_eq!(
            cause(tls(Tls::InvalidCertificate)),
            Cause::Kind(FailureKind::Tls)
        );
        assert_eq!(
            cause(tls(Tls::InvalidMessage("InvalidContentType"))),
            Cause::PlainHttp
        );
    }

    /// Stands in for rustls::Error: only its variant names matter here.
    #[derive(Debug)]
    enum Tls {
        InvalidCertificate,
        /// rustls: `InvalidMessage(InvalidContentType)`.
        InvalidMessage(&'static str),
    }
    impl std::fmt::Display for Tls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Tls::InvalidCertificate => f.write_str("invalid peer certificate"),
                Tls::InvalidMessage(m) => write!(f, "received corrupt message of type {m}"),
            }
        }
    }
    impl Error for Tls {}

    #[test]
    fn the_innermost_cause_is_the_detail() {
        let outer = Wrap(Box::new(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        )));
        assert_eq!(
            innermost(&causes(&outer)),
            "Connection refused (os error 111)"
        );
        assert_eq!(innermost(&causes(&std::fmt::Error)), "request failed");
    }
}
