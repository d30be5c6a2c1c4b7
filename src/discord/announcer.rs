//! [`Announcer`] over Discord REST: watch mode's delivery.

use futures::future::BoxFuture;

use super::render::{self, Extras};
use super::rest::Rest;
use crate::announce::{AnnounceError, Announcement, Announcer};
use crate::secret::Redactor;
use crate::watch::Change;

pub struct DiscordAnnouncer {
    rest: Rest,
    channel: u64,
    redactor: Redactor,
    /// The newest leader fence seen; a post with an older one is refused.
    newest_fence: std::sync::atomic::AtomicI64,
}

impl DiscordAnnouncer {
    pub fn new(rest: Rest, channel_id: u64, redactor: Redactor) -> DiscordAnnouncer {
        DiscordAnnouncer {
            rest,
            channel: channel_id,
            redactor,
            newest_fence: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Refuses an announcement from a leader older than one already heard.
    fn check_fence(&self, a: &Announcement) -> Result<(), AnnounceError> {
        use std::sync::atomic::Ordering;
        let Some(fence) = a.fence else {
            return Ok(());
        };
        let newest = self.newest_fence.fetch_max(fence, Ordering::SeqCst);
        if fence < newest {
            return Err(AnnounceError(format!(
                "stale leader: fence {fence} is older than {newest}; not posted"
            )));
        }
        Ok(())
    }

    fn message(&self, a: &Announcement) -> render::Message {
        let change = a.change.map(|c| match c {
            Change::NewFailure => "New failure",
            Change::Escalation => "Escalation",
            Change::Recovery => "Recovered",
        });
        let content = match (change, a.note.as_deref()) {
            (Some(c), Some(n)) => Some(format!("**{c}** · {n}")),
            (Some(c), None) => Some(format!("**{c}**")),
            (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        };
        render::verdict(
            &a.report,
            &self.redactor,
            &Extras {
                content: content.as_deref(),
                ..Extras::default()
            },
        )
    }
}

fn err(e: super::rest::RestError) -> AnnounceError {
    AnnounceError(e.to_string())
}

impl Announcer for DiscordAnnouncer {
    fn open_thread<'a>(
        &'a self,
        title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, AnnounceError>> {
        Box::pin(async move {
            let thread = self
                .rest
                .create_thread(self.channel, title)
                .await
                .map_err(err)?;
            let msg = self.message(first);
            self.rest
                .post(&thread, &msg.json, &msg.files())
                .await
                .map_err(err)?;
            Ok(thread)
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), AnnounceError>> {
        Box::pin(async move {
            self.check_fence(message)?;
            let msg = self.message(message);
            self.rest
                .post(thread_id, &msg.json, &msg.files())
                .await
                .map_err(err)
        })
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), AnnounceError>> {
        Box::pin(async move {
            let body = render::text(summary, &self.redactor, false);
            self.rest.post(thread_id, &body, &[]).await.map_err(err)?;
            self.rest.archive_thread(thread_id).await.map_err(err)
        })
    }
}
