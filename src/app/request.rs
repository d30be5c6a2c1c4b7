//! What someone asked for, whatever chat it came from: `/aisbf health node:x`
//! in Discord and the same words anywhere else become one [`Request`].
//!
//! Everything a surface needs to show or re-run a request (its label, the
//! probes it runs, the scope, whether it needs an ops role, the re-run id) is
//! derived here from the probe registry, so surfaces only parse and render.

use crate::config::Config;
use crate::engine::Scope;
use crate::probe::{ProbeKind, ProbeSpec, TargetOption};
use crate::verdict::Symptom;

/// The command word every surface uses (`/aisbf ...`).
pub const COMMAND: &str = "aisbf";

/// Longest re-run id a surface stores on a button (Discord's custom_id limit).
pub const MAX_RERUN_ID: usize = 100;

/// A surface-neutral request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// One probe, optionally narrowed to one configured node or route.
    Check {
        probe: ProbeKind,
        target: Option<String>,
    },
    /// Every probe the config allows, the symptom's suspects first.
    Diagnose {
        symptom: Option<Symptom>,
    },
    IncidentOpen,
    IncidentClose,
    IncidentStatus,
}

/// Why a request cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// Not a command we know (or a button we did not make).
    #[error("unknown command {0:?}")]
    Unknown(String),
    /// An option value longer than a surface accepts.
    #[error("option `{0}` is longer than {max} characters; refused", max = crate::app::request::MAX_OPTION_LEN)]
    Oversized(String),
    /// An option that should be text is not.
    #[error("option `{0}` must be text")]
    NotText(String),
    /// A symptom that is not one of [`Symptom::ALL`].
    #[error("unknown symptom {0:?}")]
    UnknownSymptom(String),
}

/// Longest option value we accept (node and route names are short; anything
/// longer is refused instead of being probed or echoed).
pub const MAX_OPTION_LEN: usize = 100;

/// A probe's chat description: its about line, and the cost when it has one.
pub fn describe(spec: &ProbeSpec) -> String {
    if spec.paid {
        format!("{} (costs money; ops roles only)", spec.about)
    } else {
        spec.about.to_string()
    }
}

/// Parses a symptom option.
pub fn symptom(text: Option<String>) -> Result<Option<Symptom>, RequestError> {
    match text {
        None => Ok(None),
        Some(s) => Symptom::parse(&s)
            .map(Some)
            .ok_or(RequestError::UnknownSymptom(s)),
    }
}

impl Request {
    /// `/aisbf <sub>` with its one option (`None` when absent or empty).
    /// `incident` takes its action (`open`, `close`, `status`) as `option`.
    pub fn from_words(sub: &str, option: Option<String>) -> Result<Request, RequestError> {
        Ok(match sub {
            "diagnose" => Request::Diagnose {
                symptom: symptom(option)?,
            },
            "incident" => match option.as_deref() {
                Some("open") => Request::IncidentOpen,
                Some("close") => Request::IncidentClose,
                Some("status") => Request::IncidentStatus,
                other => return Err(RequestError::Unknown(format!("incident {other:?}"))),
            },
            name => match ProbeKind::parse(name) {
                Some(probe) => Request::Check {
                    probe,
                    // A probe without a target option ignores stray options.
                    target: probe.spec().target.and(option),
                },
                None => return Err(RequestError::Unknown(name.to_string())),
            },
        })
    }

    /// The probes this request runs (empty for incident commands that run none).
    pub fn kinds(&self, config: &Config) -> Vec<ProbeKind> {
        match self {
            Request::Check { probe, .. } => vec![*probe],
            Request::Diagnose { symptom } => crate::engine::diagnose_kinds(config, *symptom),
            Request::IncidentOpen => crate::engine::diagnose_kinds(config, None),
            Request::IncidentClose | Request::IncidentStatus => Vec::new(),
        }
    }

    pub fn scope(&self) -> Scope {
        match self {
            Request::Check {
                probe,
                target: Some(t),
            } => match probe.spec().target {
                Some(TargetOption::Node) => Scope {
                    nodes: vec![t.clone()],
                    ..Scope::default()
                },
                Some(TargetOption::Route) => Scope {
                    routes: vec![t.clone()],
                    ..Scope::default()
                },
                None => Scope::default(),
            },
            Request::Diagnose { symptom } => Scope {
                symptom: *symptom,
                ..Scope::default()
            },
            _ => Scope::default(),
        }
    }

    /// Requests that write, or would run a paid probe (billed chat
    /// completions, also inside `diagnose`), need one of the ops roles.
    pub fn needs_ops(&self, config: &Config) -> bool {
        match self {
            Request::IncidentOpen | Request::IncidentClose => true,
            Request::IncidentStatus => false,
            Request::Check { .. } | Request::Diagnose { .. } => {
                self.kinds(config).iter().any(|k| k.spec().paid)
            }
        }
    }

