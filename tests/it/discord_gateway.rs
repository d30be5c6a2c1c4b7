//! Gateway mode end to end: the real serenity client against a fake gateway
//! (HELLO → IDENTIFY → READY → INTERACTION_CREATE), answers by REST.

use fake_discord::command_interaction;

use crate::discord_support::*;

async fn start_client(h: &Harness) -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut client = aisbf_doctor::discord::gateway::client(h.bot.clone(), Some(tx))
        .await
        .expect("serenity client");
    tokio::spawn(async move {
        let _ = client.start().await;
    });
    rx
}

#[tokio::test]
async fn a_command_over_the_gateway_is_deferred_and_its_verdict_patched() {
    let h = harness(drifted_cluster().await, "gateway").await;
    let mut ready = start_client(&h).await;
    tokio::time::timeout(WAIT, ready.recv())
        .await
        .expect("serenity reached READY");
    assert_eq!(h.fake.identifies(), 1);

    h.fake.dispatch(
        "INTERACTION_CREATE",
        command_interaction("600000000000000001", "gw-tok-1", "health", &[], &[]),
    );
    let callbacks = h
        .fake
        .wait_for(
            "POST",
            "/interactions/600000000000000001/gw-tok-1/callback",
            1,
            WAIT,
        )
        .await;
    assert_eq!(callbacks.len(), 1, "{:?}", h.fake.requests());
    assert_eq!(callbacks[0].json["type"], 5);
    let patches = h
        .fake
        .wait_for("PATCH", "gw-tok-1/messages/@original", 1, WAIT)
        .await;
    assert_eq!(patches.len(), 1);
    assert!(
        patches[0].at >= callbacks[0].at,
        "verdict before the deferral"
    );
    let title = patches[0].json["embeds"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(title.contains("FAIL"), "{title}");
}

#[tokio::test]
async fn after_a_dropped_gateway_connection_serenity_reconnects_and_the_next_command_is_answered() {
    let h = harness(healthy_cluster().await, "gateway").await;
    let mut ready = start_client(&h).await;
    tokio::time::timeout(WAIT, ready.recv())
        .await
        .expect("serenity reached READY");
    h.fake.drop_gateway();
    assert!(
        h.fake.wait_sessions(2, WAIT).await,
        "no reconnect: identifies {} resumes {}",
        h.fake.identifies(),
        h.fake.resumes()
    );
    h.fake.dispatch(
        "INTERACTION_CREATE",
        command_interaction("600000000000000002", "gw-tok-2", "db", &[], &[]),
    );
    let patches = h
        .fake
        .wait_for("PATCH", "gw-tok-2/messages/@original", 1, WAIT)
        .await;
    assert_eq!(patches.len(), 1, "{:?}", h.fake.requests());
}

#[test]
fn a_documented_interaction_survives_serenity_and_back_into_our_parser() {
    let raw = command_interaction(
        "600000000000000003",
        "tok",
        "health",
        &[("node", "aisbf-1")],
        &[OPS_ROLE],
    );
    let parsed: serenity::all::Interaction =
        serde_json::from_value(raw).unwrap_or_else(|e| panic!("serenity refused it: {e}"));
    let back = aisbf_doctor::discord::gateway::reencode(&parsed).expect("re-encode");
    let ix = aisbf_doctor::discord::interaction::parse(&back)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&back)));
    assert_eq!(ix.id, "600000000000000003");
    assert_eq!(ix.token, "tok");
    assert_eq!(ix.roles(), vec![OPS_ROLE.parse::<u64>().expect("id")]);
    let cmd =
        aisbf_doctor::discord::interaction::command_of(&ix.data.expect("data")).expect("command");
    assert_eq!(
        cmd,
        aisbf_doctor::app::Request::Check {
            probe: aisbf_doctor::finding::ProbeKind::Health,
            target: Some("aisbf-1".into())
        }
    );
}

#[test]
fn an_autocomplete_through_serenity_keeps_the_focused_option() {
    let raw = serde_json::json!({
        "id": "600000000000000004", "application_id": "100000000000000002", "type": 4,
        "data": {"id": "100000000000000003", "name": "aisbf", "type": 1, "options": [
            {"name": "health", "type": 1, "options": [
                {"name": "node", "type": 3, "value": "ais", "focused": true}]}]},
        "channel_id": "100000000000000005", "token": "tok", "version": 1, "locale": "en-US",
        "entitlements": [], "attachment_size_limit": 8388608,
        "user": {"id": "100000000000000006", "username": "ops-person", "discriminator": "0", "avatar": null}
    });
    let parsed: serenity::all::Interaction =
        serde_json::from_value(raw).unwrap_or_else(|e| panic!("serenity refused it: {e}"));
    let back = aisbf_doctor::discord::gateway::reencode(&parsed).expect("re-encode");
    let ix = aisbf_doctor::discord::interaction::parse(&back).expect("parse");
    assert_eq!(ix.kind, 4);
    let focused = aisbf_doctor::discord::interaction::focused(&ix.data.expect("data"));
    assert_eq!(focused, Some(("node".to_string(), "ais".to_string())));
}

#[tokio::test]
async fn serve_binary_in_gateway_mode_identifies_and_answers_a_command() {
    let cluster = healthy_cluster().await;
    let fake = fake_discord::FakeDiscord::start().await.expect("fake");
    let text = config_text(&cluster, &fake.api_base(), "gateway", "127.0.0.1:0");
    let mut serve = spawn_serve(&text);
    assert!(
        fake.wait_sessions(1, WAIT).await,
        "serve never identified on the gateway"
    );
    // Serenity asked the fake (not discord.com) for the gateway, with the bot token.
    let asked = fake.matching("GET", "/gateway");
    assert!(!asked.is_empty());
    let auth = format!("Bot {BOT_TOKEN}");
    assert!(
        asked
            .iter()
            .all(|r| r.authorization.as_deref() == Some(auth.as_str()))
    );
    fake.dispatch(
        "INTERACTION_CREATE",
        command_interaction(
            "600000000000000010",
            "gw-bin-tok",
            "health",
            &[("node", "aisbf-1")],
            &[],
        ),
    );
    let patches = fake
        .wait_for("PATCH", "gw-bin-tok/messages/@original", 1, WAIT)
        .await;
    assert_eq!(patches.len(), 1, "{:?}", fake.requests());
    let _ = serve.child.kill().await;
}
