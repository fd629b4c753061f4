-- pg_attver_reset.sql: run in every database of a Debian 12 PostgreSQL 15
-- cluster (as a superuser) right before pg_upgrade to a newer major.
--
-- Debian 12's PostgreSQL 15 (15.20 here) stores an attribute option
-- pg_attver on every column it creates; pg_upgrade carries the options of
-- user tables over, and PostgreSQL 18 then refuses them ("unrecognized
-- parameter").  ALTER TABLE ... RESET does not remove it, so this takes it
-- out of pg_attribute itself, leaving every other option of the column as
-- it was.  Columns made after this run get it again: run it last, then stop
-- the cluster and run pg_upgrade (docs/operations.md).
UPDATE pg_catalog.pg_attribute
   SET attoptions = nullif(ARRAY(SELECT o FROM pg_catalog.unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
 WHERE attoptions::text LIKE '%pg_attver=%';
