//! Slash commands and button clicks as Slack sends them, and what they ask
//! for: the text after `/aisbf` into an [`Request`], the workspace and org
//! they came from, and whether the asker may run it. Pure.

use serde::Deserialize;

use crate::app::Request;
use crate::app::request::{COMMAND, MAX_OPTION_LEN};
use crate::config::{Config, Slack};
use crate::finding::ProbeKind;
use crate::probe::TargetOption;
use crate::verdict::Symptom;

/// Longest command text considered (Slack allows 4,000; ours are a few words).
pub const MAX_TEXT: usize = 300;

/// A slash command (form fields in http mode, the payload of a
/// `slash_commands` envelope in Socket Mode). Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct SlashCommand {
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub response_url: String,
    #[serde(default)]
    pub trigger_id: String,
}

/// A `block_actions` interaction (a button click).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct BlockActions {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub enterprise: Option<Team>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub channel: Option<Team>,
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub trigger_id: String,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// Anything with an id: a team, an org, a channel.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Team {
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct User {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Action {
    #[serde(default)]
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// The action ids of our buttons; their `value` is the request's re-run id.
pub const RERUN_ACTION: &str = "aisbf_rerun";
pub const PIN_ACTION: &str = "aisbf_pin";

/// Why a command or click is not run.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The words are not a command; the text is the usage answer.
    #[error("{0}")]
    Usage(String),
    /// From a workspace other than `[slack] team_id`.
    #[error("this app answers only in the workspace in [slack] team_id")]
    OtherWorkspace,
    /// From an Enterprise Grid org other than `[slack] enterprise_id` (or any org when none is set).
    #[error("this app answers only in the Enterprise Grid org in [slack] enterprise_id")]
    OtherOrg,
    /// A paid probe or incident open/close from someone not in the ops users or groups.
    #[error("`{0}` needs one of [slack] ops_users or a member of ops_user_groups")]
    NotOps(String),
    /// A click on something that is not one of our buttons.
    #[error("unknown button")]
    UnknownButton,
}

/// Whether the request came from the configured workspace (and org).
pub fn check_origin(
    slack: &Slack,
    team_id: &str,
    enterprise_id: Option<&str>,
) -> Result<(), Refusal> {
    let org = enterprise_id.filter(|e| !e.is_empty());
    if org != slack.enterprise_id.as_deref() {
        return Err(Refusal::OtherOrg);
    }
    if team_id != slack.team_id {
        return Err(Refusal::OtherWorkspace);
    }
    Ok(())
}

/// Whether `user` may run requests that need ops: listed, or a member of
/// one of the ops groups (`group_members`, resolved by the caller).
pub fn is_ops(slack: &Slack, user: &str, group_members: &[String]) -> bool {
    slack.ops_users.iter().any(|u| u == user) || group_members.iter().any(|u| u == user)
}

/// The usage answer: every subcommand with its argument, and what went wrong.
pub fn usage(config: &Config, problem: &str) -> String {
    let mut lines = vec![format!(
        "{problem}. Usage: `/{COMMAND} <command> [argument]`:"
    )];
    for kind in ProbeKind::ALL {
        let spec = kind.spec();
        let arg = match spec.target {
            Some(TargetOption::Node) => format!(" [node: {}]", names(node_names(config))),
            Some(TargetOption::Route) => format!(" [route: {}]", names(route_names(config))),
            None => String::new(),
        };
        lines.push(format!(
            "• `{}`{arg}: {}",
            kind.as_str(),
            crate::app::request::describe(spec)
        ));
    }
    let symptoms: Vec<&str> = Symptom::ALL.iter().map(|s| s.as_str()).collect();
    lines.push(format!(
        "• `diagnose` [symptom: {}]: every probe, the symptom's suspects first",
        symptoms.join(", ")
    ));
    lines.push("• `incident open|close|status`: the incident thread".into());
    lines.join("\n")
}

fn names(list: Vec<String>) -> String {
    if list.is_empty() {
        "none configured".into()
    } else {
        list.join(", ")
    }
}

fn node_names(config: &Config) -> Vec<String> {
    config
        .cluster
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect()
}

fn route_names(config: &Config) -> Vec<String> {
    config
        .routes
        .as_ref()
        .map(|r| r.smoke.clone())
        .unwrap_or_default()
}

/// The text after `/aisbf` (`health aisbf-2`, `health node:aisbf-2`,
/// `diagnose 502`, `incident open`) as a request; node and route names are
/// checked against the config. Anything else is a usage answer.
pub fn parse_text(config: &Config, text: &str) -> Result<Request, Refusal> {
    let usage_with = |problem: String| Refusal::Usage(usage(config, &problem));
    if text.chars().count() > MAX_TEXT {
        return Err(usage_with(format!(
            "Text longer than {MAX_TEXT} characters"
        )));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let (sub, arg) = match words.as_slice() {
        [] => return Err(usage_with("Which check?".into())),
        [sub] => (sub.to_lowercase(), None),
        [sub, arg] => (sub.to_lowercase(), Some(*arg)),
        _ => return Err(usage_with("Too many words".into())),
    };
    if arg.is_some_and(|a| a.chars().count() > MAX_OPTION_LEN) {
        return Err(usage_with(format!(
            "Argument longer than {MAX_OPTION_LEN} characters"
        )));
    }
    let shown = |s: &str| crate::inert::inert(s).chars().take(40).collect::<String>();
    // `node:x`, `route:x`, `symptom:x` read like the Discord options.
    let strip = |arg: &str, name: &str| {
        arg.strip_prefix(name)
            .and_then(|a| a.strip_prefix(':'))
            .unwrap_or(arg)
            .to_string()
    };
    match sub.as_str() {
        "diagnose" => {
            let symptom = arg.map(|a| strip(a, "symptom"));
            if let Some(s) = &symptom
                && Symptom::parse(s).is_none()
            {
                return Err(usage_with(format!("Unknown symptom `{}`", shown(s))));
            }
            Request::from_words("diagnose", symptom).map_err(|e| usage_with(e.to_string()))
        }
        "incident" => match arg.map(str::to_lowercase).as_deref() {
            Some(action @ ("open" | "close" | "status")) => {
                Request::from_words("incident", Some(action.to_string()))
                    .map_err(|e| usage_with(e.to_string()))
            }
            _ => Err(usage_with("`incident` takes open, close or status".into())),
        },
        name => {
            let Some(kind) = ProbeKind::parse(name) else {
                return Err(usage_with(format!("Unknown command `{}`", shown(name))));
            };
            let target = match (kind.spec().target, arg) {
                (_, None) => None,
                (None, Some(_)) => {
                    return Err(usage_with(format!("`{name}` takes no argument")));
                }
                (Some(option), Some(a)) => {
                    let t = strip(a, option.name());
                    let known = match option {
                        TargetOption::Node => node_names(config),
                        TargetOption::Route => route_names(config),
                    };
                    if !known.contains(&t) {
                        return Err(usage_with(format!(
                            "Unknown {} `{}`",
                            option.name(),
                            shown(&t)
                        )));
                    }
                    Some(t)
                }
            };
            Request::from_words(name, target).map_err(|e| usage_with(e.to_string()))
        }
    }
}

/// The request a click on one of our buttons asks for.
pub fn parse_action(config: &Config, action: &Action) -> Result<Request, Refusal> {
    if action.action_id != RERUN_ACTION && action.action_id != PIN_ACTION {
        return Err(Refusal::UnknownButton);
    }
    let value = action.value.as_deref().unwrap_or_default();
    let request = Request::from_rerun_id(value).map_err(|_| Refusal::UnknownButton)?;
    crate::engine::validate_scope(config, &request.scope()).map_err(|_| Refusal::UnknownButton)?;
    Ok(request)
}

/// Who asked, for the store (`slack:<user id>`).
pub fn who(user_id: &str) -> String {
    format!("slack:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::parse(
            "[cluster]\nname = \"prod\"\nuser = \"alice\"\ntoken = \"tok\"\n\
             [[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.1:17765\"\n\
             [[cluster.nodes]]\nname = \"aisbf-2\"\nurl = \"http://127.0.0.1:17766\"\n\
             [routes]\nsmoke = [\"rotation/support\"]\n\
             [slack]\nbot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\n\
             ops_users = [\"U1\"]\n",
            &|_| None,
        )
        .expect("config")
    }

    fn check(probe: ProbeKind, target: Option<&str>) -> Request {
        Request::Check {
            probe,
            target: target.map(str::to_string),
        }
    }

    #[rstest::rstest]
    #[case("health", check(ProbeKind::Health, None))]
    #[case("  health   aisbf-2 ", check(ProbeKind::Health, Some("aisbf-2")))]
    #[case("health node:aisbf-1", check(ProbeKind::Health, Some("aisbf-1")))]
    #[case("HEALTH aisbf-1", check(ProbeKind::Health, Some("aisbf-1")))]
    #[case(
        "routes rotation/support",
        check(ProbeKind::Routes, Some("rotation/support"))
    )]
    #[case("db", check(ProbeKind::Db, None))]
    #[case("cache", check(ProbeKind::Cache, None))]
    #[case("token", check(ProbeKind::Token, None))]
    #[case("lb", check(ProbeKind::Lb, None))]
    #[case("diagnose", Request::Diagnose { symptom: None })]
    #[case("diagnose symptom:stale-cache", Request::Diagnose { symptom: Some(Symptom::StaleCache) })]
    #[case("diagnose every-other-request-fails", Request::Diagnose { symptom: Some(Symptom::EveryOtherRequestFails) })]
    #[case("incident open", Request::IncidentOpen)]
    #[case("incident Close", Request::IncidentClose)]
    #[case("incident status", Request::IncidentStatus)]
    fn command_text_becomes_the_neutral_request(#[case] text: &str, #[case] want: Request) {
        assert_eq!(parse_text(&config(), text), Ok(want));
    }

    #[rstest::rstest]
    #[case("", "Which check?")]
    #[case("uptime", "Unknown command `uptime`")]
    #[case("health aisbf-9", "Unknown node `aisbf-9`")]
    #[case("routes auto", "Unknown route `auto`")]
    #[case("db aisbf-1", "`db` takes no argument")]
    #[case("diagnose sneezing", "Unknown symptom `sneezing`")]
    #[case("incident reopen", "`incident` takes open, close or status")]
    #[case("health aisbf-1 now", "Too many words")]
    fn other_words_get_a_usage_answer_listing_the_valid_ones(
        #[case] text: &str,
        #[case] problem: &str,
    ) {
        let Err(Refusal::Usage(answer)) = parse_text(&config(), text) else {
            panic!("{text:?} was not refused with usage");
        };
        assert!(answer.starts_with(problem), "{answer}");
        for word in [
            "`health`",
            "aisbf-1, aisbf-2",
            "`diagnose`",
            "`incident open|close|status`",
        ] {
            assert!(answer.contains(word), "{word} missing from {answer}");
        }
    }

    #[test]
    fn another_workspace_or_an_unconfigured_org_is_refused() {
        let c = config();
        let s = c.slack.as_ref().expect("slack");
        assert_eq!(check_origin(s, "T1", None), Ok(()));
        assert_eq!(check_origin(s, "T1", Some("")), Ok(()));
        assert_eq!(check_origin(s, "T2", None), Err(Refusal::OtherWorkspace));
        assert_eq!(check_origin(s, "T1", Some("E1")), Err(Refusal::OtherOrg));
        let mut grid = s.clone();
        grid.enterprise_id = Some("E1".into());
        assert_eq!(check_origin(&grid, "T1", Some("E1")), Ok(()));
        assert_eq!(
            check_origin(&grid, "T1", Some("E2")),
            Err(Refusal::OtherOrg)
        );
        assert_eq!(check_origin(&grid, "T1", None), Err(Refusal::OtherOrg));
    }

    #[test]
    fn ops_is_a_listed_user_or_a_member_of_an_ops_group() {
        let c = config();
        let s = c.slack.as_ref().expect("slack");
        assert!(is_ops(s, "U1", &[]));
        assert!(!is_ops(s, "U2", &[]));
        assert!(is_ops(s, "U2", &["U2".to_string()]));
    }

    #[test]
    fn only_our_buttons_with_configured_targets_are_run() {
        let c = config();
        let rerun = Action {
            action_id: RERUN_ACTION.into(),
            value: Some("run:health:".into()),
        };
        assert_eq!(parse_action(&c, &rerun), Ok(check(ProbeKind::Health, None)));
        let pin = Action {
            action_id: PIN_ACTION.into(),
            value: Some("pin:aisbf-2".into()),
        };
        assert_eq!(
            parse_action(&c, &pin),
            Ok(check(ProbeKind::Health, Some("aisbf-2")))
        );
        let foreign_node = Action {
            action_id: PIN_ACTION.into(),
            value: Some("pin:evil".into()),
        };
        assert_eq!(parse_action(&c, &foreign_node), Err(Refusal::UnknownButton));
        let other = Action {
            action_id: "approve".into(),
            value: Some("run:health:".into()),
        };
        assert_eq!(parse_action(&c, &other), Err(Refusal::UnknownButton));
    }
}
