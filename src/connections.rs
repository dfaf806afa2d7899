//! Admission of TCP connections, before TLS and HTTP/2 see them:
//!
//! - **A bound on open connections** (`--max-connections`), so the process
//!   never runs out of file descriptors because of clients. At the bound, a
//!   new connection takes the place of the oldest one that has not completed
//!   its handshake yet (that one is closed): a flood of connections that never
//!   speak cannot lock out clients that do, health probes included. Only when
//!   every connection has completed its handshake is the new one closed at
//!   once (left in the kernel's backlog, it would hang its client instead).
//! - **A handshake deadline** (`--handshake-timeout`). A connection must speak
//!   within it: send at least the 24 bytes of the HTTP/2 preface (or a TLS
//!   ClientHello), and answer the server's first bytes (the client's SETTINGS
//!   acknowledgement, or the end of its TLS handshake). Otherwise it is closed.
//!   Nothing else closes a connection that never sends a request: HTTP/2
//!   keep-alive starts only after the handshake.
//! - **Accept errors** such as "too many open files" pause accepting for a
//!   moment instead of ending the server (tonic's accept loop stops on them).

use std::{
    collections::VecDeque,
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker, ready},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// Length of the HTTP/2 client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").
const PREFACE_LEN: usize = 24;
/// How long accepting pauses after an accept error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning about refused connections per this interval.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The accepted connections, each holding one of `max_connections` slots.
pub struct Admission {
    incoming: TcpIncoming,
    slots: Arc<Semaphore>,
    max_connections: usize,
    handshake_timeout: Option<Duration>,
    /// Connections still in their handshake, oldest first.
    unspoken: VecDeque<Weak<Unspoken>>,
    backoff: Option<Pin<Box<Sleep>>>,
    refused_since_log: u64,
    last_log: Option<Instant>,
}

/// Shared by a connection in its handshake and the admission, which may
/// close it to make room: it then takes the connection's slot for the new one.
struct Unspoken {
    slot: Mutex<Option<OwnedSemaphorePermit>>,
    evicted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Unspoken {
    /// The connection's slot, unless it has just completed its handshake.
    fn evict(&self) -> Option<OwnedSemaphorePermit> {
        let slot = self.slot.lock().ok()?.take()?;
        self.evicted.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().ok().and_then(|mut w| w.take()) {
            waker.wake();
        }
        Some(slot)
    }
}

impl Admission {
    /// `handshake_timeout`: zero or `None` means none.
    pub fn new(
        incoming: TcpIncoming,
        max_connections: usize,
        handshake_timeout: Option<Duration>,
    ) -> Self {
        Self {
            incoming,
            slots: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            handshake_timeout: handshake_timeout.filter(|t| !t.is_zero()),
            unspoken: VecDeque::new(),
            backoff: None,
            refused_since_log: 0,
            last_log: None,
        }
    }

    /// Closes the oldest connection still in its handshake and returns its
    /// slot; `None` if every connection has completed its handshake.
    fn evict_oldest_unspoken(&mut self) -> Option<OwnedSemaphorePermit> {
        while let Some(oldest) = self.unspoken.pop_front() {
            if let Some(slot) = oldest.upgrade().and_then(|c| c.evict()) {
                return Some(slot);
            }
        }
        None
    }

    fn admit(&mut self, stream: TcpStream, slot: OwnedSemaphorePermit) -> AdmittedConnection {
        let unspoken = Arc::new(Unspoken {
            slot: Mutex::new(Some(slot)),
            evicted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        if self.unspoken.len() >= 2 * self.max_connections {
            self.unspoken.retain(|c| c.strong_count() > 0);
        }
        self.unspoken.push_back(Arc::downgrade(&unspoken));
        AdmittedConnection {
            stream,
            slot: None,
            handshake: Some(Handshake::new(self.handshake_timeout, unspoken)),
        }
    }

    fn note_refusal(&mut self) {
        self.refused_since_log += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|last| now.duration_since(last) >= REFUSAL_LOG_INTERVAL)
        {
            tracing::warn!(
                max_connections = self.max_connections,
                refused = self.refused_since_log,
                "refused connections: the server has its maximum of open connections"
            );
            self.last_log = Some(now);
            self.refused_since_log = 0;
        }
    }
}

impl Stream for Admission {
    type Item = io::Result<AdmittedConnection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(backoff) = self.backoff.as_mut() {
                ready!(backoff.as_mut().poll(cx));
                self.backoff = None;
            }
            let stream = match ready!(Pin::new(&mut self.incoming).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(stream)) => stream,
                Some(Err(error)) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM, or a connection reset
                    // before it was accepted: none of them ends the server.
                    tracing::warn!(%error, "cannot accept a connection; pausing accepts briefly");
                    self.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                    continue;
                }
            };
            let slot = self
                .slots
                .clone()
                .try_acquire_owned()
                .ok()
                .or_else(|| self.evict_oldest_unspoken());
            match slot {
                Some(slot) => return Poll::Ready(Some(Ok(self.admit(stream, slot)))),
                None => {
                    drop(stream);
                    self.note_refusal();
                }
            }
        }
    }
}

