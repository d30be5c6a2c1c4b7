//! Section by section, raw values become a [`Config`]: ranges, URLs, schemes,
//! duplicates and cross-field rules, each refusal one line naming its key.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::checks::{http_url, non_empty, plain_prefix, secret_url, sendable};
use super::discord;
use super::raw::{RawCache, RawConfig, RawWatch};
use super::slack;
use super::{
    Cache, Cluster, Config, DashboardLogin, Database, Lb, MetricsConfig, Node, OtherEnvironment,
    Routes, StoreConfig, WatchConfig,
};
use crate::secret::Secret;

/// Ten minutes: longer per-request timeouts are a typo, not a need.
const MAX_TIMEOUT_MS: u64 = 600_000;
/// An hour for a whole run.
const MAX_DEADLINE_MS: u64 = 3_600_000;

pub(super) fn validate(raw: RawConfig) -> Result<Config, String> {
    let c = raw.cluster;
    non_empty("cluster.name", &c.name)?;
    non_empty("cluster.user", &c.user)?;
    if c.user.contains('/') || c.user.contains(char::is_whitespace) {
        return Err("key `cluster.user`: must be a plain AISBF username (no '/' or spaces)".into());
    }
    non_empty("cluster.token", &c.token)?;
    sendable("cluster.token", &c.token)?;
    if let Some(t) = &c.global_token {
        sendable("cluster.global_token", t)?;
    }
    if c.timeout_ms == 0 || c.timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!(
            "key `cluster.timeout_ms`: must be between 1 and {MAX_TIMEOUT_MS}"
        ));
    }
    if c.concurrency == 0 {
        return Err("key `cluster.concurrency`: must be greater than 0".into());
    }
    if c.nodes.is_empty() {
        return Err("key `cluster.nodes`: at least one [[cluster.nodes]] entry is required".into());
    }
    let mut seen = HashSet::new();
    let mut nodes = Vec::with_capacity(c.nodes.len());
    for (i, n) in c.nodes.into_iter().enumerate() {
        let key = format!("cluster.nodes[{i}]");
        non_empty(&format!("{key}.name"), &n.name)?;
        if n.name.trim() != n.name || n.name.chars().any(crate::inert::is_active) {
            return Err(format!(
                "key `{key}.name`: {:?} has surrounding whitespace or a control character",
                n.name
            ));
        }
        if !seen.insert(n.name.clone()) {
            return Err(format!(
                "key `{key}.name`: duplicate node name {:?}",
                n.name
            ));
        }
        let url = http_url(&format!("{key}.url"), &n.url)?;
        nodes.push(Node {
            name: n.name,
            url,
            aisbf_json: n.aisbf_json,
            tls_insecure: n.tls_insecure,
        });
    }
    let dashboard = match (c.dashboard_user, c.dashboard_password) {
        (None, None) => None,
        (Some(user), Some(password)) => {
            non_empty("cluster.dashboard_user", &user)?;
            sendable("cluster.dashboard_password", &password)?;
            Some(DashboardLogin {
                user,
                password: Secret::new(password),
            })
        }
        _ => {
            return Err(
                "key `cluster.dashboard_user`: give both dashboard_user and dashboard_password, or neither"
                    .into(),
            );
        }
    };
    let balancer = c
        .balancer
        .map(|b| http_url("cluster.balancer", &b))
        .transpose()?;
    let database = raw
        .database
        .map(|d| secret_url("database.url", d.url, &["mysql", "mariadb", "sqlite"]))
        .transpose()?
        .map(|url| Database { url });
    let cache = raw.cache.map(validate_cache).transpose()?;
    let routes = raw
        .routes
        .map(|r| {
            for (i, route) in r.smoke.iter().enumerate() {
                non_empty(&format!("routes.smoke[{i}]"), route)?;
            }
            if r.concurrency == 0 {
                return Err("key `routes.concurrency`: must be greater than 0".to_string());
            }
            Ok(Routes {
                smoke: r.smoke,
                prompt: r.prompt,
                concurrency: r.concurrency,
            })
        })
        .transpose()?;
    let lb = match raw.lb {
        Some(l) if l.requests == 0 || l.requests > 1000 => {
            return Err("key `lb.requests`: must be between 1 and 1000".into());
        }
        Some(l) => Lb {
            requests: l.requests,
        },
        None => Lb::default(),
    };
    let deadline_ms = match c.deadline_ms {
        Some(d) if d > MAX_DEADLINE_MS => {
            return Err(format!(
                "key `cluster.deadline_ms`: must be at most {MAX_DEADLINE_MS}"
            ));
        }
        Some(d) if d < c.timeout_ms => {
            return Err("key `cluster.deadline_ms`: must be at least cluster.timeout_ms".into());
        }
        Some(d) => d,
        None => default_deadline_ms(&Fanout {
            timeout_ms: c.timeout_ms,
            nodes: nodes.len(),
            concurrency: c.concurrency,
            routes: routes.as_ref().map(|r| (r.smoke.len(), r.concurrency)),
            lb_requests: lb.requests,
        }),
    };
    let store = raw
        .store
        .map(|st| secret_url("store.url", st.url, &["sqlite", "mysql", "mariadb"]))
        .transpose()?
        .map(|url| StoreConfig { url });
    let cache_url = cache.as_ref().map(|c| c.url.clone());
    let watch = raw
        .watch
        .map(|w| validate_watch(w, cache_url))
        .transpose()?;
    let metrics = raw
        .metrics
        .map(|m| {
            m.listen
                .parse::<std::net::SocketAddr>()
                .map(|listen| MetricsConfig { listen })
                .map_err(|_| {
                    format!(
                        "key `metrics.listen`: must be an address and port like \"127.0.0.1:9464\", got {:?}",
                        m.listen
                    )
                })
        })
        .transpose()?;
    let discord = raw.discord.map(discord::validate).transpose()?;
    let slack = raw.slack.map(slack::validate).transpose()?;
    Ok(Config {
        lb,
        store,
        watch,
        metrics,
        discord,
        slack,
        cluster: Cluster {
            name: c.name,
            user: c.user,
            token: Secret::new(c.token),
            global_token: c.global_token.filter(|t| !t.is_empty()).map(Secret::new),
            balancer,
            timeout_ms: c.timeout_ms,
            deadline_ms,
            concurrency: c.concurrency,
            nodes,
            dashboard,
        },
        database,
        cache,
        routes,
    })
}

