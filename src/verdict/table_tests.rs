//! The verdict's rule tables as test cases: findings in, the layer, action and
//! culprits the verdict must name out. One row per rule; rows about the data
//! layer (database, cache, node files) and the cross-probe rules in the second.

use rstest::rstest;

use super::{Action, Layer, decide};
use crate::finding::{Code, Finding, ProbeKind, Severity};
// `Ok` here is the severity: the rows read as `f(Ok, ...)`, `f(Fail, ...)`.
use Severity::{Fail, Ok, Unknown, Warn};

/// A finding from `probe` whose message names subject and code.
fn seen(probe: ProbeKind, sev: Severity, subject: &str, code: Code) -> Finding {
    Finding::new(probe, sev, subject, code, format!("{subject} {code:?}"))
}

/// A finding of the health probe (node-facing rows).
pub(super) fn f(sev: Severity, subject: &str, code: Code) -> Finding {
    seen(ProbeKind::Health, sev, subject, code)
}

/// A finding of the db probe (data-layer rows).
pub(super) fn db(sev: Severity, subject: &str, code: Code) -> Finding {
    seen(ProbeKind::Db, sev, subject, code)
}

fn assert_decides(findings: &[Finding], layer: Layer, action: Action, culprits: &[&str]) {
    let v = decide(findings, None);
    assert_eq!(v.layer, layer);
    assert_eq!(v.action, action);
    assert_eq!(v.culprits, culprits);
}

#[rstest]
#[case::no_findings_is_healthy(vec![], Layer::None, Action::None, &[])]
#[case::all_ok_is_healthy_auth_gated_health_is_not_down(vec![f(Ok, "a", Code::NodeOk), f(Ok, "a", Code::HealthAuthGated)], Layer::None, Action::None, &[])]
#[case::unreachable_node_is_the_culprit(vec![f(Ok, "a", Code::NodeOk), f(Fail, "b", Code::NodeUnreachable)], Layer::Node, Action::EditInfrastructure, &["b"])]
#[case::hung_node(vec![f(Fail, "c", Code::NodeTimeout)], Layer::Node, Action::EditInfrastructure, &["c"])]
#[case::node_answering_5xx(vec![f(Fail, "c", Code::NodeServerError)], Layer::Node, Action::EditInfrastructure, &["c"])]
#[case::garbage_node(vec![f(Fail, "c", Code::NodeBadAnswer)], Layer::Node, Action::EditInfrastructure, &["c"])]
#[case::token_rejected_on_one_node_is_auth_drift(vec![f(Fail, "b", Code::TokenRejectedOnNode), f(Ok, "a", Code::NodeOk)], Layer::Auth, Action::EditInfrastructure, &["b"])]
#[case::global_token_rejected_on_one_node_is_auth_drift(vec![f(Fail, "b", Code::GlobalTokenRejectedOnNode)], Layer::Auth, Action::EditInfrastructure, &["b"])]
#[case::auth_disabled_on_one_node(vec![f(Fail, "b", Code::AuthDisabledOnNode)], Layer::Auth, Action::EditInfrastructure, &["b"])]
#[case::token_rejected_everywhere_is_credentials(vec![f(Fail, "token", Code::TokenRejected)], Layer::Auth, Action::FixCredentials, &["token"])]
#[case::global_token_rejected_everywhere_is_credentials(vec![f(Fail, "global_token", Code::GlobalTokenRejected)], Layer::Auth, Action::FixCredentials, &["global_token"])]
#[case::node_drift_outranks_credentials(vec![f(Fail, "token", Code::TokenRejected), f(Fail, "b", Code::ModelsDiffer)], Layer::Node, Action::EditInfrastructure, &["b"])]
#[case::models_differ(vec![f(Fail, "b", Code::ModelsDiffer)], Layer::Node, Action::EditInfrastructure, &["b"])]
#[case::global_config_differs(vec![f(Fail, "b", Code::GlobalConfigDiffers)], Layer::Node, Action::EditInfrastructure, &["b"])]
#[case::version_drift_alone_is_a_warning_on_the_node(vec![f(Warn, "b", Code::VersionDrift), f(Ok, "a", Code::NodeOk)], Layer::Node, Action::EditInfrastructure, &["b"])]
#[case::a_failure_outranks_a_warning(vec![f(Warn, "a", Code::LatencyOutlier), f(Fail, "token", Code::TokenRejected)], Layer::Auth, Action::FixCredentials, &["token"])]
#[case::latency_outlier(vec![f(Warn, "a", Code::LatencyOutlier)], Layer::Node, Action::EditInfrastructure, &["a"])]
// A probe cut off names no culprit: "db" is not a node, route or credential.
#[case::deadline_is_unknown_never_a_culprit(vec![f(Unknown, "db", Code::ProbeDeadline)], Layer::None, Action::None, &[])]
#[case::two_node_failures_name_both_culprits(vec![f(Fail, "b", Code::NodeUnreachable), f(Fail, "c", Code::NodeServerError)], Layer::Node, Action::EditInfrastructure, &["b", "c"])]
fn verdict_rules_table(
    #[case] findings: Vec<Finding>,
    #[case] layer: Layer,
    #[case] action: Action,
    #[case] culprits: &[&str],
) {
    assert_decides(&findings, layer, action, culprits);
}

