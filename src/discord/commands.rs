//! The `/aisbf` command tree and `discord register`.

use serde_json::{Value, json};

use super::rest::{Rest, RestError};
use crate::app::request::{COMMAND, describe};
use crate::probe::{ProbeKind, ProbeSpec};

fn opt(name: &str, description: &str, autocomplete: bool) -> Value {
    json!({
        "type": 3, "name": name, "description": description,
        "required": false, "autocomplete": autocomplete, "max_length": 100
    })
}

fn sub(name: &str, description: &str, options: Vec<Value>) -> Value {
    json!({"type": 1, "name": name, "description": description, "options": options})
}

/// A probe's subcommand, from the probe registry.
fn probe_sub(spec: &ProbeSpec) -> Value {
    let options = spec
        .target
        .map(|t| vec![opt(t.name(), t.about(), true)])
        .unwrap_or_default();
    sub(spec.name(), &describe(spec), options)
}

/// The command tree Discord should hold (one chat-input command `/aisbf`):
/// `health`, `diagnose`, then every other probe in registry order, then
/// `incident`.
pub fn tree() -> Value {
    let mut subs: Vec<Value> = Vec::new();
    for spec in crate::probe::specs() {
        subs.push(probe_sub(spec));
        if spec.kind == ProbeKind::Health {
            subs.push(sub(
                "diagnose",
                "Run every probe and give one verdict",
                vec![opt("symptom", "What users report", true)],
            ));
        }
    }
    subs.push(json!({
        "type": 2, "name": "incident", "description": "The incident of this cluster",
        "options": [
            sub("open", "Open an incident with a thread (ops roles only)", vec![]),
            sub("close", "Close the open incident and archive its thread (ops roles only)", vec![]),
            sub("status", "The open incident and its follow-ups", vec![]),
        ]
    }));
    json!([{
        "name": COMMAND,
        "type": 1,
        "description": "Diagnose the AISBF cluster",
        // Manage Guild by default; server admins can widen it in Discord.
        "default_member_permissions": "32",
        "dm_permission": false,
        // Guilds only (no DMs, no group DMs), through the guild install only.
        "contexts": [0],
        "integration_types": [0],
        "options": subs,
    }])
}

/// Keeps only the fields we set, so Discord's extra fields (ids, versions,
/// defaults) do not count as a change.
fn normalise(v: &Value, shape: &Value) -> Value {
    match (v, shape) {
        (Value::Object(o), Value::Object(s)) => Value::Object(
            s.keys()
                .map(|k| {
                    // Discord leaves out fields at their default (false, empty).
                    let got = match o.get(k) {
                        Some(v) => v.clone(),
                        None if is_default(&s[k]) => s[k].clone(),
                        None => Value::Null,
                    };
                    (k.clone(), normalise(&got, &s[k]))
                })
                .collect(),
        ),
        (Value::Array(a), Value::Array(s)) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| match s.get(i).or(s.first()) {
                    Some(sh) => normalise(x, sh),
                    None => x.clone(),
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// Whether Discord's current commands differ from `wanted`.
pub fn differs(current: &Value, wanted: &Value) -> bool {
    normalise(current, wanted) != *wanted
}

/// What `register` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    Unchanged,
    Updated,
}

/// PUTs the tree (guild or global) only when it differs from what GET returns.
pub async fn register(rest: &Rest, guild: Option<u64>) -> Result<Registered, RestError> {
    let wanted = tree();
    let current = rest.get_commands(guild).await?;
    if !differs(&current, &wanted) {
        return Ok(Registered::Unchanged);
    }
    rest.put_commands(guild, &wanted).await?;
    Ok(Registered::Updated)
}
