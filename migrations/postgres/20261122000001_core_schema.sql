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
    -- The queued or running sync job, while there is one.
    job_id text,
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
    -- Lowercased name, title and description joined by U+001F, for case-insensitive substring search.
    search_text text not null,
    status text not null check (status in ('active', 'deprecated', 'deleted')),
    status_message text check (char_length(status_message) <= 500),
    status_changed_at timestamptz not null,
    published_at timestamptz not null,
    updated_at timestamptz not null,
    is_latest boolean not null default false,
    -- True when another registry, earlier in config order, owns this name in the aggregated view.
    shadowed boolean not null default false,
    created_at timestamptz not null default now(),
    constraint server_version_pkey primary key (registry, name, version)
);

-- At most one latest version per server in a registry.
create unique index server_version_one_latest on server_version (registry, name) where is_latest;
-- Keyset paging of the aggregated view; finding the registries that hold a name.
create index server_version_aggregated on server_version (name, version) where not shadowed;
create index server_version_name on server_version (name);
create index server_version_updated_at on server_version (updated_at);
-- Substring search: LIKE over the lowercased search_text, served by a trigram index.
create index server_version_search_trgm on server_version using gin (search_text gin_trgm_ops);
