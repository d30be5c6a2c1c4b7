//! Http mode end to end: signed interactions POSTed to the bot, verdicts
//! arriving at a fake Discord, incidents in threads, faults.

use std::time::Duration;

use aisbf_doctor::discord::interaction;
use serde_json::json;

use crate::discord_support::*;

#[tokio::test]
async fn missing_or_tampered_signatures_are_refused_with_401_before_parsing() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let body = command("500000000000000001", "health", &[], false);

    let missing = post_raw(&url, &body, None, None).await;
    assert_eq!(missing.status, 401);

    let ts = "1767225600";
    let other = {
        use ed25519_dalek::Signer;
        signing_key().sign(format!("{ts}{{}}").as_bytes())
    };
    let tampered = post_raw(&url, &body, Some(&hex::encode(other.to_bytes())), Some(ts)).await;
    assert_eq!(tampered.status, 401);

    let garbage_sig = post_raw(&url, &body, Some("zz"), Some(ts)).await;
    assert_eq!(garbage_sig.status, 401);
    // Unverified bodies are never parsed, so nothing reached Discord or the cluster.
    assert!(h.fake.requests().is_empty());
    assert!(h.cluster.nodes.iter().all(|n| n.requests() == 0));
}

#[tokio::test]
async fn ping_is_answered_with_pong_and_healthz_says_ok() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let pong = post_signed(
        &url,
        r#"{"id":"500000000000000002","type":1,"application_id":"100000000000000002","version":1}"#,
    )
    .await;
    assert_eq!(pong.status, 200);
    assert_eq!(pong.json(), json!({"type": 1}));
    let health = reqwest::get(format!("{url}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().await.unwrap_or_default(), "ok");
}

#[tokio::test]
async fn malformed_interaction_payloads_are_answered_400() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    for body in [
        "{not json",
        "[]",
        r#"{"type":2}"#,
        r#"{"id":"1","type":2}"#,
        "",
    ] {
        let a = post_signed(&url, body).await;
        assert_eq!(a.status, 400, "body {body:?} answered {}", a.body);
    }
    assert!(h.fake.requests().is_empty());
}

#[tokio::test]
async fn a_command_is_deferred_then_the_verdict_patches_the_original_and_opens_an_incident_thread()
{
    let h = harness(drifted_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;

    let a = post_signed(&url, &command("500000000000000010", "health", &[], false)).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["type"], 5);

    let patches = h
        .fake
        .wait_for("PATCH", "/messages/@original", 1, WAIT)
        .await;
    assert_eq!(
        patches.len(),
        1,
        "no verdict arrived: {:?}",
        h.fake.requests()
    );
    let patch = &patches[0];
    assert!(
        patch
            .path
            .contains("/webhooks/100000000000000002/tok-500000000000000010/")
    );
    let msg = &patch.json;
    assert_eq!(msg["allowed_mentions"], json!({"parse": []}));
    let embed = &msg["embeds"][0];
    assert!(
        embed["title"].as_str().unwrap_or_default().contains("FAIL"),
        "{embed}"
    );
    assert_eq!(embed["color"], 0xE7_4C_3C);
    let fields = embed["fields"].as_array().cloned().unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f["name"].as_str().unwrap_or_default().contains("aisbf-2"))
    );
    assert!(
        embed["description"]
            .as_str()
            .unwrap_or_default()
            .contains("First check")
    );
    let buttons = &msg["components"][0]["components"];
    assert_eq!(buttons[0]["custom_id"], "run:health:");
    assert_eq!(buttons[1]["custom_id"], "pin:aisbf-2");
    // Health verdicts carry the latency chart as an uploaded PNG.
    assert!(
        patch.files.iter().any(|(n, _)| n == "latency.png"),
        "{:?}",
        patch.files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(embed["image"]["url"], "attachment://latency.png");
    assert!(
        msg["attachments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["filename"] == "latency.png"))
    );
    // The secret token never leaves the bot.
    assert!(
        !msg.to_string()
            .contains(aisbf_doctor::demo::fake_node::demo::TOKEN)
    );

    // A thread in the incident channel, and the verdict posted into it.
    let threads = h
        .fake
        .wait_for(
            "POST",
            &format!("/channels/{INCIDENT_CHANNEL}/threads"),
            1,
            WAIT,
        )
        .await;
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].json["auto_archive_duration"], 1440);
    assert_eq!(threads[0].json["type"], 11);
    let name = threads[0].json["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        name.starts_with("fake · ") && name.ends_with("aisbf-2"),
        "{name}"
    );
    assert!(
        msg["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Incident thread")
    );

    // A second failing verdict goes into the same thread.
    let b = post_signed(&url, &command("500000000000000011", "health", &[], false)).await;
    assert_eq!(b.json()["type"], 5);
    let posts = h.fake.wait_for("POST", "/messages", 2, WAIT).await;
    let threads_after = h.fake.matching("POST", "/threads");
    assert_eq!(threads_after.len(), 1, "a second thread was opened");
    let thread_id = h
        .bot
        .store
        .open_incident_of("fake")
        .await
        .expect("store")
        .and_then(|i| i.thread_id)
        .expect("thread id stored");
    assert_eq!(posts.len(), 2);
    assert!(
        posts
            .iter()
            .all(|p| p.path == format!("/channels/{thread_id}/messages"))
    );
    // Runs were recorded with who asked.
    let runs = h.bot.store.recent_runs(10).await.expect("runs");
    assert!(
        runs.iter()
            .any(|r| r.requested_by == "discord:100000000000000006" && r.status == "fail")
    );
}

