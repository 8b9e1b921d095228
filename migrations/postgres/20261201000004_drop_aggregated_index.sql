-- no-transaction
-- server_version_listing has the same key and predicate, and covers more.
drop index concurrently if exists server_version_aggregated;