fn validate_watch(w: RawWatch, cache_url: Option<Secret>) -> Result<WatchConfig, String> {
    // Malformed durations were refused while reading; zero reads fine but
    // would make `watch` spin.
    let positive = |key: &str, d: Duration| {
        if d.is_zero() {
            return Err(format!("key `watch.{key}`: must be greater than 0"));
        }
        Ok(d)
    };
    let every = positive("every", w.every)?;
    let lease_ttl = positive("lease_ttl", w.lease_ttl)?;
    let remind_every = positive("remind_every", w.remind_every)?;
    if lease_ttl < Duration::from_millis(300) {
        return Err("key `watch.lease_ttl`: must be at least 300ms".into());
    }
    if w.probes.is_empty() {
        return Err("key `watch.probes`: name at least one probe".into());
    }
    let mut probes = Vec::with_capacity(w.probes.len());
    for (i, name) in w.probes.iter().enumerate() {
        let Some(kind) = crate::finding::ProbeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
        else {
            let all: Vec<&str> = crate::finding::ProbeKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            return Err(format!(
                "key `watch.probes[{i}]`: unknown probe {name:?}; one of: {}",
                all.join(", ")
            ));
        };
        if !probes.contains(&kind) {
            probes.push(kind);
        }
    }
    if w.confirm == 0 || w.confirm > 100 {
        return Err("key `watch.confirm`: must be between 1 and 100".into());
    }
    let redis_url = match w.redis_url {
        Some(u) => Some(secret_url("watch.redis_url", u, &["redis", "rediss"])?),
        None => cache_url,
    };
    Ok(WatchConfig {
        every,
        probes,
        confirm: w.confirm,
        lease_ttl,
        redis_url,
        remind_every,
    })
}

fn validate_cache(c: RawCache) -> Result<Cache, String> {
    let url = secret_url("cache.url", c.url, &["redis", "rediss"])?;
    non_empty("cache.prefix", &c.prefix)?;
    non_empty("cache.response_prefix", &c.response_prefix)?;
    plain_prefix("cache.prefix", &c.prefix)?;
    plain_prefix("cache.response_prefix", &c.response_prefix)?;
    let mut names = BTreeMap::new();
    for (i, env) in c.other_environments.iter().enumerate() {
        non_empty(&format!("cache.other_environments[{i}].name"), &env.name)?;
        non_empty(
            &format!("cache.other_environments[{i}].prefix"),
            &env.prefix,
        )?;
        plain_prefix(
            &format!("cache.other_environments[{i}].prefix"),
            &env.prefix,
        )?;
        if names.insert(env.name.clone(), i).is_some() {
            return Err(format!(
                "key `cache.other_environments[{i}].name`: duplicate environment {:?}",
                env.name
            ));
        }
    }
    Ok(Cache {
        url,
        prefix: c.prefix,
        response_prefix: c.response_prefix,
        other_environments: c
            .other_environments
            .into_iter()
            .map(|e| OtherEnvironment {
                name: e.name,
                prefix: e.prefix,
            })
            .collect(),
    })
}

