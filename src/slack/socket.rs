//! Socket Mode: `apps.connections.open` with the app-level token gives a
//! websocket URL; Slack sends envelopes over it and wants each acknowledged
//! by its `envelope_id` within 3 s. Every envelope is handled in its own
//! task (one slow ops-group lookup never holds the others); a `disconnect`
//! envelope or a closed socket reconnects, with doubling back-off after
//! failures.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::bot::SlackBot;
use super::command::{BlockActions, SlashCommand};
use crate::secret::Secret;

/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How one connection ended.
enum Ended {
    /// Slack asked us to reconnect (`disconnect` envelope).
    Refresh,
    /// The socket closed or failed.
    Lost(String),
}

/// Stays connected until the process stops.
pub async fn run(bot: Arc<SlackBot>, app_token: Secret) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match session(&bot, &app_token).await {
            Ended::Refresh => {
                tracing::info!("slack asked for a new socket; reconnecting");
                backoff = Duration::from_millis(500);
            }
            Ended::Lost(why) => {
                tracing::warn!(reason = %bot.redactor.scrub(&why), wait_ms = backoff.as_millis() as u64, "slack socket lost; reconnecting");
                let jitter = Duration::from_millis(fastrand::u64(0..250));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn session(bot: &Arc<SlackBot>, app_token: &Secret) -> Ended {
    let url = match bot.api.open_connection(app_token).await {
        Ok(u) => u,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    let ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        // The URL carries a ticket: only the error's kind is kept.
        Err(e) => return Ended::Lost(format!("websocket connect: {e}")),
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(256);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let ended = loop {
        let Some(frame) = stream.next().await else {
            break Ended::Lost("socket closed".into());
        };
        let text = match frame {
            Ok(Message::Text(t)) => t,
            Ok(Message::Ping(p)) => {
                let _ = tx.send(Message::Pong(p)).await;
                continue;
            }
            Ok(Message::Close(_)) => break Ended::Lost("closed by slack".into()),
            Ok(_) => continue,
            Err(e) => break Ended::Lost(e.to_string()),
        };
        let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
            tracing::warn!("slack sent a frame that is not JSON; ignored");
            continue;
        };
        match envelope["type"].as_str().unwrap_or_default() {
            "hello" => {
                tracing::info!("slack socket mode connected");
                eprintln!("aisbf-doctor: connected to Slack in Socket Mode");
            }
            "disconnect" => break Ended::Refresh,
            _ => {
                let bot = bot.clone();
                let tx = tx.clone();
                tokio::spawn(crate::memory::returning_memory_after(envelope_task(
                    bot, envelope, tx,
                )));
            }
        }
    };
    drop(tx);
    writer.abort();
    ended
}

/// Handles one envelope: acknowledges it (with the immediate answer as its
/// payload for a slash command), then runs the work.
async fn envelope_task(
    bot: Arc<SlackBot>,
    envelope: Value,
    tx: tokio::sync::mpsc::Sender<Message>,
) {
    let Some(id) = envelope["envelope_id"].as_str().map(str::to_string) else {
        return;
    };
    let payload = envelope["payload"].clone();
    let handled = match envelope["type"].as_str().unwrap_or_default() {
        "slash_commands" => match serde_json::from_value::<SlashCommand>(payload) {
            Ok(cmd) => Some(bot.command(cmd).await),
            Err(e) => {
                tracing::warn!(error = %e, "malformed slash command envelope");
                None
            }
        },
        "interactive" => match serde_json::from_value::<BlockActions>(payload) {
            Ok(a) => Some(bot.action(a).await),
            Err(e) => {
                tracing::warn!(error = %e, "malformed interactive envelope");
                None
            }
        },
        // Events we did not subscribe to: acknowledged and dropped.
        _ => None,
    };
    let mut ack = json!({"envelope_id": id});
    let work = match handled {
        Some(h) => {
            if let Some(a) = h.ack {
                ack["payload"] = a;
            }
            h.work
        }
        None => None,
    };
    if tx.send(Message::Text(ack.to_string())).await.is_err() {
        tracing::warn!("slack envelope not acknowledged: socket gone");
        return;
    }
    if let Some(work) = work {
        work.await;
    }
}
