//! Interactions as Discord sends them: our own tolerant serde types (unknown
//! fields ignored), and the command they ask for.

use serde::Deserialize;
use serde_json::Value;

use crate::app::Request;
use crate::finding::ProbeKind;
use crate::verdict::Symptom;

pub const PING: u8 = 1;
pub const APPLICATION_COMMAND: u8 = 2;
pub const MESSAGE_COMPONENT: u8 = 3;
pub const AUTOCOMPLETE: u8 = 4;

#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    #[serde(deserialize_with = "de_id")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub data: Option<Data>,
    #[serde(default)]
    pub member: Option<Member>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub channel_id: Option<String>,
    /// The guild it came from; absent in DMs.
    #[serde(default, deserialize_with = "de_opt_id")]
    pub guild_id: Option<String>,
    /// Where it was triggered: 0 guild, 1 the bot's DM, 2 a group DM or
    /// other private channel.
    #[serde(default)]
    pub context: Option<u8>,
    /// Installation contexts that authorized it: key "0" a guild install
    /// (value: the guild id), "1" a user install.
    #[serde(default)]
    pub authorizing_integration_owners: Option<std::collections::BTreeMap<String, Value>>,
}

/// Snowflakes arrive as strings; accept numbers too (re-encoded gateway events).
fn de_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("id must be a string or number")),
    }
}

fn de_opt_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn de_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Data {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub options: Vec<Opt>,
    #[serde(default)]
    pub custom_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Opt {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: u8,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub options: Vec<Opt>,
    #[serde(default)]
    pub focused: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Member {
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default, deserialize_with = "de_ids")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "de_id")]
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// Why an interaction body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON, not an interaction, or missing its id or token.
    #[error("malformed interaction: {0}")]
    Malformed(String),
}

/// Parses a raw interaction body; never panics.
pub fn parse(body: &[u8]) -> Result<Interaction, ParseError> {
    let ix: Interaction =
        serde_json::from_slice(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    if ix.id.is_empty() || ix.id.len() > 32 {
        return Err(ParseError::Malformed("bad interaction id".into()));
    }
    if ix.kind != PING && ix.token.is_empty() {
        return Err(ParseError::Malformed("missing interaction token".into()));
    }
    Ok(ix)
}

/// Why an interaction is not ours to answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Foreign {
    /// From a DM, a group DM or another private channel.
    #[error("this bot answers only in its ops server, not in direct messages")]
    Private,
    /// From a guild not in `[discord] guilds`.
    #[error("this bot answers only in the servers listed in [discord] guilds")]
    OtherGuild,
    /// Through a user install rather than the ops server's install.
    #[error("this bot answers only through its server install, not a user install")]
    UserInstall,
}

impl Interaction {
    /// Whether it came from one of `guilds` through the guild install; a
    /// missing `context` or owner map (older payloads) is judged by the guild.
    pub fn check_origin(&self, guilds: &[u64]) -> Result<(), Foreign> {
        if matches!(self.context, Some(c) if c != 0) {
            return Err(Foreign::Private);
        }
        let Some(guild) = self.guild_id.as_deref() else {
            return Err(Foreign::Private);
        };
        if !guild.parse::<u64>().is_ok_and(|g| guilds.contains(&g)) {
            return Err(Foreign::OtherGuild);
        }
        if let Some(owners) = &self.authorizing_integration_owners
            && !owners.contains_key("0")
        {
            return Err(Foreign::UserInstall);
        }
        Ok(())
    }

    /// Who asked, for the store ("discord:<user id>").
    pub fn who(&self) -> String {
        let user = self
            .member
            .as_ref()
            .and_then(|m| m.user.as_ref())
            .or(self.user.as_ref());
        match user {
            Some(u) => format!("discord:{}", u.id),
            None => "discord:unknown".into(),
        }
    }

    pub fn roles(&self) -> Vec<u64> {
        self.member
            .as_ref()
            .map(|m| m.roles.iter().filter_map(|r| r.parse().ok()).collect())
            .unwrap_or_default()
    }
}

pub use crate::app::request::{MAX_OPTION_LEN, RequestError};

fn text_opt(opts: &[Opt], name: &str) -> Result<Option<String>, RequestError> {
    let Some(o) = opts.iter().find(|o| o.name == name) else {
        return Ok(None);
    };
    match &o.value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_OPTION_LEN => {
            Err(RequestError::Oversized(name.into()))
        }
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RequestError::NotText(name.into())),
    }
}

/// Every option value anywhere in the tree must be short.
fn check_sizes(opts: &[Opt]) -> Result<(), RequestError> {
    for o in opts {
        if let Some(Value::String(s)) = &o.value
            && s.chars().count() > MAX_OPTION_LEN
        {
            return Err(RequestError::Oversized(o.name.clone()));
        }
        check_sizes(&o.options)?;
    }
    Ok(())
}

/// The request of an APPLICATION_COMMAND interaction (`/aisbf <sub> ...`).
pub fn command_of(data: &Data) -> Result<Request, RequestError> {
    check_sizes(&data.options)?;
    let name = data.name.as_deref().unwrap_or_default();
    if name != crate::app::request::COMMAND {
        return Err(RequestError::Unknown(name.to_string()));
    }
    let Some(sub) = data.options.first() else {
        return Err(RequestError::Unknown(name.into()));
    };
    let o = &sub.options;
    let option = match sub.name.as_str() {
        "diagnose" => text_opt(o, "symptom")?,
        // `incident <action>` is a subcommand group.
        "incident" => o.first().map(|s| s.name.clone()),
        probe => match ProbeKind::parse(probe).and_then(|k| k.spec().target) {
            Some(target) => text_opt(o, target.name())?,
            None => None,
        },
    };
    Request::from_words(&sub.name, option)
}

/// The request a button press asks for: `run:<cmd>:<arg>` or `pin:<node>`.
pub fn command_of_custom_id(id: &str) -> Result<Request, RequestError> {
    Request::from_rerun_id(id)
}

/// The focused option of an autocomplete interaction: (option name, typed text).
pub fn focused(data: &Data) -> Option<(String, String)> {
    fn walk(opts: &[Opt]) -> Option<(String, String)> {
        for o in opts {
            if o.focused {
                let typed = match &o.value {
                    Some(Value::String(s)) => s.chars().take(MAX_OPTION_LEN).collect(),
                    _ => String::new(),
                };
                return Some((o.name.clone(), typed));
            }
            if let Some(f) = walk(&o.options) {
                return Some(f);
            }
        }
        None
    }
    walk(&data.options)
}

/// Autocomplete choices from config only (no probe runs): at most 25.
pub fn choices(config: &crate::config::Config, option: &str, typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    let all: Vec<String> = match option {
        "node" => config
            .cluster
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect(),
        "route" => config
            .routes
            .as_ref()
            .map(|r| r.smoke.clone())
            .unwrap_or_default(),
        "symptom" => Symptom::ALL
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        _ => Vec::new(),
    };
    all.into_iter()
        .filter(|c| c.to_lowercase().contains(&typed))
        .filter(|c| c.chars().count() <= 100)
        .take(25)
        .collect()
}
