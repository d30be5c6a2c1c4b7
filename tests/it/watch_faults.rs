//! Watch mode through the faults production brings, with a private
//! redis-server the test kills, restarts and flushes ([`OwnRedis`]) and a real
//! MariaDB store: the lease reconnects and leads again, `/healthz` tells when
//! a replica cannot run the schedule, and a lost fence counter neither blocks
//! the state writes nor repeats an announcement.

use std::sync::Arc;
use std::time::Duration;

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};
use aisbf_doctor::metrics::Metrics;
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::Store;
use aisbf_doctor::watch_runner::{self, Runner, lease_key};

use crate::helpers::*;

/// Watch mode's chat in these tests.
type Recorder = RecordingSurface;

fn env_lookup(name: &str) -> Option<String> {
    demo_env()
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A fake two-node cluster watched through `redis` into a fresh MariaDB database.
struct Setup {
    db: TestDb,
    cluster: FakeCluster,
    name: String,
    redis: OwnRedis,
}

impl Setup {
    async fn start(tag: &str) -> Setup {
        let db = TestDb::create(&format!("wf_{tag}"));
        let name = format!("watchfaults-{tag}-{}", db.unique);
        let cluster = FakeCluster::start(vec![
            FakeNodeSpec::healthy("aisbf-1"),
            FakeNodeSpec::healthy("aisbf-2"),
        ])
        .await
        .expect("fake cluster");
        let redis = OwnRedis::start(&[]).await;
        Setup {
            db,
            cluster,
            name,
            redis,
        }
    }

    fn config(&self, lease_ttl: &str) -> String {
        self.cluster
            .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000)
            .replacen("name = \"fake\"", &format!("name = \"{}\"", self.name), 1)
            + &format!(
                "[store]\nurl = \"{}\"\n[watch]\nevery = \"200ms\"\nprobes = [\"health\"]\nconfirm = 2\nlease_ttl = \"{lease_ttl}\"\nredis_url = \"{}\"\n",
                self.db.url(),
                self.redis.url().expose()
            )
    }

    async fn store(&self) -> Store {
        Store::open(&Secret::new(self.db.url()))
            .await
            .expect("open store")
    }

    async fn runner(&self, lease_ttl: &str, metrics: Metrics) -> (Runner, Arc<Recorder>) {
        let config =
            aisbf_doctor::config::parse(&self.config(lease_ttl), &env_lookup).expect("config");
        let recorder = Arc::new(Recorder::default());
        let runner = Runner::new(
            Arc::new(config),
            self.store().await,
            recorder.clone(),
            metrics,
        )
        .await
        .expect("runner");
        (runner, recorder)
    }

    async fn redis_cmd(&self, args: &[&str]) {
        let mut con = self.redis.connection().await;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let _: redis::Value = cmd.query_async(&mut con).await.expect("redis command");
    }
}

