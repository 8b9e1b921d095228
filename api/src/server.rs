//! The HTTP server under the router, written for what production does to it: every connection is bounded in
//! time (`server.headerReadTimeout` from accept or from the first byte of a request head,
//! `server.idleTimeout` between requests and for a stalled response) and in number
//! (`server.maxConnections`). At the limit, the oldest
//! connection with no request in flight is closed to admit the new one, so half-open connections can never
//! lock clients (or the probes) out. An accept error such as `EMFILE` is logged and waited out, never spun
//! on. Shutdown stops accepting and lets in-flight requests finish within the grace.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// How often a connection's watchdog looks at its deadline at the least.
const CHECK: Duration = Duration::from_millis(500);
/// How long admitting a connection at the limit waits for an evicted one to go before evicting another.
const EVICT_RETRY: Duration = Duration::from_millis(100);

/// The limits of `server.*`, with `max_connections` resolved.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// With `idle_timeout`, how long a connection with a request in flight may go without writing a byte.
    pub request_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` resolves, then waits up to `grace` for in-flight requests.
/// Returns whether they all finished in time.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> bool {
    let table = Arc::new(Table::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().header_read_timeout(None).keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error, &table).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let permit = tokio::select! {
            permit = table.admit() => permit,
            () = &mut stop => break,
        };
        let conn = table.register();
        let service = hyper::service::service_fn({
            let (router, conn) = (router.clone(), conn.clone());
            move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let (router, guard) = (router.clone(), InFlight::start(conn.clone()));
                async move {
                    let response =
                        router.oneshot(request.map(Body::new)).await.unwrap_or_else(|e| match e {});
                    Ok::<_, Infallible>(response.map(|body| Guarded { body, _guard: guard }))
                }
            }
        });
        let io = TokioIo::new(Watched { stream, conn: conn.clone() });
        let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        tokio::spawn(watch_connection(connection, conn, limits, table.clone(), permit));
    }
    drop(listener);
    tokio::time::timeout(grace, graceful.shutdown()).await.is_ok()
}

/// Drives one connection until it ends, is evicted while idle, or outlives its deadline; then frees its
/// place in the table.
async fn watch_connection(
    connection: impl Future,
    conn: Arc<Conn>,
    limits: Limits,
    table: Arc<Table>,
    permit: OwnedSemaphorePermit,
) {
    tokio::pin!(connection);
    loop {
        tokio::select! {
            _ = &mut connection => break,
            () = conn.evicted.notified() => {
                if conn.in_flight.load(Ordering::SeqCst) == 0 { break }
            }
            // Woken at least every CHECK: the first byte of a head can bring the deadline nearer.
            () = tokio::time::sleep_until(conn.deadline(&limits).min(Instant::now() + CHECK)) => {
                if conn.expired(&limits) { break }
            }
        }
    }
    table.remove(conn.id);
    drop(permit);
}

/// An accept error (most often `EMFILE`: no file descriptor left) is logged, room is made by closing an idle
/// connection, and the loop pauses briefly instead of spinning on the error.
async fn accept_failed(error: &io::Error, table: &Table) {
    tracing::warn!(error = %error, connections = table.len(), "cannot accept a connection; closing an idle one");
    table.evict_idlest();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The open connections, for eviction at the limit.
struct Table {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

impl Table {
    fn new(max: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(max.max(1))), open: Mutex::default(), next: AtomicU64::new(0) }
    }

    /// A slot for one more connection; at the limit, the idlest connection is closed to make one, again and
    /// again while none frees (the one chosen may have taken a request meanwhile).
    async fn admit(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.slots.clone().try_acquire_owned() {
                return permit;
            }
            self.evict_idlest();
            if let Ok(Ok(permit)) =
                tokio::time::timeout(EVICT_RETRY, self.slots.clone().acquire_owned()).await
            {
                return permit;
            }
        }
    }

    fn register(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn::new(self.next.fetch_add(1, Ordering::Relaxed)));
        self.lock().insert(conn.id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Tells the connection idle the longest (no request in flight) to close.
    fn evict_idlest(&self) {
        let open = self.lock();
        let idlest =
            open.values().filter(|c| c.in_flight.load(Ordering::SeqCst) == 0).min_by_key(|c| c.idle_since());
        if let Some(conn) = idlest {
            conn.evicted.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One connection's state, shared by its reader, its service and its watchdog.
struct Conn {
    id: u64,
    started: Instant,
    in_flight: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// Milliseconds after `started`: when the connection last became idle, when the first byte of the
    /// next request head arrived (0: none yet), and when a request last began or the response last moved.
    idle_since_ms: AtomicU64,
    head_since_ms: AtomicU64,
    active_ms: AtomicU64,
    evicted: Notify,
}

impl Conn {
    fn new(id: u64) -> Self {
        Self {
            id,
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            head_since_ms: AtomicU64::new(0),
            active_ms: AtomicU64::new(0),
            evicted: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.started + Duration::from_millis(ms)
    }

    fn idle_since(&self) -> Instant {
        self.at(self.idle_since_ms.load(Ordering::SeqCst))
    }

    /// When the connection must close if nothing changes: a request head must be complete within the header
    /// timeout of the connection opening or of its first byte; between requests, it may idle for the idle
    /// timeout. With a request in flight, its handler has the request timeout, and its response may then
    /// stall for the idle timeout (a client that stops reading holds nothing for long).
    fn deadline(&self, limits: &Limits) -> Instant {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return self.at(self.active_ms.load(Ordering::SeqCst))
                + limits.request_timeout
                + limits.idle_timeout;
        }
        let head = self.head_since_ms.load(Ordering::SeqCst);
        if head > 0 {
            self.at(head) + limits.header_read_timeout
        } else if self.served.load(Ordering::SeqCst) == 0 {
            self.idle_since() + limits.header_read_timeout
        } else {
            self.idle_since() + limits.idle_timeout
        }
    }

    fn expired(&self, limits: &Limits) -> bool {
        Instant::now() >= self.deadline(limits)
    }
}

/// Marks a request in flight on its connection until its response body is done (or dropped).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn start(conn: Arc<Conn>) -> Self {
        conn.active_ms.store(conn.now_ms(), Ordering::SeqCst);
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        conn.head_since_ms.store(0, Ordering::SeqCst);
        Self(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        conn.idle_since_ms.store(conn.now_ms(), Ordering::SeqCst);
        conn.served.fetch_add(1, Ordering::SeqCst);
        conn.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that holds its request's [`InFlight`] until it has been sent.
struct Guarded {
    body: Body,
    _guard: InFlight,
}

impl HttpBody for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting when the first byte of a request head arrives on an idle connection.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let conn = &self.conn;
        if buf.filled().len() > before
            && conn.in_flight.load(Ordering::SeqCst) == 0
            && conn.head_since_ms.load(Ordering::SeqCst) == 0
        {
            conn.head_since_ms.store(conn.now_ms(), Ordering::SeqCst);
        }
        polled
    }
}

impl Watched {
    /// Notes that the response moved, when a write took bytes.
    fn moved(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.conn.active_ms.store(self.conn.now_ms(), Ordering::SeqCst);
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.moved(&polled);
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.moved(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The default `server.maxConnections`: what the process's file descriptor limit (raised to its hard
/// limit first) leaves after `pools` database connections and a reserve of 128 for files, the listener and
/// outbound calls.
pub fn default_max_connections(pools: u64) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    usize::try_from(limit.saturating_sub(128 + pools).clamp(16, 65_536)).unwrap_or(16)
}
