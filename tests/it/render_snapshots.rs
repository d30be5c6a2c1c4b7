//! Snapshots of the CLI renderers (text, Markdown, JSON) for a healthy, a
//! failing and an unknown report. The `.snap` files live in
//! `tests/golden/render/`; review a change with `cargo insta review` (or
//! `INSTA_UPDATE=always`, then `git diff`).

use aisbf_doctor::engine::Report;
use aisbf_doctor::render::{self, Format};
use rstest::rstest;

use crate::report_fixtures::{drifted, healthy, unknown};

#[rstest]
#[case::healthy("healthy", healthy())]
#[case::failing_with_culprits("failing", drifted())]
#[case::unknown("unknown", unknown())]
fn every_cli_format_renders_the_report_as_its_snapshot(#[case] name: &str, #[case] report: Report) {
    for (format, ext) in [
        (Format::Text, "txt"),
        (Format::Markdown, "md"),
        (Format::Json, "json"),
    ] {
        let out = render::render(&report, format, false);
        insta::with_settings!({
            snapshot_path => "../golden/render",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("{name}.{ext}"), out);
        });
    }
}
