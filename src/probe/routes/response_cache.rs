//! The response-cache round trip on the first route: nodes sharing AISBF's
//! response cache repeat one completion `id`.

use super::observe::Cell;
use crate::finding::{Code, Finding, ProbeKind, Severity};

/// Pure: the response-cache round trip on the first route. Nodes sharing one
/// response cache answer the identical request with the stored body, so the
/// same `id`; the largest group of two or more nodes with one `id` is the
/// shared cache (on a tie, the group of the earliest node), and every other
/// node that answered 200 does not share it. Needs two nodes answering 200.
pub fn response_cache(cells: &[Cell]) -> Vec<Finding> {
    let Some(route) = cells.first().map(|c| c.route.as_str()) else {
        return Vec::new();
    };
    let answered: Vec<(&str, &str)> = cells
        .iter()
        .filter(|c| c.route == route && !c.is_balancer && c.result.is_ok())
        .filter_map(|c| c.id.as_deref().map(|id| (c.target.as_str(), id)))
        .collect();
    if answered.len() < 2 {
        return Vec::new();
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, id) in &answered {
        match groups.iter_mut().find(|(g, _)| g == id) {
            Some((_, nodes)) => nodes.push(node),
            None => groups.push((id, vec![node])),
        }
    }
    let mut shared: Option<&(&str, Vec<&str>)> = None;
    for g in &groups {
        if g.1.len() >= 2 && shared.is_none_or(|s| g.1.len() > s.1.len()) {
            shared = Some(g);
        }
    }
    let finding = |sev, subject: &str, code, msg: String| {
        Finding::new(ProbeKind::Routes, sev, subject, code, msg)
    };
    let Some((shared_id, sharing)) = shared else {
        return vec![finding(
            Severity::Warn,
            "cache",
            Code::ResponseCacheUnused,
            format!(
                "every node answered the identical {route} request with its own id ({}): nothing is cached or shared; response_cache is disabled on every node, or every node fell back to its own memory cache (Redis unreachable when it started)",
                answered.len()
            ),
        )];
    };
    let mut out = vec![finding(
        Severity::Ok,
        "cache",
        Code::ResponseCacheShared,
        format!(
            "{} answered the identical {route} request with the same id: they share the response cache",
            sharing.join(", ")
        ),
    )];
    for (node, id) in answered.iter().filter(|(_, id)| id != shared_id) {
        out.push(finding(
            Severity::Fail,
            node,
            Code::ResponseCacheNotShared,
            format!(
                "answered the identical {route} request with id {id:?} while {} answered {shared_id:?} from the shared response cache: {node} does not share it (it fell back to its own memory cache because Redis was unreachable when it started, or its response_cache is disabled); its aisbf.json can look identical and the Redis census healthy",
                sharing.join(", ")
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::routes::assess;
    use crate::probe::routes::fixtures::*;

    #[test]
    fn node_answering_another_id_does_not_share_the_response_cache() {
        let f = assess(&[with_id("a", "x"), with_id("b", "x"), with_id("c", "y")]);
        let got: Vec<(String, Code, Severity)> = f
            .iter()
            .filter(|x| {
                matches!(
                    x.code,
                    Code::ResponseCacheShared | Code::ResponseCacheNotShared
                )
            })
            .map(|x| (x.subject.clone(), x.code, x.severity))
            .collect();
        assert_eq!(
            got,
            vec![
                ("cache".into(), Code::ResponseCacheShared, Severity::Ok),
                ("c".into(), Code::ResponseCacheNotShared, Severity::Fail),
            ]
        );
    }

    #[test]
    fn first_node_alone_with_its_own_id_is_the_one_not_sharing() {
        let f = assess(&[with_id("a", "x"), with_id("b", "y"), with_id("c", "y")]);
        let odd: Vec<&str> = f
            .iter()
            .filter(|x| x.code == Code::ResponseCacheNotShared)
            .map(|x| x.subject.as_str())
            .collect();
        assert_eq!(odd, vec!["a"]);
    }

    #[test]
    fn every_node_with_its_own_id_means_the_response_cache_is_unused() {
        let f = assess(&[with_id("a", "x"), with_id("b", "y"), with_id("c", "z")]);
        let cache: Vec<(String, Code, Severity)> = f
            .iter()
            .filter(|x| x.subject == "cache" || x.code == Code::ResponseCacheNotShared)
            .map(|x| (x.subject.clone(), x.code, x.severity))
            .collect();
        assert_eq!(
            cache,
            vec![("cache".into(), Code::ResponseCacheUnused, Severity::Warn)]
        );
    }

    #[test]
    fn one_answering_node_says_nothing_about_the_response_cache() {
        let f = assess(&[with_id("a", "x"), cell("r", "b", provider_down())]);
        assert!(
            !f.iter()
                .any(|x| x.subject == "cache" || x.code == Code::ResponseCacheNotShared),
            "{f:#?}"
        );
    }
}
