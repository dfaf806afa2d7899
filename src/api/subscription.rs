//! Drives the Watch/Subscribe streams: the start position (live, backfill or
//! resume), records from the feed's tail or the store, the caught-up marker,
//! progress on a quiet stream, and the end of a stream.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch},
    time::Instant,
};
use tokio_stream::{Stream, wrappers::WatchStream};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::validate::invalid;
use crate::{
    domain::records::{BudgetRecord, ResponseRecord},
    feed::{Feeds, Tail, TailRead},
    store::{Position, Store, StreamFilter},
};

/// Largest accepted backfill.
pub const MAX_BACKFILL: i32 = 1000;
/// Messages buffered per subscriber before the producer waits for the client.
/// Together with [`STALLED_AFTER`], this is all a subscriber holds while its
/// client does not read, besides one encoded piece (see api/codec.rs): 2
/// records of at most ~4.3 KiB each (4 KiB of reason).
const BUFFERED_MESSAGES: usize = 2;
/// Rows read from the tail or the store at once, at most. A stream starts
/// with pages of [`BUFFERED_MESSAGES`] rows, doubles its page each time the
/// client took a whole page without stalling, and starts over after a stall
/// (as TCP's slow start does), so that thousands of stalled streams never
/// hold a page each, even for a moment. A filtered stream, which may skip
/// most rows, reads four times as many.
const PAGE: usize = 16;
const FILTERED_PAGES: usize = 4;
/// A client that has taken no message for this long is stalled: the producer
/// drops the rest of its page and reads it again once the client takes one,
/// rather than keep up to a page of records per stalled stream.
const STALLED_AFTER: Duration = Duration::from_millis(100);

/// How one kind of stream renders its messages.
pub trait StreamMessage: Sized + Send + 'static {
    type Record: Send + Sync + 'static;
    /// Tags this stream's cursors, so that one stream's cursor is refused by another.
    const CURSOR_TAG: &'static str;
    fn record(cursor: String, record: &Self::Record) -> Self;
    fn caught_up(cursor: String) -> Self;
    fn progress(cursor: String) -> Self;
}

/// Implements [`StreamMessage`] for a stream response whose `event` oneof has
/// a record variant and the `CaughtUp` and `Progress` markers.
macro_rules! stream_message {
    ($message:ty, $record:ty, $tag:literal, $module:ident :: $variant:ident, $convert:path) => {
        impl $crate::api::subscription::StreamMessage for $message {
            type Record = $record;
            const CURSOR_TAG: &'static str = $tag;

            fn record(cursor: String, record: &$record) -> Self {
                Self {
                    cursor,
                    event: Some(pb::$module::Event::$variant($convert(record.clone()))),
                }
            }

            fn caught_up(cursor: String) -> Self {
                Self {
                    cursor,
                    event: Some(pb::$module::Event::CaughtUp(pb::StreamCaughtUp {})),
                }
            }

            fn progress(cursor: String) -> Self {
                Self {
                    cursor,
                    event: Some(pb::$module::Event::Progress(pb::StreamProgress {})),
                }
            }
        }
    };
}
pub(crate) use stream_message;

/// A record that belongs to a job (for job-filtered streams).
pub trait JobScoped {
    fn job_hash(&self) -> &str;
}

impl JobScoped for BudgetRecord {
    fn job_hash(&self) -> &str {
        &self.job_hash
    }
}

impl JobScoped for ResponseRecord {
    fn job_hash(&self) -> &str {
        &self.job_hash
    }
}

/// What a subscriber asked for.
pub struct StreamRequest {
    pub backfill: Option<i32>,
    pub after_cursor: String,
    /// Which rows the backfill counts (the same rows `matches` accepts).
    pub filter: StreamFilter,
}

/// Shared by every stream of the server.
pub struct Subscriptions {
    store: Arc<dyn Store>,
    pub feeds: Feeds,
    permits: Arc<Semaphore>,
    progress_interval: Duration,
    stopping: watch::Receiver<bool>,
}

