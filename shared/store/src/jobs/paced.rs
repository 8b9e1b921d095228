//! A queue that an idle worker reads once per [`POLL`](super::task::POLL), however often its task is woken.
//!
//! apalis's persisted queues start a fetch on every poll that finds them idle, and its own polling
//! (`PollWith`) only adds a timer's wake-ups. A worker process runs the sync and the probe queue's workers
//! joined in one task, so each round trip of one worker's fetch polled the other, which started a fetch of its
//! own: the two spun through empty fetches, hundreds a second on PostgreSQL and thousands on SQLite.
//!
//! [`Paced`] polls the queue only when it is due: it gave a task last time (it may have more), what it waits
//! for woke it, or the interval has passed. To know what woke it, it lends the queue a fresh waker on each
//! poll and listens to the latest one only (a wake-up meant for an earlier poll is stale). Its own timer wakes
//! the worker once per interval, so a new job waits at most that long, and so does a wake-up lost any way.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use apalis::prelude::{Backend, WorkerContext};
use apalis_core::backend::{BackendConfig, WireFormatBackend};
use tokio::time::{Instant, Sleep};

/// A queue `B` read at most once per interval while it has nothing.
pub(crate) struct Paced<B> {
    inner: B,
    interval: Duration,
    tick: Pin<Box<Sleep>>,
    wakes: Arc<Wakes>,
    /// The queue gave a task when last polled: it may have more at once.
    gave: bool,
}

/// The queue's wake-ups, as its latest poll's waker heard them.
#[derive(Default)]
struct Wakes {
    /// The number of the latest poll; only its waker counts.
    latest: AtomicU64,
    /// That waker was woken: what the queue waits for is ready.
    woken: AtomicBool,
}

impl<B> Paced<B> {
    pub(crate) fn new(inner: B, interval: Duration) -> Self {
        let tick = Box::pin(tokio::time::sleep(interval));
        Self { inner, interval, tick, wakes: Arc::default(), gave: true }
    }

    /// Whether the queue should be polled now: it gave a task last time, something it waits for woke it,
    /// or the interval has passed. A poll for any other reason (another future of the worker's task was
    /// woken) would start a fetch on an idle queue.
    fn due(&mut self, cx: &mut Context<'_>) -> bool {
        let mut ticked = false;
        while self.tick.as_mut().poll(cx).is_ready() {
            let next = Instant::now() + self.interval;
            self.tick.as_mut().reset(next);
            ticked = true;
        }
        self.wakes.woken.swap(false, Ordering::AcqRel) || ticked || self.gave
    }
}

/// The waker lent to one poll of the queue.
struct PollWaker {
    poll: u64,
    wakes: Arc<Wakes>,
    worker: Waker,
}

impl Wake for PollWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.wakes.latest.load(Ordering::Acquire) == self.poll {
            self.wakes.woken.store(true, Ordering::Release);
            self.worker.wake_by_ref();
        }
    }
}

impl<B: Backend> Backend for Paced<B> {
    type Task = B::Task;
    type Error = B::Error;

    fn poll_ready(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx, worker)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        if !self.due(cx) {
            return Poll::Pending;
        }
        let poll = self.wakes.latest.fetch_add(1, Ordering::AcqRel) + 1;
        let waker =
            Waker::from(Arc::new(PollWaker { poll, wakes: self.wakes.clone(), worker: cx.waker().clone() }));
        let next = self.inner.poll_next(&mut Context::from_waker(&waker), worker);
        self.gave = next.is_ready();
        next
    }

    fn poll_close(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_close(cx, worker)
    }
}

impl<B: BackendConfig> BackendConfig for Paced<B> {
    type Args = B::Args;
    type Id = B::Id;
    type Kind = B::Kind;
    type Config = B::Config;
    type Layer = B::Layer;

    fn config(&self) -> &Self::Config {
        self.inner.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.inner.middleware(worker)
    }
}

impl<B: WireFormatBackend> WireFormatBackend for Paced<B> {
    type Codec = B::Codec;
    type Compact = B::Compact;

    fn codec(&self) -> &Self::Codec {
        self.inner.codec()
    }
}
