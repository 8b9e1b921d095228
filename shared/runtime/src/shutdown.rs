//! Process shutdown: the signal every binary stops on.

/// Runs a binary's main future on a multi-threaded runtime. When it returns, blocking work still running
/// (a git fetch stuck in the network) gets one second before the process goes on: it never holds the
/// process past its shutdown grace.
pub fn block_on<T>(main: impl Future<Output = T>) -> T {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(main);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// Which signal stopped the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: a person at a terminal; stop at once.
    Interrupt,
    /// SIGTERM: an orchestrator; drain first.
    Terminate,
}

/// Resolves on SIGINT or SIGTERM, saying which.
pub async fn signal() -> Signal {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {
            tracing::info!("SIGINT: shutting down");
            Signal::Interrupt
        }
        () = terminate => {
            tracing::info!("SIGTERM: shutting down");
            Signal::Terminate
        }
    }
}

/// A stop signal many tasks can wait for: the API server, the scheduler, the job handlers.
#[derive(Clone)]
pub struct Shutdown {
    stopped: tokio::sync::watch::Receiver<Option<Signal>>,
}

impl Shutdown {
    /// Stops when `trigger` resolves, as on SIGTERM.
    pub fn when(trigger: impl Future<Output = ()> + Send + 'static) -> Self {
        Self::on(async move {
            trigger.await;
            Signal::Terminate
        })
    }

    /// Stops when `trigger` resolves, with the signal it gives.
    pub fn on(trigger: impl Future<Output = Signal> + Send + 'static) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let signal = trigger.await;
            stop.send_replace(Some(signal));
        });
        Self { stopped }
    }

    /// Whether stopping has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopped.borrow().is_some()
    }

    /// The signal that began stopping, once it has.
    pub fn signal(&self) -> Option<Signal> {
        *self.stopped.borrow()
    }

    /// Resolves once stopping has begun.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            // An error means the sender is gone, which also means stop.
            stopped.wait_for(Option::is_some).await.ok();
        }
    }
}
