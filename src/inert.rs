//! Text from servers made inert before anything shows it.
//!
//! A node, a database or Redis can answer any bytes. Printed as they are, a
//! newline could forge a verdict line on a terminal, an escape sequence could
//! hide the real one (`ESC[8m`), clear the screen or plant a hyperlink (OSC 8),
//! and bidi overrides could reorder what is read. Every such character is
//! replaced by a visible `\u{..}` escape, so what was received stays readable
//! and nothing it contains acts.

use std::borrow::Cow;

/// True for characters that must not reach a terminal or chat as they are:
/// C0 and C1 controls (newline, CR, tab, ESC, BEL, ...), DEL, and the Unicode
/// bidirectional overrides and isolates.
pub fn is_active(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every active character written as `\u{hex}`; borrowed when there
/// is nothing to change.
pub fn inert(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_active) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_active(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_forged_verdict_and_escape_sequences_become_visible_text() {
        let hostile = "x\n\nverdict: OK\r\u{1b}[8m\u{7}\u{1b}]8;;http://evil\u{1b}\\";
        let out = inert(hostile);
        assert_eq!(
            out,
            "x\\u{a}\\u{a}verdict: OK\\u{d}\\u{1b}[8m\\u{7}\\u{1b}]8;;http://evil\\u{1b}\\"
        );
        assert!(!out.chars().any(is_active));
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        assert!(matches!(
            inert("aisbf-2 answered 200 in 9 ms, ü ✓"),
            Cow::Borrowed(_)
        ));
    }

    proptest! {
        #[test]
        fn no_active_character_survives(s in any::<String>()) {
            let out = inert(&s);
            prop_assert!(!out.chars().any(is_active));
            if !s.chars().any(is_active) {
                prop_assert_eq!(out.as_ref(), s.as_str());
            }
        }
    }
}
