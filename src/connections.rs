//! Admission of TCP connections, before TLS and HTTP/2 see them:
//!
//! - **A bound on open connections** (`--max-connections`). A connection
//!   beyond it is accepted and closed at once (left in the kernel's backlog, it
//!   would hang its client instead), so the process never runs out of file
//!   descriptors because of clients, and the connections it has, health
//!   probes included, keep being served.
//! - **A handshake deadline** (`--handshake-timeout`). A connection must speak
//!   within it: send at least the 24 bytes of the HTTP/2 preface (or a TLS
//!   ClientHello), and answer the server's first bytes (the client's SETTINGS
//!   acknowledgement, or the end of its TLS handshake). Otherwise it is closed.
//!   Nothing else closes a connection that never sends a request: HTTP/2
//!   keep-alive starts only after the handshake.
//! - **Accept errors** such as "too many open files" pause accepting for a
//!   moment instead of ending the server (tonic's accept loop stops on them).

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
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
    backoff: Option<Pin<Box<Sleep>>>,
    refused_since_log: u64,
    last_log: Option<Instant>,
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
            backoff: None,
            refused_since_log: 0,
            last_log: None,
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
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    return Poll::Ready(Some(Ok(AdmittedConnection {
                        stream,
                        _slot: slot,
                        handshake: self.handshake_timeout.map(Handshake::new),
                    })));
                }
                Err(_) => {
                    drop(stream);
                    self.note_refusal();
                }
            }
        }
    }
}

/// Until the peer has spoken (see the module comment).
struct Handshake {
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    read: usize,
    wrote: bool,
    read_after_write: bool,
}

impl Handshake {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            read: 0,
            wrote: false,
            read_after_write: false,
        }
    }

    fn done(&self) -> bool {
        self.read >= PREFACE_LEN && self.read_after_write
    }
}

/// A TCP connection that holds its slot until it is closed.
pub struct AdmittedConnection {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
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
        if let Some(handshake) = self.handshake.as_mut()
            && handshake.deadline.as_mut().poll(cx).is_ready()
        {
            let timeout = handshake.timeout;
            tracing::debug!(?timeout, "closed a connection that did not complete its handshake");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no handshake within {timeout:?}"),
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        let received = buf.filled().len() - before;
        if let Some(handshake) = self.handshake.as_mut() {
            handshake.read += received;
            handshake.read_after_write |= handshake.wrote && received > 0;
            if handshake.done() {
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
