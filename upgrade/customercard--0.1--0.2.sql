-- customercard 0.1 -> 0.2: only what changed (as contrib's pg_trgm--1.5--1.6.sql).
-- Each change here has its twin in src/sql/, which builds the fresh 0.2
-- install; test/shell/upgrade.sh fails when the two disagree.
\echo Use "ALTER EXTENSION customercard UPDATE TO '0.2'" to load this file. \quit

-- schedule_bulk_runner: in the cron database before CREATE EXTENSION pg_cron,
-- say that and give the command (0.1 said pg_cron lived elsewhere)
CREATE OR REPLACE FUNCTION customercard.schedule_bulk_runner() RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    crondb text := current_setting('cron.database_name', true);
    here text := current_database();
    runner_sql text := format('SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                              'customercard-bulk-runner-' || here, '* * * * *', 'CALL customercard.bulk_run()', here);
    prune_sql text := format('SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                             'customercard-bulk-prune-' || here, '17 3 * * *', 'SELECT customercard.bulk_prune()', here);
    purge_sql text := format('SELECT cron.schedule(%L, %L, %L)', 'customercard-cron-history-purge', '23 3 * * *',
                             'DELETE FROM cron.job_run_details WHERE end_time < now() - interval ''7 days''');
    jobid bigint;
BEGIN
    IF crondb IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not loaded in this server'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Install postgresql-15-cron and add pg_cron to shared_preload_libraries (then restart), '
                         'or CALL customercard.bulk_run() from the application every minute.';
    END IF;
    IF crondb <> here THEN
        RAISE EXCEPTION 'pg_cron lives in database "%", not in "%"', crondb, here
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('In database %s (as a role that may use pg_cron) run: %s; %s; %s;',
                                quote_ident(crondb), runner_sql, prune_sql, purge_sql);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RAISE EXCEPTION 'extension "pg_cron" is not created in database "%"', here
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run CREATE EXTENSION pg_cron; here (as a superuser), then SELECT customercard.schedule_bulk_runner(); again.';
    END IF;
    EXECUTE runner_sql INTO jobid;
    EXECUTE prune_sql;
    EXECUTE purge_sql;
    RETURN jobid;
END
$$;

-- phone_is_valid: find stored numbers the compiled metadata no longer calls
-- valid (the type now reads its own output back whatever the metadata says)
CREATE FUNCTION customercard.phone_is_valid(customercard.phone) RETURNS boolean
    AS 'MODULE_PATHNAME', 'phone_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_is_valid(customercard.phone) IS
    'Whether the compiled numbering metadata calls the stored number valid (false for numbers stored under older metadata that the current one rejects)';
REVOKE ALL ON FUNCTION customercard.phone_is_valid(customercard.phone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customercard.phone_is_valid(customercard.phone) TO customercard_reader;
