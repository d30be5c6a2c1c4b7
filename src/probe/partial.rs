//! What a probe says when it did less than it was asked: a
//! `probe_incomplete` finding with the count ("812 of 1,000 nodes were checked
//! before the deadline"), never an ok that silently covers what was dropped.

use crate::finding::{Code, Finding, ProbeKind, Severity};

/// `n` with a comma between thousands: 1,000 and 10,000, as in messages.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `Some(finding)` when only `done` of `asked` got through; `what` finishes
/// the sentence ("nodes were checked before the deadline").
pub fn incomplete(
    probe: ProbeKind,
    subject: &str,
    done: usize,
    asked: usize,
    what: &str,
) -> Option<Finding> {
    (done < asked).then(|| {
        Finding::new(
            probe,
            Severity::Warn,
            subject,
            Code::ProbeIncomplete,
            format!("{} of {} {what}", thousands(done), thousands(asked)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (10_000, "10,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }

    #[test]
    fn doing_less_than_asked_is_a_warning_with_both_counts_and_all_of_it_is_nothing() {
        let f = incomplete(
            ProbeKind::Health,
            "health",
            812,
            1000,
            "nodes were checked before the deadline",
        )
        .expect("incomplete");
        assert_eq!(f.severity, Severity::Warn);
        assert_eq!(f.code, Code::ProbeIncomplete);
        assert_eq!(
            f.message,
            "812 of 1,000 nodes were checked before the deadline"
        );
        assert!(incomplete(ProbeKind::Health, "health", 5, 5, "x").is_none());
    }
}
