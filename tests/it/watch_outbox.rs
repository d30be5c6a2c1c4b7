//! Watch mode's outbox and a large outage, against real MariaDB (and SQLite):
//! a leader that dies around a delivery is followed by a successor that
//! announces each change once; 1,000 failing nodes make one announcement, one
//! incident with every culprit, and a follow-up each.
//!
//! These runners have no Redis lease (one replica at a time, each leads): the
//! lease is not what is under test, the order of post and save is.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};
use aisbf_doctor::metrics::Metrics;
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::Store;
use aisbf_doctor::watch_runner::{Runner, Tick};

use crate::helpers::*;
use crate::watch::{Env, env_lookup, eventually};

/// Watch mode's chat in these tests: `after_next_delivery` stands for a kill
/// right after a delivery, `hang` for one that never returns.
type Scripted = RecordingSurface;

/// The watch config of `env` for `cluster`, without the Redis lease.
fn config(env: &Env, cluster: &FakeCluster) -> String {
    env.config(cluster, "24h")
        .replace("redis_url = \"redis://127.0.0.1:6379/0\"\n", "")
}

async fn runner(text: &str, store: Store, surface: Arc<Scripted>) -> Runner {
    let config = aisbf_doctor::config::parse(text, &env_lookup).expect("config");
    Runner::new(Arc::new(config), store, surface, Metrics::new())
        .await
        .expect("runner")
}

fn two_nodes() -> Vec<FakeNodeSpec> {
    vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ]
}

/// The leader dies right after its delivery, before the watch state it
/// would save after it (simulated by a trigger that fails every later
/// write of the state). Its successor must not announce the change again.
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_killed_between_delivering_and_saving_is_not_announced_again() {
    let env = Env::create("outbox_kill");
    let store = env.store().await;
    env.db.exec(
        "CREATE TABLE kill_switch (armed INT);
         CREATE TRIGGER kill_insert BEFORE INSERT ON watch_state FOR EACH ROW SET NEW.state = IF((SELECT COUNT(*) FROM kill_switch) > 0, NULL, NEW.state);
         CREATE TRIGGER kill_update BEFORE UPDATE ON watch_state FOR EACH ROW SET NEW.state = IF((SELECT COUNT(*) FROM kill_switch) > 0, NULL, NEW.state)",
    );
    let cluster = FakeCluster::start(two_nodes()).await.expect("fake");
    cluster.nodes[1].set_failing(true);
    let text = config(&env, &cluster);

    let a_chat = Arc::new(Scripted::default());
    let db = env.db.name.clone();
    a_chat.after_next_delivery(move || mariadb_exec(&db, "INSERT INTO kill_switch VALUES (1)"));
    let a = runner(&text, store.clone(), a_chat.clone()).await;
    assert!(
        matches!(a.tick().await, Ok(Tick::Ran { .. })),
        "confirm 1/2"
    );
    // The change is confirmed and delivered; whatever A writes after that is
    // lost with it.
    let died = a.tick().await;
    eprintln!("the leader's last tick: {died:?}");
    drop(a);
    assert_eq!(a_chat.posts(), vec!["open NewFailure".to_string()]);
    env.db.exec("DELETE FROM kill_switch");

    let b_chat = Arc::new(Scripted::default());
    let b = runner(&text, env.store().await, b_chat.clone()).await;
    for _ in 0..3 {
        assert!(matches!(b.tick().await, Ok(Tick::Ran { .. })));
    }
    assert_eq!(b_chat.posts(), Vec::<String>::new(), "announced again");
    let incidents = store.incidents(10).await.expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].state, "open");
    assert_eq!(
        incidents[0].thread_id.as_deref(),
        Some("111111111111111111"),
        "no incident without its announcement"
    );
}

/// The leader dies right after recording the intent, before saving the
/// state it leads to (a trigger fails that save). Its successor delivers the
/// intent and takes its target as the state: one announcement, not two.
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_killed_between_the_intent_and_the_state_save_is_announced_once() {
    let env = Env::create("outbox_intent");
    let store = env.store().await;
    env.db.exec(
        "CREATE TABLE kill_switch (armed INT);
         CREATE TRIGGER kill_insert BEFORE INSERT ON watch_state FOR EACH ROW SET NEW.state = IF((SELECT COUNT(*) FROM kill_switch) > 0, NULL, NEW.state);
         CREATE TRIGGER kill_update BEFORE UPDATE ON watch_state FOR EACH ROW SET NEW.state = IF((SELECT COUNT(*) FROM kill_switch) > 0, NULL, NEW.state);
         CREATE TRIGGER arm AFTER INSERT ON outbox FOR EACH ROW INSERT INTO kill_switch VALUES (1)",
    );
    let cluster = FakeCluster::start(two_nodes()).await.expect("fake");
    cluster.nodes[1].set_failing(true);
    let text = config(&env, &cluster);
    let a_chat = Arc::new(Scripted::default());
    let a = runner(&text, store.clone(), a_chat.clone()).await;
    assert!(
        matches!(a.tick().await, Ok(Tick::Ran { .. })),
        "confirm 1/2"
    );
    assert!(
        a.tick().await.is_err(),
        "the state save after the intent fails"
    );
    drop(a);
    assert!(a_chat.posts().is_empty());
    env.db.exec("DROP TRIGGER arm; DELETE FROM kill_switch");

    let b_chat = Arc::new(Scripted::default());
    let b = runner(&text, env.store().await, b_chat.clone()).await;
    for _ in 0..3 {
        assert!(matches!(b.tick().await, Ok(Tick::Ran { .. })));
    }
    assert_eq!(b_chat.posts(), vec!["open NewFailure".to_string()]);
    let incidents = store.incidents(10).await.expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
}

