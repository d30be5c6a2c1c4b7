//! Pure rendering: a [`Report`] in, a Discord message (JSON + optional file) out.
//!
//! Stays within Discord's limits: 2,000 content, 256 title, 4,096
//! description, 25 fields, 256 per field name, 1,024 per field value, 6,000
//! per embed in total. When anything had to be cut, the full text report is
//! attached as a file. `allowed_mentions` is always empty.

use serde_json::{Value, json};

use crate::engine::Report;
use crate::finding::Severity;
use crate::render::{by_subject, words};
use crate::secret::Redactor;

pub const MAX_CONTENT: usize = 2000;
pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_FIELDS: usize = 25;
pub const MAX_FIELD_NAME: usize = 256;
pub const MAX_FIELD_VALUE: usize = 1024;
pub const MAX_EMBED_TOTAL: usize = 6000;
pub const MAX_FOOTER: usize = 2048;

/// The file attached when the embed had to be cut.
pub const REPORT_FILE: &str = "aisbf-doctor-report.txt";

/// A rendered message: the JSON body and, when truncated, the full report.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub json: Value,
    pub attachment: Option<(String, Vec<u8>)>,
    /// PNG charts uploaded after the report file.
    pub charts: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// Every file to upload, in the order of `json.attachments`.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.attachment
            .iter()
            .chain(self.charts.iter())
            .cloned()
            .collect()
    }

    /// Adds a PNG chart shown as the embed's image (`attachment://NAME`).
    pub fn with_chart(mut self, name: &str, png: Vec<u8>) -> Message {
        let mut list = self.json["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let id = list.len();
        list.push(json!({"id": id, "filename": name}));
        self.json["attachments"] = Value::Array(list);
        self.json["embeds"][0]["image"] = json!({"url": format!("attachment://{name}")});
        self.charts.push((name.to_string(), png));
        self
    }
}

pub fn color(status: Severity) -> u32 {
    match status {
        Severity::Ok => 0x2E_CC_71,
        Severity::Warn => 0xF1_C4_0F,
        Severity::Unknown => 0x95_A5_A6,
        Severity::Fail => 0xE7_4C_3C,
    }
}

