-- Publishing checks that no other server in the registry uses a remote URL; containment on this index
-- answers it without reading every body.
create index server_version_remotes on server_version using gin ((body -> 'remotes') jsonb_path_ops);