/// The leader recorded the change and died in the middle of posting it (the
/// post never reached the chat). The successor delivers it first, once,
/// even though the cluster recovered meanwhile, then announces the recovery.
#[tokio::test(flavor = "multi_thread")]
async fn a_successor_delivers_a_dead_leaders_pending_announcement_once() {
    let env = Env::create("outbox_pending");
    let store = env.store().await;
    let cluster = FakeCluster::start(two_nodes()).await.expect("fake");
    cluster.nodes[1].set_failing(true);
    let text = config(&env, &cluster);

    let a_chat = Arc::new(Scripted::default());
    a_chat.hang.store(true, Ordering::SeqCst);
    let a = Arc::new(runner(&text, store.clone(), a_chat.clone()).await);
    assert!(
        matches!(a.tick().await, Ok(Tick::Ran { .. })),
        "confirm 1/2"
    );
    let dying = tokio::spawn({
        let a = a.clone();
        async move { a.tick().await }
    });
    assert!(
        eventually(Duration::from_secs(30), async || a_chat
            .entered
            .load(Ordering::SeqCst))
        .await,
        "the leader never started to deliver"
    );
    dying.abort();
    let _ = dying.await;
    drop(a);
    assert!(a_chat.posts().is_empty());

    cluster.nodes[1].set_failing(false);
    let b_chat = Arc::new(Scripted::default());
    let b = runner(&text, env.store().await, b_chat.clone()).await;
    let Ok(Tick::Ran { announced, .. }) = b.tick().await else {
        panic!("b did not run");
    };
    assert_eq!(announced, vec![aisbf_doctor::watch::Change::NewFailure]);
    for _ in 0..3 {
        assert!(matches!(b.tick().await, Ok(Tick::Ran { .. })));
    }
    assert_eq!(
        b_chat.posts(),
        vec![
            "open NewFailure".to_string(),
            "close 111111111111111111".to_string()
        ]
    );
    let incidents = store.incidents(10).await.expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].state, "closed");
    assert!(
        store
            .pending_announcements(&env.cluster)
            .await
            .expect("q")
            .is_empty()
    );
}

/// 1,000 fake nodes failing at once on one backend, then (with `recover`)
/// recovering: healthy fake nodes are slow to probe by the thousand, so the
/// recovery runs on one backend only.
async fn large_outage(text: &str, url: &Secret, cluster: &FakeCluster, name: &str, recover: bool) {
    let store = Store::open(url).await.expect("open");
    for n in &cluster.nodes {
        n.set_failing(true);
    }
    let chat = Arc::new(Scripted::default());
    let r = runner(text, store.clone(), chat.clone()).await;
    for _ in 0..3 {
        match r.tick().await {
            Ok(Tick::Ran { .. }) => {}
            other => panic!("tick: {other:?}"),
        }
    }
    assert_eq!(chat.posts(), vec!["open NewFailure".to_string()]);
    let incident = store
        .open_incident_of(name)
        .await
        .expect("q")
        .expect("an open incident");
    assert_eq!(incident.culprits.len(), cluster.nodes.len());
    assert!(incident.culprits.iter().any(|c| c == "aisbf-0999"));
    let open = store.open_follow_ups_of(Some(name)).await.expect("q");
    assert_eq!(open.len(), cluster.nodes.len(), "one follow-up per node");
    if !recover {
        return;
    }

    for n in &cluster.nodes {
        n.set_failing(false);
    }
    for _ in 0..2 {
        assert!(matches!(r.tick().await, Ok(Tick::Ran { .. })));
    }
    assert_eq!(
        chat.posts(),
        vec![
            "open NewFailure".to_string(),
            "close 111111111111111111".to_string()
        ]
    );
    assert!(
        store
            .open_follow_ups_of(Some(name))
            .await
            .expect("q")
            .is_empty(),
        "the healthy runs repaired every follow-up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_outage_is_announced_once_with_every_culprit_and_follow_up() {
    let env = Env::create("outage");
    let nodes = (0..1000)
        .map(|n| FakeNodeSpec::healthy(&format!("aisbf-{n:04}")))
        .collect();
    let cluster = FakeCluster::start(nodes).await.expect("fake");
    // Healthy fake nodes answer slower than failing ones: 1,000 of them in
    // this process on a shared 2-core box need more than the usual second.
    let text = config(&env, &cluster)
        .replace("timeout_ms = 1000", "timeout_ms = 20000")
        .replace("confirm = 2", "confirm = 1");
    large_outage(
        &text,
        &Secret::new(env.store_url()),
        &cluster,
        &env.cluster,
        true,
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let sqlite = format!("sqlite://{}", dir.path().join("s.db").display());
    let text = text.replacen(&env.store_url(), &sqlite, 1);
    large_outage(&text, &Secret::new(sqlite), &cluster, &env.cluster, false).await;
}
