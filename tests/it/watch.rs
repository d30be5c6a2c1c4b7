//! Watch mode against real MariaDB and Redis: flapping, restarts, follow-up
//! reminders and two replicas with a leader killed mid-incident.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisbf_doctor::demo::fake_node::{FakeCluster, FakeNodeSpec};
use aisbf_doctor::metrics::Metrics;
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::{Store, now_ms};
use aisbf_doctor::watch_runner::{Runner, Tick, lease_key};
use tokio::io::AsyncBufReadExt;

use crate::helpers::*;

/// A fresh MariaDB database and Redis namespace, both removed when dropped.
pub(crate) struct Env {
    pub(crate) db: TestDb,
    pub(crate) cluster: String,
}

impl Env {
    pub(crate) fn create(tag: &str) -> Env {
        let db = TestDb::create(&format!("watch_{tag}"));
        let cluster = format!("watchtest-{tag}-{}", db.unique);
        Env { db, cluster }
    }

    pub(crate) fn store_url(&self) -> String {
        self.db.url()
    }

    pub(crate) async fn store(&self) -> Store {
        Store::open(&Secret::new(self.store_url()))
            .await
            .expect("open store")
    }

    /// The fake cluster's config with this env's cluster name, store and Redis.
    pub(crate) fn config(&self, cluster: &FakeCluster, remind_every: &str) -> String {
        cluster
            .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 1000)
            .replacen(
                "name = \"fake\"",
                &format!("name = \"{}\"", self.cluster),
                1,
            )
            + &format!(
                "[store]\nurl = \"{}\"\n[watch]\nevery = \"300ms\"\nprobes = [\"health\"]\nconfirm = 2\nlease_ttl = \"2s\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nremind_every = \"{remind_every}\"\n",
                self.store_url()
            )
    }

    fn leader(&self) -> Option<String> {
        redis_get_blocking(&lease_key(&self.cluster)).filter(|v| !v.is_empty())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // The database drops itself; the lease keys are named after the cluster.
        let key = lease_key(&self.cluster);
        redis_del_blocking(&[&key, &format!("{key}:fence")]);
    }
}

