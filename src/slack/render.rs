//! Pure rendering: a [`Report`] in, a Slack message (Block Kit JSON, plus
//! files to upload) out.
//!
//! Stays within Slack's limits: 50 blocks, 3,000 characters per section
//! text, 10 fields of 2,000 per section, 150 per header, 40,000 for the
//! message text. Every server-supplied string is `mrkdwn`-escaped (`&`, `<`,
//! `>`), so `<!channel>`, `<!here>` and `<@U…>` arrive as visible text and
//! never ping; bare `@channel` words are broken with a zero-width space.
//! When anything had to be cut, the full text report goes along as a file.

use serde_json::{Value, json};

use super::command::{PIN_ACTION, RERUN_ACTION};
use crate::engine::Report;
use crate::finding::Severity;
use crate::render::{by_subject, words};
use crate::secret::Redactor;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_FIELD: usize = 2000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_HEADER: usize = 150;
pub const MAX_MESSAGE_TEXT: usize = 40_000;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_BUTTON_VALUE: usize = 2000;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;

/// The file sent along when the message had to be cut.
pub const REPORT_FILE: &str = "aisbf-doctor-report.txt";

/// A rendered message: the body for `chat.postMessage` / a `response_url`,
/// and the files to upload after it (the full report when cut, charts).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub json: Value,
    pub files: Vec<(String, Vec<u8>)>,
}

/// `&`, `<` and `>` as Slack's mrkdwn wants them, and mass mentions broken:
/// nothing a server said can become a link, a mention or a ping.
pub fn escape(s: &str) -> String {
    tame(
        &s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
    )
}

/// Bare `@channel`, `@here`, `@everyone` (which some clients still expand)
/// broken with a zero-width space.
fn tame(s: &str) -> String {
    s.replace("@channel", "@\u{200b}channel")
        .replace("@here", "@\u{200b}here")
        .replace("@everyone", "@\u{200b}everyone")
}

fn mark(s: Severity) -> &'static str {
    match s {
        Severity::Ok => ":large_green_circle:",
        Severity::Warn => ":large_yellow_circle:",
        Severity::Unknown => ":white_circle:",
        Severity::Fail => ":red_circle:",
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Cuts `s` to at most `max` characters, ending with "…" when cut; never
/// inside an escape (`&amp;`), so a cut cannot leave a stray `&`.
pub fn clip(s: &str, max: usize) -> (String, bool) {
    if chars(s) <= max {
        return (s.to_string(), false);
    }
    let mut kept: String = s.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = kept.rfind('&')
        && !kept[amp..].contains(';')
    {
        kept.truncate(amp);
    }
    kept.push('…');
    (kept, true)
}

fn non_blank(s: String) -> String {
    if s.trim().is_empty() { "-".into() } else { s }
}

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": non_blank(text), "verbatim": true})
}

/// What shapes the message around the verdict.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    /// The command, shown under the verdict.
    pub command_label: Option<&'a str>,
    /// The re-run id the "Re-run" button carries.
    pub rerun_id: Option<&'a str>,
    /// The culprit node for "Pin to node" (configured nodes only).
    pub pin_node: Option<&'a str>,
    /// A line above the verdict (what changed, a reminder), server-free text
    /// that is still escaped.
    pub note: Option<&'a str>,
    /// Our own markup under the note (a channel link), not escaped.
    pub link: Option<&'a str>,
}

