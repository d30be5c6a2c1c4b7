//! The incident memory against a real SQLite file and a real MariaDB database.

use aisbf_doctor::engine::Report;
use aisbf_doctor::finding::{Code, ProbeKind, Severity};
use aisbf_doctor::secret::Secret;
use aisbf_doctor::store::{Store, now_ms};

use crate::helpers::*;
use crate::report_fixtures::f;

fn failing_report() -> Report {
    Report::from_findings(
        "prod",
        vec![
            f(Severity::Ok, "aisbf-1", Code::NodeOk, "up"),
            f(
                Severity::Fail,
                "aisbf-2",
                Code::TokenRejectedOnNode,
                "rejects the token",
            ),
        ],
        None,
        12,
    )
}

fn healthy_report() -> Report {
    Report::from_findings(
        "prod",
        vec![
            f(Severity::Ok, "aisbf-1", Code::NodeOk, "up"),
            f(Severity::Ok, "aisbf-2", Code::NodeOk, "up"),
        ],
        None,
        10,
    )
}

/// The same lifecycle on either backend.
async fn lifecycle(url: &Secret) {
    let store = Store::open(url).await.expect("open");
    let run = store
        .start_run("prod", "alice", &[ProbeKind::Health])
        .await
        .expect("start");
    let report = failing_report();
    store.finish_run(run, &report).await.expect("finish");
    let incident = store
        .open_incident("prod", &report, "alice")
        .await
        .expect("incident");
    store
        .set_thread(incident.id, "123456789012345678")
        .await
        .expect("thread");
    let opened = store
        .open_follow_ups("prod", Some(incident.id), &report)
        .await
        .expect("follow-ups");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].subject, "aisbf-2");
    // The same drift again opens nothing new.
    assert!(
        store
            .open_follow_ups("prod", Some(incident.id), &report)
            .await
            .expect("again")
            .is_empty()
    );
    // A run killed mid-way stays "running" until marked interrupted.
    store
        .start_run("prod", "watch", &[ProbeKind::Health])
        .await
        .expect("start 2");
    drop(store);

    // After a restart, everything is still there.
    let store = Store::open(url).await.expect("reopen");
    assert_eq!(
        store
            .mark_interrupted(now_ms() + 1)
            .await
            .expect("interrupted"),
        1
    );
    let runs = store.recent_runs(10).await.expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].status, "interrupted");
    assert_eq!(runs[1].status, "fail");
    assert_eq!(runs[1].layer.as_deref(), Some("auth"));
    let open = store
        .open_incident_of("prod")
        .await
        .expect("open incident")
        .expect("some");
    assert_eq!(open.thread_id.as_deref(), Some("123456789012345678"));
    assert_eq!(open.culprits, vec!["aisbf-2".to_string()]);
    assert_eq!(
        store
            .open_follow_ups_of(Some("prod"))
            .await
            .expect("open")
            .len(),
        1
    );

    // Closing the incident (routing around the node) leaves the follow-up open...
    store
        .close_incident(open.id, "bob", "routed around aisbf-2")
        .await
        .expect("close");
    assert!(
        store
            .open_incident_of("prod")
            .await
            .expect("none")
            .is_none()
    );
    assert_eq!(
        store
            .open_follow_ups_of(None)
            .await
            .expect("still open")
            .len(),
        1
    );
    // ...until a run shows the node repaired.
    let repaired = store
        .repair_follow_ups("prod", &healthy_report())
        .await
        .expect("repair");
    assert_eq!(repaired.len(), 1);
    assert!(
        store
            .open_follow_ups_of(None)
            .await
            .expect("none open")
            .is_empty()
    );

    // Discord may deliver an interaction twice: only the first claim wins.
    assert!(
        store
            .claim_interaction("1100000000000000001")
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_interaction("1100000000000000001")
            .await
            .expect("claim again")
    );
}

#[tokio::test]
async fn sqlite_store_keeps_history_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let url = Secret::new(format!(
        "sqlite://{}",
        dir.path().join("doctor.db").display()
    ));
    lifecycle(&url).await;
}

#[tokio::test]
async fn mariadb_store_keeps_history_across_restarts() {
    let db = TestDb::create("store");
    lifecycle(&db.secret_url()).await;
}

#[tokio::test]
async fn wrong_store_password_is_a_clear_error_without_the_password() {
    let url = Secret::new("mysql://root:hunter2-store-pw@127.0.0.1:3306/nope");
    let err = match Store::open(&url).await {
        Ok(_) => panic!("opened with a wrong password"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cannot open the store"), "{err}");
    assert!(!err.contains("hunter2-store-pw"), "{err}");
}

#[tokio::test]
async fn incidents_command_shows_open_follow_ups_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("doctor.db");
    let url = Secret::new(format!("sqlite://{}", db.display()));
    {
        let store = Store::open(&url).await.expect("open");
        let report = failing_report();
        let incident = store
            .open_incident("prod", &report, "watch")
            .await
            .expect("incident");
        store
            .open_follow_ups("prod", Some(incident.id), &report)
            .await
            .expect("follow-ups");
    }
    let cfg = config_file(&format!(
        "[cluster]\nname = \"prod\"\nuser = \"alice\"\ntoken = \"t\"\n[[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://127.0.0.1:9\"\n[store]\nurl = \"sqlite://{}\"\n",
        db.display()
    ));
    let run = run_cli(&cfg, &["incidents"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("#1"), "{}", run.stdout);
    assert!(
        run.stdout.contains("token_rejected_on_node on aisbf-2"),
        "{}",
        run.stdout
    );
    let run = run_cli(&cfg, &["incidents", "show", "1"], &[]).await;
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("Incident #1 (open) on cluster prod"),
        "{}",
        run.stdout
    );
    let run = run_cli(&cfg, &["incidents", "show", "99"], &[]).await;
    assert_eq!(run.code, 3);
}
