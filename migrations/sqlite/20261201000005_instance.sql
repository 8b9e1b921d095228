-- This database's identity, made once: caches shared by several databases key their entries by it too,
-- because generation numbers are unique only within one database.
create table registry_instance (id text not null);
insert into registry_instance (id) values (lower(hex(randomblob(16))));
