-- ===================================================================
-- 46_bulk.sql: bulk actions over many contacts (SPEC §8).
--
-- bulk_enqueue() checks the action and its parameters, resolves names to
-- ids, and freezes the selection (ids given, or an audience filter) into
-- bulk_job_items.  CALL bulk_run() works through due jobs in batches, in
-- contact id order (keyset: bulk_jobs.position); each batch's effects and
-- the job's progress commit together, so a runner killed at any point loses
-- nothing and applies nothing twice (and every action is idempotent besides).
-- One runner per batch of a job: the job's row lock (bulk_claim), which dies
-- with the runner; jobs of every account take turns batch by batch, and a
-- batch that fails is undone and counted on its job, which after
-- bulk_max_attempts() failures in a row ends as failed while the runner
-- goes on.  Batches size themselves to about half a second, so progress is
-- committed well within every 2 seconds.
--
-- Every change a job makes goes through the tables, so the log triggers log
-- it like any other, with the job's actor (set per transaction, so it is
-- gone again after each commit).
-- ===================================================================

CREATE FUNCTION customercard.bulk_actions() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['add_tag', 'remove_tag', 'archive', 'unarchive', 'blacklist', 'subscribe', 'unsubscribe',
                 'add_to_sales_plan', 'create_channel', 'assign_manager', 'set_field', 'export', 'delete']
$$;

-- the contact columns set_field may set (besides custom fields, by name)
CREATE FUNCTION customercard.bulk_settable_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['city', 'country', 'timezone', 'gender', 'note']
$$;

-- An object's id from a name or an id in params (a funnel, an LGT, a plan):
-- NULL when absent, an error naming the key when unknown.
CREATE FUNCTION customercard.bulk_lookup(acct bigint, params jsonb, key text, tbl text,
                                         parent_id bigint DEFAULT NULL, required boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v jsonb := params -> key;
    id bigint;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        IF required THEN
            RAISE EXCEPTION 'bulk action needs "%"', key
                USING ERRCODE = 'invalid_parameter_value', HINT = format('Give "%s" as a name or an id.', key);
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) NOT IN ('string', 'number') THEN
        RAISE EXCEPTION '"%" must be a name or an id, not %', key, jsonb_typeof(v)
            USING ERRCODE = 'invalid_parameter_value', HINT = format('Give "%s" as a string or a number.', key);
    END IF;
    id := (customercard.ids_named(acct, v, tbl, parent_id))[1];
    IF id IS NULL THEN
        RAISE EXCEPTION '% % does not exist in account %', key, v, acct
            USING ERRCODE = 'undefined_object', HINT = format('List them with SELECT * FROM customercard.%s.', tbl);
    END IF;
    RETURN id;
END
$$;

