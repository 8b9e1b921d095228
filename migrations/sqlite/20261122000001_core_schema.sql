-- The registry schema: configured registries, their sync status, and every server version they hold.
-- Times are TEXT in one fixed form, 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so they compare as strings.

create table registry (
    name text primary key,
    kind text not null check (kind in ('file', 'git', 'api', 'managed', 'kubernetes')),
    format text not null check (format in ('toolhive', 'upstream')),
    source text not null,
    filter text not null,
    sync_interval_ms integer check (sync_interval_ms > 0),
    -- Config order: the precedence of the aggregated view.
    position integer not null,
    created_at text not null,
    updated_at text not null
);

create table sync_status (
    registry text primary key references registry (name) on delete cascade,
    phase text not null default 'idle' check (phase in ('idle', 'queued', 'syncing', 'complete', 'failed')),
    message text,
    last_attempt_at text,
    last_success_at text,
    next_due_at text,
    attempts integer not null default 0,
    last_error text,
    content_hash text,
    filter_hash text,
    server_count integer not null default 0,
    last_duration_ms integer,
    -- The queued or running sync job, while there is one.
    job_id text,
    created_at text not null,
    updated_at text not null
);

create table server_version (
    registry text not null references registry (name) on delete cascade,
    name text not null check (length(name) between 3 and 200),
    version text not null check (length(version) <= 255 and trim(version) <> ''),
    -- The server.json as received.
    body text not null,
    body_hash text not null,
    title text,
    description text,
    -- Lowercased name, title and description joined by U+001F, for case-insensitive substring search.
    search_text text not null,
    status text not null check (status in ('active', 'deprecated', 'deleted')),
    status_message text check (length(status_message) <= 500),
    status_changed_at text not null,
    published_at text not null,
    updated_at text not null,
    is_latest integer not null default 0 check (is_latest in (0, 1)),
    -- True when another registry, earlier in config order, owns this name in the aggregated view.
    shadowed integer not null default 0 check (shadowed in (0, 1)),
    created_at text not null,
    constraint server_version_pkey primary key (registry, name, version)
);

create unique index server_version_one_latest on server_version (registry, name) where is_latest = 1;
create index server_version_aggregated on server_version (name, version) where shadowed = 0;
create index server_version_name on server_version (name);
create index server_version_updated_at on server_version (updated_at);
