-- The prober (issue 29). A registry's probe settings are stored with its definition: `probe` holds them as
-- JSON text, and `probe_interval_ms` is set only while probing is on, for the scheduler. Existing rows keep
-- null in both: the defaults, with probing off.
alter table registry add column probe text;
alter table registry add column probe_interval_ms integer check (probe_interval_ms > 0);

-- One row per registry that probing has reached: when its next full pass is due, and the last job queued
-- for it (a pass asked for while another is live is not queued twice).
create table probe_schedule (
    registry text primary key references registry (name) on delete cascade,
    next_due_at text,
    job_id text,
    -- all or new: a full pass asked for is not refused because a pass of new versions is live.
    job_scope text,
    last_pass_at text,
    updated_at text not null
);

-- Tool lists by the hash of their kept form: a list is stored again only when it changes. `search_text` is
-- the tools' names and descriptions, lowercased, for searches across the catalogue.
create table probe_tool_list (
    hash text primary key,
    tools text not null,
    tool_count integer not null,
    search_text text not null
);

-- The last results of each remote of each probed server version; `latest` marks the newest.
create table probe_result (
    id integer primary key autoincrement,
    registry text not null,
    name text not null,
    version text not null,
    -- '' for a server without remotes.
    url text not null,
    latest boolean not null,
    probed_at text not null,
    duration_ms integer not null,
    outcome text not null,
    http_status integer,
    protocol_version text,
    server_info text,
    capabilities text,
    resource_metadata text,
    detail text,
    tools_hash text references probe_tool_list (hash),
    truncated boolean not null default false,
    prompts integer,
    resources integer,
    foreign key (registry, name, version) references server_version (registry, name, version) on delete cascade
);
create index probe_result_remote on probe_result (registry, name, version, url, id);
create index probe_result_latest on probe_result (registry, outcome, name, version, url) where latest;
-- One latest result per remote.
create unique index probe_result_one_latest on probe_result (registry, name, version, url) where latest;
create index probe_result_tools on probe_result (tools_hash);

-- A change of a remote's tool list between two probes, by tool name.
create table probe_change (
    id integer primary key autoincrement,
    registry text not null,
    name text not null,
    version text not null,
    url text not null,
    changed_at text not null,
    old_hash text not null,
    new_hash text not null,
    changes text not null,
    foreign key (registry, name, version) references server_version (registry, name, version) on delete cascade
);
create index probe_change_remote on probe_change (registry, name, version, url, id);
