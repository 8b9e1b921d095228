-- Content generations. Every transaction that changes what a read of a registry returns gives the registry a
-- new number from this sequence, in the same transaction; caches key their entries by it. A number is never
-- given twice, so a registry dropped and added again can never meet an entry of its former self.
create sequence registry_generation;
alter table registry add column generation bigint not null default nextval('registry_generation');
