//! Connecting read-only within the run's budget, and why a connection failed
//! (from the driver's typed errors, never its message text).

use std::time::Duration;

use super::observe::ConnectFailure;
/// The read-only connect URL for the configured database.
pub(super) fn connect_url(raw: &str) -> (&'static str, String) {
    if let Some(rest) = raw.strip_prefix("mariadb://") {
        return ("mysql", format!("mysql://{rest}"));
    }
    if raw.starts_with("sqlite:") {
        let sep = if raw.contains('?') { '&' } else { '?' };
        return ("sqlite", format!("{raw}{sep}mode=ro"));
    }
    ("mysql", raw.to_string())
}

pub(super) fn classify(e: &sqlx::Error) -> ConnectFailure {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let short = crate::http::truncate(&text, 300);
    if lower.contains("access denied") {
        ConnectFailure::AccessDenied(short)
    } else if lower.contains("unknown database") || lower.contains("unable to open database file") {
        ConnectFailure::NotFound(short)
    } else {
        ConnectFailure::Unreachable(short)
    }
}

pub(super) async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(crate::http::truncate(&e.to_string(), 300)),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_url_is_read_only_for_sqlite() {
        assert_eq!(
            connect_url("sqlite:///tmp/a.db").1,
            "sqlite:///tmp/a.db?mode=ro"
        );
        assert_eq!(
            connect_url("mariadb://u@h/d"),
            ("mysql", "mysql://u@h/d".to_string())
        );
    }
}
