//! Watch mode's Discord delivery: the Discord chat surface over the fake Discord.

use aisbf_doctor::chat::{Announcement, ChatSurface};
use aisbf_doctor::discord::DiscordSurface;
use aisbf_doctor::engine::Report;
use aisbf_doctor::finding::{Code, Finding, ProbeKind, Severity};
use aisbf_doctor::watch::Change;

use crate::discord_support::*;

fn failing() -> Report {
    Report::from_findings(
        "prod",
        vec![Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            "aisbf-2",
            Code::TokenRejectedOnNode,
            "rejects the token",
        )],
        None,
        5,
    )
}

#[tokio::test]
async fn the_announcer_opens_a_thread_posts_into_it_and_archives_it_with_a_summary() {
    let h = harness(healthy_cluster().await, "gateway").await;
    let metrics = aisbf_doctor::metrics::Metrics::new();
    let mut rest = h.bot.rest.clone();
    rest.metrics = Some(metrics.clone());
    let announcer = DiscordSurface::new(
        rest,
        Some(INCIDENT_CHANNEL.parse().expect("id")),
        h.bot.redactor.clone(),
    );
    let first = Announcement {
        change: Some(Change::NewFailure),
        report: failing(),
        note: None,
        fence: Some(1),
    };
    let thread = announcer
        .open_thread("prod · auth · aisbf-2", &first)
        .await
        .expect("thread opened");
    let created = h
        .fake
        .matching("POST", &format!("/channels/{INCIDENT_CHANNEL}/threads"));
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].json["name"], "prod · auth · aisbf-2");
    let posted = h
        .fake
        .matching("POST", &format!("/channels/{thread}/messages"));
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].json["content"]
            .as_str()
            .unwrap_or_default()
            .contains("New failure")
    );
    assert_eq!(
        posted[0].json["allowed_mentions"],
        serde_json::json!({"parse": []})
    );

    let reminder = Announcement {
        change: None,
        report: failing(),
        note: Some("Follow-up still open: aisbf-2".into()),
        fence: Some(1),
    };
    announcer.post(&thread, &reminder).await.expect("posted");
    announcer
        .close_thread(&thread, "Recovered after 12 minutes")
        .await
        .expect("closed");
    let posted = h
        .fake
        .matching("POST", &format!("/channels/{thread}/messages"));
    assert_eq!(posted.len(), 3);
    assert_eq!(posted[2].json["content"], "Recovered after 12 minutes");
    let archived = h.fake.matching("PATCH", &format!("/channels/{thread}"));
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].json["archived"], true);
    assert!(
        metrics
            .render()
            .contains("aisbf_doctor_discord_posts_total{outcome=\"ok\"} 5"),
        "{}",
        metrics.render()
    );
}

#[tokio::test]
async fn a_failed_announcement_is_an_error_with_the_reason_not_a_silent_drop() {
    let h = harness(healthy_cluster().await, "gateway").await;
    h.fake.fail_next(
        "/threads",
        403,
        serde_json::json!({"message": "Missing Permissions", "code": 50013}),
    );
    let announcer = DiscordSurface::new(
        h.bot.rest.clone(),
        Some(INCIDENT_CHANNEL.parse().expect("id")),
        h.bot.redactor.clone(),
    );
    let a = Announcement {
        change: Some(Change::NewFailure),
        report: failing(),
        note: None,
        fence: None,
    };
    let err = announcer
        .open_thread("t", &a)
        .await
        .expect_err("403 must fail");
    assert!(
        err.to_string().contains("Missing Permissions") && err.to_string().contains("403"),
        "{err}"
    );
}

#[tokio::test]
async fn a_post_from_a_stale_leader_fence_is_refused_and_not_sent() {
    let h = harness(healthy_cluster().await, "gateway").await;
    let announcer = DiscordSurface::new(
        h.bot.rest.clone(),
        Some(INCIDENT_CHANNEL.parse().expect("id")),
        h.bot.redactor.clone(),
    );
    let with_fence = |fence| Announcement {
        change: Some(Change::Escalation),
        report: failing(),
        note: None,
        fence: Some(fence),
    };
    announcer
        .post("700", &with_fence(5))
        .await
        .expect("leader 5 posts");
    let err = announcer
        .post("700", &with_fence(4))
        .await
        .expect_err("leader 4 is stale");
    assert!(err.to_string().contains("stale leader"), "{err}");
    announcer
        .post("700", &with_fence(6))
        .await
        .expect("a newer leader posts");
    assert_eq!(h.fake.matching("POST", "/channels/700/messages").len(), 2);
}
