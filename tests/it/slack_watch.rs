//! `serve` with Discord and Slack from one config: one watch schedule, two
//! replicas fenced by one lease, each change posted once into each chat.

use std::time::Duration;

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};

use crate::discord_support::{self, discord_section, free_port};
use crate::slack_support::{self, INCIDENT_CHANNEL, slack_section, spawn_serve};
use crate::watch::{Env, eventually};

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_with_discord_and_slack_post_each_change_once_into_each_chat() {
    let env = Env::create("slack");
    let cluster = FakeCluster::start(vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ])
    .await
    .expect("fake cluster");
    let discord = fake_discord::FakeDiscord::start()
        .await
        .expect("fake discord");
    let slack = fake_slack::FakeSlack::start(slack_support::BOT_TOKEN, slack_support::APP_TOKEN)
        .await
        .expect("fake slack");
    let store = env.store().await;
    cluster.nodes[1].set_failing(true);
    let mut replicas: Vec<_> = (0..2)
        .map(|_| {
            spawn_serve(&format!(
                "{}\n{}\n{}",
                env.config(&cluster, "24h"),
                discord_section(
                    &discord.api_base(),
                    "http",
                    &format!("127.0.0.1:{}", free_port())
                ),
                slack_section(
                    &slack.api_base(),
                    "http",
                    &format!("127.0.0.1:{}", free_port())
                ),
            ))
        })
        .collect();

    // The failure opens one incident: a Discord thread and a Slack message
    // whose thread holds the verdict.
    let threads = format!("/channels/{}/threads", discord_support::INCIDENT_CHANNEL);
    let heads = |slack: &fake_slack::FakeSlack| {
        slack
            .matching("chat.postMessage")
            .into_iter()
            .filter(|p| p.json.get("thread_ts").is_none() && p.error.is_none())
            .count()
    };
    assert!(
        eventually(Duration::from_secs(60), async || heads(&slack) >= 1).await,
        "no incident message in Slack: {:?}",
        slack.requests()
    );
    assert_eq!(
        discord
            .wait_for("POST", &threads, 1, Duration::from_secs(30))
            .await
            .len(),
        1,
        "no incident thread in Discord"
    );
    assert!(
        eventually(Duration::from_secs(60), async || {
            matches!(
                store.open_incident_of(&env.cluster).await,
                Ok(Some(i)) if i.thread_id.is_some()
            )
        })
        .await,
        "the incident never recorded its thread"
    );
    let incident = store
        .open_incident_of(&env.cluster)
        .await
        .expect("store")
        .expect("open incident");
    let thread = incident.thread_id.expect("thread id");
    // Both chats' threads in the one id MariaDB keeps (VARCHAR(32)).
    assert!(
        thread.starts_with("~d") && thread.contains("~s") && thread.len() <= 32,
        "{thread}"
    );

    cluster.nodes[1].set_failing(false);
    assert!(
        eventually(Duration::from_secs(60), async || {
            matches!(store.incidents(10).await.as_deref(), Ok([i]) if i.state == "closed")
        })
        .await,
        "recovery never announced"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert_eq!(
        heads(&slack),
        1,
        "the failure was announced in Slack more than once"
    );
    assert_eq!(
        discord.matching("POST", &threads).len(),
        1,
        "failure posted twice in Discord"
    );
    let in_thread: Vec<String> = slack
        .matching("chat.postMessage")
        .into_iter()
        .filter(|p| p.error.is_none())
        .filter_map(|p| {
            p.json
                .get("thread_ts")
                .map(|_| p.json["text"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let closes = in_thread
        .iter()
        .filter(|t| t.contains(":white_check_mark:"))
        .count();
    assert_eq!(closes, 1, "closed {closes} times: {in_thread:?}");
    let mut unique = in_thread.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        in_thread.len(),
        "a change was posted twice: {in_thread:?}"
    );
    assert!(
        slack
            .matching("chat.postMessage")
            .iter()
            .all(|p| p.json["channel"] == INCIDENT_CHANNEL)
    );
    for r in &mut replicas {
        let _ = r.child.start_kill();
        let _ = r.child.wait().await;
    }
}
