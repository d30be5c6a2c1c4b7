//! What the incident channel would receive for the demo's verdict, rendered
//! as text: the message is built by the bot's own Discord renderer
//! ([`crate::discord::render::verdict`]) and then read back field by field,
//! so the preview cannot drift from what the bot posts.

use std::fmt::Write;

use serde_json::Value;

use crate::app::Request;
use crate::app::incident::incident_title;
use crate::discord::render::{self, Extras, Message};
use crate::engine::Report;
use crate::finding::ProbeKind;
use crate::secret::Redactor;

/// The two messages a newcomer would see: the watch-mode announcement that
/// opens the incident thread, and the bot's answer to `/aisbf health` (the
/// same embed with its buttons and the latency chart).
pub struct Preview {
    pub thread: String,
    pub announcement: Message,
    pub answer: Message,
}

pub fn build(report: &Report, redactor: &Redactor, chart: Option<Vec<u8>>) -> Preview {
    // The content line the Discord surface puts above a new failure.
    let announcement = render::verdict(
        report,
        redactor,
        &Extras {
            content: Some("**New failure**"),
            ..Extras::default()
        },
    );
    let request = Request::Check {
        probe: ProbeKind::Health,
        target: None,
    };
    let label = request.label();
    let rerun = request.rerun_id();
    let mut answer = render::verdict(
        report,
        redactor,
        &Extras {
            command_label: Some(&label),
            rerun_id: rerun.as_deref(),
            pin_node: report.verdict.culprits.first().map(String::as_str),
            content: None,
        },
    );
    if let Some(png) = chart {
        answer = answer.with_chart("latency.png", png);
    }
    Preview {
        thread: incident_title(report),
        announcement,
        answer,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// The embed and buttons of a message, as indented text.
fn message_text(out: &mut String, msg: &Value) {
    let content = str_of(msg, "content");
    if !content.is_empty() {
        let _ = writeln!(out, "  {content}");
    }
    let embed = &msg["embeds"][0];
    let colour = embed["color"].as_u64().unwrap_or_default();
    let _ = writeln!(out, "  ┃ colour #{colour:06X}");
    let _ = writeln!(out, "  ┃ {}", str_of(embed, "title"));
    for line in str_of(embed, "description").lines() {
        let _ = writeln!(out, "  ┃ {line}");
    }
    for field in embed["fields"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  ┃ ▸ {}", str_of(field, "name"));
        for line in str_of(field, "value").lines() {
            let _ = writeln!(out, "  ┃     {line}");
        }
    }
    if let Some(image) = embed["image"]["url"].as_str() {
        let _ = writeln!(out, "  ┃ image: {image}");
    }
    let _ = writeln!(out, "  ┃ {}", str_of(&embed["footer"], "text"));
    let buttons: Vec<String> = msg["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .map(|b| format!("[{}]", str_of(&b, "label")))
        .collect();
    let _ = writeln!(
        out,
        "  buttons: {}",
        if buttons.is_empty() {
            "none".to_string()
        } else {
            buttons.join(" ")
        }
    );
}

/// The preview as text (Discord's markdown left as is: it is what is sent).
pub fn render(preview: &Preview) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "What the incident channel would receive (the bot's own Discord renderer):"
    );
    let _ = writeln!(out, "thread opened: \"{}\"", preview.thread);
    message_text(&mut out, &preview.announcement.json);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Answering /aisbf health, the bot sends the same embed with:"
    );
    let json = &preview.answer.json;
    let buttons: Vec<String> = json["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .map(|b| format!("[{}] ({})", str_of(&b, "label"), str_of(&b, "custom_id")))
        .collect();
    let _ = writeln!(out, "  buttons: {}", buttons.join(" "));
    let _ = writeln!(
        out,
        "  footer: {}",
        str_of(&json["embeds"][0]["footer"], "text")
    );
    for file in preview.answer.files() {
        let _ = writeln!(out, "  attachment: {} ({} bytes)", file.0, file.1.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Code, Finding, Severity};

    fn report() -> Report {
        Report::from_findings(
            "demo",
            vec![
                Finding::new(
                    ProbeKind::Health,
                    Severity::Ok,
                    "aisbf-1",
                    Code::NodeOk,
                    "up",
                ),
                Finding::new(
                    ProbeKind::Health,
                    Severity::Fail,
                    "aisbf-3",
                    Code::TokenRejectedOnNode,
                    "rejects the user token",
                ),
            ],
            None,
            12,
        )
    }

    #[test]
    fn the_preview_shows_thread_colour_title_fields_and_buttons_of_the_real_message() {
        let report = report();
        let preview = build(&report, &Redactor::new([]), Some(vec![1, 2, 3]));
        let text = render(&preview);
        assert!(
            text.contains("thread opened: \"demo: auth (aisbf-3)\""),
            "{text}"
        );
        assert!(text.contains("**New failure**"), "{text}");
        assert!(
            text.contains(&format!("colour #{:06X}", render::color(Severity::Fail))),
            "{text}"
        );
        assert!(text.contains("▸ ❌ aisbf-3"), "{text}");
        assert!(text.contains("[Re-run] (run:health:)"), "{text}");
        assert!(text.contains("[Pin to aisbf-3] (pin:aisbf-3)"), "{text}");
        assert!(text.contains("attachment: latency.png (3 bytes)"), "{text}");
        // The announcement is the message the surface posts: same embed title.
        assert_eq!(
            preview.announcement.json["embeds"][0]["title"],
            preview.answer.json["embeds"][0]["title"]
        );
    }
}
