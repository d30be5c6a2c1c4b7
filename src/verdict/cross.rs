//! Cross-probe rules: facts from one probe that change how another probe's
//! finding reads. A small table of its own, checked in order; the first rule
//! that applies wins, and a finding no rule applies to reads as its row says.

use std::collections::{HashMap, HashSet};

use super::rules::{Tier, judgement};
use super::{Action, Layer};
use crate::finding::{Code, Finding};

/// When a rule applies.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// One of these codes was found on the same subject.
    SameSubject(&'static [Code]),
    /// One of these codes was found on any subject.
    Anywhere(&'static [Code]),
}

/// How a finding reads once the rule applies.
#[derive(Debug, Clone, Copy)]
pub enum Becomes {
    /// Another layer and action explain it, at this tier.
    Layer(Layer, Action, Tier),
    /// Another probe showed this subject is fine: not a culprit.
    NotACulprit,
}

/// One cross-probe rule.
#[derive(Debug, Clone, Copy)]
pub struct CrossRule {
    pub name: &'static str,
    /// The codes this rule re-reads.
    pub applies_to: &'static [Code],
    pub when: When,
    pub becomes: Becomes,
}

/// The rules, in order.
pub static CROSS_RULES: &[CrossRule] = &[
    CrossRule {
        name: "the node's routes match the database: the odd one out is the fresh one",
        applies_to: &[Code::ModelsDiffer],
        when: When::SameSubject(&[Code::NodeRoutesMatchDb]),
        becomes: Becomes::NotACulprit,
    },
    CrossRule {
        name: "the node's own aisbf.json points at another database",
        applies_to: &[
            Code::TokenRejectedOnNode,
            Code::ModelsDiffer,
            Code::RouteFailsOnNode,
            Code::GlobalTokenRejectedOnNode,
        ],
        when: When::SameSubject(&[Code::DbNodeSqlite, Code::DbNodeOtherDatabase]),
        becomes: Becomes::Layer(Layer::Database, Action::EditInfrastructure, Tier::Drift),
    },
    CrossRule {
        name: "the token is active in the shared database, yet rejected: the nodes do not read it",
        applies_to: &[Code::TokenRejected, Code::TokenRejectedOnNode],
        when: When::Anywhere(&[Code::DbTokenActive]),
        becomes: Becomes::Layer(Layer::Database, Action::EditInfrastructure, Tier::Drift),
    },
];

/// How one finding reads in a verdict, after the cross-probe rules.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub layer: Layer,
    pub action: Action,
    pub tier: Tier,
    /// The row's position: the tie-break within a tier.
    pub order: usize,
    /// The cross rule that changed the reading, if any.
    pub rule: Option<&'static CrossRule>,
}

/// Which subjects each code was found on: built once per verdict, so reading
/// every finding stays linear in the number of findings.
pub struct Facts<'a> {
    subjects: HashMap<Code, HashSet<&'a str>>,
}

impl<'a> Facts<'a> {
    pub fn of(findings: &'a [Finding]) -> Facts<'a> {
        let mut subjects: HashMap<Code, HashSet<&str>> = HashMap::new();
        for f in findings {
            subjects.entry(f.code).or_default().insert(&f.subject);
        }
        Facts { subjects }
    }

    fn holds(&self, when: When, subject: &str) -> bool {
        match when {
            When::SameSubject(codes) => codes
                .iter()
                .any(|c| self.subjects.get(c).is_some_and(|s| s.contains(subject))),
            When::Anywhere(codes) => codes.iter().any(|c| self.subjects.contains_key(c)),
        }
    }

    /// The reading of `f`, or `None` when it indicts nothing.
    pub fn read(&self, f: &Finding) -> Option<Reading> {
        let (row, order) = judgement(f.code);
        let rule = CROSS_RULES
            .iter()
            .find(|r| r.applies_to.contains(&f.code) && self.holds(r.when, &f.subject));
        let reading = match rule.map(|r| r.becomes) {
            Some(Becomes::NotACulprit) => return None,
            Some(Becomes::Layer(layer, action, tier)) => Reading {
                layer,
                action,
                tier,
                order,
                rule,
            },
            None => Reading {
                layer: row.layer,
                action: row.action,
                tier: row.tier,
                order,
                rule: None,
            },
        };
        // An incomplete probe indicts no layer but still decides when it is
        // all there is: "ran out of time" is never read as "no problem".
        (reading.layer != Layer::None || reading.tier == Tier::Incomplete).then_some(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{ProbeKind, Severity};

    fn f(subject: &str, code: Code) -> Finding {
        Finding::new(ProbeKind::Health, Severity::Fail, subject, code, "x")
    }

    #[test]
    fn each_cross_rule_changes_the_reading_only_when_its_fact_holds() {
        for rule in CROSS_RULES {
            let fact = match rule.when {
                When::SameSubject(c) | When::Anywhere(c) => c[0],
            };
            for &code in rule.applies_to {
                let alone = [f("n1", code)];
                let without = Facts::of(&alone).read(&alone[0]).map(|r| r.rule.is_some());
                assert_eq!(without, Some(false), "{}: {code:?} alone", rule.name);

                let with = [f("n1", code), f("n1", fact)];
                let read = Facts::of(&with).read(&with[0]);
                match rule.becomes {
                    Becomes::NotACulprit => assert!(read.is_none(), "{}", rule.name),
                    Becomes::Layer(layer, action, tier) => {
                        let r = read.expect("a reading");
                        assert_eq!(
                            (r.layer, r.action, r.tier),
                            (layer, action, tier),
                            "{}",
                            rule.name
                        );
                    }
                }
                if let When::SameSubject(_) = rule.when {
                    // The fact about another subject does not explain this one.
                    let other = [f("n1", code), f("n2", fact)];
                    let r = Facts::of(&other).read(&other[0]).map(|r| r.rule.is_some());
                    assert_eq!(r, Some(false), "{}: fact on another node", rule.name);
                }
            }
        }
    }
}
