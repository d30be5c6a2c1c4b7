//! Every config error exits 3 with one clear line naming file, key and problem.

use crate::helpers::*;

const GOOD: &str = r#"
[cluster]
name = "prod"
user = "alice"
token = "${AISBF_TOKEN}"
[[cluster.nodes]]
name = "aisbf-1"
url = "http://127.0.0.1:9"
"#;

async fn config_error(text: &str) -> Run {
    let cfg = config_file(text);
    let run = run_cli(
        &cfg,
        &["check", "health", "--format", "json"],
        &[("AISBF_TOKEN", "t")],
    )
    .await;
    assert_eq!(run.code, 3, "stdout: {} stderr: {}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    assert_eq!(
        run.stderr.trim_end().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&cfg.path.display().to_string()),
        "names the file: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
    run
}

#[tokio::test]
async fn each_config_error_exits_3_with_one_line() {
    let cases: Vec<(String, &str)> = vec![
        (GOOD.replace("user =", "usr ="), "unknown field `usr`"),
        (
            GOOD.replace("${AISBF_TOKEN}", "${AISBF_DOCTOR_TEST_UNSET}"),
            "AISBF_DOCTOR_TEST_UNSET is not set",
        ),
        (
            format!("{GOOD}[[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://x:1\"\n"),
            "duplicate node name",
        ),
        (
            GOOD.replace("http://127.0.0.1:9", "http//nope"),
            "cluster.nodes[0].url",
        ),
        (GOOD.replace("[cluster]", "[cluster"), "TOML syntax error"),
        (
            GOOD.replace("timeout_ms", "x")
                .replace("name = \"prod\"", "name = \"prod\"\ntimeout_ms = 0"),
            "timeout_ms",
        ),
    ];
    for (text, expected) in cases {
        let run = config_error(&text).await;
        assert!(
            run.stderr.contains(expected),
            "expected {expected:?} in {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn missing_config_file_exits_3() {
    let run: Run = tokio::process::Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/aisbf-doctor.toml",
            "check",
            "health",
        ])
        .output()
        .await
        .expect("run")
        .into();
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("/nonexistent/aisbf-doctor.toml"));
    assert!(run.stderr.contains("no such file"));
}

#[tokio::test]
async fn unconfigured_probe_exits_3_and_says_what_is_missing() {
    let cfg = config_file(GOOD);
    let run = run_cli(&cfg, &["check", "db"], &[("AISBF_TOKEN", "t")]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("check db"), "{}", run.stderr);
}
