//! `cache flush` end to end against a real Redis: refusals, confirmation,
//! glob characters, concurrent writers, and a 1,000,000-key run whose peak RSS
//! is compared with a 100,000-key run.

use std::process::Stdio;

use crate::cache::cache_config;
use crate::helpers::*;

/// Writes `n` keys `<prefix><i>` with pipelining, in batches.
async fn load(con: &mut redis::aio::MultiplexedConnection, prefix: &str, n: usize) {
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let mut pipe = redis::pipe();
        for k in i..end {
            pipe.cmd("SET")
                .arg(format!("{prefix}{k}"))
                .arg("v")
                .ignore();
        }
        let _: () = pipe.query_async(con).await.expect("load");
        i = end;
    }
}

/// Keys under `prefix`, counted with SCAN.
async fn count(con: &mut redis::aio::MultiplexedConnection, prefix: &str) -> u64 {
    aisbf_doctor::flush::count(con, prefix, 5000)
        .await
        .expect("count")
}

async fn flush_cli(cfg: &ConfigFile, prefix: &str, extra: &[&str], stdin: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg.path)
        .args(["cache", "flush", "--prefix", prefix])
        .args(extra)
        .env_remove("AISBF_DOCTOR_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes()).await;
    }
    child.wait_with_output().await.expect("run").into()
}

struct Layout {
    root: TestPrefix,
    prod: String,
    response: String,
    staging: String,
}