#[tokio::test]
async fn a_duplicate_delivery_of_one_interaction_is_answered_once() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let body = command("500000000000000020", "health", &[], false);
    assert_eq!(post_signed(&url, &body).await.json()["type"], 5);
    assert_eq!(post_signed(&url, &body).await.json()["type"], 5);
    // The duplicate spawned no work: the in-process handler says so directly...
    let ix = interaction::parse(body.as_bytes()).expect("parse");
    assert!(h.bot.handle(ix).await.work.is_none());
    // ...and after a later, different command was answered, only two verdicts exist.
    h.fake.wait_for("PATCH", "@original", 1, WAIT).await;
    post_signed(&url, &command("500000000000000021", "health", &[], false)).await;
    let later = h
        .fake
        .wait_for("PATCH", "tok-500000000000000021", 1, WAIT)
        .await;
    assert_eq!(later.len(), 1);
    assert_eq!(h.fake.matching("PATCH", "tok-500000000000000020").len(), 1);
}

#[tokio::test]
async fn oversized_or_unconfigured_options_are_refused_without_probing() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let long = "a".repeat(500);
    let a = post_signed(
        &url,
        &command("500000000000000030", "health", &[("node", &long)], false),
    )
    .await;
    let v = a.json();
    assert_eq!(v["type"], 4);
    assert_eq!(v["data"]["flags"], 64);
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than 100"),
        "{v}"
    );

    let b = post_signed(
        &url,
        &command(
            "500000000000000031",
            "health",
            &[("node", "http://169.254.169.254/")],
            false,
        ),
    )
    .await;
    let v = b.json();
    assert_eq!(v["type"], 4);
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown node"),
        "{v}"
    );
    assert!(h.cluster.nodes.iter().all(|n| n.requests() == 0));
    assert!(h.fake.requests().is_empty());
}

/// An ephemeral answer (type 4, flags 64) that names `ops_roles`.
fn assert_refused_for_want_of_ops(answer: &serde_json::Value) {
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    let text = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(text.contains("ops_roles"), "{answer}");
}

#[tokio::test]
async fn routes_needs_an_ops_role_others_get_an_ephemeral_refusal() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let refused = post_signed(&url, &command("500000000000000040", "routes", &[], false))
        .await
        .json();
    assert_refused_for_want_of_ops(&refused);
    let allowed = post_signed(&url, &command("500000000000000041", "routes", &[], true))
        .await
        .json();
    assert_eq!(allowed["type"], 5);
    let patch = h
        .fake
        .wait_for("PATCH", "tok-500000000000000041", 1, WAIT)
        .await;
    assert_eq!(patch.len(), 1);
}

#[tokio::test]
async fn diagnose_without_an_ops_role_is_refused_because_it_would_run_billed_routes() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let refused = post_signed(&url, &command("500000000000000042", "diagnose", &[], false))
        .await
        .json();
    assert_refused_for_want_of_ops(&refused);
    // Nothing ran: no node was asked anything, so nothing was billed.
    assert!(h.cluster.nodes.iter().all(|n| n.requests() == 0));
}