/// Until the peer has spoken (see the module comment).
struct Handshake {
    timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
    read: usize,
    wrote: bool,
    read_after_write: bool,
    unspoken: Arc<Unspoken>,
}

impl Handshake {
    fn new(timeout: Option<Duration>, unspoken: Arc<Unspoken>) -> Self {
        Self {
            timeout,
            deadline: timeout.map(|t| Box::pin(tokio::time::sleep(t))),
            read: 0,
            wrote: false,
            read_after_write: false,
            unspoken,
        }
    }

    fn done(&self) -> bool {
        self.read >= PREFACE_LEN && self.read_after_write
    }

    /// Why the connection must close now, if it must.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if let Ok(mut waker) = self.unspoken.waker.lock() {
            match waker.as_ref() {
                Some(known) if known.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        if self.unspoken.evicted.load(Ordering::Acquire) {
            tracing::debug!("closed a connection in its handshake to admit a new one");
            return Some(io::Error::other("closed to make room for a new connection"));
        }
        let deadline = self.deadline.as_mut()?;
        deadline.as_mut().poll(cx).is_ready().then(|| {
            let timeout = self.timeout.unwrap_or_default();
            tracing::debug!(
                ?timeout,
                "closed a connection that did not complete its handshake"
            );
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no handshake within {timeout:?}"),
            )
        })
    }
}

/// A TCP connection that holds its slot until it is closed (in its
/// handshake, the slot is in its [`Unspoken`]).
pub struct AdmittedConnection {
    stream: TcpStream,
    slot: Option<OwnedSemaphorePermit>,
    handshake: Option<Handshake>,
}

impl Connected for AdmittedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for AdmittedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(refusal) = self.handshake.as_mut().and_then(|h| h.poll_refusal(cx)) {
            return Poll::Ready(Err(refusal));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        let received = buf.filled().len() - before;
        if let Some(handshake) = self.handshake.as_mut() {
            handshake.read += received;
            handshake.read_after_write |= handshake.wrote && received > 0;
            // Evicted meanwhile (no slot to take): refused at the next read.
            let slot = handshake
                .done()
                .then(|| handshake.unspoken.slot.lock().ok()?.take())
                .flatten();
            if slot.is_some() {
                self.slot = slot;
                self.handshake = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AdmittedConnection {
    fn note_written(&mut self, written: &io::Result<usize>) {
        if let (Some(handshake), Ok(n)) = (self.handshake.as_mut(), written) {
            handshake.wrote |= *n > 0;
        }
    }
}

impl AsyncWrite for AdmittedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write(cx, buf));
        self.note_written(&written);
        Poll::Ready(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, bufs));
        self.note_written(&written);
        Poll::Ready(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// File descriptors kept for the database (a writer and the read pool, each
/// with its -wal and -shm), the listener, logs and the health probe.
const RESERVED_FDS: u64 = 128;

/// Raises the soft limit on open files to the hard limit (the soft default is
/// often 1,024, which a few hundred idle clients and the database exhaust,
/// while the hard limit is usually far higher). Returns the soft limit in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// `requested` connections, fewer when the open-file limit leaves no room for
/// them and [`RESERVED_FDS`]: the connection bound then keeps descriptors free
/// for the database and health, rather than accepts failing with EMFILE.
pub fn usable_connections(requested: usize) -> usize {
    let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) else {
        return requested;
    };
    let room = soft.saturating_sub(RESERVED_FDS).max(1);
    if (requested as u64) <= room {
        return requested;
    }
    tracing::warn!(
        requested,
        open_file_limit = soft,
        usable = room,
        "--max-connections lowered to fit the open-file limit"
    );
    room as usize
}
