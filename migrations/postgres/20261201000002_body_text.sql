-- Bodies are kept as the text they were written as: reads send that text as it is, without parsing it, and
-- a document keeps the key order it was stored with (jsonb reorders keys and respaces the text). The
-- remote-URL index reads the text as jsonb. Rows stored before this migration keep jsonb's order until
-- they are written again.
drop index if exists server_version_remotes;
alter table server_version alter column body type text using body::text;
create index server_version_remotes
    on server_version using gin (((body::jsonb) -> 'remotes') jsonb_path_ops);
