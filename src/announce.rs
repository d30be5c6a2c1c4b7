//! Where watch-mode announcements go: the incident channel and its threads.
//!
//! The watch runner decides *what* to announce; an [`Announcer`] only knows
//! *how* to deliver it. Production uses Discord (see `discord`); tests use a
//! recorder, so the schedule, leader lease and store logic run without Discord.

use futures::future::BoxFuture;

use crate::engine::Report;
use crate::watch::Change;

/// One message for the incident channel or an incident's thread.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// What happened (new failure, escalation, recovery); `None` for a
    /// follow-up reminder.
    pub change: Option<Change>,
    /// The run that caused it.
    pub report: Report,
    /// Extra text above the verdict (reminders, the incident summary).
    pub note: Option<String>,
    /// Lease fence of the leader that sends it (`None` without a lease).
    /// A deliverer may compare it with the newest fence it has seen and drop
    /// a stale leader's post.
    pub fence: Option<i64>,
}

/// Why a delivery failed; the caller logs it and retries on the next run.
#[derive(Debug, thiserror::Error)]
#[error("announcement not delivered: {0}")]
pub struct AnnounceError(pub String);

/// Delivers announcements. Thread ids are Discord snowflakes as strings.
pub trait Announcer: Send + Sync {
    /// Opens a thread in the incident channel titled `title` and posts
    /// `first` into it; returns the thread id.
    fn open_thread<'a>(
        &'a self,
        title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, AnnounceError>>;

    /// Posts into an existing thread.
    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), AnnounceError>>;

    /// Posts `summary` into the thread and archives it.
    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), AnnounceError>>;
}
