-- This database's identity, made once: caches shared by several databases (a Redis used by two
-- deployments, or by a database dropped and made again) key their entries by it too, because generation
-- numbers are unique only within one database.
create table registry_instance (id text not null);
insert into registry_instance (id) values (gen_random_uuid()::text);
