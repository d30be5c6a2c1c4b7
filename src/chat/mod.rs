//! The seam between the application and a team chat.
//!
//! The application ([`crate::app`]) decides *what* to say and where (the
//! answer to a command, the incident thread); a [`ChatSurface`] only knows
//! *how* to say it in its chat. Discord implements it in `crate::discord`,
//! terminals in [`stdout`], and tests with a recorder. A new chat needs its
//! own folder (verify, parse, render, deliver) and nothing changed here: see
//! docs/adding-a-chat-surface.md.

use futures::future::BoxFuture;

use crate::app::Request;
use crate::engine::Report;
use crate::watch::Change;

pub mod fanout;
pub mod stdout;

/// One message for the incident channel or an incident's thread.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// What happened (new failure, escalation, recovery); `None` for a
    /// follow-up reminder or a verdict someone asked for.
    pub change: Option<Change>,
    /// The run that caused it.
    pub report: Report,
    /// Extra text above the verdict (reminders, the incident summary).
    pub note: Option<String>,
    /// Lease fence of the leader that sends it (`None` without a lease, and
    /// for answers to commands). A surface may compare it with the newest
    /// fence it has seen and drop a stale leader's post.
    pub fence: Option<i64>,
}

impl Announcement {
    /// A verdict posted into a thread as it is (no change, no note).
    pub fn verdict(report: &Report) -> Announcement {
        Announcement {
            change: None,
            report: report.clone(),
            note: None,
            fence: None,
        }
    }
}

/// The answer to a command.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A verdict, with the request it answers and the incident thread it
    /// was also posted into.
    Verdict {
        report: Report,
        request: Request,
        thread: Option<String>,
    },
    /// Plain text (incident status, a close summary, a refusal).
    Text(String),
}

/// Where the answer to a command goes: whatever the surface needs to reply
/// (Discord: the interaction token; another chat: its response URL), the
/// channel it was asked in (for a surface that must fall back to posting
/// there) and who asked. The token is a short-lived credential, never shown.
#[derive(Clone)]
pub struct ReplyTo {
    pub token: crate::secret::Secret,
    pub channel: Option<String>,
    /// Who asked, as the surface names users (`discord:<id>`).
    pub asked_by: String,
}

impl std::fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyTo")
            .field("token", &"***")
            .field("channel", &self.channel)
            .field("asked_by", &self.asked_by)
            .finish()
    }
}

/// Why a delivery failed; the caller logs it (and watch mode retries it on
/// the next run).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The chat refused or did not answer (status and reason in the text,
    /// already redacted by the surface).
    #[error("announcement not delivered: {0}")]
    Delivery(String),
    /// A leader older than one already heard tried to post.
    #[error(
        "announcement not delivered: stale leader: fence {fence} is older than {newest}; not posted"
    )]
    StaleLeader { fence: i64, newest: i64 },
    /// The incident store failed while announcing.
    #[error("announcement not delivered: {0}")]
    Store(#[from] crate::store::StoreError),
    /// This surface does not take commands (a terminal, a recorder).
    #[error("this surface cannot answer commands")]
    NoReplies,
}

/// A team chat: answer a command, open a thread, post into it, archive it.
/// Thread ids are the surface's own (Discord snowflakes as strings).
pub trait ChatSurface: Send + Sync {
    /// Opens a thread in the incident channel titled `title` and posts
    /// `first` into it; returns the thread id.
    fn open_thread<'a>(
        &'a self,
        title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, ChatError>>;

    /// Posts into an existing thread.
    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), ChatError>>;

    /// Posts `summary` into the thread and archives it.
    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>>;

    /// Whether incident threads can be opened (Discord without
    /// `incident_channel`: the incident lives in the store only).
    fn has_incident_channel(&self) -> bool {
        true
    }

    /// How a requester (`discord:<id>`, `watch`) is named in a message.
    fn mention(&self, who: &str) -> String {
        who.to_string()
    }

    /// How a thread is linked in a message.
    fn thread_link(&self, thread_id: &str) -> String {
        format!("thread {thread_id}")
    }

    /// Answers the command `to` points at.
    fn reply<'a>(
        &'a self,
        to: &'a ReplyTo,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        let _ = (to, answer);
        Box::pin(async { Err(ChatError::NoReplies) })
    }
}
