//! `${NAME}` references in config strings, resolved before the config is typed.
//!
//! Hand-written on purpose: `shellexpand` and `subst` also expand `$NAME`
//! without braces and treat `\\` as an escape, so a token or password holding
//! `$` or `\\` would be changed, and neither refuses an unclosed `${` the way
//! the config must (it would be sent on as a literal token).

/// Replaces `${NAME}` in every string with the variable's value.
pub(super) fn interpolate(
    value: &mut toml::Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match value {
        toml::Value::String(s) => {
            *s = expand(s, env).map_err(|e| match e {
                Unexpanded::Unset(var) => format!(
                    "key `{}`: environment variable {var} is not set",
                    path.join(".")
                ),
                Unexpanded::Unclosed => {
                    format!("key `{}`: `${{` without its closing `}}`", path.join("."))
                }
            })?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let last = path.pop().unwrap_or_default();
                path.push(format!("{last}[{i}]"));
                interpolate(item, path, env)?;
                path.pop();
                path.push(last);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                path.push(k.clone());
                interpolate(v, path, env)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why a `${...}` reference could not be expanded.
enum Unexpanded {
    Unset(String),
    /// `${` without its `}`: never sent on as a literal token.
    Unclosed,
}

/// Expands `${NAME}`.
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Unexpanded> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Unexpanded::Unclosed);
        };
        let name = &after[..end];
        match env(name) {
            Some(v) => out.push_str(&v),
            None => return Err(Unexpanded::Unset(name.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PW").then(|| "pa$$w\\rd".to_string())
    }

    #[test]
    fn only_braced_references_expand_and_their_values_stay_as_they_are() {
        assert_eq!(
            expand("x-${PW}-${PW}", &env).ok().as_deref(),
            Some("x-pa$$w\\rd-pa$$w\\rd")
        );
        assert_eq!(expand("$PW \\$ $", &env).ok().as_deref(), Some("$PW \\$ $"));
    }

    #[test]
    fn an_unset_or_unclosed_reference_is_an_error() {
        assert!(matches!(expand("${NOPE}", &env), Err(Unexpanded::Unset(v)) if v == "NOPE"));
        assert!(matches!(expand("a ${PW", &env), Err(Unexpanded::Unclosed)));
    }
}