    /// How the request reads in chat (`/aisbf health node:aisbf-2`).
    pub fn label(&self) -> String {
        match self {
            Request::Check { probe, target } => match (probe.spec().target, target.as_deref()) {
                (Some(option), Some(t)) => {
                    format!("/{COMMAND} {} {}:{t}", probe.as_str(), option.name())
                }
                _ => format!("/{COMMAND} {}", probe.as_str()),
            },
            Request::Diagnose { symptom: Some(s) } => {
                format!("/{COMMAND} diagnose symptom:{}", s.as_str())
            }
            Request::Diagnose { symptom: None } => format!("/{COMMAND} diagnose"),
            Request::IncidentOpen => format!("/{COMMAND} incident open"),
            Request::IncidentClose => format!("/{COMMAND} incident close"),
            Request::IncidentStatus => format!("/{COMMAND} incident status"),
        }
    }

    /// The id a "Re-run" button carries (`run:<sub>:<arg>`, at most
    /// [`MAX_RERUN_ID`] characters; `None` when it would not fit or the
    /// request must not be repeated by a click).
    pub fn rerun_id(&self) -> Option<String> {
        let id = match self {
            Request::Check { probe, target } => {
                format!("run:{}:{}", probe.as_str(), target.as_deref().unwrap_or(""))
            }
            Request::Diagnose { symptom } => {
                format!("run:diagnose:{}", symptom.map(|s| s.as_str()).unwrap_or(""))
            }
            Request::IncidentOpen | Request::IncidentClose => return None,
            Request::IncidentStatus => "run:incident-status:".into(),
        };
        (id.chars().count() <= MAX_RERUN_ID).then_some(id)
    }

    /// The request a button asks for: `run:<sub>:<arg>`, or `pin:<node>` (health of one node).
    pub fn from_rerun_id(id: &str) -> Result<Request, RequestError> {
        if id.chars().count() > MAX_RERUN_ID {
            return Err(RequestError::Oversized("custom_id".into()));
        }
        let arg = |s: &str| (!s.is_empty()).then(|| s.to_string());
        if let Some(node) = id.strip_prefix("pin:") {
            return Ok(Request::Check {
                probe: ProbeKind::Health,
                target: arg(node),
            });
        }
        let Some(rest) = id.strip_prefix("run:") else {
            return Err(RequestError::Unknown(id.to_string()));
        };
        let (sub, a) = rest.split_once(':').unwrap_or((rest, ""));
        match sub {
            "incident-status" => Ok(Request::IncidentStatus),
            // Buttons never open or close incidents.
            "incident" => Err(RequestError::Unknown(sub.to_string())),
            _ => Request::from_words(sub, arg(a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(with_routes: bool) -> Config {
        let mut text = String::from(
            "[cluster]\nname = \"prod\"\nuser = \"alice\"\ntoken = \"tok-secret-1\"\n\
             [[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.1:17765\"\n",
        );
        if with_routes {
            text.push_str("[routes]\nsmoke = [\"rotation/support\"]\n");
        }
        crate::config::parse(&text, &|_| None).expect("config")
    }

    #[test]
    fn diagnose_and_its_rerun_need_ops_exactly_when_they_would_run_billed_routes() {
        let diagnose = Request::from_rerun_id("run:diagnose:").expect("button");
        assert!(diagnose.needs_ops(&config(true)));
        assert!(!diagnose.needs_ops(&config(false)));
        let health = Request::Check {
            probe: ProbeKind::Health,
            target: None,
        };
        assert!(!health.needs_ops(&config(true)));
        assert!(!Request::IncidentStatus.needs_ops(&config(true)));
        assert!(Request::IncidentClose.needs_ops(&config(false)));
    }

    #[test]
    fn every_probe_request_survives_its_rerun_id() {
        for kind in ProbeKind::ALL {
            let target = kind.spec().target.map(|_| "aisbf-2".to_string());
            let r = Request::Check {
                probe: kind,
                target,
            };
            let id = r.rerun_id().expect("fits");
            assert_eq!(Request::from_rerun_id(&id), Ok(r));
        }
    }

    #[test]
    fn labels_name_the_target_option_of_the_probe() {
        let health = Request::Check {
            probe: ProbeKind::Health,
            target: Some("aisbf-2".into()),
        };
        assert_eq!(health.label(), "/aisbf health node:aisbf-2");
        let routes = Request::Check {
            probe: ProbeKind::Routes,
            target: Some("auto".into()),
        };
        assert_eq!(routes.label(), "/aisbf routes route:auto");
        assert!(routes.needs_ops(&config(true)));
        assert_eq!(routes.scope().routes, vec!["auto".to_string()]);
    }

    #[test]
    fn buttons_cannot_open_or_close_incidents() {
        assert!(Request::from_rerun_id("run:incident:open").is_err());
        assert_eq!(Request::IncidentOpen.rerun_id(), None);
    }

    #[test]
    fn a_pin_button_is_health_of_that_node() {
        assert_eq!(
            Request::from_rerun_id("pin:aisbf-3"),
            Ok(Request::Check {
                probe: ProbeKind::Health,
                target: Some("aisbf-3".into())
            })
        );
    }
}
