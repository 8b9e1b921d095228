-- The web catalogue's facets (issue 30): each version's package types and whether it has remotes, kept by
-- PostgreSQL from the body as it is written, so counting them parses no document. SQLite reads them from the
-- body when asked (one node's catalogue is small).
alter table server_version
    add column package_types jsonb generated always as
        (coalesce(jsonb_path_query_array(body::jsonb, '$.packages[*].registryType'), '[]'::jsonb)) stored,
    add column has_remote boolean generated always as
        (case when jsonb_typeof(body::jsonb -> 'remotes') = 'array'
              then jsonb_array_length(body::jsonb -> 'remotes') > 0 else false end) stored;