impl Subscriptions {
    pub fn new(
        store: Arc<dyn Store>,
        feeds: Feeds,
        max_subscribers: usize,
        progress_interval: Duration,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store,
            feeds,
            permits: Arc::new(Semaphore::new(max_subscribers)),
            progress_interval,
            stopping,
        }
    }

    /// Opens a stream of `tail`'s table, delivering the rows `matches` accepts.
    pub async fn open<M: StreamMessage>(
        &self,
        tail: Arc<Tail<M::Record>>,
        request: StreamRequest,
        matches: impl Fn(&M::Record) -> bool + Send + Sync + 'static,
    ) -> Result<SubscriberStream<M>, Status> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(
                "the server has its maximum number of subscribers; retry later",
            )
        })?;
        let filtered = !matches!(request.filter, StreamFilter::All);
        let (start, caught_up_at) = self.start_position::<M>(&tail, request).await?;
        let (sender, receiver) = mpsc::channel(BUFFERED_MESSAGES);
        let producer = Producer {
            tail,
            position: start,
            caught_up_at,
            matches: Box::new(matches),
            filtered,
            page: BUFFERED_MESSAGES,
            sender,
            progress_interval: self.progress_interval,
            stopping: self.stopping.clone(),
            store: self.store.clone(),
            _permit: permit,
        };
        tokio::spawn(producer.run());
        Ok(SubscriberStream {
            receiver,
            stopping: WatchStream::new(self.stopping.clone()),
            ended: false,
        })
    }

    /// The position to start after, and the last row recorded so far (the
    /// stream is caught up once past it).
    /// Opens a stream of records that belong to a job, with an optional job
    /// filter (absent or empty: all jobs).
    pub async fn open_for_job<M>(
        &self,
        tail: Arc<Tail<M::Record>>,
        job_hash: Option<String>,
        backfill: Option<i32>,
        after_cursor: String,
    ) -> Result<SubscriberStream<M>, Status>
    where
        M: StreamMessage,
        M::Record: JobScoped,
    {
        let job = super::validate::job_filter(job_hash)?;
        let request = StreamRequest {
            backfill,
            after_cursor,
            filter: job.clone().map_or(StreamFilter::All, StreamFilter::Job),
        };
        self.open(tail, request, move |record: &M::Record| {
            job.as_deref().is_none_or(|job| record.job_hash() == job)
        })
        .await
    }

    async fn start_position<M: StreamMessage>(
        &self,
        tail: &Tail<M::Record>,
        request: StreamRequest,
    ) -> Result<(Position, Position), Status> {
        let bounds = self.store.stream_bounds(tail.table()).await?;
        let end = bounds.end();
        if !request.after_cursor.is_empty() {
            let position = decode_cursor(M::CURSOR_TAG, &request.after_cursor)?;
            let oldest = bounds.before_oldest();
            if position > end || position < oldest {
                return Err(out_of_range(&encode_cursor(M::CURSOR_TAG, oldest)));
            }
            return Ok((position, end));
        }
        let start = match request.backfill {
            Some(n) if !(0..=MAX_BACKFILL).contains(&n) => {
                return Err(invalid(
                    "backfill",
                    format!("must be between 0 and {MAX_BACKFILL}, got {n}"),
                ));
            }
            Some(n) if n > 0 => {
                self.store
                    .backfill_start(tail.table(), request.filter, n as usize)
                    .await?
            }
            _ => end,
        };
        Ok((start, end))
    }
}

/// A stream's cursor: its tag and the position, opaque to clients. The form
/// is the one every release handed out, so old cursors keep working.
pub fn encode_cursor(tag: &str, position: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1|{tag}|{}", position.value()))
}

