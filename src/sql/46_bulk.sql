-- ===================================================================
-- 46_bulk.sql: bulk actions over many contacts.
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
        WHEN 'subscribe' THEN '{funnel, lgt, block}' WHEN 'unsubscribe' THEN '{funnel, lgt}'
        WHEN 'add_to_sales_plan' THEN '{plan, manager_id}' WHEN 'create_channel' THEN '{kind, connection, funnel, lgt, tags}'
        WHEN 'assign_manager' THEN '{manager_id}' WHEN 'set_field' THEN '{field, value}'
        WHEN 'export' THEN '{groups, format}'
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
                                  'lgt_id', customercard.bulk_lookup(acct, params, 'lgt', 'lgts', funnel, false))
               -- the funnel's block the new periods start at
               || CASE WHEN action = 'subscribe'
                       THEN jsonb_build_object('block_id', customercard.bulk_lookup(acct, params, 'block', 'funnel_blocks', funnel, false))
                       ELSE '{}' END;
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
        -- Leeloo's "create e-mail subscribers": the new subscriber subscribed
        -- to a funnel (and LGT) and tagged in the same job
        IF params ? 'lgt' AND NOT params ? 'funnel' THEN
            RAISE EXCEPTION '"lgt" needs its "funnel"'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'An LGT belongs to a funnel: give both.';
        END IF;
        IF params ? 'funnel' THEN
            funnel := customercard.bulk_lookup(acct, params, 'funnel', 'funnels');
            out := out || jsonb_build_object('funnel_id', funnel,
                                             'lgt_id', customercard.bulk_lookup(acct, params, 'lgt', 'lgts', funnel, false));
        END IF;
        IF params ? 'tags' THEN
            IF jsonb_typeof(params -> 'tags') <> 'array'
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(params -> 'tags') t
                           WHERE jsonb_typeof(t) <> 'string' OR btrim(t #>> '{}') = '' OR length(btrim(t #>> '{}')) > 200) THEN
                RAISE EXCEPTION '"tags" must be an array of tag names'
                    USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. {"kind": "email", "tags": ["newsletter"]}.';
            END IF;
            -- made as add_tag makes them (not by a preview)
            IF NOT dry THEN
                INSERT INTO customercard.tags (account_id, name)
                SELECT acct, btrim(t) FROM jsonb_array_elements_text(params -> 'tags') t ON CONFLICT DO NOTHING;
            END IF;
            out := out || jsonb_build_object('tags', (SELECT jsonb_agg(DISTINCT btrim(t)) FROM jsonb_array_elements_text(params -> 'tags') t),
                                             'tag_ids', coalesce((SELECT jsonb_agg(tg.tag_id ORDER BY tg.tag_id) FROM customercard.tags tg
                                                                   WHERE tg.account_id = acct
                                                                     AND tg.name IN (SELECT btrim(t) FROM jsonb_array_elements_text(params -> 'tags') t)), '[]'));
        END IF;
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
        IF params ? 'format' AND NOT coalesce(params -> 'format' IN ('"csv"', '"xlsx"'), false) THEN
            RAISE EXCEPTION '"format" must be "csv" or "xlsx", not %', params -> 'format'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'bulk_export_csv(job) reads a csv export, bulk_export_xlsx(job) an xlsx one.';
        END IF;
        out := jsonb_build_object('groups', to_jsonb(customercard.export_groups(
                   CASE WHEN jsonb_typeof(params -> 'groups') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(params -> 'groups')) END)),
                                  'format', coalesce(params ->> 'format', 'csv'));
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

-- An account has at most customercard.bulk_max_queued_jobs jobs queued or
-- running (a limit the DBA sets; no tenant role may raise it): beyond it a
-- new job is refused (54000).  The account's row is locked while the job is
-- queued, so that two sessions of the account cannot both take the last
-- place.
CREATE FUNCTION customercard.bulk_check_queue(acct bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    most constant integer := pg_catalog.current_setting('customercard.bulk_max_queued_jobs')::integer;
    queued integer;
BEGIN
    PERFORM 1 FROM customercard.accounts a WHERE a.account_id = acct FOR NO KEY UPDATE;
    SELECT count(*) INTO queued FROM customercard.bulk_jobs b
     WHERE b.account_id = acct AND b.status IN ('queued', 'running');
    IF queued >= most THEN
        RAISE EXCEPTION 'account % has % jobs queued, the most customercard.bulk_max_queued_jobs allows', acct, queued
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Wait for queued jobs to finish (customercard.bulk_progress), cancel some with bulk_cancel(job_id), or combine them into one job.';
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
    header text;
BEGIN
    PERFORM customercard.bulk_check_enqueue(run_at);
    IF (contact_ids IS NULL) = (filter IS NULL) THEN
        RAISE EXCEPTION 'bulk_enqueue needs exactly one of contact_ids and filter'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass contact_ids => ARRAY[...] for chosen contacts, or filter => ''{...}'' (''{}'' = everyone).';
    END IF;
    checked := customercard.bulk_check_params(acct, action, params);
    PERFORM customercard.bulk_check_queue(acct);

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
    IF action = 'export' AND checked ->> 'format' = 'csv' THEN
        -- (the header first: Citus takes no sub-query in an INSERT's VALUES;
        -- an xlsx export's header is bulk_export_xlsx's)
        header := customercard.export_header(checked -> 'custom_fields', ARRAY(SELECT jsonb_array_elements_text(checked -> 'groups')));
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data) VALUES (acct, job, 0, header);
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

