-- Streamed syncs. A sync writes what its source lists into sync_staging in batches, as the source is read;
-- the snapshot transaction then diffs the staged rows against server_version in SQL, and the rows are
-- cleared. Unlogged: after a crash the table is empty, and a sync that was in flight starts over anyway.
create unlogged table sync_staging (
    -- One sync's rows: every statement of a sync reads its own, never walking what earlier syncs left.
    sync_id text not null,
    registry text not null references registry (name) on delete cascade,
    name text collate "C" not null,
    version text collate "C" not null,
    body text,
    body_hash text,
    title text,
    description text,
    search_text text,
    status text,
    status_message text,
    -- As the source gave it; null when it gave none.
    published_at timestamptz,
    -- Set by the diff: insert, update or tombstone (a stored version the source no longer lists); null for
    -- unchanged.
    change text check (change in ('insert', 'update', 'tombstone')),
    primary key (sync_id, name, version)
);
-- Clearing what a sync that died left behind.
create index sync_staging_registry on sync_staging (registry);
-- Per-registry sync limits (null: the defaults), and an api registry's mirroring state (high-water mark,
-- full scrapes), kept beside its sync status. Nullable columns only: older replicas keep working.
alter table registry
    add column max_entries bigint check (max_entries > 0),
    add column full_sync_interval_ms bigint check (full_sync_interval_ms > 0);
alter table sync_status add column mirror jsonb;
