//! `config check` and `config init`: validating a config without probing,
//! and writing a starter config from the nodes' own aisbf.json files.
//!
//! Both are pure apart from reading files at the edge ([`check_file`]):
//! [`check`] takes text and an environment lookup, [`starter`] takes what the
//! aisbf.json parser read (which never holds a password), so a secret cannot
//! be copied into the starter: it only ever names `${VARS}`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError};
use crate::aisbf_json::{DbTarget, NodeConfig};

/// Every `${NAME}` a string of the config refers to, with its key, in file
/// order (comments are not strings, so a commented-out reference is not one).
fn references(value: &toml::Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                out.push((path.to_string(), after[..end].to_string()));
                rest = &after[end + 1..];
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                references(item, &format!("{path}[{i}]"), out);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                references(v, &key, out);
            }
        }
        _ => {}
    }
}

/// Validates config text as `load` would, but reports every unset `${VAR}`
/// at once (not only the first), so one run says everything to export.
pub fn check(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<ConfigError>> {
    let err = |problem: String| ConfigError {
        file: file.to_string(),
        problem,
    };
    if let Ok(value) = toml::from_str::<toml::Value>(text) {
        let mut refs = Vec::new();
        references(&value, "", &mut refs);
        let unset: Vec<ConfigError> = refs
            .into_iter()
            .filter(|(_, var)| env(var).is_none())
            .map(|(key, var)| {
                err(format!(
                    "key `{key}`: environment variable {var} is not set"
                ))
            })
            .collect();
        if !unset.is_empty() {
            return Err(unset);
        }
    }
    super::parse_named(text, file, env).map_err(|e| vec![e])
}

/// [`check`] on a file, with the process environment.
pub fn check_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let file = path.display().to_string();
    let text = super::file::read_capped(path).map_err(|problem| {
        vec![ConfigError {
            file: file.clone(),
            problem,
        }]
    })?;
    check(&text, &file, &|name| std::env::var(name).ok())
}

/// The node name a path suggests: its folder (`/etc/aisbf/aisbf-1/aisbf.json`
/// → `aisbf-1`), or the folder above a `.aisbf` one
/// (`/home/aisbf-2/.aisbf/aisbf.json` → `aisbf-2`).
pub fn node_name(path: &Path) -> String {
    let mut dirs = path
        .parent()
        .into_iter()
        .flat_map(Path::ancestors)
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().trim().to_string())
        .filter(|n| !n.is_empty() && n != ".aisbf" && n != "_share");
    dirs.next().unwrap_or_else(|| "aisbf".to_string())
}

