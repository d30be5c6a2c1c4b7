//! Config fuzzing (proptest): the parser never panics, and every rejection is
//! one line that names the file and a key (in backticks) or the TOML syntax.

use aisbf_doctor::config::{self, ConfigError};
use proptest::prelude::*;

const VALID: &str = r#"[cluster]
name = "prod"
user = "alice"
token = "${AISBF_TOKEN}"
global_token = "${AISBF_GLOBAL_TOKEN}"
balancer = "https://lb.example:443"
timeout_ms = 1500
deadline_ms = 8000
concurrency = 32
[[cluster.nodes]]
name = "aisbf-1"
url = "http://127.0.0.1:17765"
[[cluster.nodes]]
name = "aisbf-2"
url = "https://aisbf-2.example/prefix"
tls_insecure = true
[database]
url = "mysql://ro:${DB_PW}@db:3306/aisbf"
[cache]
url = "redis://127.0.0.1:6379/0"
prefix = "aisbf:"
other_environments = [{ name = "staging", prefix = "stg:" }]
[routes]
smoke = ["openai/gpt-4o", "user-rotation/coding"]
concurrency = 4
[lb]
requests = 12
[store]
url = "sqlite://./aisbf-doctor.db"
"#;

fn env(name: &str) -> Option<String> {
    matches!(name, "AISBF_TOKEN" | "AISBF_GLOBAL_TOKEN" | "DB_PW").then(|| "v4lue".to_string())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    // A panic inside parse fails the property (proptest catches it).
    if let Err(e) = config::parse(text, &env) {
        assert_one_line(&e)?;
    }
    Ok(())
}

fn assert_one_line(e: &ConfigError) -> Result<(), TestCaseError> {
    let line = e.to_string();
    prop_assert!(!line.contains('\n'), "more than one line: {line:?}");
    prop_assert_eq!(e.file.as_str(), "<text>");
    prop_assert!(!e.problem.trim().is_empty(), "empty problem");
    prop_assert!(
        e.problem.contains('`') || e.problem.starts_with("TOML syntax error"),
        "names no key: {line:?}"
    );
    Ok(())
}

/// The char boundary at or before `i` (modulo the length).
fn boundary(text: &str, i: usize) -> usize {
    let mut at = i % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        check(&text)?;
    }

    #[test]
    fn toml_shaped_noise_never_panics(text in "[\\[\\]a-z_.=\"{}$0-9 \\n#,:/-]{0,300}") {
        check(&text)?;
    }

    #[test]
    fn valid_config_with_inserted_text_never_panics(at in any::<usize>(), junk in ".{0,40}") {
        let at = boundary(VALID, at);
        let text = format!("{}{junk}{}", &VALID[..at], &VALID[at..]);
        check(&text)?;
    }

    #[test]
    fn valid_config_with_a_cut_never_panics(at in any::<usize>(), len in 0usize..60) {
        let start = boundary(VALID, at);
        let end = boundary(VALID, start + len).max(start);
        let text = format!("{}{}", &VALID[..start], &VALID[end..]);
        check(&text)?;
    }

    #[test]
    fn valid_config_with_a_line_replaced_never_panics(line in 0usize..40, junk in ".{0,60}") {
        let mut lines: Vec<&str> = VALID.lines().collect();
        let i = line % lines.len();
        lines[i] = &junk;
        check(&lines.join("\n"))?;
    }

    #[test]
    fn extreme_numbers_never_panic(
        key in prop::sample::select(vec!["timeout_ms", "deadline_ms", "concurrency", "requests"]),
        value in prop_oneof![any::<i64>().prop_map(|v| v.to_string()), Just(i64::MAX.to_string()), Just("-1".to_string()), Just("1e400".to_string())],
    ) {
        let text = VALID
            .lines()
            .map(|l| if l.starts_with(&format!("{key} =")) { format!("{key} = {value}") } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        check(&text)?;
    }
}

#[test]
fn the_fuzzed_base_config_is_valid() {
    let c = config::parse(VALID, &env).expect("VALID must parse, or the mutations test nothing");
    assert!(c.cluster.nodes[1].tls_insecure);
    assert!(!c.cluster.nodes[0].tls_insecure);
}

#[test]
fn huge_timeout_without_deadline_is_an_error_not_an_overflow() {
    let text = VALID
        .replace("deadline_ms = 8000\n", "")
        .replace("timeout_ms = 1500", &format!("timeout_ms = {}", i64::MAX));
    let e = config::parse(&text, &env).expect_err("must be rejected");
    assert!(e.problem.contains("cluster.timeout_ms"), "{e}");
}