/// `/aisbf <sub>` from the ops member, reshaped to come from `origin`.
fn from_origin(id: &str, sub: &str, origin: &str) -> String {
    let mut ix = fake_discord::command_interaction(id, &format!("tok-{id}"), sub, &[], &[OPS_ROLE]);
    let user = ix["member"]["user"].clone();
    match origin {
        "other guild" => {
            ix["guild_id"] = json!("999999999999999999");
            ix["authorizing_integration_owners"] = json!({"0": "999999999999999999"});
        }
        "bot dm" | "group dm" => {
            let o = ix.as_object_mut().expect("object");
            o.remove("guild_id");
            o.remove("member");
            o.insert("user".into(), user.clone());
            o.insert(
                "context".into(),
                json!(if origin == "bot dm" { 1 } else { 2 }),
            );
            o.insert(
                "authorizing_integration_owners".into(),
                json!({"1": user["id"]}),
            );
        }
        "user install" => {
            ix["authorizing_integration_owners"] = json!({"1": user["id"]});
        }
        _ => {}
    }
    ix.to_string()
}

#[tokio::test]
async fn commands_from_outside_the_ops_server_are_refused_in_every_context() {
    let h = harness(drifted_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let mut n = 700;
    for origin in ["other guild", "bot dm", "group dm", "user install"] {
        for sub in ["health", "incident status", "incident open"] {
            n += 1;
            let id = format!("500000000000000{n}");
            let answer = post_signed(&url, &from_origin(&id, sub, origin))
                .await
                .json();
            assert_eq!(answer["type"], 4, "{origin} {sub}: {answer}");
            assert_eq!(answer["data"]["flags"], 64, "{origin} {sub}: ephemeral");
            let text = answer["data"]["content"].as_str().unwrap_or_default();
            assert!(text.starts_with("Refused"), "{origin} {sub}: {text}");
        }
    }
    // Nothing ran and nothing was posted anywhere.
    assert!(h.cluster.nodes.iter().all(|node| node.requests() == 0));
    assert!(
        h.fake.requests().is_empty(),
        "{:?}",
        h.fake.requests().len()
    );
    // The same command from the ops server is answered.
    let ok = post_signed(&url, &from_origin("500000000000000799", "health", "ops"))
        .await
        .json();
    assert_eq!(ok["type"], 5);
}

#[test]
fn the_command_tree_is_for_guilds_and_the_guild_install_only() {
    let t = aisbf_doctor::discord::commands::tree();
    assert_eq!(t[0]["contexts"], json!([0]));
    assert_eq!(t[0]["integration_types"], json!([0]));
}

#[tokio::test]
async fn autocomplete_offers_configured_nodes_without_running_probes() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let body = json!({
        "id": "500000000000000050", "type": 4, "token": "tok", "application_id": "100000000000000002",
        "guild_id": GUILD,
        "data": {"name": "aisbf", "options": [{"name": "health", "type": 1, "options": [
            {"name": "node", "type": 3, "value": "2", "focused": true}]}]}
    });
    let v = post_signed(&url, &body.to_string()).await.json();
    assert_eq!(v["type"], 8);
    assert_eq!(
        v["data"]["choices"],
        json!([{"name": "aisbf-2", "value": "aisbf-2"}])
    );
    assert!(h.cluster.nodes.iter().all(|n| n.requests() == 0));
}

