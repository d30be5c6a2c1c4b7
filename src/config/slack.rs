//! `[slack]`: how the bot reaches Slack, and who there may ask it anything.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::secret::Secret;

/// Slack's Web API.
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";

/// How Slack delivers slash commands and button clicks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Outbound websocket opened with the app-level token; no public URL.
    Socket,
    /// Slack POSTs signed requests to `listen` (`/slack/commands`, `/slack/actions`).
    Http,
}

#[derive(Debug, Clone)]
pub struct Slack {
    pub mode: Mode,
    /// Bot token (`xoxb-...`) for the Web API.
    pub bot_token: Secret,
    /// App-level token (`xapp-...`) for Socket Mode.
    pub app_token: Option<Secret>,
    /// Signing secret for verifying http-mode requests.
    pub signing_secret: Option<Secret>,
    /// Where the http-mode endpoint listens.
    pub listen: SocketAddr,
    /// Web API base, without a trailing slash.
    pub api_base: String,
    /// The only workspace whose members may ask.
    pub team_id: String,
    /// The Enterprise Grid org the workspace belongs to, if any; a command
    /// from any other org (or from an org when none is set) is refused.
    pub enterprise_id: Option<String>,
    /// Channel incident messages open in (their threads hold the incident).
    pub incident_channel: Option<String>,
    /// Users who may run paid probes and open or close incidents.
    pub ops_users: Vec<String>,
    /// User groups whose members may do the same.
    pub ops_user_groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlack {
    #[serde(default = "default_mode")]
    mode: String,
    bot_token: String,
    app_token: Option<String>,
    signing_secret: Option<String>,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_api_base")]
    api_base: String,
    team_id: String,
    enterprise_id: Option<String>,
    incident_channel: Option<String>,
    #[serde(default)]
    ops_users: Vec<String>,
    #[serde(default)]
    ops_user_groups: Vec<String>,
}

fn default_mode() -> String {
    "socket".into()
}
fn default_listen() -> String {
    "0.0.0.0:8081".into()
}
fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

/// A Slack id: its kind's capital letters (`T` team, `C`/`G` channel, ...)
/// then capitals and digits.
fn slack_id(key: &str, raw: &str, first: &[char], what: &str) -> Result<String, String> {
    let id = raw.trim();
    let ok = id.len() >= 2
        && id.len() <= 32
        && id.starts_with(first)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        let starts: Vec<String> = first.iter().map(|c| c.to_string()).collect();
        return Err(format!(
            "key `{key}`: must be a Slack {what} id (starting with {}, capitals and digits), got {raw:?}",
            starts.join(" or ")
        ));
    }
    Ok(id.to_string())
}

fn token(key: &str, raw: &str, prefix: &str) -> Result<Secret, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(format!("key `{key}`: must not be empty"));
    }
    if !t.starts_with(prefix) || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "key `{key}`: must be a Slack token starting with {prefix:?} (no spaces)"
        ));
    }
    Ok(Secret::new(t.to_string()))
}

pub(crate) fn validate(raw: RawSlack) -> Result<Slack, String> {
    let mode = match raw.mode.as_str() {
        "socket" => Mode::Socket,
        "http" => Mode::Http,
        other => {
            return Err(format!(
                "key `slack.mode`: must be \"socket\" or \"http\", got {other:?}"
            ));
        }
    };
    let bot_token = token("slack.bot_token", &raw.bot_token, "xoxb-")?;
    let app_token = raw
        .app_token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| token("slack.app_token", t, "xapp-"))
        .transpose()?;
    if mode == Mode::Socket && app_token.is_none() {
        return Err(
            "key `slack.app_token`: required when slack.mode = \"socket\" (an app-level token with connections:write)"
                .into(),
        );
    }
    let signing_secret = raw
        .signing_secret
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    if mode == Mode::Http && signing_secret.is_none() {
        return Err("key `slack.signing_secret`: required when slack.mode = \"http\"".into());
    }
    let listen: SocketAddr = raw.listen.parse().map_err(|_| {
        format!(
            "key `slack.listen`: must be ADDRESS:PORT, got {:?}",
            raw.listen
        )
    })?;
    let api_base = raw.api_base.trim().trim_end_matches('/').to_string();
    let parsed = url::Url::parse(&api_base)
        .map_err(|e| format!("key `slack.api_base`: invalid URL {api_base:?}: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("key `slack.api_base`: must not carry a user or password".into());
    }
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "key `slack.api_base`: must be an http(s) URL like {DEFAULT_API_BASE:?}, got {api_base:?}"
        ));
    }
    let team_id = slack_id("slack.team_id", &raw.team_id, &['T'], "workspace")?;
    let enterprise_id = raw
        .enterprise_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|e| slack_id("slack.enterprise_id", e, &['E'], "Enterprise Grid org"))
        .transpose()?;
    let incident_channel = raw
        .incident_channel
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|c| slack_id("slack.incident_channel", c, &['C', 'G'], "channel"))
        .transpose()?;
    let ops_users = raw
        .ops_users
        .iter()
        .enumerate()
        .map(|(i, u)| slack_id(&format!("slack.ops_users[{i}]"), u, &['U', 'W'], "user"))
        .collect::<Result<Vec<_>, _>>()?;
    let ops_user_groups = raw
        .ops_user_groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            slack_id(
                &format!("slack.ops_user_groups[{i}]"),
                g,
                &['S'],
                "user group",
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Slack {
        mode,
        bot_token,
        app_token,
        signing_secret,
        listen,
        api_base,
        team_id,
        enterprise_id,
        incident_channel,
        ops_users,
        ops_user_groups,
    })
}

