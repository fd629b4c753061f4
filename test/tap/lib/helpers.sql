-- Helpers of the pgTAP files, loaded once into the test database by
-- test/scripts/run_tests.sh (before pg_prove runs the files).
CREATE SCHEMA IF NOT EXISTS tap;

-- the hint of the error a statement raises (NULL when it raises none)
CREATE OR REPLACE FUNCTION tap.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END $$;

-- the SQLSTATE a statement raises, or 'no error'
CREATE OR REPLACE FUNCTION tap.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
GRANT USAGE ON SCHEMA tap TO PUBLIC;
