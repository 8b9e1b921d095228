//! `registry-worker`: sync jobs, sources and the scheduler. The pipeline arrives with issue 4; the crate
//! exists now so the workspace has its final shape.
