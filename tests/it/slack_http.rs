//! Http mode end to end: signed slash commands and clicks POSTed to the real
//! endpoint, verdicts arriving at the fake Slack's response URL, incidents
//! in the incident channel's thread, rate limits and expired response URLs.

use std::time::Duration;

use aisbf_doctor::slack::verify::now_secs;
use fake_slack::form;
use serde_json::json;

use crate::discord_support::{drifted_cluster, healthy_cluster};
use crate::slack_support::*;

#[tokio::test]
async fn bad_or_stale_signatures_are_refused_with_401_before_parsing() {
    let h = harness(healthy_cluster().await).await;
    let url = format!("{}/slack/commands", serve_http(h.bot.clone()).await);
    let (cmd, _) = command(&h.fake, OPS_USER, "health", "trig-401");
    let body = form(&cmd);

    let wrong = post_signed_at(&url, &body, "another-secret", now_secs()).await;
    assert_eq!(wrong.status, 401);
    let stale = post_signed_at(&url, &body, SIGNING_SECRET, now_secs() - 6 * 60).await;
    assert_eq!(stale.status, 401);
    let unsigned = reqwest::Client::new()
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status().as_u16(), 401);
    let garbage = post_signed_at(
        &format!("{}/slack/actions", url.trim_end_matches("/slack/commands")),
        "payload=%7Bnot-json",
        "another-secret",
        now_secs(),
    )
    .await;
    assert_eq!(garbage.status, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Nothing unverified was parsed: no probe ran, nothing reached Slack.
    assert!(h.fake.requests().is_empty(), "{:?}", h.fake.requests());
    assert!(h.cluster.nodes.iter().all(|n| n.requests() == 0));
}

