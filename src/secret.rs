//! Secrets and redaction.
//!
//! A [`Secret`] is a config value that must never be printed: its `Debug` and
//! `Display` print `***`. The [`Redactor`] scrubs known secret values and
//! token-shaped strings out of any text that is about to leave the process
//! (server answers quoted in findings, rendered reports, Discord messages).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use secrecy::{ExposeSecret, SecretString};

/// A value read from config that must not appear in any output.
///
/// Held in a [`SecretString`], so the value is zeroed when dropped and only
/// reachable through [`ExposeSecret`]; [`Secret::expose`] is the one door.
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The raw value, for the one place that must send it (a header, a connect call).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

// `SecretString` has no equality on purpose; the [`Redactor`] needs it to drop
// duplicates, so it compares the exposed values here and nowhere else.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces secrets in text. Known values are replaced exactly; anything shaped
/// like a credential (bearer values, URL passwords, long token-like words) is
/// replaced by pattern, because servers echo things we never configured.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    known: Vec<Secret>,
}

const MASK: &str = "***";

static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(bearer\s+|(?:token|password|passwd|pwd|secret)\s*[:=]\s*)([^\s,;&)\]}'\x22]+)",
    )
    .expect("static regex")
});
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)@").expect("static regex")
});
// `aisbf-` (hyphen) marks harness-style tokens; `aisbf_` is how AISBF database
// names start, so it is left alone. AISBF's own user tokens are
// `secrets.token_urlsafe(32)` (43 characters): the long-word rule masks them.
static TOKEN_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:(?:sk|pk|rk|tok|xox[abp])[-_]|aisbf-)[A-Za-z0-9_\-]{12,}|\b[A-Za-z0-9_\-]{40,}\b",
    )
    .expect("static regex")
});

/// Key-style prefixes that mark a credential whatever follows.
fn has_key_prefix(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    [
        "sk-", "sk_", "pk-", "pk_", "rk-", "rk_", "tok-", "tok_", "xoxa-", "xoxb-", "xoxp-",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// Upper case, lower case and digits together: what random tokens look like
/// and what names (`aisbf-production-eu-west-1`) do not.
fn mixed_classes(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase())
        && word.chars().any(|c| c.is_ascii_lowercase())
        && word.chars().any(|c| c.is_ascii_digit())
}

/// A value after `password:` worth hiding: a digit or symbol in it, or long.
fn credential_shaped(value: &str) -> bool {
    value.len() >= 12 || value.chars().any(|c| !c.is_ascii_alphabetic())
}

/// The process's redactor for what leaves through no renderer (log lines,
/// the CLI's error messages): every configured secret once the config is
/// loaded, the credential patterns before that.
static PROCESS: std::sync::RwLock<Option<Redactor>> = std::sync::RwLock::new(None);

/// Makes `redactor` the one [`scrub_everywhere`] uses.
pub fn set_process_redactor(redactor: Redactor) {
    let mut slot = PROCESS.write().unwrap_or_else(|p| p.into_inner());
    *slot = Some(redactor);
}

/// `text` scrubbed with the process's redactor (see [`set_process_redactor`]).
pub fn scrub_everywhere(text: &str) -> String {
    let slot = PROCESS.read().unwrap_or_else(|p| p.into_inner());
    match slot.as_ref() {
        Some(r) => r.scrub(text),
        None => Redactor::default().scrub(text),
    }
}

impl Redactor {
    pub fn new(known: impl IntoIterator<Item = Secret>) -> Self {
        let mut known: Vec<Secret> = known
            .into_iter()
            .filter(|s| s.expose().len() >= 4)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        known.dedup();
        Self { known }
    }

    /// `Some(masked)` when `text` contains a known secret; `None` otherwise.
    /// Only exact configured values are masked (no patterns).
    pub fn mask_known(&self, text: &str) -> Option<String> {
        if !self.known.iter().any(|s| text.contains(s.expose())) {
            return None;
        }
        let mut out = text.to_string();
        for secret in &self.known {
            out = out.replace(secret.expose(), MASK);
        }
        Some(out)
    }

    /// Returns `text` with every known secret and credential-shaped string masked.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.known {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), MASK);
            }
        }
        let out = URL_PASSWORD.replace_all(&out, "${1}***@");
        let out = BEARER.replace_all(&out, |caps: &regex::Captures<'_>| {
            let value = &caps[2];
            // "Bearer <x>" is always a credential; after "password:" only a
            // value that looks like one ("(using password: YES)" stays).
            let bearer = caps[1].to_ascii_lowercase().starts_with("bearer");
            if value == MASK || (!bearer && !credential_shaped(value)) {
                caps[0].to_string()
            } else {
                format!("{}{MASK}", &caps[1])
            }
        });
        TOKEN_LIKE
            .replace_all(&out, |caps: &regex::Captures<'_>| {
                let word = &caps[0];
                if has_key_prefix(word) || mixed_classes(word) {
                    MASK.to_string()
                } else {
                    word.to_string()
                }
            })
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }

    #[test]
    fn known_secrets_are_masked_exactly() {
        let r = Redactor::new([Secret::new("abc123xyz")]);
        assert_eq!(
            r.scrub("the token abc123xyz failed"),
            "the token *** failed"
        );
    }

    #[test]
    fn url_passwords_are_masked() {
        let r = Redactor::default();
        assert_eq!(
            r.scrub("cannot reach mysql://aisbf:s3cr3t@db:3306/aisbf"),
            "cannot reach mysql://aisbf:***@db:3306/aisbf"
        );
    }

    #[test]
    fn bearer_values_and_token_shapes_are_masked() {
        let r = Redactor::default();
        let out = r.scrub("Authorization: Bearer abcdef and key sk-abcdefghijklmnopqrstu");
        assert!(!out.contains("abcdef "), "{out}");
        assert!(!out.contains("sk-abcdefghijklmnopqrstu"), "{out}");
    }

    #[test]
    fn database_names_survive_while_tokens_are_masked() {
        let r = Redactor::default();
        let text = "database aisbf_test_1a2b3c4d5e6f on 127.0.0.1";
        assert_eq!(r.scrub(text), text);
        let out = r.scrub("token aisbf-alice-Zm9vYmFyYmF6cXV4 and Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHh4eHh4");
        assert!(!out.contains("Zm9vYmFyYmF6cXV4"), "{out}");
    }

    #[test]
    fn redaction_hides_credentials_only_and_keeps_names_and_driver_phrases_readable() {
        let r = Redactor::default();
        for text in [
            "Access denied for user 'aisbf'@'localhost' (using password: YES)",
            "node aisbf-production-eu-west-1-node-number-one answered 200",
            "the token: is it active? check password: required",
            "aisbf-2 rejects the token that aisbf-1, aisbf-3 accept",
        ] {
            assert_eq!(r.scrub(text), text);
        }
        for (text, gone) in [
            ("password: hunter2 was refused", "hunter2"),
            ("Authorization: Bearer abcdef", "abcdef"),
            (
                "token=Zm9vYmFy1234567890Zm9vYmFyQUJDREVGR0hJSktMTU5PUA",
                "Zm9vYmFy1234",
            ),
        ] {
            assert!(!r.scrub(text).contains(gone), "{text} -> {}", r.scrub(text));
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let r = Redactor::new([Secret::new("zzzzzz")]);
        let text = "node aisbf-2 rejects the token that aisbf-1 accepts: 503 Provider temporarily unavailable";
        assert_eq!(r.scrub(text), text);
    }
}
