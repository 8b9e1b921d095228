-- Content generations. Every transaction that changes what a read of a registry returns gives the registry a
-- new number from this sequence, in the same transaction; caches key their entries by it. A number is never
-- given twice, so a registry dropped and added again can never meet an entry of its former self. They live
-- apart from `registry`, so that a write's bump and the release step's update of a registry's definition
-- never wait on each other.
create sequence registry_generation;
create table content_generation (
    registry text primary key references registry (name) on delete cascade,
    generation bigint not null
);
insert into content_generation (registry, generation) select name, nextval('registry_generation') from registry;
