//! Observations for the unit tests of `check health`.

use crate::finding::{Code, Finding, Severity};
use crate::http::{Answer, Body, Outcome};
use crate::probe::health::NodeObservation;
use serde_json::json;

pub(super) fn ok(status: u16, body: serde_json::Value) -> Outcome {
    Ok(Answer {
        status,
        latency_ms: 10,
        body: Body::Json(body.into()),
    })
}

pub(super) fn root() -> Outcome {
    ok(
        200,
        json!({"message": "AI Proxy Server is running", "providers": ["openai"], "rotations": [], "autoselect": []}),
    )
}

pub(super) fn models(ids: &[&str]) -> Outcome {
    let data: Vec<_> = ids
        .iter()
        .map(|i| json!({"id": i, "type": "provider", "created": 1}))
        .collect();
    ok(200, json!({"object": "list", "data": data}))
}

pub(super) fn healthy(name: &str) -> NodeObservation {
    NodeObservation {
        name: name.into(),
        clock_offset_s: Some(0),
        root: root(),
        health: ok(
            401,
            json!({"error": "Missing or invalid Authorization header."}),
        ),
        version: None,
        models: models(&["rotation/r1", "autoselect/a1"]),
        providers: ok(200, json!({"providers": {"p1": {}, "p2": {}}})),
        second_latency_ms: None,
    }
}

pub(super) fn codes_for(findings: &[Finding], subject: &str) -> Vec<Code> {
    findings
        .iter()
        .filter(|f| f.subject == subject)
        .map(|f| f.code)
        .collect()
}

/// Every finding is ok, and `node` has the two ok lines of an auth-gated node.
pub(super) fn assert_all_ok(f: &[Finding], node: &str) {
    assert!(f.iter().all(|x| x.severity == Severity::Ok), "{f:#?}");
    assert_eq!(
        codes_for(f, node),
        vec![Code::HealthAuthGated, Code::NodeOk]
    );
}