-- A row image for the undo journal: a RETURNING row as jsonb without what
-- locates it (account, contact, the section key).
CREATE FUNCTION customercard.journal_image(img jsonb, key text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT img - ARRAY['account_id', 'contact_id', key]
$$;

-- A job's change of contacts' own columns: the columns of patch set to its
-- values on the contacts of ids whose column compared differs from the
-- patch's and whose columns hold the values of only_from, the old values
-- read under the rows' lock in the same statement, and each change
-- journaled (bulk_job_journal) as the columns' values before and after
-- (the patch).
-- Column names are quoted identifiers of the contacts table, values
-- parameters: no text of the patch is SQL.
CREATE FUNCTION customercard.bulk_set_contacts(acct bigint, job_id bigint, ids bigint[], patch jsonb, compared name,
                                               only_from jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sets text;
    befores text;
BEGIN
    -- (the typed values and the images are made in the locking SELECT:
    -- Citus takes no function of a row in an UPDATE, nor in RETURNING)
    SELECT string_agg(format('%I = (o.r).%I', a.attname, a.attname), ', '),
           string_agg(format('%L, c.%I', a.attname, a.attname), ', ')
      INTO sets, befores
      FROM pg_attribute a
     WHERE a.attrelid = 'customercard.contacts'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND patch ? a.attname;
    EXECUTE format($q$
        WITH o AS (SELECT c.contact_id, jsonb_build_object(%1$s) AS before, jsonb_populate_record(c, $4) AS r
                     FROM customercard.contacts c
                    WHERE c.account_id = $1 AND c.contact_id = ANY ($2)
                      AND c.%2$I IS DISTINCT FROM (jsonb_populate_record(c, $4)).%2$I AND jsonb_populate_record(c, $5) = c
                      FOR NO KEY UPDATE),
             u AS (UPDATE customercard.contacts c SET %3$s FROM o
                    WHERE c.account_id = $1 AND c.contact_id = o.contact_id
                   RETURNING c.contact_id, o.before)
        INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
        SELECT $1, $3, u.contact_id, 'contacts', u.contact_id, u.before, $4 FROM u$q$,
        befores, compared, sets)
    USING acct, ids, job_id, patch, only_from;
END
$$;

-- What one batch does; returns the failures as (contact_id, reason).
-- Every row it makes, removes or changes is journaled in the same
-- statement (bulk_job_journal, for bulk_undo): made and removed rows from
-- RETURNING, changed ones with their old values read under the rows' lock.
CREATE FUNCTION customercard.bulk_apply(acct bigint, job customercard.bulk_jobs, ids bigint[])
RETURNS TABLE (contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    p jsonb := job.params;
    v text;
    made_contacts bigint[];     -- create_channel: the contacts given a channel, and its id
    made_channels bigint[];
    failed_ids bigint[];
    failed_reasons text[];
BEGIN
    CASE job.action
    WHEN 'add_tag' THEN
        WITH made AS (
            INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
            SELECT acct, x, (p ->> 'tag_id')::bigint FROM unnest(ids) x
            ON CONFLICT DO NOTHING
            RETURNING *)
        INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
        -- (the made row's image by its columns: half the cost of to_jsonb
        -- of the row, on the hottest path; a column added to contact_tags
        -- later would only be left out of the undo's comparison)
        SELECT acct, job.job_id, m.contact_id, 'contact_tags', m.tag_id, NULL,
               jsonb_build_object('added_at', m.added_at, 'added_by', m.added_by)
          FROM made m;
    WHEN 'remove_tag' THEN
        WITH gone AS (
            DELETE FROM customercard.contact_tags t
             WHERE t.account_id = acct AND t.tag_id = (p ->> 'tag_id')::bigint AND t.contact_id = ANY (ids)
            RETURNING t.*)
        INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
        SELECT acct, job.job_id, g.contact_id, 'contact_tags', g.tag_id, customercard.journal_image(to_jsonb(g), 'tag_id'), NULL
          FROM gone g;
    WHEN 'archive' THEN
        PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids, '{"status": "archived"}', 'status');
    WHEN 'unarchive' THEN
        PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids, '{"status": "active"}', 'status', '{"status": "archived"}');
    WHEN 'blacklist' THEN
        PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids, '{"status": "blacklisted"}', 'status');
    WHEN 'delete' THEN
        PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids, jsonb_build_object('deleted_at', now()), 'deleted_at',
                                               '{"deleted_at": null}');
    WHEN 'assign_manager' THEN
        PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids, jsonb_build_object('manager_id', p -> 'manager_id'), 'manager_id');
    -- a new period (at the block named) unless subscribed already (an open
    -- period of the funnel: of that LGT, or of any when none is named); the
    -- ended ones stay
    WHEN 'subscribe' THEN
        -- (the subscribed ones as a set apart: Citus plans no sub-query
        -- correlated to unnest())
        ids := ARRAY(SELECT unnest(ids)
                     EXCEPT
                     SELECT s.contact_id FROM customercard.subscriptions s
                      WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = ANY (ids)
                        AND s.unsubscribed_at IS NULL
                        AND (p ->> 'lgt_id' IS NULL OR s.lgt_id = (p ->> 'lgt_id')::bigint));
        WITH made AS (
            INSERT INTO customercard.subscriptions (account_id, contact_id, funnel_id, lgt_id, block_id)
            SELECT acct, x, (p ->> 'funnel_id')::bigint, (p ->> 'lgt_id')::bigint, (p ->> 'block_id')::bigint FROM unnest(ids) x
            ON CONFLICT DO NOTHING
            RETURNING *)
        INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
        SELECT acct, job.job_id, m.contact_id, 'subscriptions', m.subscription_id, NULL,
               customercard.journal_image(to_jsonb(m), 'subscription_id')
          FROM made m;
    -- ends the open periods of the funnel (of that LGT only, when one is named)
    WHEN 'unsubscribe' THEN
        WITH ended AS (
            UPDATE customercard.subscriptions s SET unsubscribed_at = greatest(now(), s.subscribed_at)
             WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = ANY (ids)
               AND s.unsubscribed_at IS NULL
               AND (p ->> 'lgt_id' IS NULL OR s.lgt_id = (p ->> 'lgt_id')::bigint)
            RETURNING s.contact_id, s.subscription_id, s.unsubscribed_at)
        INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
        SELECT acct, job.job_id, e.contact_id, 'subscriptions', e.subscription_id, '{"unsubscribed_at": null}',
               jsonb_build_object('unsubscribed_at', e.unsubscribed_at)
          FROM ended e;
    WHEN 'add_to_sales_plan' THEN
        WITH made AS (
            INSERT INTO customercard.sales_plan_members (account_id, plan_id, contact_id, manager_id)
            SELECT acct, (p ->> 'plan_id')::bigint, x, (p ->> 'manager_id')::bigint FROM unnest(ids) x
            ON CONFLICT DO NOTHING
            RETURNING *)
        INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
        SELECT acct, job.job_id, m.contact_id, 'sales_plan_members', m.plan_id, NULL, customercard.journal_image(to_jsonb(m), 'plan_id')
          FROM made m;
    WHEN 'create_channel' THEN
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
            RETURNING *),
        journaled AS (
            INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
            SELECT acct, job.job_id, ins.contact_id, 'channels', ins.channel_id, NULL, customercard.journal_image(to_jsonb(ins), 'channel_id')
              FROM ins
            RETURNING customercard.bulk_job_journal.contact_id, customercard.bulk_job_journal.row_key),
        failed AS (
            SELECT src.cid, CASE p ->> 'kind' WHEN 'email' THEN 'the contact has no e-mail address'
                                              ELSE 'the contact has no phone number' END AS why
              FROM src WHERE src.ext IS NULL
            UNION ALL
            -- the address is already a channel: of this contact (nothing to do), or of another one
            SELECT src.cid, 'the ' || (p ->> 'kind') || ' channel ' || src.ext || ' belongs to contact ' || h.contact_id
              FROM src JOIN customercard.channels h
                ON h.account_id = acct AND h.kind = p ->> 'kind' AND h.connection IS NOT DISTINCT FROM p ->> 'connection'
               AND h.external_id = src.ext AND h.contact_id <> src.cid
             WHERE src.cid NOT IN (SELECT ins.contact_id FROM ins))
        SELECT (SELECT array_agg(j.contact_id ORDER BY j.contact_id) FROM journaled j),
               (SELECT array_agg(j.row_key ORDER BY j.contact_id) FROM journaled j),
               (SELECT array_agg(f.cid) FROM failed f), (SELECT array_agg(f.why) FROM failed f)
          INTO made_contacts, made_channels, failed_ids, failed_reasons;
        -- the new subscribers: subscribed through their new channel, and tagged
        IF p ? 'funnel_id' AND made_contacts IS NOT NULL THEN
            WITH made AS (
                INSERT INTO customercard.subscriptions (account_id, contact_id, channel_id, funnel_id, lgt_id)
                SELECT acct, m.c, m.ch, (p ->> 'funnel_id')::bigint, (p ->> 'lgt_id')::bigint
                  FROM unnest(made_contacts, made_channels) m (c, ch)
                ON CONFLICT DO NOTHING
                RETURNING *)
            INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
            SELECT acct, job.job_id, m.contact_id, 'subscriptions', m.subscription_id, NULL,
                   customercard.journal_image(to_jsonb(m), 'subscription_id')
              FROM made m;
        END IF;
        IF jsonb_array_length(coalesce(p -> 'tag_ids', '[]')) > 0 AND made_contacts IS NOT NULL THEN
            WITH made AS (
                INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
                SELECT acct, m.c, t.id::bigint FROM unnest(made_contacts) m (c), jsonb_array_elements_text(p -> 'tag_ids') t (id)
                ON CONFLICT DO NOTHING
                RETURNING *)
            INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
            SELECT acct, job.job_id, m.contact_id, 'contact_tags', m.tag_id, NULL, customercard.journal_image(to_jsonb(m), 'tag_id')
              FROM made m;
        END IF;
        RETURN QUERY SELECT f.c, f.r FROM unnest(failed_ids, failed_reasons) f (c, r);
    WHEN 'set_field' THEN
        v := p ->> 'value';
        IF p ? 'field_id' THEN
            IF v IS NULL THEN
                WITH gone AS (
                    DELETE FROM customercard.custom_values cv
                     WHERE cv.account_id = acct AND cv.field_id = (p ->> 'field_id')::bigint AND cv.contact_id = ANY (ids)
                    RETURNING cv.*)
                INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
                SELECT acct, job.job_id, g.contact_id, 'custom_values', g.field_id, customercard.journal_image(to_jsonb(g), 'field_id'), NULL
                  FROM gone g;
            ELSE
                -- values there: changed (the old one read under the row's lock); then the missing ones made
                -- (one made meanwhile by someone else is theirs: left alone)
                WITH o AS (
                    SELECT cv.contact_id, cv.value FROM customercard.custom_values cv
                     WHERE cv.account_id = acct AND cv.field_id = (p ->> 'field_id')::bigint AND cv.contact_id = ANY (ids)
                       AND cv.value <> v
                       FOR NO KEY UPDATE),
                changed AS (
                    UPDATE customercard.custom_values cv SET value = v FROM o
                     WHERE cv.account_id = acct AND cv.field_id = (p ->> 'field_id')::bigint AND cv.contact_id = o.contact_id
                    RETURNING cv.contact_id, o.value AS was)
                INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
                SELECT acct, job.job_id, c.contact_id, 'custom_values', (p ->> 'field_id')::bigint,
                       jsonb_build_object('value', c.was), jsonb_build_object('value', v)
                  FROM changed c;
                WITH made AS (
                    INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
                    SELECT acct, x, (p ->> 'field_id')::bigint, v FROM unnest(ids) x
                    ON CONFLICT DO NOTHING
                    RETURNING *)
                INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
                SELECT acct, job.job_id, m.contact_id, 'custom_values', m.field_id, NULL, customercard.journal_image(to_jsonb(m), 'field_id')
                  FROM made m;
            END IF;
        ELSIF p ->> 'field' = 'gender' THEN
            PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids,
                jsonb_build_object('gender', v, 'gender_source', CASE WHEN v IS NULL THEN NULL ELSE 'manual' END), 'gender');
        ELSE
            -- the column is one of bulk_settable_fields(), checked at enqueue
            PERFORM customercard.bulk_set_contacts(acct, job.job_id, ids, jsonb_build_object(p ->> 'field', v), p ->> 'field');
        END IF;
    WHEN 'export' THEN
        IF p ->> 'format' = 'xlsx' THEN
            -- the batch's rows as JSON lines (export_rows_of's columns), which
            -- bulk_export_xlsx writes into the workbook, typed, as export_xlsx does
            INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
            SELECT acct, job.job_id, job.batches + 1, string_agg(to_jsonb(r)::text, E'\n' ORDER BY r.contact_id)
              FROM customercard.export_rows_of(acct, ids) r
            HAVING count(*) > 0;
        ELSE
            INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
            SELECT acct, job.job_id, job.batches + 1, l
              FROM customercard.export_lines(acct, ids, p -> 'custom_fields', ARRAY(SELECT jsonb_array_elements_text(p -> 'groups'))) l
             WHERE l IS NOT NULL;
        END IF;
    END CASE;
