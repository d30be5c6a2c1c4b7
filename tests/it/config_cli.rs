//! `config check` and `config init` through the real binary: a starter
//! written from aisbf.json files holding secrets passes `config check` once
//! its variables are set, and holds none of those secrets.

use std::process::Command;

use crate::helpers::*;

const DB_PASSWORD: &str = "db-pw-7f3a9c";
const REDIS_PASSWORD: &str = "redis-pw-51be20";

fn aisbf_json(host: &str) -> String {
    format!(
        r#"{{"database":{{"type":"mysql","mysql_host":"{host}","mysql_port":3306,
        "mysql_user":"aisbf","mysql_password":"{DB_PASSWORD}","mysql_database":"aisbf_prod"}},
        "cache":{{"type":"redis","redis_host":"redis.internal","redis_port":6380,"redis_db":2,
        "redis_password":"{REDIS_PASSWORD}","redis_key_prefix":"aisbf:prod:"}},
        "response_cache":{{"enabled":true,"backend":"redis","redis_host":"redis.internal",
        "redis_password":"{REDIS_PASSWORD}","redis_key_prefix":"aisbf:prod:response:"}},
        "auth":{{"enabled":true}}}}"#
    )
}

fn doctor(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("AISBF_DOCTOR_CONFIG")
        .env_remove("AISBF_USER")
        .env_remove("AISBF_TOKEN")
        .env_remove("AISBF_GLOBAL_TOKEN")
        .env_remove("AISBF_DOCTOR_MYSQL_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run aisbf-doctor").into()
}

#[test]
fn init_writes_a_starter_without_secrets_that_config_check_accepts_once_its_vars_are_set() {
    let dir = tempfile::tempdir().expect("dir");
    let mut args = vec!["config".to_string(), "init".to_string()];
    for (node, host) in [
        ("aisbf-1", "db.internal"),
        ("aisbf-2", "db.internal"),
        ("aisbf-3", "other-db"),
    ] {
        let home = dir.path().join(node).join(".aisbf");
        std::fs::create_dir_all(&home).expect("mkdir");
        let path = home.join("aisbf.json");
        std::fs::write(&path, aisbf_json(host)).expect("write");
        args.push("--aisbf-json".into());
        args.push(path.display().to_string());
    }
    let out = dir.path().join("aisbf-doctor.toml");
    args.push("--output".into());
    args.push(out.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let init = doctor(&argv, &[]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let starter = std::fs::read_to_string(&out).expect("starter written");

    for secret in [DB_PASSWORD, REDIS_PASSWORD] {
        assert!(!starter.contains(secret), "secret copied:\n{starter}");
    }
    for node in ["aisbf-1", "aisbf-2", "aisbf-3"] {
        assert!(starter.contains(&format!("name = \"{node}\"")), "{starter}");
    }
    assert!(
        starter.contains("@db.internal:3306/aisbf_prod\""),
        "the majority's database: {starter}"
    );
    assert!(starter.contains("aisbf-3 differ"), "{starter}");
    assert!(
        starter.contains("url = \"redis://redis.internal:6380/2\""),
        "{starter}"
    );
    assert!(starter.contains("prefix = \"aisbf:prod:\""), "{starter}");

    // A second init never overwrites the file.
    let again = doctor(&argv, &[]);
    assert_eq!(again.code, 3, "{}", again.stderr);

    let path = out.display().to_string();
    let unset = doctor(&["--config", &path, "config", "check"], &[]);
    assert_eq!(unset.code, 3, "{}", unset.stdout);
    for var in [
        "AISBF_USER",
        "AISBF_TOKEN",
        "AISBF_GLOBAL_TOKEN",
        "AISBF_DOCTOR_MYSQL_PASSWORD",
    ] {
        assert!(
            unset.stderr.contains(var),
            "{var} not named:\n{}",
            unset.stderr
        );
    }

    let set = doctor(
        &["--config", &path, "config", "check"],
        &[
            ("AISBF_USER", "alice"),
            ("AISBF_TOKEN", "tok"),
            ("AISBF_GLOBAL_TOKEN", "gtok"),
            ("AISBF_DOCTOR_MYSQL_PASSWORD", "pw"),
        ],
    );
    assert_eq!(set.code, 0, "{}{}", set.stdout, set.stderr);
    assert!(set.stdout.starts_with("config ok: "), "{}", set.stdout);
    assert!(set.stdout.contains("3 nodes"), "{}", set.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_probes_nothing_and_an_invalid_config_exits_3_naming_the_key() {
    // A node that counts connections: `config check` must make none.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = accepted.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let valid = format!(
        "[cluster]\nname = \"prod\"\nuser = \"alice\"\ntoken = \"${{AISBF_TOKEN}}\"\n\
         [[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://{addr}\"\n"
    );
    let cfg = config_file(&valid);
    let ok = run_cli(&cfg, &["config", "check"], &[("AISBF_TOKEN", "tok")]).await;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);

    let bad = config_file(&valid.replace("user = ", "usr = "));
    let refused = run_cli(&bad, &["config", "check"], &[("AISBF_TOKEN", "tok")]).await;
    assert_eq!(refused.code, 3, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("unknown field `usr`"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
}
