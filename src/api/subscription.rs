//! Drives the Watch/Subscribe streams: the start position (live, backfill or
//! resume), records from the feed's tail or the store, the caught-up marker,
//! progress on a quiet stream, and the end of a stream.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    time::{Instant, Sleep},
};
use tokio_stream::{Stream, wrappers::WatchStream};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{codec::Encoded, validate::invalid};
use crate::{
    domain::records::{BudgetRecord, ResponseRecord},
    feed::{Feeds, StreamRecord, Tail, TailRead, TailRow},
    store::{Position, Store, StreamFilter},
};

/// Largest accepted backfill.
pub const MAX_BACKFILL: i32 = 1000;
/// Rows read from the tail or the store at once, at most: all that a stream
/// whose client does not read holds besides what HTTP/2 holds for it (one
/// encoded piece, see api/codec.rs). Rows from the tail are shared with it.
/// A filtered stream, which may skip most rows, reads four times as many.
const PAGE: usize = 16;
const FILTERED_PAGES: usize = 4;
/// Bytes of messages kept from one read of the store, at most (a page of
/// small records, one with a 4 KiB reason): rows read from the store belong
/// to one stream, and thousands of stalled streams behind the tail must not
/// hold a page of large records each.
const STORE_PAGE_BYTES: usize = 8 * 1024;

/// How one kind of stream renders its messages.
pub trait StreamMessage: prost::Message + Sized + Send + 'static {
    type Record: StreamRecord;
    /// Tags this stream's cursors, so that one stream's cursor is refused by another.
    const CURSOR_TAG: &'static str;
    fn record(cursor: String, record: &Self::Record) -> Self;
    fn caught_up(cursor: String) -> Self;
    fn progress(cursor: String) -> Self;
}