async fn eventually(limit: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// `GET /healthz`: status and body (`None` when nothing answered).
async fn healthz(port: u16) -> Option<(u16, String)> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_restart_under_a_running_watch_is_survived_and_healthz_says_when_it_cannot_lead() {
    let mut s = Setup::start("restart").await;
    let metrics = Metrics::new();
    let (runner, rec) = s.runner("1s", metrics.clone()).await;
    let port = crate::discord_support::free_port();
    let listen = format!("127.0.0.1:{port}").parse().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = aisbf_doctor::metrics::serve(listen, metrics.clone(), async {
        std::future::pending::<()>().await
    })
    .await
    .expect("metrics endpoint");
    let watch = tokio::spawn(watch_runner::run(Arc::new(runner), async move {
        let _ = stop_rx.await;
    }));
    // The sample line itself (the HELP line also starts with the name).
    let leads = || {
        metrics
            .render()
            .lines()
            .any(|l| l == "aisbf_doctor_leader 1")
    };

    assert!(
        eventually(Duration::from_secs(20), async || leads()).await,
        "never led"
    );
    assert_eq!(
        healthz(port).await,
        Some((200, "ok\n".to_string())),
        "a leader is healthy"
    );

    // Redis goes away for longer than the lease TTL: this replica cannot
    // run the schedule and says so.
    s.redis.kill();
    let mut last = None;
    assert!(
        eventually(Duration::from_secs(30), async || {
            last = healthz(port).await;
            last.as_ref().is_some_and(|(code, _)| *code == 503)
        })
        .await,
        "/healthz never reported the lost lease server: {last:?}"
    );
    let (_, body) = last.unwrap_or_default();
    assert!(
        body.starts_with("not running the schedule: lease server unreachable for "),
        "{body}"
    );
    assert!(!leads(), "no leader without Redis");

    // Redis is back (empty: no persistence): the runner reconnects, leads
    // again, is healthy again, and announces a node outage.
    s.redis.restart().await;
    assert!(
        eventually(Duration::from_secs(30), async || leads()).await,
        "never led again after Redis came back"
    );
    assert!(
        eventually(Duration::from_secs(10), async || {
            healthz(port).await.is_some_and(|(code, _)| code == 200)
        })
        .await,
        "/healthz did not recover"
    );
    s.cluster.nodes[1].set_failing(true);
    assert!(
        eventually(Duration::from_secs(30), async || rec.opened() >= 1).await,
        "the outage after the restart was never announced: {:?}",
        rec.posts()
    );

    let _ = stop_tx.send(());
    watch.await.expect("join").expect("watch stops cleanly");
    served.abort();
    assert_eq!(rec.opened(), 1, "{:?}", rec.posts());
}

/// Ticks with `runner` while the second node fails: exactly one announcement
/// over several ticks, and the state write is accepted.
async fn fails_once_over_ticks(s: &Setup, runner: &Runner, rec: &Recorder) {
    s.cluster.nodes[1].set_failing(true);
    for _ in 0..6 {
        runner.tick().await.expect("tick");
    }
    assert_eq!(
        rec.posts(),
        vec!["open NewFailure".to_string()],
        "the new failure must be announced exactly once"
    );
    let state = s
        .store()
        .await
        .watch_state(&s.name)
        .await
        .expect("read state")
        .expect("state written");
    assert_eq!(state.announced.culprits, vec!["aisbf-2".to_string()]);
}

/// What Redis loses under a running leader.
enum Loss {
    /// Everything (restarted without persistence, or `FLUSHALL`).
    Everything,
    /// Only the fence counter: the lease key and its holder stay.
    FenceKey,
}

/// The fence counter had moved past 10 (earlier leaders) before this leader
/// wrote the state; then Redis loses it and the cluster fails (already before
/// the loss, waiting for confirmation, when `failing_before` is set).
async fn lose_the_fence_counter(tag: &str, loss: Loss, failing_before: bool) {
    let s = Setup::start(tag).await;
    let fence_key = format!("{}:fence", lease_key(&s.name));
    s.redis_cmd(&["SET", &fence_key, "10"]).await;
    let (runner, rec) = s.runner("15s", Metrics::new()).await;
    for _ in 0..2 {
        runner.tick().await.expect("healthy tick");
    }
    let stored = s
        .store()
        .await
        .watch_state_fence(&s.name)
        .await
        .expect("fence")
        .expect("state written");
    assert!(stored > 10, "{stored}");
    if failing_before {
        s.cluster.nodes[1].set_failing(true);
        runner.tick().await.expect("first failing tick");
        assert!(rec.posts().is_empty(), "confirm = 2: {:?}", rec.posts());
    }

    match loss {
        Loss::Everything => s.redis_cmd(&["FLUSHALL"]).await,
        Loss::FenceKey => s.redis_cmd(&["DEL", &fence_key]).await,
    }
    fails_once_over_ticks(&s, &runner, &rec).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flushed_redis_neither_blocks_the_state_nor_repeats_the_announcement() {
    lose_the_fence_counter("flush", Loss::Everything, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_fence_key_neither_blocks_the_state_nor_repeats_the_announcement() {
    lose_the_fence_counter("delfence", Loss::FenceKey, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_pending_confirmation_when_redis_is_flushed_is_announced_once_not_every_tick() {
    lose_the_fence_counter("flushpending", Loss::Everything, true).await;
}
