-- customercard install script, concatenated by the Makefile from the files
-- of src/sql in name order.  Edit those files, not the result.
\echo Use "CREATE EXTENSION customercard" to load this file. \quit
