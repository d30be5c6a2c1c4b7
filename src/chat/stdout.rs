//! A surface for terminals and cron: one line per announcement on stdout
//! (`watch` without a chat). It takes no commands.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;

use super::{Announcement, ChatError, ChatSurface};
use crate::store::now_ms;
use crate::watch::Change;

/// Prints one line per announcement. Thread ids are made up
/// (`<unix ms><pid><n>`), unique per process.
#[derive(Default)]
pub struct StdoutSurface {
    next: AtomicU64,
}

fn line(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

fn describe(m: &Announcement) -> String {
    let layer: &str = m.report.verdict.layer.into();
    let change = match m.change {
        Some(Change::NewFailure) => "new_failure",
        Some(Change::Escalation) => "escalation",
        Some(Change::Recovery) => "recovery",
        None => "reminder",
    };
    let culprits = if m.report.verdict.culprits.is_empty() {
        "-".to_string()
    } else {
        m.report.verdict.culprits.join(",")
    };
    let mut s = format!("change={change} layer={layer} culprits={culprits}");
    if let Some(note) = &m.note {
        s.push_str(&format!(" note={note:?}"));
    }
    s
}

impl ChatSurface for StdoutSurface {
    fn open_thread<'a>(
        &'a self,
        _title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, ChatError>> {
        Box::pin(async move {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let thread = format!("{}{}{n}", now_ms(), std::process::id());
            line(&format!("{} thread={thread}", describe(first)));
            Ok(thread)
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            line(&format!("{} thread={thread_id}", describe(message)));
            Ok(())
        })
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            line(&format!(
                "change=recovery layer=none culprits=- thread={thread_id} summary={summary:?}"
            ));
            Ok(())
        })
    }
}