pub(crate) fn env_lookup(name: &str) -> Option<String> {
    demo_env()
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn healthy2() -> Vec<FakeNodeSpec> {
    vec![
        FakeNodeSpec::healthy("aisbf-1"),
        FakeNodeSpec::healthy("aisbf-2"),
    ]
}

/// Watch mode's chat in these tests.
type Recorder = RecordingSurface;

async fn runner(env: &Env, cluster: &FakeCluster, remind_every: &str) -> (Runner, Arc<Recorder>) {
    runner_with(env, &env.config(cluster, remind_every)).await
}

async fn runner_with(env: &Env, text: &str) -> (Runner, Arc<Recorder>) {
    let config = aisbf_doctor::config::parse(text, &env_lookup).expect("config");
    let recorder = Arc::new(Recorder::default());
    let runner = Runner::new(
        Arc::new(config),
        env.store().await,
        recorder.clone(),
        Metrics::new(),
    )
    .await
    .expect("runner");
    (runner, recorder)
}

async fn tick(r: &Runner) -> Tick {
    r.tick().await.expect("tick")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_seen_for_one_run_is_not_announced_and_recovery_is_announced_once() {
    let env = Env::create("flap");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let (r, rec) = runner(&env, &cluster, "24h").await;
    let node = &cluster.nodes[1];

    // Flapping: failing for one run at a time, with confirm = 2.
    for _ in 0..3 {
        node.set_failing(true);
        assert!(matches!(tick(&r).await, Tick::Ran { .. }));
        node.set_failing(false);
        tick(&r).await;
    }
    assert!(
        rec.posts().is_empty(),
        "flapping announced: {:?}",
        rec.posts()
    );
    let store = env.store().await;
    assert!(
        store
            .open_incident_of(&env.cluster)
            .await
            .expect("q")
            .is_none()
    );

    // A failure that holds is announced once, and opens a follow-up.
    node.set_failing(true);
    tick(&r).await;
    tick(&r).await;
    tick(&r).await;
    assert_eq!(rec.posts(), vec!["open NewFailure".to_string()]);
    let incident = store
        .open_incident_of(&env.cluster)
        .await
        .expect("q")
        .expect("incident open");
    assert_eq!(incident.culprits, vec!["aisbf-2".to_string()]);
    assert_eq!(incident.thread_id.as_deref(), Some("111111111111111111"));
    let open = store
        .open_follow_ups_of(Some(&env.cluster))
        .await
        .expect("q");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].subject, "aisbf-2");

    // Recovery: one healthy run is not enough; then announced once.
    node.set_failing(false);
    tick(&r).await;
    assert_eq!(rec.posts().len(), 1);
    tick(&r).await;
    tick(&r).await;
    assert_eq!(
        rec.posts(),
        vec![
            "open NewFailure".to_string(),
            "close 111111111111111111".to_string()
        ]
    );
    let closed = store.incident(incident.id).await.expect("q").expect("row");
    assert_eq!(closed.state, "closed");
    assert_eq!(closed.closed_by.as_deref(), Some("watch"));
    assert!(
        closed.summary.starts_with("Recovered"),
        "{}",
        closed.summary
    );
    assert!(
        store
            .open_follow_ups_of(Some(&env.cluster))
            .await
            .expect("q")
            .is_empty(),
        "the healthy runs repaired the follow-up"
    );
    let runs = store.recent_runs(100).await.expect("runs");
    assert_eq!(runs.len(), 12);
    assert!(runs.iter().all(|r| r.requested_by == "watch"));
    r.release().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_follow_up_is_reminded_in_its_thread_once_per_interval() {
    let env = Env::create("remind");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let (r, rec) = runner(&env, &cluster, "1h").await;
    cluster.nodes[1].set_failing(true);
    tick(&r).await;
    tick(&r).await;
    tick(&r).await;
    assert_eq!(
        rec.posts(),
        vec!["open NewFailure".to_string()],
        "not due yet"
    );
    let store = env.store().await;
    let fu = store
        .open_follow_ups_of(Some(&env.cluster))
        .await
        .expect("q");
    assert_eq!(fu.len(), 1);
    // Last reminded two hours ago: due now, once.
    store
        .mark_reminded(fu[0].id, now_ms() - 2 * 3600 * 1000)
        .await
        .expect("backdate");
    tick(&r).await;
    tick(&r).await;
    assert_eq!(
        rec.posts(),
        vec![
            "open NewFailure".to_string(),
            "post 111111111111111111 Reminder".to_string()
        ]
    );
    let after = store.follow_up(fu[0].id).await.expect("q").expect("row");
    assert!(after.last_reminded_at_ms.unwrap_or(0) > now_ms() - 60_000);
    r.release().await;
}

/// Runs `watch --once` once with the test's config.
async fn once(cfg: &ConfigFile) -> Run {
    run_cli(cfg, &["watch", "--once"], &demo_env()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_watch_neither_re_announces_an_open_incident_nor_loses_its_follow_ups() {
    let env = Env::create("restart");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let cfg = config_file(&env.config(&cluster, "24h"));
    cluster.nodes[1].set_failing(true);

    // Each `--once` is a new process: the pending count survives in the store.
    let first = once(&cfg).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, "", "one failing run is not announced yet");
    let second = once(&cfg).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let lines: Vec<&str> = second.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", second.stdout);
    assert!(
        lines[0].starts_with("change=new_failure layer=node culprits=aisbf-2 thread="),
        "{}",
        lines[0]
    );
    for _ in 0..2 {
        let again = once(&cfg).await;
        assert_eq!(again.stdout, "", "re-announced after a restart");
    }

    // A newcomer sees the incident and its follow-up.
    let list = run_cli(&cfg, &["incidents"], &demo_env()).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("open"), "{}", list.stdout);
    assert!(
        list.stdout.contains("node_server_error on aisbf-2"),
        "{}",
        list.stdout
    );

    // Recovery after restarts: announced once, by whichever process confirms it.
    cluster.nodes[1].set_failing(false);
    let mut recoveries = 0;
    for _ in 0..3 {
        let r = once(&cfg).await;
        recoveries += r.stdout.matches("change=recovery").count();
    }
    assert_eq!(recoveries, 1);
    let list = run_cli(&cfg, &["incidents"], &demo_env()).await;
    assert!(
        list.stdout.contains("No open follow-ups."),
        "{}",
        list.stdout
    );
}

/// One `aisbf-doctor watch` replica with its stdout collected.
struct Replica {
    child: tokio::process::Child,
    pid: u32,
}

fn spawn_replica(
    cfg: &ConfigFile,
    index: usize,
    lines: Arc<Mutex<Vec<(usize, String)>>>,
) -> Replica {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg.path)
        .arg("watch")
        .env_remove("AISBF_DOCTOR_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in demo_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn watch");
    let pid = child.id().expect("pid");
    let stdout = child.stdout.take().expect("stdout");
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Ok(mut l) = lines.lock() {
                l.push((index, line));
            }
        }
    });
    Replica { child, pid }
}