END
$$;

-- Why a journaled row could not be put back: what it is, and the log's
-- latest event about it (who changed it since, and when), if the log has it.
CREATE FUNCTION customercard.bulk_changed_since(acct bigint, contact bigint, tbl text, key text, row_key bigint, cols jsonb)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT concat(CASE WHEN tbl = 'contacts' THEN (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(cols) k)
                       ELSE lower(d.label) || ' ' || row_key END,
                  ' changed since',
                  (SELECT format(' by %s at %s', l.actor, l.at)
                     FROM customercard.action_log l
                    WHERE l.account_id = acct AND l.contact_id = contact
                      AND CASE WHEN tbl = 'contacts'
                               THEN (l.event IN ('archived', 'unarchived') AND cols ? 'status')
                                    OR (l.event = 'contact_deleted' AND cols ? 'deleted_at')
                                    OR (l.event = 'field_changed'
                                        AND (cols ? (l.details ->> 'field') OR (l.details ->> 'field' = 'manager' AND cols ? 'manager_id')))
                               ELSE l.details @> jsonb_build_object(key, row_key) END
                    ORDER BY l.at DESC, l.log_id DESC LIMIT 1))
      FROM customercard.section_declarations() d
     WHERE d.tbl = bulk_changed_since.tbl
$$;