fn decode_cursor(tag: &str, cursor: &str) -> Result<Position, Status> {
    let refused = || invalid("after_cursor", "is not a cursor of this stream");
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(refused)?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(found), Some(position)) if found == tag => position
            .parse::<i64>()
            .ok()
            .and_then(Position::new)
            .ok_or_else(refused),
        _ => Err(refused()),
    }
}

fn out_of_range(oldest: &str) -> Status {
    let description = format!(
        "records after this cursor no longer exist (pruned or the store was reset); \
         the oldest cursor still available is {oldest}"
    );
    Status::with_error_details(
        Code::OutOfRange,
        format!("after_cursor: {description}"),
        ErrorDetails::with_bad_request_violation("after_cursor", description),
    )
}

/// Which records a subscriber receives.
type Matcher<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// The task behind one stream.
struct Producer<M: StreamMessage> {
    tail: Arc<Tail<M::Record>>,
    position: Position,
    /// The last row recorded when the stream started; the caught-up marker
    /// goes out once the position has passed it.
    caught_up_at: Position,
    matches: Matcher<M::Record>,
    /// Not every row is delivered (a job or threshold filter).
    filtered: bool,
    /// Rows to read next (see [`PAGE`]).
    page: usize,
    sender: mpsc::Sender<Result<Box<M>, Status>>,
    progress_interval: Duration,
    stopping: watch::Receiver<bool>,
    store: Arc<dyn Store>,
    _permit: OwnedSemaphorePermit,
}

/// Why a producer stops early.
enum Stop {
    ClientGone,
    ShuttingDown,
}

impl<M: StreamMessage> Producer<M> {
    async fn run(mut self) {
        let mut changes = self.tail.subscribe();
        let mut caught_up = false;
        let mut quiet_since = Instant::now();
        loop {
            if *self.stopping.borrow() {
                return;
            }
            // Nothing is read while the client's buffer is full.
            if self.room().await.is_err() {
                return;
            }
            let page = if self.filtered {
                self.page * FILTERED_PAGES
            } else {
                self.page
            };
            let read = self.tail.read_after(self.position, page);
            // Behind the tail, or ahead of a tail that has not yet read the
            // rows recorded before this stream started: ask the store.
            let from_store = match &read {
                TailRead::Behind => true,
                TailRead::Waiting => self.position < self.caught_up_at,
                TailRead::Rows(_) => false,
            };
            let rows = match read {
                _ if from_store => match self.read_store(page).await {
                    Ok(rows) => {
                        if rows.is_empty() {
                            // Rows recorded before the start were deleted meanwhile.
                            self.caught_up_at = self.caught_up_at.min(self.position);
                        }
                        rows
                    }
                    Err(status) => {
                        let _ = self.sender.send(Err(status)).await;
                        return;
                    }
                },
                TailRead::Rows(rows) => rows,
                _ => Vec::new(),
            };
            if rows.is_empty() {
                if !caught_up {
                    caught_up = true;
                    let marker = M::caught_up(encode_cursor(M::CURSOR_TAG, self.position));
                    if self.send(marker).await.is_err() {
                        return;
                    }
                    quiet_since = Instant::now();
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep_until(quiet_since + self.progress_interval) => {
                        let progress = M::progress(encode_cursor(M::CURSOR_TAG, self.position));
                        if self.send(progress).await.is_err() {
                            return;
                        }
                        quiet_since = Instant::now();
                    }
                    _ = self.sender.closed() => return,
                    _ = self.stopping.changed() => {}
                }
                continue;
            }
            let mut stalled = false;
            for (at, record) in rows {
                if let Some(record) = record
                    && (self.matches)(&record)
                {
                    let message = M::record(encode_cursor(M::CURSOR_TAG, at), &record);
                    match self.send_unless_stalled(message).await {
                        Ok(true) => quiet_since = Instant::now(),
                        // The rest of the page is read again once there is room.
                        Ok(false) => {
                            stalled = true;
                            break;
                        }
                        Err(_) => return,
                    }
                }
                // Past an unreadable row too (the store reported it).
                self.position = at;
            }
            self.page = if stalled {
                BUFFERED_MESSAGES
            } else {
                (self.page * 2).min(PAGE)
            };
        }
    }

