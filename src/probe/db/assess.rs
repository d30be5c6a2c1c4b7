//! Pure judgement of `check db`: one observation and the nodes' aisbf.json
//! database settings in, findings out.

use super::finding;
use super::observe::{ConnectFailure, DbObservation};
use super::schema::schema_findings;
use crate::aisbf_json::{DbTarget, NodeData};
use crate::finding::{Code, Finding, Severity};

/// Pure: findings from one observation.
pub fn assess(obs: &DbObservation) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Err(why) = &obs.connected {
        let (code, text) = match why {
            ConnectFailure::Unreachable(t) => (
                Code::DbUnreachable,
                format!("cannot reach the {} database: {t}", obs.backend),
            ),
            ConnectFailure::AccessDenied(t) => (
                Code::DbAccessDenied,
                format!("the {} database refused the login: {t}", obs.backend),
            ),
            ConnectFailure::NotFound(t) => (
                Code::DbNotFound,
                format!(
                    "the configured {} database does not exist: {t}",
                    obs.backend
                ),
            ),
        };
        out.push(finding(Severity::Fail, "database", code, text));
        return out;
    }
    out.push(
        finding(
            Severity::Ok,
            "database",
            Code::DbOk,
            format!(
                "{} {} answered in {} ms (read-only session)",
                obs.backend, obs.version, obs.latency_ms
            ),
        )
        .with_latency(Some(obs.latency_ms)),
    );
    match &obs.columns {
        Ok(cols) => out.push(schema_findings(cols)),
        Err(e) => out.push(finding(
            Severity::Fail,
            "database",
            Code::DbQueryFailed,
            format!("cannot read the table catalogue: {e}"),
        )),
    }
    match &obs.counts {
        Ok(c) => out.push(finding(
            Severity::Ok,
            "database",
            Code::DbDataOk,
            format!(
                "{} users, {} active tokens, {} user providers, {} user rotations",
                c.users, c.active_tokens, c.user_providers, c.user_rotations
            ),
        )),
        Err(e) => out.push(finding(
            Severity::Fail,
            "database",
            Code::DbQueryFailed,
            format!("cannot count users, tokens, user providers and rotations: {e}"),
        )),
    }
    let user = &obs.user_name;
    match &obs.user {
        Err(e) => out.push(finding(
            Severity::Fail,
            "user",
            Code::DbQueryFailed,
            format!("cannot look up user {user:?}: {e}"),
        )),
        Ok(None) => out.push(finding(
            Severity::Fail,
            "user",
            Code::DbUserMissing,
            format!("cluster.user {user:?} is not in the users table"),
        )),
        Ok(Some(u)) if !u.active => out.push(finding(
            Severity::Fail,
            "user",
            Code::DbUserMissing,
            format!("cluster.user {user:?} exists but is not active (users.is_active = 0)"),
        )),
        Ok(Some(_)) => {}
    }
    let uid = obs
        .user
        .as_ref()
        .ok()
        .and_then(|u| u.as_ref())
        .map(|u| u.id);
    match &obs.token {
        Err(e) => out.push(finding(Severity::Fail, "token", Code::DbQueryFailed, format!("cannot look up the configured token: {e}"))),
        Ok(None) => out.push(finding(Severity::Fail, "token", Code::DbTokenMissing, "the configured token is not in user_api_tokens".into())),
        Ok(Some(t)) if Some(t.user_id) != uid => out.push(finding(Severity::Fail, "token", Code::DbTokenMissing, format!("the configured token belongs to another user (user_id {}), not {user:?}", t.user_id))),
        Ok(Some(t)) if !t.active => out.push(finding(Severity::Fail, "token", Code::DbTokenMissing, format!("the configured token of {user:?} is revoked (is_active = 0, scope {})", t.scope))),
        // An mcp-only token is known to every node and still refused on /api:
        // that is the token's scope, not nodes missing the shared database.
        Ok(Some(t)) if t.scope.trim().eq_ignore_ascii_case("mcp") => out.push(finding(Severity::Fail, "token", Code::DbTokenNoApiScope, format!("the configured token of {user:?} is active but its scope is mcp only: AISBF refuses it on /api/u/... (\"This token does not have API access.\")"))),
        Ok(Some(t)) => out.push(finding(Severity::Ok, "token", Code::DbTokenActive, format!("the configured token exists in the shared database, active, for {user:?}, scope {}", t.scope))),
    }
    if let Err(e) = &obs.routes
        && obs.user.as_ref().is_ok_and(|u| u.is_some())
    {
        out.push(finding(
            Severity::Warn,
            "routes",
            Code::DbQueryFailed,
            format!("cannot read {user:?}'s providers, rotations and autoselects, so the nodes' routes are not compared with the database: {e}"),
        ));
    }
    out
}

