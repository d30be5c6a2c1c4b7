//! Interactions as Discord sends them: our own tolerant serde types (unknown
//! fields ignored), and the command they ask for.

use serde::Deserialize;
use serde_json::Value;

use crate::engine::Scope;
use crate::finding::ProbeKind;
use crate::verdict::Symptom;

/// Longest option value we accept (node and route names are short; anything
/// longer is refused instead of being probed or echoed).
pub const MAX_OPTION_LEN: usize = 100;

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

impl Interaction {
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

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Health { node: Option<String> },
    Diagnose { symptom: Option<Symptom> },
    Db,
    Cache,
    Routes { route: Option<String> },
    Token,
    Lb,
    Files,
    IncidentOpen,
    IncidentClose,
    IncidentStatus,
}

/// Why a command cannot be run (answered as an ephemeral message).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// Not a command of the `/aisbf` tree (or a button we did not make).
    #[error("unknown command {0:?}")]
    Unknown(String),
    /// An option value longer than [`MAX_OPTION_LEN`].
    #[error("option `{0}` is longer than {MAX_OPTION_LEN} characters; refused")]
    Oversized(String),
    /// An option that should be a string is not.
    #[error("option `{0}` must be text")]
    NotText(String),
    /// A symptom that is not one of [`Symptom::ALL`].
    #[error("unknown symptom {0:?}")]
    UnknownSymptom(String),
}

fn text_opt(opts: &[Opt], name: &str) -> Result<Option<String>, CommandError> {
    let Some(o) = opts.iter().find(|o| o.name == name) else {
        return Ok(None);
    };
    match &o.value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_OPTION_LEN => {
            Err(CommandError::Oversized(name.into()))
        }
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CommandError::NotText(name.into())),
    }
}

/// Every option value anywhere in the tree must be short.
fn check_sizes(opts: &[Opt]) -> Result<(), CommandError> {
    for o in opts {
        if let Some(Value::String(s)) = &o.value
            && s.chars().count() > MAX_OPTION_LEN
        {
            return Err(CommandError::Oversized(o.name.clone()));
        }
        check_sizes(&o.options)?;
    }
    Ok(())
}

/// The command of an APPLICATION_COMMAND interaction (`/aisbf <sub> ...`).
pub fn command_of(data: &Data) -> Result<Command, CommandError> {
    check_sizes(&data.options)?;
    let name = data.name.as_deref().unwrap_or_default();
    if name != "aisbf" {
        return Err(CommandError::Unknown(name.to_string()));
    }
    let Some(sub) = data.options.first() else {
        return Err(CommandError::Unknown("aisbf".into()));
    };
    let o = &sub.options;
    Ok(match sub.name.as_str() {
        "health" => Command::Health {
            node: text_opt(o, "node")?,
        },
        "diagnose" => Command::Diagnose {
            symptom: match text_opt(o, "symptom")? {
                None => None,
                Some(s) => Some(Symptom::parse(&s).ok_or(CommandError::UnknownSymptom(s))?),
            },
        },
        "db" => Command::Db,
        "cache" => Command::Cache,
        "routes" => Command::Routes {
            route: text_opt(o, "route")?,
        },
        "token" => Command::Token,
        "lb" => Command::Lb,
        "files" => Command::Files,
        "incident" => match o.first().map(|s| s.name.as_str()) {
            Some("open") => Command::IncidentOpen,
            Some("close") => Command::IncidentClose,
            Some("status") => Command::IncidentStatus,
            other => return Err(CommandError::Unknown(format!("incident {other:?}"))),
        },
        other => return Err(CommandError::Unknown(other.to_string())),
    })
}

impl Command {
    /// The probes this command runs (empty for incident commands, which decide themselves).
    pub fn kinds(&self, config: &crate::config::Config) -> Vec<ProbeKind> {
        match self {
            Command::Health { .. } => vec![ProbeKind::Health],
            Command::Diagnose { symptom } => crate::engine::diagnose_kinds(config, *symptom),
            Command::Db => vec![ProbeKind::Db],
            Command::Cache => vec![ProbeKind::Cache],
            Command::Routes { .. } => vec![ProbeKind::Routes],
            Command::Token => vec![ProbeKind::Token],
            Command::Lb => vec![ProbeKind::Lb],
            Command::Files => vec![ProbeKind::Files],
            Command::IncidentOpen => crate::engine::diagnose_kinds(config, None),
            Command::IncidentClose | Command::IncidentStatus => Vec::new(),
        }
    }

