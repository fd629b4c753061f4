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
-- work a bulk job off as the runner would, batch by batch (in the test's
-- transaction); returns how many batches it took
CREATE OR REPLACE FUNCTION tap.run_job(acct bigint, job bigint, size integer DEFAULT 7) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer; batches integer := 0;
BEGIN
    LOOP
        n := customercard.bulk_run_batch(acct, job, size);
        EXIT WHEN n = 0;
        batches := batches + 1;
    END LOOP;
    RETURN batches;
END $$;
GRANT USAGE ON SCHEMA tap TO PUBLIC;

-- whether jsonb's input takes a document (false when it refuses it:
-- malformed, an escape it cannot store, nesting too deep); the JSON tests
-- compare import_json with it
CREATE OR REPLACE FUNCTION tap.jsonb_accepts(doc text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM doc::jsonb;
    RETURN true;
EXCEPTION WHEN invalid_text_representation OR untranslatable_character OR program_limit_exceeded OR statement_too_complex THEN
    RETURN false;
END $$;
