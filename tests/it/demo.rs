//! `demo` shows the chat: after the verdict, the Discord message the bot
//! would post and where the latency chart went; JSON and Markdown stay one
//! document on stdout.

use crate::helpers::*;

async fn demo(args: &[&str], tmp: &std::path::Path) -> Run {
    tokio::process::Command::new(BIN)
        .args(["--config", "/nonexistent/never-read.toml", "demo"])
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .await
        .expect("run")
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn text_demo_previews_the_incident_message_and_writes_the_chart_where_it_says() {
    let tmp = tempfile::tempdir().expect("dir");
    let run = demo(&[], tmp.path()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    let verdict = out.find("verdict: FAIL").expect("verdict first");
    let preview = out
        .find("What the incident channel would receive")
        .expect("preview");
    assert!(verdict < preview, "{out}");
    assert!(
        out.contains("thread opened: \"demo: auth (aisbf-3)\""),
        "{out}"
    );
    assert!(out.contains("colour #E74C3C"), "{out}");
    assert!(out.contains("▸ ❌ aisbf-3"), "{out}");
    assert!(
        out.contains("[Re-run] (run:health:) [Pin to aisbf-3] (pin:aisbf-3)"),
        "{out}"
    );
    let chart = tmp.path().join("aisbf-doctor-demo-latency.png");
    assert!(
        out.contains(&format!("latency chart written to {}", chart.display())),
        "{out}"
    );
    let bytes = std::fs::read(&chart).expect("chart written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_and_markdown_demos_stay_one_document_and_the_chart_is_named_on_stderr() {
    let tmp = tempfile::tempdir().expect("dir");
    let png = tmp.path().join("chart.png");
    let png_arg = png.display().to_string();
    let json = demo(&["--format", "json", "--chart", &png_arg], tmp.path()).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_eq!(
        json.json()["verdict"]["culprits"],
        serde_json::json!(["aisbf-3"])
    );
    assert!(
        json.stderr
            .contains(&format!("latency chart written to {png_arg}")),
        "{}",
        json.stderr
    );
    assert!(png.is_file());

    let md = demo(&["--format", "markdown"], tmp.path()).await;
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(!md.stdout.contains("incident channel"), "{}", md.stdout);
    // Without --chart only the text demo writes the chart.
    assert!(!tmp.path().join("aisbf-doctor-demo-latency.png").exists());
}
