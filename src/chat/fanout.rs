//! Several chats at once (Discord and Slack from one config): every
//! announcement goes to each surface, and a command's answer to the surface
//! it came from (by the `<surface>:` prefix of who asked).
//!
//! The incident store keeps one thread id per incident, at most 32
//! characters (MySQL `VARCHAR(32)`); a fan-out thread id packs each
//! surface's own thread into it, so the store's schema stays as it is:
//! `~` then, per surface, the first letter of its name and its id, numeric
//! ids (Discord snowflakes, Slack `ts`) written in base 62
//! (`~d#0AzK3…~s#a9Qx…`). An id without the leading `~` (an incident
//! opened before a second surface was configured) belongs to the first
//! surface.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Announcement, Answer, ChatError, ChatSurface, ReplyTo};

pub struct Fanout {
    /// Each surface with its name, the prefix of its users (`discord`, `slack`).
    surfaces: Vec<(String, Arc<dyn ChatSurface>)>,
}

impl Fanout {
    pub fn new(surfaces: Vec<(String, Arc<dyn ChatSurface>)>) -> Fanout {
        Fanout { surfaces }
    }

    /// Each surface's own thread id inside a fan-out thread id.
    pub fn threads(&self, thread_id: &str) -> BTreeMap<String, String> {
        let Some(parts) = thread_id.strip_prefix('~') else {
            return self
                .surfaces
                .first()
                .map(|(name, _)| BTreeMap::from([(name.clone(), thread_id.to_string())]))
                .unwrap_or_default();
        };
        let mut map = BTreeMap::new();
        for part in parts.split('~') {
            let mut chars = part.chars();
            let Some(initial) = chars.next() else {
                continue;
            };
            if let Some((name, _)) = self.surfaces.iter().find(|(n, _)| n.starts_with(initial)) {
                map.insert(name.clone(), unpack(chars.as_str()));
            }
        }
        map
    }

    /// The fan-out id of each surface's own thread.
    pub fn thread_id(&self, threads: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for (name, _) in &self.surfaces {
            if let (Some(id), Some(initial)) = (threads.get(name), name.chars().next()) {
                out.push('~');
                out.push(initial);
                out.push_str(&pack(id));
            }
        }
        out
    }

    fn named(&self, who: &str) -> Option<&Arc<dyn ChatSurface>> {
        let prefix = who.split_once(':').map(|(p, _)| p)?;
        self.surfaces
            .iter()
            .find(|(name, _)| name == prefix)
            .map(|(_, s)| s)
    }

