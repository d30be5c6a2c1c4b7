//! The chat surface watch-mode tests deliver to: it records one line per
//! delivery (`open NewFailure`, `post <thread> Escalation`, `close <thread>`),
//! and can be told to fail, to hang, or to run a hook right after a delivery.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use aisbf_doctor::chat::{Announcement, ChatError, ChatSurface};
use futures::future::BoxFuture;

/// The thread id every recorded `open` returns.
const RECORDED_THREAD: &str = "111111111111111111";

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub struct RecordingSurface {
    posts: Mutex<Vec<String>>,
    /// Every delivery fails (as Discord answering 503) while set.
    pub fail: AtomicBool,
    /// A delivery never returns and never reaches the chat while set.
    pub hang: AtomicBool,
    /// Set once a delivery was attempted.
    pub entered: AtomicBool,
    after: Mutex<Option<Hook>>,
}

impl RecordingSurface {
    pub fn posts(&self) -> Vec<String> {
        self.posts.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// How many threads were opened.
    pub fn opened(&self) -> usize {
        self.posts()
            .iter()
            .filter(|p| p.starts_with("open "))
            .count()
    }

    /// Runs `hook` once, right after the next delivery went out.
    pub fn after_next_delivery(&self, hook: impl FnOnce() + Send + 'static) {
        if let Ok(mut h) = self.after.lock() {
            *h = Some(Box::new(hook));
        }
    }

    async fn deliver(&self, line: String) -> Result<(), ChatError> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(ChatError::Delivery("discord answered 503".into()));
        }
        self.entered.store(true, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if let Ok(mut p) = self.posts.lock() {
            p.push(line);
        }
        let hook = self.after.lock().ok().and_then(|mut h| h.take());
        if let Some(hook) = hook {
            hook();
        }
        Ok(())
    }
}

fn change_name(m: &Announcement) -> String {
    m.change
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "Reminder".into())
}

impl ChatSurface for RecordingSurface {
    fn open_thread<'a>(
        &'a self,
        _title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, ChatError>> {
        Box::pin(async move {
            self.deliver(format!("open {}", change_name(first))).await?;
            Ok(RECORDED_THREAD.to_string())
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            self.deliver(format!("post {thread_id} {}", change_name(message)))
                .await
        })
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        _summary: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move { self.deliver(format!("close {thread_id}")).await })
    }
}