fn mark(s: Severity) -> &'static str {
    match s {
        Severity::Ok => "✅",
        Severity::Warn => "⚠️",
        Severity::Unknown => "❔",
        Severity::Fail => "❌",
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Cuts `s` to at most `max` characters, ending with "…" when cut.
pub fn clip(s: &str, max: usize) -> (String, bool) {
    if chars(s) <= max {
        return (s.to_string(), false);
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    (format!("{kept}…"), true)
}

/// Text in Discord is markdown; neutralise mass mentions even though
/// `allowed_mentions` already stops them from pinging.
fn tame(s: &str) -> String {
    s.replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here")
}

/// Options that shape the message around the verdict.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    /// The command, shown in the footer; its custom_id drives "Re-run".
    pub command_label: Option<&'a str>,
    pub rerun_id: Option<&'a str>,
    /// The culprit node for "Pin to node" (only configured nodes).
    pub pin_node: Option<&'a str>,
    /// A line above the embed (e.g. a link to the incident thread).
    pub content: Option<&'a str>,
}

/// Renders a verdict as a Discord message.
pub fn verdict(report: &Report, redactor: &Redactor, extras: &Extras<'_>) -> Message {
    let scrub = |s: &str| tame(&redactor.scrub(s));
    let mut cut = false;
    let v = &report.verdict;
    let (title, c) = clip(
        &scrub(&format!(
            "{} {} · {}",
            mark(report.status),
            report.cluster,
            report.status.as_str().to_uppercase()
        )),
        MAX_TITLE,
    );
    cut |= c;
    let mut description = format!(
        "**{}**\n**Layer:** {} · **Action:** {}\n",
        scrub(&v.summary),
        words(v.layer),
        words(v.action)
    );
    if !v.culprits.is_empty() {
        description.push_str(&format!(
            "**Culprits:** {}\n",
            scrub(&v.culprits.join(", "))
        ));
    }
    // The first check is the rule table's advice about configured subjects;
    // pattern redaction would mangle its prose ("the token: is it ..."), so
    // only mentions are neutralised here.
    description.push_str(&format!("**First check:** {}", tame(&v.first_check)));
    let (description, c) = clip(&description, MAX_DESCRIPTION);
    cut |= c;
    let footer_base = format!(
        "{}{} ms",
        extras
            .command_label
            .map(|l| format!("{} · ", scrub(l)))
            .unwrap_or_default(),
        report.elapsed_ms
    );
    let (footer_base, c) = clip(&footer_base, 200);
    cut |= c;

    let groups = by_subject(report);
    let mut fields: Vec<Value> = Vec::new();
    // Budget: title + description + footer (with room for a truncation note).
    let mut used = chars(&title) + chars(&description) + chars(&footer_base) + 80;
    let mut shown = 0usize;
    for (subject, findings) in &groups {
        if fields.len() == MAX_FIELDS - 1 && groups.len() > MAX_FIELDS {
            break;
        }
        let worst = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        let mut sorted = findings.clone();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let (name, c1) = clip(
            &format!("{} {}", mark(worst), scrub(subject)),
            MAX_FIELD_NAME,
        );
        let body: Vec<String> = sorted.iter().map(|f| scrub(&f.message)).collect();
        let (value, c2) = clip(&body.join("\n"), MAX_FIELD_VALUE);
        let (name, value) = (non_blank(name), non_blank(value));
        let need = chars(&name) + chars(&value);
        // Keep room for the "…and N more" field.
        if used + need + 40 > MAX_EMBED_TOTAL {
            break;
        }
        cut |= c1 | c2;
        used += need;
        fields.push(json!({"name": name, "value": value, "inline": false}));
        shown += 1;
    }
    if shown < groups.len() {
        cut = true;
        fields.push(json!({
            "name": "…",
            "value": format!("…and {} more", groups.len() - shown),
            "inline": false
        }));
    }
    let footer = if cut {
        format!("{footer_base} · truncated, full report attached")
    } else {
        footer_base
    };
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": color(report.status),
        "fields": fields,
        "footer": {"text": footer},
    });
    if fields_is_empty(&embed) {
        if let Some(o) = embed.as_object_mut() {
            o.remove("fields");
        }
    }
    let mut buttons = Vec::new();
    if let Some(id) = extras.rerun_id {
        buttons.push(json!({"type": 2, "style": 2, "label": "Re-run", "custom_id": id}));
    }
    if let Some(node) = extras.pin_node {
        let id = format!("pin:{node}");
        if chars(&id) <= 100 {
            let (label, _) = clip(&format!("Pin to {node}"), 80);
            buttons.push(json!({"type": 2, "style": 1, "label": label, "custom_id": id}));
        }
    }
    let content = extras
        .content
        .map(|c| clip(&scrub(c), MAX_CONTENT).0)
        .unwrap_or_default();
    let mut msg = json!({
        "content": content,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
        "components": [],
    });
    if !buttons.is_empty() {
        msg["components"] = json!([{"type": 1, "components": buttons}]);
    }
    let attachment = cut.then(|| {
        let text = redactor.scrub(&crate::render::text::render(report, false));
        msg["attachments"] = json!([{"id": 0, "filename": REPORT_FILE}]);
        (REPORT_FILE.to_string(), text.into_bytes())
    });
    Message {
        json: msg,
        attachment,
        charts: Vec::new(),
    }
}

fn fields_is_empty(embed: &Value) -> bool {
    embed["fields"].as_array().is_some_and(Vec::is_empty)
}

fn non_blank(s: String) -> String {
    if s.trim().is_empty() { "-".into() } else { s }
}

/// A plain text message (refusals, incident status), within limits, no pings.
pub fn text(content: &str, redactor: &Redactor, ephemeral: bool) -> Value {
    let (content, _) = clip(&tame(&redactor.scrub(content)), MAX_CONTENT);
    let mut msg = json!({"content": non_blank(content), "allowed_mentions": {"parse": []}});
    if ephemeral {
        msg["flags"] = json!(64);
    }
    msg
}

/// Checks a message against every Discord limit; the reason of the first breach.
pub fn check_limits(msg: &Value) -> Result<(), String> {
    let len = |v: &Value| v.as_str().map(chars).unwrap_or(0);
    if len(&msg["content"]) > MAX_CONTENT {
        return Err("content too long".into());
    }
    if msg["allowed_mentions"] != json!({"parse": []}) {
        return Err("allowed_mentions must be empty".into());
    }
    for e in msg["embeds"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let mut total = len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
        if len(&e["title"]) > MAX_TITLE {
            return Err("title too long".into());
        }
        if len(&e["description"]) > MAX_DESCRIPTION {
            return Err("description too long".into());
        }
        if len(&e["footer"]["text"]) > MAX_FOOTER {
            return Err("footer too long".into());
        }
        let fields = e["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if fields.len() > MAX_FIELDS {
            return Err(format!("{} fields", fields.len()));
        }
        for f in fields {
            if len(&f["name"]) > MAX_FIELD_NAME || len(&f["name"]) == 0 {
                return Err("field name length".into());
            }
            if len(&f["value"]) > MAX_FIELD_VALUE || len(&f["value"]) == 0 {
                return Err("field value length".into());
            }
            total += len(&f["name"]) + len(&f["value"]);
        }
        if total > MAX_EMBED_TOTAL {
            return Err(format!("embed total {total}"));
        }
    }
    Ok(())
}