fn layout(tag: &str) -> Layout {
    let root = TestPrefix::new(tag);
    let prod = format!("{}prod:", root.0);
    Layout {
        response: format!("{prod}response:"),
        staging: format!("{}staging:", root.0),
        prod,
        root,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unsafe_prefixes_are_refused_and_nothing_is_deleted() {
    let l = layout("refuse");
    let mut con = redis().await;
    load(&mut con, &l.prod, 50).await;
    load(&mut con, &l.staging, 50).await;
    let cfg = cache_config(REDIS_URL, &l.prod, &l.response, &l.staging, &[]);
    for bad in [
        "".to_string(),
        "*".to_string(),
        l.root.0.clone(),
        l.staging.clone(),
        format!("{}*", l.prod),
    ] {
        let run = flush_cli(&cfg, &bad, &["--yes"], "").await;
        assert_eq!(run.code, 3, "{bad:?}: {}", run.stderr);
        assert!(run.stderr.contains("refusing"), "{bad:?}: {}", run.stderr);
    }
    // A declared prefix that contains another environment's is refused too.
    let wide = cache_config(
        REDIS_URL,
        &l.root.0,
        &format!("{}response:", l.root.0),
        &l.staging,
        &[],
    );
    let run = flush_cli(&wide, &l.root.0, &["--yes"], "").await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("staging"), "{}", run.stderr);
    assert_eq!(count(&mut con, &l.prod).await, 50);
    assert_eq!(count(&mut con, &l.staging).await, 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_asks_first_and_deletes_only_after_yes() {
    let l = layout("confirm");
    let mut con = redis().await;
    load(&mut con, &l.prod, 300).await;
    load(&mut con, &l.staging, 30).await;
    let cfg = cache_config(REDIS_URL, &l.prod, &l.response, &l.staging, &[]);
    let run = flush_cli(&cfg, &l.prod, &[], "n\n").await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("300 keys match"), "{}", run.stderr);
    assert_eq!(count(&mut con, &l.prod).await, 300);
    let run = flush_cli(&cfg, &l.prod, &[], "").await;
    assert_eq!(run.code, 3, "no answer is no: {}", run.stderr);
    assert_eq!(count(&mut con, &l.prod).await, 300);
    let run = flush_cli(&cfg, &l.prod, &["--batch", "64"], "y\n").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("deleted 300 keys"), "{}", run.stdout);
    assert_eq!(count(&mut con, &l.prod).await, 0);
    assert_eq!(count(&mut con, &l.staging).await, 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn glob_characters_in_the_prefix_match_only_themselves() {
    let l = layout("glob");
    let prod = format!("{}a?[b]:", l.root.0);
    let lookalike = format!("{}ax[b]:", l.root.0);
    let lookalike2 = format!("{}ab:", l.root.0);
    let mut con = redis().await;
    load(&mut con, &prod, 40).await;
    load(&mut con, &lookalike, 40).await;
    load(&mut con, &lookalike2, 40).await;
    let cfg = cache_config(
        REDIS_URL,
        &prod,
        &format!("{prod}response:"),
        &l.staging,
        &[],
    );
    let run = flush_cli(&cfg, &prod, &["--yes"], "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("deleted 40 keys"), "{}", run.stdout);
    assert_eq!(count(&mut con, &lookalike).await, 40);
    assert_eq!(count(&mut con, &lookalike2).await, 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_written_outside_the_prefix_during_a_flush_survive() {
    let l = layout("concurrent");
    let mut con = redis().await;
    load(&mut con, &l.prod, 100_000).await;
    let cfg = cache_config(REDIS_URL, &l.prod, &l.response, &l.staging, &[]);
    let staging = l.staging.clone();
    let writer = tokio::spawn(async move {
        let mut con = redis().await;
        let mut written = 0usize;
        // Writes neighbours while the flush runs, bounded in count.
        for batch in 0..200 {
            let mut pipe = redis::pipe();
            for k in 0..100 {
                pipe.cmd("SET")
                    .arg(format!("{staging}{}", batch * 100 + k))
                    .arg("v")
                    .ignore();
            }
            let _: () = pipe.query_async(&mut con).await.expect("write");
            written += 100;
            tokio::task::yield_now().await;
        }
        written
    });
    let run = flush_cli(&cfg, &l.prod, &["--yes", "--batch", "500"], "").await;
    let written = writer.await.expect("writer");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("deleted 100000 keys"), "{}", run.stdout);
    assert_eq!(count(&mut con, &l.prod).await, 0);
    assert_eq!(count(&mut con, &l.staging).await, written as u64);
}

/// Runs a flush of `prefix` and returns (exit code, stdout, peak RSS in KiB) via wait4.
// The child is reaped by wait4 (which also yields its rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn flush_with_peak_rss(cfg: &ConfigFile, prefix: &str) -> (i32, String, i64) {
    use std::io::Read;
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&cfg.path)
        .args(["cache", "flush", "--prefix", prefix, "--yes"])
        .env_remove("AISBF_DOCTOR_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, out, usage.ru_maxrss)
}

#[tokio::test(flavor = "multi_thread")]
async fn million_key_flush_spares_other_prefixes_and_rss_stays_flat() {
    let mut con = redis().await;
    let mut runs = Vec::new();
    for total in [100_000usize, 1_000_000] {
        let l = layout(&format!("m{total}"));
        let others = [
            l.staging.clone(),
            l.response.clone(),
            format!("{}unrelated:", l.root.0),
        ];
        let per = total / 4;
        load(&mut con, &l.prod, per).await;
        for o in &others {
            load(&mut con, o, per).await;
        }
        // The response prefix lives under prod: flush the staging-free sibling instead.
        let target = format!("{}unrelated:", l.root.0);
        let cfg = cache_config(
            REDIS_URL,
            &target,
            &format!("{target}response:"),
            &l.staging,
            &[],
        );
        let (code, out, rss_kib) = flush_with_peak_rss(&cfg, &target);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(&format!("deleted {per} keys")), "{out}");
        assert_eq!(count(&mut con, &target).await, 0);
        assert_eq!(count(&mut con, &l.prod).await, (per * 2) as u64);
        assert_eq!(count(&mut con, &l.staging).await, per as u64);
        runs.push((total, rss_kib, out));
        drop(l);
    }
    let (small, large) = (runs[0].1, runs[1].1);
    eprintln!(
        "peak RSS: 100k keys {small} KiB, 1M keys {large} KiB; {}",
        runs[1].2.trim()
    );
    // Ten times the keys must not mean more memory: allow 25% + 4 MiB of noise.
    assert!(
        large <= small + small / 4 + 4096,
        "peak RSS grew with the key count: {small} KiB -> {large} KiB"
    );
}