/// Renders a verdict as a Slack message.
pub fn verdict(report: &Report, redactor: &Redactor, extras: &Extras<'_>) -> Message {
    let scrub = |s: &str| escape(&redactor.scrub(s));
    let v = &report.verdict;
    let mut cut = false;
    let status = report.status.as_str().to_uppercase();
    let (header, c) = clip(
        &tame(&redactor.scrub(&format!("{} · {status}", report.cluster))),
        MAX_HEADER - 24,
    );
    cut |= c;
    let header = format!("{} {header}", mark(report.status));
    let mut blocks: Vec<Value> = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": header, "emoji": true}
    })];
    let mut top = String::new();
    if let Some(n) = extras.note {
        top.push_str(&scrub(n));
    }
    if let Some(l) = extras.link {
        if !top.is_empty() {
            top.push('\n');
        }
        top.push_str(l);
    }
    if !top.is_empty() {
        let (t, c) = clip(&top, MAX_SECTION_TEXT);
        cut |= c;
        blocks.push(json!({"type": "section", "text": mrkdwn(t)}));
    }
    let mut summary = format!(
        "*{}*\n*Layer:* {} · *Action:* {}\n",
        scrub(&v.summary),
        words(v.layer),
        words(v.action)
    );
    if !v.culprits.is_empty() {
        summary.push_str(&format!("*Culprits:* {}\n", scrub(&v.culprits.join(", "))));
    }
    // The first check is the rule table's advice about configured subjects;
    // pattern redaction would mangle its prose, so it is only escaped.
    summary.push_str(&format!("*First check:* {}", escape(&v.first_check)));
    let (summary, c) = clip(&summary, MAX_SECTION_TEXT);
    cut |= c;
    blocks.push(json!({"type": "section", "text": mrkdwn(summary)}));
    blocks.push(json!({"type": "divider"}));

    let groups = by_subject(report);
    // Room after the subjects: "…and N more", the footer, the buttons.
    let room = MAX_BLOCKS - blocks.len() - 3;
    let shown = groups.len().min(room);
    for (subject, findings) in groups.iter().take(shown) {
        let worst = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        let mut sorted = findings.clone();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let body: Vec<String> = sorted.iter().map(|f| scrub(&f.message)).collect();
        let (text, c) = clip(
            &format!("{} *{}*\n{}", mark(worst), scrub(subject), body.join("\n")),
            MAX_SECTION_TEXT,
        );
        cut |= c;
        blocks.push(json!({"type": "section", "text": mrkdwn(text)}));
    }
    if shown < groups.len() {
        cut = true;
        blocks.push(json!({
            "type": "context",
            "elements": [mrkdwn(format!("…and {} more", groups.len() - shown))]
        }));
    }
    let mut footer = format!(
        "{}{} ms",
        extras
            .command_label
            .map(|l| format!("{} · ", scrub(l)))
            .unwrap_or_default(),
        report.elapsed_ms
    );
    if cut {
        footer.push_str(" · truncated, full report attached");
    }
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(clip(&footer, MAX_SECTION_TEXT).0)]
    }));
    let mut buttons = Vec::new();
    if let Some(id) = extras.rerun_id.filter(|id| chars(id) <= MAX_BUTTON_VALUE) {
        buttons.push(json!({
            "type": "button",
            "action_id": RERUN_ACTION,
            "text": {"type": "plain_text", "text": "Re-run"},
            "value": id
        }));
    }
    if let Some(node) = extras.pin_node {
        let id = format!("pin:{node}");
        if chars(&id) <= crate::app::request::MAX_RERUN_ID {
            let (label, _) = clip(&tame(&format!("Pin to {node}")), MAX_BUTTON_TEXT);
            buttons.push(json!({
                "type": "button",
                "action_id": PIN_ACTION,
                "text": {"type": "plain_text", "text": label},
                "value": id
            }));
        }
    }
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    // The notification / fallback text: status and summary.
    let (text, _) = clip(
        &format!("{} {status}: {}", scrub(&report.cluster), scrub(&v.summary)),
        MAX_MESSAGE_TEXT,
    );
    let mut files = Vec::new();
    if cut {
        let full = redactor.scrub(&crate::render::text::render(report, false));
        files.push((REPORT_FILE.to_string(), full.into_bytes()));
    }
    Message {
        json: json!({"text": text, "blocks": blocks, "unfurl_links": false, "unfurl_media": false}),
        files,
    }
}

/// A plain text message (refusals, incident status), escaped, within limits.
pub fn text(content: &str, redactor: &Redactor) -> Value {
    let escaped = escape(&redactor.scrub(content));
    let (section, _) = clip(&escaped, MAX_SECTION_TEXT);
    let (text, _) = clip(&escaped, MAX_MESSAGE_TEXT);
    json!({
        "text": non_blank(text),
        "blocks": [{"type": "section", "text": mrkdwn(section)}],
        "unfurl_links": false,
        "unfurl_media": false
    })
}

/// Checks a message against every Slack limit and the no-ping rule; the
/// reason of the first breach.
pub fn check_limits(msg: &Value) -> Result<(), String> {
    let len = |v: &Value| v.as_str().map(chars).unwrap_or(0);
    if len(&msg["text"]) > MAX_MESSAGE_TEXT {
        return Err("message text too long".into());
    }
    let blocks = msg["blocks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if blocks.len() > MAX_BLOCKS {
        return Err(format!("{} blocks", blocks.len()));
    }
    let mut texts: Vec<&Value> = vec![&msg["text"]];
    for b in blocks {
        match b["type"].as_str().unwrap_or_default() {
            "header" => {
                let n = len(&b["text"]["text"]);
                if n == 0 || n > MAX_HEADER {
                    return Err(format!("header of {n} characters"));
                }
            }
            "section" => {
                let n = len(&b["text"]["text"]);
                if b.get("text").is_some() && (n == 0 || n > MAX_SECTION_TEXT) {
                    return Err(format!("section text of {n} characters"));
                }
                texts.push(&b["text"]["text"]);
                let fields = b["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if fields.len() > MAX_FIELDS {
                    return Err(format!("{} fields", fields.len()));
                }
                for f in fields {
                    if len(&f["text"]) == 0 || len(&f["text"]) > MAX_FIELD {
                        return Err("field length".into());
                    }
                    texts.push(&f["text"]);
                }
            }
            "context" => {
                let elements = b["elements"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if elements.is_empty() || elements.len() > MAX_CONTEXT_ELEMENTS {
                    return Err("context elements".into());
                }
                for e in elements {
                    if len(&e["text"]) == 0 || len(&e["text"]) > MAX_SECTION_TEXT {
                        return Err("context text length".into());
                    }
                    texts.push(&e["text"]);
                }
            }
            "actions" => {
                for e in b["elements"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    if len(&e["text"]["text"]) > MAX_BUTTON_TEXT
                        || len(&e["value"]) > MAX_BUTTON_VALUE
                    {
                        return Err("button too long".into());
                    }
                }
            }
            "divider" => {}
            other => return Err(format!("unexpected block {other:?}")),
        }
    }
    for t in texts {
        let t = t.as_str().unwrap_or_default();
        for ping in ["<!", "<@", "@channel", "@here", "@everyone"] {
            if t.contains(ping) {
                return Err(format!("{ping:?} would ping: {t}"));
            }
        }
    }
    Ok(())
}
