//! Checks on single values, each naming the key it refuses: non-empty, plain
//! Redis prefixes, credentials that can be sent in a header, http(s) URLs and
//! URL schemes.

use url::Url;

use crate::secret::Secret;

/// AISBF clears a prefix with `KEYS prefix*`: a `*` inside the prefix would
/// match other environments' keys, and `cache flush` refuses such a prefix, so
/// it is refused here, at load, instead of on every flush. (`?` and `[...]`
/// are matched literally by `cache flush`, which escapes them.)
pub(super) fn plain_prefix(key: &str, prefix: &str) -> Result<(), String> {
    if prefix.contains('*') {
        return Err(format!(
            "key `{key}`: {prefix:?} contains the glob character '*'; a Redis prefix must be plain text"
        ));
    }
    Ok(())
}

pub(super) fn non_empty(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("key `{key}`: must not be empty"))
    } else {
        Ok(())
    }
}

/// A credential goes into an HTTP header as it is: AISBF compares it byte for
/// byte, and a newline cannot be sent at all. A token read from a file usually
/// ends in a newline; say so at load time rather than as "node unreachable".
pub(super) fn sendable(key: &str, value: &str) -> Result<(), String> {
    let describe = |c: char| match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        c => format!("the character U+{:04X}", u32::from(c)),
    };
    if let Some(c) = value
        .chars()
        .next_back()
        .filter(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("key `{key}`: ends with {}: strip it", describe(c)));
    }
    if let Some(c) = value
        .chars()
        .next()
        .filter(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "key `{key}`: starts with {}: strip it",
            describe(c)
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "key `{key}`: contains {} (a control character cannot be sent in an HTTP header)",
            describe(c)
        ));
    }
    Ok(())
}

pub(super) fn http_url(key: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("key `{key}`: invalid URL {raw:?}: {e}"))?;
    // The URL parser reads `http:///host` as `http://host/`: an empty
    // authority is a typo, not a host.
    let authority = raw.split_once("://").map_or("", |(_, rest)| rest);
    if authority.is_empty() || authority.starts_with('/') {
        return Err(format!("key `{key}`: URL {raw:?} has no host"));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "key `{key}`: URL must be http:// or https://, got {raw:?}"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("key `{key}`: URL has no host: {raw:?}"));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(format!(
            "key `{key}`: put credentials in token fields, not in the URL"
        ));
    }
    Ok(url)
}

/// A connection URL, kept as a [`Secret`] (it may carry a password), that
/// must start with one of `schemes` (`"redis"` for `redis://`); the error
/// lists them in the order given.
pub(super) fn secret_url(key: &str, url: String, schemes: &[&str]) -> Result<Secret, String> {
    let scheme = url.split("://").next().unwrap_or_default();
    if schemes.contains(&scheme) {
        return Ok(Secret::new(url));
    }
    let names: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
    let listed = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(format!("key `{key}`: must start with {listed}"))
}