-- The parameters of an action, checked, with names resolved to ids.
CREATE FUNCTION customercard.bulk_check_params(acct bigint, action text, params jsonb, dry boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed text[] := CASE action
        WHEN 'add_tag' THEN '{tag}' WHEN 'remove_tag' THEN '{tag}'
        WHEN 'subscribe' THEN '{funnel, lgt}' WHEN 'unsubscribe' THEN '{funnel, lgt}'
        WHEN 'add_to_sales_plan' THEN '{plan, manager_id}' WHEN 'create_channel' THEN '{kind, connection}'
        WHEN 'assign_manager' THEN '{manager_id}' WHEN 'set_field' THEN '{field, value}'
        WHEN 'export' THEN '{groups}'
        ELSE '{}' END;
    bad text;
    out jsonb := '{}';
    tag text;
    funnel bigint;
    field text;
BEGIN
    IF action IS NULL OR NOT action = ANY (customercard.bulk_actions()) THEN
        RAISE EXCEPTION 'unknown bulk action %', coalesce(quote_literal(action), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The actions are ' || array_to_string(customercard.bulk_actions(), ', ') || '.';
    END IF;
    params := coalesce(params, '{}');
    IF jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'bulk action parameters must be a JSON object, not %', jsonb_typeof(params)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. ''{"tag": "vip"}''.';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(params) k WHERE NOT k = ANY (allowed) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown parameter "%" of bulk action %', bad, action
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE WHEN allowed = '{}' THEN action || ' takes no parameters.'
                              ELSE action || ' takes ' || array_to_string(allowed, ', ') || '.' END;
    END IF;

    CASE action
    WHEN 'add_tag', 'remove_tag' THEN
        tag := btrim(params ->> 'tag');
        IF jsonb_typeof(params -> 'tag') IS DISTINCT FROM 'string' OR tag = '' THEN
            RAISE EXCEPTION '% needs a tag name', action
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{"tag": "vip"}''.';
        END IF;
        -- add_tag makes the tag (a preview, dry, does not: a tag nobody has)
        IF action = 'add_tag' AND NOT dry THEN
            INSERT INTO customercard.tags (account_id, name) VALUES (acct, tag) ON CONFLICT DO NOTHING;
        END IF;
        out := jsonb_build_object('tag', tag,
                                  'tag_id', CASE WHEN action = 'add_tag' AND dry
                                                 THEN (SELECT t.tag_id FROM customercard.tags t WHERE t.account_id = acct AND t.name = tag)
                                                 ELSE customercard.bulk_lookup(acct, jsonb_build_object('tag', tag), 'tag', 'tags') END);
    WHEN 'subscribe', 'unsubscribe' THEN
        funnel := customercard.bulk_lookup(acct, params, 'funnel', 'funnels');
        out := jsonb_build_object('funnel_id', funnel,
                                  'lgt_id', customercard.bulk_lookup(acct, params, 'lgt', 'lgts', funnel, false));
    WHEN 'add_to_sales_plan' THEN
        out := jsonb_build_object('plan_id', customercard.bulk_lookup(acct, params, 'plan', 'sales_plans'),
                                  'manager_id', customercard.bulk_lookup(acct, params, 'manager_id', 'managers', NULL, false));
    WHEN 'assign_manager' THEN
        IF NOT params ? 'manager_id' THEN
            RAISE EXCEPTION 'assign_manager needs "manager_id" (null takes the manager away)'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{"manager_id": 3}''.';
        END IF;
        out := jsonb_build_object('manager_id', customercard.bulk_lookup(acct, params, 'manager_id', 'managers', NULL, false));
    WHEN 'create_channel' THEN
        IF NOT coalesce(params ->> 'kind', '') IN ('email', 'sms') THEN
            RAISE EXCEPTION 'create_channel needs "kind": "email" or "sms"'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'An e-mail channel is made from the contact''s e-mail, an SMS one from its phone.';
        END IF;
        IF params ? 'connection' AND jsonb_typeof(params -> 'connection') NOT IN ('string', 'null') THEN
            RAISE EXCEPTION '"connection" must be a string'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the mailer or SMS gateway, e.g. "unisender".';
        END IF;
        out := jsonb_build_object('kind', params ->> 'kind', 'connection', params ->> 'connection');
    WHEN 'set_field' THEN
        field := params ->> 'field';
        IF NOT params ? 'value' OR jsonb_typeof(params -> 'value') NOT IN ('string', 'number', 'boolean', 'null') THEN
            RAISE EXCEPTION 'set_field needs a "value" (a string, a number, a boolean, or null to clear)'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{"field": "city", "value": "Kazan"}''.';
        END IF;
        IF field = ANY (customercard.bulk_settable_fields()) THEN
            IF field = 'timezone' AND NOT customercard.is_valid_timezone(params ->> 'value') THEN
                RAISE EXCEPTION 'unknown time zone %', params -> 'value'
                    USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, e.g. Europe/Moscow.';
            END IF;
            IF field = 'gender' AND params ->> 'value' NOT IN ('male', 'female') THEN
                RAISE EXCEPTION 'gender must be "male", "female" or null'
                    USING ERRCODE = 'invalid_parameter_value', HINT = 'null clears it.';
            END IF;
            out := jsonb_build_object('field', field, 'value', params ->> 'value');
        ELSE
            out := jsonb_build_object('field_id', customercard.bulk_lookup(acct, params, 'field', 'custom_fields'),
                                      'field', field, 'value', params ->> 'value');
        END IF;
    WHEN 'export' THEN
        -- the columns are fixed now: the groups asked for, the account's
        -- custom fields at enqueue (none when custom is not asked for)
        IF params ? 'groups' AND jsonb_typeof(params -> 'groups') NOT IN ('array', 'null') THEN
            RAISE EXCEPTION '"groups" must be an array of column groups'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. {"groups": ["tags", "custom"]}; leave it out for all.';
        END IF;
        out := jsonb_build_object('groups', to_jsonb(customercard.export_groups(
                   CASE WHEN jsonb_typeof(params -> 'groups') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(params -> 'groups')) END)));
        out := out || jsonb_build_object('custom_fields',
                   CASE WHEN out -> 'groups' ? 'custom'
                        THEN coalesce((SELECT jsonb_agg(jsonb_build_array(f.field_id, f.name) ORDER BY f.name)
                                         FROM customercard.custom_fields f WHERE f.account_id = acct), '[]')
                        ELSE '[]' END);
    ELSE
        NULL;   -- archive, unarchive, blacklist, delete
    END CASE;
    RETURN out;
END
$$;

-- One CSV field: quoted when it must be (RFC 4180)
CREATE FUNCTION customercard.csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v ~ '[",\r\n]' OR v <> btrim(v) THEN '"' || replace(v, '"', '""') || '"'
                ELSE v END
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

-- The calling role (not a SECURITY DEFINER function's owner) is a manager:
-- otherwise 42501 saying what it may not do.
CREATE FUNCTION customercard.assert_manager(what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT pg_has_role(customercard.calling_role()::oid, 'customercard_manager', 'USAGE') THEN
        RAISE EXCEPTION 'role "%" may not %', customercard.calling_role(), what
            USING ERRCODE = 'insufficient_privilege', HINT = 'That is for members of customercard_manager.';
    END IF;
END
$$;

-- What every job's enqueue checks first: the caller is a manager, and the
-- job's time is a finite one (-infinity would put it before every other
-- account's jobs for good).
CREATE FUNCTION customercard.bulk_check_enqueue(run_at timestamptz) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM customercard.assert_manager('run bulk actions or queue imports');
    IF run_at IS NULL THEN
        RAISE EXCEPTION 'run_at may not be null'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave it out to run as soon as a runner comes by.';
    END IF;
    IF NOT isfinite(run_at) THEN
        RAISE EXCEPTION 'run_at must be a finite time, not %', run_at
            USING ERRCODE = 'invalid_datetime_format', HINT = 'Give a time such as now() + interval ''1 hour'', or leave it out to run at once.';
    END IF;
END
$$;

-- The ids of a selection are contacts of the account: else 42704 naming one.
CREATE FUNCTION customercard.bulk_check_ids(acct bigint, contact_ids bigint[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    unknown bigint;
BEGIN
    SELECT x INTO unknown FROM unnest(contact_ids) x
     WHERE x IS NULL OR NOT EXISTS (SELECT 1 FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = x)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'contact % does not exist in account %', coalesce(unknown::text, 'NULL'), acct
            USING ERRCODE = 'undefined_object', HINT = 'Pass ids of contacts of the current account.';
    END IF;
END
$$;

CREATE FUNCTION customercard.bulk_enqueue(action text, params jsonb DEFAULT '{}', contact_ids bigint[] DEFAULT NULL,
                                          filter jsonb DEFAULT NULL, run_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    checked jsonb;
    job bigint;
    n integer;
BEGIN
    PERFORM customercard.bulk_check_enqueue(run_at);
    IF (contact_ids IS NULL) = (filter IS NULL) THEN
        RAISE EXCEPTION 'bulk_enqueue needs exactly one of contact_ids and filter'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass contact_ids => ARRAY[...] for chosen contacts, or filter => ''{...}'' (''{}'' = everyone).';
    END IF;
    checked := customercard.bulk_check_params(acct, action, params);

    INSERT INTO customercard.bulk_jobs (account_id, action, params, filter, run_at)
    VALUES (acct, action, checked, filter, bulk_enqueue.run_at)
    RETURNING job_id INTO job;
    IF contact_ids IS NOT NULL THEN
        PERFORM customercard.bulk_check_ids(acct, contact_ids);
        INSERT INTO customercard.bulk_job_items (account_id, job_id, contact_id)
        SELECT DISTINCT acct, job, x FROM unnest(contact_ids) x;
    ELSE
        INSERT INTO customercard.bulk_job_items (account_id, job_id, contact_id)
        SELECT acct, job, x FROM customercard.audience_ids(filter) x;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF action = 'add_to_sales_plan' AND n > 10000 THEN
        RAISE EXCEPTION 'add_to_sales_plan takes at most 10,000 contacts, not %', n
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Narrow the filter, or split the selection into several jobs.';
    END IF;
    UPDATE customercard.bulk_jobs j SET total = n WHERE j.account_id = acct AND j.job_id = job;
    IF action = 'export' THEN
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
        VALUES (acct, job, 0, customercard.export_header(checked -> 'custom_fields',
                                                         ARRAY(SELECT jsonb_array_elements_text(checked -> 'groups'))));
    END IF;
    RETURN job;
END
$$;
COMMENT ON FUNCTION customercard.bulk_enqueue(text, jsonb, bigint[], jsonb, timestamptz) IS
    'Queue a bulk action over the given contacts or an audience filter (frozen now); returns the job id; CALL customercard.bulk_run() works it off';

-- What a job would do to each contact of a selection, before it is queued:
-- the field it touches, the value before and after, whether it changes, or
-- why it cannot act (the same rules as bulk_apply, read-only).  One query,
-- one branch per action, over $1 (account), $2 (action), $3 (the checked
-- parameters) and $4 (the ids): bulk_preview runs it as dynamic SQL with
-- parameters (which Citus plans; a SQL function over distributed tables it
-- does not), streamed into its count, nothing kept.  Fixed text, no caller's.
CREATE FUNCTION customercard.bulk_preview_query() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $q$
    SELECT $sql$
    SELECT x, 'tags', CASE WHEN h.has THEN $3 ->> 'tag' END,
           CASE WHEN $2 = 'add_tag' THEN $3 ->> 'tag' END,
           h.has = ($2 = 'remove_tag'), NULL::text
      FROM unnest($4) x
     CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM customercard.contact_tags t
                                         WHERE t.account_id = $1 AND t.contact_id = x
                                           AND t.tag_id = ($3 ->> 'tag_id')::bigint) AS has) h
     WHERE $2 IN ('add_tag', 'remove_tag')
    UNION ALL
    SELECT c.contact_id, v.field, v.before, v.after, v.before IS DISTINCT FROM v.after, NULL::text
      FROM customercard.contacts c
     CROSS JOIN LATERAL (SELECT CASE $2 WHEN 'delete' THEN 'deleted_at' WHEN 'assign_manager' THEN 'manager_id'
                                            ELSE 'status' END AS field,
                                CASE $2 WHEN 'delete' THEN c.deleted_at::text WHEN 'assign_manager' THEN c.manager_id::text
                                            ELSE c.status END AS before,
                                CASE $2 WHEN 'archive' THEN 'archived' WHEN 'blacklist' THEN 'blacklisted'
                                            WHEN 'unarchive' THEN CASE WHEN c.status = 'archived' THEN 'active' ELSE c.status END
                                            WHEN 'delete' THEN coalesce(c.deleted_at::text, 'now')
                                            ELSE $3 ->> 'manager_id' END AS after) v
     WHERE $2 IN ('archive', 'unarchive', 'blacklist', 'delete', 'assign_manager')
       AND c.account_id = $1 AND c.contact_id = ANY ($4)
    UNION ALL
    SELECT x, 'subscription', CASE WHEN o.open THEN 'subscribed' END,
           CASE WHEN $2 = 'subscribe' THEN 'subscribed' END,
           o.open = ($2 = 'unsubscribe'), NULL::text
      FROM unnest($4) x
     CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM customercard.subscriptions s
                                         WHERE s.account_id = $1 AND s.funnel_id = ($3 ->> 'funnel_id')::bigint
                                           AND s.contact_id = x AND s.unsubscribed_at IS NULL
                                           AND ($3 ->> 'lgt_id' IS NULL OR s.lgt_id = ($3 ->> 'lgt_id')::bigint)) AS open) o
     WHERE $2 IN ('subscribe', 'unsubscribe')
    UNION ALL
    SELECT x, 'sales_plan', CASE WHEN m.member THEN $3 ->> 'plan_id' END, $3 ->> 'plan_id', NOT m.member, NULL::text
      FROM unnest($4) x
     CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM customercard.sales_plan_members spm
                                         WHERE spm.account_id = $1 AND spm.plan_id = ($3 ->> 'plan_id')::bigint
                                           AND spm.contact_id = x) AS member) m
     WHERE $2 = 'add_to_sales_plan'
    UNION ALL
    SELECT src.cid, 'channel', own.external_id, src.ext, src.ext IS NOT NULL AND own.external_id IS NULL AND other.contact_id IS NULL,
           CASE WHEN src.ext IS NULL THEN CASE $3 ->> 'kind' WHEN 'email' THEN 'the contact has no e-mail address'
                                                           ELSE 'the contact has no phone number' END
                WHEN own.external_id IS NULL AND other.contact_id IS NOT NULL
                THEN 'the ' || ($3 ->> 'kind') || ' channel ' || src.ext || ' belongs to contact ' || other.contact_id END
      FROM (SELECT x AS cid,
                   CASE $3 ->> 'kind'
                       WHEN 'email' THEN (SELECT e.email FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = x
                                           ORDER BY e.is_primary DESC, e.email_id LIMIT 1)
                       ELSE (SELECT ph.phone::text FROM customercard.phones ph WHERE ph.account_id = $1 AND ph.contact_id = x
                              ORDER BY ph.is_primary DESC, ph.phone_id LIMIT 1) END AS ext
              FROM unnest($4) x
             WHERE $2 = 'create_channel') src
      LEFT JOIN LATERAL (SELECT h.external_id FROM customercard.channels h
                          WHERE h.account_id = $1 AND h.kind = $3 ->> 'kind' AND h.connection IS NOT DISTINCT FROM $3 ->> 'connection'
                            AND h.external_id = src.ext AND h.contact_id = src.cid LIMIT 1) own ON true
      LEFT JOIN LATERAL (SELECT h.contact_id FROM customercard.channels h
                          WHERE h.account_id = $1 AND h.kind = $3 ->> 'kind' AND h.connection IS NOT DISTINCT FROM $3 ->> 'connection'
                            AND h.external_id = src.ext AND h.contact_id <> src.cid ORDER BY h.contact_id LIMIT 1) other ON true
    UNION ALL
    SELECT x, $3 ->> 'field', cv.value, $3 ->> 'value', cv.value IS DISTINCT FROM $3 ->> 'value', NULL::text
      FROM unnest($4) x
      LEFT JOIN customercard.custom_values cv
        ON cv.account_id = $1 AND cv.contact_id = x AND cv.field_id = ($3 ->> 'field_id')::bigint
     WHERE $2 = 'set_field' AND $3 ? 'field_id'
    UNION ALL
    -- the column is one of bulk_settable_fields(), checked before
    SELECT c.contact_id, $3 ->> 'field', v.before, $3 ->> 'value', v.before IS DISTINCT FROM $3 ->> 'value', NULL::text
      FROM customercard.contacts c
     CROSS JOIN LATERAL (SELECT CASE $3 ->> 'field' WHEN 'city' THEN c.city WHEN 'country' THEN c.country
                                                   WHEN 'timezone' THEN c.timezone WHEN 'gender' THEN c.gender
                                                   WHEN 'note' THEN c.note END AS before) v
     WHERE $2 = 'set_field' AND NOT $3 ? 'field_id'
       AND c.account_id = $1 AND c.contact_id = ANY ($4)
    UNION ALL
    SELECT x, 'export', NULL::text, NULL::text, false, NULL::text FROM unnest($4) x WHERE $2 = 'export'
