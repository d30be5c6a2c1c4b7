//! Quoting what failed: each distinct answer once, with the nodes that gave it.

use super::observe::Cell;
use crate::aisbf::ChatResult;

/// Distinct answers quoted in a finding, and node names per answer.
const MAX_ANSWERS: usize = 3;
const MAX_NAMES: usize = 3;

/// One answer as a finding quotes it: status and AISBF's own text.
pub(super) fn quote(r: &ChatResult) -> String {
    let text = |detail: &str| {
        // A bare-text body reads `non-JSON body "..."`: keep only the text.
        let inner = detail
            .strip_prefix("non-JSON body \"")
            .and_then(|d| d.strip_suffix('"'))
            .unwrap_or(detail);
        format!("\"{}\"", crate::http::truncate(inner, 120))
    };
    match r {
        ChatResult::MalformedRoute { detail } => format!("400 {}", text(detail)),
        ChatResult::ProviderFailed { status, detail }
        | ChatResult::NodeError { status, detail } => {
            format!("{status} {}", text(detail))
        }
        other => other.describe(),
    }
}

/// Pure: the distinct answers of these cells with the nodes that gave each,
/// e.g. `aisbf-1, aisbf-3: 500 "Internal Server Error"; aisbf-2: 400 "..."`.
/// At most [`MAX_ANSWERS`] answers and [`MAX_NAMES`] names per answer.
pub fn distinct_answers(cells: &[&Cell]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for c in cells {
        let q = quote(&c.result);
        match groups.iter_mut().find(|(a, _)| *a == q) {
            Some((_, names)) => names.push(&c.target),
            None => groups.push((q, vec![&c.target])),
        }
    }
    let mut parts: Vec<String> = groups
        .iter()
        .take(MAX_ANSWERS)
        .map(|(answer, names)| {
            let mut who = names[..names.len().min(MAX_NAMES)].join(", ");
            if names.len() > MAX_NAMES {
                who.push_str(&format!(" and {} more nodes", names.len() - MAX_NAMES));
            }
            format!("{who}: {answer}")
        })
        .collect();
    if groups.len() > MAX_ANSWERS {
        let more = groups.len() - MAX_ANSWERS;
        parts.push(format!(
            "and {more} other answer{}",
            if more == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::routes::fixtures::*;

    #[test]
    fn distinct_answers_cap_names_and_answers() {
        let err = |n: u16| ChatResult::NodeError {
            status: n,
            detail: "x".into(),
        };
        let cells: Vec<Cell> = (0..5)
            .map(|i| cell("r", &format!("n{i}"), err(500)))
            .chain((1..=4).map(|i| cell("r", &format!("m{i}"), err(400 + i))))
            .collect();
        let refs: Vec<&Cell> = cells.iter().collect();
        assert_eq!(
            distinct_answers(&refs),
            "n0, n1, n2 and 2 more nodes: 500 \"x\"; m1: 401 \"x\"; m2: 402 \"x\"; and 2 other answers"
        );
    }
}