fn count(lines: &Arc<Mutex<Vec<(usize, String)>>>, change: &str) -> usize {
    lines
        .lock()
        .map(|l| l.iter().filter(|(_, s)| s.contains(change)).count())
        .unwrap_or(0)
}

/// Polls `cond` every 100 ms for up to `limit` (a generous bound, not a measurement).
pub(crate) async fn eventually(limit: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_announce_each_change_once_when_the_leader_is_killed() {
    let env = Env::create("replicas");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let cfg = config_file(&env.config(&cluster, "24h"));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let store = env.store().await;
    cluster.nodes[1].set_failing(true);
    let mut replicas = vec![
        spawn_replica(&cfg, 0, lines.clone()),
        spawn_replica(&cfg, 1, lines.clone()),
    ];

    // The failure is announced and recorded with its thread.
    assert!(
        eventually(Duration::from_secs(60), async || {
            matches!(
                store.open_incident_of(&env.cluster).await,
                Ok(Some(i)) if i.thread_id.is_some()
            )
        })
        .await,
        "no incident opened; lines: {:?}",
        lines.lock().map(|l| l.clone())
    );

    // SIGKILL the leader: no release, its lease must lapse.
    let holder = env.leader().expect("a leader holds the lease");
    let leader = replicas
        .iter()
        .position(|r| holder.starts_with(&format!("pid{}-", r.pid)))
        .expect("the lease holder is one of the replicas");
    replicas[leader].child.start_kill().expect("kill");
    let _ = replicas[leader].child.wait().await;
    let killed = Instant::now();
    let survivor = replicas[1 - leader].pid;
    assert!(
        eventually(Duration::from_secs(20), async || {
            env.leader()
                .is_some_and(|h| h.starts_with(&format!("pid{survivor}-")))
        })
        .await,
        "the survivor never took the lease"
    );
    eprintln!(
        "takeover after SIGKILL: {} ms (lease_ttl 2000 ms)",
        killed.elapsed().as_millis()
    );

    // The new leader announces the recovery, once, and never the failure again.
    cluster.nodes[1].set_failing(false);
    assert!(
        eventually(Duration::from_secs(60), async || count(
            &lines,
            "change=recovery"
        ) >= 1)
        .await,
        "recovery never announced: {:?}",
        lines.lock().map(|l| l.clone())
    );
    // A few more runs of the survivor: nothing more to say.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = lines.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(count(&lines, "change=new_failure"), 1, "{all:?}");
    assert_eq!(count(&lines, "change=recovery"), 1, "{all:?}");
    assert_eq!(count(&lines, "change=escalation"), 0, "{all:?}");
    let incidents = store.incidents(10).await.expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].state, "closed");
    let survivor_index = 1 - leader;
    assert!(
        all.iter()
            .any(|(i, s)| *i == survivor_index && s.contains("change=recovery")),
        "the recovery came from the survivor: {all:?}"
    );
    for r in &mut replicas {
        let _ = r.child.start_kill();
        let _ = r.child.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_announcement_is_retried_on_the_next_run_and_not_marked_announced() {
    let env = Env::create("retry");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let (r, rec) = runner(&env, &cluster, "24h").await;
    let store = env.store().await;
    cluster.nodes[1].set_failing(true);
    rec.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    tick(&r).await;
    assert_eq!(
        tick(&r).await,
        Tick::Ran {
            status: aisbf_doctor::finding::Severity::Fail,
            announced: vec![]
        }
    );
    assert!(
        store
            .open_incident_of(&env.cluster)
            .await
            .expect("q")
            .is_none(),
        "no incident without its announcement"
    );
    // Discord is back: the very next run announces, once.
    rec.fail.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        tick(&r).await,
        Tick::Ran {
            status: aisbf_doctor::finding::Severity::Fail,
            announced: vec![aisbf_doctor::watch::Change::NewFailure]
        }
    );
    tick(&r).await;
    assert_eq!(rec.posts(), vec!["open NewFailure".to_string()]);
    assert!(
        store
            .open_incident_of(&env.cluster)
            .await
            .expect("q")
            .is_some()
    );
    r.release().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_deposed_during_a_run_posts_nothing_and_the_new_leader_announces() {
    let env = Env::create("fence");
    let mut slow = FakeNodeSpec::healthy("aisbf-1");
    slow.delay = Duration::from_millis(1500);
    let cluster = FakeCluster::start(vec![slow, FakeNodeSpec::healthy("aisbf-2")])
        .await
        .expect("fake");
    cluster.nodes[1].set_failing(true);
    let text = env
        .config(&cluster, "24h")
        .replace("confirm = 2", "confirm = 1")
        .replace("timeout_ms = 1000", "timeout_ms = 4000");
    let (a, a_rec) = runner_with(&env, &text).await;
    let (b, b_rec) = runner_with(&env, &text).await;
    let a = Arc::new(a);
    let run = tokio::spawn({
        let a = a.clone();
        async move { a.tick().await.expect("tick") }
    });
    // While a's probes wait on the slow node, its lease is taken over.
    assert!(
        eventually(Duration::from_secs(10), async || env.leader().is_some()).await,
        "a never took the lease"
    );
    redis_del_blocking(&[&lease_key(&env.cluster)]);
    assert!(b.lead().await, "b takes the freed lease");
    assert_eq!(run.await.expect("join"), Tick::Deposed);
    assert!(
        a_rec.posts().is_empty(),
        "deposed leader posted: {:?}",
        a_rec.posts()
    );
    let store = env.store().await;
    assert!(
        store
            .open_incident_of(&env.cluster)
            .await
            .expect("q")
            .is_none()
    );
    // The new leader sees the failure and announces it.
    match tick(&b).await {
        Tick::Ran { announced, .. } => {
            assert_eq!(announced, vec![aisbf_doctor::watch::Change::NewFailure])
        }
        other => panic!("b did not run: {other:?}"),
    }
    assert_eq!(b_rec.posts(), vec!["open NewFailure".to_string()]);
    b.release().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_endpoint_shows_runs_and_leadership_and_sigterm_releases_the_lease() {
    let env = Env::create("metrics");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = config_file(&format!(
        "{}[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        env.config(&cluster, "24h")
    ));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut replica = spawn_replica(&cfg, 0, lines);
    let client = reqwest::Client::new();
    let get = async |path: &str| -> Option<String> {
        let r = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())?;
        r.text().await.ok()
    };
    let mut text = String::new();
    assert!(
        eventually(Duration::from_secs(30), async || {
            text = get("/metrics").await.unwrap_or_default();
            // The sample line itself (the HELP text also says "leader 1").
            text.lines().any(|l| l == "aisbf_doctor_leader 1")
                && text.contains("aisbf_doctor_node_up{cluster=")
                && !text.contains("aisbf_doctor_runs_total 0")
        })
        .await,
        "metrics never showed a leader with runs: {text}"
    );
    assert!(
        text.contains("aisbf_doctor_probe_duration_seconds_count{probe=\"health\"}"),
        "{text}"
    );
    assert_eq!(get("/healthz").await.as_deref(), Some("ok\n"));
    assert!(env.leader().is_some());

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &replica.pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(killed);
    let status = tokio::time::timeout(Duration::from_secs(30), replica.child.wait())
        .await
        .expect("watch stops on SIGTERM")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    assert_eq!(env.leader(), None, "a clean stop releases the lease");
}

/// The same rules on either backend: the state round-trips, and a write with
/// an older lease fence than the stored one is refused.
async fn watch_state_fencing(url: &Secret) {
    use aisbf_doctor::watch::{Condition, WatchState};
    let store = Store::open(url).await.expect("open");
    assert_eq!(store.watch_state("prod").await.expect("q"), None);
    let newer = WatchState {
        pending: Some((Condition::healthy(), 1)),
        ..WatchState::default()
    };
    assert!(
        store
            .save_watch_state("prod", &WatchState::default(), 3)
            .await
            .expect("w")
    );
    assert!(store.save_watch_state("prod", &newer, 4).await.expect("w"));
    assert!(
        !store
            .save_watch_state("prod", &WatchState::default(), 3)
            .await
            .expect("w"),
        "a deposed leader's write is refused"
    );
    assert_eq!(
        store.watch_state("prod").await.expect("q"),
        Some(newer.clone())
    );
    assert_eq!(store.watch_state("other").await.expect("q"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_state_refuses_an_older_fence_on_sqlite_and_mariadb() {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = Secret::new(format!("sqlite://{}", dir.path().join("s.db").display()));
    watch_state_fencing(&sqlite).await;
    let env = Env::create("fencing");
    watch_state_fencing(&Secret::new(env.store_url())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_serve_replicas_post_each_change_to_discord_once_when_the_leader_is_killed() {
    use crate::discord_support::{INCIDENT_CHANNEL, discord_section, free_port, spawn_serve};
    let env = Env::create("serve");
    let cluster = FakeCluster::start(healthy2()).await.expect("fake");
    let fake = fake_discord::FakeDiscord::start()
        .await
        .expect("fake discord");
    let threads = format!("/channels/{INCIDENT_CHANNEL}/threads");
    let store = env.store().await;
    cluster.nodes[1].set_failing(true);
    let mut replicas: Vec<_> = (0..2)
        .map(|_| {
            let endpoint = format!("127.0.0.1:{}", free_port());
            spawn_serve(&format!(
                "{}\n{}",
                env.config(&cluster, "24h"),
                discord_section(&fake.api_base(), "http", &endpoint)
            ))
        })
        .collect();

    // The failure opens one thread in the incident channel.
    let opened = fake
        .wait_for("POST", &threads, 1, Duration::from_secs(60))
        .await;
    assert_eq!(opened.len(), 1, "no incident thread opened");
    // Kill only once the leader has recorded the thread (the documented
    // at-least-once window is between the post and that write).
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

    // SIGKILL the leader; the survivor takes the lease.
    let holder = env.leader().expect("a leader holds the lease");
    let leader = replicas
        .iter()
        .position(|r| {
            r.child
                .id()
                .is_some_and(|p| holder.starts_with(&format!("pid{p}-")))
        })
        .expect("the lease holder is one of the replicas");
    replicas[leader].child.start_kill().expect("kill");
    let _ = replicas[leader].child.wait().await;
    let survivor = replicas[1 - leader].child.id().expect("survivor pid");
    assert!(
        eventually(Duration::from_secs(20), async || {
            env.leader()
                .is_some_and(|h| h.starts_with(&format!("pid{survivor}-")))
        })
        .await,
        "the survivor never took the lease"
    );

    // The survivor announces the recovery (the incident closes), and nothing twice.
    cluster.nodes[1].set_failing(false);
    assert!(
        eventually(Duration::from_secs(60), async || {
            matches!(store.incidents(10).await.as_deref(), Ok([i]) if i.state == "closed")
        })
        .await,
        "recovery never announced"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fake.matching("POST", &threads).len(),
        1,
        "failure posted twice"
    );
    let thread = store.incidents(10).await.expect("incidents")[0]
        .thread_id
        .clone()
        .expect("thread id");
    let archived: Vec<_> = fake
        .matching("PATCH", &format!("/channels/{thread}"))
        .into_iter()
        .filter(|r| r.json.get("archived").is_some())
        .collect();
    assert_eq!(
        archived.len(),
        1,
        "recovery closed the thread {} times",
        archived.len()
    );
    for r in &mut replicas {
        let _ = r.child.start_kill();
        let _ = r.child.wait().await;
    }
}