#[tokio::test]
async fn pin_to_node_button_runs_the_health_probe_for_that_node_only() {
    let h = harness(drifted_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let body = json!({
        "id": "500000000000000060", "type": 3, "token": "tok-pin", "application_id": "100000000000000002",
        "guild_id": GUILD,
        "data": {"custom_id": "pin:aisbf-2", "component_type": 2},
        "member": {"user": {"id": "100000000000000006"}, "roles": []}
    });
    assert_eq!(post_signed(&url, &body.to_string()).await.json()["type"], 5);
    let patch = h.fake.wait_for("PATCH", "tok-pin", 1, WAIT).await;
    assert_eq!(patch.len(), 1);
    let fields = patch[0].json["embeds"][0]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = fields
        .iter()
        .map(|f| f["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("aisbf-2")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("aisbf-1")), "{names:?}");
    assert_eq!(h.cluster.nodes[0].requests(), 0);
}

#[tokio::test]
async fn incident_close_posts_a_summary_and_archives_the_thread() {
    let h = harness(drifted_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    post_signed(&url, &command("500000000000000070", "health", &[], false)).await;
    h.fake
        .wait_for("PATCH", "tok-500000000000000070", 1, WAIT)
        .await;
    let thread = h
        .bot
        .store
        .open_incident_of("fake")
        .await
        .expect("store")
        .and_then(|i| i.thread_id)
        .expect("thread");

    let status = post_signed(
        &url,
        &command("500000000000000071", "incident status", &[], false),
    )
    .await;
    assert_eq!(status.json()["type"], 5);
    let st = h
        .fake
        .wait_for("PATCH", "tok-500000000000000071", 1, WAIT)
        .await;
    assert!(
        st[0].json["content"]
            .as_str()
            .unwrap_or_default()
            .contains(&thread)
    );

    let refused = post_signed(
        &url,
        &command("500000000000000072", "incident close", &[], false),
    )
    .await
    .json();
    assert_eq!(refused["type"], 4);

    post_signed(
        &url,
        &command("500000000000000073", "incident close", &[], true),
    )
    .await;
    let done = h
        .fake
        .wait_for("PATCH", "tok-500000000000000073", 1, WAIT)
        .await;
    assert!(
        done[0].json["content"]
            .as_str()
            .unwrap_or_default()
            .contains("closed")
    );
    let archived = h.fake.matching("PATCH", &format!("/channels/{thread}"));
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].json["archived"], true);
    let summary = h
        .fake
        .matching("POST", &format!("/channels/{thread}/messages"));
    assert!(summary.iter().any(|m| {
        m.json["content"]
            .as_str()
            .unwrap_or_default()
            .contains("closed by")
    }));
    assert!(
        h.bot
            .store
            .open_incident_of("fake")
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn a_429_with_retry_after_delays_the_verdict_which_then_arrives_once() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    h.fake.fail_next(
        "@original",
        429,
        json!({"message": "You are being rate limited.", "retry_after": 0.4, "global": false}),
    );
    post_signed(&url, &command("500000000000000080", "health", &[], false)).await;
    let ok = h.fake.wait_for("PATCH", "@original", 1, WAIT).await;
    assert_eq!(ok.len(), 1);
    let all = h.fake.matching("PATCH", "@original");
    assert_eq!(all.len(), 2, "one 429 then one success");
    assert_eq!(all[0].status, 429);
    assert_eq!(all[1].status, 200);
    assert!(all[1].at.duration_since(all[0].at) >= Duration::from_millis(400));
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times_then_reported_with_the_reason() {
    let h = harness(healthy_cluster().await, "http").await;
    for _ in 0..10 {
        h.fake.fail_next(
            "@original",
            500,
            json!({"message": "internal boom", "code": 0}),
        );
    }
    let mut rest = h.bot.rest.clone();
    rest.attempts = 3;
    rest.backoff = Duration::from_millis(5);
    let err = rest
        .edit_original("tok-x", &json!({"content": "x"}), &[])
        .await
        .expect_err("500s must fail the delivery");
    assert_eq!(err.status, Some(500));
    assert!(
        err.reason.contains("internal boom") && err.reason.contains("after 3 attempts"),
        "{err}"
    );
    assert_eq!(h.fake.matching("PATCH", "@original").len(), 3);
}

#[tokio::test]
async fn a_500_then_success_delivers_the_verdict_once() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    h.fake
        .fail_next("@original", 502, json!({"message": "bad gateway"}));
    post_signed(&url, &command("500000000000000090", "health", &[], false)).await;
    let ok = h.fake.wait_for("PATCH", "@original", 1, WAIT).await;
    assert_eq!(ok.len(), 1);
    let statuses = h.fake.statuses("PATCH", "@original");
    assert_eq!(statuses, vec![502, 200]);
}

#[tokio::test]
async fn an_answer_whose_interaction_token_expired_is_posted_in_the_channel_naming_who_asked() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    h.fake.fail_next(
        "@original",
        401,
        json!({"message": "Invalid Webhook Token", "code": 50027}),
    );
    let deferred = post_signed(&url, &command("500000000000000090", "health", &[], false))
        .await
        .json();
    assert_eq!(deferred["type"], 5);
    // The command's channel in fake_discord::command_interaction.
    let posted = h
        .fake
        .wait_for("POST", "/channels/100000000000000005/messages", 1, WAIT)
        .await;
    assert_eq!(posted.len(), 1, "the verdict reaches the channel");
    let content = posted[0].json["content"].as_str().unwrap_or_default();
    assert!(content.contains("<@100000000000000006>"), "{content}");
    assert_eq!(posted[0].json["allowed_mentions"], json!({"parse": []}));
    assert!(posted[0].json["embeds"][0]["title"].is_string());
}

#[tokio::test]
async fn a_burst_of_verdicts_into_one_thread_queues_for_the_bucket_and_draws_no_429() {
    let h = harness(healthy_cluster().await, "gateway").await;
    // Discord's 5 messages per 5 s per channel, scaled down.
    h.fake.limit_channels(2, Duration::from_millis(300));
    let posts = (0..8).map(|i| {
        let rest = h.bot.rest.clone();
        async move {
            rest.post("700", &json!({"content": format!("verdict {i}")}), &[])
                .await
        }
    });
    let results = futures::future::join_all(posts).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(h.fake.matching("POST", "/channels/700/messages").len(), 8);
    assert_eq!(h.fake.invalid_requests(), 0, "no 429 drawn");
}

#[tokio::test]
async fn a_message_retried_after_a_5xx_carries_the_same_enforced_nonce() {
    let h = harness(healthy_cluster().await, "gateway").await;
    h.fake.fail_next(
        "/channels/700/messages",
        500,
        json!({"message": "internal"}),
    );
    h.bot
        .rest
        .post("700", &json!({"content": "verdict"}), &[])
        .await
        .expect("delivered on the retry");
    let sent = h.fake.matching("POST", "/channels/700/messages");
    assert_eq!(sent.len(), 2);
    let nonce = sent[0].json["nonce"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!nonce.is_empty() && nonce.len() <= 25, "{nonce:?}");
    assert_eq!(sent[1].json["nonce"], sent[0].json["nonce"]);
    assert!(sent.iter().all(|r| r.json["enforce_nonce"] == true));
}

#[tokio::test]
async fn a_thread_creation_that_may_have_reached_discord_is_not_repeated() {
    let h = harness(healthy_cluster().await, "gateway").await;
    h.fake
        .fail_next("/threads", 502, json!({"message": "bad gateway"}));
    let err = h
        .bot
        .rest
        .create_thread(
            INCIDENT_CHANNEL.parse().expect("id"),
            "prod · node · aisbf-2",
        )
        .await
        .expect_err("not repeated");
    assert!(err.to_string().contains("not repeated"), "{err}");
    assert_eq!(h.fake.matching("POST", "/threads").len(), 1);
}

#[tokio::test]
async fn a_rate_limit_of_zero_seconds_forever_gives_up_within_its_bound_and_counts_a_failed_post() {
    let h = harness(healthy_cluster().await, "gateway").await;
    let limited =
        json!({"message": "You are being rate limited.", "retry_after": 0.0, "global": false});
    for _ in 0..200 {
        h.fake
            .fail_next("/channels/700/messages", 429, limited.clone());
    }
    let metrics = aisbf_doctor::metrics::Metrics::new();
    let mut rest = h.bot.rest.clone();
    rest.metrics = Some(metrics.clone());
    let err = rest
        .post("700", &json!({"content": "verdict"}), &[])
        .await
        .expect_err("an endless rate limit is a failed delivery");
    assert!(err.to_string().contains("rate limited"), "{err}");
    let sent = h.fake.matching("POST", "/channels/700/messages").len();
    assert!(
        sent <= 1 + rest.rate_limit_retries as usize,
        "{sent} requests for one post"
    );
    assert!(
        metrics
            .render()
            .contains("aisbf_doctor_discord_posts_total{outcome=\"failed\"} 1"),
        "{}",
        metrics.render()
    );
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_request_budget_fails_at_once_instead_of_waiting() {
    let h = harness(healthy_cluster().await, "gateway").await;
    h.fake.fail_next(
        "/channels/700/messages",
        429,
        json!({"message": "You are being rate limited.", "retry_after": 59.5, "global": false}),
    );
    let mut rest = h.bot.rest.clone();
    rest.total = Duration::from_secs(5);
    let err = rest
        .post("700", &json!({"content": "verdict"}), &[])
        .await
        .expect_err("a wait past the budget fails the delivery");
    assert!(err.to_string().contains("longer than we wait"), "{err}");
    assert_eq!(h.fake.matching("POST", "/channels/700/messages").len(), 1);
}

#[tokio::test]
async fn a_discord_error_body_echoing_the_bot_token_never_reaches_logs_or_output() {
    let h = harness(healthy_cluster().await, "http").await;
    // A proxy or Discord itself echoing the request's Authorization header.
    let echo = json!({"message": format!("401: Unauthorized (Authorization: Bot {BOT_TOKEN})"), "code": 0});
    for _ in 0..3 {
        h.fake.fail_next("/commands", 502, echo.clone());
    }
    h.fake.fail_next("/commands", 401, echo.clone());
    let cfg = crate::helpers::config_file(&h.config_text);
    let envs = [
        ("AISBF_TOKEN", aisbf_doctor::demo::fake_node::demo::TOKEN),
        ("DISCORD_TOKEN", BOT_TOKEN),
        ("RUST_LOG", "debug"),
    ];
    let run = crate::helpers::run_cli(&cfg, &["discord", "register", "--guild", "42"], &envs).await;
    assert_ne!(run.code, 0, "a refused registration is an error");
    assert!(
        run.stderr.contains("Unauthorized") || run.stdout.contains("Unauthorized"),
        "the reason is kept: {}{}",
        run.stdout,
        run.stderr
    );
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(BOT_TOKEN), "bot token in {what}:\n{text}");
    }
}

#[tokio::test]
async fn register_puts_the_command_tree_only_when_it_changed() {
    let h = harness(healthy_cluster().await, "http").await;
    let cfg = crate::helpers::config_file(&h.config_text);
    let envs = [
        ("AISBF_TOKEN", aisbf_doctor::demo::fake_node::demo::TOKEN),
        ("DISCORD_TOKEN", BOT_TOKEN),
    ];
    let first =
        crate::helpers::run_cli(&cfg, &["discord", "register", "--guild", "42"], &envs).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.contains("registered in guild 42"),
        "{}",
        first.stdout
    );
    let puts = h
        .fake
        .matching("PUT", "/applications/100000000000000002/guilds/42/commands");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].json[0]["name"], "aisbf");
    assert_eq!(puts[0].json[0]["default_member_permissions"], "32");
    assert_eq!(
        puts[0].authorization.as_deref(),
        Some(format!("Bot {BOT_TOKEN}").as_str())
    );

    let second =
        crate::helpers::run_cli(&cfg, &["discord", "register", "--guild", "42"], &envs).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stdout.contains("already up to date"),
        "{}",
        second.stdout
    );
    assert_eq!(h.fake.matching("PUT", "/commands").len(), 1);
    assert!(!format!("{}{}", first.stderr, second.stderr).contains(BOT_TOKEN));
}