#[tokio::test]
async fn a_command_is_acknowledged_at_once_and_the_verdict_reaches_its_response_url_and_incident_thread()
 {
    let h = harness(drifted_cluster().await).await;
    let base = serve_http(h.bot.clone()).await;
    let (cmd, _) = command(&h.fake, USER, "health", "trig-full");
    let a = post_signed(&format!("{base}/slack/commands"), &form(&cmd)).await;
    assert_eq!(a.status, 200);
    let ack = a.json();
    assert_eq!(ack["response_type"], "ephemeral");
    assert!(
        ack["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Working on"),
        "{ack}"
    );

    let answers = h.fake.wait_for("response", 1, WAIT).await;
    assert_eq!(answers.len(), 1, "no verdict: {:?}", h.fake.requests());
    let msg = &answers[0].json;
    assert_eq!(msg["response_type"], "in_channel");
    let header = msg["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(header.contains("FAIL"), "{msg}");
    let text = msg.to_string();
    assert!(
        text.contains("aisbf-2") && text.contains("First check"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<#{INCIDENT_CHANNEL}>")),
        "the answer links the incident channel: {text}"
    );
    assert!(!text.contains(demo_token()), "{text}");
    let buttons = msg["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
        .cloned()
        .expect("buttons");
    assert_eq!(buttons["elements"][0]["value"], "run:health:");
    assert_eq!(buttons["elements"][1]["value"], "pin:aisbf-2");

    // The failing verdict opened an incident: a message in the incident
    // channel and the verdict in its thread.
    let posts = h.fake.wait_for("chat.postMessage", 2, WAIT).await;
    assert!(posts.len() >= 2, "{posts:?}");
    assert!(posts.iter().all(|p| p.json["channel"] == INCIDENT_CHANNEL));
    assert!(posts[0].json.get("thread_ts").is_none());
    assert!(posts[1].json["thread_ts"].is_string());
    assert!(
        posts
            .iter()
            .all(|p| p.authorization.as_deref() == Some(&*format!("Bearer {BOT_TOKEN}")))
    );
    // The health verdict's latency chart goes up through the files API.
    let done = h
        .fake
        .wait_for("files.completeUploadExternal", 1, WAIT)
        .await;
    assert!(!done.is_empty(), "no chart: {:?}", h.fake.requests());
    assert!(h.fake.matching("upload").iter().any(|u| u.bytes > 0));
}

fn demo_token() -> &'static str {
    aisbf_doctor::demo::fake_node::demo::TOKEN
}

#[tokio::test]
async fn unknown_words_get_the_usage_and_another_workspace_is_refused_without_running_anything() {
    let h = harness(healthy_cluster().await).await;
    let url = format!("{}/slack/commands", serve_http(h.bot.clone()).await);
    let (cmd, _) = command(&h.fake, USER, "uptime", "trig-usage");
    let a = post_signed(&url, &form(&cmd)).await.json();
    let text = a["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Unknown command `uptime`") && text.contains("`health`"),
        "{text}"
    );

    let (cmd, _) = command(&h.fake, USER, "health aisbf-9", "trig-node");
    let a = post_signed(&url, &form(&cmd)).await.json();
    assert!(
        a["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Unknown node `aisbf-9`"),
        "{a}"
    );

    let mut other = fake_slack::slash_command(
        "T0OTHER",
        OPS_USER,
        ASK_CHANNEL,
        "health",
        &h.fake.response_url(),
        "trig-other",
    );
    let a = post_signed(&url, &form(&other)).await.json();
    assert!(
        a["text"].as_str().unwrap_or_default().contains("Refused"),
        "{a}"
    );
    other["team_id"] = json!(TEAM);
    other["enterprise_id"] = json!("E0GRID");
    let a = post_signed(&url, &form(&other)).await.json();
    assert!(
        a["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Enterprise Grid"),
        "{a}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.cluster.nodes.iter().all(|n| n.requests() == 0));
    assert!(h.fake.matching("response").is_empty());
}

#[tokio::test]
async fn paid_probes_need_an_ops_user_or_a_member_of_an_ops_group() {
    let h = harness(healthy_cluster().await).await;
    let url = format!("{}/slack/commands", serve_http(h.bot.clone()).await);
    let (cmd, _) = command(&h.fake, USER, "incident open", "trig-paid-1");
    let a = post_signed(&url, &form(&cmd)).await.json();
    let text = a["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Refused") && text.contains("ops_users"),
        "{text}"
    );

    h.fake.set_group(OPS_GROUP, &[USER]);
    let (cmd, _) = command(&h.fake, USER, "routes", "trig-paid-2");
    let a = post_signed(&url, &form(&cmd)).await.json();
    assert!(
        a["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Working on"),
        "{a}"
    );
    let answers = h.fake.wait_for("response", 1, WAIT).await;
    assert_eq!(answers.len(), 1);
}

#[tokio::test]
async fn a_rerun_click_runs_again_and_a_click_from_a_non_ops_user_on_a_paid_probe_is_refused() {
    let h = harness(healthy_cluster().await).await;
    let url = format!("{}/slack/actions", serve_http(h.bot.clone()).await);
    let response_url = h.fake.response_url();
    let click = fake_slack::block_actions(
        TEAM,
        USER,
        ASK_CHANNEL,
        "aisbf_rerun",
        "run:health:",
        &response_url,
        "trig-click-1",
    );
    let a = post_signed(&url, &form(&json!({"payload": click.to_string()}))).await;
    assert_eq!(a.status, 200);
    let answers = h.fake.wait_for("response", 1, WAIT).await;
    assert_eq!(answers.len(), 1);
    assert!(
        answers[0].json.to_string().contains("OK"),
        "{}",
        answers[0].json
    );

    let response_url = h.fake.response_url();
    let paid = fake_slack::block_actions(
        TEAM,
        USER,
        ASK_CHANNEL,
        "aisbf_rerun",
        "run:routes:",
        &response_url,
        "trig-click-2",
    );
    let a = post_signed(&url, &form(&json!({"payload": paid.to_string()}))).await;
    assert_eq!(a.status, 200);
    let answers = h.fake.wait_for("response", 2, WAIT).await;
    let refusal = answers.last().expect("a refusal").json.to_string();
    assert!(
        refusal.contains("Refused") && refusal.contains("ephemeral"),
        "{refusal}"
    );
}

#[tokio::test]
async fn an_expired_response_url_falls_back_to_a_message_in_the_channel() {
    let h = harness(healthy_cluster().await).await;
    h.fake.set_response_url_ttl(Duration::ZERO);
    let url = format!("{}/slack/commands", serve_http(h.bot.clone()).await);
    let (cmd, _) = command(&h.fake, USER, "health", "trig-expired");
    post_signed(&url, &form(&cmd)).await;
    let posts = h.fake.wait_for("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts.len(), 1, "{:?}", h.fake.requests());
    assert_eq!(posts[0].json["channel"], ASK_CHANNEL);
    let text = posts[0].json.to_string();
    assert!(text.contains(&format!("Slack user {USER}")), "{text}");
    assert!(!text.contains("<@"), "names never ping: {text}");
    let refused = h.fake.matching("response");
    assert_eq!(refused[0].error.as_deref(), Some("expired_url"));
}

#[tokio::test]
async fn a_429_is_waited_out_for_its_retry_after_and_posts_into_one_channel_are_paced() {
    let h = harness(healthy_cluster().await).await;
    let mut api = h.bot.api.clone();
    api.post_interval = Duration::from_millis(400);
    h.fake.fail_next(
        "chat.postMessage",
        429,
        json!({"ok": false, "error": "ratelimited"}),
        &[("retry-after", "1")],
    );
    let msg = json!({"text": "hello"});
    let started = std::time::Instant::now();
    api.post_message(INCIDENT_CHANNEL, None, &msg)
        .await
        .expect("delivered after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    let tries = h.fake.matching("chat.postMessage");
    assert_eq!(tries.len(), 2);
    assert!(tries[1].at.duration_since(tries[0].at) >= Duration::from_millis(990));

    // A burst into one channel queues: one post per interval, none refused.
    let burst: Vec<_> = (0..3)
        .map(|_| api.post_message(INCIDENT_CHANNEL, None, &msg))
        .collect();
    for r in futures::future::join_all(burst).await {
        r.expect("delivered");
    }
    let posts = h.fake.matching("chat.postMessage");
    let times: Vec<_> = posts.iter().skip(2).map(|p| p.at).collect();
    assert_eq!(times.len(), 3);
    for pair in times.windows(2) {
        assert!(pair[1].duration_since(pair[0]) >= Duration::from_millis(390));
    }

    // A Retry-After longer than we wait fails the post, with no token in the error.
    let mut api = api.clone();
    api.max_retry_after = Duration::from_secs(2);
    h.fake.fail_next(
        "chat.postMessage",
        429,
        json!({"ok": false}),
        &[("retry-after", "30")],
    );
    let err = api
        .post_message(INCIDENT_CHANNEL, None, &msg)
        .await
        .expect_err("too long a wait");
    assert_eq!(err.status, Some(429));
    assert!(!err.to_string().contains(BOT_TOKEN));
}
