//! The accept loop of dbs-control: HTTP/1.1 over TCP or TLS, with a bound on
//! connections and on how long a connection may hold a slot without work.
//!
//! - At most [`Limits::max_connections`] connections are served at once. The
//!   loop accepts only when a slot is free: further clients wait in the
//!   kernel's listen queue and are served, in order, as slots free up.
//! - A per-connection watchdog closes a connection whose request head does
//!   not arrive whole within the header timeout from its first byte, one
//!   without a request for the idle timeout (a new one that sends nothing
//!   included), and one whose client has read none of an answer for the idle
//!   timeout. A request being answered (a long
//!   poll, a set streaming to a slow reader) is never cut by these.
//! - The RPC body is bounded in `limits`, not here.
//! - On shutdown the loop stops accepting, idle connections close at once,
//!   answers in progress finish (long polls answer at once, see
//!   [`super::ControlPlane::shutdown`]) for up to [`DRAIN_DEADLINE`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::limits::{refusal_log, Limits};

/// Longest wait for answers in progress after shutdown is asked for (below
/// the unit's `TimeoutStopSec=`).
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// Largest request head, and the read buffer of a connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` (through `tls` when given) until `shutdown`
/// is cancelled, then drains.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    loop {
        if slots.available_permits() == 0 {
            refusal_log(|suppressed| {
                tracing::warn!(
                    max_connections = max,
                    suppressed,
                    "connection limit reached; new connections wait"
                );
            });
        }
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and the like: back off instead of spinning.
                    refusal_log(|suppressed| {
                        tracing::warn!(%error, suppressed, "accepting a connection failed");
                    });
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            remote,
            router: router.clone(),
            limits: limits.clone(),
            shutdown: shutdown.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            connection.serve(stream, tls).await;
            drop(slot);
        });
    }
    drop(listener);
    // Every connection holds a slot until it ends.
    if tokio::time::timeout(DRAIN_DEADLINE, slots.acquire_many(max as u32))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max - slots.available_permits(),
            "connections still open after the drain deadline are dropped"
        );
    }
    Ok(())
}

struct Connection {
    remote: SocketAddr,
    router: Router,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
}

impl Connection {
    async fn serve(self, stream: tokio::net::TcpStream, tls: Option<TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.drive(stream).await;
        };
        let handshake = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            done = tokio::time::timeout(self.limits.header_timeout, acceptor.accept(stream)) => done,
        };
        match handshake {
            Ok(Ok(stream)) => self.drive(stream).await,
            Ok(Err(error)) => {
                tracing::debug!(remote = %self.remote, %error, "TLS handshake failed")
            }
            Err(_) => tracing::debug!(remote = %self.remote, "TLS handshake timed out"),
        }
    }

    /// Runs HTTP/1.1 on `io` under the watchdog.
    async fn drive<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = Arc::new(ConnState::new());
        let service = ConnService {
            router: self.router,
            remote: self.remote,
            state: state.clone(),
        };
        let io = TokioIo::new(Watched {
            io,
            state: state.clone(),
        });
        let mut conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(io, service);
        let tick = self
            .limits
            .header_timeout
            .min(self.limits.idle_timeout)
            .div_f64(4.0)
            .max(Duration::from_millis(50));
        let mut watchdog = tokio::time::interval(tick);
        let mut draining = false;
        loop {
            tokio::select! {
                done = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                    match done {
                        Ok(()) => linger(conn.into_parts().io.into_inner()).await,
                        Err(error) => {
                            tracing::debug!(remote = %self.remote, %error, "connection ended")
                        }
                    }
                    return;
                }
                _ = self.shutdown.cancelled(), if !draining => {
                    draining = true;
                    Pin::new(&mut conn).graceful_shutdown();
                }
                _ = watchdog.tick() => {
                    if let Some(why) = state.expired(&self.limits) {
                        tracing::debug!(remote = %self.remote, why, "connection closed");
                        return;
                    }
                }
            }
        }
    }
}

/// Closes a connection HTTP is done with the way servers must when a
/// request body may be left unread (after a 413 or 408): the write side
/// first, then what the client still sends is read and dropped, for
/// [`LINGER_TIME`] or [`LINGER_BYTES`] at most. Closing with unread bytes
/// would send a reset, which can destroy the answer before the client reads
/// it.
async fn linger<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if io.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while let Ok(n @ 1..) = io.read(&mut sink).await {
            left = left.saturating_sub(n);
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// Longest lingering close.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes read and dropped in a lingering close.
const LINGER_BYTES: usize = 1024 * 1024;

/// What the watchdog knows of a connection, in milliseconds since its start
/// (0 in a `_since` field: not the case).
struct ConnState {
    start: Instant,
    /// Requests whose answer is not yet fully sent.
    in_flight: AtomicUsize,
    /// Since when a request head is awaited or arriving (`ms + 1`).
    head_since: AtomicU64,
    /// Last read, write or end of an answer.
    last_active: AtomicU64,
    /// Since when a write waits for the client to read (`ms + 1`).
    write_blocked_since: AtomicU64,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            // A new connection counts as idle until its first byte: client
            // pools open spare connections and use them later, and closing
            // those at the header timeout would race with their first use.
            head_since: AtomicU64::new(0),
            last_active: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn read(&self) {
        let now = self.now();
        self.last_active.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote(&self, blocked: bool) {
        let now = self.now();
        if blocked {
            let _ = self.write_blocked_since.compare_exchange(
                0,
                now + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            self.write_blocked_since.store(0, Ordering::Relaxed);
            self.last_active.store(now, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn answer_done(&self) {
        self.last_active.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Why the connection must be closed now, if it must.
    fn expired(&self, limits: &Limits) -> Option<&'static str> {
        let now = self.now();
        let older = |since: u64, limit: Duration| {
            since != 0 && now.saturating_sub(since - 1) > limit.as_millis() as u64
        };
        if older(
            self.write_blocked_since.load(Ordering::Relaxed),
            limits.idle_timeout,
        ) {
            return Some("the client reads no answer");
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head_since = self.head_since.load(Ordering::Relaxed);
        if older(head_since, limits.header_timeout) {
            return Some("no complete request head within the header timeout");
        }
        let last_active = self.last_active.load(Ordering::Relaxed);
        if head_since == 0 && older(last_active + 1, limits.idle_timeout) {
            return Some("idle for the idle timeout");
        }
        None
    }
}

/// The connection's byte stream, reporting reads and writes to its state.
struct Watched<IO> {
    io: IO,
    state: Arc<ConnState>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.read();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.state.wrote(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.state.wrote(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Marks a request in flight until its answer is sent or dropped.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(state: Arc<ConnState>) -> Self {
        state.request_started();
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answer_done();
    }
}

/// An answer's body that keeps its request in flight until hyper drops it.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The router as a hyper service of one connection.
#[derive(Clone)]
struct ConnService {
    router: Router,
    remote: SocketAddr,
    state: Arc<ConnState>,
}

type Answer = hyper::Response<TrackedBody>;

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let in_flight = InFlight::new(self.state.clone());
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request).await?;
            Ok(response.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}
