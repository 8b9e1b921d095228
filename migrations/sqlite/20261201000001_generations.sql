-- Content generations. Every transaction that changes what a read of a registry returns gives the registry a
-- new number from this counter, in the same transaction; caches key their entries by it. A number is never
-- given twice, so a registry dropped and added again can never meet an entry of its former self.
create table generation_counter (
    id integer primary key check (id = 1),
    value integer not null
);
insert into generation_counter (id, value) values (1, 1);
create table content_generation (
    registry text primary key references registry (name) on delete cascade,
    generation integer not null
);
insert into content_generation (registry, generation) select name, 1 from registry;