#[tokio::test]
async fn serve_binary_in_http_mode_answers_healthz_and_ping() {
    let cluster = healthy_cluster().await;
    let fake = fake_discord::FakeDiscord::start().await.expect("fake");
    let port = free_port();
    let text = config_text(
        &cluster,
        &fake.api_base(),
        "http",
        &format!("127.0.0.1:{port}"),
    );
    let mut serve = spawn_serve(&text);
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{url}/healthz")).await
            && r.status().as_u16() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve never answered /healthz");
    let pong = post_signed(&url, r#"{"id":"1","type":1}"#).await;
    assert_eq!(pong.json(), json!({"type": 1}));
    let bad = post_raw(&url, r#"{"id":"1","type":1}"#, None, None).await;
    assert_eq!(bad.status, 401);
    let _ = serve.child.kill().await;
}

#[tokio::test]
async fn two_replicas_sharing_a_store_answer_one_interaction_once() {
    let h = harness(healthy_cluster().await, "http").await;
    let store_b = aisbf_doctor::store::Store::open(&h.store_url)
        .await
        .expect("store");
    let bot_b = std::sync::Arc::new(
        aisbf_doctor::discord::Bot::new(h.bot.config.clone(), h.bot.rest.clone(), store_b)
            .expect("bot b"),
    );
    let body = command("500000000000000100", "health", &[], false);
    let ix = interaction::parse(body.as_bytes()).expect("parse");

    let a = h.bot.handle(ix.clone()).await;
    assert_eq!(a.reply["type"], 5);
    a.work.expect("replica a does the work").await;
    // Replica b gets the same delivery: it defers too, but its work finds the
    // interaction already claimed in the shared store and posts nothing.
    let b = bot_b.handle(ix).await;
    assert_eq!(b.reply["type"], 5);
    b.work.expect("replica b checks the store").await;
    assert_eq!(h.fake.matching("PATCH", "tok-500000000000000100").len(), 1);
}

#[test]
fn the_command_tree_as_discord_returns_it_counts_as_unchanged() {
    use aisbf_doctor::discord::commands::{differs, tree};
    // Discord adds ids and versions and leaves out options at their default.
    let mut current = tree();
    current[0]["id"] = json!("1");
    current[0]["application_id"] = json!("100000000000000002");
    current[0]["version"] = json!("2");
    if let Some(node) = current[0]["options"][0]["options"][0].as_object_mut() {
        assert!(node.remove("required").is_some());
    }
    assert!(!differs(&current, &tree()));
    let mut renamed = tree();
    renamed[0]["options"][0]["description"] = json!("something else");
    assert!(differs(&renamed, &tree()));
    assert!(differs(&json!([]), &tree()));
}

#[tokio::test]
async fn incident_open_by_an_ops_member_opens_a_thread_even_for_a_healthy_cluster() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    let refused = post_signed(
        &url,
        &command("500000000000000110", "incident open", &[], false),
    )
    .await
    .json();
    assert_eq!(refused["type"], 4);
    assert!(
        h.bot
            .store
            .open_incident_of("fake")
            .await
            .expect("store")
            .is_none()
    );

    let a = post_signed(
        &url,
        &command("500000000000000111", "incident open", &[], true),
    )
    .await;
    assert_eq!(a.json()["type"], 5);
    let patch = h
        .fake
        .wait_for("PATCH", "tok-500000000000000111", 1, WAIT)
        .await;
    assert_eq!(patch.len(), 1);
    let incident = h
        .bot
        .store
        .open_incident_of("fake")
        .await
        .expect("store")
        .expect("incident opened");
    assert_eq!(incident.opened_by, "discord:100000000000000006");
    let thread = incident.thread_id.expect("thread stored");
    assert!(
        patch[0].json["content"]
            .as_str()
            .unwrap_or_default()
            .contains(&thread)
    );
    assert_eq!(h.fake.matching("POST", "/threads").len(), 1);
}

#[tokio::test]
async fn a_verdict_that_outruns_the_deferral_and_meets_unknown_webhook_is_sent_again() {
    let h = harness(healthy_cluster().await, "http").await;
    let url = serve_http(h.bot.clone()).await;
    h.fake.fail_next(
        "@original",
        404,
        json!({"message": "Unknown Webhook", "code": 10015}),
    );
    post_signed(&url, &command("500000000000000120", "health", &[], false)).await;
    let ok = h
        .fake
        .wait_for("PATCH", "tok-500000000000000120", 1, WAIT)
        .await;
    assert_eq!(ok.len(), 1);
    let statuses = h.fake.statuses("PATCH", "tok-500000000000000120");
    assert_eq!(statuses, vec![404, 200]);
}

#[tokio::test]
async fn serve_with_watch_opens_an_incident_thread_and_serves_metrics() {
    let cluster = drifted_cluster().await;
    let fake = fake_discord::FakeDiscord::start().await.expect("fake");
    let (port, metrics_port) = (free_port(), free_port());
    let mut text = config_text(
        &cluster,
        &fake.api_base(),
        "http",
        &format!("127.0.0.1:{port}"),
    );
    text.push_str(&format!(
        "\n[watch]\nevery = \"200ms\"\nprobes = [\"health\"]\nconfirm = 1\n\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"
    ));
    let mut serve = spawn_serve(&text);
    let threads = fake
        .wait_for(
            "POST",
            &format!("/channels/{INCIDENT_CHANNEL}/threads"),
            1,
            WAIT,
        )
        .await;
    assert_eq!(threads.len(), 1, "watch mode in serve opened no thread");
    // The fake records the POST before the bot has its answer and counts it: poll.
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = match reqwest::get(&url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if metrics.contains("aisbf_doctor_discord_posts_total{outcome=\"ok\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("aisbf_doctor_discord_posts_total{outcome=\"ok\"}"),
        "{metrics}"
    );
    // One change (a new failure), one thread: five more runs of the same state post nothing.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        fake.matching("POST", &format!("/channels/{INCIDENT_CHANNEL}/threads"))
            .len(),
        1
    );
    let _ = serve.child.kill().await;
}