/// The value most nodes have (ties: the first node's), and the nodes that
/// differ from it.
fn majority<T: PartialEq + Clone>(
    nodes: &[(String, NodeConfig)],
    get: impl Fn(&NodeConfig) -> T,
) -> Option<(T, Vec<&str>)> {
    let values: Vec<T> = nodes.iter().map(|(_, c)| get(c)).collect();
    let best = values
        .iter()
        .max_by_key(|v| {
            (
                values.iter().filter(|w| w == v).count(),
                std::cmp::Reverse(values.iter().position(|w| w == *v)),
            )
        })?
        .clone();
    let odd = nodes
        .iter()
        .zip(&values)
        .filter(|(_, v)| **v != best)
        .map(|((n, _), _)| n.as_str())
        .collect();
    Some((best, odd))
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A starter config for the nodes whose aisbf.json were read (name, path,
/// parsed file). Node URLs are guessed from the names (aisbf.json does not
/// say where a node is reached); every secret is a `${VAR}` reference.
pub fn starter(nodes: &[(String, PathBuf, NodeConfig)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Starter config written by `aisbf-doctor config init` from {} aisbf.json file(s).",
        nodes.len()
    );
    let _ = writeln!(
        out,
        "# Check each node's url, export the variables named below, then run\n\
         # `aisbf-doctor --config THIS_FILE config check`. Secrets stay in the environment."
    );
    let _ = writeln!(
        out,
        "\n[cluster]\nname = \"aisbf\"\nuser = \"${{AISBF_USER}}\"               # the AISBF user the doctor asks as\n\
         token = \"${{AISBF_TOKEN}}\"             # that user's API token (scope api or both)\n\
         global_token = \"${{AISBF_GLOBAL_TOKEN}}\" # a global token: /health and /api/version answer only to it"
    );
    for (name, path, _) in nodes {
        let _ = writeln!(
            out,
            "\n[[cluster.nodes]]\nname = {}\nurl = {}  # guessed from the name: check it\naisbf_json = {}",
            quoted(name),
            quoted(&format!("http://{}:17765", url_host(name))),
            quoted(&path.display().to_string())
        );
    }
    let by_name: Vec<(String, NodeConfig)> = nodes
        .iter()
        .map(|(n, _, c)| (n.clone(), c.clone()))
        .collect();
    if let Some((db, odd)) = majority(&by_name, |c| c.database.clone()) {
        out.push('\n');
        if !odd.is_empty() {
            let _ = writeln!(
                out,
                "# Nodes disagree about the database: {} differ (`check files` shows how).",
                odd.join(", ")
            );
        }
        match db {
            DbTarget::Mysql {
                host,
                port,
                database,
            } => {
                let _ = writeln!(
                    out,
                    "[database]  # read-only user: see README \"Data layer\" for the GRANT\n\
                     url = \"mysql://aisbf_doctor:${{AISBF_DOCTOR_MYSQL_PASSWORD}}@{host}:{port}/{database}\""
                );
            }
            DbTarget::Sqlite { path } => {
                let _ = writeln!(
                    out,
                    "# The nodes use SQLite ({path}): private to each host, nothing shared to check.\n\
                     # [database]\n# url = \"sqlite://{path}\""
                );
            }
        }
    }
    if let Some((cache, odd)) = majority(&by_name, |c| c.cache.clone()) {
        let (response, odd_response) =
            majority(&by_name, |c| c.response_cache.prefix.clone()).unwrap_or_default();
        out.push('\n');
        let mut differ: Vec<&str> = odd.into_iter().chain(odd_response).collect();
        differ.sort_unstable();
        differ.dedup();
        if !differ.is_empty() {
            let _ = writeln!(
                out,
                "# Nodes disagree about the cache: {} differ (`check files` shows how).",
                differ.join(", ")
            );
        }
        let commented = if cache.kind.eq_ignore_ascii_case("redis") {
            ""
        } else {
            let _ = writeln!(
                out,
                "# The nodes' cache type is {:?}: not shared through Redis.",
                cache.kind
            );
            "# "
        };
        let _ = writeln!(
            out,
            "{commented}[cache]  # with a Redis password: url = \"${{AISBF_REDIS_URL}}\"\n\
             {commented}url = {}\n{commented}prefix = {}\n{commented}response_prefix = {}",
            quoted(&format!(
                "redis://{}:{}/{}",
                url_host(&cache.host),
                cache.port,
                cache.db
            )),
            quoted(&cache.prefix),
            quoted(&response)
        );
    }
    out
}

/// A host as it may stand in a URL: IPv6 in brackets, anything else that is
/// not a hostname made one.
fn url_host(name: &str) -> String {
    if name.contains(':') {
        return format!("[{name}]");
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Names from paths, made unique (`aisbf-1`, `aisbf-1-2`, ...), in order.
pub fn unique_names(paths: &[PathBuf]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    paths
        .iter()
        .map(|p| {
            let base = node_name(p);
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}-{n}") }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aisbf_json::parse_config;

    #[test]
    fn node_names_come_from_the_folders() {
        assert_eq!(
            node_name(Path::new("/etc/aisbf/aisbf-1/aisbf.json")),
            "aisbf-1"
        );
        assert_eq!(
            node_name(Path::new("/home/node-b/.aisbf/aisbf.json")),
            "node-b"
        );
        assert_eq!(node_name(Path::new("aisbf.json")), "aisbf");
        let names = unique_names(&[
            PathBuf::from("/a/n1/aisbf.json"),
            PathBuf::from("/b/n1/aisbf.json"),
        ]);
        assert_eq!(names, ["n1", "n1-2"]);
    }

    #[test]
    fn check_lists_every_unset_variable_not_only_the_first() {
        let text = "[cluster]\nname = \"p\"\nuser = \"${U}\"\ntoken = \"${T}\"\n\
                    [[cluster.nodes]]\nname = \"a\"\nurl = \"http://a:1\"\n";
        let errors = check(text, "f.toml", &|_| None).expect_err("unset");
        let problems: Vec<&str> = errors.iter().map(|e| e.problem.as_str()).collect();
        assert_eq!(
            problems,
            [
                "key `cluster.token`: environment variable T is not set",
                "key `cluster.user`: environment variable U is not set",
            ]
        );
        let env = |v: &str| Some(if v == "U" { "alice" } else { "tok" }.to_string());
        assert!(check(text, "f.toml", &env).is_ok());
    }

    #[test]
    fn the_starter_takes_the_majority_and_names_the_odd_node() {
        let mysql = r#"{"database":{"type":"mysql","mysql_host":"db.internal","mysql_port":3306,
            "mysql_user":"aisbf","mysql_password":"hunter2","mysql_database":"aisbf"},
            "cache":{"type":"redis","redis_host":"redis.internal","redis_password":"r-pw",
            "redis_key_prefix":"aisbf:prod:"},
            "response_cache":{"backend":"redis","redis_key_prefix":"aisbf:prod:response:"}}"#;
        let sqlite = r#"{"cache":{"type":"redis","redis_host":"redis.internal",
            "redis_key_prefix":"aisbf:prod:"},
            "response_cache":{"backend":"redis","redis_key_prefix":"aisbf:prod:response:"}}"#;
        let node = |name: &str, text: &str| {
            (
                name.to_string(),
                PathBuf::from(format!("/etc/aisbf/{name}/aisbf.json")),
                parse_config(text).expect("aisbf.json"),
            )
        };
        let out = starter(&[
            node("aisbf-1", mysql),
            node("aisbf-2", mysql),
            node("aisbf-3", sqlite),
        ]);
        assert!(
            out.contains("url = \"mysql://aisbf_doctor:${AISBF_DOCTOR_MYSQL_PASSWORD}@db.internal:3306/aisbf\""),
            "{out}"
        );
        assert!(out.contains("database: aisbf-3 differ"), "{out}");
        assert!(out.contains("prefix = \"aisbf:prod:\""), "{out}");
        assert!(
            out.contains("response_prefix = \"aisbf:prod:response:\""),
            "{out}"
        );
        assert!(!out.contains("hunter2") && !out.contains("r-pw"), "{out}");
    }
}