impl Slack {
    /// Every secret of the section, for the config's redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = vec![self.bot_token.clone()];
        out.extend(self.app_token.clone());
        out.extend(self.signing_secret.clone());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[cluster]\nname = \"prod\"\nuser = \"alice\"\ntoken = \"tok\"\n\
        [[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.1:17765\"\n";

    fn parse(slack: &str) -> Result<crate::config::Config, String> {
        let env = |name: &str| match name {
            "SLACK_BOT_TOKEN" => Some("xoxb-1-bot".to_string()),
            "SLACK_APP_TOKEN" => Some("xapp-1-app".to_string()),
            _ => None,
        };
        crate::config::parse(&format!("{BASE}[slack]\n{slack}"), &env).map_err(|e| e.problem)
    }

    const SOCKET: &str = "bot_token = \"${SLACK_BOT_TOKEN}\"\napp_token = \"${SLACK_APP_TOKEN}\"\nteam_id = \"T0123456\"\n";

    #[test]
    fn a_socket_mode_section_reads_with_its_defaults_and_env_tokens() {
        let c = parse(SOCKET).expect("parses");
        let s = c.slack.clone().expect("slack");
        assert_eq!(s.mode, Mode::Socket);
        assert_eq!(s.bot_token.expose(), "xoxb-1-bot");
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.listen.port(), 8081);
        assert!(c.discord.is_none());
        // Both tokens are redacted everywhere.
        let scrubbed = c.redactor().scrub("xoxb-1-bot and xapp-1-app");
        assert!(!scrubbed.contains("xoxb-1-bot") && !scrubbed.contains("xapp-1-app"));
    }

    #[rstest::rstest]
    #[case("bot_token = \"xoxb-1\"\nteam_id = \"T1\"\n", "slack.app_token")]
    #[case(
        "mode = \"http\"\nbot_token = \"xoxb-1\"\nteam_id = \"T1\"\n",
        "slack.signing_secret"
    )]
    #[case(
        "mode = \"rtm\"\nbot_token = \"xoxb-1\"\nteam_id = \"T1\"\n",
        "slack.mode"
    )]
    #[case(
        "bot_token = \"xoxp-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\n",
        "slack.bot_token"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xoxb-2\"\nteam_id = \"T1\"\n",
        "slack.app_token"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"acme\"\n",
        "slack.team_id"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\nops_users = [\"S1\"]\n",
        "slack.ops_users[0]"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\nincident_channel = \"#ops\"\n",
        "slack.incident_channel"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\napi_base = \"ftp://x\"\n",
        "slack.api_base"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\nlisten = \"8081\"\n",
        "slack.listen"
    )]
    #[case(
        "bot_token = \"${SLACK_UNSET}\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\n",
        "SLACK_UNSET"
    )]
    #[case(
        "bot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\nchannel = \"C1\"\n",
        "channel"
    )]
    fn an_invalid_slack_section_is_refused_naming_its_key(
        #[case] section: &str,
        #[case] key: &str,
    ) {
        let problem = parse(section).expect_err("refused");
        assert!(problem.contains(key), "{problem}");
    }

    #[test]
    fn discord_and_slack_may_be_configured_together() {
        let discord = "[discord]\ntoken = \"t\"\napplication_id = \"1\"\nguilds = [\"2\"]\n";
        let c = crate::config::parse(
            &format!("{BASE}{discord}[slack]\nbot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nteam_id = \"T1\"\n"),
            &|_| None,
        )
        .expect("parses");
        assert!(c.discord.is_some() && c.slack.is_some());
    }
}
