-- ===================================================================
-- 47_import_export.sql: contacts in from JSON, CSV and .xlsx (import.c),
-- at once or as queued import jobs (import_batch, run by bulk_run); the
-- audience out as CSV and .xlsx (export.c), at once or as export jobs (the
-- row builders below).  Imports go through upsert_contact's path, so
-- matching, tags, custom fields, funnels and the action log work as for any
-- other write.
-- ===================================================================

-- Settings for a whole file: the connection (bot) and channel
-- kind its social ids belong to, a funnel and LGT, tags, and which import
-- it is ("require": "social_id" for messenger subscribers, "email" for an
-- e-mail list: rows without it are rejected).  Checked as bulk_enqueue
-- checks parameters, names resolved to ids, before a row is read.
CREATE FUNCTION customercard.import_check_settings(acct bigint, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['connection', 'channel_kind', 'funnel', 'lgt', 'tags', 'require'];
    kinds constant text[] := customercard.channel_kinds();
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
    PERFORM customercard.bulk_check_queue(acct);
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

-- ---------------------------------------------------------------- exports
-- One CSV field: quoted when it must be (RFC 4180)
CREATE FUNCTION customercard.csv_quoted(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '[",\r\n]' OR v <> btrim(v) THEN '"' || replace(v, '"', '""') || '"' ELSE v END
$$;

-- One CSV field of an export.  A value a spreadsheet would run as a
-- formula -- =, +, -, @, a tab or a carriage return first, after any
-- apostrophes -- is written with a leading ' (as OWASP recommends against
-- CSV injection), unless it is a plain number; import_csv drops that one '
-- again (CollectField in import.c), so an export reads back as it was.
CREATE FUNCTION customercard.csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v ~ '^''*[-=+@\t\r]' AND v !~ '^[-+]?[0-9]+([.,][0-9]+)?$' THEN customercard.csv_quoted('''' || v)
                ELSE customercard.csv_quoted(v) END
$$;

-- What an export holds of each contact: the CRM table's columns, tags
-- joined, the messenger link (channel kind, connection, social id), custom
-- fields as one JSON object by name.  export_rows (COPY),
-- export_csv, the export bulk action and export_xlsx all read it.
CREATE FUNCTION customercard.export_rows_of(acct bigint, ids bigint[])
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, channel text, connection text, social_id text, custom jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- PL/pgSQL, not SQL: Citus plans no SQL function with parameters
    RETURN QUERY
    SELECT c.contact_id,
           coalesce(c.name, nullif(concat_ws(' ', c.first_name, c.last_name), ''), c.nickname),
           (SELECT p.phone::text FROM customercard.phones p WHERE p.account_id = c.account_id AND p.contact_id = c.contact_id
             ORDER BY p.is_primary DESC, p.phone_id LIMIT 1),
           (SELECT e.email FROM customercard.emails e WHERE e.account_id = c.account_id AND e.contact_id = c.contact_id
             ORDER BY e.is_primary DESC, e.email_id LIMIT 1),
           c.status,
           c.created_at AT TIME ZONE 'UTC',
           (SELECT string_agg(t.name, '; ' ORDER BY t.name) FROM customercard.contact_tags ct
              JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
             WHERE ct.account_id = c.account_id AND ct.contact_id = c.contact_id),
           ch.kind, ch.connection, ch.external_id,
           coalesce((SELECT jsonb_object_agg(f.name, v.value) FROM customercard.custom_values v
                       JOIN customercard.custom_fields f ON f.account_id = v.account_id AND f.field_id = v.field_id
                      WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id), '{}')
      FROM customercard.contacts c
      -- the messenger link: the contact's first active channel, so that the
      -- file imports back onto its bot (import_csv's channel, connection
      -- and social_id columns)
      LEFT JOIN LATERAL (SELECT h.kind, h.connection, h.external_id FROM customercard.channels h
                          WHERE h.account_id = c.account_id AND h.contact_id = c.contact_id AND h.archived_at IS NULL
                          ORDER BY h.channel_id LIMIT 1) ch ON true
     WHERE c.account_id = acct AND c.contact_id = ANY (ids);
END
$$;

-- The column groups an export may leave out, as the reference product's
-- check-boxes do (the contact's own columns always go): NULL gives all;
-- an unknown one is an error naming them.
CREATE FUNCTION customercard.export_groups(groups text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known constant text[] := ARRAY['tags', 'channels', 'custom'];
    bad text;
BEGIN
    IF groups IS NULL THEN
        RETURN known;
    END IF;
    SELECT g INTO bad FROM unnest(groups) g WHERE g IS NULL OR NOT g = ANY (known) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown export column group %', coalesce(quote_literal(bad), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The groups are tags, channels (the messenger link) and custom (a column per custom field); NULL gives all.';
    END IF;
    RETURN ARRAY(SELECT k FROM unnest(known) k WHERE k = ANY (groups));
END
$$;

-- The export's rows of some contacts, as CSV lines (CRLF), in id order,
-- with the column groups asked for; a column per custom field of the list
-- [[field_id, name], ...] (empty when custom is not asked for).
CREATE FUNCTION customercard.export_lines(acct bigint, ids bigint[], custom_fields jsonb, groups text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT string_agg(concat_ws(',',
               r.contact_id::text, customercard.csv_field(r.name), customercard.csv_field(r.phone),
               customercard.csv_field(r.email), r.status, to_char(r.created_at_utc, 'YYYY-MM-DD HH24:MI:SS'),
               CASE WHEN 'tags' = ANY (groups) THEN coalesce(customercard.csv_field(r.tags), '') END,
               CASE WHEN 'channels' = ANY (groups)
                    THEN concat_ws(',', coalesce(customercard.csv_field(r.channel), ''), coalesce(customercard.csv_field(r.connection), ''),
                                   coalesce(customercard.csv_field(r.social_id), '')) END,
               (SELECT string_agg(customercard.csv_field(r.custom ->> (f.field ->> 1)), ',' ORDER BY f.ord)
                  FROM jsonb_array_elements(custom_fields) WITH ORDINALITY f (field, ord)))
             || E'\r\n', '' ORDER BY r.contact_id)
      FROM customercard.export_rows_of(acct, ids) r
$$;

CREATE FUNCTION customercard.export_header(custom_fields jsonb, groups text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- a byte order mark first: Excel reads the file as UTF-8 only then
    SELECT E'\uFEFF' || concat_ws(',', 'contact_id', 'name', 'phone', 'email', 'status', 'created_at_utc',
                                  CASE WHEN 'tags' = ANY (groups) THEN 'tags' END,
                                  CASE WHEN 'channels' = ANY (groups) THEN 'channel,connection,social_id' END,
                                  (SELECT string_agg(customercard.csv_field(f ->> 1), ',' ORDER BY o)
                                     FROM jsonb_array_elements(custom_fields) WITH ORDINALITY x (f, o))) || E'\r\n'
$$;

-- An export job's CSV, whole (UTF-8 with a byte order mark, CRLF lines).
CREATE FUNCTION customercard.bulk_export_csv(job_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    j customercard.bulk_jobs;
BEGIN
    SELECT * INTO j FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_export_csv.job_id;
    IF NOT FOUND OR j.action <> 'export' THEN
        RAISE EXCEPTION 'bulk job % is not an export of account %', job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'Queue one with customercard.bulk_enqueue(''export'', filter => ''{}'').';
    END IF;
    IF j.status <> 'done' THEN
        RAISE EXCEPTION 'export job % is %, not done', job_id, j.status
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Watch customercard.bulk_progress until it is done.';
    END IF;
    RETURN (SELECT string_agg(o.data, '' ORDER BY o.chunk) FROM customercard.bulk_job_output o
             WHERE o.account_id = acct AND o.job_id = j.job_id);
END
$$;

-- ---------------------------------------------------------------- the export functions
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

-- ---------------------------------------------------------------- import jobs
-- One batch of an import job (bulk_run_batch's, in its transaction): the
-- next rows of the file in line order through import_upsert, each in a
-- subtransaction (a refused row is rolled back alone and keeps its reason),
-- their outcomes and the job's progress committed together, so a runner
-- killed mid-file resumes at the first row not committed, importing none
-- twice.  Returns how many rows it worked through.
CREATE FUNCTION customercard.import_batch(acct bigint, j customercard.bulk_jobs, batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    started timestamptz := now();
    r record;
    cid bigint;
    was_created boolean;
    n integer := 0;
    ok integer := 0;
    bad integer := 0;
    last_line integer := j.position;
BEGIN
    FOR r IN SELECT b.line, b.data FROM customercard.bulk_job_rows b
              WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line > j.position AND b.status = 'queued'
              ORDER BY b.line LIMIT batch_size
    LOOP
        BEGIN
            SELECT u.upserted_id, u.created INTO cid, was_created FROM customercard.import_upsert(r.data, j.params -> 'settings') u;
            UPDATE customercard.bulk_job_rows b
               SET status = CASE WHEN was_created THEN 'created' ELSE 'updated' END, contact_id = cid, at = clock_timestamp()
             WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line = r.line;
            ok := ok + 1;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN
            -- the row's data is wrong (as import_csv judges it): reported, the others go on
            UPDATE customercard.bulk_job_rows b SET status = 'rejected', reason = SQLERRM, at = clock_timestamp()
             WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line = r.line;
            bad := bad + 1;
        END;
        n := n + 1;
        last_line := r.line;
    END LOOP;
    PERFORM customercard.bulk_progressed(acct, j.job_id, started, last_line, n < batch_size, ok, bad);
    RETURN n;
END
$$;