    /// Rows after the position from the store; fails when the rows right
    /// after the position were pruned while this subscriber was behind.
    async fn read_store(
        &self,
        page: usize,
    ) -> Result<Vec<(Position, Option<Arc<M::Record>>)>, Status> {
        let rows = self.tail.fetch_after(self.position, page).await?;
        let skipped = rows
            .first()
            .is_some_and(|(at, _)| !self.position.is_followed_by(*at));
        if skipped {
            let bounds = self.store.stream_bounds(self.tail.table()).await?;
            if let Some(oldest) = bounds
                .oldest
                .filter(|oldest| !self.position.is_followed_by(*oldest))
            {
                return Err(out_of_range(&encode_cursor(M::CURSOR_TAG, oldest.before())));
            }
        }
        Ok(rows)
    }

    /// Waits until the client's buffer has room for a message.
    async fn room(&mut self) -> Result<(), Stop> {
        tokio::select! {
            reserved = self.sender.reserve() => reserved.map(drop).map_err(|_| Stop::ClientGone),
            _ = self.stopping.changed() => Err(Stop::ShuttingDown),
        }
    }

    /// Sends `message` unless the client's buffer stays full for
    /// [`STALLED_AFTER`]: false then, and the message is dropped.
    async fn send_unless_stalled(&mut self, message: M) -> Result<bool, Stop> {
        match tokio::time::timeout(STALLED_AFTER, self.send(message)).await {
            Ok(sent) => sent.map(|()| true),
            Err(_) => Ok(false),
        }
    }

    /// Waits for room in the client's buffer; gives up when the client is
    /// gone or the server stops.
    async fn send(&mut self, message: M) -> Result<(), Stop> {
        tokio::select! {
            sent = self.sender.send(Ok(Box::new(message))) => sent.map_err(|_| Stop::ClientGone),
            _ = self.stopping.changed() => Err(Stop::ShuttingDown),
        }
    }
}

/// The stream handed to tonic. It ends with UNAVAILABLE as soon as the server
/// starts shutting down, even when the client has not read what is buffered
/// (it resumes from its last cursor), and never ends with OK. Its buffer holds
/// boxed messages: a slot is then 16 bytes, and the buffer's first block of
/// 32 slots 512 bytes rather than 5 KiB.
pub struct SubscriberStream<M> {
    receiver: mpsc::Receiver<Result<Box<M>, Status>>,
    stopping: WatchStream<bool>,
    ended: bool,
}

impl<M> Stream for SubscriberStream<M> {
    type Item = Result<M, Status>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        while let Poll::Ready(Some(stopping)) = Pin::new(&mut self.stopping).poll_next(context) {
            if stopping {
                self.ended = true;
                return Poll::Ready(Some(Err(Status::unavailable(
                    "the server is shutting down; resume with the last cursor received",
                ))));
            }
        }
        match self.receiver.poll_recv(context) {
            Poll::Ready(None) => {
                // The producer only stops without an error when the server stops.
                self.ended = true;
                Poll::Ready(Some(Err(Status::unavailable(
                    "the stream ended; resume with the last cursor received",
                ))))
            }
            other => other.map(|polled| polled.map(|item| item.map(|message| *message))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_tagged() {
        let cursor = encode_cursor("budget", Position::new(42).unwrap());
        assert_eq!(decode_cursor("budget", &cursor).unwrap().value(), 42);
        // The form every earlier release handed out.
        assert_eq!(cursor, URL_SAFE_NO_PAD.encode("v1|budget|42"));
        assert!(decode_cursor("snapshots", &cursor).is_err());
        assert!(decode_cursor("budget", "garbage!").is_err());
        assert!(decode_cursor("budget", &URL_SAFE_NO_PAD.encode("v1|budget|-3")).is_err());
    }
}
