//! `learning-service entropy --watch`: follows SubscribePatternEntropy,
//! resuming from the last cursor when the server goes away.
//!
//! Standard output carries only snapshots (a line, or a JSON object per
//! line); what happens to the connection goes to standard error, so a
//! script reading the output never has to skip status lines.

use std::time::Duration;

use learning_service::pb::{self, subscribe_pattern_entropy_response::Event};
use tonic::{Code, Status};

use super::{
    connect::{Connection, from_broken_connection},
    failure::{Failure, code_name},
    json,
    render::{self, Color, Style, percent},
};

/// What `entropy --watch` was asked for.
pub struct WatchOptions {
    pub backfill: Option<u32>,
    /// Snapshots below it are marked LOW.
    pub threshold: f64,
    pub json: bool,
}

/// First wait before reconnecting; doubled on each failure, up to MAX.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run(connection: &Connection, args: &WatchOptions) -> Result<(), Failure> {
    eprintln!(
        "watching pattern entropy on {} (Ctrl-C to stop)",
        connection.server()
    );
    tokio::select! {
        result = follow(connection, args) => result,
        // Ctrl-C is how a watch normally ends: a success, not an error.
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn follow(connection: &Connection, args: &WatchOptions) -> Result<(), Failure> {
    let style = Style::detect();
    let mut cursor = String::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let request = pb::SubscribePatternEntropyRequest {
            // The backfill is for the first subscription only: a resumed one
            // continues exactly after the last message received.
            backfill: if cursor.is_empty() {
                args.backfill.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
            } else {
                None
            },
            after_cursor: cursor.clone(),
            threshold_exceeded_only: false,
        };
        let status = stream(connection, request, args, style, &mut cursor, &mut backoff).await?;
        let status = connection.explain(status);
        // Once the watch has worked, a lost server is waited for: UNAVAILABLE
        // is what a server says when it shuts down; one that dies without a
        // word (killed, or the network cut) leaves a status made here from
        // the broken connection; a restarting one may not answer in time.
        // Before that, every failure is reported at once: it is more likely
        // a wrong address or a refused handshake, which retrying would hide.
        let retry = !cursor.is_empty()
            && (matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
                || from_broken_connection(&status));
        if !retry {
            return Err(status.into());
        }
        // The first failure after a message is the loss; later ones are
        // failed attempts of the same outage.
        let what = if backoff == FIRST_BACKOFF {
            "connection lost"
        } else {
            "reconnect failed"
        };
        eprintln!(
            "{what} ({}: {}); retrying in {}",
            code_name(status.code()),
            status.message(),
            humantime::format_duration(backoff)
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Subscribes once and prints until the stream fails; returns its status.
/// Every message moves `cursor` forward, so the caller can resume from it.
async fn stream(
    connection: &Connection,
    request: pb::SubscribePatternEntropyRequest,
    args: &WatchOptions,
    style: Style,
    cursor: &mut String,
    backoff: &mut Duration,
) -> Result<Status, Failure> {
    let resumed = !request.after_cursor.is_empty();
    let mut client = connection.entropy();
    // Only the start of the call has a deadline: a watch lasts.
    let started = tokio::time::timeout(
        connection.timeout(),
        client.subscribe_pattern_entropy(request),
    )
    .await;
    let mut messages = match started {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => return Ok(status),
        Err(_) => return Ok(connection.no_answer()),
    };
    loop {
        let message = match messages.message().await {
            Ok(Some(message)) => message,
            // The contract ends streams only with a status; a bare end
            // means the connection went away.
            Ok(None) => return Ok(Status::unavailable("the stream ended")),
            Err(status) => return Ok(status),
        };
        *cursor = message.cursor;
        *backoff = FIRST_BACKOFF;
        match message.event {
            Some(Event::Snapshot(snapshot)) => {
                if args.json {
                    render::print_json(&json::entropy_metrics(&snapshot))?;
                } else {
                    render::print(&snapshot_line(&snapshot, args.threshold, style))?;
                }
            }
            Some(Event::CaughtUp(_)) if resumed => {
                eprintln!("reconnected; caught up, waiting for new snapshots");
            }
            Some(Event::CaughtUp(_)) => eprintln!("caught up; waiting for new snapshots"),
            Some(Event::Progress(_)) | None => {}
        }
    }
}

/// One snapshot on one line, for --watch.
pub fn snapshot_line(metrics: &pb::PatternEntropyMetrics, threshold: f64, style: Style) -> String {
    let low = metrics.diversity_index < threshold;
    let mut line = format!(
        "{}  entropy {:.3}/{:.3} bits  diversity {}  patterns {}/{}  applications {}  dominant {}  id {}",
        render::short_time(metrics.calculated_at.as_ref()),
        metrics.shannon_entropy,
        metrics.max_possible_entropy,
        style.paint(
            &format!("{:.3}", metrics.diversity_index),
            low.then_some(Color::Red)
        ),
        metrics.effective_pattern_count,
        metrics.unique_pattern_count,
        metrics.total_applications,
        percent(metrics.dominant_pattern_share),
        metrics.id,
    );
    if low {
        line.push_str(&format!("  {}", style.paint("LOW", Some(Color::Red))));
    }
    line.push('\n');
    line
}