$sql$::text
$q$;

CREATE FUNCTION customercard.bulk_preview(action text, params jsonb DEFAULT '{}', contact_ids bigint[] DEFAULT NULL,
                                          filter jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    checked jsonb;
    ids bigint[];
    gone bigint[];
    selected integer;
    out jsonb;
    sample jsonb;
    part jsonb;
    slice_from integer := 1;
    slice integer := 100;
BEGIN
    PERFORM customercard.assert_manager('preview bulk actions');
    IF (contact_ids IS NULL) = (filter IS NULL) THEN
        RAISE EXCEPTION 'bulk_preview needs exactly one of contact_ids and filter'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass contact_ids => ARRAY[...] for chosen contacts, or filter => ''{...}'' (''{}'' = everyone).';
    END IF;
    checked := customercard.bulk_check_params(acct, action, params, true);
    IF contact_ids IS NOT NULL THEN
        PERFORM customercard.bulk_check_ids(acct, contact_ids);
        ids := ARRAY(SELECT DISTINCT x FROM unnest(contact_ids) x ORDER BY 1);
        selected := cardinality(ids);
        -- as the job will: merged ids act on their survivor, deleted cards not at all
        SELECT t.live, t.gone INTO ids, gone FROM customercard.bulk_targets(acct, ids) t;
    ELSE
        ids := ARRAY(SELECT customercard.audience_ids(filter));
        selected := cardinality(ids);
    END IF;
    -- the figures: one pass over the selection, nothing kept of it
    EXECUTE format($f$
        SELECT jsonb_build_object('would_change', count(*) FILTER (WHERE r.changes),
                                  'already', count(*) FILTER (WHERE NOT r.changes AND r.cannot IS NULL AND $2 <> 'export'),
                                  'cannot', count(*) FILTER (WHERE r.cannot IS NOT NULL),
                                  'rows', count(*))
          FROM (%s) r (contact_id, field, before, after, changes, cannot)$f$, customercard.bulk_preview_query())
       INTO out USING acct, action, checked, ids;
    out := jsonb_build_object('action', action, 'selected', selected, 'would_change', out -> 'would_change',
                              'already', out -> 'already',
                              'cannot', (out ->> 'cannot')::bigint + coalesce(cardinality(gone), 0))
           || CASE WHEN action = 'export' THEN jsonb_build_object('exported', out -> 'rows') ELSE '{}' END;
    -- the sample: the first 20 changes in the job's order (contact id),
    -- read a slice of the selection at a time until there are 20 (the ids
    -- are in id order: audience_ids and bulk_targets keep it)
    WHILE coalesce(jsonb_array_length(sample), 0) < 20 AND slice_from <= cardinality(ids) LOOP
        EXECUTE format($f$
            SELECT jsonb_agg(jsonb_build_object('contact_id', r.contact_id, 'field', r.field, 'before', r.before, 'after', r.after)
                             ORDER BY r.contact_id)
              FROM (SELECT * FROM (%s) r (contact_id, field, before, after, changes, cannot)
                     WHERE r.changes ORDER BY r.contact_id LIMIT $5) r$f$, customercard.bulk_preview_query())
           INTO part USING acct, action, checked, ids[slice_from:slice_from + slice - 1], 20 - coalesce(jsonb_array_length(sample), 0);
        sample := coalesce(sample, '[]') || coalesce(part, '[]');
        slice_from := slice_from + slice;
        slice := least(slice * 4, 100000);
    END LOOP;
    RETURN out || jsonb_build_object('sample', coalesce(sample, '[]'));
END
$$;
COMMENT ON FUNCTION customercard.bulk_preview(text, jsonb, bigint[], jsonb) IS
    'What a bulk job would do, before it is queued: how many contacts it selects, how many it would change, how many are already so, how many it cannot act on, and a sample of up to 20 changes (contact, field, before, after); it changes nothing';

-- The live contacts behind some ids (tombstones resolve to their survivor);
-- ids of deleted contacts come back in gone.  Only the few tombstones and
-- deleted cards are looked up (the partial index contacts_gone): the ids of
-- a job are contacts of the account, checked at enqueue.
CREATE FUNCTION customercard.bulk_targets(acct bigint, ids bigint[], OUT live bigint[], OUT gone bigint[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    merged bigint[];
BEGIN
    SELECT array_agg(c.contact_id) FILTER (WHERE c.deleted_at IS NOT NULL),
           array_agg(c.contact_id) FILTER (WHERE c.deleted_at IS NULL)
      INTO gone, merged
      FROM customercard.contacts c
     WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND (c.merged_into IS NOT NULL OR c.deleted_at IS NOT NULL);
    IF gone IS NULL AND merged IS NULL THEN
        live := ids;
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT x) INTO live
      FROM (SELECT i AS x FROM unnest(ids) i
             WHERE i <> ALL (coalesce(gone, '{}')) AND i <> ALL (coalesce(merged, '{}'))
            UNION ALL
            SELECT customercard.resolve_contact(m) FROM unnest(merged) m) t;
    live := coalesce(live, '{}');
END
$$;

-- What one batch does; returns the failures as (contact_id, reason).
CREATE FUNCTION customercard.bulk_apply(acct bigint, job customercard.bulk_jobs, ids bigint[])
RETURNS TABLE (contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    p jsonb := job.params;
    v text;
BEGIN
    CASE job.action
    WHEN 'add_tag' THEN
        INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
        SELECT acct, x, (p ->> 'tag_id')::bigint FROM unnest(ids) x
        ON CONFLICT DO NOTHING;
    WHEN 'remove_tag' THEN
        DELETE FROM customercard.contact_tags t
         WHERE t.account_id = acct AND t.tag_id = (p ->> 'tag_id')::bigint AND t.contact_id = ANY (ids);
    WHEN 'archive' THEN
        UPDATE customercard.contacts c SET status = 'archived'
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.status <> 'archived';
    WHEN 'unarchive' THEN
        UPDATE customercard.contacts c SET status = 'active'
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.status = 'archived';
    WHEN 'blacklist' THEN
        UPDATE customercard.contacts c SET status = 'blacklisted'
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.status <> 'blacklisted';
    WHEN 'delete' THEN
        UPDATE customercard.contacts c SET deleted_at = now()
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.deleted_at IS NULL;
    WHEN 'assign_manager' THEN
        UPDATE customercard.contacts c SET manager_id = (p ->> 'manager_id')::bigint
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.manager_id IS DISTINCT FROM (p ->> 'manager_id')::bigint;
    -- a new period unless subscribed already (an open period of the funnel:
    -- of that LGT, or of any when none is named); the ended ones stay
    WHEN 'subscribe' THEN
        INSERT INTO customercard.subscriptions (account_id, contact_id, funnel_id, lgt_id)
        SELECT acct, x, (p ->> 'funnel_id')::bigint, (p ->> 'lgt_id')::bigint FROM unnest(ids) x
         WHERE NOT EXISTS (SELECT 1 FROM customercard.subscriptions s
                            WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = x
                              AND s.unsubscribed_at IS NULL
                              AND (p ->> 'lgt_id' IS NULL OR s.lgt_id = (p ->> 'lgt_id')::bigint))
        ON CONFLICT DO NOTHING;
    -- ends the open periods of the funnel (of that LGT only, when one is named)
    WHEN 'unsubscribe' THEN
        UPDATE customercard.subscriptions s SET unsubscribed_at = greatest(now(), s.subscribed_at)
         WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = ANY (ids)
           AND s.unsubscribed_at IS NULL
           AND (p ->> 'lgt_id' IS NULL OR s.lgt_id = (p ->> 'lgt_id')::bigint);
    WHEN 'add_to_sales_plan' THEN
        INSERT INTO customercard.sales_plan_members (account_id, plan_id, contact_id, manager_id)
        SELECT acct, (p ->> 'plan_id')::bigint, x, (p ->> 'manager_id')::bigint FROM unnest(ids) x
        ON CONFLICT DO NOTHING;
    WHEN 'create_channel' THEN
        RETURN QUERY
        WITH src AS (
            SELECT x AS cid,
                   CASE p ->> 'kind'
                       WHEN 'email' THEN (SELECT e.email FROM customercard.emails e WHERE e.account_id = acct AND e.contact_id = x
                                           ORDER BY e.is_primary DESC, e.email_id LIMIT 1)
                       ELSE (SELECT ph.phone::text FROM customercard.phones ph WHERE ph.account_id = acct AND ph.contact_id = x
                              ORDER BY ph.is_primary DESC, ph.phone_id LIMIT 1) END AS ext
              FROM unnest(ids) x),
        ins AS (
            INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id)
            SELECT acct, src.cid, p ->> 'kind', p ->> 'connection', src.ext FROM src WHERE src.ext IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING channels.contact_id)
        SELECT src.cid, CASE p ->> 'kind' WHEN 'email' THEN 'the contact has no e-mail address'
                                          ELSE 'the contact has no phone number' END
          FROM src WHERE src.ext IS NULL
        UNION ALL
        -- the address is already a channel: of this contact (nothing to do), or of another one
        SELECT src.cid, 'the ' || (p ->> 'kind') || ' channel ' || src.ext || ' belongs to contact ' || h.contact_id
          FROM src JOIN customercard.channels h
            ON h.account_id = acct AND h.kind = p ->> 'kind' AND h.connection IS NOT DISTINCT FROM p ->> 'connection'
           AND h.external_id = src.ext AND h.contact_id <> src.cid
         WHERE src.cid NOT IN (SELECT ins.contact_id FROM ins);
    WHEN 'set_field' THEN
        v := p ->> 'value';
        IF p ? 'field_id' THEN
            IF v IS NULL THEN
                DELETE FROM customercard.custom_values cv
                 WHERE cv.account_id = acct AND cv.field_id = (p ->> 'field_id')::bigint AND cv.contact_id = ANY (ids);
            ELSE
                INSERT INTO customercard.custom_values AS cv (account_id, contact_id, field_id, value)
                SELECT acct, x, (p ->> 'field_id')::bigint, v FROM unnest(ids) x
                ON CONFLICT (account_id, contact_id, field_id) DO UPDATE SET value = excluded.value
                 WHERE cv.value IS DISTINCT FROM excluded.value;
            END IF;
        ELSIF p ->> 'field' = 'gender' THEN
            UPDATE customercard.contacts c SET gender = v, gender_source = CASE WHEN v IS NULL THEN NULL ELSE 'manual' END
             WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.gender IS DISTINCT FROM v;
        ELSE
            -- the column is one of bulk_settable_fields(), checked at enqueue
            EXECUTE format('UPDATE customercard.contacts c SET %1$I = $3 '
                           ' WHERE c.account_id = $1 AND c.contact_id = ANY ($2) AND c.%1$I IS DISTINCT FROM $3',
                           (SELECT f FROM unnest(customercard.bulk_settable_fields()) f WHERE f = p ->> 'field'))
            USING acct, ids, v;
        END IF;
    WHEN 'export' THEN
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
        SELECT acct, job.job_id, job.batches + 1, l
          FROM customercard.export_lines(acct, ids, p -> 'custom_fields', ARRAY(SELECT jsonb_array_elements_text(p -> 'groups'))) l
         WHERE l IS NOT NULL;
    END CASE;
END
$$;

-- A batch's progress on its job, in the batch's transaction: its last
-- item (position), what it did and failed, and the job done when the batch
-- was its last.  (Values, not functions: Citus evaluates no STABLE or
-- VOLATILE function inside a distributed UPDATE.)
CREATE FUNCTION customercard.bulk_progressed(acct bigint, job_id bigint, started timestamptz, last_position bigint,
                                             last_batch boolean, ok integer, bad integer) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    progressed constant timestamptz := clock_timestamp();
BEGIN
    UPDATE customercard.bulk_jobs b
       SET status = CASE WHEN last_batch THEN 'done' ELSE 'running' END,
           finished_at = CASE WHEN last_batch THEN progressed END,
           started_at = coalesce(b.started_at, started), progress_at = progressed,
           position = last_position, batches = b.batches + CASE WHEN ok + bad > 0 THEN 1 ELSE 0 END, attempts = 0,
           done = b.done + ok, failed = b.failed + bad
     WHERE b.account_id = acct AND b.job_id = bulk_progressed.job_id;
END
$$;

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

-- One batch of one job, in one transaction with its progress.  Returns how
-- many contacts it worked through; 0 when the job has ended (or may not run).
CREATE FUNCTION customercard.bulk_run_batch(acct bigint, job_id bigint, batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j customercard.bulk_jobs;
    ids bigint[];
    t record;
    nfailed integer;
    -- times and the last id as values (Citus evaluates no STABLE or VOLATILE
    -- function inside a distributed UPDATE, and an array element taken
    -- there from a variable crashes Citus 13.2.2)
    started timestamptz := now();
    last_id bigint;
BEGIN
    IF NOT customercard.account_may_act(acct) THEN
        RAISE EXCEPTION 'role "%" may not run jobs of account %', customercard.calling_role(), acct
            USING ERRCODE = 'insufficient_privilege', HINT = 'Run bulk_run() as a role bound to the account, or as the cron job''s owner.';
    END IF;
    -- (a batch of none would find no items and mark the job done)
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 100000, not %', coalesce(batch_size::text, 'null')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'CALL customercard.bulk_run() sizes batches itself.';
    END IF;
    SELECT * INTO j FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_run_batch.job_id FOR UPDATE;
    IF NOT FOUND OR j.status NOT IN ('queued', 'running') OR j.run_at > now() THEN
        RETURN 0;
    END IF;
    -- the job's account and actor, for this transaction only
    -- (as SET LOCAL statements, which Citus sends on to the workers; the
    -- actor is quoted as a literal)
    EXECUTE format('SET LOCAL customercard.account_id = %s', acct);
    EXECUTE format('SET LOCAL customercard.actor = %L', j.actor);
    IF j.action = 'import' THEN
        RETURN customercard.import_batch(acct, j, batch_size);
    END IF;

    SELECT array_agg(i.contact_id ORDER BY i.contact_id) INTO ids
      FROM (SELECT i.contact_id FROM customercard.bulk_job_items i
             WHERE i.account_id = acct AND i.job_id = j.job_id AND i.contact_id > j.position
             ORDER BY i.contact_id LIMIT batch_size) i;
    IF ids IS NULL THEN
        -- (its items stay for bulk_prune: deleting a million rows is no
        -- part of the job, and would hold its last commit back)
        UPDATE customercard.bulk_jobs b SET status = 'done', finished_at = started, progress_at = started,
                                            started_at = coalesce(b.started_at, started)
         WHERE b.account_id = acct AND b.job_id = j.job_id;
        RETURN 0;
    END IF;

    t := customercard.bulk_targets(acct, ids);
    INSERT INTO customercard.bulk_job_failures (account_id, job_id, contact_id, reason)
    SELECT acct, j.job_id, f.contact_id, f.reason
      FROM (SELECT g AS contact_id, 'the contact was deleted' AS reason FROM unnest(t.gone) g WHERE j.action <> 'delete'
            UNION ALL
            SELECT a.contact_id, a.reason FROM customercard.bulk_apply(acct, j, t.live) a) f
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS nfailed = ROW_COUNT;

    last_id := ids[cardinality(ids)];
    -- fewer items than asked for: they were the last (a job's items are
    -- fixed when it is queued), and the job ends with this batch, not at
    -- a next claim that would find none (a small job would wait a turn of
    -- every other job for its end)
    PERFORM customercard.bulk_progressed(acct, j.job_id, started, last_id, cardinality(ids) < batch_size,
                                         cardinality(ids) - nfailed, nfailed);
    RETURN cardinality(ids);
END
$$;

-- The due job this role may run that has waited longest for a batch and
-- that no other runner holds, its row locked until this transaction ends
-- (FOR UPDATE SKIP LOCKED: a killed runner frees its job at once, and no
-- role of another account can hold it, as row-level security keeps their
-- jobs out of its sight).  Jobs share the runners batch by batch.
CREATE FUNCTION customercard.bulk_claim(OUT account_id bigint, OUT job_id bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT b.account_id, b.job_id FROM customercard.bulk_jobs b
              WHERE b.status IN ('queued', 'running') AND b.run_at <= now()
                AND customercard.account_may_act(b.account_id)
              ORDER BY b.progress_at NULLS FIRST, b.run_at, b.job_id
    LOOP
        -- (a row at a time: Citus locks the rows of one shard only)
        PERFORM 1 FROM customercard.bulk_jobs b
         WHERE b.account_id = c.account_id AND b.job_id = c.job_id AND b.status IN ('queued', 'running')
           FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            account_id := c.account_id;
            job_id := c.job_id;
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- A batch of the job failed (rolled back) with this error: the job keeps
-- it, and after bulk_max_attempts() failures in a row it ends as failed.
CREATE FUNCTION customercard.bulk_batch_failed(acct bigint, job_id bigint, sqlstate text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    at timestamptz := now();     -- (a value: Citus evaluates no function inside a distributed UPDATE)
    err text := pg_catalog.format('%s: %s', sqlstate, message);
    limit_ constant integer := customercard.bulk_max_attempts();
BEGIN
    IF NOT customercard.account_may_act(acct) THEN
        RAISE EXCEPTION 'role "%" may not run jobs of account %', customercard.calling_role(), acct
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE customercard.bulk_jobs b
       SET attempts = b.attempts + 1, error = err, progress_at = at,
           status = CASE WHEN b.attempts + 1 >= limit_ THEN 'failed' ELSE b.status END,
           finished_at = CASE WHEN b.attempts + 1 >= limit_ THEN at END
     WHERE b.account_id = acct AND b.job_id = bulk_batch_failed.job_id;
END
$$;

CREATE FUNCTION customercard.bulk_max_attempts() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 3 $$;

-- (No SECURITY DEFINER and no SET clause: a procedure with either may not
-- COMMIT.  Every statement here calls functions that pin their search path.)
CREATE PROCEDURE customercard.bulk_run(max_runtime interval DEFAULT '50 seconds', batch_size integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
-- (a procedure that commits cannot pin search_path: every operator,
-- function and type it names itself is pg_catalog's, so that none planted
-- in a schema on the caller's path, pg_cron's runner included, is chosen:
-- not an operator of closer argument types, nor a domain named like a type
-- whose CHECK would run as the runner)
DECLARE
    t0 pg_catalog.timestamptz := pg_catalog.clock_timestamp();
    claim pg_catalog.record;
    size integer;
    n integer;
    bt pg_catalog.timestamptz;
    took double precision;
    sizes pg_catalog.jsonb := '{}';       -- each job's batch size so far
    err_state pg_catalog.text;
    err_text pg_catalog.text;
BEGIN
    IF max_runtime IS NULL OR max_runtime OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'max_runtime must be positive'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'CALL customercard.bulk_run(''50 seconds'') suits a runner started every minute.';
    END IF;
    IF batch_size IS NOT NULL AND (batch_size OPERATOR(pg_catalog.<) 1 OR batch_size OPERATOR(pg_catalog.>) 100000) THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 100000'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it out: batches size themselves to about half a second.';
    END IF;
    COMMIT;     -- nothing of the caller's transaction is held while jobs run
    LOOP
        EXIT WHEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0 OPERATOR(pg_catalog.>=) max_runtime;
        -- one batch of the job that waited longest, then the next claim:
        -- jobs, of every account, take turns
        claim := customercard.bulk_claim();
        EXIT WHEN claim.job_id IS NULL;
        size := coalesce(batch_size, (sizes OPERATOR(pg_catalog.->>) claim.job_id::pg_catalog.text)::integer, 2000);
        bt := pg_catalog.clock_timestamp();
        BEGIN
            n := customercard.bulk_run_batch(claim.account_id, claim.job_id, size);
        EXCEPTION WHEN OTHERS THEN
            -- the batch is undone; the job keeps the error, and the runner
            -- goes on with the other jobs
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_text = MESSAGE_TEXT;
            PERFORM customercard.bulk_batch_failed(claim.account_id, claim.job_id, err_state, err_text);
            n := 0;
        END;
        COMMIT;
        IF n OPERATOR(pg_catalog.>) 0 AND batch_size IS NULL THEN
            -- about half a second a batch: progress shows often, commits stay few
            took := greatest(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) bt), 0.001::double precision);
            size := least(50000, greatest(200, (size::double precision OPERATOR(pg_catalog.*) least(0.5::double precision OPERATOR(pg_catalog./) took, 4.0::double precision))::integer));
            sizes := sizes OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(claim.job_id::pg_catalog.text, size);
        END IF;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE customercard.bulk_run(interval, integer) IS
    'Work through due bulk jobs in batches, committing each with its progress, until none is left or max_runtime has passed; pg_cron calls it every minute';

CREATE FUNCTION customercard.bulk_cancel(job_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    st text;
BEGIN
    SELECT b.status INTO st FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_cancel.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'bulk job % does not exist in account %', job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.bulk_progress.';
    END IF;
    IF st NOT IN ('queued', 'running') THEN
        RETURN false;   -- it has ended already
    END IF;
    UPDATE customercard.bulk_jobs b SET status = 'cancelled', finished_at = now()
     WHERE b.account_id = acct AND b.job_id = bulk_cancel.job_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION customercard.bulk_cancel(bigint) IS
    'Cancel a queued or running bulk job: the batch being worked commits or not, no further batch starts; false when it had ended';

CREATE VIEW customercard.bulk_progress WITH (security_invoker = true) AS
SELECT b.job_id AS job, b.action, b.status, b.total, b.done, b.failed,
       CASE WHEN b.total = 0 THEN 100.0 ELSE round(100.0 * (b.done + b.failed) / b.total, 1) END AS percent,
       b.started_at AS started,
       CASE WHEN b.status = 'running' AND b.done + b.failed > 0 AND b.progress_at > b.started_at
            THEN b.progress_at + (b.progress_at - b.started_at) * ((b.total - b.done - b.failed)::float8 / (b.done + b.failed))
            WHEN b.status IN ('done', 'cancelled', 'failed') THEN b.finished_at END AS estimated_finish,
       b.run_at, b.created_at, b.progress_at, b.finished_at, b.actor, b.params, b.filter,
       b.error, b.attempts, b.account_id
  FROM customercard.bulk_jobs b
 WHERE b.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.bulk_progress IS
    'Bulk jobs of the current account: status, counts, percent, when started and (running) when likely done';

CREATE VIEW customercard.bulk_failures WITH (security_invoker = true) AS
SELECT f.job_id AS job, f.contact_id, f.reason, f.at
  FROM customercard.bulk_job_failures f
 WHERE f.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT r.job_id, NULL, 'line ' || r.line || ': ' || r.reason, r.at
  FROM customercard.bulk_job_rows r
 WHERE r.account_id = (SELECT customercard.current_account_id()) AND r.status = 'rejected';
COMMENT ON VIEW customercard.bulk_failures IS 'Contacts a bulk job could not act on, and rows an import job rejected (by line), and why';

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

-- What ended jobs leave: their items at once, and the jobs themselves
-- (with their failures and output) once older than the cut-off.  Returns
-- how many jobs went.
CREATE FUNCTION customercard.bulk_prune(older_than interval DEFAULT '30 days') RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM customercard.bulk_job_items i
     USING customercard.bulk_jobs b
     WHERE i.account_id = b.account_id AND i.job_id = b.job_id
       AND b.status IN ('done', 'cancelled', 'failed') AND customercard.account_may_act(b.account_id);
    DELETE FROM customercard.bulk_jobs b
     WHERE b.status IN ('done', 'cancelled', 'failed') AND b.finished_at < now() - older_than
       AND customercard.account_may_act(b.account_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.bulk_prune(interval) IS
    'Delete the items of ended bulk jobs, and the jobs that ended before the cut-off with their failures and export output (the runner''s cron schedule runs it daily)';

-- Register the runner (every minute) and the daily clean-up with pg_cron.
CREATE FUNCTION customercard.schedule_bulk_runner() RETURNS bigint
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
COMMENT ON FUNCTION customercard.schedule_bulk_runner() IS
    'Schedule CALL customercard.bulk_run() every minute with pg_cron (and a daily prune); outside the cron database, the error''s hint gives the commands to run there';
