//! The leader lease against a real Redis.

use std::time::Duration;

use aisbf_doctor::lease::Lease;
use aisbf_doctor::secret::Secret;

use crate::helpers::{OwnRedis, REDIS_URL, TestPrefix};

fn redis_url() -> Secret {
    Secret::new(REDIS_URL)
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_after_the_lease_lapses() {
    let prefix = TestPrefix::new("lease");
    let key = format!("{}lease", prefix.0);
    let ttl = Duration::from_millis(400);
    let mut a = Lease::connect(&redis_url(), &key, "replica-a", ttl)
        .await
        .expect("a");
    let mut b = Lease::connect(&redis_url(), &key, "replica-b", ttl)
        .await
        .expect("b");

    assert!(a.tick().await.expect("a tick"), "a takes the free lease");
    assert!(
        !b.tick().await.expect("b tick"),
        "b cannot while a holds it"
    );
    assert!(a.still_leader().await.expect("a check"));
    // Renewal keeps it past the original TTL.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(a.tick().await.expect("renew"));
        assert!(!b.tick().await.expect("b waits"));
    }
    let a_fence = a.fence().expect("fence");

    // a stops renewing (paused, killed): after one lease b takes over...
    tokio::time::sleep(ttl + Duration::from_millis(150)).await;
    assert!(b.tick().await.expect("b takes over"));
    assert!(b.fence().expect("b fence") > a_fence, "fence moves forward");
    // ...and a, waking up, is fenced off before it can post.
    assert!(!a.still_leader().await.expect("a fenced"));
    assert!(!a.tick().await.expect("a cannot renew"));
    b.release().await.expect("release");
    assert!(a.tick().await.expect("a again after release"));
}

#[tokio::test]
async fn unreachable_redis_is_an_error_not_a_hang() {
    let url = Secret::new("redis://127.0.0.1:1/0");
    let started = std::time::Instant::now();
    let r = Lease::connect(&url, "k", "h", Duration::from_secs(1)).await;
    assert!(r.is_err());
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn the_lease_reconnects_after_a_redis_restart_and_takes_a_fence_above_the_floor() {
    let mut redis = OwnRedis::start(&[]).await;
    let ttl = Duration::from_millis(600);
    let mut a = Lease::connect(&redis.url(), "restart:lease", "replica-a", ttl)
        .await
        .expect("a");
    assert!(a.acquire(0).await.expect("take"));
    assert_eq!(a.fence(), Some(1));

    redis.kill();
    assert!(a.renew().await.is_err(), "no Redis, no renewal");
    assert!(a.unreachable_since().is_some());

    // Back without persistence: the counter is gone, the floor (the fence
    // stored with the watch state) keeps the new fence above the old ones.
    redis.restart().await;
    let mut leads = false;
    for _ in 0..50 {
        leads = matches!(a.renew().await, Ok(true)) || matches!(a.acquire(7).await, Ok(true));
        if leads {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(leads, "the lease never reconnected");
    assert_eq!(a.fence(), Some(8), "above the floor of 7");
    assert!(a.unreachable_since().is_none());
    assert!(a.still_leader().await.expect("check"));

    // The counter alone lost under a held lease: renewal gives it up, and
    // taking it again stays above the floor.
    let mut con = redis.connection().await;
    let _: i64 = redis::cmd("DEL")
        .arg("restart:lease:fence")
        .query_async(&mut con)
        .await
        .expect("del");
    assert!(
        !a.renew().await.expect("renew"),
        "a lost fence is not renewed"
    );
    assert!(a.acquire(8).await.expect("take again"));
    assert_eq!(a.fence(), Some(9));
}