    pub fn scope(&self) -> Scope {
        match self {
            Command::Health { node: Some(n) } => Scope {
                nodes: vec![n.clone()],
                ..Scope::default()
            },
            Command::Routes { route: Some(r) } => Scope {
                routes: vec![r.clone()],
                ..Scope::default()
            },
            Command::Diagnose { symptom } => Scope {
                symptom: *symptom,
                ..Scope::default()
            },
            _ => Scope::default(),
        }
    }

    /// Commands that cost money or write need one of `ops_roles`.
    pub fn needs_ops(&self) -> bool {
        matches!(
            self,
            Command::Routes { .. } | Command::IncidentOpen | Command::IncidentClose
        )
    }

    /// How the command reads in chat.
    pub fn label(&self) -> String {
        match self {
            Command::Health { node: Some(n) } => format!("/aisbf health node:{n}"),
            Command::Health { node: None } => "/aisbf health".into(),
            Command::Diagnose { symptom: Some(s) } => {
                format!("/aisbf diagnose symptom:{}", s.as_str())
            }
            Command::Diagnose { symptom: None } => "/aisbf diagnose".into(),
            Command::Db => "/aisbf db".into(),
            Command::Cache => "/aisbf cache".into(),
            Command::Routes { route: Some(r) } => format!("/aisbf routes route:{r}"),
            Command::Routes { route: None } => "/aisbf routes".into(),
            Command::Token => "/aisbf token".into(),
            Command::Lb => "/aisbf lb".into(),
            Command::Files => "/aisbf files".into(),
            Command::IncidentOpen => "/aisbf incident open".into(),
            Command::IncidentClose => "/aisbf incident close".into(),
            Command::IncidentStatus => "/aisbf incident status".into(),
        }
    }

    /// The "Re-run" button's custom_id (at most 100 characters; None when it would not fit).
    pub fn custom_id(&self) -> Option<String> {
        let id = match self {
            Command::Health { node } => format!("run:health:{}", node.as_deref().unwrap_or("")),
            Command::Diagnose { symptom } => {
                format!("run:diagnose:{}", symptom.map(|s| s.as_str()).unwrap_or(""))
            }
            Command::Db => "run:db:".into(),
            Command::Cache => "run:cache:".into(),
            Command::Routes { route } => format!("run:routes:{}", route.as_deref().unwrap_or("")),
            Command::Token => "run:token:".into(),
            Command::Lb => "run:lb:".into(),
            Command::Files => "run:files:".into(),
            Command::IncidentOpen | Command::IncidentClose => return None,
            Command::IncidentStatus => "run:incident-status:".into(),
        };
        (id.chars().count() <= 100).then_some(id)
    }
}

/// The command a button press asks for: `run:<cmd>:<arg>` or `pin:<node>`.
pub fn command_of_custom_id(id: &str) -> Result<Command, CommandError> {
    if id.chars().count() > 100 {
        return Err(CommandError::Oversized("custom_id".into()));
    }
    let arg = |s: &str| (!s.is_empty()).then(|| s.to_string());
    if let Some(node) = id.strip_prefix("pin:") {
        return Ok(Command::Health { node: arg(node) });
    }
    let Some(rest) = id.strip_prefix("run:") else {
        return Err(CommandError::Unknown(id.to_string()));
    };
    let (cmd, a) = rest.split_once(':').unwrap_or((rest, ""));
    Ok(match cmd {
        "health" => Command::Health { node: arg(a) },
        "diagnose" => Command::Diagnose {
            symptom: match arg(a) {
                None => None,
                Some(s) => Some(Symptom::parse(&s).ok_or(CommandError::UnknownSymptom(s))?),
            },
        },
        "db" => Command::Db,
        "cache" => Command::Cache,
        "routes" => Command::Routes { route: arg(a) },
        "token" => Command::Token,
        "lb" => Command::Lb,
        "files" => Command::Files,
        "incident-status" => Command::IncidentStatus,
        other => return Err(CommandError::Unknown(other.to_string())),
    })
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
