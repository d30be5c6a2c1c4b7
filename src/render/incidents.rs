//! Text views of the incident memory for `aisbf-doctor incidents`.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::inert::inert;
use crate::store::{FollowUp, Incident};

/// `2026-11-28T10:24:00Z` from Unix milliseconds.
pub fn when(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Every culprit (for `show`): the store keeps them all.
fn culprits(i: &Incident) -> String {
    if i.culprits.is_empty() {
        "-".into()
    } else {
        i.culprits.join(", ")
    }
}

/// The first few culprits and how many more, so a listing line stays one
/// line in a large outage.
fn few_culprits(i: &Incident) -> String {
    if i.culprits.is_empty() {
        "-".into()
    } else {
        crate::finding::name_few(&i.culprits, 3, "more")
    }
}

/// Stored text may predate the inert rule (or come from another version):
/// replayed rows are made inert again.
fn inert_incident(i: &Incident) -> Incident {
    let t = |s: &str| inert(s).into_owned();
    Incident {
        cluster: t(&i.cluster),
        culprits: i.culprits.iter().map(|c| t(c)).collect(),
        summary: t(&i.summary),
        thread_id: i.thread_id.as_deref().map(t),
        opened_by: t(&i.opened_by),
        closed_by: i.closed_by.as_deref().map(t),
        ..i.clone()
    }
}

fn inert_follow_up(f: &FollowUp) -> FollowUp {
    let t = |s: &str| inert(s).into_owned();
    FollowUp {
        cluster: t(&f.cluster),
        subject: t(&f.subject),
        note: t(&f.note),
        ..f.clone()
    }
}

/// One line per incident, newest first, then the open follow-ups.
pub fn list(incidents: &[Incident], open_follow_ups: &[FollowUp]) -> String {
    let mut out = String::new();
    if incidents.is_empty() {
        let _ = writeln!(out, "No incidents recorded.");
    }
    for i in incidents {
        let i = &inert_incident(i);
        let _ = writeln!(
            out,
            "#{:<4} {:<6} {:<10} {:<9} {:<24} opened {} by {}",
            i.id,
            i.state,
            i.cluster,
            <&str>::from(i.layer),
            few_culprits(i),
            when(i.opened_at_ms),
            i.opened_by
        );
    }
    let _ = writeln!(out);
    if open_follow_ups.is_empty() {
        let _ = writeln!(out, "No open follow-ups.");
    } else {
        let _ = writeln!(
            out,
            "Open follow-ups (drift worked around, not yet repaired):"
        );
        for f in open_follow_ups {
            let _ = writeln!(out, "{}", follow_up_line(f));
        }
    }
    out
}

fn follow_up_line(f: &FollowUp) -> String {
    let f = &inert_follow_up(f);
    let state = match f.repaired_at_ms {
        Some(t) => format!("repaired {}", when(t)),
        None => format!("open since {}", when(f.opened_at_ms)),
    };
    format!(
        "  [{}] {} {} on {}: {} ({state})",
        f.id,
        f.cluster,
        f.code.as_str(),
        f.subject,
        f.note
    )
}

/// One incident in full, with its follow-ups.
pub fn show(i: &Incident, follow_ups: &[FollowUp]) -> String {
    let i = &inert_incident(i);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Incident #{} ({}) on cluster {}",
        i.id, i.state, i.cluster
    );
    let _ = writeln!(out, "layer:    {}", <&str>::from(i.layer));
    let _ = writeln!(out, "culprits: {}", culprits(i));
    let _ = writeln!(out, "opened:   {} by {}", when(i.opened_at_ms), i.opened_by);
    if let Some(t) = i.closed_at_ms {
        let _ = writeln!(
            out,
            "closed:   {} by {}",
            when(t),
            i.closed_by.as_deref().unwrap_or("-")
        );
    }
    if let Some(t) = &i.thread_id {
        let _ = writeln!(out, "thread:   {t}");
    }
    let _ = writeln!(out, "summary:  {}", i.summary);
    if !follow_ups.is_empty() {
        let _ = writeln!(out, "follow-ups:");
        for f in follow_ups {
            let _ = writeln!(out, "{}", follow_up_line(f));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;
    use crate::store::IncidentState;
    use crate::verdict::Layer;

    #[test]
    fn a_stored_summary_with_escape_sequences_is_replayed_inert() {
        let i = Incident {
            id: 1,
            cluster: "prod".into(),
            state: IncidentState::Open,
            layer: Layer::Node,
            culprits: vec!["aisbf-2\u{1b}[2J".into()],
            summary: "bad\nverdict: OK\u{7}".into(),
            thread_id: None,
            opened_at_ms: 0,
            opened_by: "watch".into(),
            closed_at_ms: None,
            closed_by: None,
        };
        let out = show(&i, &[]);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(
            out.contains("summary:  bad\\u{a}verdict: OK\\u{7}"),
            "{out}"
        );
        assert!(!out.lines().any(|l| l.starts_with("verdict:")), "{out}");
    }

    #[test]
    fn a_large_outage_lists_a_few_culprits_and_shows_them_all() {
        let i = Incident {
            id: 9,
            cluster: "prod".into(),
            state: IncidentState::Open,
            layer: Layer::Node,
            culprits: (0..1000).map(|n| format!("aisbf-{n:04}")).collect(),
            summary: "s".into(),
            thread_id: None,
            opened_at_ms: 0,
            opened_by: "watch".into(),
            closed_at_ms: None,
            closed_by: None,
        };
        let listed = list(std::slice::from_ref(&i), &[]);
        let line = listed.lines().next().unwrap_or_default();
        assert!(
            line.contains("aisbf-0000, aisbf-0001, aisbf-0002 and 997 more"),
            "{line}"
        );
        assert!(line.len() < 200, "{line}");
        assert!(show(&i, &[]).contains("aisbf-0999"));
    }

    #[test]
    fn when_formats_utc_seconds() {
        assert_eq!(when(0), "1970-01-01T00:00:00Z");
        assert_eq!(when(1_764_325_440_000), "2025-11-28T10:24:00Z");
    }

    #[test]
    fn list_shows_open_follow_ups_after_incidents() {
        let i = Incident {
            id: 7,
            cluster: "prod".into(),
            state: IncidentState::Closed,
            layer: Layer::Node,
            culprits: vec!["aisbf-2".into()],
            summary: "s".into(),
            thread_id: None,
            opened_at_ms: 0,
            opened_by: "watch".into(),
            closed_at_ms: Some(1),
            closed_by: Some("alice".into()),
        };
        let f = FollowUp {
            id: 3,
            incident_id: Some(7),
            cluster: "prod".into(),
            subject: "aisbf-2".into(),
            code: Code::TokenRejectedOnNode,
            note: "rejects the token".into(),
            opened_at_ms: 0,
            repaired_at_ms: None,
            last_reminded_at_ms: None,
        };
        let text = list(&[i], &[f]);
        assert!(text.contains("#7"), "{text}");
        assert!(
            text.contains("[3] prod token_rejected_on_node on aisbf-2"),
            "{text}"
        );
    }
}
