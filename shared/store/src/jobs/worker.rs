//! Running jobs: the queue of the store's backend feeds a handler of the caller's (the worker's sync, its
//! probe passes), `concurrency` jobs at a time, until a shutdown signal. Each job runs once: a retry is a new
//! job the handler queues ([`super::SyncRegistry::retry`]).

use std::future::Future;
use std::sync::Arc;

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::{AbortError, BoxDynError, Data, TaskId, WorkerBuilder};

use super::Job;
use super::paced::Paced;
use super::task::POLL;
use crate::error::StoreError;
use crate::handle::{Store, on_backend};

/// What runs each job of kind `J`.
pub trait JobHandler<J: Job>: Send + Sync + 'static {
    fn run(&self, job: J, job_id: String) -> impl Future<Output = Result<(), JobFailure>> + Send;
}

/// How a job ended that did not succeed; the handler has written the details where they are read.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// Failed, and recorded as failed in the queue (its next try, if any, is queued already).
    #[error("{0}")]
    Failed(String),
    /// Failed for a reason no try can mend: the queue must not run it again.
    #[error("{0}")]
    Abort(String),
}

async fn handle<J: Job, H: JobHandler<J>>(
    job: J,
    id: TaskId,
    handler: Data<Arc<H>>,
) -> Result<(), BoxDynError> {
    match handler.run(job, id.to_string()).await {
        Ok(()) => Ok(()),
        Err(JobFailure::Abort(reason)) => Err(AbortError::new(reason).into()),
        Err(failed) => Err(Box::new(failed)),
    }
}

impl Store {
    /// Runs `handler` on the jobs of kind `J` until `shutdown` resolves: `concurrency` jobs at a time, each fetched
    /// only when a slot is free for it. Running jobs may finish after `shutdown` (the caller bounds that);
    /// one lost to a crash is picked up again once its worker's heartbeat lapses.
    pub async fn run_jobs<J: Job, H: JobHandler<J>>(
        &self,
        worker: String,
        concurrency: usize,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StoreError> {
        let signal = async move {
            shutdown.await;
            Ok::<(), std::io::Error>(())
        };
        on_backend!(self, db => {
            WorkerBuilder::new(worker)
                .backend(Paced::new(db.queue::<J>(concurrency), POLL))
                .data(handler)
                .concurrency(concurrency)
                .build(handle::<J, H>)
                .run_until(signal)
                .await
                .map_err(|e| StoreError::Queue(Box::new(e)))
        })
    }
}
