//! Durations in the config (`"60s"`, `"5m"`, `"1h"`, `"500ms"`), read with
//! humantime straight into the raw fields.
//!
//! Our own deserializer rather than `humantime-serde`: that crate's error
//! ("invalid value: string ..., expected a duration") would replace the one
//! users see today, which quotes the value and humantime's reason.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `"60s"`, `"5m"`, `"1h"`, `"500ms"` (humantime).
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// `deserialize_with` for a duration field written as a string.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parses_human_durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_malformed_duration_is_refused_naming_the_key_the_value_and_why() {
        use super::super::testing::{MINIMAL, problem};
        assert_eq!(
            problem(&format!("{MINIMAL}[watch]\nevery = \"soon\"\n")),
            "key `watch.every`: invalid duration \"soon\": expected number at 0"
        );
        assert_eq!(
            problem(&format!("{MINIMAL}[watch]\nremind_every = \"0s\"\n")),
            "key `watch.remind_every`: must be greater than 0"
        );
    }
}
