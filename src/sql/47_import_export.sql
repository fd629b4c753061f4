-- ===================================================================
-- 47_import_export.sql: contacts in from JSON and CSV (import.c), the
-- audience out as CSV and .xlsx (export.c).  Imports go through
-- upsert_contact's path, so matching, tags, custom fields, funnels and the
-- action log work as for any other write.
-- ===================================================================

-- Settings for a whole file (SPEC §8): the connection (bot) and channel
-- kind its social ids belong to, a funnel and LGT, tags, and which import
-- it is ("require": "social_id" for messenger subscribers, "email" for an
-- e-mail list: rows without it are rejected).  Checked as bulk_enqueue
-- checks parameters, names resolved to ids, before a row is read.
CREATE FUNCTION customercard.import_check_settings(acct bigint, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['connection', 'channel_kind', 'funnel', 'lgt', 'tags', 'require'];
    kinds constant text[] := ARRAY['telegram', 'whatsapp', 'viber', 'vk', 'ok', 'facebook', 'instagram',
        'max', 'avito', 'web', 'email', 'sms', 'other'];
    bad text;
    out jsonb := '{}';
    funnel bigint;
    default_lgt bigint;
BEGIN
    settings := coalesce(settings, '{}');
    IF jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION 'import settings must be a JSON object, not %', jsonb_typeof(settings)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. ''{"connection": "school_bot", "channel_kind": "telegram", "tags": ["imported"]}''.';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(settings) k WHERE NOT k = ANY (allowed) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown import setting "%"', bad
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The settings are ' || array_to_string(allowed, ', ') || '.';
    END IF;
    IF settings ? 'connection' THEN
        IF jsonb_typeof(settings -> 'connection') <> 'string' OR length(settings ->> 'connection') NOT BETWEEN 1 AND 200 THEN
            RAISE EXCEPTION '"connection" must be the bot''s name, 1 to 200 characters'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the bot the file was exported from, e.g. "school_bot".';
        END IF;
        out := out || jsonb_build_object('connection', settings ->> 'connection');
    END IF;
    IF settings ? 'channel_kind' THEN
        IF jsonb_typeof(settings -> 'channel_kind') <> 'string' OR NOT settings ->> 'channel_kind' = ANY (kinds) THEN
            RAISE EXCEPTION '"channel_kind" must be a messenger kind, not %', settings -> 'channel_kind'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'One of ' || array_to_string(kinds, ', ') || '.';
        END IF;
        out := out || jsonb_build_object('channel_kind', settings ->> 'channel_kind');
    END IF;
    IF settings ? 'lgt' AND NOT settings ? 'funnel' THEN
        RAISE EXCEPTION '"lgt" needs its "funnel"'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'An LGT belongs to a funnel: give both.';
    END IF;
    IF settings ? 'funnel' THEN
        funnel := customercard.bulk_lookup(acct, settings, 'funnel', 'funnels');
        out := out || jsonb_build_object('funnel', funnel);
        IF settings ? 'lgt' THEN
            out := out || jsonb_build_object('lgt', customercard.bulk_lookup(acct, settings, 'lgt', 'lgts', funnel));
        END IF;
    END IF;
    IF settings ? 'tags' THEN
        IF jsonb_typeof(settings -> 'tags') <> 'array'
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(settings -> 'tags') t
                       WHERE jsonb_typeof(t) <> 'string' OR btrim(t #>> '{}') = '') THEN
            RAISE EXCEPTION '"tags" must be an array of tag names'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. {"tags": ["imported", "webinar"]}.';
        END IF;
        out := out || jsonb_build_object('tags', settings -> 'tags');
    END IF;
    IF NOT settings ? 'funnel' THEN
        -- the account's default traffic source, looked up once for the file
        SELECT a.default_funnel_id, a.default_lgt_id INTO funnel, default_lgt FROM customercard.accounts a WHERE a.account_id = acct;
        IF funnel IS NOT NULL THEN
            out := out || jsonb_build_object('default_funnel', funnel)
                       || CASE WHEN default_lgt IS NOT NULL THEN jsonb_build_object('default_lgt', default_lgt) ELSE '{}' END;
        END IF;
    END IF;
    IF settings ? 'require' THEN
        IF settings ->> 'require' NOT IN ('social_id', 'email') OR jsonb_typeof(settings -> 'require') <> 'string' THEN
            RAISE EXCEPTION '"require" must be "social_id" (messenger subscribers) or "email" (an e-mail list)'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Rows without that identifier are then rejected.';
        END IF;
        out := out || jsonb_build_object('require', settings ->> 'require');
    END IF;
    RETURN out;
END
$$;

-- Leeloo's Viber rule for one imported row: at most two imports of a Viber
-- subscriber in 12 hours; records this one.  SECURITY DEFINER: managers
-- neither see nor write the marks (they could clear them).
CREATE FUNCTION customercard.import_viber_mark(acct bigint, connection text, external_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    window_start constant timestamptz := now() - interval '12 hours';
    earliest timestamptz;
    n integer;
BEGIN
    IF NOT customercard.account_may_act(acct) THEN
        RAISE EXCEPTION 'role "%" may not import into account %', customercard.calling_role(), acct
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- one subscriber at a time (concurrent imports of the same file)
    PERFORM customercard.upsert_lock(acct, ARRAY['viber:' || external_id]);
    DELETE FROM customercard.import_marks m
     WHERE m.account_id = acct AND m.external_id = import_viber_mark.external_id AND m.imported_at <= window_start;
    SELECT count(*), min(m.imported_at) INTO n, earliest FROM customercard.import_marks m
     WHERE m.account_id = acct AND m.external_id = import_viber_mark.external_id
       AND m.connection IS NOT DISTINCT FROM import_viber_mark.connection;
    IF n >= 2 THEN
        RAISE EXCEPTION 'Viber subscriber % was imported twice in the last 12 hours; it may be imported again from %',
                        external_id, to_char((earliest + interval '12 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Viber blocks bots that write to new people in bulk: import the row again after that time.';
    END IF;
    INSERT INTO customercard.import_marks (account_id, connection, external_id) VALUES (acct, connection, external_id);
END
$$;

-- One imported row (upsert_contact's object) with the file's checked
-- settings: the row's own values win; a row without a funnel gets the
-- settings' funnel, else the account's default traffic source as it was
-- when the file's settings were checked (recorded as the subscription's
-- source); tags are added to the row's.
CREATE FUNCTION customercard.import_upsert(data jsonb, settings jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    ch jsonb := data -> 'channel';
BEGIN
    IF jsonb_typeof(ch) = 'object' THEN
        IF NOT ch ? 'connection' AND settings ? 'connection' THEN
            ch := ch || jsonb_build_object('connection', settings ->> 'connection');
        END IF;
        IF NOT ch ? 'kind' AND settings ? 'channel_kind' THEN
            ch := ch || jsonb_build_object('kind', settings ->> 'channel_kind');
        END IF;
        data := data || jsonb_build_object('channel', ch);
    END IF;
    IF settings ->> 'require' = 'social_id' AND coalesce(btrim(ch ->> 'external_id'), '') = '' THEN
        RAISE EXCEPTION 'the row has no social_id, which an import of messenger subscribers needs'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Give each row its subscriber''s id in the social_id column.';
    END IF;
    IF settings ->> 'require' = 'email'
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(data -> 'emails') WHEN 'array' THEN data -> 'emails' ELSE '[]' END) e
                        WHERE btrim(e #>> '{}') <> '')
       AND coalesce(btrim(data ->> 'email'), '') = '' THEN
        RAISE EXCEPTION 'the row has no e-mail, which an import of an e-mail list needs'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Give each row an address in the email column.';
    END IF;
    IF NOT data ? 'funnel' THEN
        IF settings ? 'funnel' THEN
            data := data || jsonb_build_object('funnel', settings -> 'funnel', 'source', 'import')
                         || CASE WHEN settings ? 'lgt' THEN jsonb_build_object('lgt', settings -> 'lgt') ELSE '{}' END;
        ELSIF settings ? 'default_funnel' THEN
            data := data || jsonb_build_object('funnel', settings -> 'default_funnel', 'source', 'default traffic source')
                         || CASE WHEN settings ? 'default_lgt' THEN jsonb_build_object('lgt', settings -> 'default_lgt') ELSE '{}' END;
        END IF;
    ELSIF NOT data ? 'source' THEN
        data := data || '{"source": "import"}';
    END IF;
    IF settings ? 'tags' THEN
        data := data || jsonb_build_object('tags', CASE jsonb_typeof(data -> 'tags') WHEN 'array' THEN data -> 'tags' ELSE '[]' END
                                                   || (settings -> 'tags'));
    END IF;
    IF ch ->> 'kind' = 'viber' AND coalesce(btrim(ch ->> 'external_id'), '') <> '' THEN
        PERFORM customercard.import_viber_mark(acct, ch ->> 'connection', btrim(ch ->> 'external_id'));
    END IF;
    SELECT u.upserted_id, u.created INTO upserted_id, created FROM customercard.upsert_contact_ex(data) u;
END
$$;

-- The default traffic source of the current account: imported rows without
-- a funnel (in the row or the file's settings) subscribe to it.  NULL
-- clears it.  For admins.
CREATE FUNCTION customercard.set_default_traffic_source(funnel text, lgt text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.admin_account_id();
    f bigint;
    l bigint;
BEGIN
    IF funnel IS NULL AND lgt IS NOT NULL THEN
        RAISE EXCEPTION 'an LGT needs its funnel' USING ERRCODE = 'invalid_parameter_value',
              HINT = 'SELECT customercard.set_default_traffic_source(''Free lesson'', ''Instagram ads'');';
    END IF;
    IF funnel IS NOT NULL THEN
        f := customercard.bulk_lookup(acct, jsonb_build_object('funnel', funnel), 'funnel', 'funnels');
        l := customercard.bulk_lookup(acct, jsonb_build_object('lgt', lgt), 'lgt', 'lgts', f, false);
    END IF;
    UPDATE customercard.accounts a SET default_funnel_id = f, default_lgt_id = l, updated_at = now()
     WHERE a.account_id = acct;
END
$$;
COMMENT ON FUNCTION customercard.set_default_traffic_source(text, text) IS
    'Set (or with NULL clear) the current account''s default traffic source: the funnel and LGT imported rows without a funnel subscribe to; for admins';

CREATE FUNCTION customercard.import_json(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_json' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_json(text, boolean, jsonb) IS
    'Import contacts from a JSON array of objects (upsert_contact''s keys), with settings for the whole file: a line per object, created / updated / rejected with the reason; a malformed file changes nothing';

CREATE FUNCTION customercard.import_csv(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_csv' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_csv(text, boolean, jsonb) IS
    'Import contacts from CSV with a header (name, phone(s), email(s), tags, funnel, lgt, channel + social_id, custom:<field>, ...; "," or ";"), with settings for the whole file: a line per row with its outcome; a malformed file changes nothing';

CREATE FUNCTION customercard.import_xlsx(data bytea, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_xlsx(bytea, boolean, jsonb) IS
    'Import contacts from the first sheet of an .xlsx workbook (a header row with import_csv''s columns), with settings for the whole file: a line per row (the sheet''s row number) with its outcome; a broken or oversized file changes nothing';

CREATE FUNCTION customercard.import_rows(data bytea, format text)
RETURNS TABLE (line integer, data jsonb, reason text)
    AS 'MODULE_PATHNAME', 'import_rows' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_rows(bytea, text) IS
    'Internal to import_enqueue: the rows of a csv, json or xlsx file as the imports read them (each one''s upsert_contact object, or why it has none), importing nothing';

-- A big file through the queue: read now (a malformed file is the same
-- error as with import_csv and nothing is queued), its rows kept in
-- bulk_job_rows, imported by the bulk runner in committed batches with
-- progress in bulk_progress, cancel and run_at; import_report(job) gives a
-- line per row, bulk_failures the rejected ones.
CREATE FUNCTION customercard.import_enqueue(data bytea, format text, settings jsonb DEFAULT '{}', run_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    checked jsonb;
    job bigint;
    n integer;
    refused integer;
BEGIN
    PERFORM customercard.bulk_check_enqueue(run_at);
    IF data IS NULL THEN
        RAISE EXCEPTION 'nothing to import' USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the file''s bytes.';
    END IF;
    checked := customercard.import_check_settings(acct, settings);
    INSERT INTO customercard.bulk_jobs (account_id, action, params, run_at)
    VALUES (acct, 'import', jsonb_build_object('format', format, 'settings', checked), import_enqueue.run_at)
    RETURNING job_id INTO job;
    INSERT INTO customercard.bulk_job_rows (account_id, job_id, line, data, status, reason)
    SELECT acct, job, r.line, r.data, CASE WHEN r.data IS NULL THEN 'rejected' ELSE 'queued' END, r.reason
      FROM customercard.import_rows(data, format) r;
    SELECT count(*), count(*) FILTER (WHERE r.status = 'rejected') INTO n, refused
      FROM customercard.bulk_job_rows r WHERE r.account_id = acct AND r.job_id = job;
    UPDATE customercard.bulk_jobs j SET total = n, failed = refused WHERE j.account_id = acct AND j.job_id = job;
    RETURN job;
END
$$;
COMMENT ON FUNCTION customercard.import_enqueue(bytea, text, jsonb, timestamptz) IS
    'Queue the import of a csv, json or xlsx file (with settings for the whole file) as a bulk job; returns the job id; its rows are read now, imported by the bulk runner';

-- An import job's report: a line per row of its file, as import_csv gives it
-- (queued for those the runner has not reached yet).
CREATE FUNCTION customercard.import_report(job_id bigint)
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customercard.bulk_jobs b
                    WHERE b.account_id = acct AND b.job_id = import_report.job_id AND b.action = 'import') THEN
        RAISE EXCEPTION 'bulk job % is not an import of account %', import_report.job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'Queue one with customercard.import_enqueue(data, ''csv'').';
    END IF;
    RETURN QUERY SELECT r.line, r.status, r.contact_id, r.reason FROM customercard.bulk_job_rows r
                  WHERE r.account_id = acct AND r.job_id = import_report.job_id ORDER BY r.line;
END
$$;
COMMENT ON FUNCTION customercard.import_report(bigint) IS
    'The report of an import job: a line per row of its file with its outcome (queued, created, updated, rejected with the reason)';

-- The audience's rows for exports: the CRM table's columns, tags joined,
-- custom fields as one JSON object (export_csv and export_xlsx spread them
-- into columns).  For COPY (SELECT * FROM customercard.export_rows('{}'))
-- TO STDOUT WITH (FORMAT csv, HEADER).
CREATE FUNCTION customercard.export_rows(filter jsonb DEFAULT '{}')
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, channel text, connection text, social_id text, custom jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM customercard.export_rows_of(customercard.require_account_id(), ARRAY(SELECT customercard.audience_ids(filter)))
$$;
COMMENT ON FUNCTION customercard.export_rows(jsonb) IS
    'The audience a filter selects, a row per contact with tags joined and custom fields as JSON: for COPY ... WITH (FORMAT csv, HEADER)';

-- The whole CSV as Excel and Google Sheets open it: UTF-8 with a byte order
-- mark, a header, CRLF lines, a column per custom field.
CREATE FUNCTION customercard.export_csv(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    chosen constant text[] := customercard.export_groups(groups);
    fields jsonb := CASE WHEN 'custom' = ANY (chosen)
                         THEN coalesce((SELECT jsonb_agg(jsonb_build_array(f.field_id, f.name) ORDER BY f.name)
                                          FROM customercard.custom_fields f WHERE f.account_id = acct), '[]')
                         ELSE '[]' END;
BEGIN
    RETURN customercard.export_header(fields, chosen)
        || coalesce(customercard.export_lines(acct, ARRAY(SELECT customercard.audience_ids(filter)), fields, chosen), '');
END
$$;
COMMENT ON FUNCTION customercard.export_csv(jsonb, text[]) IS
    'The audience a filter selects as one CSV document (UTF-8 with BOM, header, CRLF; the column groups tags, channels, custom, all by default); for big audiences queue bulk_enqueue(''export'', ...)';

CREATE FUNCTION customercard.export_xlsx(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS bytea
    AS 'MODULE_PATHNAME', 'export_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.export_xlsx(jsonb, text[]) IS
    'The audience a filter selects as an .xlsx workbook: one sheet, a bold frozen header with a filter; the column groups tags, channels (the messenger link), custom (a column per custom field), all by default';

