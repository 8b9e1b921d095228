-- no-transaction
-- The aggregated view's keyset index, covering what a search filters on (registry, status, search_text), so
-- a search's keys come from the index alone, walking names in order until a page is full instead of reading
-- and sorting every match; only the page's rows are then read whole. Built concurrently, so writes go on
-- while it builds; it replaces server_version_aggregated (next migration). No `if not exists`: a build that
-- was cut short leaves an invalid index, and the rerun must stop on it rather than pass over it.
create index concurrently server_version_listing
    on server_version (name, version) include (registry, status, search_text) where not shadowed;