/// Implements [`StreamMessage`] for a stream response whose `event` oneof has
/// a record variant and the `CaughtUp` and `Progress` markers, and
/// [`StreamRecord`] for its record: this stream's message of it.
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

        impl $crate::feed::StreamRecord for $record {
            fn message(&self, at: $crate::store::Position) -> $crate::api::codec::Encoded {
                use $crate::api::subscription::StreamMessage;
                let cursor = $crate::api::subscription::encode_cursor(<$message>::CURSOR_TAG, at);
                $crate::api::codec::Encoded::of(&<$message>::record(cursor, self))
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
        let start = self.start_position::<M>(&tail, request).await?;
        Ok(SubscriberStream::new(
            self,
            tail,
            start,
            Box::new(matches),
            filtered,
            permit,
        ))
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
type Rows<T> = Vec<TailRow<T>>;
type StoreRead<T> = Pin<Box<dyn Future<Output = Result<Rows<T>, Status>> + Send>>;

/// The stream handed to tonic, which polls it whenever HTTP/2 can send more:
/// the stream reads the next rows then, so a client that does not read holds
/// no more than the page being sent, and the stream needs no task or buffer
/// of its own. A record from the tail goes out as the bytes the tail encoded
/// for every subscriber. It ends with UNAVAILABLE as soon as the server
/// starts shutting down, even when the client has not read what HTTP/2
/// holds (it resumes from its last cursor), and never ends with OK.
pub struct SubscriberStream<M: StreamMessage> {
    tail: Arc<Tail<M::Record>>,
    store: Arc<dyn Store>,
    position: Position,
    /// The last row recorded when the stream started; the caught-up marker
    /// goes out once the position has passed it.
    caught_up_at: Position,
    caught_up: bool,
    matches: Matcher<M::Record>,
    /// Not every row is delivered (a job or threshold filter).
    filtered: bool,
    /// The messages of the rows read and not yet sent, oldest first: at most
    /// a page, and from the store at most [`STORE_PAGE_BYTES`].
    pending: VecDeque<(Position, Encoded)>,
    /// The last row read (sent, filtered out or unreadable).
    read_to: Position,
    /// The read from the store in progress, for a stream behind the tail.
    reading: Option<StoreRead<M::Record>>,
    /// The store had nothing more: wait for the tail to change.
    exhausted: bool,
    /// Rows to read from the store next: as many as [`STORE_PAGE_BYTES`]
    /// kept last time, doubling up to a page while they all fit.
    store_page: usize,
    changes: WatchStream<u64>,
    /// A quiet stream sends progress once it has sent nothing for this long.
    progress_interval: Duration,
    last_sent: Instant,
    quiet: Pin<Box<Sleep>>,
    stopping: WatchStream<bool>,
    ended: bool,
    _permit: OwnedSemaphorePermit,
}

type Polled = Poll<Option<Result<Encoded, Status>>>;

impl<M: StreamMessage> SubscriberStream<M> {
    fn new(
        subscriptions: &Subscriptions,
        tail: Arc<Tail<M::Record>>,
        (position, caught_up_at): (Position, Position),
        matches: Matcher<M::Record>,
        filtered: bool,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let changes = WatchStream::from_changes(tail.subscribe());
        let now = Instant::now();
        Self {
            tail,
            store: subscriptions.store.clone(),
            position,
            caught_up_at,
            caught_up: false,
            matches,
            filtered,
            pending: VecDeque::new(),
            read_to: position,
            reading: None,
            exhausted: false,
            store_page: PAGE,
            changes,
            progress_interval: subscriptions.progress_interval,
            last_sent: now,
            quiet: Box::pin(tokio::time::sleep_until(
                now + subscriptions.progress_interval,
            )),
            stopping: WatchStream::new(subscriptions.stopping.clone()),
            ended: false,
            _permit: permit,
        }
    }

    fn page(&self) -> usize {
        if self.filtered {
            PAGE * FILTERED_PAGES
        } else {
            PAGE
        }
    }

    fn sent(&mut self, message: Encoded) -> Polled {
        self.last_sent = Instant::now();
        Poll::Ready(Some(Ok(message)))
    }

    fn end(&mut self, status: Status) -> Polled {
        self.ended = true;
        Poll::Ready(Some(Err(status)))
    }

    /// The next pending message; once none is left, the position moves past
    /// the rows of the page that were not sent.
    fn next_pending(&mut self) -> Option<Encoded> {
        match self.pending.pop_front() {
            Some((at, message)) => {
                self.position = at;
                Some(message)
            }
            None => {
                self.position = self.read_to;
                // Frees the page's memory while the stream waits.
                self.pending = VecDeque::new();
                None
            }
        }
    }

    /// Keeps the messages of the rows this stream delivers, up to `budget`
    /// bytes (at least one message); the rest is read again later. False
    /// when the budget left rows out.
    fn accept(&mut self, rows: Rows<M::Record>, budget: usize) -> bool {
        let mut bytes = 0;
        for (at, entry) in rows {
            if let Some(entry) = entry
                && (self.matches)(&entry.record)
            {
                bytes += entry.message.len();
                if bytes > budget && !self.pending.is_empty() {
                    return false;
                }
                self.pending.push_back((at, entry.message.clone()));
            }
            // Past an unreadable row too (the store reported it).
            self.read_to = at;
        }
        true
    }

    /// Reads the next rows: from the tail, or from the store when behind it
    /// or ahead of a tail that has not yet read the rows recorded before
    /// this stream started. False: nothing to read until the tail changes.
    fn read(&mut self) -> bool {
        if self.exhausted {
            return false;
        }
        let read = self.tail.read_after(self.position, self.page());
        let from_store = match read {
            TailRead::Rows(rows) => {
                // Shared with the tail: no byte budget.
                let _ = self.accept(rows, usize::MAX);
                return true;
            }
            TailRead::Behind => true,
            TailRead::Waiting => self.position < self.caught_up_at,
        };
        if from_store {
            self.reading = Some(Box::pin(read_store::<M>(
                self.tail.clone(),
                self.store.clone(),
                self.position,
                self.store_page,
            )));
        }
        from_store
    }

    /// Progress once the stream has been quiet for the interval. The timer
    /// is moved when it fires, not at every message sent.
    fn poll_quiet(&mut self, context: &mut Context<'_>) -> Option<Encoded> {
        while self.quiet.as_mut().poll(context).is_ready() {
            let due = self.last_sent + self.progress_interval;
            if Instant::now() >= due {
                let progress = M::progress(encode_cursor(M::CURSOR_TAG, self.position));
                return Some(Encoded::of(&progress));
            }
            self.quiet.as_mut().reset(due);
        }
        None
    }
}

/// Rows after `position` from the store; fails when the rows right after
/// the position were pruned while the subscriber was behind.
async fn read_store<M: StreamMessage>(
    tail: Arc<Tail<M::Record>>,
    store: Arc<dyn Store>,
    position: Position,
    page: usize,
) -> Result<Rows<M::Record>, Status> {
    let rows = tail.fetch_after(position, page).await?;
    let skipped = rows
        .first()
        .is_some_and(|(at, _)| !position.is_followed_by(*at));
    if skipped {
        let bounds = store.stream_bounds(tail.table()).await?;
        if let Some(oldest) = bounds
            .oldest
            .filter(|oldest| !position.is_followed_by(*oldest))
        {
            return Err(out_of_range(&encode_cursor(M::CURSOR_TAG, oldest.before())));
        }
    }
    Ok(rows)
}

impl<M: StreamMessage> Stream for SubscriberStream<M> {
    type Item = Result<Encoded, Status>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Polled {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        while let Poll::Ready(stopping) = Pin::new(&mut this.stopping).poll_next(context) {
            if stopping != Some(false) {
                return this.end(Status::unavailable(
                    "the server is shutting down; resume with the last cursor received",
                ));
            }
        }
        loop {
            if let Some(message) = this.next_pending() {
                return this.sent(message);
            }
            if let Some(reading) = &mut this.reading {
                match reading.as_mut().poll(context) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(status)) => return this.end(status),
                    Poll::Ready(Ok(rows)) => {
                        this.reading = None;
                        if rows.is_empty() {
                            // Rows recorded before the start were deleted meanwhile.
                            this.caught_up_at = this.caught_up_at.min(this.position);
                            this.exhausted = true;
                        }
                        let all = this.accept(rows, STORE_PAGE_BYTES);
                        this.store_page = if all {
                            (this.store_page * 2).min(this.page())
                        } else {
                            this.pending.len().max(1)
                        };
                        continue;
                    }
                }
            }
            if this.read() {
                continue;
            }
            if !this.caught_up {
                this.caught_up = true;
                let marker = M::caught_up(encode_cursor(M::CURSOR_TAG, this.position));
                return this.sent(Encoded::of(&marker));
            }
            match Pin::new(&mut this.changes).poll_next(context) {
                Poll::Ready(Some(_)) => {
                    this.exhausted = false;
                    continue;
                }
                Poll::Ready(None) => {
                    // The tail is gone: the server stops.
                    return this.end(Status::unavailable(
                        "the stream ended; resume with the last cursor received",
                    ));
                }
                Poll::Pending => {}
            }
            return match this.poll_quiet(context) {
                Some(progress) => this.sent(progress),
                None => Poll::Pending,
            };
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
