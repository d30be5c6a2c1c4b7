//! `check db` end to end: the real binary against a real MariaDB database and a
//! SQLite file, each loaded with AISBF 0.99.92's own tables, and against
//! servers that refuse, hang or deny the login.

use serde_json::Value;

use crate::helpers::*;

const MYSQL_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/aisbf-0.99.92-mysql.sql"
);
const SQLITE_FIXTURE: &str = include_str!("../fixtures/aisbf-0.99.92-sqlite.sql");

/// Users and tokens as AISBF stores them (plain-text tokens, scope, is_active).
const SEED: &str = "
INSERT INTO users (username, password_hash, role, is_active) VALUES
  ('alice', 'x', 'user', 1), ('bob', 'x', 'user', 1), ('carol', 'x', 'user', 0);
INSERT INTO user_api_tokens (user_id, token, scope, is_active) VALUES
  (1, 'tok-alice-good-0123456789', 'both', 1), (1, 'tok-alice-revoked-0123456789', 'api', 0),
  (2, 'tok-bob-0123456789', 'api', 1);
INSERT INTO user_providers (user_id, provider_id, config) VALUES (1, 'local-ollama', '{}');
";

pub const GOOD_TOKEN: &str = "tok-alice-good-0123456789";

/// A fresh MariaDB database with AISBF's tables, seeded with alice, bob and
/// carol; dropped when the guard goes.
pub struct AisbfDb(TestDb);

impl AisbfDb {
    pub fn create(tag: &str) -> AisbfDb {
        let db = TestDb::create(tag);
        let ddl = std::fs::read_to_string(MYSQL_FIXTURE).expect("fixture");
        db.exec(&format!("{ddl}\n{SEED}"));
        AisbfDb(db)
    }
}

impl std::ops::Deref for AisbfDb {
    type Target = TestDb;

    fn deref(&self) -> &TestDb {
        &self.0
    }
}

/// A config whose nodes are never contacted by `check db`.
pub fn db_config(db_url: &str, nodes: &[(&str, Option<&std::path::Path>)]) -> ConfigFile {
    let mut text = format!(
        "[cluster]\nname = \"t\"\nuser = \"alice\"\ntoken = \"${{AISBF_TOKEN}}\"\ntimeout_ms = 2000\n\n[database]\nurl = \"{db_url}\"\n"
    );
    let nodes: Vec<(&str, Option<&std::path::Path>)> = if nodes.is_empty() {
        vec![("aisbf-1", None)]
    } else {
        nodes.to_vec()
    };
    for (name, json) in nodes {
        text.push_str(&format!(
            "\n[[cluster.nodes]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9\"\n"
        ));
        if let Some(p) = json {
            text.push_str(&format!("aisbf_json = \"{}\"\n", p.display()));
        }
    }
    config_file(&text)
}

async fn check_db(cfg: &ConfigFile, token: &str) -> (Run, Value) {
    let run = run_cli(
        cfg,
        &["check", "db", "--format", "json"],
        &[("AISBF_TOKEN", token)],
    )
    .await;
    let json = run.json();
    (run, json)
}

