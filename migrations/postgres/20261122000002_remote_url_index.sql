-- no-transaction
-- Publishing checks that no other server in the registry uses a remote URL; containment on this index
-- answers it without reading every body. Built concurrently, so writes go on while it builds.
create index concurrently if not exists server_version_remotes
    on server_version using gin ((body -> 'remotes') jsonb_path_ops);
