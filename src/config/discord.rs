//! `[discord]`: how the bot reaches Discord.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::secret::Secret;

/// Discord's REST API, version 10.
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";

/// How Discord delivers interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Outbound websocket; no public URL needed.
    Gateway,
    /// Discord POSTs signed interactions to `interactions_endpoint`.
    Http,
}

#[derive(Debug, Clone)]
pub struct Discord {
    pub mode: Mode,
    /// Bot token (without the `Bot ` prefix).
    pub token: Secret,
    pub application_id: u64,
    /// Ed25519 public key of the application (http mode).
    pub public_key: Option<[u8; 32]>,
    pub interactions_endpoint: SocketAddr,
    /// REST base, ending in `/api/v10`.
    pub api_base: String,
    pub incident_channel: Option<u64>,
    pub ops_roles: Vec<u64>,
    /// The only guilds whose members may ask (never empty): a command from
    /// another guild, a DM or a user-installed context is refused.
    pub guilds: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiscord {
    #[serde(default = "default_mode")]
    mode: String,
    token: String,
    application_id: String,
    public_key: Option<String>,
    #[serde(default = "default_endpoint")]
    interactions_endpoint: String,
    #[serde(default = "default_api_base")]
    api_base: String,
    incident_channel: Option<String>,
    #[serde(default)]
    ops_roles: Vec<String>,
    #[serde(default)]
    guilds: Vec<String>,
}

fn default_mode() -> String {
    "gateway".into()
}
fn default_endpoint() -> String {
    "0.0.0.0:8080".into()
}
fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

fn snowflake(key: &str, raw: &str) -> Result<u64, String> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            format!("key `{key}`: must be a Discord id (a positive integer), got {raw:?}")
        })
}

pub(crate) fn validate(raw: RawDiscord) -> Result<Discord, String> {
    let mode = match raw.mode.as_str() {
        "gateway" => Mode::Gateway,
        "http" => Mode::Http,
        other => {
            return Err(format!(
                "key `discord.mode`: must be \"gateway\" or \"http\", got {other:?}"
            ));
        }
    };
    if raw.token.trim().is_empty() {
        return Err("key `discord.token`: must not be empty".into());
    }
    let application_id = snowflake("discord.application_id", &raw.application_id)?;
    let public_key = match raw.public_key.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(hex_key) => {
            let bytes = hex::decode(hex_key).map_err(|_| {
                "key `discord.public_key`: must be the application's public key in hex".to_string()
            })?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| {
                "key `discord.public_key`: must be 32 bytes (64 hex characters)".to_string()
            })?;
            if ed25519_dalek::VerifyingKey::from_bytes(&key).is_err() {
                return Err("key `discord.public_key`: not a valid Ed25519 public key".into());
            }
            Some(key)
        }
    };
    if mode == Mode::Http && public_key.is_none() {
        return Err("key `discord.public_key`: required when discord.mode = \"http\"".into());
    }
    let interactions_endpoint: SocketAddr = raw.interactions_endpoint.parse().map_err(|_| {
        format!(
            "key `discord.interactions_endpoint`: must be ADDRESS:PORT, got {:?}",
            raw.interactions_endpoint
        )
    })?;
    let api_base = raw.api_base.trim_end_matches('/').to_string();
    let parsed = url::Url::parse(&api_base)
        .map_err(|e| format!("key `discord.api_base`: invalid URL {api_base:?}: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("key `discord.api_base`: must not carry a user or password".into());
    }
    if !matches!(parsed.scheme(), "http" | "https") || !api_base.ends_with("/api/v10") {
        return Err(format!(
            "key `discord.api_base`: must be an http(s) URL ending in /api/v10, got {api_base:?}"
        ));
    }
    let incident_channel = raw
        .incident_channel
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|c| snowflake("discord.incident_channel", c))
        .transpose()?;
    let ops_roles = raw
        .ops_roles
        .iter()
        .enumerate()
        .map(|(i, r)| snowflake(&format!("discord.ops_roles[{i}]"), r))
        .collect::<Result<Vec<_>, _>>()?;
    let guilds = raw
        .guilds
        .iter()
        .enumerate()
        .map(|(i, g)| snowflake(&format!("discord.guilds[{i}]"), g))
        .collect::<Result<Vec<_>, _>>()?;
    if guilds.is_empty() {
        return Err(
            "key `discord.guilds`: list the ids of the guilds allowed to use the bot (at least one); commands from anywhere else are refused"
                .into(),
        );
    }
    Ok(Discord {
        mode,
        token: Secret::new(raw.token.trim().trim_start_matches("Bot ").to_string()),
        application_id,
        public_key,
        interactions_endpoint,
        api_base,
        incident_channel,
        ops_roles,
        guilds,
    })
}
