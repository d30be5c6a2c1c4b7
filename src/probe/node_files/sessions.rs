//! Dashboard sessions, live: a login on one node, its cookie tried on the
//! others. A node that refuses the sessions the others accept has another
//! session key (or a clock far ahead).

use super::{finding, name_few};
use crate::config::DashboardLogin;
use crate::finding::{Code, Finding, Severity};
use crate::http::Outcome;
use crate::probe::context::ProbeContext;
use crate::probe::context::bounded_in_order;
use crate::probe::target::join;

/// AISBF's session cookie (Starlette's SessionMiddleware).
const SESSION_COOKIE: &str = "session";

/// What the session cross-check saw.
#[derive(Debug, Clone)]
pub enum SessionObservation {
    /// The login on `issuer` did not give a session (wrong credentials, no answer).
    LoginFailed { issuer: String, why: String },
    /// The login on `issuer` gave a cookie; each node's answer to `GET /dashboard` with it.
    Tried {
        issuer: String,
        answers: Vec<(String, Outcome)>,
    },
}

/// How many nodes issue a session for the cross-check (each cookie is tried on
/// every node: cost grows with this times the cluster size).
pub(super) const SESSION_ISSUERS: usize = 3;

/// Logs in on `first` and tries the cookie on every node.
pub(super) async fn observe_sessions(
    ctx: &ProbeContext,
    login: &DashboardLogin,
    first: &crate::config::Node,
) -> SessionObservation {
    let nodes = &ctx.config.cluster.nodes;
    let issuer = first.name.clone();
    let url = join(&first.url, "/dashboard/login");
    let fields = [
        ("username", login.user.as_str()),
        ("password", login.password.expose()),
    ];
    let cookie = match ctx.http.login_form(&url, &fields, SESSION_COOKIE).await {
        Err(f) => {
            return SessionObservation::LoginFailed {
                issuer,
                why: f.describe(),
            };
        }
        Ok((status, None)) => {
            return SessionObservation::LoginFailed {
                issuer,
                why: format!("POST /dashboard/login answered {status} without a session cookie"),
            };
        }
        Ok((_, Some(cookie))) => cookie,
    };
    let tries: Vec<_> = nodes.iter().map(|n| try_cookie(ctx, n, &cookie)).collect();
    SessionObservation::Tried {
        issuer,
        answers: bounded_in_order(tries, ctx.config.cluster.concurrency).await,
    }
}

/// The dashboard of `node` asked with a session cookie another node issued.
async fn try_cookie(
    ctx: &ProbeContext,
    node: &crate::config::Node,
    cookie: &crate::secret::Secret,
) -> (String, Outcome) {
    let url = join(&node.url, "/dashboard");
    (
        node.name.clone(),
        ctx.http.get_with_cookie(&url, cookie).await,
    )
}

/// Pure: which nodes refuse a session their peers accept. The group that
/// accepts the issuer's cookie is compared with the group that refuses it;
/// the smaller one is the odd one out (the issuer itself may be the odd node).
pub fn session_cross_check(o: &SessionObservation) -> Vec<Finding> {
    let (issuer, answers) = match o {
        SessionObservation::LoginFailed { issuer, why } => {
            return vec![finding(
                Severity::Warn,
                issuer,
                Code::DashboardLoginFailed,
                format!(
                    "cannot log in to {issuer}'s dashboard as cluster.dashboard_user ({why}): the session cross-check did not run"
                ),
            )];
        }
        SessionObservation::Tried { issuer, answers } => (issuer, answers),
    };
    let accepted = |oc: &Outcome| matches!(oc, Ok(a) if a.status == 200);
    let refused = |oc: &Outcome| matches!(oc, Ok(a) if matches!(a.body, crate::http::Body::Redirect { .. }) || matches!(a.status, 401 | 403));
    let yes: Vec<&str> = answers
        .iter()
        .filter(|(_, oc)| accepted(oc))
        .map(|(n, _)| n.as_str())
        .collect();
    let no: Vec<&str> = answers
        .iter()
        .filter(|(_, oc)| refused(oc))
        .map(|(n, _)| n.as_str())
        .collect();
    if no.is_empty() || yes.is_empty() {
        return Vec::new();
    }
    // Ties blame the refusing side: the issuer's own session is the reference.
    let odd = if no.len() <= yes.len() { &no } else { &yes };
    odd.iter()
        .map(|node| {
            finding(
                Severity::Fail,
                node,
                Code::DashboardSessionRefused,
                format!(
                    "a dashboard session issued by {issuer} is accepted by {} and refused by {}: behind the balancer, dashboard users are logged out on every other request ({node} differs: its session_secret.key or its clock)",
                    name_few(&yes),
                    name_few(&no)
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(pattern: &[(&str, u16)]) -> SessionObservation {
        use crate::http::{Answer, Body};
        SessionObservation::Tried {
            issuer: pattern[0].0.into(),
            answers: pattern
                .iter()
                .map(|(n, status)| {
                    let body = if *status == 303 {
                        Body::Redirect {
                            location: "/dashboard/login".into(),
                        }
                    } else {
                        Body::Text(String::new())
                    };
                    (
                        n.to_string(),
                        Ok(Answer {
                            status: *status,
                            latency_ms: 1,
                            body,
                        }),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_session_refused_by_one_node_names_that_node_and_an_odd_issuer_names_the_issuer() {
        let subjects = |f: Vec<Finding>| -> Vec<(String, Code)> {
            f.into_iter().map(|f| (f.subject, f.code)).collect()
        };
        assert!(session_cross_check(&tried(&[("a", 200), ("b", 200), ("c", 200)])).is_empty());
        assert_eq!(
            subjects(session_cross_check(&tried(&[
                ("a", 200),
                ("b", 303),
                ("c", 200)
            ]))),
            [("b".to_string(), Code::DashboardSessionRefused)]
        );
        // The issuer is the odd one: every other node refuses its session.
        assert_eq!(
            subjects(session_cross_check(&tried(&[
                ("a", 200),
                ("b", 303),
                ("c", 303)
            ]))),
            [("a".to_string(), Code::DashboardSessionRefused)]
        );
        let failed = session_cross_check(&SessionObservation::LoginFailed {
            issuer: "a".into(),
            why: "303 without a session cookie".into(),
        });
        assert_eq!(
            (failed[0].code, failed[0].severity),
            (Code::DashboardLoginFailed, Severity::Warn)
        );
    }
}