    /// Runs `each` on every surface holding a part of `thread_id`: `Ok` when
    /// at least one delivered (the others are logged, so a retry does not
    /// post twice where it already went), a stale leader refused anywhere
    /// refused everywhere.
    async fn each_thread<'a, F>(&'a self, thread_id: &str, each: F) -> Result<(), ChatError>
    where
        F: Fn(&'a Arc<dyn ChatSurface>, String) -> BoxFuture<'a, Result<(), ChatError>>,
    {
        let threads = self.threads(thread_id);
        let mut delivered = 0usize;
        let mut failures = Vec::new();
        for (name, surface) in &self.surfaces {
            let Some(own) = threads.get(name) else {
                continue;
            };
            match each(surface, own.clone()).await {
                Ok(()) => delivered += 1,
                Err(e @ ChatError::StaleLeader { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(surface = %name, error = %e, "not delivered to this chat");
                    failures.push(format!("{name}: {e}"));
                }
            }
        }
        if delivered == 0 && !failures.is_empty() {
            return Err(ChatError::Delivery(failures.join("; ")));
        }
        Ok(())
    }
}

impl ChatSurface for Fanout {
    fn open_thread<'a>(
        &'a self,
        title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, ChatError>> {
        Box::pin(async move {
            let mut opened = BTreeMap::new();
            let mut failures = Vec::new();
            for (name, surface) in &self.surfaces {
                if !surface.has_incident_channel() {
                    continue;
                }
                match surface.open_thread(title, first).await {
                    Ok(id) => {
                        opened.insert(name.clone(), id);
                    }
                    Err(e @ ChatError::StaleLeader { .. }) => return Err(e),
                    Err(e) => {
                        tracing::warn!(surface = %name, error = %e, "incident thread not opened in this chat");
                        failures.push(format!("{name}: {e}"));
                    }
                }
            }
            if opened.is_empty() {
                return Err(ChatError::Delivery(if failures.is_empty() {
                    "no chat has an incident channel".into()
                } else {
                    failures.join("; ")
                }));
            }
            Ok(self.thread_id(&opened))
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(self.each_thread(thread_id, move |surface, own| {
            Box::pin(async move { surface.post(&own, message).await })
        }))
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(self.each_thread(thread_id, move |surface, own| {
            Box::pin(async move { surface.close_thread(&own, summary).await })
        }))
    }

    fn has_incident_channel(&self) -> bool {
        self.surfaces.iter().any(|(_, s)| s.has_incident_channel())
    }

    fn mention(&self, who: &str) -> String {
        match self.named(who) {
            Some(s) => s.mention(who),
            None => who.to_string(),
        }
    }

    fn thread_link(&self, thread_id: &str) -> String {
        let threads = self.threads(thread_id);
        let links: Vec<String> = self
            .surfaces
            .iter()
            .filter_map(|(name, s)| {
                threads
                    .get(name)
                    .map(|t| format!("{name}: {}", s.thread_link(t)))
            })
            .collect();
        links.join(" · ")
    }

    fn reply<'a>(
        &'a self,
        to: &'a ReplyTo,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let Some(surface) = self.named(&to.asked_by) else {
                return Err(ChatError::NoReplies);
            };
            // The asking chat sees its own part of the incident thread.
            let answer = match answer {
                Answer::Verdict {
                    report,
                    request,
                    thread: Some(t),
                } => {
                    let prefix = to.asked_by.split_once(':').map(|(p, _)| p).unwrap_or("");
                    Answer::Verdict {
                        report: report.clone(),
                        request: request.clone(),
                        thread: self.threads(t).get(prefix).cloned(),
                    }
                }
                other => other.clone(),
            };
            surface.reply(to, &answer).await
        })
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A numeric id (`123456789012345678`, `1700000000.000100`) as `#`, the
/// position of its dot (base 62, `0` for none) and `1` + its digits in base
/// 62; any other id as it is.
fn pack(id: &str) -> String {
    let dot = id.find('.');
    let digits: String = id.chars().filter(|c| *c != '.').collect();
    let numeric = !digits.is_empty()
        && digits.len() <= 37
        && digits.chars().all(|c| c.is_ascii_digit())
        && id.matches('.').count() <= 1
        && dot.is_none_or(|d| d > 0 && d < 62);
    let Some(mut n) = numeric
        .then(|| format!("1{digits}").parse::<u128>().ok())
        .flatten()
    else {
        return id.to_string();
    };
    let mut out = Vec::new();
    while n > 0 {
        out.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    out.reverse();
    let dot = BASE62[dot.unwrap_or(0)] as char;
    format!("#{dot}{}", String::from_utf8_lossy(&out))
}

fn unpack(packed: &str) -> String {
    let Some(rest) = packed.strip_prefix('#') else {
        return packed.to_string();
    };
    let mut chars = rest.chars();
    let digit = |c: char| BASE62.iter().position(|b| *b as char == c);
    let Some(dot) = chars.next().and_then(digit) else {
        return packed.to_string();
    };
    let mut n: u128 = 0;
    for c in chars {
        let Some(d) = digit(c) else {
            return packed.to_string();
        };
        n = n.saturating_mul(62).saturating_add(d as u128);
    }
    let digits = n.to_string();
    let mut digits = digits.get(1..).unwrap_or_default().to_string();
    if dot > 0 && dot <= digits.len() {
        digits.insert(dot, '.');
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str, bool);

    impl ChatSurface for Named {
        fn open_thread<'a>(
            &'a self,
            _title: &'a str,
            _first: &'a Announcement,
        ) -> BoxFuture<'a, Result<String, ChatError>> {
            Box::pin(async move {
                if self.1 {
                    Ok(format!("{}-thread", self.0))
                } else {
                    Err(ChatError::Delivery("down".into()))
                }
            })
        }
        fn post<'a>(
            &'a self,
            _thread_id: &'a str,
            _message: &'a Announcement,
        ) -> BoxFuture<'a, Result<(), ChatError>> {
            Box::pin(async { Ok(()) })
        }
        fn close_thread<'a>(
            &'a self,
            _thread_id: &'a str,
            _summary: &'a str,
        ) -> BoxFuture<'a, Result<(), ChatError>> {
            Box::pin(async { Ok(()) })
        }
        fn thread_link(&self, thread_id: &str) -> String {
            format!("<{thread_id}>")
        }
    }

    fn fanout(slack_up: bool) -> Fanout {
        Fanout::new(vec![
            (
                "discord".into(),
                Arc::new(Named("d", true)) as Arc<dyn ChatSurface>,
            ),
            ("slack".into(), Arc::new(Named("s", slack_up))),
        ])
    }

    fn announcement() -> Announcement {
        Announcement::verdict(&crate::engine::Report::from_findings(
            "prod",
            vec![],
            None,
            1,
        ))
    }

    #[tokio::test]
    async fn one_thread_id_holds_each_chats_own_thread() {
        let f = fanout(true);
        let id = f.open_thread("t", &announcement()).await.expect("opened");
        assert_eq!(id, "~dd-thread~ss-thread");
        assert_eq!(
            f.threads(&id).get("slack").map(String::as_str),
            Some("s-thread")
        );
        assert_eq!(
            f.thread_link(&id),
            "discord: <d-thread> · slack: <s-thread>"
        );
    }

    #[tokio::test]
    async fn a_chat_that_is_down_does_not_keep_the_others_from_their_thread() {
        let f = fanout(false);
        let id = f
            .open_thread("t", &announcement())
            .await
            .expect("opened in discord");
        assert_eq!(id, "~dd-thread");
    }

    #[test]
    fn a_discord_snowflake_and_a_slack_ts_fit_the_stores_32_characters() {
        let f = fanout(true);
        let threads = BTreeMap::from([
            ("discord".to_string(), "18446744073709551615".to_string()),
            ("slack".to_string(), "1700000000.000100".to_string()),
        ]);
        let id = f.thread_id(&threads);
        assert!(id.len() <= 32, "{id} is {} characters", id.len());
        assert_eq!(f.threads(&id), threads);
    }

    #[test]
    fn ids_pack_and_unpack_unchanged() {
        for id in [
            "1",
            "0001.5",
            "1700000000.000100",
            "C1:17.1",
            "x",
            "123456789012345678",
        ] {
            assert_eq!(unpack(&pack(id)), id, "{id} -> {}", pack(id));
        }
    }

    #[test]
    fn an_id_from_before_the_second_chat_belongs_to_the_first() {
        let f = fanout(true);
        assert_eq!(
            f.threads("123456789"),
            BTreeMap::from([("discord".to_string(), "123456789".to_string())])
        );
    }
}