/// Pure: each node's aisbf.json database against the cluster's `[database]`.
pub fn compare_nodes(
    cluster: Option<&DbTarget>,
    nodes: &[(String, Result<NodeData, String>)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, data) in nodes {
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                out.push(finding(
                    Severity::Warn,
                    name,
                    Code::NodeConfigUnreadable,
                    format!("cannot compare {name}'s database config: {e}"),
                ));
                continue;
            }
        };
        let Some(cluster) = cluster else { continue };
        let node = &data.database;
        if node == cluster {
            out.push(finding(
                Severity::Ok,
                name,
                Code::DbNodeOk,
                format!(
                    "{name}'s aisbf.json uses the cluster's database ({})",
                    node.describe()
                ),
            ));
            continue;
        }
        match (node, cluster) {
            (DbTarget::Sqlite { path }, DbTarget::Mysql { .. }) => out.push(finding(
                Severity::Fail,
                name,
                Code::DbNodeSqlite,
                format!(
                    "{name}'s aisbf.json says SQLite ({path}) while the cluster uses {}: {name} keeps users, tokens and user routes in its own file, so routes vanish on {name} (and tokens saved on the other nodes are unknown there)",
                    cluster.describe()
                ),
            )),
            _ => out.push(finding(
                Severity::Fail,
                name,
                Code::DbNodeOtherDatabase,
                format!(
                    "{name}'s aisbf.json points at {} while the cluster uses {}: {name} does not share users, tokens and routes with the other nodes",
                    node.describe(),
                    cluster.describe()
                ),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::observe::{Counts, TokenRow, UserRow};
    use crate::probe::db::schema::expected_schema;

    fn mysql(db: &str) -> DbTarget {
        DbTarget::Mysql {
            host: "127.0.0.1".into(),
            port: 3306,
            database: db.into(),
        }
    }

    fn node(db: DbTarget) -> NodeData {
        NodeData {
            database: db,
            cache_type: None,
            cache_prefix: "aisbf:".into(),
            response_backend: None,
            response_prefix: "aisbf:response:".into(),
        }
    }

    fn healthy() -> DbObservation {
        DbObservation {
            backend: "mysql",
            connected: Ok(()),
            version: "10.11".into(),
            latency_ms: 3,
            columns: Ok(expected_schema()),
            counts: Ok(Counts {
                users: 2,
                active_tokens: 4,
                user_providers: 2,
                user_rotations: 1,
            }),
            user: Ok(Some(UserRow {
                id: 1,
                active: true,
            })),
            token: Ok(Some(TokenRow {
                user_id: 1,
                active: true,
                scope: "both".into(),
            })),
            user_name: "alice".into(),
            routes: Ok(None),
        }
    }

    fn codes(f: &[Finding]) -> Vec<Code> {
        f.iter().map(|f| f.code).collect()
    }

    #[test]
    fn healthy_database_is_all_ok() {
        let f = assess(&healthy());
        assert!(f.iter().all(|f| f.severity == Severity::Ok), "{f:?}");
        assert_eq!(
            codes(&f),
            [
                Code::DbOk,
                Code::DbSchemaOk,
                Code::DbDataOk,
                Code::DbTokenActive
            ]
        );
        assert!(f[3].message.contains("scope both"));
    }

    #[test]
    fn connection_failures_are_single_clear_findings() {
        for (why, code) in [
            (
                ConnectFailure::Unreachable("refused".into()),
                Code::DbUnreachable,
            ),
            (
                ConnectFailure::AccessDenied("denied".into()),
                Code::DbAccessDenied,
            ),
            (ConnectFailure::NotFound("unknown".into()), Code::DbNotFound),
        ] {
            let f = assess(&DbObservation::failed("mysql", "alice", why));
            assert_eq!(codes(&f), [code]);
            assert_eq!(f[0].severity, Severity::Fail);
        }
    }

    #[test]
    fn user_and_token_problems() {
        let mut o = healthy();
        o.user = Ok(None);
        o.token = Ok(Some(TokenRow {
            user_id: 7,
            active: true,
            scope: "api".into(),
        }));
        let f = assess(&o);
        assert!(codes(&f).contains(&Code::DbUserMissing));
        assert!(
            f.iter()
                .any(|f| f.code == Code::DbTokenMissing && f.message.contains("another user"))
        );
        let mut o = healthy();
        o.token = Ok(Some(TokenRow {
            user_id: 1,
            active: false,
            scope: "api".into(),
        }));
        assert!(
            assess(&o)
                .iter()
                .any(|f| f.code == Code::DbTokenMissing && f.message.contains("revoked"))
        );
        let mut o = healthy();
        o.user = Ok(Some(UserRow {
            id: 1,
            active: false,
        }));
        assert!(
            assess(&o)
                .iter()
                .any(|f| f.code == Code::DbUserMissing && f.message.contains("not active"))
        );
    }

    #[test]
    fn an_mcp_only_token_is_a_scope_problem_not_a_token_the_nodes_miss() {
        let mut o = healthy();
        o.token = Ok(Some(TokenRow {
            user_id: 1,
            active: true,
            scope: "mcp".into(),
        }));
        let f = assess(&o);
        assert!(codes(&f).contains(&Code::DbTokenNoApiScope), "{f:?}");
        assert!(!codes(&f).contains(&Code::DbTokenActive), "{f:?}");
    }

    #[test]
    fn node_on_sqlite_says_routes_vanish() {
        let nodes = vec![
            ("aisbf-1".to_string(), Ok(node(mysql("aisbf")))),
            (
                "aisbf-2".to_string(),
                Ok(node(DbTarget::Sqlite {
                    path: "/h/.aisbf/aisbf.db".into(),
                })),
            ),
            ("aisbf-3".to_string(), Ok(node(mysql("aisbf_b")))),
            ("aisbf-4".to_string(), Err("cannot read x".to_string())),
        ];
        let f = compare_nodes(Some(&mysql("aisbf")), &nodes);
        assert_eq!(
            codes(&f),
            [
                Code::DbNodeOk,
                Code::DbNodeSqlite,
                Code::DbNodeOtherDatabase,
                Code::NodeConfigUnreadable
            ]
        );
        assert!(f[1].message.contains("routes vanish"), "{}", f[1].message);
        assert_eq!(f[1].subject, "aisbf-2");
        assert!(f[2].message.contains("aisbf_b"));
    }

    #[test]
    fn a_failed_route_query_is_a_warning_on_routes() {
        let mut o = healthy();
        o.routes = Err("user_autoselects: no such table".into());
        let f = assess(&o);
        let q = f
            .iter()
            .find(|f| f.subject == "routes")
            .expect("routes finding");
        assert_eq!((q.code, q.severity), (Code::DbQueryFailed, Severity::Warn));
    }
}