fn finding<'a>(report: &'a Value, code: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()?
        .iter()
        .find(|f| f["code"] == code)
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_mariadb_is_ok_with_counts_schema_and_active_token() {
    let db = AisbfDb::create("ok");
    let cfg = db_config(&db.url(), &[]);
    let (run, report) = check_db(&cfg, GOOD_TOKEN).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(report["status"], "ok");
    for code in ["db_ok", "db_schema_ok", "db_data_ok", "db_token_active"] {
        assert!(finding(&report, code).is_some(), "{code}: {}", run.stdout);
    }
    let data = &finding(&report, "db_data_ok").unwrap()["message"];
    assert_eq!(
        data,
        "3 users, 2 active tokens, 1 user providers, 0 user rotations"
    );
    assert!(
        finding(&report, "db_token_active").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("scope both")
    );
    assert!(!run.stdout.contains(GOOD_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_token_and_inactive_user_are_credential_findings() {
    let db = AisbfDb::create("revoked");
    let cfg = db_config(&db.url(), &[]);
    let (run, report) = check_db(&cfg, "tok-alice-revoked-0123456789").await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(&report, "db_token_missing").expect("db_token_missing");
    assert!(f["message"].as_str().unwrap().contains("revoked"));
    assert_eq!(report["verdict"]["action"], "fix_credentials");

    db.exec("UPDATE users SET is_active = 0 WHERE username = 'alice'");
    let (_, report) = check_db(&cfg, GOOD_TOKEN).await;
    assert!(finding(&report, "db_user_missing").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_column_is_named_as_migration_drift() {
    let db = AisbfDb::create("drift");
    db.exec("ALTER TABLE user_rotations DROP COLUMN updated_at; CREATE TABLE extra_thing (id INT)");
    let cfg = db_config(&db.url(), &[]);
    let (run, report) = check_db(&cfg, GOOD_TOKEN).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let msg = finding(&report, "db_schema_drift").expect("drift")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("user_rotations.updated_at"), "{msg}");
    assert!(msg.contains("extra_thing"), "{msg}");
    assert_eq!(report["verdict"]["layer"], "database");
    assert_eq!(report["verdict"]["action"], "edit_infrastructure");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_file_is_probed_read_only() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("aisbf.db");
    {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut con = sqlx::SqliteConnection::connect(&url).await.expect("open");
        sqlx::raw_sql(SQLITE_FIXTURE)
            .execute(&mut con)
            .await
            .expect("ddl");
        sqlx::raw_sql(SEED).execute(&mut con).await.expect("seed");
        con.close().await.expect("close");
    }
    let before = std::fs::read(&path).expect("read");
    let cfg = db_config(&format!("sqlite://{}", path.display()), &[]);
    let (run, report) = check_db(&cfg, GOOD_TOKEN).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(finding(&report, "db_schema_ok").is_some(), "{}", run.stdout);
    assert!(finding(&report, "db_token_active").is_some());
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_database_targets_are_clear_findings_without_secrets() {
    let refused = refused_url().await.replace("http://", "");
    let silent = silent_server().await.replace("http://", "");
    let missing_sqlite = "sqlite:///nonexistent/dir/aisbf.db";
    let rows = [
        (format!("mysql://root@{refused}/aisbf"), "db_unreachable"),
        (format!("mysql://root@{silent}/aisbf"), "db_unreachable"),
        (
            "mysql://root:WrongPassw0rd@127.0.0.1:3306/mysql".to_string(),
            "db_access_denied",
        ),
        (
            "mysql://root@127.0.0.1:3306/aisbf_no_such_db_x".to_string(),
            "db_not_found",
        ),
        (missing_sqlite.to_string(), "db_not_found"),
        // TLS required by the URL; the local MariaDB has none.
        (
            "mysql://root@127.0.0.1:3306/mysql?ssl-mode=required".to_string(),
            "db_unreachable",
        ),
    ];
    for (url, code) in rows {
        let cfg = db_config(&url, &[]);
        let (run, report) = check_db(&cfg, GOOD_TOKEN).await;
        assert_eq!(run.code, 2, "{url}: {}", run.stdout);
        assert!(finding(&report, code).is_some(), "{url}: {}", run.stdout);
        assert_eq!(report["verdict"]["layer"], "database", "{url}");
        assert!(!run.stdout.contains("WrongPassw0rd"), "{}", run.stdout);
        if code == "db_not_found" && url.starts_with("mysql") {
            assert!(run.stdout.contains("aisbf_no_such_db_x"), "{}", run.stdout);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_on_sqlite_or_another_database_is_the_database_culprit() {
    let db = AisbfDb::create("nodes");
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, database: &str| {
        let p = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, format!("{{\"database\": {database}}}")).expect("write");
        p
    };
    let shared = format!(
        "{{\"type\":\"mysql\",\"mysql_host\":\"localhost\",\"mysql_port\":3306,\"mysql_user\":\"u\",\"mysql_password\":\"pw-never-shown\",\"mysql_database\":\"{}\"}}",
        db.name
    );
    let n1 = write("n1", &shared);
    let n2 = write(
        "n2",
        "{\"type\":\"sqlite\",\"sqlite_path\":\"/h/.aisbf/aisbf.db\"}",
    );
    let n3 = write(
        "n3",
        "{\"type\":\"mysql\",\"mysql_host\":\"127.0.0.1\",\"mysql_database\":\"aisbf_other\"}",
    );
    let cfg = db_config(
        &db.url(),
        &[
            ("aisbf-1", Some(&n1)),
            ("aisbf-2", Some(&n2)),
            ("aisbf-3", Some(&n3)),
        ],
    );
    let (run, report) = check_db(&cfg, GOOD_TOKEN).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(codes(&report, "aisbf-1"), ["db_node_ok"]);
    assert_eq!(codes(&report, "aisbf-2"), ["db_node_sqlite"]);
    assert_eq!(codes(&report, "aisbf-3"), ["db_node_other_database"]);
    assert!(run.stdout.contains("routes vanish"));
    assert!(!run.stdout.contains("pw-never-shown"));
    assert_eq!(report["verdict"]["layer"], "database");
    assert_eq!(
        report["verdict"]["culprits"],
        serde_json::json!(["aisbf-2", "aisbf-3"])
    );
}
