//! Redis for tests: the shared server on 127.0.0.1:6379 under a fresh key
//! prefix per test ([`TestPrefix`]), or a private redis-server on its own port
//! ([`OwnRedis`]) where a test needs a whole server (memory limits, restarts).

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::TcpListener;

/// The shared server (CI starts it).
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique key prefix for one test; its keys are unlinked when dropped.
pub struct TestPrefix(pub String);

impl TestPrefix {
    pub fn new(tag: &str) -> TestPrefix {
        TestPrefix(format!(
            "aisbf-doctor-test:{tag}:{}:{}:",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        let root = self.0.clone();
        // Drop may run inside or outside a runtime: use a plain thread.
        let _ = std::thread::spawn(move || unlink_under_blocking(&root)).join();
    }
}

/// A blocking connection to the shared server (for cleanup and sync helpers).
fn blocking() -> Option<redis::Connection> {
    redis::Client::open(REDIS_URL).ok()?.get_connection().ok()
}

/// Test cleanup: SCAN + UNLINK everything under `root` (independent of the code under test).
fn unlink_under_blocking(root: &str) {
    let Some(mut con) = blocking() else {
        return;
    };
    let pattern = format!(
        "{}*",
        root.replace('[', "\\[")
            .replace('?', "\\?")
            .replace('*', "\\*")
    );
    let mut cursor: u64 = 0;
    loop {
        let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(5000)
            .query(&mut con)
        else {
            return;
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("UNLINK").arg(&keys).query(&mut con);
        }
        cursor = next;
        if cursor == 0 {
            return;
        }
    }
}

/// The value of `key` on the shared server, if set (sync: usable in polls and `Drop`).
pub fn redis_get_blocking(key: &str) -> Option<String> {
    let mut con = blocking()?;
    redis::cmd("GET")
        .arg(key)
        .query::<Option<String>>(&mut con)
        .ok()?
}

/// Deletes `keys` on the shared server, ignoring failures (cleanup).
pub fn redis_del_blocking(keys: &[&str]) {
    if let Some(mut con) = blocking() {
        let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut con);
    }
}

/// An async connection to the shared server.
pub async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("redis on 127.0.0.1:6379")
}

/// Our own redis-server on a free port, killed when dropped.
pub struct OwnRedis {
    child: std::process::Child,
    pub port: u16,
    args: Vec<String>,
}

impl OwnRedis {
    pub async fn start(extra: &[&str]) -> OwnRedis {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            l.local_addr().expect("addr").port()
        };
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn_redis(port, &args);
        wait_for_redis(port).await;
        OwnRedis { child, port, args }
    }

    pub fn url(&self) -> aisbf_doctor::secret::Secret {
        aisbf_doctor::secret::Secret::new(format!("redis://127.0.0.1:{}/0", self.port))
    }

    /// A connection to this server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url().expose())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to own redis-server")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis(self.port, &self.args);
        wait_for_redis(self.port).await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_redis(port: u16, extra: &[String]) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server must be installed")
}

async fn wait_for_redis(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("redis-server on port {port} did not start");
}
