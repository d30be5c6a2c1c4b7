//! Socket Mode end to end: the real `serve` binary connects to the fake
//! Slack's websocket with the app token, acknowledges envelopes by id, answers
//! through the response URL, and reconnects when Slack asks.

use std::time::Duration;

use fake_slack::FakeSlack;

use crate::discord_support::healthy_cluster;
use crate::slack_support::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_real_binary_in_socket_mode_acknowledges_a_command_answers_it_and_reconnects_on_disconnect()
 {
    let cluster = healthy_cluster().await;
    let fake = FakeSlack::start(BOT_TOKEN, APP_TOKEN)
        .await
        .expect("fake slack");
    let mut serve = spawn_serve(&config_text(
        &cluster,
        &fake.api_base(),
        "socket",
        "127.0.0.1:0",
    ));
    assert!(
        fake.wait_connections(1, Duration::from_secs(60)).await,
        "serve never opened a Socket Mode connection"
    );
    let opened = fake.matching("apps.connections.open");
    assert_eq!(
        opened[0].authorization.as_deref(),
        Some(&*format!("Bearer {APP_TOKEN}")),
        "the socket is opened with the app-level token"
    );

    let (cmd, _) = command(&fake, USER, "health", "trig-socket-1");
    let envelope = fake.send_envelope("slash_commands", cmd);
    let (ack, _) = fake.wait_ack(&envelope, WAIT).await.expect("acknowledged");
    assert!(
        ack["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Working on"),
        "{ack}"
    );
    let answers = fake.wait_for("response", 1, WAIT).await;
    assert_eq!(answers.len(), 1, "{:?}", fake.requests());
    let header = answers[0].json["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(header.contains("OK"), "{header}");

    // Slack asks for a new connection: the app reconnects and keeps answering.
    fake.disconnect_all();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.connections().1 < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fake.wait_connections(1, WAIT).await, "never reconnected");
    assert!(fake.connections().1 >= 2, "no second apps.connections.open");
    let (cmd, _) = command(&fake, USER, "incident status", "trig-socket-2");
    let envelope = fake.send_envelope("slash_commands", cmd);
    assert!(
        fake.wait_ack(&envelope, WAIT).await.is_some(),
        "not acknowledged after reconnecting"
    );
    assert_eq!(fake.wait_for("response", 2, WAIT).await.len(), 2);

    // A Re-run click arrives as an `interactive` envelope: acked, then answered.
    let click = fake_slack::block_actions(
        TEAM,
        USER,
        ASK_CHANNEL,
        "aisbf_rerun",
        "run:health:",
        &fake.response_url(),
        "trig-socket-3",
    );
    let envelope = fake.send_envelope("interactive", click);
    let (ack, _) = fake
        .wait_ack(&envelope, WAIT)
        .await
        .expect("click acknowledged");
    assert!(ack.is_null(), "a click's ack carries no message: {ack}");
    assert_eq!(fake.wait_for("response", 3, WAIT).await.len(), 3);
    let _ = serve.child.kill().await;
}