/// What sizes a run: the per-request timeout and how many requests each
/// fan-out sends at what concurrency.
struct Fanout {
    timeout_ms: u64,
    nodes: usize,
    concurrency: usize,
    /// `[routes]`: smoke routes and `routes.concurrency`.
    routes: Option<(usize, usize)>,
    lb_requests: usize,
}

/// The default overall deadline: four timeouts and a second (one wave of
/// requests, a second sample of the slow ones, time to judge), plus one
/// timeout for every further wave the longest fan-out needs at its
/// concurrency, so a healthy cluster of any size finishes before it; at most
/// [`MAX_DEADLINE_MS`].
fn default_deadline_ms(f: &Fanout) -> u64 {
    let waves = |requests: usize, at_once: usize| requests.div_ceil(at_once.max(1));
    // Health, token and files ask every node at cluster.concurrency; lb
    // does so beside its requests through the balancer.
    let nodes = waves(f.nodes, f.concurrency).max(waves(f.lb_requests, f.concurrency));
    // Routes: the first route's node cells go one after another (the
    // response-cache round trip) beside the rest of the matrix.
    let routes = f.routes.map_or(0, |(smoke, at_once)| {
        if smoke == 0 {
            return 0;
        }
        let rest = smoke.saturating_mul(f.nodes + 1).saturating_sub(f.nodes);
        waves(rest, at_once).max(f.nodes)
    });
    let extra = u64::try_from(nodes.max(routes).saturating_sub(1)).unwrap_or(u64::MAX);
    f.timeout_ms
        .saturating_mul(extra.saturating_add(4))
        .saturating_add(1000)
        .min(MAX_DEADLINE_MS)
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::testing::{MINIMAL, env, problem};
    use super::{Fanout, MAX_DEADLINE_MS, default_deadline_ms};

    #[test]
    fn odd_config_values_are_refused_with_one_line_naming_the_key() {
        let cases: &[(String, &str)] = &[
            (
                MINIMAL.replace(
                    "name = \"prod\"",
                    "name = \"prod\"\ntimeout_ms = 99999999999999999999999",
                ),
                "key `cluster.timeout_ms`: TOML syntax error at line 4",
            ),
            (
                MINIMAL.replace("${AISBF_TOKEN}", "${AISBF_TOKEN"),
                "key `cluster.token`: `${` without its closing `}`",
            ),
            (
                format!("{MINIMAL}[[cluster.nodes]]\nname = \" aisbf-1 \"\nurl = \"http://x:1\"\n"),
                "key `cluster.nodes[1].name`: \" aisbf-1 \" has surrounding whitespace",
            ),
            (
                MINIMAL.replace("http://127.0.0.1:17765", "http:///nohost"),
                "key `cluster.nodes[0].url`: URL \"http:///nohost\" has no host",
            ),
            (
                format!(
                    "{MINIMAL}[cache]\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"aisbf:*\"\n"
                ),
                "key `cache.prefix`: \"aisbf:*\" contains the glob character '*'",
            ),
        ];
        for (text, want) in cases {
            let got = problem(text);
            assert!(got.starts_with(want), "{want}\n got: {got}");
            assert!(!got.contains('\n'), "{got}");
        }
    }

    #[test]
    fn a_token_that_cannot_be_sent_as_it_is_is_refused_at_load_naming_the_problem() {
        let with_token = |t: &'static str| {
            let env = move |name: &str| (name == "AISBF_TOKEN").then(|| t.to_string());
            parse(MINIMAL, &env)
                .expect_err("token should be refused")
                .problem
        };
        assert_eq!(
            with_token("tok-secret\n"),
            "key `cluster.token`: ends with a newline: strip it"
        );
        assert_eq!(
            with_token("tok-secret "),
            "key `cluster.token`: ends with a space: strip it"
        );
        assert_eq!(
            with_token("\ttok-secret"),
            "key `cluster.token`: starts with a tab: strip it"
        );
        assert!(
            with_token("tok\u{7}secret").contains("contains the character U+0007"),
            "{}",
            with_token("tok\u{7}secret")
        );
        let global = MINIMAL.replace(
            "token = \"${AISBF_TOKEN}\"",
            "token = \"${AISBF_TOKEN}\"\nglobal_token = \"g\\r\"",
        );
        assert_eq!(
            problem(&global),
            "key `cluster.global_token`: ends with a carriage return: strip it"
        );
    }

    #[test]
    fn watch_section_defaults_and_falls_back_to_the_cache_url() {
        let text = format!(
            "{MINIMAL}[cache]\nurl = \"redis://127.0.0.1:6379/0\"\n[watch]\nprobes = [\"health\", \"token\"]\n[metrics]\nlisten = \"127.0.0.1:9464\"\n"
        );
        let c = parse(&text, &env).expect("valid");
        let w = c.watch.expect("watch");
        assert_eq!(w.every, std::time::Duration::from_secs(60));
        assert_eq!(w.confirm, 2);
        assert_eq!(w.lease_ttl, std::time::Duration::from_secs(15));
        assert_eq!(
            w.probes,
            vec![
                crate::finding::ProbeKind::Health,
                crate::finding::ProbeKind::Token
            ]
        );
        assert_eq!(
            w.redis_url.map(|u| u.expose().to_string()).as_deref(),
            Some("redis://127.0.0.1:6379/0")
        );
        assert_eq!(
            c.metrics.expect("metrics").listen.to_string(),
            "127.0.0.1:9464"
        );
    }

    #[test]
    fn watch_and_metrics_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[watch]\nprobes = [\"helth\"]\n",
                "key `watch.probes[0]`: unknown probe \"helth\"",
            ),
            ("[watch]\nevery = \"soon\"\n", "key `watch.every`"),
            ("[watch]\nconfirm = 0\n", "key `watch.confirm`"),
            ("[watch]\nlease_ttl = \"1ms\"\n", "key `watch.lease_ttl`"),
            (
                "[watch]\nredis_url = \"http://x\"\n",
                "key `watch.redis_url`",
            ),
            ("[watch]\nevry = \"1s\"\n", "unknown field `evry`"),
            (
                "[metrics]\nlisten = \"localhost\"\n",
                "key `metrics.listen`",
            ),
        ];
        for (extra, expected) in cases {
            let p = problem(&format!("{MINIMAL}{extra}"));
            assert!(p.contains(expected), "expected {expected:?} in {p:?}");
        }
    }

    #[test]
    fn cache_section_defaults_match_aisbf() {
        let text = format!("{MINIMAL}[cache]\nurl = \"redis://127.0.0.1:6379/0\"\n");
        let c = parse(&text, &env).expect("valid");
        let cache = c.cache.expect("cache");
        assert_eq!(cache.prefix, "aisbf:");
        assert_eq!(cache.response_prefix, "aisbf:response:");
    }

    fn fanout(nodes: usize, routes: Option<(usize, usize)>) -> Fanout {
        Fanout {
            timeout_ms: 5000,
            nodes,
            concurrency: 256,
            routes,
            lb_requests: 12,
        }
    }

    #[test]
    fn the_default_deadline_grows_with_the_waves_a_fan_out_needs() {
        // A small cluster keeps four timeouts and a second.
        assert_eq!(default_deadline_ms(&fanout(3, None)), 21_000);
        // 5,000 nodes at 256 are 20 waves: 19 more timeouts.
        assert_eq!(default_deadline_ms(&fanout(5000, None)), 5000 * 23 + 1000);
        // 20 routes over 100 nodes at 8: 1,920 cells beside the round trip's
        // 100 in a row are 240 waves.
        assert_eq!(
            default_deadline_ms(&fanout(100, Some((20, 8)))),
            5000 * 243 + 1000
        );
        // Never past the cap, however large.
        assert_eq!(
            default_deadline_ms(&fanout(60_000, Some((100, 1)))),
            MAX_DEADLINE_MS
        );
    }

    #[test]
    fn an_explicit_deadline_wins_over_the_derived_one() {
        let text = MINIMAL.replace("name = \"prod\"", "name = \"prod\"\ndeadline_ms = 7000");
        let c = parse(&text, &env).expect("valid");
        assert_eq!(c.cluster.deadline_ms, 7000);
    }
}
