-- Kubernetes discovery. A watcher asks for a sync by setting requested_at, which a running sync does not
-- overwrite and the next queued job clears; the last discovery's report and the watcher's state are kept
-- beside the sync status, as JSON text.
alter table sync_status add column requested_at text;
alter table sync_status add column discovery text;
alter table sync_status add column watcher text;