#[rstest]
#[case::healthy_db_and_cache(vec![db(Ok, "database", Code::DbOk), db(Ok, "database", Code::DbSchemaOk), db(Ok, "token", Code::DbTokenActive), db(Ok, "aisbf-1", Code::DbNodeOk), db(Ok, "cache", Code::CacheOk), db(Ok, "cache", Code::CacheCensus), db(Ok, "cache", Code::CacheCensusIncomplete), db(Ok, "aisbf-1", Code::CacheNodeOk), db(Ok, "prefixes", Code::CachePrefixesOk)], Layer::None, Action::None, &[])]
#[case::database_unreachable(vec![db(Fail, "database", Code::DbUnreachable)], Layer::Database, Action::EditInfrastructure, &["database"])]
#[case::database_login_refused(vec![db(Fail, "database", Code::DbAccessDenied)], Layer::Database, Action::EditInfrastructure, &["database"])]
#[case::database_missing(vec![db(Fail, "database", Code::DbNotFound)], Layer::Database, Action::EditInfrastructure, &["database"])]
#[case::node_on_sqlite_is_the_database_culprit_ahead_of_its_token_rejection(vec![f(Fail, "aisbf-2", Code::TokenRejectedOnNode), db(Fail, "aisbf-2", Code::DbNodeSqlite)], Layer::Database, Action::EditInfrastructure, &["aisbf-2"])]
#[case::node_on_another_mysql(vec![db(Fail, "aisbf-2", Code::DbNodeOtherDatabase)], Layer::Database, Action::EditInfrastructure, &["aisbf-2"])]
#[case::schema_drift(vec![db(Fail, "database", Code::DbSchemaDrift)], Layer::Database, Action::EditInfrastructure, &["database"])]
#[case::query_failed(vec![db(Fail, "database", Code::DbQueryFailed)], Layer::Database, Action::EditInfrastructure, &["database"])]
#[case::unreadable_aisbf_json(vec![db(Warn, "aisbf-3", Code::NodeConfigUnreadable)], Layer::Node, Action::EditInfrastructure, &["aisbf-3"])]
#[case::user_missing_is_credentials(vec![db(Fail, "user", Code::DbUserMissing)], Layer::Auth, Action::FixCredentials, &["user"])]
#[case::token_missing_in_the_db_and_rejected_everywhere_is_credentials(vec![db(Fail, "token", Code::DbTokenMissing), f(Fail, "token", Code::TokenRejected)], Layer::Auth, Action::FixCredentials, &["token"])]
#[case::cache_unreachable(vec![db(Fail, "cache", Code::CacheUnreachable)], Layer::Cache, Action::EditInfrastructure, &["cache"])]
#[case::cache_login_refused(vec![db(Fail, "cache", Code::CacheAccessDenied)], Layer::Cache, Action::EditInfrastructure, &["cache"])]
#[case::not_redis(vec![db(Fail, "cache", Code::CacheNotRedis)], Layer::Cache, Action::EditInfrastructure, &["cache"])]
#[case::prefix_overlap(vec![db(Fail, "staging", Code::CachePrefixOverlap)], Layer::Cache, Action::EditInfrastructure, &["staging"])]
#[case::node_cache_prefix_differs(vec![db(Ok, "aisbf-1", Code::CacheNodeOk), db(Fail, "aisbf-2", Code::CacheNodePrefixDiffers)], Layer::Cache, Action::EditInfrastructure, &["aisbf-2"])]
#[case::node_cache_not_shared(vec![db(Fail, "aisbf-3", Code::CacheNodeNotShared)], Layer::Cache, Action::EditInfrastructure, &["aisbf-3"])]
#[case::stale_responses(vec![db(Warn, "cache", Code::CacheStaleResponses)], Layer::Cache, Action::EditInfrastructure, &["cache"])]
#[case::foreign_keys(vec![db(Warn, "cache", Code::CacheForeignKeys)], Layer::Cache, Action::EditInfrastructure, &["cache"])]
#[case::evicting(vec![db(Warn, "cache", Code::CacheEvicting)], Layer::Cache, Action::EditInfrastructure, &["cache"])]
#[case::cross_token_active_in_the_db_yet_rejected_everywhere_is_the_database(vec![db(Ok, "token", Code::DbTokenActive), f(Fail, "token", Code::TokenRejected)], Layer::Database, Action::EditInfrastructure, &["token"])]
#[case::cross_token_active_in_the_db_yet_rejected_by_one_node_names_that_node(vec![db(Ok, "token", Code::DbTokenActive), f(Fail, "aisbf-2", Code::TokenRejectedOnNode)], Layer::Database, Action::EditInfrastructure, &["aisbf-2"])]
#[case::cross_models_differ_on_a_node_whose_aisbf_json_points_elsewhere(vec![f(Fail, "aisbf-2", Code::ModelsDiffer), db(Warn, "aisbf-2", Code::DbNodeOtherDatabase)], Layer::Database, Action::EditInfrastructure, &["aisbf-2"])]
#[case::files_database_differs_on_one_node(vec![db(Fail, "aisbf-2", Code::NodeDatabaseDiffers), db(Ok, "aisbf-1", Code::NodeFilesOk)], Layer::Database, Action::EditInfrastructure, &["aisbf-2"])]
#[case::files_cache_differs_on_one_node(vec![db(Fail, "aisbf-2", Code::NodeCacheDiffers)], Layer::Cache, Action::EditInfrastructure, &["aisbf-2"])]
#[case::files_response_cache_differs_on_one_node(vec![db(Fail, "aisbf-3", Code::NodeResponseCacheDiffers)], Layer::Cache, Action::EditInfrastructure, &["aisbf-3"])]
#[case::files_auth_differs_on_one_node(vec![db(Fail, "aisbf-2", Code::NodeAuthDiffers)], Layer::Auth, Action::EditInfrastructure, &["aisbf-2"])]
#[case::files_session_key_differs_on_one_node(vec![db(Fail, "aisbf-2", Code::SessionSecretDiffers)], Layer::Node, Action::EditInfrastructure, &["aisbf-2"])]
#[case::files_an_api_breaking_difference_outranks_the_session_key(vec![db(Fail, "aisbf-1", Code::SessionSecretDiffers), db(Fail, "aisbf-2", Code::NodeAuthDiffers)], Layer::Auth, Action::EditInfrastructure, &["aisbf-2"])]
#[case::routes_stale_nodes_are_the_culprits(vec![db(Fail, "aisbf-1", Code::NodeRoutesStale), db(Ok, "aisbf-2", Code::NodeRoutesMatchDb)], Layer::Node, Action::EditInfrastructure, &["aisbf-1"])]
#[case::cross_models_differ_on_the_only_fresh_node_blames_the_stale_majority(vec![f(Fail, "aisbf-3", Code::ModelsDiffer), db(Fail, "aisbf-1", Code::NodeRoutesStale), db(Fail, "aisbf-2", Code::NodeRoutesStale), db(Ok, "aisbf-3", Code::NodeRoutesMatchDb)], Layer::Node, Action::EditInfrastructure, &["aisbf-1", "aisbf-2"])]
#[case::cross_models_differ_on_a_node_whose_routes_match_the_database_is_no_culprit(vec![f(Fail, "aisbf-3", Code::ModelsDiffer), db(Ok, "aisbf-3", Code::NodeRoutesMatchDb)], Layer::None, Action::None, &[])]
#[case::cross_without_the_db_facts_a_node_rejection_stays_auth_drift(vec![f(Fail, "aisbf-2", Code::TokenRejectedOnNode)], Layer::Auth, Action::EditInfrastructure, &["aisbf-2"])]
fn data_layer_rules_table(
    #[case] findings: Vec<Finding>,
    #[case] layer: Layer,
    #[case] action: Action,
    #[case] culprits: &[&str],
) {
    assert_decides(&findings, layer, action, culprits);
}
