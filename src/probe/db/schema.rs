//! The migration level: the database's tables and columns against the ones
//! AISBF 0.99.92 creates (there is no schema-version table).

use std::collections::BTreeSet;

use super::finding;
use crate::finding::{Code, Finding, Severity, name_few};

/// The tables and columns AISBF 0.99.92 creates (see scripts/gen-aisbf-schema.py).
pub const AISBF_SCHEMA: &str = include_str!("../aisbf-0.99.92.schema");

/// The expected `(table, column)` set from the embedded schema file.
pub fn expected_schema() -> BTreeSet<(String, String)> {
    AISBF_SCHEMA
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(t, c)| (t.to_string(), c.trim().to_string()))
        .collect()
}

/// Schema drift against AISBF 0.99.92: missing tables/columns fail, extra ones warn.
pub fn schema_findings(actual: &BTreeSet<(String, String)>) -> Finding {
    let expected = expected_schema();
    let tables = |s: &BTreeSet<(String, String)>| -> BTreeSet<String> {
        s.iter().map(|(t, _)| t.clone()).collect()
    };
    let (et, at) = (tables(&expected), tables(actual));
    let missing_tables: Vec<String> = et.difference(&at).cloned().collect();
    let extra_tables: Vec<String> = at.difference(&et).cloned().collect();
    let missing_cols: Vec<String> = expected
        .difference(actual)
        .filter(|(t, _)| at.contains(t))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    let extra_cols: Vec<String> = actual
        .difference(&expected)
        .filter(|(t, _)| et.contains(t))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    if missing_tables.is_empty()
        && missing_cols.is_empty()
        && extra_tables.is_empty()
        && extra_cols.is_empty()
    {
        return finding(
            Severity::Ok,
            "database",
            Code::DbSchemaOk,
            format!(
                "tables and columns match AISBF 0.99.92 ({} tables, {} columns)",
                et.len(),
                expected.len()
            ),
        );
    }
    let mut parts = Vec::new();
    if !missing_tables.is_empty() {
        parts.push(format!(
            "missing tables: {}",
            name_few(&missing_tables, 8, "more")
        ));
    }
    if !missing_cols.is_empty() {
        parts.push(format!(
            "missing columns: {}",
            name_few(&missing_cols, 8, "more")
        ));
    }
    if !extra_tables.is_empty() {
        parts.push(format!(
            "extra tables: {}",
            name_few(&extra_tables, 8, "more")
        ));
    }
    if !extra_cols.is_empty() {
        parts.push(format!(
            "extra columns: {}",
            name_few(&extra_cols, 8, "more")
        ));
    }
    let missing = !missing_tables.is_empty() || !missing_cols.is_empty();
    let level = if missing {
        "older than (or not) AISBF 0.99.92"
    } else {
        "newer than AISBF 0.99.92 or changed by hand"
    };
    finding(
        if missing {
            Severity::Fail
        } else {
            Severity::Warn
        },
        "database",
        Code::DbSchemaDrift,
        format!("migration level is {level}: {}", parts.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_names_the_real_tables() {
        let s = expected_schema();
        for t in [
            "users",
            "user_api_tokens",
            "user_providers",
            "user_rotations",
        ] {
            assert!(s.iter().any(|(x, _)| x == t), "{t}");
        }
        assert!(!s.iter().any(|(x, _)| x == "providers"));
        assert!(s.contains(&("user_api_tokens".into(), "scope".into())));
    }

    #[test]
    fn missing_and_extra_columns_are_named() {
        let mut cols = expected_schema();
        cols.remove(&("user_api_tokens".into(), "scope".into()));
        cols.insert(("users".into(), "shoe_size".into()));
        let f = schema_findings(&cols);
        assert_eq!(f.code, Code::DbSchemaDrift);
        assert_eq!(f.severity, Severity::Fail);
        assert!(f.message.contains("user_api_tokens.scope"), "{}", f.message);
        assert!(f.message.contains("users.shoe_size"), "{}", f.message);
        let mut extra_only = expected_schema();
        extra_only.insert(("new_table".into(), "id".into()));
        assert_eq!(schema_findings(&extra_only).severity, Severity::Warn);
    }
}
