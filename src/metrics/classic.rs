//! The classic Prometheus text format (0.0.4) from prometheus-client's
//! OpenMetrics text, for scrapers that do not ask for OpenMetrics (curl,
//! `promtool check metrics`, older agents). The two differ, for what this
//! crate exposes, only in a counter's family name (OpenMetrics names the
//! family `x` and its sample `x_total`; the classic format names both
//! `x_total`) and the closing `# EOF`.

/// The content type of [`from_openmetrics`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrites OpenMetrics text as classic text.
pub fn from_openmetrics(text: &str) -> String {
    let counters: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_families_take_their_samples_name_and_eof_goes() {
        let open = "# HELP x_runs Runs.\n# TYPE x_runs counter\nx_runs_total 3\n\
                    # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# EOF\n";
        assert_eq!(
            from_openmetrics(open),
            "# HELP x_runs_total Runs.\n# TYPE x_runs_total counter\nx_runs_total 3\n\
             # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
