-- The registry schema: configured registries, their sync status, and every server version they hold.
create extension if not exists pg_trgm;

create table registry (
    name text primary key,
    kind text not null check (kind in ('file', 'git', 'api', 'managed', 'kubernetes')),
    format text not null check (format in ('toolhive', 'upstream')),
    source jsonb not null,
    filter jsonb not null,
    sync_interval_ms bigint check (sync_interval_ms > 0),
    -- Config order: the precedence of the aggregated view.
    position integer not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table sync_status (
    registry text primary key references registry (name) on delete cascade,
    phase text not null default 'idle' check (phase in ('idle', 'queued', 'syncing', 'complete', 'failed')),
    message text,
    last_attempt_at timestamptz,
    last_success_at timestamptz,
    next_due_at timestamptz,
    attempts integer not null default 0,
    last_error text,
    content_hash text,
    filter_hash text,
    server_count integer not null default 0,
    last_duration_ms bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table server_version (
    registry text not null references registry (name) on delete cascade,
    -- "C" collation: plain byte order, the same as SQLite's, for keyset paging.
    name text collate "C" not null check (char_length(name) between 3 and 200),
    version text collate "C" not null check (char_length(version) <= 255 and btrim(version) <> ''),
    -- The server.json as received.
    body jsonb not null,
    body_hash text not null,
    title text,
    description text,
    status text not null check (status in ('active', 'deprecated', 'deleted')),
    status_message text check (char_length(status_message) <= 500),
    status_changed_at timestamptz not null,
    published_at timestamptz not null,
    updated_at timestamptz not null,
    is_latest boolean not null default false,
    created_at timestamptz not null default now(),
    constraint server_version_pkey primary key (registry, name, version)
);

-- At most one latest version per server in a registry.
create unique index server_version_one_latest on server_version (registry, name) where is_latest;
-- Keyset paging of the aggregated view, and finding a name's owner registry.
create index server_version_name_version on server_version (name, version);
create index server_version_updated_at on server_version (updated_at);
-- Case-insensitive substring search (ILIKE) over name, title and description.
create index server_version_name_trgm on server_version using gin (name gin_trgm_ops);
create index server_version_title_trgm on server_version using gin (title gin_trgm_ops);
create index server_version_description_trgm on server_version using gin (description gin_trgm_ops);