-- One table of an undo batch: the journal of job src on the contacts
-- origs (each now dests[i]: itself or its survivor) put back where each
-- row still holds what the job left (compared as typed rows: the row with
-- the journal's after image laid over it is the row itself): rows it made
-- are deleted, rows it removed come back as they were (their dates and
-- authors), columns it changed get their old values.  Each change is
-- journaled under the undo job (undo_job), so that undoing the undo
-- redoes.  Returns (contact, reason) for rows neither put back nor already
-- as before the job.  The table and its key come from the declarations;
-- nothing here is input.
CREATE FUNCTION customercard.bulk_undo_table(acct bigint, src bigint, undo_job bigint, tbl text, origs bigint[], dests bigint[])
RETURNS TABLE (contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key constant text := CASE WHEN tbl = 'contacts' THEN 'contact_id'
                              ELSE (SELECT s.key FROM customercard.card_sections() s WHERE s.tbl = bulk_undo_table.tbl) END;
    -- the entries of the batch: each journal row with the contact it is on
    -- now (origs are in id order: the journal is read as one range of the
    -- key, whatever the statistics of a journal just written say)
    entries constant text := format(
        'SELECT m.orig, m.dest, j.row_key, j.before, j.after FROM unnest($3::bigint[], $4::bigint[]) m (orig, dest) '
        '  JOIN customercard.bulk_job_journal j ON j.contact_id = m.orig '
        ' WHERE j.account_id = $1 AND j.job_id = $2 AND j.contact_id BETWEEN $3[1] AND $3[cardinality($3)] AND j.tbl = %L', tbl);
    -- the row an entry e is about: on the contact now, by the key
    row_of constant text := format('t.account_id = $1 AND t.contact_id = e.dest AND t.%I = %s',
                                   key, CASE WHEN tbl = 'contacts' THEN 'e.dest' ELSE 'e.row_key' END);
    journal constant text := 'INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after) ';
    cols text[];
    sets text;
    n_made bigint;
    n_removed bigint;
    n_changed bigint;
    n_done bigint := 0;
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FILTER (WHERE e.before IS NULL), count(*) FILTER (WHERE e.after IS NULL), '
                   '       count(*) FILTER (WHERE e.before IS NOT NULL AND e.after IS NOT NULL), '
                   '       array_agg(DISTINCT k.k) FILTER (WHERE k.k IS NOT NULL) '
                   '  FROM (%s) e LEFT JOIN LATERAL jsonb_object_keys(CASE WHEN e.after IS NOT NULL THEN e.before END) k (k) ON true', entries)
       INTO n_made, n_removed, n_changed, cols USING acct, src, origs, dests;
    -- (changed columns come back typed from the locking SELECT: Citus takes
    -- no function of a row in an UPDATE or DELETE, nor in RETURNING)
    SELECT string_agg(format('%I = (e.r).%I', a.attname, a.attname), ', ' ORDER BY a.attnum) INTO sets
      FROM pg_attribute a
     WHERE a.attrelid = format('customercard.%I', tbl)::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname = ANY (cols);
    -- made rows that are as the job made them: deleted
    IF n_made > 0 THEN
        EXECUTE format($q$
            WITH e AS (SELECT e.dest, t.%5$I AS k FROM (%1$s AND j.before IS NULL) e
                         JOIN customercard.%2$I t ON %3$s
                        WHERE jsonb_populate_record(t, e.after) = t
                          FOR UPDATE OF t),
            d AS (DELETE FROM customercard.%2$I t USING e WHERE t.account_id = $1 AND t.contact_id = e.dest AND t.%5$I = e.k RETURNING t.*)
            %4$s SELECT $1, $5, d.contact_id, %2$L, d.%5$I, customercard.journal_image(to_jsonb(d), %5$L), NULL FROM d
            ON CONFLICT DO NOTHING$q$, entries, tbl, row_of, journal, key)
        USING acct, src, origs, dests, undo_job;
        GET DIAGNOSTICS n_done = ROW_COUNT;
    END IF;
    -- removed rows: back as they were (unless the key is taken again)
    IF n_removed > 0 THEN
        EXECUTE format($q$
            WITH e AS (%1$s AND j.after IS NULL),
            i AS (INSERT INTO customercard.%2$I
                  SELECT (jsonb_populate_record(NULL::customercard.%2$I,
                              e.before || jsonb_build_object('account_id', $1, 'contact_id', e.dest, %3$L, e.row_key))).*
                    FROM e
                  ON CONFLICT DO NOTHING
                  RETURNING *)
            %4$s SELECT $1, $5, i.contact_id, %2$L, i.%3$I, NULL, customercard.journal_image(to_jsonb(i), %3$L) FROM i
            ON CONFLICT DO NOTHING$q$, entries, tbl, key, journal)
        USING acct, src, origs, dests, undo_job;
        GET DIAGNOSTICS n = ROW_COUNT;
        n_done := n_done + n;
    END IF;
    -- changed columns that still hold the job's values: the old ones
    IF n_changed > 0 THEN
        EXECUTE format($q$
            WITH e AS (SELECT e.dest, t.%6$I AS k, e.before, e.after, jsonb_populate_record(t, e.before) AS r
                         FROM (%1$s AND j.before IS NOT NULL AND j.after IS NOT NULL) e
                         JOIN customercard.%2$I t ON %3$s
                        WHERE jsonb_populate_record(t, e.after) = t
                          FOR UPDATE OF t),
            u AS (UPDATE customercard.%2$I t SET %5$s FROM e
                   WHERE t.account_id = $1 AND t.contact_id = e.dest AND t.%6$I = e.k
                  RETURNING t.contact_id, e.k, e.before, e.after)
            %4$s SELECT $1, $5, u.contact_id, %2$L, u.k, u.after, u.before FROM u
            ON CONFLICT DO NOTHING$q$, entries, tbl, row_of, journal, sets, key)
        USING acct, src, origs, dests, undo_job;
        GET DIAGNOSTICS n = ROW_COUNT;
        n_done := n_done + n;
    END IF;
    IF n_done = n_made + n_removed + n_changed THEN
        RETURN;
    END IF;
    -- the rest: reported, unless already as before the job (a made row
    -- gone, a removed one back as it was, the old values there)
    RETURN QUERY EXECUTE format($q$
        SELECT e.orig, string_agg(customercard.bulk_changed_since($1, e.dest, %2$L, %5$L, e.row_key, coalesce(e.after, e.before)), '; ')
          FROM (%1$s) e
          LEFT JOIN customercard.%2$I t ON %3$s
         WHERE NOT EXISTS (SELECT 1 FROM customercard.bulk_job_journal u
                            WHERE u.account_id = $1 AND u.job_id = $5 AND u.contact_id = e.dest AND u.tbl = %2$L
                              AND u.row_key = %4$s)
           AND NOT coalesce(CASE WHEN e.before IS NULL THEN t.%5$I IS NULL
                                 ELSE t.%5$I IS NOT NULL AND jsonb_populate_record(t, e.before) = t END, false)
         GROUP BY e.orig$q$,
        entries, tbl, row_of, CASE WHEN tbl = 'contacts' THEN 'e.dest' ELSE 'e.row_key' END, key)
    USING acct, src, origs, dests, undo_job;
END
$$;

-- One batch of an undo job (bulk_undo): the undone job's journal of these
-- contacts put back, table by table.  A contact merged since is undone on
-- its survivor, where its rows went (its own columns on its tombstone); a
-- forgotten one is skipped and reported.  Should a row not
-- come back at all (its tag, plan or field deleted since: a foreign key),
-- the table is done again contact by contact, each failing alone with the
-- reason.  Returns the failures as (contact_id, reason).
CREATE FUNCTION customercard.bulk_undo_apply(acct bigint, job customercard.bulk_jobs, ids bigint[])
RETURNS TABLE (contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src constant bigint := (job.params ->> 'job_id')::bigint;
    origs bigint[];
    dests bigint[];
    forgotten bigint[];
    t text;
BEGIN
    -- (only the few merged or forgotten cards are looked up: the partial
    -- index contacts_gone; the ids are in id order, and stay so)
    SELECT array_agg(i.id ORDER BY i.id) FILTER (WHERE g.forgotten_at IS NULL),
           array_agg(coalesce(g.dest, i.id) ORDER BY i.id) FILTER (WHERE g.forgotten_at IS NULL),
           array_agg(i.id) FILTER (WHERE g.forgotten_at IS NOT NULL)
      INTO origs, dests, forgotten
      FROM unnest(ids) i (id)
      LEFT JOIN (SELECT c.contact_id, r.dest,
                        CASE WHEN r.dest = c.contact_id THEN c.forgotten_at
                             ELSE (SELECT s.forgotten_at FROM customercard.contacts s WHERE s.account_id = acct AND s.contact_id = r.dest) END
                            AS forgotten_at
                   FROM customercard.contacts c
                  CROSS JOIN LATERAL (SELECT CASE WHEN c.merged_into IS NULL THEN c.contact_id
                                                  ELSE customercard.resolve_contact(c.contact_id) END AS dest) r
                  WHERE c.account_id = acct AND c.contact_id = ANY (ids)
                    AND (c.merged_into IS NOT NULL OR c.forgotten_at IS NOT NULL)) g ON g.contact_id = i.id;
    RETURN QUERY SELECT f, 'the contact was forgotten' FROM unnest(forgotten) f;
    -- rows the job made are taken away first, a row before the row it
    -- references (a subscription before the channel it came through:
    -- create_channel makes both); then rows it removed are put back, the
    -- referenced one first
    FOR t IN SELECT j.tbl FROM customercard.bulk_job_journal j
              WHERE j.account_id = acct AND j.job_id = src AND j.contact_id BETWEEN origs[1] AND origs[cardinality(origs)]
              GROUP BY j.tbl
              ORDER BY bool_or(j.before IS NULL) DESC,
                       CASE WHEN bool_or(j.before IS NULL) = (j.tbl = 'channels') THEN 1 ELSE 0 END, j.tbl LOOP
        BEGIN
            -- (a card's own columns go back on the card itself, a tombstone
            -- too: the survivor's are the survivor's)
            RETURN QUERY SELECT * FROM customercard.bulk_undo_table(acct, src, job.job_id, t, origs,
                                                                    CASE WHEN t = 'contacts' THEN origs ELSE dests END);
        EXCEPTION WHEN integrity_constraint_violation THEN
            FOR i IN 1 .. cardinality(origs) LOOP
                BEGIN
                    RETURN QUERY SELECT * FROM customercard.bulk_undo_table(acct, src, job.job_id, t, origs[i:i],
                                                                            CASE WHEN t = 'contacts' THEN origs[i:i] ELSE dests[i:i] END);
                EXCEPTION WHEN integrity_constraint_violation THEN
                    RETURN QUERY SELECT origs[i], 'cannot be put back: ' || SQLERRM;
                END;
            END LOOP;
        END;
    END LOOP;
END
$$;

-- What a batch of a job does to its contacts (ids, in id order; the job's
-- row locked by bulk_run_batch), with the
-- failures written: an undo's through bulk_undo_apply; any other action's
-- through bulk_apply on the live contacts behind the ids, deleted cards
-- failing.  Returns how many failed.  On Citus it runs on the node holding
-- the account (citus_delegated()), so that every statement is local there
-- (an export's batch but on the coordinator, see bulk_run_batch).
CREATE FUNCTION customercard.bulk_batch_apply(acct bigint, job_id bigint, ids bigint[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job customercard.bulk_jobs;
    t record;
    n integer;
BEGIN
    SELECT * INTO job FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_batch_apply.job_id;
    IF job.action <> 'export' THEN
        PERFORM customercard.assert_account_here(acct, 'a bulk batch');
    END IF;
    IF job.action = 'undo' THEN
        -- (every journaled contact: a deleted card's changes are undone too)
        INSERT INTO customercard.bulk_job_failures (account_id, job_id, contact_id, reason)
        SELECT acct, job.job_id, f.contact_id, f.reason FROM customercard.bulk_undo_apply(acct, job, ids) f
        ON CONFLICT DO NOTHING;
    ELSE
        t := customercard.bulk_targets(acct, ids);
        INSERT INTO customercard.bulk_job_failures (account_id, job_id, contact_id, reason)
        SELECT acct, job.job_id, f.contact_id, f.reason
          FROM (SELECT g AS contact_id, 'the contact was deleted' AS reason FROM unnest(t.gone) g WHERE job.action <> 'delete'
                UNION ALL
                SELECT a.contact_id, a.reason FROM customercard.bulk_apply(acct, job, t.live) a) f
        ON CONFLICT DO NOTHING;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
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

-- One batch of one job, in one transaction with its progress.  Returns how
-- many contacts it worked through; 0 when the job has ended (or may not run).
CREATE FUNCTION customercard.bulk_run_batch(acct bigint, job_id bigint, batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j customercard.bulk_jobs;
    ids bigint[];
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
    -- no lock wait of the batch lasts longer than bulk_lock_timeout(): a row
    -- a session holds (of the job's own account, the only rows it reaches)
    -- fails the batch with 55P03, an attempt of the job, and the runner goes
    -- on with the next job (a shorter lock_timeout of the caller stays)
    IF pg_catalog.current_setting('lock_timeout')::interval = interval '0'
       OR pg_catalog.current_setting('lock_timeout')::interval > customercard.bulk_lock_timeout() THEN
        EXECUTE pg_catalog.format('SET LOCAL lock_timeout = %L',
                                  (pg_catalog.date_part('epoch', customercard.bulk_lock_timeout()) * 1000)::bigint || 'ms');
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

    IF j.action = 'export' THEN
        -- an export writes only its output, read through functions, which
        -- Citus runs in no statement of a delegated call: an assignment
        -- (PL/pgSQL evaluates it without the planner, so Citus delegates
        -- nothing) runs it here
        nfailed := customercard.bulk_batch_apply(acct, j.job_id, ids);
    ELSE
        -- a query: on Citus the call goes to the account's node
        SELECT f INTO nfailed FROM customercard.bulk_batch_apply(acct, j.job_id, ids) f;
    END IF;

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

-- The next job for a batch: accounts take turns -- the account this role
-- may run jobs of that was served longest ago (its latest batch, done or
-- failed, of any job; never first), then that account's job that has
-- waited longest (since its last batch, or since it became due: a run_at
-- in the past counts from when the job was queued, so no job queued for
-- 1900 jumps the line).  Its row is locked until this transaction ends
-- (FOR UPDATE SKIP LOCKED: a killed runner frees its job at once, and no
-- role of another account can hold it, as row-level security keeps their
-- jobs out of its sight).  So a job waits for one batch of each other
-- account with due jobs, however many jobs those accounts queued.
CREATE FUNCTION customercard.bulk_claim(OUT account_id bigint, OUT job_id bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
    accts bigint[];
BEGIN
    SELECT array_agg(DISTINCT b.account_id) INTO accts FROM customercard.bulk_jobs b
     WHERE b.status IN ('queued', 'running') AND b.run_at <= now() AND customercard.account_may_act(b.account_id);
    IF accts IS NULL THEN
        RETURN;
    END IF;
    FOR c IN WITH served AS (SELECT s.account_id, max(s.progress_at) AS at FROM customercard.bulk_jobs s
                              WHERE s.account_id = ANY (accts) GROUP BY s.account_id),
                  due AS (SELECT b.account_id, b.job_id,
                                 coalesce(b.progress_at, greatest(b.run_at, b.created_at)) AS waiting
                            FROM customercard.bulk_jobs b
                           WHERE b.account_id = ANY (accts) AND b.status IN ('queued', 'running') AND b.run_at <= now())
             SELECT d.account_id, d.job_id FROM due d JOIN served v ON v.account_id = d.account_id
              ORDER BY v.at NULLS FIRST, min(d.waiting) OVER (PARTITION BY d.account_id), d.account_id, d.waiting, d.job_id
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

-- The longest a batch waits for any lock (lock_timeout, for the batch's
-- transaction): a lock a tenant holds in its own account costs the runner
-- this much at most, and the job an attempt.
CREATE FUNCTION customercard.bulk_lock_timeout() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '1 second' $$;

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

-- Undo a job: a new job (action undo, params {"job_id", "action"}) over
-- the contacts the job's journal names, which bulk_run works off as any
-- other.  A job still queued or running is cancelled first (its row lock
-- waits for the batch being worked, and no batch starts after); what its
-- committed batches did is undone.
CREATE FUNCTION customercard.bulk_undo(job_id bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    j customercard.bulk_jobs;
    undo bigint;
    n integer;
BEGIN
    PERFORM customercard.assert_manager('undo bulk jobs');
    SELECT * INTO j FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_undo.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'bulk job % does not exist in account %', coalesce(job_id::text, 'NULL'), acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.bulk_progress.';
    END IF;
    IF j.action = 'export' THEN
        RAISE EXCEPTION 'export job % changed nothing: there is nothing to undo', j.job_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'bulk_prune deletes its file with the job.';
    END IF;
    IF j.action = 'import' THEN
        RAISE EXCEPTION 'import job % cannot be undone', j.job_id
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'customercard.import_report lists the contacts it created and updated; bulk_enqueue(''delete'', ...) takes created ones away.';
    END IF;
    IF j.status IN ('queued', 'running') THEN
        UPDATE customercard.bulk_jobs b SET status = 'cancelled', finished_at = now()
         WHERE b.account_id = acct AND b.job_id = j.job_id;
    END IF;
    PERFORM customercard.bulk_check_queue(acct);
    INSERT INTO customercard.bulk_jobs (account_id, action, params)
    VALUES (acct, 'undo', jsonb_build_object('job_id', j.job_id, 'action', j.action))
    RETURNING bulk_jobs.job_id INTO undo;
    INSERT INTO customercard.bulk_job_items (account_id, job_id, contact_id)
    SELECT DISTINCT acct, undo, r.contact_id FROM customercard.bulk_job_journal r
     WHERE r.account_id = acct AND r.job_id = j.job_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE customercard.bulk_jobs b SET total = n WHERE b.account_id = acct AND b.job_id = undo;
    RETURN undo;
END
$$;
COMMENT ON FUNCTION customercard.bulk_undo(bigint) IS
    'Queue the undo of a bulk job (cancelling it if it still runs): a job that puts back, contact by contact, what its committed batches changed, where nothing changed it since (else reported in bulk_failures); returns the undo''s job id, which bulk_undo undoes in turn';

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
    -- (and their journals; a job an undo still works on stays)
    DELETE FROM customercard.bulk_job_journal r USING customercard.bulk_jobs b
     WHERE r.account_id = b.account_id AND r.job_id = b.job_id
       AND b.status IN ('done', 'cancelled', 'failed') AND b.finished_at < now() - older_than
       AND customercard.account_may_act(b.account_id)
       AND NOT EXISTS (SELECT 1 FROM customercard.bulk_jobs u
                        WHERE u.account_id = b.account_id AND u.action = 'undo' AND u.status IN ('queued', 'running')
                          AND u.params ->> 'job_id' = b.job_id::text);
    DELETE FROM customercard.bulk_jobs b
     WHERE b.status IN ('done', 'cancelled', 'failed') AND b.finished_at < now() - older_than
       AND customercard.account_may_act(b.account_id)
       AND NOT EXISTS (SELECT 1 FROM customercard.bulk_jobs u
                        WHERE u.account_id = b.account_id AND u.action = 'undo' AND u.status IN ('queued', 'running')
                          AND u.params ->> 'job_id' = b.job_id::text);
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
