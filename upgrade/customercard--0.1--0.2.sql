-- customercard 0.1 -> 0.2 as released (built by tools/sqlobject --expand from its .in, then frozen).
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
COMMENT ON FUNCTION customercard.schedule_bulk_runner() IS
    'Schedule CALL customercard.bulk_run() every minute with pg_cron (and a daily prune); outside the cron database, the error''s hint gives the commands to run there';
-- phone_is_valid: find stored numbers the compiled metadata no longer calls
-- valid (the type now reads its own output back whatever the metadata says)
CREATE OR REPLACE FUNCTION customercard.phone_is_valid(customercard.phone) RETURNS boolean
    AS 'MODULE_PATHNAME', 'phone_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_is_valid(customercard.phone) IS
    'Whether the compiled numbering metadata calls the stored number valid (false for numbers stored under older metadata that the current one rejects)';
-- No SQL from caller text: ids_named and bulk_lookup take a table of a
-- fixed list (and an LGT's funnel id) instead of SQL fragments; the merge's
-- primary-row helpers read their expression from merge_sections() instead
-- of taking it as an argument.
DROP FUNCTION customercard.bulk_lookup(bigint, jsonb, text, text, text, text, boolean);
DROP FUNCTION customercard.ids_named(bigint, jsonb, text, text, text);
DROP FUNCTION customercard.merge_primary_target(bigint, text, text, bigint, bigint, boolean);
DROP FUNCTION customercard.merge_set_primary(bigint, text, text, text, bigint, bigint, text);
CREATE OR REPLACE FUNCTION customercard.ids_named(acct bigint, v jsonb, tbl text, parent_id bigint DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    idcol constant text := CASE tbl WHEN 'funnels' THEN 'funnel_id' WHEN 'lgts' THEN 'lgt_id' WHEN 'sales_plans' THEN 'plan_id'
                                    WHEN 'managers' THEN 'manager_id' WHEN 'tags' THEN 'tag_id' WHEN 'custom_fields' THEN 'field_id' END;
    ids bigint[];
BEGIN
    IF idcol IS NULL OR (parent_id IS NOT NULL AND tbl <> 'lgts') THEN
        RAISE EXCEPTION 'ids_named cannot look up "%"', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It names funnels, lgts (within a funnel), sales_plans, managers, tags and custom_fields.';
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(t.%2$I ORDER BY t.%2$I), ''{}'') FROM customercard.%1$I t '
                   ' WHERE t.account_id = $1 AND %3$s '
                   '   AND (CASE WHEN jsonb_typeof($2) = ''number'' THEN t.%2$I = ($2 #>> ''{}'')::numeric '
                   '             ELSE t.name = $2 #>> ''{}'' END)',
                   tbl, idcol, CASE WHEN parent_id IS NULL THEN 'true' ELSE 't.funnel_id = $3' END)
       INTO ids USING acct, v, parent_id;
    RETURN ids;
END
$$;
CREATE OR REPLACE FUNCTION customercard.bulk_lookup(acct bigint, params jsonb, key text, tbl text,
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
CREATE OR REPLACE FUNCTION customercard.merge_primary_expr(tbl text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    expr text := (SELECT m.primary_expr FROM customercard.merge_sections() m WHERE m.tbl = merge_primary_expr.tbl);
BEGIN
    IF expr IS NULL THEN
        RAISE EXCEPTION '"%" is not a card section with primary rows', tbl
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The sections with primary rows are phones and emails.';
    END IF;
    RETURN expr;
END
$$;
CREATE OR REPLACE FUNCTION customercard.merge_primary_target(acct bigint, tbl text, s bigint, a bigint, prefer_absorbed boolean)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    expr constant text := customercard.merge_primary_expr(tbl);
    sv text;
    av text;
BEGIN
    EXECUTE format('SELECT (SELECT (%2$s)::text FROM customercard.%1$I t WHERE t.account_id = $1 AND t.contact_id = $2 AND t.is_primary), '
                   '       (SELECT (%2$s)::text FROM customercard.%1$I t WHERE t.account_id = $1 AND t.contact_id = $3 AND t.is_primary)',
                   tbl, expr)
       INTO sv, av USING acct, s, a;
    RETURN CASE WHEN prefer_absorbed THEN coalesce(av, sv) ELSE coalesce(sv, av) END;
END
$$;
CREATE OR REPLACE FUNCTION customercard.merge_set_primary(acct bigint, tbl text, s bigint, a bigint, target text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    expr constant text := customercard.merge_primary_expr(tbl);
    key constant text := (SELECT m.key FROM customercard.merge_sections() m WHERE m.tbl = merge_set_primary.tbl);
    cleared jsonb;
    made jsonb;
BEGIN
    IF target IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('WITH u AS (UPDATE customercard.%1$I t SET is_primary = false '
                   ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND t.is_primary AND (%3$s)::text <> $4 '
                   ' RETURNING t.%2$I AS k) SELECT jsonb_agg(k) FROM u', tbl, key, expr)
       INTO cleared USING acct, s, a, target;
    EXECUTE format('WITH u AS (UPDATE customercard.%1$I t SET is_primary = true '
                   ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND NOT t.is_primary AND (%3$s)::text = $4 '
                   ' RETURNING t.%2$I AS k) SELECT jsonb_agg(k) FROM u', tbl, key, expr)
       INTO made USING acct, s, a, target;
    IF cleared IS NULL AND made IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN customercard.jsonb_drop_nulls(jsonb_build_object('cleared', cleared, 'made', made));
END
$$;
-- (a preview checks the parameters dry: a new signature)
DROP FUNCTION customercard.bulk_check_params(bigint, text, jsonb);
CREATE OR REPLACE FUNCTION customercard.bulk_check_params(acct bigint, action text, params jsonb, dry boolean DEFAULT false) RETURNS jsonb
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
CREATE OR REPLACE FUNCTION customercard.merge_apply(acct bigint, survivor_id bigint, absorbed_id bigint, take text[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s customercard.contacts;
    a customercard.contacts;
    merged customercard.contacts;
    s_row customercard.contacts;
    pair record;
    sec record;
    entry jsonb;
    sections jsonb := '{}';
    targets jsonb;
    nd jsonb;
    s_after jsonb;
    mid bigint;
BEGIN
    PERFORM customercard.assert_account_here(acct, 'merge');
    pair := customercard.lock_contact_pair(acct, survivor_id, absorbed_id);
    s := pair.xr;
    a := pair.yr;
    PERFORM customercard.merge_check_live(s, 'into');
    PERFORM customercard.merge_check_live(a, 'again');
    PERFORM customercard.card_rewrite(true);

    -- which phone and e-mail end up primary, decided before rows collide
    SELECT jsonb_object_agg(m.tbl, customercard.merge_primary_target(acct, m.tbl, s.contact_id, a.contact_id,
                                                                      m.take_name = ANY (take)))
      INTO targets FROM customercard.merge_sections() m WHERE m.primary_expr IS NOT NULL;

    -- colliding rows combined
    SELECT coalesce(jsonb_object_agg(c.key, c.value), '{}') INTO sections
      FROM jsonb_each(customercard.merge_combines(acct, s.contact_id, a.contact_id, take)) c
     WHERE c.value <> '{}';
    -- one primary phone and e-mail
    FOR sec IN SELECT * FROM customercard.merge_sections() m WHERE m.primary_expr IS NOT NULL LOOP
        entry := customercard.merge_set_primary(acct, sec.tbl, s.contact_id, a.contact_id,
                                                targets ->> sec.tbl);
        IF entry IS NOT NULL THEN
            sections := sections || jsonb_build_object(sec.tbl, coalesce(sections -> sec.tbl, '{}') || jsonb_build_object('primary', entry));
        END IF;
    END LOOP;
    -- then every remaining row of the absorbed, in one statement
    SELECT coalesce(jsonb_object_agg(mv.key, coalesce(sections -> mv.key, '{}') || jsonb_build_object('moved', mv.value)), '{}')
      INTO entry FROM jsonb_each(customercard.merge_moves(acct, s.contact_id, a.contact_id)) mv;
    sections := sections || entry;

    -- pairs judged different people: what held for the absorbed holds for the survivor
    WITH others AS (
        SELECT CASE WHEN n.contact_a = a.contact_id THEN n.contact_b ELSE n.contact_a END AS other
          FROM customercard.not_duplicates n
         WHERE n.account_id = acct AND a.contact_id IN (n.contact_a, n.contact_b)),
    ins AS (
        INSERT INTO customercard.not_duplicates (account_id, contact_a, contact_b)
        SELECT acct, LEAST(s.contact_id, o.other), GREATEST(s.contact_id, o.other) FROM others o
         WHERE o.other <> s.contact_id
        ON CONFLICT DO NOTHING
        RETURNING contact_a, contact_b)
    SELECT jsonb_agg(jsonb_build_array(contact_a, contact_b)) INTO nd FROM ins;

    merged := customercard.merged_contact(s, a, take);
    UPDATE customercard.contacts c
       SET (name, first_name, last_name, middle_name, nickname, avatar_url, gender, gender_source, timezone,
            country, city, ip, note, manager_id, status, points, created_at, updated_at)
         = (merged.name, merged.first_name, merged.last_name, merged.middle_name, merged.nickname, merged.avatar_url,
            merged.gender, merged.gender_source, merged.timezone, merged.country, merged.city, merged.ip, merged.note,
            merged.manager_id, merged.status, merged.points, merged.created_at, merged.updated_at)
     WHERE c.account_id = acct AND c.contact_id = s.contact_id
    RETURNING c.* INTO s_row;
    s_after := to_jsonb(s_row);
    -- the tombstone: its rows (points ledger included) now belong to the survivor
    UPDATE customercard.contacts c SET merged_into = s.contact_id, points = 0, updated_at = now()
     WHERE c.account_id = acct AND c.contact_id = a.contact_id;

    INSERT INTO customercard.merges (account_id, survivor_id, absorbed_id, journal)
    VALUES (acct, s.contact_id, a.contact_id,
            customercard.jsonb_drop_nulls(jsonb_build_object(
                'take', to_jsonb(take),
                'survivor_before', to_jsonb(s), 'survivor_after', s_after, 'absorbed_before', to_jsonb(a),
                'sections', sections, 'not_duplicates_added', nd)))
    RETURNING merges.merge_id INTO mid;

    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    VALUES (acct, s.contact_id, 'merged', jsonb_build_object('merge_id', mid, 'role', 'survivor',
                                                             'survivor_id', s.contact_id, 'absorbed_id', a.contact_id)),
           (acct, a.contact_id, 'merged', jsonb_build_object('merge_id', mid, 'role', 'absorbed',
                                                             'survivor_id', s.contact_id, 'absorbed_id', a.contact_id));
    PERFORM customercard.card_rewrite(false);
    RETURN mid;
END
$$;
CREATE OR REPLACE FUNCTION customercard.merge_preview(survivor bigint, absorbed bigint, take_from_absorbed text[] DEFAULT '{}')
RETURNS TABLE (field text, survivor_value text, absorbed_value text, merged_value text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    take text[] := coalesce(take_from_absorbed, '{}');
    s customercard.contacts;
    a customercard.contacts;
    sj jsonb;
    aj jsonb;
    mj jsonb;
    sec record;
    sn bigint;
    an bigint;
    extra bigint;
BEGIN
    IF survivor = absorbed THEN
        RAISE EXCEPTION 'contact % cannot be merged into itself', survivor
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass two different contacts: the survivor first, then the one it absorbs.';
    END IF;
    SELECT * INTO s FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = survivor;
    SELECT * INTO a FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = absorbed;
    IF s.contact_id IS NULL OR a.contact_id IS NULL THEN
        RAISE EXCEPTION 'contact % does not exist in account %', CASE WHEN s.contact_id IS NULL THEN survivor ELSE absorbed END, acct
            USING ERRCODE = 'undefined_object', HINT = 'Check the contact id and the setting customercard.account_id.';
    END IF;
    PERFORM customercard.merge_check_live(s, 'into');
    PERFORM customercard.merge_check_live(a, 'again');
    PERFORM customercard.merge_check_take(acct, take);
    sj := to_jsonb(s);
    aj := to_jsonb(a);
    mj := to_jsonb(customercard.merged_contact(s, a, take));

    RETURN QUERY
    SELECT f, sj ->> f, aj ->> f, mj ->> f
      FROM unnest(customercard.merge_fields() || ARRAY['status', 'points', 'created_at']) f;

    -- primary phone and e-mail, then every number and address of both
    RETURN QUERY
    WITH p AS (SELECT t.contact_id, t.phone::text AS v, t.is_primary FROM customercard.phones t
                WHERE t.account_id = acct AND t.contact_id IN (s.contact_id, a.contact_id)),
         e AS (SELECT t.contact_id, t.email AS v, customercard.email_key(t.email) AS k, t.is_primary FROM customercard.emails t
                WHERE t.account_id = acct AND t.contact_id IN (s.contact_id, a.contact_id))
    SELECT 'phone',
           (SELECT v FROM p WHERE contact_id = s.contact_id AND is_primary),
           (SELECT v FROM p WHERE contact_id = a.contact_id AND is_primary),
           (SELECT customercard.merge_primary_target(acct, m.tbl, s.contact_id, a.contact_id, m.take_name = ANY (take))
              FROM customercard.merge_sections() m WHERE m.tbl = 'phones')
    UNION ALL
    SELECT 'email',
           (SELECT v FROM e WHERE contact_id = s.contact_id AND is_primary),
           (SELECT v FROM e WHERE contact_id = a.contact_id AND is_primary),
           (SELECT v FROM e WHERE k = (SELECT customercard.merge_primary_target(acct, m.tbl, s.contact_id, a.contact_id,
                                                                                m.take_name = ANY (take))
                                         FROM customercard.merge_sections() m WHERE m.tbl = 'emails')
             ORDER BY contact_id <> s.contact_id LIMIT 1)
    UNION ALL
    SELECT 'phones',
           (SELECT string_agg(v, ', ' ORDER BY v) FROM p WHERE contact_id = s.contact_id),
           (SELECT string_agg(v, ', ' ORDER BY v) FROM p WHERE contact_id = a.contact_id),
           (SELECT string_agg(DISTINCT v, ', ') FROM p)
    UNION ALL
    SELECT 'emails',
           (SELECT string_agg(v, ', ' ORDER BY v) FROM e WHERE contact_id = s.contact_id),
           (SELECT string_agg(v, ', ' ORDER BY v) FROM e WHERE contact_id = a.contact_id),
           (SELECT string_agg(v, ', ' ORDER BY v) FROM (SELECT DISTINCT ON (k) v FROM e ORDER BY k, contact_id <> s.contact_id) d);

    RETURN QUERY
    WITH t AS (SELECT ct.contact_id, g.name FROM customercard.contact_tags ct
                 JOIN customercard.tags g ON g.account_id = ct.account_id AND g.tag_id = ct.tag_id
                WHERE ct.account_id = acct AND ct.contact_id IN (s.contact_id, a.contact_id))
    SELECT 'tags',
           (SELECT string_agg(name, ', ' ORDER BY name) FROM t WHERE contact_id = s.contact_id),
           (SELECT string_agg(name, ', ' ORDER BY name) FROM t WHERE contact_id = a.contact_id),
           (SELECT string_agg(DISTINCT name, ', ') FROM t);

    -- custom fields: the survivor's value unless taken or empty
    RETURN QUERY
    SELECT 'custom:' || f.name, sv.value, av.value,
           CASE WHEN av.value IS NOT NULL AND (sv.value IS NULL OR sv.value = '' OR 'custom:' || f.name = ANY (take))
                THEN av.value ELSE sv.value END
      FROM customercard.custom_fields f
      LEFT JOIN customercard.custom_values sv ON sv.account_id = acct AND sv.contact_id = s.contact_id AND sv.field_id = f.field_id
      LEFT JOIN customercard.custom_values av ON av.account_id = acct AND av.contact_id = a.contact_id AND av.field_id = f.field_id
     WHERE f.account_id = acct AND (sv.value IS NOT NULL OR av.value IS NOT NULL)
     ORDER BY f.name;

    -- every section: rows of each, and of the merged card (colliding rows once)
    FOR sec IN SELECT * FROM customercard.merge_sections() WHERE tbl <> 'action_log_archive' LOOP
        EXECUTE format('SELECT (SELECT count(*) FROM customercard.%1$I s WHERE s.account_id = $1 AND s.contact_id = $2), '
                       '       (SELECT count(*) FROM customercard.%1$I a WHERE a.account_id = $1 AND a.contact_id = $3), '
                       '       (SELECT count(*) FROM customercard.%1$I a WHERE a.account_id = $1 AND a.contact_id = $3 '
                       '           AND NOT EXISTS (SELECT 1 FROM customercard.%1$I s WHERE s.account_id = $1 AND s.contact_id = $2 AND (%2$s)))',
                       sec.tbl, coalesce(sec.match, 'false'))
           INTO sn, an, extra USING acct, s.contact_id, a.contact_id;
        IF sn + an > 0 THEN
            field := 'count:' || sec.tbl;
            survivor_value := sn::text;
            absorbed_value := an::text;
            merged_value := (sn + extra)::text;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customercard.merge_preview(bigint, bigint, text[]) IS
    'What merge(survivor, absorbed, take_from_absorbed) would make: field, survivor value, absorbed value, merged value; sections as row counts';
-- upsert_contact_ex: no sub-select inside INSERT ... VALUES and no simple CASE in the
-- contact UPDATE (Citus refuses the one and folds the other into text = boolean)
CREATE OR REPLACE FUNCTION customercard.upsert_contact_ex(data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
BEGIN
    -- in the FROM form, which Citus delegates to the account's node
    SELECT u.upserted_id, u.created INTO upserted_id, created FROM customercard.upsert_contact_in(acct, data) u;
END
$$;
-- Scale-out on Citus: distribute_on_citus() and the per-node steps it runs
CREATE OR REPLACE FUNCTION customercard.citus_sequence_ranges() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g bigint := (SELECT groupid FROM pg_catalog.pg_dist_local_group);
    lo bigint;
    hi bigint;
    s record;
    n integer := 0;
BEGIN
    -- this node's own sequences only: Citus would otherwise send the change on
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    lo := CASE WHEN g = 0 THEN 1 ELSE g * (1::bigint << 48) END;
    hi := (g + 1) * (1::bigint << 48) - 1;
    FOR s IN SELECT c.relname, q.last_value
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_sequences q
                 ON q.schemaname OPERATOR(pg_catalog.=) 'customercard' AND q.sequencename OPERATOR(pg_catalog.=) c.relname
              WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'S'
    LOOP
        EXECUTE pg_catalog.format('ALTER SEQUENCE customercard.%I MINVALUE %s MAXVALUE %s START WITH %s', s.relname, lo, hi, lo)
                || CASE WHEN s.last_value IS NULL OR s.last_value < lo
                        THEN pg_catalog.format(' RESTART WITH %s', lo) ELSE '' END;
        n := n + 1;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.citus_sequence_ranges() IS
    'Give this Citus node its own range of every customercard sequence (group g: g * 2^48 ...); run on every node by distribute_on_citus()';
CREATE OR REPLACE FUNCTION customercard.citus_on_workers(step text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    command text := CASE step
        WHEN 'sequence_ranges' THEN 'SELECT customercard.citus_sequence_ranges()'
        WHEN 'policies' THEN 'SELECT customercard.citus_node_forms()'
        WHEN 'drop_account_fks' THEN 'SELECT customercard.citus_drop_account_fks()'
        WHEN 'shard_grants' THEN 'SELECT customercard.citus_shard_grants()' END;
    r record;
BEGIN
    IF command IS NULL THEN
        RAISE EXCEPTION 'unknown step "%" of distribute_on_citus()', step USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR r IN SELECT * FROM pg_catalog.run_command_on_workers(command) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'on worker %:%: %', r.nodename, r.nodeport, r.result
                USING ERRCODE = 'external_routine_exception', DETAIL = 'The command was: ' || command;
        END IF;
    END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION customercard.citus_drop_account_fks() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY customercard.citus_account_fk_tables() LOOP
        EXECUTE pg_catalog.format('ALTER TABLE customercard.%I DROP CONSTRAINT IF EXISTS %I', t, t || '_account_id_fkey');
    END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION customercard.citus_account_fk_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['managers', 'role_bindings', 'contacts'] $$;
CREATE OR REPLACE FUNCTION customercard.distribute_on_citus() RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
    n integer;
    bindings jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION 'Citus is not installed in database "%"', pg_catalog.current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'On a Citus coordinator: CREATE EXTENSION citus; add the workers (citus_add_node), then CREATE EXTENSION customercard and SELECT customercard.distribute_on_citus().';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'distribute_on_citus() runs on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Connect to the coordinator of the cluster and call it there.';
    END IF;
    -- on every node (the database settings Citus sends on itself; the rest on
    -- this node and then each worker, again for a worker added since): the
    -- extension's triggers run on the shards,
    -- SET LOCAL of the account and the actor reaches the workers, each node
    -- has its own range of ids, and the policies take the form Citus accepts
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- foreign keys to reference tables want one connection per node
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    EXECUTE pg_catalog.format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', pg_catalog.current_database());
    EXECUTE pg_catalog.format('ALTER DATABASE %I SET citus.propagate_set_commands = local', pg_catalog.current_database());
    PERFORM customercard.citus_sequence_ranges();
    PERFORM customercard.citus_node_forms();
    PERFORM customercard.citus_on_workers('sequence_ranges');
    PERFORM customercard.citus_on_workers('policies');

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'customercard.contacts'::regclass) THEN
        PERFORM customercard.citus_delegate();
        PERFORM customercard.citus_shard_grants();
        PERFORM customercard.citus_on_workers('shard_grants');
        RETURN;     -- distributed already
    END IF;

    -- foreign keys to accounts wait until accounts is a reference table;
    -- until then Citus would convert the tables around it (and the views)
    PERFORM customercard.citus_drop_account_fks();
    PERFORM customercard.citus_on_workers('drop_account_fks');

    -- role_bindings hold role OIDs, which differ per node: copied in binary
    -- they would name other roles on the workers, so they are inserted again
    -- as role names once the table is a reference table
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(b.account_id, b.role::text, b.bound_at, b.bound_by))
      INTO bindings FROM customercard.role_bindings b;
    DELETE FROM customercard.role_bindings;

    ALTER TABLE customercard.accounts DISABLE TRIGGER accounts_restore_default;
    PERFORM pg_catalog.create_reference_table('customercard.accounts');
    ALTER TABLE customercard.accounts ENABLE TRIGGER accounts_restore_default;
    PERFORM pg_catalog.create_reference_table('customercard.role_bindings');
    RETURN NEXT 'customercard.accounts'::regclass;
    RETURN NEXT 'customercard.role_bindings'::regclass;

    PERFORM customercard.citus_widen_inserts(true);
    -- every other table by account_id, colocated, in foreign-key order;
    -- managers first, as contacts refer to it
    PERFORM pg_catalog.create_distributed_table('customercard.managers', 'account_id', colocate_with => 'none');
    RETURN NEXT 'customercard.managers'::regclass;
    LOOP
        n := 0;
        FOR t IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
                  WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) c.oid)
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                                     WHERE f.conrelid OPERATOR(pg_catalog.=) c.oid AND f.contype OPERATOR(pg_catalog.=) 'f'
                                       AND f.confrelid OPERATOR(pg_catalog.<>) c.oid
                                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p
                                                        WHERE p.logicalrelid OPERATOR(pg_catalog.=) f.confrelid))
                  ORDER BY c.relname
        LOOP
            PERFORM pg_catalog.create_distributed_table(t.rel, 'account_id', colocate_with => 'customercard.managers');
            RETURN NEXT t.rel;
            n := n + 1;
        END LOOP;
        EXIT WHEN n = 0;
    END LOOP;
    -- the rows copied into the shards are the data now; the coordinator's
    -- local copies go (past the append-only guards: nothing is lost, the
    -- shards hold every row)
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
    FOR t IN SELECT p.logicalrelid AS rel FROM pg_catalog.pg_dist_partition p
              WHERE p.logicalrelid::text LIKE 'customercard.%' LOOP
        PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.rel);
    END LOOP;
    PERFORM pg_catalog.set_config('session_replication_role', 'origin', true);

    FOR t IN SELECT x AS tbl FROM pg_catalog.unnest(customercard.citus_account_fk_tables()) x LOOP
        EXECUTE pg_catalog.format('ALTER TABLE customercard.%I ADD CONSTRAINT %I FOREIGN KEY (account_id) REFERENCES customercard.accounts',
                                  t.tbl, t.tbl || '_account_id_fkey');
    END LOOP;
    FOR t IN SELECT (b ->> 0)::bigint AS account_id, b ->> 1 AS role, (b ->> 2)::timestamptz AS bound_at, b ->> 3 AS bound_by
               FROM pg_catalog.jsonb_array_elements(coalesce(bindings, '[]')) b LOOP
        EXECUTE pg_catalog.format('INSERT INTO customercard.role_bindings (account_id, role, bound_at, bound_by) VALUES (%s, %L::regrole, %L, %L)',
                                  t.account_id, t.role, t.bound_at, t.bound_by);
    END LOOP;
    PERFORM customercard.citus_widen_inserts(false);
    PERFORM customercard.citus_delegate();
END
$$;
COMMENT ON FUNCTION customercard.distribute_on_citus() IS
    'On a Citus coordinator: make accounts and role_bindings reference tables and distribute every other table by account_id, colocated with contacts; again, it changes nothing';
CREATE OR REPLACE FUNCTION customercard.citus_node_forms() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
    n integer := 0;
BEGIN
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    FOR t IN SELECT p.polrelid::regclass AS rel FROM pg_catalog.pg_policy p
              WHERE p.polname OPERATOR(pg_catalog.=) 'account_isolation'
                AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) OPERATOR(pg_catalog.~) 'SELECT'
                AND p.polrelid IN (SELECT c.oid FROM pg_catalog.pg_class c
                                    WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace)
    LOOP
        -- = ANY (ARRAY[...]) keeps the account out of the planner's equivalence
        -- classes: an equality there makes PostgreSQL 15 derive a
        -- pseudo-constant qual for outer joins, which Citus refuses
        EXECUTE pg_catalog.format('ALTER POLICY account_isolation ON %s USING (%s) WITH CHECK (%s)', t.rel,
                                  'account_id OPERATOR(pg_catalog.=) ANY (ARRAY[customercard.current_account_id()])',
                                  'account_id OPERATOR(pg_catalog.=) customercard.current_account_id()');
        n := n + 1;
    END LOOP;
    -- card_json plans at each call on a cluster: Citus cannot plan the
    -- generic plan of its statement (parameters in its sub-queries); and it
    -- reads as the caller, under the policies: its shard queries run on the
    -- workers as the role that sent them, where the owner would act in no
    -- account
    ALTER FUNCTION customercard.card_json(bigint) RESET plan_cache_mode SECURITY INVOKER;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.citus_node_forms() IS
    'Rewrite the account_isolation policies without a sub-select, and card_json''s plan mode and security, as Citus requires; run on every node by distribute_on_citus()';
-- contact_log and export_rows_of in PL/pgSQL: Citus plans no SQL function with parameters

-- bulk_run_batch: times and the last id as values, not functions inside the job's UPDATE;
-- the job's account and actor as SET LOCAL statements, which Citus sends on; a batch of
-- 1 to 100,000 contacts (a batch of 0 marked the job done)
CREATE OR REPLACE FUNCTION customercard.bulk_run_batch(acct bigint, job_id bigint, batch_size integer) RETURNS integer
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
-- The section views carry account_id (last), and card_json names the account in every
-- query: on Citus that keeps the card on the shards of the account's node

CREATE OR REPLACE VIEW customercard.card_sales_plans WITH (security_invoker = true) AS
SELECT sm.contact_id, sm.plan_id, sp.name AS plan, sm.status, sm.amount, sm.manager_id, m.name AS manager,
       sm.manager_pinned, sm.added_at, sm.updated_at,
       sm.account_id
  FROM customercard.sales_plan_members sm
  JOIN customercard.sales_plans sp ON sp.account_id = sm.account_id AND sp.plan_id = sm.plan_id
  LEFT JOIN customercard.managers m ON m.account_id = sm.account_id AND m.manager_id = sm.manager_id
 WHERE sm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_sales_plans IS 'Sales plans each contact is in';
CREATE OR REPLACE VIEW customercard.card_log WITH (security_invoker = true) AS
SELECT l.contact_id, l.log_id, l.at,
       (l.at AT TIME ZONE current_setting('TimeZone'))::date AS date,
       (l.at AT TIME ZONE current_setting('TimeZone'))::time(0) AS time,
       customercard.describe_event(l.event, l.details) AS description,
       l.event, l.actor, l.details,
       l.account_id
  FROM customercard.action_log l
 WHERE l.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_log IS 'The action log of each contact: date, time, description, event kind, actor';
CREATE OR REPLACE VIEW customercard.card_merges WITH (security_invoker = true) AS
SELECT mg.survivor_id AS contact_id, mg.merge_id, 'survivor' AS role, mg.absorbed_id AS other_contact_id,
       mg.merged_at, mg.merged_by, mg.undone_at, mg.undone_by, mg.account_id
  FROM customercard.merges mg WHERE mg.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT mg.absorbed_id, mg.merge_id, 'absorbed', mg.survivor_id, mg.merged_at, mg.merged_by, mg.undone_at, mg.undone_by, mg.account_id
  FROM customercard.merges mg WHERE mg.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_merges IS 'Merges each contact took part in, as survivor or absorbed';
CREATE OR REPLACE VIEW customercard.card_visits WITH (security_invoker = true) AS
SELECT v.contact_id, v.visit_id, v.visitor_id, v.url, v.title, v.referrer,
       v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term, v.visited_at,
       v.account_id
  FROM customercard.page_visits v
 WHERE v.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_visits IS 'Page visits of each contact';
CREATE OR REPLACE VIEW customercard.card_balance WITH (security_invoker = true) AS
SELECT bt.contact_id, bt.currency, sum(bt.amount) AS balance, count(*) AS transactions, max(bt.at) AS last_change_at,
       bt.account_id
  FROM customercard.balance_transactions bt
 WHERE bt.account_id = (SELECT customercard.current_account_id())
 GROUP BY bt.contact_id, bt.currency, bt.account_id;
COMMENT ON VIEW customercard.card_balance IS 'Internal balances of each contact per currency (bonus, coins, deposit, points)';
CREATE OR REPLACE VIEW customercard.card_call_campaigns WITH (security_invoker = true) AS
SELECT cm.contact_id, cm.campaign_id, cc.name AS campaign, cm.included_at, cm.call_back_at, cm.status,
       cm.comment, cm.manager_id, m.name AS manager,
       cm.account_id
  FROM customercard.call_campaign_members cm
  JOIN customercard.call_campaigns cc ON cc.account_id = cm.account_id AND cc.campaign_id = cm.campaign_id
  LEFT JOIN customercard.managers m ON m.account_id = cm.account_id AND m.manager_id = cm.manager_id
 WHERE cm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_call_campaigns IS 'Call campaigns each contact is in: when to call back, status, comment, manager';
-- duplicate_candidates reads its key hits, similar names and pairs kept apart by statements
-- of their own (on Citus a statement naming a table and calling them would run on a shard)
CREATE OR REPLACE FUNCTION customercard.duplicate_candidates(for_contact_id bigint)
RETURNS TABLE (contact_id bigint, score real, reasons text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    id bigint := customercard.resolve_contact(for_contact_id);
    hay text;
    -- the key hits, similar names and pairs kept apart, each read by a
    -- statement of its own; the scoring below then reads no table (on Citus
    -- a statement naming a table and calling these functions would be sent
    -- to a shard, and the functions' own queries nested there)
    hit_ids bigint[];
    hit_kinds text[];
    hit_values text[];
    name_ids bigint[];
    name_sims real[];
    kept_apart bigint[];
BEGIN
    SELECT customercard.name_haystack(c.name, c.first_name, c.last_name, c.middle_name, c.nickname) INTO hay
      FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = id;
    SELECT array_agg(h.related_id), array_agg(h.kind), array_agg(h.value) INTO hit_ids, hit_kinds, hit_values
      FROM customercard.contact_key_hits(acct, id) h;
    IF hay <> '' THEN
        SELECT array_agg(s.contact_id), array_agg(s.similarity) INTO name_ids, name_sims
          FROM customercard.similar_name_contacts(acct, hay, 51) s;
    END IF;
    SELECT array_agg(CASE WHEN nd.contact_a = id THEN nd.contact_b ELSE nd.contact_a END) INTO kept_apart
      FROM customercard.not_duplicates nd
     WHERE nd.account_id = acct AND (nd.contact_a = id OR nd.contact_b = id);
    RETURN QUERY
    WITH keys AS MATERIALIZED (
        -- how many other contacts share each value
        SELECT h.related_id, h.kind, h.value, count(*) OVER (PARTITION BY h.kind, h.value) AS sharers
          FROM unnest(hit_ids, hit_kinds, hit_values) AS h(related_id, kind, value)
    ), names AS MATERIALIZED (
        SELECT s.contact_id, s.similarity FROM unnest(name_ids, name_sims) AS s(contact_id, similarity)
         WHERE s.contact_id <> id
    ), evidence AS (
        SELECT k.related_id AS cid,
               (CASE k.kind WHEN 'phone' THEN 0.6 WHEN 'email' THEN 0.6 WHEN 'external_id' THEN 0.8 ELSE 0.3 END)
                 * least(1.0, 2.0 / k.sharers) AS w,
               k.kind || ' ' || k.value || CASE WHEN k.sharers > 2 THEN ' (shared by ' || (k.sharers + 1) || ')' ELSE '' END AS why
          FROM keys k
        UNION ALL
        SELECT n.contact_id, 0.4 * n.similarity * least(1.0, 5.0 / (SELECT count(*) FROM names)),
               'name ' || round(n.similarity::numeric, 2)
          FROM names n
    )
    SELECT e.cid, (1 - exp(sum(ln(greatest(1 - e.w, 1e-9)))))::real,
           array_agg(e.why ORDER BY e.w DESC, e.why)
      FROM evidence e
     WHERE e.cid <> ALL (coalesce(kept_apart, '{}'))
     GROUP BY e.cid
     ORDER BY 2 DESC, 1;
END
$$;
COMMENT ON FUNCTION customercard.duplicate_candidates(bigint) IS
    'Contacts that may be the same person as this one: score 0..1 and the reasons (shared phone, e-mail, channel id, visitor id, similar name), most likely first; pairs marked not_duplicates never appear';
-- bulk_enqueue: run_at must be finite (22007)
CREATE OR REPLACE FUNCTION customercard.bulk_enqueue(action text, params jsonb DEFAULT '{}', contact_ids bigint[] DEFAULT NULL,
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
        -- (the header first: Citus takes no sub-query in an INSERT's VALUES)
        header := customercard.export_header(checked -> 'custom_fields', ARRAY(SELECT jsonb_array_elements_text(checked -> 'groups')));
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data) VALUES (acct, job, 0, header);
    END IF;
    RETURN job;
END
$$;
COMMENT ON FUNCTION customercard.bulk_enqueue(text, jsonb, bigint[], jsonb, timestamptz) IS
    'Queue a bulk action over the given contacts or an audience filter (frozen now); returns the job id; CALL customercard.bulk_run() works it off';
CREATE OR REPLACE FUNCTION customercard.merge(survivor bigint, absorbed bigint, take_from_absorbed text[] DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.admin_account_id();
BEGIN
    IF survivor IS NULL OR absorbed IS NULL THEN
        RAISE EXCEPTION 'merge needs two contact ids'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.merge(survivor_id, absorbed_id).';
    END IF;
    IF survivor = absorbed THEN
        RAISE EXCEPTION 'contact % cannot be merged into itself', survivor
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass two different contacts: the survivor first, then the one it absorbs.';
    END IF;
    PERFORM customercard.merge_check_take(acct, coalesce(take_from_absorbed, '{}'));
    RETURN customercard.merge_retrying('SELECT * FROM customercard.merge_apply($1[1], $1[2], $1[3], $2)',
                                       ARRAY[acct, survivor, absorbed], coalesce(take_from_absorbed, '{}'));
END
$$;
COMMENT ON FUNCTION customercard.merge(bigint, bigint, text[]) IS
    'Merge the absorbed contact into the survivor: every row moves, colliding rows are combined, single-valued fields keep the survivor''s value unless named in take_from_absorbed (or empty); returns the merge id, which unmerge() takes';
CREATE OR REPLACE FUNCTION customercard.unmerge_apply(acct bigint, mid bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m customercard.merges;
    sec record;
    later bigint;
    absorbed_points bigint;
BEGIN
    PERFORM customercard.assert_account_here(acct, 'unmerge');
    SELECT * INTO m FROM customercard.merges g WHERE g.account_id = acct AND g.merge_id = mid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merge % does not exist in account %', mid, acct
            USING ERRCODE = 'undefined_object', HINT = 'List the merges of a contact in customercard.card_merges.';
    END IF;
    PERFORM customercard.lock_contact_pair(acct, m.survivor_id, m.absorbed_id);
    SELECT * INTO m FROM customercard.merges g WHERE g.account_id = acct AND g.merge_id = mid FOR UPDATE;
    IF m.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % was already undone at % by %', mid, m.undone_at, m.undone_by
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Nothing to do; to join the two contacts again, call customercard.merge() anew.';
    END IF;
    SELECT max(g.merge_id) INTO later FROM customercard.merges g
     WHERE g.account_id = acct AND g.merge_id > mid AND g.undone_at IS NULL
       AND (g.survivor_id IN (m.survivor_id, m.absorbed_id) OR g.absorbed_id IN (m.survivor_id, m.absorbed_id));
    IF later IS NOT NULL THEN
        RAISE EXCEPTION 'merge % cannot be undone while the later merge % of the same contacts stands', mid, later
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = format('Undo merge %s first: SELECT customercard.unmerge(%s);', later, later);
    END IF;

    PERFORM customercard.card_rewrite(true);
    -- moved rows go back (those deleted since are gone; those added since stay)
    PERFORM customercard.unmerge_moves(acct, m.survivor_id, m.absorbed_id, m.journal -> 'sections');
    FOR sec IN SELECT * FROM customercard.merge_sections() LOOP
        IF m.journal -> 'sections' -> sec.tbl ?| ARRAY['primary', 'deleted', 'before'] THEN
            PERFORM customercard.unmerge_section(acct, sec.tbl, sec.key, m.survivor_id, m.absorbed_id,
                                                 m.journal -> 'sections' -> sec.tbl);
        END IF;
    END LOOP;
    DELETE FROM customercard.not_duplicates n
     USING jsonb_array_elements(coalesce(m.journal -> 'not_duplicates_added', '[]')) p
     WHERE n.account_id = acct AND n.contact_a = (p.value ->> 0)::bigint AND n.contact_b = (p.value ->> 1)::bigint;

    -- the absorbed contact as it was; the survivor: each field not edited
    -- since, and its points less the absorbed's share
    PERFORM customercard.restore_rows(acct, 'contacts', 'contact_id', m.absorbed_id,
                                      jsonb_build_array(m.journal -> 'absorbed_before'), NULL);
    PERFORM customercard.restore_rows(acct, 'contacts', 'contact_id', m.survivor_id,
                                      jsonb_build_array((m.journal -> 'survivor_before') - 'points'),
                                      jsonb_build_array((m.journal -> 'survivor_after') - 'points'));
    absorbed_points := (m.journal -> 'absorbed_before' ->> 'points')::bigint;
    UPDATE customercard.contacts c SET points = c.points - absorbed_points
     WHERE c.account_id = acct AND c.contact_id = m.survivor_id AND absorbed_points <> 0;

    UPDATE customercard.merges g SET undone_at = now(), undone_by = customercard.current_actor()
     WHERE g.account_id = acct AND g.merge_id = mid;
    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    SELECT acct, x, 'unmerged', jsonb_build_object('merge_id', mid, 'survivor_id', m.survivor_id, 'absorbed_id', m.absorbed_id)
      FROM unnest(ARRAY[m.survivor_id, m.absorbed_id]) x;
    PERFORM customercard.card_rewrite(false);
    RETURN mid;
END
$$;
CREATE OR REPLACE FUNCTION customercard.unmerge(merge_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.admin_account_id();
BEGIN
    IF merge_id IS NULL THEN
        RAISE EXCEPTION 'unmerge needs a merge id'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.unmerge(merge_id), with the id merge() returned.';
    END IF;
    PERFORM customercard.merge_retrying('SELECT * FROM customercard.unmerge_apply($1[1], $1[2])', ARRAY[acct, merge_id]);
END
$$;
COMMENT ON FUNCTION customercard.unmerge(bigint) IS
    'Undo a merge: both contacts as they were, every moved row back with its owner, combined rows split again; rows added to the survivor since stay with it';
-- merge, unmerge and forget_contact do their work in one account in
-- functions that Citus delegates to the account's node: their statements in
-- forms Citus accepts (no STABLE function over columns in SET, none in
-- RETURNING), merge_combines regenerated from merge_sections()
DROP FUNCTION customercard.merge_combines(bigint, bigint, bigint, text[]);
DROP FUNCTION customercard.merge_moves(bigint, bigint, bigint);
DROP FUNCTION customercard.unmerge_moves(bigint, bigint, bigint, jsonb);

DROP FUNCTION customercard.merge_takes_field(bigint, bigint, text[]);

CREATE OR REPLACE FUNCTION customercard.account_is_here(account_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'account_is_here' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.account_is_here(bigint) IS
    'Whether this node holds the account''s rows: always on one node; on Citus, where its shards are';
CREATE OR REPLACE FUNCTION customercard.assert_account_here(acct bigint, what text) RETURNS void
    AS 'MODULE_PATHNAME', 'assert_account_here' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION customercard.forget_contact(contact_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.admin_account_id();
    live bigint;
BEGIN
    IF forget_contact.contact_id IS NULL THEN
        RAISE EXCEPTION 'forget_contact needs a contact id'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.forget_contact(contact_id).';
    END IF;
    live := customercard.resolve_contact(forget_contact.contact_id);
    -- in the FROM form, which Citus delegates to the account's node
    PERFORM * FROM customercard.forget_apply(acct, live);
END
$$;
COMMENT ON FUNCTION customercard.forget_contact(bigint) IS
    'Erase a person''s personal data (the card and every contact merged into it) and keep the anonymous facts: orders, sums, counts';
-- upsert_contact does its work in upsert_contact_in(account, data), which
-- Citus delegates to the account's node (0.2)
CREATE OR REPLACE FUNCTION customercard.upsert_contact_in(acct bigint, data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sub record;
    phones jsonb;
    emails jsonb;
    chans jsonb;
BEGIN
    PERFORM customercard.assert_upsert_account(acct);
    PERFORM customercard.assert_account_here(acct, 'upsert_contact');
    sub := customercard.upsert_check_shape(acct, data);
    phones := customercard.upsert_read_phones(acct, data);
    emails := customercard.upsert_read_emails(data);
    chans := customercard.upsert_read_channels(data);
    PERFORM customercard.upsert_check_values(acct, data);

    -- Serialize upserts that share an identifier, so two sessions cannot both
    -- create the same person (row locks in the account: upsert_lock()).
    PERFORM customercard.upsert_lock(acct,
        ARRAY(SELECT 'phone:' || (p ->> 'phone') FROM jsonb_array_elements(phones) p)
        || ARRAY(SELECT 'email:' || customercard.email_key(e ->> 'email') FROM jsonb_array_elements(emails) e)
        || ARRAY(SELECT 'channel:' || (c ->> 'kind') || ':' || (c ->> 'external_id') FROM jsonb_array_elements(chans) c));

    SELECT r.upserted_id, r.created INTO upserted_id, created
      FROM customercard.upsert_contact_row(acct, customercard.upsert_match(acct, data, phones, emails, chans), data) r;
    PERFORM customercard.upsert_phones_emails(acct, upserted_id, phones, emails);
    PERFORM customercard.upsert_channels(acct, upserted_id, chans);
    IF sub.sub_funnel IS NOT NULL THEN
        PERFORM customercard.upsert_subscription(acct, upserted_id, chans, sub.sub_funnel, sub.sub_lgt, data ->> 'source');
    END IF;
    PERFORM customercard.upsert_tags_custom(acct, upserted_id, data);
END
$$;
-- archive_action_log works account by account on a cluster (0.2)
CREATE OR REPLACE FUNCTION customercard.archive_action_log_of(acct bigint, before timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'archive_action_log_of' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.archive_action_log_of(bigint, timestamptz) IS
    'Internal to archive_action_log: one account''s rows, on the node holding it (delegated on Citus); for superusers';
CREATE OR REPLACE FUNCTION customercard.citus_delegated() RETURNS regprocedure[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['customercard.merge_apply(bigint, bigint, bigint, text[])',
                 'customercard.unmerge_apply(bigint, bigint)',
                 'customercard.forget_apply(bigint, bigint)',
                 'customercard.archive_action_log_of(bigint, timestamptz)',
                 'customercard.upsert_contact_in(bigint, jsonb)',
                 'customercard.log_event_in(bigint, bigint, text, jsonb)',
                 'customercard.bulk_batch_apply(bigint, bigint, bigint[])']::regprocedure[]
$$;
CREATE OR REPLACE FUNCTION customercard.citus_delegate() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY customercard.citus_delegated() LOOP
        PERFORM pg_catalog.create_distributed_function(f, 'acct', colocate_with => 'customercard.contacts',
                                                       force_delegation => true);
    END LOOP;
END
$$;
-- issue 17 (item 2): webinars (name, launch, starts/ends) and who registered
-- and came; visits belong to a webinar and keep the chat texts (its tables
-- before the declarations that name them).  0.1's visits named their
-- webinar by name and launch: each such webinar is made, its times unknown.
-- Webinars (JustClick's and GetCourse's): one row per launch, with when it
-- took place (unknown for one first met in a visit named as 0.1 named it).
CREATE TABLE customercard.webinars (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    webinar_id  bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 500),
    launch      integer CHECK (launch > 0),
    starts_at   timestamptz,
    ends_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, webinar_id),
    UNIQUE NULLS NOT DISTINCT (account_id, name, launch),
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
COMMENT ON TABLE customercard.webinars IS 'Webinars: name, launch number, when each starts and ends';

-- The trigger functions of visits and registrations (src/webinars.c).
CREATE OR REPLACE FUNCTION customercard.webinar_visit_links() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webinar_visit_links' LANGUAGE C;
CREATE OR REPLACE FUNCTION customercard.webinar_attendance() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webinar_attendance' LANGUAGE C;
ALTER TABLE customercard.webinar_visits ADD COLUMN webinar_id bigint, ADD COLUMN chat jsonb NOT NULL DEFAULT '[]';
INSERT INTO customercard.webinars (account_id, name, launch)
SELECT DISTINCT v.account_id, v.webinar, v.launch FROM customercard.webinar_visits v;
-- (the visits take their webinar unlogged: nothing about them changed)
ALTER TABLE customercard.webinar_visits DISABLE TRIGGER USER;
UPDATE customercard.webinar_visits v SET webinar_id = w.webinar_id
  FROM customercard.webinars w
 WHERE w.account_id = v.account_id AND w.name = v.webinar AND w.launch IS NOT DISTINCT FROM v.launch;
ALTER TABLE customercard.webinar_visits ENABLE TRIGGER USER;
ALTER TABLE customercard.webinar_visits ALTER COLUMN webinar_id SET NOT NULL,
    ADD FOREIGN KEY (account_id, webinar_id) REFERENCES customercard.webinars,
    ADD CHECK (chat_messages >= pg_catalog.jsonb_array_length(chat));
CREATE INDEX webinar_visits_webinar ON customercard.webinar_visits (account_id, webinar_id, contact_id);
COMMENT ON TABLE customercard.webinar_visits IS
    'Webinar viewing intervals: which webinar and launch, joined/left, seconds watched, the chat texts written and how many';
CREATE TRIGGER webinar_visit_links BEFORE INSERT OR UPDATE ON customercard.webinar_visits
    FOR EACH ROW EXECUTE FUNCTION customercard.webinar_visit_links();

-- Who registered for a webinar, and whether they came: attended is set by
-- the writer, and by the first visit of the webinar recorded (before or
-- after the registration).
CREATE TABLE customercard.webinar_registrations (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    webinar_id      bigint NOT NULL,
    contact_id      bigint NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attended        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (account_id, webinar_id, contact_id),
    FOREIGN KEY (account_id, webinar_id) REFERENCES customercard.webinars,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX webinar_registrations_contact ON customercard.webinar_registrations (account_id, contact_id);
COMMENT ON TABLE customercard.webinar_registrations IS 'Registrations for webinars: when, and whether the person attended';
CREATE TRIGGER webinar_registration_attended BEFORE INSERT ON customercard.webinar_registrations
    FOR EACH ROW EXECUTE FUNCTION customercard.webinar_attendance();
CREATE TRIGGER webinar_visit_attended AFTER INSERT OR UPDATE OF webinar_id ON customercard.webinar_visits
    FOR EACH ROW EXECUTE FUNCTION customercard.webinar_attendance();

DO $setup$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webinars', 'webinar_registrations'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE customercard.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY account_isolation ON customercard.%I '
            'USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id())) '
            'WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))', t);
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('customercard.%I', t)::regclass, '');
        EXECUTE pg_catalog.format('REVOKE ALL ON customercard.%I FROM PUBLIC', t);
        EXECUTE pg_catalog.format('GRANT SELECT ON customercard.%I TO customercard_reader', t);
    END LOOP;
END
$setup$;
SELECT pg_catalog.pg_extension_config_dump('customercard.webinars_webinar_id_seq', '');

-- issue 17: the dialog history, a section (its table before the declarations that name it)
-- Dialogs (GetCourse's "requests", Leeloo's chats): every message between
-- the person and the account, in threads; incoming ones are the person's,
-- outgoing ones a manager's or a bot's (author: who wrote or recorded it,
-- the session's actor).
CREATE TABLE customercard.messages (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    message_id  bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    thread      text NOT NULL DEFAULT 'main' CHECK (pg_catalog.length(thread) BETWEEN 1 AND 200),
    channel_id  bigint,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    body        text NOT NULL DEFAULT '' CHECK (pg_catalog.length(body) <= 100000),
    attachments text[] NOT NULL DEFAULT '{}',
    author      text NOT NULL DEFAULT customercard.current_actor(),
    sent_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    read_at     timestamptz,
    PRIMARY KEY (account_id, message_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, channel_id) REFERENCES customercard.channels,
    CHECK (body <> '' OR attachments <> '{}'),
    CHECK (read_at IS NULL OR read_at >= sent_at)
);
CREATE INDEX messages_contact ON customercard.messages (account_id, contact_id, sent_at DESC);
CREATE INDEX messages_channel ON customercard.messages (account_id, channel_id) WHERE channel_id IS NOT NULL;
-- the audience's has_unread filter
CREATE INDEX messages_unread ON customercard.messages (account_id, contact_id) WHERE direction = 'in' AND read_at IS NULL;
COMMENT ON TABLE customercard.messages IS
    'Dialog messages with a contact, in threads: direction in (the person''s) or out (a manager''s or bot''s), body, attachments, sent and read times';
ALTER TABLE customercard.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_isolation ON customercard.messages
    USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))
    WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()));
SELECT pg_catalog.pg_extension_config_dump('customercard.messages', '');
SELECT pg_catalog.pg_extension_config_dump('customercard.messages_message_id_seq', '');

CREATE OR REPLACE VIEW customercard.card_messages WITH (security_invoker = true) AS
SELECT ms.contact_id, ms.message_id, ms.thread, ms.channel_id, ch.kind AS channel_kind, ch.connection,
       ms.direction, ms.body, ms.attachments, ms.author, ms.sent_at, ms.read_at,
       ms.direction = 'in' AND ms.read_at IS NULL AS is_unread,
       ms.account_id
  FROM customercard.messages ms
  LEFT JOIN customercard.channels ch ON ch.account_id = ms.account_id AND ch.channel_id = ms.channel_id
 WHERE ms.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]);
COMMENT ON VIEW customercard.card_messages IS
    'Dialog messages of each contact with their thread and channel: direction, body, attachments, author, sent and read, unread incoming ones marked';
-- issue 14: the card's sections, declared once (src/sql/17_sections.sql)
-- One row per section: the table, what one row is called in the log's
-- descriptions, and the rest of its declaration as JSON (docs/sections.md
-- names every key; test/tap/sections.sql refuses a missing or unknown one):
--   writes        what customercard_manager may do to it (INSERT and UPDATE on
--                 every column but the system-set ones, see grant_writes());
--   system_set    its columns only the extension writes (attribution: who and
--                 when, merged_into, forgotten_at), besides ids from sequences;
--   personal      its columns that hold the person's data: scrubbed out of its
--                 row_added / row_changed / row_deleted log events by
--                 forget_contact, erased by forget "erase";
--   key           the column that tells one contact's rows apart (the primary
--                 key, or its other half); merges move rows by it;
--   match/assign  where two contacts' rows collide on a merge (s = survivor's
--                 row, a = absorbed's) and how the survivor's takes in the
--                 absorbed's ($4: the custom fields take_from_absorbed names);
--                 without them rows just move to the survivor;
--   primary       one primary row per contact: the expression rows are
--                 compared by, and the take_from_absorbed name that prefers
--                 the absorbed's primary;
--   forget        what forget_contact does to its rows: delete, keep, or erase
--                 (personal columns NULL, forget_set's assignments over them;
--                 rows whose values are already so untouched, or forget_where);
--   scrub_values  expressions over a row t of the person's values to look for
--                 in the log (default: its personal columns);
--   card          its blocks of card_json: key, the relation it reads (with
--                 contact_id and account_id), order (over v), and columns
--                 (default all but the ids), limit (the first n), one (an
--                 object, not a list) or object ([key, value] columns: one
--                 JSON object);
--   export        the columns of export_rows it gives.
-- These fragments are fixed text of this file, never input: the log
-- triggers, grants, merge, unmerge, forget, card_json and the section checks
-- are generated from them.
CREATE OR REPLACE FUNCTION customercard.section_declarations(OUT tbl text, OUT label text, OUT decl jsonb)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $declarations$
    SELECT * FROM (VALUES
    ('contacts', 'Contact', $${
        "writes": ["INSERT", "UPDATE"], "system_set": ["merged_into", "forgotten_at"],
        "personal": ["name", "first_name", "last_name", "middle_name", "nickname", "avatar_url", "gender",
                     "gender_source", "timezone", "city", "ip", "note"],
        "forget": "erase",
        "forget_set": {"forgotten_at": "coalesce(t.forgotten_at, erased_at)", "updated_at": "erased_at"},
        "forget_where": "true",
        "scrub_values": ["t.name", "t.first_name", "t.last_name", "t.middle_name", "t.nickname", "t.avatar_url",
                         "host(t.ip)", "t.note"],
        "card": [{"key": "card", "from": "card", "one": true},
                 {"key": "contact", "from": "contacts", "one": true}],
        "export": ["contact_id", "name", "status", "created_at_utc"]}$$::jsonb),
    ('phones', 'Phone', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["phone", "raw"],
        "key": "phone_id", "match": "s.phone OPERATOR(customercard.=) a.phone",
        "primary": {"expr": "t.phone", "take": "phone"},
        "forget": "delete", "scrub_values": ["t.phone::text", "t.raw"],
        "card": [{"key": "phones", "from": "phones", "columns": ["phone", "raw", "kind", "is_primary"],
                  "order": "v.is_primary DESC, v.phone_id"}],
        "export": ["phone"]}$$),
    ('emails', 'E-mail', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["email", "raw"],
        "key": "email_id", "match": "customercard.email_key(s.email) = customercard.email_key(a.email)",
        "primary": {"expr": "customercard.email_key(t.email)", "take": "email"},
        "forget": "delete",
        "card": [{"key": "emails", "from": "emails", "columns": ["email", "raw", "is_primary", "status"],
                  "order": "v.is_primary DESC, v.email_id"}],
        "export": ["email"]}$$),
    ('addresses', 'Address', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["country", "region", "city", "zip", "line"],
        "key": "address_id", "forget": "delete", "scrub_values": ["t.line", "t.zip"],
        "card": [{"key": "addresses", "from": "addresses", "order": "v.address_id"}],
        "export": []}$$),
    ('channels', 'Channel', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["external_id", "username", "avatar_url"],
        "key": "channel_id",
        "forget": "erase",
        "forget_set": {"external_id": "'forgotten-' || t.channel_id::text", "updated_at": "erased_at"},
        "card": [{"key": "channels", "from": "card_channels", "order": "v.channel_id"}],
        "export": ["channel", "connection", "social_id"]}$$),
    ('contact_tags', 'Tag', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "system_set": ["added_by", "added_at"],
        "key": "tag_id", "match": "s.tag_id = a.tag_id",
        "assign": "added_at = LEAST(s.added_at, a.added_at), added_by = CASE WHEN a.added_at < s.added_at THEN a.added_by ELSE s.added_by END",
        "forget": "keep",
        "card": [{"key": "tags", "from": "card_tags", "columns": ["tag", "added_at", "added_by"], "order": "v.tag"}],
        "export": ["tags"]}$$),
    ('custom_values', 'Custom field value', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["value"],
        "key": "field_id", "match": "s.field_id = a.field_id",
        "assign": "value = CASE WHEN s.value = '' OR s.field_id = ANY ($4) THEN a.value ELSE s.value END, updated_at = CASE WHEN s.value = '' OR s.field_id = ANY ($4) THEN a.updated_at ELSE s.updated_at END",
        "forget": "delete",
        "card": [{"key": "custom", "from": "card_custom_values", "object": ["field", "value"]}],
        "export": ["custom"]}$$),
    -- a row is one period: two open periods of the same funnel, channel and
    -- LGT are one subscription; ended ones are history and just move
    ('subscriptions', 'Subscription', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"],
        "key": "subscription_id",
        "match": "s.funnel_id = a.funnel_id AND s.channel_id IS NOT DISTINCT FROM a.channel_id AND s.lgt_id IS NOT DISTINCT FROM a.lgt_id AND s.unsubscribed_at IS NULL AND a.unsubscribed_at IS NULL",
        "assign": "subscribed_at = LEAST(s.subscribed_at, a.subscribed_at), block_id = coalesce(s.block_id, a.block_id), source = coalesce(s.source, a.source), visitor_id = coalesce(s.visitor_id, a.visitor_id)",
        "forget": "erase",
        "card": [{"key": "subscriptions", "from": "card_subscriptions", "order": "v.subscribed_at, v.subscription_id"},
                 {"key": "subscription_history", "from": "card_subscription_history", "order": "v.subscribed_at DESC, v.subscription_id DESC"}],
        "export": []}$$),
    ('orders', 'Order', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "order_id", "forget": "erase",
        "card": [{"key": "orders", "from": "card_orders", "order": "v.created_at DESC, v.order_id DESC"},
                 {"key": "finance", "from": "card_finance", "order": "v.currency"}],
        "export": []}$$),
    ('payments', 'Payment', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "system_set": ["confirmed_by", "confirmed_at"], "personal": ["visitor_id"],
        "key": "payment_id", "forget": "erase",
        "card": [{"key": "payments", "from": "card_payments", "order": "v.created_at DESC, v.payment_id DESC"}],
        "export": []}$$),
    ('sales_plan_members', 'Sales plan membership', $${
        "writes": ["INSERT", "UPDATE", "DELETE"],
        "key": "plan_id", "match": "s.plan_id = a.plan_id",
        "assign": "status = CASE WHEN s.status = 'new' THEN a.status ELSE s.status END, amount = coalesce(s.amount, a.amount), manager_pinned = CASE WHEN s.manager_id IS NULL THEN a.manager_pinned ELSE s.manager_pinned END, manager_id = coalesce(s.manager_id, a.manager_id), added_at = LEAST(s.added_at, a.added_at)",
        "forget": "keep",
        "card": [{"key": "sales_plans", "from": "card_sales_plans", "order": "v.added_at, v.plan_id"}],
        "export": []}$$),
    ('tasks', 'Task', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "key": "task_id", "forget": "keep",
        "card": [{"key": "tasks", "from": "card_tasks", "order": "v.is_current DESC, v.due_at, v.task_id"},
                 {"key": "upcoming", "from": "card_upcoming", "order": "v.at, v.kind, v.ref_id"}],
        "export": []}$$),
    ('calls', 'Call', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["recording_url"], "key": "call_id", "forget": "erase",
        "card": [{"key": "calls", "from": "card_calls", "order": "v.started_at DESC, v.call_id DESC"},
                 {"key": "order_calls", "from": "card_order_calls", "order": "v.started_at DESC, v.call_id DESC"}],
        "export": []}$$),
    ('call_campaign_members', 'Call campaign membership', $${
        "writes": ["INSERT", "UPDATE", "DELETE"],
        "key": "campaign_id", "match": "s.campaign_id = a.campaign_id",
        "assign": "included_at = LEAST(s.included_at, a.included_at), call_back_at = coalesce(s.call_back_at, a.call_back_at), comment = coalesce(s.comment, a.comment), manager_id = coalesce(s.manager_id, a.manager_id)",
        "forget": "keep",
        "card": [{"key": "call_campaigns", "from": "card_call_campaigns", "order": "v.included_at, v.campaign_id"}],
        "export": []}$$),
    ('webinar_visits', 'Webinar visit', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id", "chat"], "key": "visit_id",
        "forget": "erase", "forget_set": {"chat": "'[]'"}, "scrub_values": ["t.visitor_id"],
        "card": [{"key": "webinars", "from": "card_webinars", "order": "coalesce(v.joined_at, v.starts_at, v.registered_at) DESC, v.webinar_id DESC, v.visit_id DESC"}],
        "export": []}$$),
    ('webinar_registrations', 'Webinar registration', $${
        "writes": ["INSERT", "UPDATE", "DELETE"],
        "key": "webinar_id", "match": "s.webinar_id = a.webinar_id",
        "assign": "registered_at = LEAST(s.registered_at, a.registered_at), attended = s.attended OR a.attended",
        "forget": "keep",
        "card": [{"key": "webinar_registrations", "from": "card_webinar_registrations", "order": "coalesce(v.starts_at, v.registered_at) DESC, v.webinar_id DESC"}],
        "export": []}$$),
    ('page_visits', 'Page visit', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "visit_id", "forget": "erase",
        "card": [{"key": "visits", "from": "card_visits", "order": "v.visited_at DESC, v.visit_id DESC"}],
        "export": []}$$),
    ('clicks', 'Click', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "click_id", "forget": "erase",
        "card": [{"key": "clicks", "from": "card_clicks", "order": "v.clicked_at DESC, v.click_id DESC"}],
        "export": []}$$),
    ('emails_sent', 'E-mail sent', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "email_sent_id", "forget": "erase",
        "card": [{"key": "emails_sent", "from": "card_emails", "order": "v.sent_at DESC, v.email_sent_id DESC"}],
        "export": []}$$),
    -- the earlier joining keeps its attribution (partner, tag, UTM, visitor);
    -- a member of either is a member (active over unconfirmed over unsubscribed)
    ('group_members', 'Group membership', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"],
        "key": "group_id", "match": "s.group_id = a.group_id",
        "assign": "joined_at = LEAST(s.joined_at, a.joined_at), partner = CASE WHEN a.joined_at < s.joined_at THEN a.partner ELSE s.partner END, tag = CASE WHEN a.joined_at < s.joined_at THEN a.tag ELSE s.tag END, utm_source = CASE WHEN a.joined_at < s.joined_at THEN a.utm_source ELSE s.utm_source END, utm_medium = CASE WHEN a.joined_at < s.joined_at THEN a.utm_medium ELSE s.utm_medium END, utm_campaign = CASE WHEN a.joined_at < s.joined_at THEN a.utm_campaign ELSE s.utm_campaign END, visitor_id = CASE WHEN a.joined_at < s.joined_at THEN a.visitor_id ELSE s.visitor_id END, utm_ad = CASE WHEN a.joined_at < s.joined_at THEN a.utm_ad ELSE s.utm_ad END, utm_keys = CASE WHEN a.joined_at < s.joined_at THEN a.utm_keys ELSE s.utm_keys END, status = CASE WHEN 'active' IN (s.status, a.status) THEN 'active' WHEN 'unconfirmed' IN (s.status, a.status) THEN 'unconfirmed' ELSE s.status END, left_at = CASE WHEN 'active' IN (s.status, a.status) OR 'unconfirmed' IN (s.status, a.status) THEN NULL ELSE GREATEST(s.left_at, a.left_at) END",
        "forget": "erase",
        "card": [{"key": "groups", "from": "card_groups", "order": "v.joined_at, v.group_id"}],
        "export": []}$$),
    ('messages', 'Message', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "system_set": ["author"],
        "personal": ["body", "attachments"], "key": "message_id",
        "forget": "erase", "forget_set": {"body": "'(erased on request)'", "attachments": "'{}'"},
        "scrub_values": ["t.body"],
        "card": [{"key": "messages", "from": "card_messages", "order": "v.sent_at DESC, v.message_id DESC", "limit": 100}],
        "export": []}$$),
    -- append-only: written once, never changed (their guards)
    ('comments', 'Comment', $${
        "writes": ["INSERT"], "system_set": ["author", "created_at"], "personal": ["body"], "key": "comment_id",
        "forget": "erase", "forget_set": {"body": "'(erased on request)'", "attachments": "'{}'"},
        "card": [{"key": "comments", "from": "card_comments", "order": "v.created_at DESC, v.comment_id DESC"}],
        "export": []}$$),
    ('balance_transactions', 'Balance transaction', $${
        "writes": ["INSERT"], "system_set": ["actor", "at"], "key": "transaction_id", "forget": "keep",
        "card": [{"key": "balance", "from": "card_balance", "order": "v.currency"},
                 {"key": "balance_ledger", "from": "card_balance_ledger", "order": "v.at DESC, v.transaction_id DESC", "limit": 100}],
        "export": []}$$)
    ) v (tbl, label, decl)
$declarations$;
-- The declarations as columns.
CREATE OR REPLACE FUNCTION customercard.card_sections(OUT tbl text, OUT label text, OUT writes text[], OUT personal text[],
                                           OUT key text, OUT match text, OUT assign text,
                                           OUT primary_expr text, OUT take_name text,
                                           OUT forget text, OUT forget_set jsonb, OUT forget_where text,
                                           OUT scrub_values text[], OUT card jsonb, OUT export text[],
                                           OUT system_set text[])
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT d.tbl, d.label,
           ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'writes')),
           CASE WHEN d.decl ? 'personal' THEN ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'personal')) END,
           d.decl ->> 'key', d.decl ->> 'match', d.decl ->> 'assign',
           d.decl -> 'primary' ->> 'expr', d.decl -> 'primary' ->> 'take',
           d.decl ->> 'forget', coalesce(d.decl -> 'forget_set', '{}'), d.decl ->> 'forget_where',
           CASE WHEN d.decl ? 'scrub_values' THEN ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'scrub_values'))
                ELSE ARRAY(SELECT 't.' || quote_ident(p) || '::text' FROM jsonb_array_elements_text(d.decl -> 'personal') p) END,
           coalesce(d.decl -> 'card', '[]'),
           ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'export')),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(d.decl -> 'system_set', '[]')))
      FROM customercard.section_declarations() d
$$;
COMMENT ON FUNCTION customercard.card_sections() IS
    'The card''s sections, declared once (section_declarations()): the log triggers, grants, merge, unmerge, forget, card_json and the log''s descriptions follow from this list';
-- The person's data on the contact row: what forget_contact erases there
-- (and out of the log), what a merge's journal keeps no copy of once
-- forgotten.
CREATE OR REPLACE FUNCTION customercard.personal_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s.personal FROM customercard.card_sections() s WHERE s.tbl OPERATOR(pg_catalog.=) 'contacts'
$$;
-- Tables with a contact's rows that are not card sections, and why; a
-- merge moves the log's rows too (by merge_key).
CREATE OR REPLACE FUNCTION customercard.card_not_sections(OUT tbl text, OUT why text, OUT merge_key text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT * FROM (VALUES
        ('action_log', 'the log itself', 'log_id'),
        ('action_log_archive', 'the log''s archive', 'log_id'),
        ('bulk_job_items', 'a bulk job''s selection', NULL),
        ('bulk_job_failures', 'a bulk job''s failures', NULL),
        ('bulk_job_rows', 'an import job''s rows and their outcome (the report says which contact a row became)', NULL),
        ('bulk_job_journal', 'what a bulk job changed, for bulk_undo (kept under the contact changed: the undo follows its merges; forget scrubs the images)', NULL)) v (tbl, why, merge_key)
$$;
-- A section's row (or its changed fields) in a log event without the
-- person's data: the section's personal columns, and any text equal to one
-- of the person's values (personal, lower case), become null.
CREATE OR REPLACE FUNCTION customercard.scrub_section_values(tbl text, vals jsonb, personal text[], changed boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(v.key,
               CASE WHEN v.key = ANY (coalesce((SELECT s.personal FROM customercard.card_sections() s WHERE s.tbl OPERATOR(pg_catalog.=) scrub_section_values.tbl), '{}'))
                    THEN CASE WHEN changed THEN '{"old": null, "new": null}'::jsonb ELSE 'null'::jsonb END
                    WHEN changed THEN (SELECT jsonb_object_agg(o.key,
                                                  CASE WHEN jsonb_typeof(o.value) = 'string' AND lower(o.value #>> '{}') = ANY (personal)
                                                       THEN 'null'::jsonb ELSE o.value END)
                                         FROM jsonb_each(v.value) o)
                    WHEN jsonb_typeof(v.value) = 'string' AND lower(v.value #>> '{}') = ANY (personal) THEN 'null'::jsonb
                    ELSE v.value END), '{}')
      FROM jsonb_each(vals) v
$$;
-- What a row of a section is called, for the log's descriptions.

-- issue 14: columns the extension sets are refused to every role's INSERT and UPDATE (column privileges from system_set_columns())
CREATE OR REPLACE FUNCTION customercard.system_set_columns() RETURNS TABLE (tbl regclass, col name)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attrelid::regclass, a.attname
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid AND d.adnum OPERATOR(pg_catalog.=) a.attnum
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
       AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) OPERATOR(pg_catalog.~) '^nextval\('
    UNION ALL
    -- the sections' as they declare them (card_sections()), then the event
    -- kinds' (of the tables there are: an upgrade script grants as it goes)
    SELECT x.t, x.c FROM (
        SELECT pg_catalog.to_regclass(pg_catalog.format('customercard.%I', s.tbl)) AS t, c::name AS c
          FROM customercard.card_sections() s, pg_catalog.unnest(s.system_set) c
        UNION ALL
        SELECT pg_catalog.to_regclass('customercard.event_kinds'), v.c::name
          FROM (VALUES ('registered_by'), ('registered_at')) v (c)) x
     WHERE x.t IS NOT NULL
$$;
COMMENT ON FUNCTION customercard.system_set_columns() IS
    'The columns the extension sets and no role writes: ids from sequences, those the sections declare (merged_into, forgotten_at, the author/actor/time of comments, tags, ledger rows, messages) and the event kinds'' registration';
CREATE OR REPLACE FUNCTION customercard.grant_writes(role regrole, privileges text[], tables regclass[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t regclass;
    p text;
    cols text;
BEGIN
    IF NOT privileges OPERATOR(pg_catalog.<@) ARRAY['INSERT', 'UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'grant_writes grants INSERT, UPDATE and DELETE only' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH t IN ARRAY tables LOOP
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) t AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
           AND NOT EXISTS (SELECT 1 FROM customercard.system_set_columns() s
                            WHERE s.tbl OPERATOR(pg_catalog.=) t AND s.col OPERATOR(pg_catalog.=) a.attname);
        FOREACH p IN ARRAY privileges LOOP
            IF p OPERATOR(pg_catalog.=) 'DELETE' THEN
                EXECUTE pg_catalog.format('GRANT DELETE ON %s TO %s', t, role);
            ELSE
                EXECUTE pg_catalog.format('GRANT %s (%s) ON %s TO %s', p, cols, t, role);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
-- 0.1 granted INSERT and UPDATE on whole tables

-- the card's sections as card_sections() declares them; payouts (an
-- order's, no contact's), new tags and pairs judged different besides

-- webinars: managers set them up (a visit named by a webinar not yet known makes it)

-- a task becomes done by its status alone
CREATE OR REPLACE FUNCTION customercard.task_done_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status OPERATOR(pg_catalog.=) 'done' THEN
        NEW.done_at := coalesce(NEW.done_at, pg_catalog.now());
    ELSE
        NEW.done_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_done_at BEFORE INSERT OR UPDATE ON customercard.tasks
    FOR EACH ROW EXECUTE FUNCTION customercard.task_done_at();
CREATE OR REPLACE FUNCTION customercard.citus_shard_grants() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    FOR r IN SELECT DISTINCT pg_catalog.to_regclass(pg_catalog.format('%I.%I', ns.nspname, c.relname OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) s.shardid)) AS shard,
                    x.grantee::regrole AS grantee
               FROM pg_catalog.pg_dist_shard s
               JOIN pg_catalog.pg_dist_placement pl ON pl.shardid OPERATOR(pg_catalog.=) s.shardid
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.logicalrelid
               JOIN pg_catalog.pg_namespace ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace
               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attacl IS NOT NULL
              CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) x
              WHERE ns.nspname OPERATOR(pg_catalog.=) 'customercard'
                AND pl.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)
                AND x.privilege_type OPERATOR(pg_catalog.=) 'INSERT' LOOP
        CONTINUE WHEN r.shard IS NULL;
        EXECUTE pg_catalog.format('GRANT INSERT ON %s TO %s', r.shard, r.grantee);
        n := n + 1;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
    RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION customercard.citus_widen_inserts(widen boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    FOR r IN SELECT DISTINCT s.tbl, s.col, x.grantee::regrole AS grantee
               FROM customercard.system_set_columns() s
               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) s.tbl AND a.attacl IS NOT NULL
              CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) x
              WHERE x.privilege_type OPERATOR(pg_catalog.=) 'INSERT' LOOP
        IF widen THEN
            EXECUTE pg_catalog.format('GRANT INSERT (%I) ON %s TO %s', r.col, r.tbl, r.grantee);
        ELSE
            EXECUTE pg_catalog.format('REVOKE INSERT (%I) ON %s FROM %s', r.col, r.tbl, r.grantee);
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
END
$$;
-- the sections 0.1 did not log
DO $triggers$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT s.tbl FROM customercard.card_sections() s
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                                 WHERE g.tgrelid OPERATOR(pg_catalog.=) ('customercard.' OPERATOR(pg_catalog.||) s.tbl)::regclass
                                   AND g.tgname OPERATOR(pg_catalog.=) 'log_insert')
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER log_insert AFTER INSERT ON customercard.%I '
            'FOR EACH ROW EXECUTE FUNCTION customercard.log_change(%L)', t, t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER zz_log_change BEFORE UPDATE OR DELETE ON customercard.%I '
            'FOR EACH ROW EXECUTE FUNCTION customercard.log_change(%L)', t, t);
    END LOOP;
END
$triggers$;

CREATE OR REPLACE FUNCTION customercard.scrub_details(event text, details jsonb, personal text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(e.key,
               CASE WHEN e.key = 'row' AND event IN ('row_added', 'row_deleted')
                    THEN customercard.scrub_section_values(details ->> 'section', e.value, personal, false)
                    WHEN e.key = 'fields' AND event = 'row_changed'
                    THEN customercard.scrub_section_values(details ->> 'section', e.value, personal, true)
                    WHEN e.key IN ('old', 'new')
                         AND (event = 'custom_field_set'
                              OR (event = 'field_changed'
                                  AND details ->> 'field' = ANY (customercard.personal_fields() || ARRAY['phone', 'email'])))
                    THEN 'null'::jsonb
                    WHEN jsonb_typeof(e.value) = 'string' AND lower(e.value #>> '{}') = ANY (personal)
                    THEN 'null'::jsonb
                    ELSE e.value END), '{}')
      FROM jsonb_each(details) e
$$;
-- A row_changed event's fields, "field "old" → "new", ...".  Its own
-- function: with no sub-query left in describe_event, the planner inlines
-- describe_event into card_log (a function call per log row was ~25 µs).
CREATE OR REPLACE FUNCTION customercard.describe_fields(fields jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT pg_catalog.string_agg(f.key || coalesce(' "' || (f.value ->> 'old') || '"', ' (none)') || ' → '
                                 || coalesce('"' || (f.value ->> 'new') || '"', '(none)'), ', ' ORDER BY f.key)
      FROM pg_catalog.jsonb_each(fields) f
$$;
CREATE OR REPLACE FUNCTION customercard.describe_event(event text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE event
        WHEN 'call' THEN 'Call: ' || coalesce(details ->> 'result', 'made')
        WHEN 'subscribed' THEN 'Subscribed to ' || coalesce(details ->> 'funnel', 'a funnel')
        WHEN 'unsubscribed' THEN 'Unsubscribed from ' || coalesce(details ->> 'funnel', 'a funnel')
        WHEN 'payment_succeeded' THEN 'Payment of ' || coalesce(details ->> 'amount', '?') || coalesce(' ' || (details ->> 'currency'), '') || ' succeeded'
        WHEN 'payment_failed' THEN 'Payment failed' || coalesce(': ' || (details ->> 'error_code'), '')
        WHEN 'payment_confirmed' THEN 'Payment of ' || coalesce(details ->> 'amount', '?') || ' confirmed'
                                      || coalesce(' by manager ' || (details ->> 'confirmed_by'), '')
        WHEN 'task_created' THEN 'Task created: ' || coalesce(details ->> 'title', '')
        WHEN 'task_done' THEN 'Task done: ' || coalesce(details ->> 'title', '')
        WHEN 'task_rescheduled' THEN 'Task rescheduled to ' || coalesce(details ->> 'due_at', '?')
        WHEN 'order_created' THEN 'Order ' || coalesce(details ->> 'number', '') || ' created'
        WHEN 'order_status_changed' THEN 'Order ' || coalesce(details ->> 'number', '') || ': ' || coalesce(details ->> 'old', '?') || ' → ' || coalesce(details ->> 'new', '?')
        WHEN 'sales_plan_added' THEN 'Added to sales plan ' || coalesce(details ->> 'plan', '')
        WHEN 'webinar_viewed' THEN 'Watched webinar ' || coalesce(details ->> 'webinar', '')
        WHEN 'membership' THEN 'Joined group ' || coalesce(details ->> 'group', '')
        WHEN 'merged' THEN CASE WHEN details ->> 'role' = 'absorbed'
                                THEN 'Merged into contact ' || coalesce(details ->> 'survivor_id', '?')
                                ELSE 'Merged with contact ' || coalesce(details ->> 'absorbed_id', details ->> 'survivor_id', '?') END
        WHEN 'unmerged' THEN 'Merge ' || coalesce(details ->> 'merge_id', '') || ' undone'
        WHEN 'tag_added' THEN 'Tag added: ' || coalesce(details ->> 'tag', '')
        WHEN 'tag_removed' THEN 'Tag removed: ' || coalesce(details ->> 'tag', '')
        WHEN 'channel_created' THEN 'Channel created: ' || coalesce(details ->> 'kind', '')
        WHEN 'channel_deleted' THEN 'Channel deleted: ' || coalesce(details ->> 'kind', '')
        WHEN 'custom_field_set' THEN 'Field ' || coalesce(details ->> 'field', '') || coalesce(' set to "' || (details ->> 'new') || '"', ' cleared')
        WHEN 'field_changed' THEN
            CASE WHEN details ->> 'old' IS NULL AND details ->> 'new' IS NOT NULL
                      THEN 'Set ' || coalesce(details ->> 'field', 'a field') || ' to "' || (details ->> 'new') || '"'
                 WHEN details ->> 'new' IS NULL AND details ->> 'old' IS NOT NULL
                      THEN 'Removed ' || coalesce(details ->> 'field', 'a field') || ' "' || (details ->> 'old') || '"'
                 ELSE 'Changed ' || coalesce(details ->> 'field', 'a field') || coalesce(' from "' || (details ->> 'old') || '"', '')
                      || coalesce(' to "' || (details ->> 'new') || '"', '') END
        WHEN 'archived' THEN 'Archived'
        WHEN 'unarchived' THEN 'Unarchived'
        WHEN 'contact_created' THEN 'Contact created'
        WHEN 'contact_deleted' THEN 'Contact deleted'
        WHEN 'page_visited' THEN 'Visited ' || coalesce(details ->> 'url', 'a page')
        WHEN 'comment_added' THEN 'Comment added'
        WHEN 'crm_exported' THEN 'Exported to ' || coalesce(details ->> 'crm', 'another CRM')
        WHEN 'forgotten' THEN 'Personal data erased'
        WHEN 'row_added' THEN customercard.section_label(details ->> 'section') || ' added'
        WHEN 'row_deleted' THEN customercard.section_label(details ->> 'section') || ' deleted'
        WHEN 'row_changed' THEN customercard.section_label(details ->> 'section') || ' changed: '
             || customercard.describe_fields(details -> 'fields')
        ELSE event END
$$;
COMMENT ON FUNCTION customercard.describe_event(text, jsonb) IS 'A human description of an action log event';
-- bind_role binds only roles the caller administers, never the shared customercard_* roles
CREATE OR REPLACE FUNCTION customercard.administers(caller regrole, role regrole) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.rolsuper
           OR (c.rolcreaterole AND NOT r.rolsuper)
           OR pg_catalog.pg_has_role(caller::oid, role::oid, 'MEMBER WITH ADMIN OPTION')
      FROM pg_catalog.pg_roles c, pg_catalog.pg_roles r
     WHERE c.oid OPERATOR(pg_catalog.=) caller::oid AND r.oid OPERATOR(pg_catalog.=) role::oid
$$;
CREATE OR REPLACE FUNCTION customercard.bind_role(role regrole, account_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL OR account_id IS NULL THEN
        RAISE EXCEPTION 'bind_role needs a role and an account'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.bind_role(''role_name'', account_id).';
    END IF;
    PERFORM customercard.assert_account_admin(account_id);
    -- a binding lets the role and all its members act in the account: only
    -- a role the caller administers, never a shared role of the extension
    IF (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) role::oid)
       OPERATOR(pg_catalog.=) ANY (ARRAY['customercard_reader', 'customercard_manager', 'customercard_admin', 'customercard_app']) THEN
        RAISE EXCEPTION 'role % is shared by every account and cannot be bound to one', role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Bind the account''s own roles (a group role of its staff, or their logins).';
    END IF;
    IF NOT customercard.administers(customercard.calling_role(), role) THEN
        RAISE EXCEPTION 'role % may not bind role %: it does not administer it', customercard.calling_role(), role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Bind roles you created or hold WITH ADMIN OPTION; a superuser can grant that.';
    END IF;
    INSERT INTO customercard.role_bindings (account_id, role)
    VALUES (bind_role.account_id, bind_role.role)
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION customercard.bind_role(regrole, bigint) IS
    'Let a role (and its members) act in an account; a role may be bound to several accounts';
CREATE OR REPLACE PROCEDURE customercard.bulk_run(max_runtime interval DEFAULT '50 seconds', batch_size integer DEFAULT NULL)
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
-- the runner (issue 15): jobs claimed batch by batch with their row lock,
-- taking turns; a failing job retried, then failed, while the others go on
ALTER TABLE customercard.bulk_jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0);
DROP FUNCTION customercard.bulk_release(bigint);
DROP FUNCTION customercard.bulk_lock_class();

CREATE OR REPLACE FUNCTION customercard.bulk_claim(OUT account_id bigint, OUT job_id bigint)
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
CREATE OR REPLACE FUNCTION customercard.bulk_batch_failed(acct bigint, job_id bigint, sqlstate text, message text) RETURNS void
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
CREATE OR REPLACE FUNCTION customercard.bulk_max_attempts() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 3 $$;
DROP VIEW customercard.bulk_progress;
CREATE OR REPLACE VIEW customercard.bulk_progress WITH (security_invoker = true) AS
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
-- upserts of one identifier serialise on row locks in their account, no
-- longer on advisory locks any role could take (#15)
-- Upserts that share an identifier (a channel id, an e-mail, a phone) wait
-- for each other on a row here: identifiers hash into 1,024 slots per
-- account, each slot a row made the first time it is needed.  Row locks,
-- where the advisory locks of 0.1 were: upsert_lock() alone takes them
-- (no role has a right on the table), so a role of another account can
-- neither take nor hold them, and they need no room in the shared lock
-- table however many an import holds until it commits.
CREATE TABLE customercard.upsert_locks (
    account_id  bigint NOT NULL,   -- (no foreign key: upsert_lock() makes rows for the caller's own account only)
    slot        integer NOT NULL CHECK (slot BETWEEN 0 AND 1023),
    PRIMARY KEY (account_id, slot)
);
COMMENT ON TABLE customercard.upsert_locks IS
    'The rows upserts of one identifier serialise on: 1,024 slots per account, made when first needed; locked by upsert_lock() only';

ALTER TABLE customercard.upsert_locks ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_isolation ON customercard.upsert_locks
    USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))
    WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()));
SELECT pg_catalog.pg_extension_config_dump('customercard.upsert_locks', '');   -- (no role's; as a fresh install leaves it)
-- upsert_contact_in and upsert_lock act in the session's own account only
CREATE OR REPLACE FUNCTION customercard.assert_upsert_account(acct bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF acct IS DISTINCT FROM customercard.require_account_id() THEN
        RAISE EXCEPTION 'account % is not the account this session acts in', coalesce(acct::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege', HINT = 'Call customercard.upsert_contact(data).';
    END IF;
END
$$;
-- Serialise this transaction with every other upsert of acct that shares
-- one of the identifiers (keys): lock their slots of upsert_locks, in slot
-- order, until the transaction ends.  A transaction that upserts many
-- contacts (an import) holds at most 1,024 slot rows of its account.  A
-- slot used for the first time is made then (ON CONFLICT DO NOTHING waits
-- for a transaction making the same slot, and then it is locked).  One
-- statement when the slots exist (bench/upsert.sh prints the cost beside
-- 0.1's advisory locks).
CREATE OR REPLACE FUNCTION customercard.upsert_lock(acct bigint, keys text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    slots integer[];
    locked integer;
BEGIN
    PERFORM customercard.assert_upsert_account(acct);
    SELECT array_agg(DISTINCT (hashtextextended(k, 0) & 1023)::integer) INTO slots FROM unnest(keys) k;
    IF slots IS NULL THEN
        RETURN;
    END IF;
    PERFORM FROM customercard.upsert_locks l
      WHERE l.account_id = acct AND l.slot = ANY (slots)
      ORDER BY l.slot FOR UPDATE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < cardinality(slots) THEN
        INSERT INTO customercard.upsert_locks (account_id, slot)
        SELECT acct, s FROM unnest(slots) s ORDER BY s
        ON CONFLICT DO NOTHING;
        PERFORM FROM customercard.upsert_locks l
          WHERE l.account_id = acct AND l.slot = ANY (slots)
          ORDER BY l.slot FOR UPDATE;
    END IF;
END
$$;
COMMENT ON FUNCTION customercard.upsert_lock(bigint, text[]) IS
    'Lock, until the transaction ends, the slots of upsert_locks that the identifiers hash to in the caller''s account';
-- kinds of outside events an account's admin registers for log_event (#14)
COMMENT ON FUNCTION customercard.is_log_event(text) IS
    'Whether the text is an action log event kind: one of the extension''s, or source.event as an account registers it (the CHECK of action_log.event; log_event() lists them in its hint)';
-- The account's own kinds of outside events, for log_event beside the
-- documented ones: "source.event" (amocrm.deal_won), registered by an
-- admin with register_event_kind().  (No kind of the extension's has a dot,
-- so none can be registered; is_log_event accepts the form.)  Removing a
-- kind stops new rows of it; the rows written stay.
CREATE TABLE customercard.event_kinds (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    kind            text NOT NULL CHECK (customercard.is_log_event(kind) AND pg_catalog.strpos(kind, '.') > 0),
    description     text NOT NULL CHECK (pg_catalog.length(description) BETWEEN 1 AND 200),
    registered_by   text NOT NULL DEFAULT customercard.current_actor(),
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, kind)
);
COMMENT ON TABLE customercard.event_kinds IS
    'Kinds of outside events an account''s admins registered for log_event, as source.event, with what each means';

CREATE OR REPLACE FUNCTION customercard.register_event_kind(kind text, description text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind IS NULL OR description IS NULL THEN
        RAISE EXCEPTION 'register_event_kind needs a kind and a description'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'SELECT customercard.register_event_kind(''amocrm.deal_won'', ''Deal won in amoCRM'').';
    END IF;
    IF pg_catalog.strpos(kind, '.') = 0 OR NOT customercard.is_log_event(kind) THEN
        RAISE EXCEPTION 'event kind "%" is not of the form source.event', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Lower-case letters, digits and _, the source and the event a dot apart, 3 to 63 characters: amocrm.deal_won. The extension''s own kinds cannot be registered.';
    END IF;
    IF pg_catalog.length(description) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'an event kind''s description has 1 to 200 characters'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Say in a few words what the event means.';
    END IF;
    INSERT INTO customercard.event_kinds AS k (kind, description)
    VALUES (register_event_kind.kind, register_event_kind.description)
    ON CONFLICT ON CONSTRAINT event_kinds_pkey DO UPDATE SET description = EXCLUDED.description;
END
$$;
COMMENT ON FUNCTION customercard.register_event_kind(text, text) IS
    'Register (or describe anew) a kind of outside event, source.event, that log_event may write in the current account; for admins';
ALTER TABLE customercard.event_kinds ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_isolation ON customercard.event_kinds
    USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))
    WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()));
SELECT pg_catalog.pg_extension_config_dump('customercard.event_kinds', '');

-- log_event on Citus after other writes in one transaction: its work is
-- log_event_in, delegated to the account's node (0.1's log_event was C)
-- log_event's work in the account's own call (log_event_in: on Citus,
-- delegated to the account's node, see citus_delegated())
CREATE OR REPLACE FUNCTION customercard.log_event_in(acct bigint, contact_id bigint, event text, details jsonb)
RETURNS void
    AS 'MODULE_PATHNAME', 'log_event_in' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.log_event_in(bigint, bigint, text, jsonb) IS
    'The work of log_event in account acct, which must be the caller''s; on Citus it runs on the account''s node';
CREATE OR REPLACE FUNCTION customercard.log_event(contact_id bigint, event text, details jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
BEGIN
    -- (in the FROM form, which Citus delegates to the account's node)
    PERFORM FROM customercard.log_event_in(acct, log_event.contact_id, log_event.event, log_event.details);
END
$$;
COMMENT ON FUNCTION customercard.log_event(bigint, text, jsonb) IS
    'Record an event that happened outside the database (e.g. crm_exported) on a contact of the current account';
-- issue 14: merge, unmerge, forget and card_json follow from the sections'
-- declarations (card_sections()); new views card_tags, card_custom_values,
-- card_payments (card_json's tags, custom and new payments blocks read them)
-- Every table whose rows a merge moves: the card's sections but the
-- contacts themselves, with their keys and collision rules as
-- card_sections() declares them, then the log (card_not_sections() with a
-- merge_key).  test/tap/merge.sql checks that every table with a
-- contact_id column is listed here or in merge_unlisted().
CREATE OR REPLACE FUNCTION customercard.merge_sections(OUT tbl text, OUT key text, OUT match text, OUT assign text,
                                            OUT primary_expr text, OUT take_name text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s.tbl, s.key, s.match, s.assign, s.primary_expr, s.take_name
      FROM customercard.card_sections() s WHERE s.key IS NOT NULL
    UNION ALL
    SELECT n.tbl, n.merge_key, NULL, NULL, NULL, NULL
      FROM customercard.card_not_sections() n WHERE n.merge_key IS NOT NULL
$$;
-- Tables with a contact_id column that a merge deliberately leaves alone:
-- the contacts themselves (merged row by row), bulk jobs' selections and
-- failures (the runner resolves tombstones).
CREATE OR REPLACE FUNCTION customercard.merge_unlisted() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['contacts'] || ARRAY(SELECT n.tbl FROM customercard.card_not_sections() n WHERE n.merge_key IS NULL)
$$;
CREATE OR REPLACE VIEW customercard.card_tags WITH (security_invoker = true) AS
SELECT ct.contact_id, ct.tag_id, t.name AS tag, ct.added_at, ct.added_by,
       ct.account_id
  FROM customercard.contact_tags ct
  JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
 WHERE ct.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_tags IS 'Tags of each contact, with when and by whom';
CREATE OR REPLACE VIEW customercard.card_custom_values WITH (security_invoker = true) AS
SELECT cv.contact_id, cv.field_id, f.name AS field, f.kind, cv.value, cv.updated_at,
       cv.account_id
  FROM customercard.custom_values cv
  JOIN customercard.custom_fields f ON f.account_id = cv.account_id AND f.field_id = cv.field_id
 WHERE cv.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_custom_values IS 'Custom field values of each contact, by field name';
-- Written here from merge_sections(), as static SQL, so that their plans
-- are cached (a merge would otherwise plan dozens of statements anew):
--   merge_combines(acct, survivor, absorbed, take): in every table with a
--     match rule, the survivor's colliding rows take in the absorbed's
--     (assign) and the absorbed's are removed; returns per table the removed
--     rows and the survivor's rows before and after;
--   merge_moves(acct, survivor, absorbed): every remaining row of the
--     absorbed moves to the survivor; returns {table: [keys]};
--   unmerge_moves(acct, survivor, absorbed, sections) moves them back.

-- Written here from the sections' card blocks (card_sections()), as
-- static SQL: each block is one query of the account's rows of the contact,
-- a list (jsonb_agg in its order, without the ids, the first limit rows),
-- an object (one) or a
-- {key: value} object (object); then the contact's relations, merges and
-- latest log events.  Its big statement is planned once per session: every
-- part of it is a lookup by key, so the generic plan is as good as a custom
-- one, and planning ~25 sub-queries at each call was most of its time.

-- A merge journal without the person's data: contact images lose their
-- personal fields; images of the person's rows of a section forget
-- deletes (phones, e-mails, ...) are dropped (an unmerge then has nothing
-- of them to restore), those of a section it erases lose their personal
-- columns.
CREATE OR REPLACE FUNCTION customercard.scrub_journal(journal jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nulls jsonb := (SELECT jsonb_object_agg(f, NULL) FROM unnest(customercard.personal_fields()) f);
    k text;
    sec record;
BEGIN
    FOREACH k IN ARRAY ARRAY['survivor_before', 'survivor_after', 'absorbed_before'] LOOP
        IF journal ? k AND (journal -> k ->> 'contact_id')::bigint = ANY (ids) THEN
            journal := jsonb_set(journal, ARRAY[k], (journal -> k) || nulls);
        END IF;
    END LOOP;
    FOR sec IN SELECT s.tbl, s.forget, (SELECT jsonb_object_agg(p, NULL) FROM unnest(s.personal) p) AS nulls
                 FROM customercard.card_sections() s
                WHERE s.tbl <> 'contacts' AND (s.forget = 'delete' OR (s.forget = 'erase' AND s.personal IS NOT NULL)) LOOP
        FOREACH k IN ARRAY ARRAY['deleted', 'before', 'after'] LOOP
            IF journal -> 'sections' -> sec.tbl ? k THEN
                journal := jsonb_set(journal, ARRAY['sections', sec.tbl, k],
                    coalesce((SELECT jsonb_agg(CASE WHEN sec.forget = 'erase' AND (e.value ->> 'contact_id')::bigint = ANY (ids)
                                                    THEN e.value || sec.nulls ELSE e.value END)
                                FROM jsonb_array_elements(journal -> 'sections' -> sec.tbl -> k) e
                               WHERE sec.forget = 'erase' OR NOT (e.value ->> 'contact_id')::bigint = ANY (ids)), '[]'));
            END IF;
        END LOOP;
    END LOOP;
    RETURN journal;
END
$$;
-- The work of forget_contact in one account: live is the person's live
-- card.  Written here from the sections' forget rules (card_sections()),
-- as static SQL: what to look for in the log (their scrub_values), then per
-- section delete its rows, or erase its personal columns (forget_set's
-- assignments over them; rows already so are left alone).  On Citus it
-- runs on the node holding the account (a delegated function,
-- distribute_on_citus()), so that every statement is local there.

-- issue 17: the card counts messages (last activity, unread_messages);
-- the audience filter has_unread

ALTER TYPE customercard.audience_filter ADD ATTRIBUTE has_unread boolean;

-- issue 16: imports with settings for the whole file (connection, channel
-- kind, funnel, LGT, tags, the identifier an import needs), the account's
-- default traffic source (new accounts columns, subscriptions.source),
-- Leeloo's Viber rule (new table import_marks), import_xlsx; exports carry
-- the messenger link (channel, connection, social_id)
ALTER TABLE customercard.accounts ADD COLUMN default_funnel_id bigint, ADD COLUMN default_lgt_id bigint,
    ADD CHECK (default_lgt_id IS NULL OR default_funnel_id IS NOT NULL);
ALTER TABLE customercard.subscriptions ADD COLUMN source text CHECK (pg_catalog.length(source) BETWEEN 1 AND 200);
-- Leeloo's Viber rule: a Viber subscriber is imported at most twice in 12
-- hours (Viber blocks bots that write to many new people at once).  A mark
-- per imported row, written and read only by import_viber_mark().
CREATE TABLE customercard.import_marks (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    mark_id     bigserial NOT NULL,
    connection  text,
    external_id text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, mark_id)
);
CREATE INDEX import_marks_subscriber ON customercard.import_marks (account_id, external_id, imported_at);
COMMENT ON TABLE customercard.import_marks IS 'When each Viber subscriber was imported, for the rule of at most two imports in 12 hours';
ALTER TABLE customercard.import_marks ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_isolation ON customercard.import_marks
    USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))
    WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()));
SELECT pg_catalog.pg_extension_config_dump('customercard.import_marks', '');
SELECT pg_catalog.pg_extension_config_dump('customercard.import_marks_mark_id_seq', '');

DROP VIEW customercard.card_subscriptions;
CREATE OR REPLACE VIEW customercard.card_subscriptions WITH (security_invoker = true) AS
SELECT s.contact_id, s.subscription_id, s.funnel_id, f.name AS funnel, s.lgt_id, l.name AS lgt,
       s.channel_id, ch.kind AS channel_kind, b.name AS block,
       s.subscribed_at, s.unsubscribed_at, s.unsubscribed_at IS NULL AS is_active, s.source,
       s.account_id
  FROM (SELECT DISTINCT ON (x.account_id, x.contact_id, x.funnel_id, x.channel_id, x.lgt_id)
               x.account_id, x.contact_id, x.subscription_id, x.funnel_id, x.lgt_id, x.channel_id, x.block_id,
               x.subscribed_at, x.unsubscribed_at, x.source
          FROM customercard.subscriptions x
         WHERE x.account_id = (SELECT customercard.current_account_id())
         ORDER BY x.account_id, x.contact_id, x.funnel_id, x.channel_id, x.lgt_id,
                  x.unsubscribed_at IS NULL DESC, x.subscribed_at DESC, x.subscription_id DESC) s
  JOIN customercard.funnels f ON f.account_id = s.account_id AND f.funnel_id = s.funnel_id
  LEFT JOIN customercard.lgts l ON l.account_id = s.account_id AND l.lgt_id = s.lgt_id
  LEFT JOIN customercard.channels ch ON ch.account_id = s.account_id AND ch.channel_id = s.channel_id
  LEFT JOIN customercard.funnel_blocks b ON b.account_id = s.account_id AND b.block_id = s.block_id;
COMMENT ON VIEW customercard.card_subscriptions IS
    'Funnel subscriptions of each contact as they are now: the latest period of each funnel, channel and LGT, with its current block';
DROP FUNCTION customercard.import_json(text, boolean), customercard.import_csv(text, boolean);
-- Settings for a whole file (SPEC §8): the connection (bot) and channel
-- kind its social ids belong to, a funnel and LGT, tags, and which import
-- it is ("require": "social_id" for messenger subscribers, "email" for an
-- e-mail list: rows without it are rejected).  Checked as bulk_enqueue
-- checks parameters, names resolved to ids, before a row is read.
CREATE OR REPLACE FUNCTION customercard.import_check_settings(acct bigint, settings jsonb) RETURNS jsonb
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
CREATE OR REPLACE FUNCTION customercard.import_viber_mark(acct bigint, connection text, external_id text) RETURNS void
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
-- settings' funnel, else the account's default traffic source (recorded as
-- the subscription's source); tags are added to the row's.
CREATE OR REPLACE FUNCTION customercard.import_upsert(data jsonb, settings jsonb, OUT upserted_id bigint, OUT created boolean)
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
CREATE OR REPLACE FUNCTION customercard.set_default_traffic_source(funnel text, lgt text DEFAULT NULL) RETURNS void
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
CREATE OR REPLACE FUNCTION customercard.import_json(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_json' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_json(text, boolean, jsonb) IS
    'Import contacts from a JSON array of objects (upsert_contact''s keys), with settings for the whole file: a line per object, created / updated / rejected with the reason; a malformed file changes nothing';
CREATE OR REPLACE FUNCTION customercard.import_csv(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_csv' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_csv(text, boolean, jsonb) IS
    'Import contacts from CSV with a header (name, phone(s), email(s), tags, funnel, lgt, channel + social_id, custom:<field>, ...; "," or ";"), with settings for the whole file: a line per row with its outcome; a malformed file changes nothing';
CREATE OR REPLACE FUNCTION customercard.import_xlsx(data bytea, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_xlsx(bytea, boolean, jsonb) IS
    'Import contacts from the first sheet of an .xlsx workbook (a header row with import_csv''s columns), with settings for the whole file: a line per row (the sheet''s row number) with its outcome; a broken or oversized file changes nothing';
DROP FUNCTION customercard.export_rows(jsonb), customercard.export_rows_of(bigint, bigint[]);
-- What an export holds of each contact: the CRM table's columns, tags
-- joined, the messenger link (channel kind, connection, social id), custom
-- fields as one JSON object by name.  export_rows (COPY),
-- export_csv, the export bulk action and export_xlsx all read it.
CREATE OR REPLACE FUNCTION customercard.export_rows_of(acct bigint, ids bigint[])
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
-- The audience's rows for exports: the CRM table's columns, tags joined,
-- custom fields as one JSON object (export_csv and export_xlsx spread them
-- into columns).  For COPY (SELECT * FROM customercard.export_rows('{}'))
-- TO STDOUT WITH (FORMAT csv, HEADER).
CREATE OR REPLACE FUNCTION customercard.export_rows(filter jsonb DEFAULT '{}')
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, channel text, connection text, social_id text, custom jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM customercard.export_rows_of(customercard.require_account_id(), ARRAY(SELECT customercard.audience_ids(filter)))
$$;
COMMENT ON FUNCTION customercard.export_rows(jsonb) IS
    'The audience a filter selects, a row per contact with tags joined and custom fields as JSON: for COPY ... WITH (FORMAT csv, HEADER)';
-- issue 16: big files through the queue: import_enqueue, import_report, the
-- runner's import batches (new table bulk_job_rows); bulk_failures shows
-- rejected rows by line; forget_contact scrubs the person's rows of files
-- What an import job imports (import_enqueue): a row per line of its file,
-- read when it was queued (its upsert_contact object, or none when the line
-- was rejected then), and what became of it.
CREATE TABLE customercard.bulk_job_rows (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    line        integer NOT NULL,
    data        jsonb,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'created', 'updated', 'rejected')),
    contact_id  bigint,
    reason      text,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, job_id, line),
    FOREIGN KEY (account_id, job_id) REFERENCES customercard.bulk_jobs ON DELETE CASCADE,
    CHECK ((status = 'rejected') = (reason IS NOT NULL))
);
COMMENT ON TABLE customercard.bulk_job_rows IS
    'The rows of an import job''s file, as read when it was queued, each with its outcome: queued, created, updated or rejected with the reason';
ALTER TABLE customercard.bulk_job_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_isolation ON customercard.bulk_job_rows
    USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))
    WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()));
SELECT pg_catalog.pg_extension_config_dump('customercard.bulk_job_rows', '');
-- One batch of an import job (bulk_run_batch's, in its transaction): the
-- next rows of the file in line order through import_upsert, each in a
-- subtransaction (a refused row is rolled back alone and keeps its reason),
-- their outcomes and the job's progress committed together, so a runner
-- killed mid-file resumes at the first row not committed, importing none
-- twice.  Returns how many rows it worked through.
CREATE OR REPLACE FUNCTION customercard.import_batch(acct bigint, j customercard.bulk_jobs, batch_size integer) RETURNS integer
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
CREATE OR REPLACE VIEW customercard.bulk_failures WITH (security_invoker = true) AS
SELECT f.job_id AS job, f.contact_id, f.reason, f.at
  FROM customercard.bulk_job_failures f
 WHERE f.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT r.job_id, NULL, 'line ' || r.line || ': ' || r.reason, r.at
  FROM customercard.bulk_job_rows r
 WHERE r.account_id = (SELECT customercard.current_account_id()) AND r.status = 'rejected';
COMMENT ON VIEW customercard.bulk_failures IS 'Contacts a bulk job could not act on, and rows an import job rejected (by line), and why';
CREATE OR REPLACE FUNCTION customercard.import_rows(data bytea, format text)
RETURNS TABLE (line integer, data jsonb, reason text)
    AS 'MODULE_PATHNAME', 'import_rows' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_rows(bytea, text) IS
    'Internal to import_enqueue: the rows of a csv, json or xlsx file as the imports read them (each one''s upsert_contact object, or why it has none), importing nothing';
-- A big file through the queue: read now (a malformed file is the same
-- error as with import_csv and nothing is queued), its rows kept in
-- bulk_job_rows, imported by the bulk runner in committed batches with
-- progress in bulk_progress, cancel and run_at; import_report(job) gives a
-- line per row, bulk_failures the rejected ones.
CREATE OR REPLACE FUNCTION customercard.import_enqueue(data bytea, format text, settings jsonb DEFAULT '{}', run_at timestamptz DEFAULT now())
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
CREATE OR REPLACE FUNCTION customercard.import_report(job_id bigint)
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
-- The work of forget_contact in one account: live is the person's live
-- card.  Written here from the sections' forget rules (card_sections()),
-- as static SQL: what to look for in the log (their scrub_values), then per
-- section delete its rows, or erase its personal columns (forget_set's
-- assignments over them; rows already so are left alone).  On Citus it
-- runs on the node holding the account (a delegated function,
-- distribute_on_citus()), so that every statement is local there.

-- a shared check of bulk_enqueue and import_enqueue
-- What every job's enqueue checks first: the caller is a manager, and the
-- job's time is a finite one (-infinity would put it before every other
-- account's jobs for good).
CREATE OR REPLACE FUNCTION customercard.bulk_check_enqueue(run_at timestamptz) RETURNS void
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
-- issue 17 (items 4, 6): payments a manager handles (a pending manual
-- payment, confirm_payment, the manager pinned to it), recurring orders'
-- next charge and stop_recurring, false orders, the active orders;
-- card_finance by JustClick's definitions
ALTER TABLE customercard.orders ADD COLUMN next_charge_at timestamptz, ADD COLUMN recurring_stopped_at timestamptz,
    ADD COLUMN is_false boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT orders_recurring_only CHECK (is_recurring OR (next_charge_at IS NULL AND recurring_stopped_at IS NULL));
ALTER TABLE customercard.payments DROP CONSTRAINT payments_status_check,
    ADD CONSTRAINT payments_status_check CHECK (status IN ('succeeded', 'failed', 'pending')),
    ADD COLUMN confirmed_at timestamptz, ADD COLUMN manager_id bigint,
    ADD FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    ADD CONSTRAINT payments_pending_manual CHECK (status <> 'pending' OR is_manual);
CREATE INDEX payments_manager ON customercard.payments (account_id, manager_id) WHERE manager_id IS NOT NULL;
-- confirmed_by and confirmed_at are the extension's now (system_set)

-- A manual payment (status pending, added by a manager) confirmed: it counts
-- as paid from now; who (the session's actor, a manager of the account)
-- and when are recorded, and the log tells of it (payment_confirmed).
-- SECURITY DEFINER: confirmed_by and confirmed_at are the extension's word.
CREATE OR REPLACE FUNCTION customercard.confirm_payment(payment_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    p customercard.payments;
    manager bigint;
BEGIN
    PERFORM customercard.assert_manager('confirm payments');
    SELECT * INTO p FROM customercard.payments x WHERE x.account_id = acct AND x.payment_id = confirm_payment.payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payment % does not exist in account %', coalesce(confirm_payment.payment_id::text, 'NULL'), acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.card_payments.';
    END IF;
    IF NOT p.is_manual THEN
        RAISE EXCEPTION 'payment % is not a manual one: only payments a manager added are confirmed', p.payment_id
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'A payment system''s payments come in succeeded or failed.';
    END IF;
    IF p.status <> 'pending' THEN
        RAISE EXCEPTION 'payment % is % already%', p.payment_id, CASE p.status WHEN 'succeeded' THEN 'confirmed' ELSE p.status END,
                        coalesce(format(' (by manager %s at %s)', p.confirmed_by, p.confirmed_at), '')
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'A payment is confirmed once.';
    END IF;
    manager := substring(customercard.current_actor() FROM '^manager:([0-9]{1,18})$')::bigint;
    IF manager IS NULL OR NOT EXISTS (SELECT 1 FROM customercard.managers m WHERE m.account_id = acct AND m.manager_id = manager) THEN
        RAISE EXCEPTION 'confirm_payment needs the confirming manager as the actor, not "%"', customercard.current_actor()
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SET customercard.actor = ''manager:<id>'' (a manager of the account) first.';
    END IF;
    UPDATE customercard.payments x SET status = 'succeeded', confirmed_by = manager, confirmed_at = now()
     WHERE x.account_id = acct AND x.payment_id = p.payment_id;
END
$$;
COMMENT ON FUNCTION customercard.confirm_payment(bigint) IS
    'Confirm a manual payment: it counts as paid; the confirming manager (the actor) and the time are recorded and logged; confirming twice is 55000';
-- A recurring order charges no more: its next charge is dropped, the time
-- it stopped kept (the log tells who).
CREATE OR REPLACE FUNCTION customercard.stop_recurring(order_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    o customercard.orders;
BEGIN
    SELECT * INTO o FROM customercard.orders x WHERE x.account_id = acct AND x.order_id = stop_recurring.order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'order % does not exist in account %', coalesce(stop_recurring.order_id::text, 'NULL'), acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.card_orders.';
    END IF;
    IF NOT o.is_recurring THEN
        RAISE EXCEPTION 'order % is not recurring', o.order_id
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Only recurring orders (is_recurring) have charges to stop.';
    END IF;
    IF o.recurring_stopped_at IS NOT NULL THEN
        RAISE EXCEPTION 'the recurring charges of order % were stopped at %', o.order_id, o.recurring_stopped_at
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'They are stopped once.';
    END IF;
    UPDATE customercard.orders x SET recurring_stopped_at = now(), next_charge_at = NULL
     WHERE x.account_id = acct AND x.order_id = o.order_id;
END
$$;
COMMENT ON FUNCTION customercard.stop_recurring(bigint) IS
    'Stop the charges of a recurring order: no next charge, the time it stopped kept and logged; stopping twice is 55000';
DROP VIEW customercard.card_orders;
CREATE OR REPLACE VIEW customercard.card_orders WITH (security_invoker = true) AS
SELECT o.contact_id, o.order_id, o.number, o.offer, o.products, o.amount, o.currency, o.status,
       coalesce(sum(py.amount) FILTER (WHERE py.status = 'succeeded'), 0) AS paid_amount,
       count(py.payment_id) FILTER (WHERE py.status = 'failed') AS failed_payments,
       o.is_manual, o.is_recurring, o.payment_error_code, o.manager_id, m.name AS manager,
       o.utm_source, o.utm_medium, o.utm_campaign, o.utm_content, o.utm_term,
       o.created_at, o.paid_at,
       o.next_charge_at, o.recurring_stopped_at,
       o.status NOT IN ('paid', 'refunded', 'cancelled') AS is_active,
       o.account_id
  FROM customercard.orders o
  LEFT JOIN customercard.managers m ON m.account_id = o.account_id AND m.manager_id = o.manager_id
  LEFT JOIN customercard.payments py ON py.account_id = o.account_id AND py.order_id = o.order_id
 WHERE o.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]) AND NOT o.is_false
 GROUP BY o.account_id, o.contact_id, o.order_id, m.account_id, m.manager_id;
COMMENT ON VIEW customercard.card_orders IS
    'Orders of each contact with what was paid on them; is_active: not paid, refunded or cancelled yet (the active orders block); false orders left out';
CREATE OR REPLACE VIEW customercard.card_finance WITH (security_invoker = true) AS
SELECT contact_id, currency,
       sum(amount) AS invoiced,
       coalesce(sum(amount) FILTER (WHERE status IN ('new', 'pending')), 0) AS expected,
       coalesce(sum(amount) FILTER (WHERE status = 'confirmed'), 0) AS confirmed,
       sum(paid) AS paid,
       sum(refund) AS refunds,
       sum(expense) AS expenses,
       sum(paid) - sum(expense) AS income,
       sum(partner) AS partner_payouts,
       sum(call_centre) AS call_centre_payouts,
       sum(co_author) AS co_author_payouts,
       sum(paid) - sum(expense) - sum(refund) - sum(partner) - sum(call_centre) - sum(co_author) AS profit,
       count(*) AS orders_count,
       account_id
  FROM (
        SELECT po.account_id, po.contact_id, po.order_id, po.currency, po.status, po.amount, po.paid,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'partner'), 0) AS partner,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'call_centre'), 0) AS call_centre,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'co_author'), 0) AS co_author,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'expense'), 0) AS expense,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'refund'), 0) AS refund
          FROM (
                SELECT o.account_id, o.contact_id, o.order_id, o.currency, o.status, o.amount,
                       coalesce(sum(py.amount) FILTER (WHERE py.status = 'succeeded'), 0) AS paid
                  FROM customercard.orders o
                  LEFT JOIN customercard.payments py ON py.account_id = o.account_id AND py.order_id = o.order_id
                 WHERE o.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]) AND NOT o.is_false
                 GROUP BY o.account_id, o.contact_id, o.order_id
               ) po
          LEFT JOIN customercard.payouts x ON x.account_id = po.account_id AND x.order_id = po.order_id
         GROUP BY po.account_id, po.contact_id, po.order_id, po.currency, po.status, po.amount, po.paid
       ) per_order
 GROUP BY contact_id, currency, account_id;
COMMENT ON VIEW customercard.card_finance IS
    'Money per contact and currency (JustClick''s figures): invoiced (every order, any status), expected (new/pending), confirmed, paid, refunds, expenses, income = paid - expenses, payouts, profit = income - partner, call-centre and co-author payouts - refunds; false orders left out';
CREATE OR REPLACE VIEW customercard.card WITH (security_invoker = true) AS
SELECT c.contact_id,
       c.account_id,
       coalesce(c.name, nullif(concat_ws(' ', c.first_name, c.last_name), ''), c.nickname) AS name,
       c.first_name, c.last_name, c.middle_name, c.nickname, c.avatar_url,
       c.gender, c.gender_source, c.timezone, c.country, c.city, c.status,
       f.phone,
       f.email,
       coalesce(f.tags, '{}') AS tags,
       coalesce(f.channels_count, 0) AS channels_count,
       c.manager_id,
       m.name AS manager_name,
       c.note,
       c.points,
       coalesce(f.total_paid, 0) AS total_paid,
       coalesce(f.orders_count, 0) AS orders_count,
       coalesce(f.sales_count, 0) AS sales_count,
       coalesce(f.open_tasks, 0) AS open_tasks,
       greatest(c.updated_at, f.last_at) AS last_activity,
       c.created_at,
       c.updated_at,
       coalesce(f.unread_messages, 0) AS unread_messages,
       -- the person's local time and UTC offset (GetCourse, JustClick), from their time zone
       pg_catalog.timezone(c.timezone, pg_catalog.now()) AS local_time,
       pg_catalog.timezone(c.timezone, pg_catalog.now()) - pg_catalog.timezone('UTC', pg_catalog.now()) AS utc_offset
  FROM customercard.contacts c
  LEFT JOIN customercard.managers m ON m.account_id = c.account_id AND m.manager_id = c.manager_id
  -- one row of figures per contact, from one UNION ALL of its rows in each
  -- table (a join to a sub-query per table plans several times slower)
  LEFT JOIN (
        SELECT x.account_id, x.contact_id,
               (array_agg(x.phone ORDER BY x.is_primary DESC, x.row_id) FILTER (WHERE x.kind = 'phone'))[1] AS phone,
               (array_agg(x.txt ORDER BY x.is_primary DESC, x.row_id) FILTER (WHERE x.kind = 'email'))[1] AS email,
               array_agg(x.txt ORDER BY x.txt) FILTER (WHERE x.kind = 'tag') AS tags,
               count(*) FILTER (WHERE x.kind = 'channel') AS channels_count,
               count(*) FILTER (WHERE x.kind = 'order') AS orders_count,
               count(*) FILTER (WHERE x.kind = 'order' AND x.is_primary) AS sales_count,
               sum(x.amount) FILTER (WHERE x.kind = 'paid') AS total_paid,
               count(*) FILTER (WHERE x.kind = 'task') AS open_tasks,
               max(x.at) FILTER (WHERE x.kind IN ('log', 'message')) AS last_at,
               count(*) FILTER (WHERE x.kind = 'message' AND x.is_primary) AS unread_messages
          FROM (
                SELECT 'phone' AS kind, p.account_id, p.contact_id, p.phone, NULL::text AS txt, p.is_primary,
                       p.phone_id AS row_id, NULL::numeric AS amount, NULL::timestamptz AS at
                  FROM customercard.phones p
                UNION ALL
                SELECT 'email', e.account_id, e.contact_id, NULL, e.email, e.is_primary, e.email_id, NULL, NULL
                  FROM customercard.emails e
                UNION ALL
                SELECT 'tag', ct.account_id, ct.contact_id, NULL, t.name, NULL, NULL, NULL, NULL
                  FROM customercard.contact_tags ct
                  JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                UNION ALL
                SELECT 'channel', ch.account_id, ch.contact_id, NULL, NULL, NULL, NULL, NULL, NULL
                  FROM customercard.channels ch WHERE ch.archived_at IS NULL
                UNION ALL
                SELECT 'order', od.account_id, od.contact_id, NULL, NULL, od.status = 'paid', NULL, NULL, NULL
                  FROM customercard.orders od WHERE NOT od.is_false
                UNION ALL
                SELECT 'paid', py.account_id, py.contact_id, NULL, NULL, NULL, NULL, py.amount, NULL
                  FROM customercard.payments py
                  JOIN customercard.orders po ON po.account_id = py.account_id AND po.order_id = py.order_id
                  JOIN customercard.accounts a ON a.account_id = py.account_id AND a.currency = po.currency
                 WHERE py.status = 'succeeded' AND NOT po.is_false
                UNION ALL
                SELECT 'task', tk.account_id, tk.contact_id, NULL, NULL, NULL, NULL, NULL, NULL
                  FROM customercard.tasks tk WHERE tk.status = 'open'
                UNION ALL
                SELECT 'log', l.account_id, l.contact_id, NULL, NULL, NULL, NULL, NULL, l.at
                  FROM customercard.action_log l
                UNION ALL
                SELECT 'message', ms.account_id, ms.contact_id, NULL, NULL, ms.direction = 'in' AND ms.read_at IS NULL,
                       NULL, NULL, ms.sent_at
                  FROM customercard.messages ms
               ) x
         WHERE x.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())])
         GROUP BY x.account_id, x.contact_id
       ) f ON f.account_id = c.account_id AND f.contact_id = c.contact_id
 WHERE c.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())])
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card IS
    'One row per live contact: general information, primary phone and e-mail, tags, channels, manager, note, points, money paid in the account currency, orders, sales, open tasks, last activity (changes and messages), unread messages';
CREATE OR REPLACE VIEW customercard.card_payments WITH (security_invoker = true) AS
SELECT py.contact_id, py.payment_id, py.order_id, o.number AS order_number, py.amount, o.currency, py.status,
       py.method, py.error_code, py.is_manual, py.confirmed_by, m.name AS confirmed_by_manager, py.confirmed_at,
       py.manager_id, pm.name AS manager, py.created_at,
       py.account_id
  FROM customercard.payments py
  JOIN customercard.orders o ON o.account_id = py.account_id AND o.order_id = py.order_id
  LEFT JOIN customercard.managers m ON m.account_id = py.account_id AND m.manager_id = py.confirmed_by
  LEFT JOIN customercard.managers pm ON pm.account_id = py.account_id AND pm.manager_id = py.manager_id
 WHERE py.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]);
COMMENT ON VIEW customercard.card_payments IS 'Payment attempts of each contact: order, amount, succeeded, failed with the error or pending (a manual one not confirmed yet), who confirmed it when, the manager pinned to it';
-- issue 16: exports take column groups (tags, channels, custom), as the
-- reference product's check-boxes; the export job takes {"groups": [...]}
DROP FUNCTION customercard.export_csv(jsonb), customercard.export_xlsx(jsonb),
    customercard.export_header(jsonb), customercard.export_lines(bigint, bigint[], jsonb);
-- The column groups an export may leave out, as the reference product's
-- check-boxes do (the contact's own columns always go): NULL gives all;
-- an unknown one is an error naming them.
CREATE OR REPLACE FUNCTION customercard.export_groups(groups text[]) RETURNS text[]
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
CREATE OR REPLACE FUNCTION customercard.export_lines(acct bigint, ids bigint[], custom_fields jsonb, groups text[]) RETURNS text
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
CREATE OR REPLACE FUNCTION customercard.export_header(custom_fields jsonb, groups text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- a byte order mark first: Excel reads the file as UTF-8 only then
    SELECT E'\uFEFF' || concat_ws(',', 'contact_id', 'name', 'phone', 'email', 'status', 'created_at_utc',
                                  CASE WHEN 'tags' = ANY (groups) THEN 'tags' END,
                                  CASE WHEN 'channels' = ANY (groups) THEN 'channel,connection,social_id' END,
                                  (SELECT string_agg(customercard.csv_field(f ->> 1), ',' ORDER BY o)
                                     FROM jsonb_array_elements(custom_fields) WITH ORDINALITY x (f, o))) || E'\r\n'
$$;
CREATE OR REPLACE FUNCTION customercard.export_csv(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS text
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
CREATE OR REPLACE FUNCTION customercard.export_xlsx(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS bytea
    AS 'MODULE_PATHNAME', 'export_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.export_xlsx(jsonb, text[]) IS
    'The audience a filter selects as an .xlsx workbook: one sheet, a bold frozen header with a filter; the column groups tags, channels (the messenger link), custom (a column per custom field), all by default';
CREATE OR REPLACE FUNCTION customercard.bulk_apply(acct bigint, job customercard.bulk_jobs, ids bigint[])
RETURNS TABLE (contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    p jsonb := job.params;
    v text;
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
    -- a new period unless subscribed already (an open period of the funnel:
    -- of that LGT, or of any when none is named); the ended ones stay
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
            INSERT INTO customercard.subscriptions (account_id, contact_id, funnel_id, lgt_id)
            SELECT acct, x, (p ->> 'funnel_id')::bigint, (p ->> 'lgt_id')::bigint FROM unnest(ids) x
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
            RETURNING *),
        journaled AS (
            INSERT INTO customercard.bulk_job_journal (account_id, job_id, contact_id, tbl, row_key, before, after)
            SELECT acct, job.job_id, ins.contact_id, 'channels', ins.channel_id, NULL, customercard.journal_image(to_jsonb(ins), 'channel_id')
              FROM ins)
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
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
        SELECT acct, job.job_id, job.batches + 1, l
          FROM customercard.export_lines(acct, ids, p -> 'custom_fields', ARRAY(SELECT jsonb_array_elements_text(p -> 'groups'))) l
         WHERE l IS NOT NULL;
    END CASE;
END
$$;
-- issue 17 (item 5): calls, tasks and comments name their order; view
-- card_order_calls (card_json's order_calls); contact_log(..., order_id)
ALTER TABLE customercard.tasks ADD COLUMN order_id bigint, ADD FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders;
ALTER TABLE customercard.calls ADD COLUMN order_id bigint, ADD FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders;
ALTER TABLE customercard.comments ADD COLUMN order_id bigint, ADD FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders;
CREATE INDEX tasks_order ON customercard.tasks (account_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX calls_order ON customercard.calls (account_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX comments_order ON customercard.comments (account_id, order_id) WHERE order_id IS NOT NULL;
DROP VIEW customercard.card_tasks, customercard.card_calls, customercard.card_comments;
CREATE OR REPLACE VIEW customercard.card_tasks WITH (security_invoker = true) AS
SELECT t.contact_id, t.task_id, t.title, t.description, t.due_at, t.status,
       t.status = 'open' AS is_current,
       t.status = 'open' AND t.due_at < now() AS is_overdue,
       t.reschedules, t.manager_id, m.name AS manager, t.created_at, t.done_at, t.order_id,
       t.account_id
  FROM customercard.tasks t
  LEFT JOIN customercard.managers m ON m.account_id = t.account_id AND m.manager_id = t.manager_id
 WHERE t.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_tasks IS 'Tasks of each contact, current (open) and past';
CREATE OR REPLACE VIEW customercard.card_calls WITH (security_invoker = true) AS
SELECT cl.contact_id, cl.call_id, cl.started_at, cl.direction, cl.duration_s, cl.result, cl.reason,
       cl.manager_id, m.name AS manager, cl.recording_url, cl.order_id,
       cl.account_id
  FROM customercard.calls cl
  LEFT JOIN customercard.managers m ON m.account_id = cl.account_id AND m.manager_id = cl.manager_id
 WHERE cl.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_calls IS 'Calls with each contact';
CREATE OR REPLACE VIEW customercard.card_comments WITH (security_invoker = true) AS
SELECT cm.contact_id, cm.comment_id, cm.author, cm.body, cm.attachments, cm.created_at, cm.order_id,
       cm.account_id
  FROM customercard.comments cm
 WHERE cm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_comments IS 'Comments on each contact';
-- JustClick's calls by invoice: each call about an order, with the order.
CREATE OR REPLACE VIEW customercard.card_order_calls WITH (security_invoker = true) AS
SELECT cl.contact_id, cl.order_id, o.number AS order_number, o.products, o.status AS order_status,
       cl.call_id, cl.started_at, cl.direction, cl.duration_s, cl.result, cl.reason AS comment,
       cl.manager_id, m.name AS responsible,
       cl.account_id
  FROM customercard.calls cl
  JOIN customercard.orders o ON o.account_id = cl.account_id AND o.order_id = cl.order_id
  LEFT JOIN customercard.managers m ON m.account_id = cl.account_id AND m.manager_id = cl.manager_id
 WHERE cl.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]);
COMMENT ON VIEW customercard.card_order_calls IS
    'Calls about an order (JustClick''s calls by invoice): order number, products, status, the call''s result and comment, the responsible manager';
DROP FUNCTION customercard.contact_log(bigint, text[], timestamptz, timestamptz);
CREATE OR REPLACE FUNCTION customercard.contact_log(contact_id bigint, events text[] DEFAULT NULL,
                                         since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
                                         order_id bigint DEFAULT NULL)
RETURNS SETOF customercard.card_log
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.current_account_id();
    -- resolved first: inside the query Citus would send it to the shards
    cid constant bigint := customercard.resolve_contact(contact_log.contact_id);
    -- one order's events (GetCourse): the order's own, and those of its
    -- payments, calls, tasks and comments, by their keys
    oid_text constant text := contact_log.order_id::text;
    payment_ids text[];
    call_ids text[];
    task_ids text[];
    comment_ids text[];
BEGIN
    IF contact_log.order_id IS NOT NULL THEN
        payment_ids := ARRAY(SELECT x.payment_id::text FROM customercard.payments x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
        call_ids := ARRAY(SELECT x.call_id::text FROM customercard.calls x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
        task_ids := ARRAY(SELECT x.task_id::text FROM customercard.tasks x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
        comment_ids := ARRAY(SELECT x.comment_id::text FROM customercard.comments x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
    END IF;
    -- PL/pgSQL, not SQL: Citus plans no SQL function with parameters
    RETURN QUERY
    SELECT l.* FROM customercard.card_log l
     WHERE l.contact_id = cid
       AND (contact_log.events IS NULL OR l.event = ANY (contact_log.events))
       AND (contact_log.since IS NULL OR l.at >= contact_log.since)
       AND (contact_log.until IS NULL OR l.at < contact_log.until)
       -- (a specific event names its row's id at the top; row_* events in "key", and the row in "row")
       AND (oid_text IS NULL
            OR l.details ->> 'order_id' = oid_text OR l.details -> 'row' ->> 'order_id' = oid_text
            OR l.details -> 'key' ->> 'order_id' = oid_text
            OR coalesce(l.details -> 'key', l.details) ->> 'payment_id' = ANY (payment_ids)
            OR coalesce(l.details -> 'key', l.details) ->> 'call_id' = ANY (call_ids)
            OR coalesce(l.details -> 'key', l.details) ->> 'task_id' = ANY (task_ids)
            OR coalesce(l.details -> 'key', l.details) ->> 'comment_id' = ANY (comment_ids))
     ORDER BY l.at DESC, l.log_id DESC;
END
$$;
COMMENT ON FUNCTION customercard.contact_log(bigint, text[], timestamptz, timestamptz, bigint) IS
    'The action log of a contact, newest first, optionally only some event kinds, a period [since, until), and one order''s events (its own, its payments'', calls'', tasks'' and comments'')';
-- Written here from the sections' card blocks (card_sections()), as
-- static SQL: each block is one query of the account's rows of the contact,
-- a list (jsonb_agg in its order, without the ids, the first limit rows),
-- an object (one) or a
-- {key: value} object (object); then the contact's relations, merges and
-- latest log events.  Its big statement is planned once per session: every
-- part of it is a lookup by key, so the generic plan is as good as a custom
-- one, and planning ~25 sub-queries at each call was most of its time.

-- issue 17 (item 7, in part): each e-mail address's sendability (status),
-- the audience filter email_status, card_json's emails show it
ALTER TABLE customercard.emails ADD COLUMN status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('unconfirmed', 'active', 'unsubscribed', 'bounced', 'spam'));
COMMENT ON TABLE customercard.emails IS 'E-mail addresses of a contact: normalized beside the raw text as typed, and whether letters may go to it (status)';
ALTER TYPE customercard.audience_filter ADD ATTRIBUTE email_status text;
CREATE OR REPLACE FUNCTION customercard.audience_check_filter(filter jsonb, acct bigint)
RETURNS customercard.audience_filter
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['search', 'gender', 'channel', 'has_phone', 'has_email', 'tag', 'tags_all',
        'tags_any', 'funnel', 'lgt', 'ordered_offer', 'paid_offer', 'status', 'manager', 'created_from', 'created_to',
        'has_unread', 'email_status'];
    f customercard.audience_filter;
    k text;
    v jsonb;
    t text;
    names text[];
    words text[];
    w text;
BEGIN
    f.impossible := false;
    IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION 'the audience filter must be a JSON object, not %', coalesce(jsonb_typeof(filter), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass ''{}'' for everyone, or keys such as {"tag": "vip", "has_phone": true}.';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(filter) LOOP
        IF NOT k = ANY (allowed) THEN
            PERFORM customercard.audience_filter_error(k, 'unknown key',
                'Filter keys: ' || array_to_string(allowed, ', ') || '.');
        END IF;
        CONTINUE WHEN jsonb_typeof(v) = 'null';
        t := jsonb_typeof(v);
        CASE k
        WHEN 'search' THEN
            IF t <> 'string' AND t <> 'number' THEN
                PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t, 'Search by a name, an e-mail or a phone number in any format.');
            END IF;
            w := btrim(v #>> '{}');
            CONTINUE WHEN w = '';
            IF length(w) > 200 THEN
                PERFORM customercard.audience_filter_error(k, 'is longer than 200 characters', 'Search by a name, an e-mail or a phone number.');
            END IF;
            -- a phone number in any format, or an e-mail address, is looked up as
            -- such (no name holds one); anything else is searched in the names
            f.search_phone := customercard.normalize_phone(w)::customercard.phone;
            IF f.search_phone IS NULL AND strpos(w, '@') > 0 THEN
                f.search_email := customercard.email_key(coalesce(customercard.normalize_email(w), w));
            END IF;
            CONTINUE WHEN f.search_phone IS NOT NULL OR f.search_email IS NOT NULL;
            -- every word must occur in one of the names; LIKE's own characters are data
            SELECT array_agg('%' || replace(replace(replace(x, '\', '\\'), '%', '\%'), '_', '\_') || '%')
              INTO f.name_patterns
              FROM regexp_split_to_table(lower(w COLLATE "und-x-icu"), '\s+') AS x WHERE x <> '';
        WHEN 'gender' THEN
            IF t <> 'string' OR NOT (v #>> '{}') IN ('male', 'female', 'unknown') THEN
                PERFORM customercard.audience_filter_error(k, 'must be "male", "female" or "unknown"', 'For example {"gender": "female"}.');
            END IF;
            f.gender := v #>> '{}';
        WHEN 'channel' THEN
            IF t <> 'string' THEN
                PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t,
                    'A messenger: ' || array_to_string(customercard.channel_kinds(), ', ') || '.');
            END IF;
            f.channel := v #>> '{}';
        WHEN 'email_status' THEN
            IF t <> 'string' OR NOT v #>> '{}' = ANY (ARRAY['unconfirmed', 'active', 'unsubscribed', 'bounced', 'spam']) THEN
                PERFORM customercard.audience_filter_error(k, 'must be an e-mail status, not ' || v::text,
                    'One of unconfirmed, active, unsubscribed, bounced, spam: contacts with an address in that status.');
            END IF;
            f.email_status := v #>> '{}';
        WHEN 'has_phone', 'has_email', 'has_unread' THEN
            IF t <> 'boolean' THEN
                PERFORM customercard.audience_filter_error(k, 'must be true or false, not ' || t, 'For example {"' || k || '": true}.');
            END IF;
            CASE k WHEN 'has_phone' THEN f.has_phone := v::boolean;
                   WHEN 'has_email' THEN f.has_email := v::boolean;
                   ELSE f.has_unread := v::boolean; END CASE;
        WHEN 'tag', 'tags_all', 'tags_any' THEN
            IF k = 'tag' THEN
                IF t <> 'string' THEN
                    PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t, 'For example {"tag": "vip"}; several: "tags_all" or "tags_any".');
                END IF;
                names := ARRAY[v #>> '{}'];
            ELSE
                IF t <> 'array' OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string') THEN
                    PERFORM customercard.audience_filter_error(k, 'must be an array of tag names', 'For example {"' || k || '": ["vip", "webinar"]}.');
                END IF;
                names := ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(v) x);
            END IF;
            CONTINUE WHEN cardinality(names) = 0;
            IF k = 'tags_any' THEN
                f.tags_any := ARRAY(SELECT tg.tag_id FROM customercard.tags tg
                                     WHERE tg.account_id = acct AND tg.name = ANY (names));
                f.impossible := f.impossible OR cardinality(f.tags_any) = 0;
            ELSE
                -- every tag named must exist, or nobody can have them all
                IF (SELECT count(*) FROM customercard.tags tg WHERE tg.account_id = acct AND tg.name = ANY (names))
                   < cardinality(names) THEN
                    f.impossible := true;
                END IF;
                f.tags_all := ARRAY(SELECT DISTINCT x FROM unnest(f.tags_all ||
                                    ARRAY(SELECT tg.tag_id FROM customercard.tags tg
                                           WHERE tg.account_id = acct AND tg.name = ANY (names))) x);
            END IF;
        WHEN 'funnel', 'lgt' THEN
            IF t NOT IN ('number', 'string') THEN
                PERFORM customercard.audience_filter_error(k,
                    CASE k WHEN 'funnel' THEN 'must be a funnel name or id, not ' ELSE 'must be an LGT name or id, not ' END || t,
                    CASE k WHEN 'funnel' THEN 'For example {"funnel": "Free lesson"}.' ELSE 'For example {"lgt": "Site widget"}.' END);
            END IF;
            IF k = 'funnel' THEN
                f.funnels := customercard.ids_named(acct, v, 'funnels');
                f.impossible := f.impossible OR cardinality(f.funnels) = 0;
            ELSE
                f.lgts := customercard.ids_named(acct, v, 'lgts');
                f.impossible := f.impossible OR cardinality(f.lgts) = 0;
            END IF;
        WHEN 'ordered_offer', 'paid_offer' THEN
            IF t <> 'string' THEN
                PERFORM customercard.audience_filter_error(k, 'must be an offer name, not ' || t, 'For example {"' || k || '": "Course PRO"}.');
            END IF;
            IF k = 'ordered_offer' THEN f.ordered_offer := v #>> '{}'; ELSE f.paid_offer := v #>> '{}'; END IF;
        WHEN 'status' THEN
            IF t <> 'string' OR NOT (v #>> '{}') IN ('active', 'unsubscribed', 'blacklisted', 'archived') THEN
                PERFORM customercard.audience_filter_error(k, 'must be "active", "unsubscribed", "blacklisted" or "archived"', 'For example {"status": "active"}.');
            END IF;
            f.status := v #>> '{}';
        WHEN 'manager' THEN
            IF t = 'number' THEN
                f.manager := (SELECT m.manager_id FROM customercard.managers m
                               WHERE m.account_id = acct AND m.manager_id = (v #>> '{}')::numeric);
            ELSIF t = 'string' THEN
                f.manager := (SELECT min(m.manager_id) FROM customercard.managers m
                               WHERE m.account_id = acct AND m.name = v #>> '{}');
            ELSE
                PERFORM customercard.audience_filter_error(k, 'must be a manager id or name, not ' || t, 'For example {"manager": 3}.');
            END IF;
            f.impossible := f.impossible OR f.manager IS NULL;
        WHEN 'created_from', 'created_to' THEN
            IF t <> 'string' THEN
                PERFORM customercard.audience_filter_error(k, 'must be a date or timestamp string, not ' || t, 'For example {"' || k || '": "2026-01-31"}.');
            END IF;
            BEGIN
                IF (v #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$' THEN
                    -- a date: from its start; to the end of that day
                    IF k = 'created_from' THEN f.created_from := (v #>> '{}')::date;
                    ELSE f.created_to := (v #>> '{}')::date + 1; END IF;
                ELSIF k = 'created_from' THEN
                    f.created_from := (v #>> '{}')::timestamptz;
                ELSE
                    f.created_to := (v #>> '{}')::timestamptz + interval '1 microsecond';
                END IF;
            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
                PERFORM customercard.audience_filter_error(k, pg_catalog.format('"%s" is not a date or timestamp', v #>> '{}'),
                    'Use ISO 8601: "2026-01-31" (the whole day) or "2026-01-31T18:00:00+03".');
            END;
        END CASE;
    END LOOP;
    RETURN f;
END
$$;
CREATE OR REPLACE FUNCTION customercard.audience_where(f customercard.audience_filter) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT concat_ws(E'\n   AND ', 'c.account_id = $1 AND c.merged_into IS NULL AND c.deleted_at IS NULL',
        CASE WHEN f.impossible THEN 'false' END,
        -- search: by name, a trigram condition per word on the row itself (so
        -- the planner weighs the GIN index against the newest-first scan:
        -- a rare name goes through the index, a common one is met early in
        -- the scan); by e-mail key; by phone
        CASE WHEN f.name_patterns IS NOT NULL THEN
            (SELECT string_agg(format('customercard.name_haystack(c.name, c.first_name, c.last_name, c.middle_name, c.nickname) LIKE (($2).name_patterns)[%s]', i), ' AND ')
               FROM generate_series(1, cardinality(f.name_patterns)) i) END,
        CASE WHEN f.search_email IS NOT NULL THEN
            'c.contact_id IN (SELECT e.contact_id FROM customercard.emails e WHERE e.account_id = $1 AND customercard.email_key(e.email) = ($2).search_email)' END,
        CASE WHEN f.search_phone IS NOT NULL THEN
            'c.contact_id IN (SELECT p.contact_id FROM customercard.phones p WHERE p.account_id = $1 AND p.phone OPERATOR(customercard.=) ($2).search_phone)' END,
        CASE WHEN f.gender IS NULL THEN NULL WHEN f.gender = 'unknown' THEN 'c.gender IS NULL' ELSE 'c.gender = ($2).gender' END,
        CASE WHEN f.channel IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.channels ch WHERE ch.account_id = $1 AND ch.kind = ($2).channel AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL)' END,
        CASE f.has_phone WHEN true THEN 'EXISTS (SELECT 1 FROM customercard.phones p WHERE p.account_id = $1 AND p.contact_id = c.contact_id)'
                         WHEN false THEN 'NOT EXISTS (SELECT 1 FROM customercard.phones p WHERE p.account_id = $1 AND p.contact_id = c.contact_id)' END,
        CASE f.has_email WHEN true THEN 'EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id)'
                         WHEN false THEN 'NOT EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id)' END,
        CASE WHEN f.email_status IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id AND e.status = ($2).email_status)' END,
        CASE f.has_unread WHEN true THEN 'EXISTS (SELECT 1 FROM customercard.messages ms WHERE ms.account_id = $1 AND ms.contact_id = c.contact_id AND ms.direction = ''in'' AND ms.read_at IS NULL)'
                          WHEN false THEN 'NOT EXISTS (SELECT 1 FROM customercard.messages ms WHERE ms.account_id = $1 AND ms.contact_id = c.contact_id AND ms.direction = ''in'' AND ms.read_at IS NULL)' END,
        CASE WHEN cardinality(f.tags_all) = 1 THEN
            'EXISTS (SELECT 1 FROM customercard.contact_tags ct WHERE ct.account_id = $1 AND ct.tag_id = (($2).tags_all)[1] AND ct.contact_id = c.contact_id)'
             WHEN cardinality(f.tags_all) > 1 THEN
            '(SELECT count(*) FROM customercard.contact_tags ct WHERE ct.account_id = $1 AND ct.contact_id = c.contact_id AND ct.tag_id = ANY (($2).tags_all)) = cardinality(($2).tags_all)' END,
        CASE WHEN cardinality(f.tags_any) > 0 THEN
            'EXISTS (SELECT 1 FROM customercard.contact_tags ct WHERE ct.account_id = $1 AND ct.tag_id = ANY (($2).tags_any) AND ct.contact_id = c.contact_id)' END,
        CASE WHEN cardinality(f.funnels) > 0 THEN
            'EXISTS (SELECT 1 FROM customercard.subscriptions s WHERE s.account_id = $1 AND s.funnel_id = ANY (($2).funnels) AND s.contact_id = c.contact_id AND s.unsubscribed_at IS NULL)' END,
        CASE WHEN cardinality(f.lgts) > 0 THEN
            'EXISTS (SELECT 1 FROM customercard.subscriptions s WHERE s.account_id = $1 AND s.lgt_id = ANY (($2).lgts) AND s.contact_id = c.contact_id)' END,
        CASE WHEN f.ordered_offer IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.orders o WHERE o.account_id = $1 AND o.offer = ($2).ordered_offer AND o.contact_id = c.contact_id)' END,
        CASE WHEN f.paid_offer IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.orders o WHERE o.account_id = $1 AND o.offer = ($2).paid_offer AND o.status = ''paid'' AND o.contact_id = c.contact_id)' END,
        CASE WHEN f.status IS NOT NULL THEN 'c.status = ($2).status' END,
        CASE WHEN f.manager IS NOT NULL THEN 'c.manager_id = ($2).manager' END,
        CASE WHEN f.created_from IS NOT NULL THEN 'c.created_at >= ($2).created_from' END,
        CASE WHEN f.created_to IS NOT NULL THEN 'c.created_at < ($2).created_to' END)
$$;
-- issue 17 (item 3): funnel and LGT history.  A subscriptions row is one
-- period: re-subscribing starts a new one and the ended ones stay;
-- unsubscribing from one LGT ends that LGT only (bulk unsubscribe takes
-- "lgt"); card_subscriptions is the current state, the new
-- card_subscription_history every period.
ALTER TABLE customercard.subscriptions DROP CONSTRAINT subscriptions_account_id_contact_id_funnel_id_channel_id_key;
-- a row is one period: re-subscribing starts a new one, the ended ones are
-- the history (card_subscription_history); one open period at a time per
-- funnel, channel and LGT
CREATE UNIQUE INDEX subscriptions_open ON customercard.subscriptions (account_id, contact_id, funnel_id, channel_id, lgt_id)
    NULLS NOT DISTINCT WHERE unsubscribed_at IS NULL;
CREATE INDEX subscriptions_contact ON customercard.subscriptions (account_id, contact_id);
COMMENT ON TABLE customercard.subscriptions IS 'One period of a contact''s subscription to a funnel through a channel and LGT: re-subscribing starts a new period, ended ones stay';
-- the current state: the latest period of each funnel, channel and LGT
-- (the open one, if any)

-- every period (Leeloo's "history of LGT subscriptions in the chosen
-- funnel"; filter by connection for "choose a connection to view its
-- history"): period counts the periods of the same funnel, channel and LGT
CREATE OR REPLACE VIEW customercard.card_subscription_history WITH (security_invoker = true) AS
SELECT s.contact_id, s.subscription_id, s.funnel_id, f.name AS funnel, s.lgt_id, l.name AS lgt,
       s.channel_id, ch.kind AS channel_kind, ch.connection,
       pg_catalog.row_number() OVER (PARTITION BY s.account_id, s.contact_id, s.funnel_id, s.channel_id, s.lgt_id
                                     ORDER BY s.subscribed_at, s.subscription_id) AS period,
       s.subscribed_at, s.unsubscribed_at, s.unsubscribed_at IS NULL AS is_active, s.source,
       s.account_id
  FROM customercard.subscriptions s
  JOIN customercard.funnels f ON f.account_id = s.account_id AND f.funnel_id = s.funnel_id
  LEFT JOIN customercard.lgts l ON l.account_id = s.account_id AND l.lgt_id = s.lgt_id
  LEFT JOIN customercard.channels ch ON ch.account_id = s.account_id AND ch.channel_id = s.channel_id
 WHERE s.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_subscription_history IS
    'Every subscription period of each contact, ended ones too: funnel, LGT, channel and its connection, the period''s number';
-- issue 17 (item 2): card_webinars shows registrations with their visits
-- (0.1's columns, then the webinar's times, the registration, the chat);
-- card_webinar_registrations the registrations
DROP VIEW customercard.card_webinars;
-- Registrations with their visits: a row per viewing interval (0.1's
-- columns first), with its webinar's times and the person's registration,
-- and a row per registration without a visit (no interval; attended as the
-- writer said).  "Registered for but not attended": registered AND NOT
-- attended.
CREATE OR REPLACE VIEW customercard.card_webinars WITH (security_invoker = true) AS
SELECT v.contact_id, v.visit_id, v.webinar, v.launch, v.joined_at, v.left_at,
       coalesce(v.watched_s, extract(epoch FROM v.left_at - v.joined_at)::integer) AS watched_s,
       v.chat_messages, v.visitor_id,
       v.webinar_id, w.starts_at, w.ends_at, r.registered_at, r.registered_at IS NOT NULL AS registered,
       true AS attended, v.chat,
       v.account_id
  FROM customercard.webinar_visits v
  JOIN customercard.webinars w ON w.account_id = v.account_id AND w.webinar_id = v.webinar_id
  LEFT JOIN customercard.webinar_registrations r
         ON r.account_id = v.account_id AND r.webinar_id = v.webinar_id AND r.contact_id = v.contact_id
 WHERE v.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT r.contact_id, NULL, w.name, w.launch, NULL, NULL, NULL, NULL, NULL,
       r.webinar_id, w.starts_at, w.ends_at, r.registered_at, true, r.attended, NULL,
       r.account_id
  FROM customercard.webinar_registrations r
  JOIN customercard.webinars w ON w.account_id = r.account_id AND w.webinar_id = r.webinar_id
 WHERE r.account_id = (SELECT customercard.current_account_id())
   AND NOT EXISTS (SELECT 1 FROM customercard.webinar_visits v
                    WHERE v.account_id = r.account_id AND v.webinar_id = r.webinar_id AND v.contact_id = r.contact_id);
COMMENT ON VIEW customercard.card_webinars IS
    'Webinars of each contact: every viewing interval with its chat texts, the webinar''s times and the registration, and registrations without a visit';
-- the webinars the person registered for: when they take place, whether
-- the person came, how many viewing intervals
CREATE OR REPLACE VIEW customercard.card_webinar_registrations WITH (security_invoker = true) AS
SELECT r.contact_id, r.webinar_id, w.name AS webinar, w.launch, w.starts_at, w.ends_at, r.registered_at, r.attended,
       coalesce(x.visits, 0) AS visits,
       r.account_id
  FROM customercard.webinar_registrations r
  JOIN customercard.webinars w ON w.account_id = r.account_id AND w.webinar_id = r.webinar_id
  -- joined by account and contact, not correlated: on Citus the card's
  -- statement stays on the account's shards
  LEFT JOIN (SELECT v.account_id, v.contact_id, v.webinar_id, count(*) AS visits FROM customercard.webinar_visits v
              GROUP BY v.account_id, v.contact_id, v.webinar_id) x
         ON x.account_id = r.account_id AND x.contact_id = r.contact_id AND x.webinar_id = r.webinar_id
 WHERE r.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_webinar_registrations IS 'Webinar registrations of each contact: the webinar, when it takes place, attended or not';
-- issue 17 (item 8): the card's small facts.  The person's local time and
-- UTC offset in card (above); an avatar per channel; the balance ledger
-- names the order that earned or spent the points (card_balance_ledger);
-- related contacts with their name, e-mail, phone and city; card_upcoming.
ALTER TABLE customercard.balance_transactions ADD COLUMN order_id bigint;
ALTER TABLE customercard.balance_transactions ADD FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders;
CREATE INDEX balance_transactions_order ON customercard.balance_transactions (account_id, order_id) WHERE order_id IS NOT NULL;
ALTER TABLE customercard.channels ADD COLUMN avatar_url text CHECK (pg_catalog.length(avatar_url) BETWEEN 1 AND 2000);
DROP VIEW customercard.card_channels;
CREATE OR REPLACE VIEW customercard.card_channels WITH (security_invoker = true) AS
SELECT ch.contact_id, ch.channel_id, ch.kind, ch.connection, ch.external_id, ch.username,
       ch.subscribed_at, ch.archived_at, ch.archived_at IS NULL AS is_active, ch.created_at, ch.avatar_url,
       ch.account_id
  FROM customercard.channels ch
 WHERE ch.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_channels IS 'Messenger, e-mail and SMS channels of each contact';
DROP VIEW customercard.card_related;
DROP FUNCTION customercard.related_contacts(bigint);
CREATE OR REPLACE FUNCTION customercard.related_contacts(contact_id bigint)
RETURNS TABLE (related_id bigint, shared text[], shared_values text[], name text, email text, phone customercard.phone, city text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.current_account_id();
    id constant bigint := customercard.resolve_contact(related_contacts.contact_id);
    h record;
BEGIN
    -- who they are, one lookup each by key (the account a variable: on Citus
    -- each is a query of the account's shards, none nested in another)
    FOR h IN SELECT x.related_id, array_agg(DISTINCT x.kind ORDER BY x.kind) AS shared,
                    array_agg(DISTINCT x.value ORDER BY x.value) AS shared_values
               FROM customercard.contact_key_hits(acct, id) x
              GROUP BY x.related_id ORDER BY x.related_id LOOP
        related_id := h.related_id;
        shared := h.shared;
        shared_values := h.shared_values;
        SELECT coalesce(k.name, nullif(concat_ws(' ', k.first_name, k.last_name), ''), k.nickname), k.city INTO name, city
          FROM customercard.contacts k WHERE k.account_id = acct AND k.contact_id = h.related_id;
        SELECT x.email INTO email FROM customercard.emails x WHERE x.account_id = acct AND x.contact_id = h.related_id
         ORDER BY x.is_primary DESC, x.email_id LIMIT 1;
        SELECT x.phone INTO phone FROM customercard.phones x WHERE x.account_id = acct AND x.contact_id = h.related_id
         ORDER BY x.is_primary DESC, x.phone_id LIMIT 1;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customercard.related_contacts(bigint) IS
    'Other live contacts of the current account sharing a phone, an e-mail, a channel external id or a visitor id with the contact (a merged id resolves to its survivor), with what they share and who they are: name, primary e-mail and phone, city';
CREATE OR REPLACE VIEW customercard.card_related WITH (security_invoker = true) AS
SELECT c.contact_id, r.related_id, r.shared, r.shared_values, r.name, r.email, r.phone, r.city
  FROM customercard.contacts c
 CROSS JOIN LATERAL customercard.related_contacts(c.contact_id) r
 WHERE c.account_id = (SELECT customercard.current_account_id())
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card_related IS
    'Other live contacts of the account that share a phone, an e-mail, a channel external id or a visitor id with each contact, with their name, e-mail, phone and city';
-- What is ahead for the person (Leeloo's log shows when an action will be
-- done): open tasks by due time, call-backs of call campaigns, the next
-- charges of recurring orders, and bulk jobs queued or running that have
-- the contact still to do.
CREATE OR REPLACE VIEW customercard.card_upcoming WITH (security_invoker = true) AS
SELECT t.contact_id, 'task' AS kind, t.due_at AS at, t.title AS what, t.task_id AS ref_id, t.manager_id, t.account_id
  FROM customercard.tasks t
 WHERE t.account_id = (SELECT customercard.current_account_id()) AND t.status = 'open' AND t.due_at IS NOT NULL
UNION ALL
SELECT m.contact_id, 'call_back', m.call_back_at, cc.name, m.campaign_id, m.manager_id, m.account_id
  FROM customercard.call_campaign_members m
  JOIN customercard.call_campaigns cc ON cc.account_id = m.account_id AND cc.campaign_id = m.campaign_id
 WHERE m.account_id = (SELECT customercard.current_account_id()) AND m.call_back_at IS NOT NULL
   AND m.status IN ('pending', 'call_back')
UNION ALL
SELECT o.contact_id, 'recurring_charge', o.next_charge_at, concat_ws(' ', o.number, o.offer), o.order_id, o.manager_id, o.account_id
  FROM customercard.orders o
 WHERE o.account_id = (SELECT customercard.current_account_id()) AND o.next_charge_at IS NOT NULL
   AND o.recurring_stopped_at IS NULL AND NOT o.is_false
UNION ALL
SELECT i.contact_id, 'bulk_job', greatest(j.run_at, j.created_at), j.action, j.job_id, NULL::bigint, i.account_id
  FROM customercard.bulk_jobs j
  JOIN customercard.bulk_job_items i ON i.account_id = j.account_id AND i.job_id = j.job_id
 WHERE j.account_id = (SELECT customercard.current_account_id()) AND j.status IN ('queued', 'running');
COMMENT ON VIEW customercard.card_upcoming IS
    'What is ahead for each contact: open tasks by due time, call-backs, next recurring charges, bulk jobs queued or running that include the contact';
-- the balance ledger row by row, with the order that earned or spent them
CREATE OR REPLACE VIEW customercard.card_balance_ledger WITH (security_invoker = true) AS
SELECT b.contact_id, b.transaction_id, b.currency, b.amount, b.reason, b.actor, b.at, b.order_id, o.number AS order_number,
       b.account_id
  FROM customercard.balance_transactions b
  LEFT JOIN customercard.orders o ON o.account_id = b.account_id AND o.order_id = b.order_id
 WHERE b.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_balance_ledger IS 'The balance ledger of each contact, each row with the order that earned or spent it';
-- issue 17 (item 7, the rest): e-mails sent name their sending group, letter
-- number and name, instant letter number and the automatic chain's
-- actions; memberships have a status (the time the person left) and the ad
-- / keys UTM marks; automatic groups are out of a manager's hands (the C
-- trigger group_member_rules); clicks keep the partner's mark.
ALTER TABLE customercard.clicks ADD COLUMN partner text CHECK (pg_catalog.length(partner) BETWEEN 1 AND 200);
COMMENT ON TABLE customercard.clicks IS 'Tracked link clicks with UTM source, campaign, ad and keys, and the partner''s mark';
ALTER TABLE customercard.emails_sent
    ADD COLUMN group_id bigint,
    ADD COLUMN letter_number integer CHECK (letter_number > 0),
    ADD COLUMN letter_name text CHECK (pg_catalog.length(letter_name) BETWEEN 1 AND 500),
    ADD COLUMN instant_number integer CHECK (instant_number > 0),
    ADD COLUMN chain_actions text[] NOT NULL DEFAULT '{}';
COMMENT ON TABLE customercard.emails_sent IS 'E-mails sent to a contact: kind, subject, opened/clicked/unsubscribed/spam times; the sending group, letter number and name, instant letter number, the automatic chain''s actions';
ALTER TABLE customercard.groups ADD COLUMN is_automatic boolean NOT NULL DEFAULT false;
COMMENT ON TABLE customercard.groups IS 'Groups (lists) contacts join, e.g. through a sign-up form; automatic ones are kept by their rules';
ALTER TABLE customercard.emails_sent ADD FOREIGN KEY (account_id, group_id) REFERENCES customercard.groups;
CREATE INDEX emails_sent_group ON customercard.emails_sent (account_id, group_id) WHERE group_id IS NOT NULL;
ALTER TABLE customercard.group_members
    ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('unconfirmed', 'active', 'unsubscribed')),
    ADD COLUMN left_at timestamptz,
    ADD COLUMN utm_ad text,
    ADD COLUMN utm_keys text;
COMMENT ON TABLE customercard.group_members IS 'Contacts in groups: status (unconfirmed, active, unsubscribed), when they left, the partner, tag and UTM marks of joining';
CREATE OR REPLACE FUNCTION customercard.group_member_rules() RETURNS trigger
    AS 'MODULE_PATHNAME', 'group_member_rules' LANGUAGE C;
CREATE TRIGGER group_member_rules BEFORE UPDATE OR DELETE ON customercard.group_members
    FOR EACH ROW EXECUTE FUNCTION customercard.group_member_rules();
DROP VIEW customercard.card_clicks, customercard.card_emails, customercard.card_groups;
CREATE OR REPLACE VIEW customercard.card_clicks WITH (security_invoker = true) AS
SELECT k.contact_id, k.click_id, k.visitor_id, k.url, k.utm_source, k.utm_campaign, k.utm_ad, k.utm_keys, k.clicked_at,
       k.partner,
       k.account_id
  FROM customercard.clicks k
 WHERE k.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_clicks IS 'Link clicks of each contact with their UTM marks and the partner''s mark';
CREATE OR REPLACE VIEW customercard.card_emails WITH (security_invoker = true) AS
SELECT es.contact_id, es.email_sent_id, es.kind, es.subject, es.sent_at, es.opened_at, es.clicked_at,
       es.unsubscribed_at, es.spam_at,
       CASE WHEN es.spam_at IS NOT NULL THEN 'spam'
            WHEN es.unsubscribed_at IS NOT NULL THEN 'unsubscribed'
            WHEN es.clicked_at IS NOT NULL THEN 'clicked'
            WHEN es.opened_at IS NOT NULL THEN 'opened'
            ELSE 'sent' END AS outcome,
       es.visitor_id,
       es.group_id, g.name AS "group", es.letter_number, es.letter_name, es.instant_number, es.chain_actions,
       es.account_id
  FROM customercard.emails_sent es
  LEFT JOIN customercard.groups g ON g.account_id = es.account_id AND g.group_id = es.group_id
 WHERE es.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_emails IS 'E-mails sent to each contact and what they did with them';
CREATE OR REPLACE VIEW customercard.card_groups WITH (security_invoker = true) AS
SELECT gm.contact_id, gm.group_id, g.name AS "group", gm.joined_at, gm.partner, gm.tag,
       gm.utm_source, gm.utm_medium, gm.utm_campaign, gm.visitor_id,
       gm.status, gm.left_at, gm.utm_ad, gm.utm_keys, g.is_automatic,
       gm.account_id
  FROM customercard.group_members gm
  JOIN customercard.groups g ON g.account_id = gm.account_id AND g.group_id = gm.group_id
 WHERE gm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_groups IS 'Groups each contact joined, with partner, tag and UTM of joining';
-- issue 17 (item 8): related contacts from the same browser through the
-- visitor ids orders, payments and subscriptions carry (contact_visitors,
-- contact_key_hits); forget_contact erases them
ALTER TABLE customercard.orders ADD COLUMN visitor_id text;
ALTER TABLE customercard.payments ADD COLUMN visitor_id text;
ALTER TABLE customercard.subscriptions ADD COLUMN visitor_id text;
CREATE INDEX orders_visitor ON customercard.orders (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
CREATE INDEX payments_visitor ON customercard.payments (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
CREATE INDEX subscriptions_visitor ON customercard.subscriptions (account_id, visitor_id) WHERE visitor_id IS NOT NULL;

-- review: shared helpers of the managers' functions and the runner's batches
-- The calling role (not a SECURITY DEFINER function's owner) is a manager:
-- otherwise 42501 saying what it may not do.
CREATE OR REPLACE FUNCTION customercard.assert_manager(what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT pg_has_role(customercard.calling_role()::oid, 'customercard_manager', 'USAGE') THEN
        RAISE EXCEPTION 'role "%" may not %', customercard.calling_role(), what
            USING ERRCODE = 'insufficient_privilege', HINT = 'That is for members of customercard_manager.';
    END IF;
END
$$;
-- A batch's progress on its job, in the batch's transaction: its last
-- item (position), what it did and failed, and the job done when the batch
-- was its last.  (Values, not functions: Citus evaluates no STABLE or
-- VOLATILE function inside a distributed UPDATE.)
CREATE OR REPLACE FUNCTION customercard.bulk_progressed(acct bigint, job_id bigint, started timestamptz, last_position bigint,
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
-- issue 20: name search that answers at once.  The haystack in C (the same
-- string: ICU's root lower case), statistics of it for the planner, and the
-- page query in one place.
CREATE OR REPLACE FUNCTION customercard.name_haystack(name text, first_name text, last_name text,
                                           middle_name text, nickname text) RETURNS text
    AS 'MODULE_PATHNAME', 'name_haystack' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customercard.name_haystack(text, text, text, text, text) IS
    'The lower-cased names of a contact, as the audience''s name search sees them (trigram-indexed)';
-- What the planner knows of the names: a common name walks the newest
-- contacts, a rare one takes the trigram index
CREATE STATISTICS customercard.contacts_name_haystack
    ON (customercard.name_haystack(name, first_name, last_name, middle_name, nickname)) FROM customercard.contacts;
ANALYZE customercard.contacts;
CREATE OR REPLACE FUNCTION customercard.audience_page_query(f customercard.audience_filter, keyset boolean) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'SELECT c.contact_id, c.created_at FROM customercard.contacts c WHERE '
           || customercard.audience_where(f)
           || CASE WHEN keyset THEN ' AND (c.created_at, c.contact_id) < ($5, $6)' ELSE '' END
           || ' ORDER BY c.created_at DESC, c.contact_id DESC LIMIT $3 OFFSET $4'
$$;
COMMENT ON FUNCTION customercard.audience_page_query(customercard.audience_filter, boolean) IS
    'The query of one page of the CRM table for a checked filter (fixed SQL over parameters, never the filter''s text)';
-- issue 18: bulk_preview, what a job would do before it is queued
-- The ids of a selection are contacts of the account: else 42704 naming one.
CREATE OR REPLACE FUNCTION customercard.bulk_check_ids(acct bigint, contact_ids bigint[]) RETURNS void
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
-- What a job would do to each contact of a selection, before it is queued:
-- the field it touches, the value before and after, whether it changes, or
-- why it cannot act (the same rules as bulk_apply, read-only).  One query,
-- one branch per action, over $1 (account), $2 (action), $3 (the checked
-- parameters) and $4 (the ids): bulk_preview runs it as dynamic SQL with
-- parameters (which Citus plans; a SQL function over distributed tables it
-- does not), streamed into its count, nothing kept.  Fixed text, no caller's.
CREATE OR REPLACE FUNCTION customercard.bulk_preview_query() RETURNS text
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
CREATE OR REPLACE FUNCTION customercard.bulk_preview(action text, params jsonb DEFAULT '{}', contact_ids bigint[] DEFAULT NULL,
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
-- issue 18: bulk_undo.  Every bulk job journals what it changes
-- (bulk_job_journal, new); bulk_undo queues a job that puts it back;
-- bulk_prune drops a job's journal with it; forget_contact scrubs it.
-- What a bulk job changed, for bulk_undo: a row per row of a card table
-- that a batch made, removed or changed, written in the batch's
-- transaction (only committed batches are here).  The row is the table's
-- row of contact_id with the section key row_key (for contacts, the
-- contact's own id); before is its image before the job (NULL: the job
-- made it; for a change, the columns it changed), after its image after
-- (NULL: the job removed it).  Images leave out account_id, contact_id and
-- the key.  No foreign key, as for bulk_job_items: a check per row would
-- slow every job; bulk_prune deletes a job's journal with it.
CREATE TABLE customercard.bulk_job_journal (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    tbl         text NOT NULL CHECK (tbl IN ('contacts', 'contact_tags', 'subscriptions', 'sales_plan_members',
                                            'channels', 'custom_values')),
    row_key     bigint NOT NULL,
    before      jsonb,
    after       jsonb,
    PRIMARY KEY (account_id, job_id, contact_id, tbl, row_key),
    CHECK (before IS NOT NULL OR after IS NOT NULL)
);
COMMENT ON TABLE customercard.bulk_job_journal IS
    'What each batch of a bulk job changed, row by row (image before and after), so that bulk_undo can put it back';
ALTER TABLE customercard.bulk_job_journal ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_isolation ON customercard.bulk_job_journal
    USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))
    WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()));
SELECT pg_catalog.pg_extension_config_dump('customercard.bulk_job_journal', '');
-- forgotten cards join the tombstones and deleted cards of contacts_gone
-- (an undo batch looks up only these)
DROP INDEX customercard.contacts_gone;
CREATE INDEX contacts_gone ON customercard.contacts (account_id, contact_id)
    WHERE merged_into IS NOT NULL OR deleted_at IS NOT NULL OR forgotten_at IS NOT NULL;

CREATE OR REPLACE FUNCTION customercard.journal_image(img jsonb, key text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT img - ARRAY['account_id', 'contact_id', key]
$$;
CREATE OR REPLACE FUNCTION customercard.bulk_set_contacts(acct bigint, job_id bigint, ids bigint[], patch jsonb, compared name,
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
CREATE OR REPLACE FUNCTION customercard.bulk_changed_since(acct bigint, contact bigint, tbl text, key text, row_key bigint, cols jsonb)
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
CREATE OR REPLACE FUNCTION customercard.bulk_undo_table(acct bigint, src bigint, undo_job bigint, tbl text, origs bigint[], dests bigint[])
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
CREATE OR REPLACE FUNCTION customercard.bulk_undo_apply(acct bigint, job customercard.bulk_jobs, ids bigint[])
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
    FOR t IN SELECT DISTINCT j.tbl FROM customercard.bulk_job_journal j
              WHERE j.account_id = acct AND j.job_id = src AND j.contact_id BETWEEN origs[1] AND origs[cardinality(origs)] LOOP
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
CREATE OR REPLACE FUNCTION customercard.bulk_undo(job_id bigint) RETURNS bigint
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
CREATE OR REPLACE FUNCTION customercard.bulk_batch_apply(acct bigint, job_id bigint, ids bigint[]) RETURNS integer
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
CREATE OR REPLACE FUNCTION customercard.audience_search(filter jsonb DEFAULT '{}', page integer DEFAULT 1,
                                             page_size integer DEFAULT 30, after_contact_id bigint DEFAULT NULL)
RETURNS TABLE (contact_id bigint, name text, created_at timestamptz, phone text, email text,
               tags text[], sales_plans text[], sales_count bigint, channels text[], channels_count bigint,
               status text, manager_name text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- a page of 30 is interactive: starting parallel workers costs more than it saves
SET max_parallel_workers_per_gather = 0 AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    f customercard.audience_filter;
    after_created timestamptz;
BEGIN
    IF after_contact_id IS NOT NULL THEN
        -- keyset paging: the rows after this contact in the table's order
        SELECT c.created_at INTO after_created FROM customercard.contacts c
         WHERE c.account_id = acct AND c.contact_id = after_contact_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'contact % does not exist in account %', after_contact_id, acct
                USING ERRCODE = 'undefined_object', HINT = 'Pass the last contact_id of the previous page.';
        END IF;
        page := 1;
    END IF;
    IF page IS NULL OR page < 1 OR page_size IS NULL OR page_size NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'page must be 1 or more and page_size between 1 and 500 (got %, %)', page, page_size
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The CRM table shows 30 per page: audience_search(filter, 1, 30).';
    END IF;
    f := customercard.audience_check_filter(filter, acct);
    RETURN QUERY EXECUTE format($q$
        WITH page AS MATERIALIZED (%s)
        SELECT c.contact_id,
               coalesce(c.name, nullif(concat_ws(' ', c.first_name, c.last_name), ''), c.nickname),
               c.created_at,
               (SELECT p.phone::text FROM customercard.phones p WHERE p.account_id = $1 AND p.contact_id = c.contact_id
                 ORDER BY p.is_primary DESC, p.phone_id LIMIT 1),
               (SELECT e.email FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id
                 ORDER BY e.is_primary DESC, e.email_id LIMIT 1),
               coalesce((SELECT array_agg(t.name ORDER BY t.name) FROM customercard.contact_tags ct
                           JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                          WHERE ct.account_id = $1 AND ct.contact_id = c.contact_id), '{}'),
               coalesce((SELECT array_agg(sp.name ORDER BY sp.name) FROM customercard.sales_plan_members spm
                           JOIN customercard.sales_plans sp ON sp.account_id = spm.account_id AND sp.plan_id = spm.plan_id
                          WHERE spm.account_id = $1 AND spm.contact_id = c.contact_id), '{}'),
               (SELECT count(*) FROM customercard.orders o
                 WHERE o.account_id = $1 AND o.contact_id = c.contact_id AND o.status = 'paid'),
               coalesce((SELECT array_agg(DISTINCT ch.kind ORDER BY ch.kind) FROM customercard.channels ch
                          WHERE ch.account_id = $1 AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL), '{}'),
               (SELECT count(*) FROM customercard.channels ch
                 WHERE ch.account_id = $1 AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL),
               c.status,
               m.name
          FROM page pg
          JOIN customercard.contacts c ON c.account_id = $1 AND c.contact_id = pg.contact_id
          LEFT JOIN customercard.managers m ON m.account_id = $1 AND m.manager_id = c.manager_id
         ORDER BY pg.created_at DESC, pg.contact_id DESC
        $q$, customercard.audience_page_query(f, after_contact_id IS NOT NULL))
        USING acct, f, page_size, (page - 1)::bigint * page_size, after_created, after_contact_id;
END
$$;
COMMENT ON FUNCTION customercard.audience_search(jsonb, integer, integer, bigint) IS
    'The CRM table of the current account: live contacts matching the filter (the audience filter''s keys), newest first (id breaks ties), one page; after_contact_id: the page after that contact (keyset paging)';
CREATE OR REPLACE FUNCTION customercard.bulk_prune(older_than interval DEFAULT '30 days') RETURNS bigint
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
-- One list per concept: the channel kinds (the CHECK reads channel_kinds());
-- the sections with a visitor id read from the catalog, contact_visitors and
-- contact_key_hits written from them
CREATE OR REPLACE FUNCTION customercard.channel_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['telegram', 'whatsapp', 'viber', 'vk', 'ok', 'facebook', 'instagram', 'max', 'avito', 'web', 'email', 'sms', 'other']
$$;
COMMENT ON FUNCTION customercard.channel_kinds() IS 'The kinds a channel can be (messengers, web, email, sms, other)';
ALTER TABLE customercard.channels DROP CONSTRAINT channels_kind_check,
    ADD CONSTRAINT channels_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (customercard.channel_kinds()));
CREATE OR REPLACE FUNCTION customercard.visitor_tables() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(s.tbl ORDER BY s.ord), '{}')
      FROM customercard.section_declarations() WITH ORDINALITY s (tbl, label, decl, ord)
     WHERE EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = ('customercard.' || quote_ident(s.tbl))::regclass
                      AND a.attname = 'visitor_id' AND NOT a.attisdropped)
$$;
COMMENT ON FUNCTION customercard.visitor_tables() IS
    'The card sections that carry a browser visitor id (a visitor_id column): contact_visitors and contact_key_hits read them';
-- upsert_contact_in split into a function per step
CREATE OR REPLACE FUNCTION customercard.upsert_keys(OUT known text[], OUT scalar_text text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['contact_id', 'name', 'first_name', 'last_name', 'middle_name', 'nickname',
                 'avatar_url', 'gender', 'gender_source', 'timezone', 'country', 'city', 'ip', 'note', 'status',
                 'manager_id', 'created_at', 'phone', 'phones', 'email', 'emails', 'channel', 'channels', 'tags', 'custom',
                 'funnel', 'lgt', 'source'],
           ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname',
                 'avatar_url', 'gender', 'gender_source', 'timezone', 'country', 'city', 'ip', 'note', 'status', 'created_at']
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_check_shape(acct bigint, data jsonb, OUT sub_funnel bigint, OUT sub_lgt bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys constant record := customercard.upsert_keys();
    k text;
BEGIN
    IF data IS NULL OR jsonb_typeof(data) <> 'object' THEN
        PERFORM customercard.upsert_error('contact data must be a JSON object',
            'Pass something like ''{"name": "Anna", "phones": ["+7 912 345-67-89"]}''.');
    END IF;
    FOR k IN SELECT jsonb_object_keys(data) LOOP
        IF NOT k = ANY (keys.known) THEN
            PERFORM customercard.upsert_error(format('unknown key "%s" in contact data', k),
                'Known keys: ' || array_to_string(keys.known, ', ') || '.');
        END IF;
    END LOOP;
    FOREACH k IN ARRAY keys.scalar_text LOOP
        PERFORM customercard.expect_json_type(data, k, ARRAY['string']);
    END LOOP;
    PERFORM customercard.expect_json_type(data, 'contact_id', ARRAY['number']);
    PERFORM customercard.expect_json_type(data, 'manager_id', ARRAY['number']);
    PERFORM customercard.expect_json_type(data, 'phone', ARRAY['string', 'number']);
    PERFORM customercard.expect_json_type(data, 'email', ARRAY['string']);
    PERFORM customercard.expect_json_type(data, 'phones', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'emails', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'channel', ARRAY['object']);
    PERFORM customercard.expect_json_type(data, 'channels', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'funnel', ARRAY['string', 'number']);
    PERFORM customercard.expect_json_type(data, 'lgt', ARRAY['string', 'number']);
    PERFORM customercard.expect_json_type(data, 'source', ARRAY['string']);
    IF data ? 'lgt' AND NOT data ? 'funnel' THEN
        PERFORM customercard.upsert_error('"lgt" needs its "funnel"', 'Send {"funnel": "...", "lgt": "..."}: an LGT belongs to a funnel.');
    END IF;
    IF data ? 'source' AND (NOT data ? 'funnel' OR length(data ->> 'source') NOT BETWEEN 1 AND 200) THEN
        PERFORM customercard.upsert_error('"source" tells where a subscription came from: it needs a "funnel", and 1 to 200 characters',
                                          'Send {"funnel": "...", "source": "import"}.');
    END IF;
    IF data ? 'funnel' THEN
        sub_funnel := customercard.bulk_lookup(acct, data, 'funnel', 'funnels');
        sub_lgt := customercard.bulk_lookup(acct, data, 'lgt', 'lgts', sub_funnel, false);
    END IF;
    PERFORM customercard.expect_json_type(data, 'tags', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'custom', ARRAY['object']);
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_read_phones(acct bigint, data jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    phones jsonb := '[]';
    v jsonb;
    k text;
    norm text;
BEGIN
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'phones', '[]')) x
             UNION ALL SELECT data -> 'phone' WHERE jsonb_typeof(data -> 'phone') IN ('string', 'number') LOOP
        IF jsonb_typeof(v) = 'object' THEN
            PERFORM customercard.expect_json_type(v, 'phone', ARRAY['string', 'number']);
            PERFORM customercard.expect_json_type(v, 'kind', ARRAY['string']);
            PERFORM customercard.expect_json_type(v, 'primary', ARRAY['boolean']);
        ELSIF jsonb_typeof(v) NOT IN ('string', 'number') THEN
            PERFORM customercard.upsert_error(format('each phone must be a string or an object, not %s', jsonb_typeof(v)),
                'Use "phones": ["+7 912 345-67-89"] or [{"phone": "...", "kind": "work", "primary": true}].');
        END IF;
        k := CASE WHEN jsonb_typeof(v) = 'object' THEN v ->> 'phone' ELSE v #>> '{}' END;
        norm := customercard.normalize_phone(k);
        IF norm IS NULL THEN
            PERFORM customercard.upsert_error(format('"%s" is not a valid phone number', k),
                coalesce('National numbers are read as numbers of region '
                         || (SELECT coalesce(nullif(pg_catalog.current_setting('customercard.default_region', true), ''), a.default_region)
                               FROM customercard.accounts a WHERE a.account_id = acct)
                         || '; write others with + and the country code, like +49 30 123456.',
                         'No region is set for national numbers: write the number with + and the country code (+7 912 345-67-89), or set customercard.default_region or the account''s default_region.'));
        END IF;
        phones := phones || jsonb_build_array(jsonb_build_object('phone', norm, 'raw', k,
            'kind', coalesce(v ->> 'kind', 'mobile'), 'primary', coalesce((v ->> 'primary')::boolean, false)));
    END LOOP;
    RETURN phones;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_read_emails(data jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    emails jsonb := '[]';
    v jsonb;
    k text;
    norm text;
BEGIN
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'emails', '[]')) x
             UNION ALL SELECT data -> 'email' WHERE jsonb_typeof(data -> 'email') = 'string' LOOP
        IF jsonb_typeof(v) = 'object' THEN
            PERFORM customercard.expect_json_type(v, 'email', ARRAY['string']);
            PERFORM customercard.expect_json_type(v, 'primary', ARRAY['boolean']);
        ELSIF jsonb_typeof(v) <> 'string' THEN
            PERFORM customercard.upsert_error(format('each e-mail must be a string or an object, not %s', jsonb_typeof(v)),
                'Use "emails": ["anna@example.com"] or [{"email": "...", "primary": true}].');
        END IF;
        k := CASE WHEN jsonb_typeof(v) = 'object' THEN v ->> 'email' ELSE v #>> '{}' END;
        norm := customercard.normalize_email(k);
        IF norm IS NULL THEN
            PERFORM customercard.upsert_error(format('"%s" is not an e-mail address', k),
                'Use one address such as anna@example.com.');
        END IF;
        emails := emails || jsonb_build_array(jsonb_build_object('email', norm, 'raw', k,
            'primary', coalesce((v ->> 'primary')::boolean, false)));
    END LOOP;
    RETURN emails;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_read_channels(data jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kinds constant text[] := customercard.channel_kinds();
    chans jsonb := '[]';
    v jsonb;
    k text;
BEGIN
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'channels', '[]')) x
             UNION ALL SELECT data -> 'channel' WHERE jsonb_typeof(data -> 'channel') = 'object' LOOP
        IF jsonb_typeof(v) <> 'object' THEN
            PERFORM customercard.upsert_error(format('each channel must be an object, not %s', jsonb_typeof(v)),
                'Use "channel": {"kind": "telegram", "external_id": "123456"}.');
        END IF;
        FOR k IN SELECT jsonb_object_keys(v) LOOP
            IF NOT k = ANY (ARRAY['kind', 'external_id', 'social_id', 'connection', 'username', 'subscribed_at', 'avatar_url']) THEN
                PERFORM customercard.upsert_error(format('unknown key "%s" in channel', k),
                    'Known channel keys: kind, external_id (or social_id), connection, username, subscribed_at, avatar_url.');
            END IF;
        END LOOP;
        PERFORM customercard.expect_json_type(v, 'kind', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'external_id', ARRAY['string', 'number']);
        PERFORM customercard.expect_json_type(v, 'social_id', ARRAY['string', 'number']);
        PERFORM customercard.expect_json_type(v, 'connection', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'username', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'avatar_url', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'subscribed_at', ARRAY['string']);
        IF NOT coalesce(v ->> 'kind' = ANY (kinds), false) THEN
            PERFORM customercard.upsert_error(format('unknown channel kind "%s"', coalesce(v ->> 'kind', '(none)')),
                'Channel kinds: ' || array_to_string(kinds, ', ') || '.');
        END IF;
        k := coalesce(v #>> '{external_id}', v #>> '{social_id}');
        IF k IS NULL OR btrim(k) = '' THEN
            PERFORM customercard.upsert_error('a channel needs an external_id',
                'Give the messenger''s user id as "external_id" (or "social_id").');
        END IF;
        chans := chans || jsonb_build_array(jsonb_build_object('kind', v ->> 'kind', 'external_id', k,
            'connection', v ->> 'connection', 'username', v ->> 'username', 'subscribed_at', v ->> 'subscribed_at',
            'avatar_url', v ->> 'avatar_url'));
    END LOOP;
    RETURN chans;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_check_values(acct bigint, data jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF data ? 'gender' AND NOT coalesce(lower(data ->> 'gender') = ANY (ARRAY['male', 'female', 'm', 'f', 'unknown']), true) THEN
        PERFORM customercard.upsert_error(format('unknown gender "%s"', data ->> 'gender'),
            'Use "male", "female", or "unknown" (or null).');
    END IF;
    IF data ? 'gender_source' AND NOT coalesce(data ->> 'gender_source' = ANY (ARRAY['channel', 'manual']), true) THEN
        PERFORM customercard.upsert_error(format('unknown gender source "%s"', data ->> 'gender_source'),
            'Use "channel" (the messenger said so) or "manual" (a manager set it).');
    END IF;
    IF data ? 'status' AND NOT coalesce(data ->> 'status' = ANY (ARRAY['active', 'unsubscribed', 'blacklisted', 'archived']), true) THEN
        PERFORM customercard.upsert_error(format('unknown status "%s"', data ->> 'status'),
            'Use active, unsubscribed, blacklisted or archived.');
    END IF;
    IF data ? 'timezone' AND NOT coalesce(customercard.is_valid_timezone(data ->> 'timezone'), true) THEN
        PERFORM customercard.upsert_error(format('unknown time zone "%s"', data ->> 'timezone'),
            'Use a zone name such as Europe/Moscow or Asia/Yekaterinburg (see pg_timezone_names).');
    END IF;
    IF jsonb_typeof(data -> 'manager_id') = 'number' AND NOT EXISTS (SELECT 1 FROM customercard.managers m
            WHERE m.account_id = acct AND m.manager_id = (data ->> 'manager_id')::numeric) THEN
        RAISE EXCEPTION 'manager % does not exist in account %', data ->> 'manager_id', acct
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Add the manager to customercard.managers first, or leave manager_id out.';
    END IF;
    IF data ? 'tags' AND EXISTS (SELECT 1 FROM jsonb_array_elements(data -> 'tags') t
                                 WHERE jsonb_typeof(t) <> 'string' OR btrim(t #>> '{}') = '') THEN
        PERFORM customercard.upsert_error('tags must be non-empty strings', 'Use "tags": ["vip", "webinar-2026"].');
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_match(acct bigint, data jsonb, phones jsonb, emails jsonb, chans jsonb) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cid bigint;
BEGIN
    IF data ? 'contact_id' AND jsonb_typeof(data -> 'contact_id') = 'number' THEN
        cid := customercard.resolve_contact((data ->> 'contact_id')::bigint);
    END IF;
    IF cid IS NULL THEN
        SELECT x.contact_id INTO cid
          FROM jsonb_to_recordset(chans) AS j(kind text, external_id text, connection text),
               LATERAL (SELECT c.channel_id, c.contact_id FROM customercard.channels c
                         WHERE c.account_id = acct AND c.kind = j.kind AND c.external_id = j.external_id
                           AND (j.connection IS NULL OR c.connection IS NOT DISTINCT FROM j.connection)
                        OFFSET 0) x
         ORDER BY x.channel_id LIMIT 1;
    END IF;
    IF cid IS NULL THEN
        SELECT x.contact_id INTO cid
          FROM jsonb_to_recordset(emails) AS j(email text),
               LATERAL (SELECT e.email_id, e.contact_id FROM customercard.emails e
                          JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = e.contact_id AND c.deleted_at IS NULL
                         WHERE e.account_id = acct AND customercard.email_key(e.email) = customercard.email_key(j.email)
                        OFFSET 0) x
         ORDER BY x.email_id LIMIT 1;
    END IF;
    IF cid IS NULL THEN
        SELECT x.contact_id INTO cid
          FROM jsonb_to_recordset(phones) AS j(phone customercard.phone),
               LATERAL (SELECT p.phone_id, p.contact_id FROM customercard.phones p
                          JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = p.contact_id AND c.deleted_at IS NULL
                         WHERE p.account_id = acct AND p.phone OPERATOR(customercard.=) j.phone
                        OFFSET 0) x
         ORDER BY x.phone_id LIMIT 1;
    END IF;
    IF cid IS NOT NULL THEN
        cid := customercard.resolve_contact(cid);
    END IF;
    RETURN cid;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_contact_row(acct bigint, cid bigint, data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    upserted_id := cid;
    created := cid IS NULL;
    IF created THEN
        INSERT INTO customercard.contacts (account_id, created_at)
        VALUES (acct, coalesce((data ->> 'created_at')::timestamptz, now()))
        RETURNING customercard.contacts.contact_id INTO upserted_id;
    END IF;

    UPDATE customercard.contacts c SET
        name          = CASE WHEN data ? 'name' THEN nullif(btrim(data ->> 'name'), '') ELSE c.name END,
        first_name    = CASE WHEN data ? 'first_name' THEN nullif(btrim(data ->> 'first_name'), '') ELSE c.first_name END,
        last_name     = CASE WHEN data ? 'last_name' THEN nullif(btrim(data ->> 'last_name'), '') ELSE c.last_name END,
        middle_name   = CASE WHEN data ? 'middle_name' THEN nullif(btrim(data ->> 'middle_name'), '') ELSE c.middle_name END,
        nickname      = CASE WHEN data ? 'nickname' THEN nullif(btrim(data ->> 'nickname'), '') ELSE c.nickname END,
        avatar_url    = CASE WHEN data ? 'avatar_url' THEN data ->> 'avatar_url' ELSE c.avatar_url END,
        gender        = CASE WHEN data ? 'gender' THEN
                            CASE WHEN lower(data ->> 'gender') = 'm' THEN 'male' WHEN lower(data ->> 'gender') = 'f' THEN 'female'
                                 WHEN lower(data ->> 'gender') = 'unknown' THEN NULL ELSE lower(data ->> 'gender') END
                        ELSE c.gender END,
        gender_source = CASE WHEN data ? 'gender' THEN
                            CASE WHEN data ->> 'gender' IS NULL OR lower(data ->> 'gender') = 'unknown' THEN NULL
                                 ELSE coalesce(data ->> 'gender_source', 'manual') END
                        ELSE c.gender_source END,
        timezone      = CASE WHEN data ? 'timezone' THEN data ->> 'timezone' ELSE c.timezone END,
        country       = CASE WHEN data ? 'country' THEN data ->> 'country' ELSE c.country END,
        city          = CASE WHEN data ? 'city' THEN data ->> 'city' ELSE c.city END,
        ip            = CASE WHEN data ? 'ip' THEN (data ->> 'ip')::inet ELSE c.ip END,
        note          = CASE WHEN data ? 'note' THEN data ->> 'note' ELSE c.note END,
        status        = CASE WHEN data ? 'status' THEN coalesce(data ->> 'status', 'active') ELSE c.status END,
        manager_id    = CASE WHEN data ? 'manager_id' THEN (data ->> 'manager_id')::bigint ELSE c.manager_id END
     WHERE c.account_id = acct AND c.contact_id = upserted_id
       AND (data ?| ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender',
                          'timezone', 'country', 'city', 'ip', 'note', 'status', 'manager_id']);
EXCEPTION
    WHEN check_violation OR invalid_text_representation OR invalid_datetime_format
         OR datetime_field_overflow OR foreign_key_violation OR numeric_value_out_of_range THEN
        PERFORM customercard.upsert_error('contact data has an invalid value: ' || SQLERRM,
            'gender is male, female or unknown; status is active, unsubscribed, blacklisted or archived; '
            'timezone is a zone name such as Europe/Moscow; ip an IP address; manager_id a manager of the account.');
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_phones_emails(acct bigint, cid bigint, phones jsonb, emails jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ph record;
    em record;
    has_primary boolean;    -- (Citus takes no sub-select inside INSERT ... VALUES)
BEGIN
    FOR ph IN SELECT * FROM jsonb_to_recordset(phones) AS j(phone customercard.phone, raw text, kind text, "primary" boolean) LOOP
        IF ph.kind NOT IN ('mobile', 'work', 'home', 'other') THEN
            PERFORM customercard.upsert_error(format('unknown phone kind "%s"', ph.kind), 'Phone kinds: mobile, work, home, other.');
        END IF;
        IF ph."primary" THEN
            UPDATE customercard.phones q SET is_primary = false
             WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary AND q.phone OPERATOR(customercard.<>) ph.phone;
        END IF;
        has_primary := EXISTS (SELECT 1 FROM customercard.phones q
                                WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary);
        INSERT INTO customercard.phones AS p (account_id, contact_id, phone, raw, kind, is_primary)
        VALUES (acct, cid, ph.phone, ph.raw, ph.kind, ph."primary" OR NOT has_primary)
        ON CONFLICT (account_id, contact_id, phone) DO UPDATE SET is_primary = true
            WHERE ph."primary" AND NOT p.is_primary;
    END LOOP;

    FOR em IN SELECT * FROM jsonb_to_recordset(emails) AS j(email text, raw text, "primary" boolean) LOOP
        IF em."primary" THEN
            UPDATE customercard.emails q SET is_primary = (customercard.email_key(q.email) = customercard.email_key(em.email))
             WHERE q.account_id = acct AND q.contact_id = cid
               AND (q.is_primary OR customercard.email_key(q.email) = customercard.email_key(em.email));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM customercard.emails e
                        WHERE e.account_id = acct AND e.contact_id = cid
                          AND customercard.email_key(e.email) = customercard.email_key(em.email)) THEN
            has_primary := EXISTS (SELECT 1 FROM customercard.emails q
                                    WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary);
            INSERT INTO customercard.emails (account_id, contact_id, email, raw, is_primary)
            VALUES (acct, cid, em.email, em.raw, em."primary" OR NOT has_primary);
        END IF;
    END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_channels(acct bigint, cid bigint, chans jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ch record;
BEGIN
    FOR ch IN SELECT * FROM jsonb_to_recordset(chans)
                  AS j(kind text, external_id text, connection text, username text, subscribed_at timestamptz, avatar_url text) LOOP
        -- without a connection, any connection of this contact's channel is the same channel
        IF ch.connection IS NULL AND EXISTS (SELECT 1 FROM customercard.channels c
                WHERE c.account_id = acct AND c.contact_id = cid AND c.kind = ch.kind AND c.external_id = ch.external_id) THEN
            -- (a new avatar is the person's picture there now)
            UPDATE customercard.channels c SET avatar_url = ch.avatar_url
             WHERE c.account_id = acct AND c.contact_id = cid AND c.kind = ch.kind AND c.external_id = ch.external_id
               AND ch.avatar_url IS NOT NULL AND c.avatar_url IS DISTINCT FROM ch.avatar_url;
            CONTINUE;
        END IF;
        INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id, username, subscribed_at, avatar_url)
        VALUES (acct, cid, ch.kind, ch.connection, ch.external_id, ch.username, coalesce(ch.subscribed_at, now()), ch.avatar_url)
        ON CONFLICT (account_id, kind, connection, external_id) DO UPDATE
            SET username = coalesce(EXCLUDED.username, customercard.channels.username),
                avatar_url = coalesce(EXCLUDED.avatar_url, customercard.channels.avatar_url)
            WHERE customercard.channels.contact_id = cid;
    END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_subscription(acct bigint, cid bigint, chans jsonb, sub_funnel bigint, sub_lgt bigint,
                                                 source text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sub_channel bigint;
BEGIN
    sub_channel := (SELECT c.channel_id FROM customercard.channels c
                     WHERE c.account_id = acct AND c.contact_id = cid
                       AND (c.kind, c.external_id) IN (SELECT j.kind, j.external_id FROM jsonb_to_recordset(chans) AS j(kind text, external_id text))
                     ORDER BY c.channel_id LIMIT 1);
    IF NOT EXISTS (SELECT 1 FROM customercard.subscriptions s
                    WHERE s.account_id = acct AND s.contact_id = cid AND s.funnel_id = sub_funnel
                      AND s.channel_id IS NOT DISTINCT FROM sub_channel AND s.unsubscribed_at IS NULL
                      AND (sub_lgt IS NULL OR s.lgt_id = sub_lgt)) THEN
        INSERT INTO customercard.subscriptions (account_id, contact_id, channel_id, funnel_id, lgt_id, source)
        VALUES (acct, cid, sub_channel, sub_funnel, sub_lgt, source)
        ON CONFLICT (account_id, contact_id, funnel_id, channel_id, lgt_id) WHERE unsubscribed_at IS NULL DO NOTHING;
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION customercard.upsert_tags_custom(acct bigint, cid bigint, data jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text;
    v jsonb;
    tid bigint;
    fid bigint;
    fkind text;
BEGIN
    FOR k IN SELECT DISTINCT btrim(t #>> '{}') FROM jsonb_array_elements(coalesce(data -> 'tags', '[]')) t LOOP
        INSERT INTO customercard.tags (account_id, name) VALUES (acct, k) ON CONFLICT (account_id, name) DO NOTHING;
        SELECT t.tag_id INTO tid FROM customercard.tags t WHERE t.account_id = acct AND t.name = k;
        INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id) VALUES (acct, cid, tid)
        ON CONFLICT DO NOTHING;
    END LOOP;

    FOR k, v IN SELECT * FROM jsonb_each(coalesce(data -> 'custom', '{}')) LOOP
        SELECT f.field_id, f.kind INTO fid, fkind FROM customercard.custom_fields f WHERE f.account_id = acct AND f.name = k;
        IF fid IS NULL THEN
            RAISE EXCEPTION 'custom field "%" does not exist', k
                USING ERRCODE = 'undefined_object',
                      HINT = format('An admin creates it: INSERT INTO customercard.custom_fields (name, kind) VALUES (%L, ''text'').', k);
        END IF;
        IF jsonb_typeof(v) = 'null' THEN
            DELETE FROM customercard.custom_values cv WHERE cv.account_id = acct AND cv.contact_id = cid AND cv.field_id = fid;
            CONTINUE;
        END IF;
        IF jsonb_typeof(v) NOT IN ('string', 'number', 'boolean') THEN
            PERFORM customercard.upsert_error(format('custom field "%s" takes a string, number or boolean, not %s', k, jsonb_typeof(v)),
                'Send scalar values; null removes the value.');
        END IF;
        BEGIN
            PERFORM CASE fkind WHEN 'number' THEN (v #>> '{}')::numeric::text
                               WHEN 'date' THEN (v #>> '{}')::date::text
                               WHEN 'boolean' THEN (v #>> '{}')::boolean::text
                               ELSE v #>> '{}' END;
        EXCEPTION WHEN OTHERS THEN
            PERFORM customercard.upsert_error(format('custom field "%s" is of kind %s; "%s" is not one', k, fkind, v #>> '{}'),
                'Send a value of the field''s kind (number, date as YYYY-MM-DD, boolean true/false).');
        END;
        INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
        VALUES (acct, cid, fid, v #>> '{}')
        ON CONFLICT (account_id, contact_id, field_id) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
            WHERE customercard.custom_values.value IS DISTINCT FROM EXCLUDED.value;
    END LOOP;
END
$$;
-- the generators: functions that the install script and every upgrade
-- script call (regenerate(), appended by tools/sqlobject --expand), and the
-- privileges' helpers (99_grants.sql, appended too, calls them)
CREATE OR REPLACE FUNCTION customercard.generate_section_label() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
BEGIN
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.section_label(tbl text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
    SELECT CASE tbl %s ELSE tbl END
$body$
$f$, (SELECT string_agg(format('WHEN %L THEN %L', d.tbl, d.label), ' ' ORDER BY d.tbl)
        FROM customercard.section_declarations() d));
END
$generate$;
COMMENT ON FUNCTION customercard.generate_section_label() IS
    'Write section_label(), the sections'' labels as one CASE; called by the install script and by regenerate()';
CREATE OR REPLACE FUNCTION customercard.generate_visitor_lookups() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
DECLARE
    tables constant text[] := customercard.visitor_tables();
BEGIN
    EXECUTE 'CREATE OR REPLACE VIEW customercard.contact_visitors WITH (security_invoker = true) AS '
         || (SELECT string_agg(format('SELECT account_id, contact_id, visitor_id FROM customercard.%I WHERE visitor_id IS NOT NULL', t),
                               E'\nUNION ALL ' ORDER BY o)
               FROM unnest(tables) WITH ORDINALITY u (t, o));
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.contact_key_hits(acct bigint, id bigint)
RETURNS TABLE (related_id bigint, kind text, value text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    RETURN QUERY
    -- Join conditions are plain column equalities (or the leakproof
    -- email_key), so that under row-level security they stay index conditions.
    -- (phones keep their type, so that the probe is an index condition)
    WITH keys AS MATERIALIZED (
        SELECT 'phone' AS kind, p.phone::text AS value, NULL::text AS channel_kind, p.phone FROM customercard.phones p
         WHERE p.account_id = acct AND p.contact_id = id
        UNION SELECT 'email', customercard.email_key(e.email), NULL, NULL FROM customercard.emails e
         WHERE e.account_id = acct AND e.contact_id = id
        UNION SELECT 'external_id', c.external_id, c.kind, NULL FROM customercard.channels c
         WHERE c.account_id = acct AND c.contact_id = id
        UNION SELECT 'visitor_id', v.visitor_id, NULL, NULL FROM customercard.contact_visitors v
         WHERE v.account_id = acct AND v.contact_id = id
    ), hits AS (
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.phones b
            ON b.account_id = acct AND b.phone OPERATOR(customercard.=) k.phone WHERE k.kind = 'phone'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.emails b
            ON b.account_id = acct AND customercard.email_key(b.email) = k.value WHERE k.kind = 'email'
        UNION ALL
        SELECT b.contact_id, k.kind, k.channel_kind || ':' || k.value FROM keys k JOIN customercard.channels b
            ON b.account_id = acct AND b.external_id = k.value AND b.kind = k.channel_kind
         WHERE k.kind = 'external_id'
        -- each visitor table probed by its own index (a join cannot reach into a UNION ALL view's branches)
        %s
    )
    SELECT DISTINCT h.contact_id, h.kind, h.value
      FROM hits h
      JOIN customercard.contacts r ON r.account_id = acct AND r.contact_id = h.contact_id
     WHERE h.contact_id <> id AND r.merged_into IS NULL AND r.deleted_at IS NULL;
END
$body$
$f$, (SELECT string_agg(format(
          E'UNION ALL\n        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.%I b\n'
          '            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = ''visitor_id''', t),
          E'\n        ' ORDER BY o)
        FROM unnest(tables) WITH ORDINALITY u (t, o)));
END
$generate$;
COMMENT ON FUNCTION customercard.generate_visitor_lookups() IS
    'Write contact_visitors and contact_key_hits() over visitor_tables(); called by the install script and by regenerate()';
CREATE OR REPLACE FUNCTION customercard.generate_card_json() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
DECLARE
    blocks text[] := '{}';
    b jsonb;
    -- a row of a block as jsonb_build_object of its columns (the declared
    -- ones, or the relation's but the ids), not to_jsonb(v) minus the ids:
    -- that formed and re-read the row, then rebuilt the object per id
    obj text;
    own jsonb := '{}';
BEGIN
    FOR b IN SELECT y.b FROM (
             SELECT x.b || jsonb_build_object('ids', CASE WHEN (x.b ->> 'one')::boolean THEN '["account_id"]'::jsonb
                                                          ELSE '["contact_id", "account_id"]' END)
                    AS b, s.ordinality AS so, x.bo
               FROM customercard.card_sections() WITH ORDINALITY s,
                    jsonb_array_elements(s.card) WITH ORDINALITY x (b, bo)
              UNION ALL  -- merges and the log are the function's own (below), shaped alike
             SELECT jsonb_build_object('from', f, 'own', true, 'ids', '["contact_id", "account_id"]'::jsonb)
                    , NULL, NULL
               FROM unnest(ARRAY['card_merges', 'card_log']) f) y ORDER BY y.so, y.bo
    LOOP
        -- jsonb_build_object takes at most 50 pairs: a wider row is several, joined by ||
        SELECT string_agg('jsonb_build_object(' || c.pairs || ')', ' || ' ORDER BY c.chunk)
          INTO obj
          FROM (SELECT (n.o - 1) / 50 AS chunk, string_agg(format('%L, v.%I', n.col, n.col), ', ' ORDER BY n.o) AS pairs
                  FROM (SELECT e.col, e.o FROM jsonb_array_elements_text(b -> 'columns') WITH ORDINALITY e (col, o)
                         WHERE b ? 'columns'
                        UNION ALL
                        SELECT a.attname::text, row_number() OVER (ORDER BY a.attnum)
                          FROM pg_catalog.pg_attribute a
                         WHERE NOT b ? 'columns'
                           AND a.attrelid = ('customercard.' || quote_ident(b ->> 'from'))::regclass
                           AND a.attnum > 0 AND NOT a.attisdropped
                           AND NOT a.attname::text IN (SELECT jsonb_array_elements_text(b -> 'ids'))) n
                 GROUP BY 1) c;
        IF b ? 'own' THEN
            own := own || jsonb_build_object(b ->> 'from', obj);
            CONTINUE;
        END IF;
        blocks := blocks || format('%L, %s', b ->> 'key',
             CASE WHEN (b ->> 'one')::boolean
                  THEN format('(SELECT %s FROM customercard.%I v WHERE v.account_id = acct AND v.contact_id = id)',
                              obj, b ->> 'from')
                  WHEN b ? 'object'
                  THEN format('coalesce((SELECT jsonb_object_agg(v.%I, v.%I) FROM customercard.%I v '
                              'WHERE v.account_id = acct AND v.contact_id = id), ''{}'')',
                              b -> 'object' ->> 0, b -> 'object' ->> 1, b ->> 'from')
                  ELSE format('coalesce((SELECT jsonb_agg(%s ORDER BY %s) FROM %s), ''[]'')',
                              obj, b ->> 'order',
                              CASE WHEN b ? 'limit'
                                   THEN format('(SELECT * FROM customercard.%I v WHERE v.account_id = acct AND v.contact_id = id '
                                               'ORDER BY %s LIMIT %s) v', b ->> 'from', b ->> 'order', (b ->> 'limit')::integer)
                                   ELSE format('customercard.%I v WHERE v.account_id = acct AND v.contact_id = id', b ->> 'from') END) END);
    END LOOP;
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.card_json(contact_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $body$
DECLARE
    -- the caller's account (current_account_id() judges the caller, not
    -- this function's owner): every query below names it
    acct bigint := customercard.current_account_id();
    id bigint := customercard.resolve_contact(card_json.contact_id);
    log_limit constant integer := 100;
    related jsonb;
BEGIN
    -- its own statement: the rest is one query in one account, which Citus
    -- sends whole to the node holding the account, where a function that
    -- queries distributed tables may not run inside it
    related := coalesce((SELECT jsonb_agg(to_jsonb(r) ORDER BY r.related_id)
                           FROM customercard.related_contacts(id) r), '[]');
    -- every query names the account, also those of the views (none
    -- correlates a sub-query to an outer row): on Citus the statement then
    -- reads only the account's shards
    RETURN (SELECT jsonb_build_object(
        'contact_id', id,
        'requested_id', card_json.contact_id,
        %s,
        'related', related,
        'merges', coalesce((SELECT jsonb_agg(%s ORDER BY v.merged_at, v.merge_id)
                              FROM customercard.card_merges v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'log_total', (SELECT count(*) FROM customercard.action_log l WHERE l.account_id = acct AND l.contact_id = id),
        'log', coalesce((SELECT jsonb_agg(%s ORDER BY v.at DESC, v.log_id DESC)
                           FROM (SELECT * FROM customercard.card_log v WHERE v.contact_id = id AND v.account_id = acct
                                  ORDER BY v.at DESC, v.log_id DESC LIMIT log_limit) v), '[]'))
      FROM customercard.contacts k WHERE k.account_id = acct AND k.contact_id = id);
END
$body$;
$f$, array_to_string(blocks, E',\n        '), own ->> 'card_merges', own ->> 'card_log');
END
$generate$;
COMMENT ON FUNCTION customercard.generate_card_json() IS
    'Write card_json(), one static statement from the sections'' card blocks; called by the install script and by regenerate()';
CREATE OR REPLACE FUNCTION customercard.generate_merge_statements() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
DECLARE
    moves text;
    results text;
    backs text;
    combines text;
    combined text;
BEGIN
    SELECT string_agg(
             CASE WHEN m.assign IS NOT NULL THEN format(
                 'p_%1$s AS (SELECT to_jsonb(s) AS img FROM customercard.%1$I s JOIN customercard.%1$I a '
                 'ON a.account_id = acct AND a.contact_id = aid AND (%2$s) WHERE s.account_id = acct AND s.contact_id = sid), '
                 'u_%1$s AS (UPDATE customercard.%1$I s SET %3$s FROM customercard.%1$I a '
                 'WHERE s.account_id = acct AND s.contact_id = sid AND a.account_id = acct AND a.contact_id = aid AND (%2$s) '
                 'RETURNING s AS img), ', m.tbl, m.match, replace(m.assign, '$4', 'take_fields')) ELSE '' END
             || format('d_%1$s AS (DELETE FROM customercard.%1$I a USING customercard.%1$I s '
                       'WHERE s.account_id = acct AND s.contact_id = sid AND a.account_id = acct AND a.contact_id = aid AND (%2$s) '
                       'RETURNING a AS img)', m.tbl, m.match),
             E',\n        ' ORDER BY m.ord),
           string_agg(format('%1$L, customercard.jsonb_drop_nulls(jsonb_build_object(''deleted'', (SELECT jsonb_agg(img) FROM d_%1$s)',
                             m.tbl)
             || CASE WHEN m.assign IS NOT NULL THEN format(', ''before'', (SELECT jsonb_agg(img) FROM p_%1$s), '
                                                            '''after'', (SELECT jsonb_agg(img) FROM u_%1$s)', m.tbl) ELSE '' END
             || '))',
             E',\n        ' ORDER BY m.ord)
      INTO combines, combined
      FROM customercard.merge_sections() WITH ORDINALITY m (tbl, key, match, assign, primary_expr, take_name, ord)
     WHERE m.match IS NOT NULL;
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.merge_combines(acct bigint, sid bigint, aid bigint, take text[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    take_fields constant bigint[] := ARRAY(SELECT f.field_id FROM customercard.custom_fields f
                                            WHERE f.account_id = acct AND 'custom:' || f.name = ANY (take));
    combined_rows jsonb;
BEGIN
    WITH %s
    SELECT jsonb_build_object(
        %s) INTO combined_rows;
    RETURN combined_rows;
END
$body$;
$f$, combines, combined);

    SELECT string_agg(format('m_%1$s AS (UPDATE customercard.%1$I t SET contact_id = s WHERE t.account_id = acct AND t.contact_id = a '
                             'RETURNING t.%2$I AS k)', m.tbl, m.key), E',\n        ' ORDER BY m.ord),
           string_agg(format('%1$L, (SELECT jsonb_agg(k) FROM m_%1$s)', m.tbl), E',\n        ' ORDER BY m.ord),
           string_agg(format('b_%1$s AS (UPDATE customercard.%1$I t SET contact_id = a WHERE t.account_id = acct AND t.contact_id = s '
                             'AND t.%2$I = ANY (ARRAY(SELECT jsonb_array_elements_text(sections -> %1$L -> ''moved'')::bigint)) '
                             'RETURNING 1)', m.tbl, m.key), E',\n        ' ORDER BY m.ord)
      INTO moves, results, backs
      FROM customercard.merge_sections() WITH ORDINALITY m (tbl, key, match, assign, primary_expr, take_name, ord);
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.merge_moves(acct bigint, s bigint, a bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    moved jsonb;
BEGIN
    WITH %s
    SELECT customercard.jsonb_drop_nulls(jsonb_build_object(
        %s)) INTO moved;
    RETURN moved;
END
$body$;
CREATE OR REPLACE FUNCTION customercard.unmerge_moves(acct bigint, s bigint, a bigint, sections jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    done integer;
BEGIN
    WITH %s
    SELECT 1 INTO done;
END
$body$;
$f$, moves, results, backs);
END
$generate$;
COMMENT ON FUNCTION customercard.generate_merge_statements() IS
    'Write merge_combines(), merge_moves() and unmerge_moves() from merge_sections(); called by the install script and by regenerate()';
CREATE OR REPLACE FUNCTION customercard.generate_forget_apply() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
DECLARE
    harvest text;
    erase text;
BEGIN
    SELECT string_agg(format('SELECT unnest(ARRAY[%s]) FROM customercard.%I t WHERE t.account_id = acct AND t.contact_id = ANY (ids)',
                             array_to_string(s.scrub_values, ', '), s.tbl), E'\n        UNION ALL ' ORDER BY s.ordinality)
      INTO harvest
      FROM customercard.card_sections() WITH ORDINALITY s
     WHERE cardinality(s.scrub_values) > 0;
    SELECT string_agg(
             CASE s.forget
             WHEN 'delete' THEN format('DELETE FROM customercard.%I t WHERE t.account_id = acct AND t.contact_id = ANY (ids);', s.tbl)
             ELSE format('UPDATE customercard.%I t SET %s WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND (%s);',
                         s.tbl, a.sets, coalesce(s.forget_where, a.differs)) END,
             E'\n    ' ORDER BY s.ordinality)
      INTO erase
      FROM customercard.card_sections() WITH ORDINALITY s
      -- each erased column's new value: its forget_set expression, or NULL
      LEFT JOIN LATERAL (
            SELECT string_agg(format('%I = %s', c.col, c.val), ', ' ORDER BY c.o) AS sets,
                   string_agg(format('t.%I IS DISTINCT FROM %s', c.col, c.val), ' OR ' ORDER BY c.o)
                     FILTER (WHERE c.col = ANY (s.personal)) AS differs
              FROM (SELECT p.col, coalesce(s.forget_set ->> p.col, 'NULL') AS val, p.o
                      FROM unnest(s.personal) WITH ORDINALITY p (col, o)
                    UNION ALL
                    SELECT f.key, f.value #>> '{}', 1000 + row_number() OVER ()
                      FROM jsonb_each(s.forget_set) f WHERE NOT f.key = ANY (coalesce(s.personal, '{}'))) c
           ) a ON s.forget = 'erase'
     WHERE s.forget IN ('delete', 'erase');
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.forget_apply(acct bigint, live bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    ids bigint[];
    personal text[];
    tbl text;
    erased_at constant timestamptz := now();
BEGIN
    PERFORM customercard.assert_account_here(acct, 'forget_contact');
    -- the person: the live card and every tombstone merged into it, locked in id order
    WITH RECURSIVE chain (id) AS (
        SELECT live
        UNION
        SELECT c.contact_id FROM customercard.contacts c JOIN chain ON c.account_id = acct AND c.merged_into = chain.id)
    SELECT array_agg(id ORDER BY id) INTO ids FROM chain;
    PERFORM 1 FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = ANY (ids)
      ORDER BY c.contact_id FOR NO KEY UPDATE;

    -- what to look for in the log's details
    SELECT array_agg(DISTINCT lower(v)) INTO personal FROM (
        %s
    ) x (v) WHERE length(v) >= 3;

    PERFORM customercard.card_rewrite(true);
    %s

    -- the log and its archive: details scrubbed once per row, changed rows written
    FOREACH tbl IN ARRAY ARRAY['action_log', 'action_log_archive'] LOOP
        EXECUTE format('UPDATE customercard.%%1$I l SET details = x.scrubbed '
                       '  FROM (SELECT g.log_id, customercard.scrub_details(g.event, g.details, $3) AS scrubbed '
                       '          FROM customercard.%%1$I g WHERE g.account_id = $1 AND g.contact_id = ANY ($2)) x '
                       ' WHERE l.account_id = $1 AND l.log_id = x.log_id AND l.details IS DISTINCT FROM x.scrubbed', tbl)
        USING acct, ids, coalesce(personal, '{}');
    END LOOP;
    UPDATE customercard.merges m SET journal = customercard.scrub_journal(m.journal, ids)
     WHERE m.account_id = acct AND (m.survivor_id = ANY (ids) OR m.absorbed_id = ANY (ids));
    -- bulk jobs: the person's failure reasons, their rows of imported files,
    -- and their records in export output (a record is "<contact_id>,...CRLF"; quoted line breaks are bare LF)
    UPDATE customercard.bulk_job_failures f SET reason = '(erased on request)'
     WHERE f.account_id = acct AND f.contact_id = ANY (ids);
    -- import jobs: the person's rows of the file
    UPDATE customercard.bulk_job_rows r SET data = '{}'
     WHERE r.account_id = acct AND r.contact_id = ANY (ids) AND r.data <> '{}';
    UPDATE customercard.bulk_job_output o SET data = customercard.csv_drop_records(o.data, ids)
     WHERE o.account_id = acct AND o.chunk > 0
       AND o.data ~ ('(^|\r\n)(' || array_to_string(ids, '|') || '),');
    -- undo journals: the person's row images emptied (an undo skips a
    -- forgotten contact and reports it; which rows a job touched stays)
    UPDATE customercard.bulk_job_journal r
       SET before = CASE WHEN r.before IS NOT NULL THEN '{}'::jsonb END, after = CASE WHEN r.after IS NOT NULL THEN '{}'::jsonb END
     WHERE r.account_id = acct AND r.contact_id = ANY (ids) AND (r.before <> '{}' OR r.after <> '{}');

    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    VALUES (acct, live, 'forgotten', jsonb_build_object('contacts', cardinality(ids)));
    PERFORM customercard.card_rewrite(false);
END
$body$;
$f$, harvest, erase);
END
$generate$;
COMMENT ON FUNCTION customercard.generate_forget_apply() IS
    'Write forget_apply() from the sections'' forget rules; called by the install script and by regenerate()';
CREATE OR REPLACE FUNCTION customercard.regenerate() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM customercard.generate_section_label();
    PERFORM customercard.generate_visitor_lookups();
    PERFORM customercard.generate_card_json();
    PERFORM customercard.generate_merge_statements();
    PERFORM customercard.generate_forget_apply();
END
$$;
COMMENT ON FUNCTION customercard.regenerate() IS
    'Write every function generated from the section declarations anew (section_label, contact_visitors and contact_key_hits, card_json, the merge statements, forget_apply); run by upgrade scripts';
COMMENT ON FUNCTION customercard.card_json(bigint) IS
    'The whole card of a contact (a merged contact''s id gives its survivor''s card): every section, the latest 100 log events and the log''s total';

-- every function written from the section declarations, anew, and every
-- privilege as a fresh install has it (appended by tools/sqlobject --expand)
SELECT customercard.regenerate();

-- ===================================================================
-- 99_grants.sql: least privilege.  Nothing for PUBLIC; each role gets
-- what its work needs, and inherits the one below it.
--
-- Every privilege on the extension's objects is declared here, once: this
-- file starts from none and is re-run whole at the end of every upgrade
-- script (tools/sqlobject --expand appends it), so an upgraded install has
-- exactly a fresh install's privileges.
-- ===================================================================

REVOKE ALL ON ALL TABLES IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customercard FROM PUBLIC;

-- reader: the views and tables, and the functions that read
GRANT SELECT ON ALL TABLES IN SCHEMA customercard TO customercard_reader;
-- (but the upsert slots, which upsert_lock() alone touches)
REVOKE SELECT ON customercard.upsert_locks, customercard.import_marks FROM customercard_reader;
GRANT EXECUTE ON FUNCTION
    customercard.current_account_id(),
    customercard.account_is_here(bigint), customercard.assert_account_here(bigint, text),
    customercard.account_may_act(bigint),
    customercard.calling_role(),
    customercard.current_actor(),
    customercard.normalize_email(text),
    customercard.email_key(text),
    customercard.is_log_event(text),
    customercard.is_valid_timezone(text),
    customercard.normalize_phone(text, text),
    customercard.phone_region(customercard.phone),
    customercard.format_phone(customercard.phone, text),
    customercard.phone_metadata_version(),
    customercard.phone_is_valid(customercard.phone),
    customercard.phone_in(cstring), customercard.phone_out(customercard.phone),
    customercard.phone_recv(internal), customercard.phone_send(customercard.phone),
    customercard.phone_eq(customercard.phone, customercard.phone), customercard.phone_ne(customercard.phone, customercard.phone),
    customercard.phone_lt(customercard.phone, customercard.phone), customercard.phone_le(customercard.phone, customercard.phone),
    customercard.phone_gt(customercard.phone, customercard.phone), customercard.phone_ge(customercard.phone, customercard.phone),
    customercard.phone_cmp(customercard.phone, customercard.phone), customercard.phone_hash(customercard.phone),
    customercard.phone_hash_extended(customercard.phone, bigint), customercard.phone_sortsupport(internal),
    customercard.describe_event(text, jsonb), customercard.describe_fields(jsonb),
    customercard.section_declarations(), customercard.card_sections(), customercard.card_not_sections(), customercard.section_label(text),
    customercard.resolve_contact(bigint),
    customercard.card_json(bigint),
    customercard.audience_search(jsonb, integer, integer, bigint),
    customercard.audience_count(jsonb),
    customercard.audience_ids(jsonb),
    customercard.ids_named(bigint, jsonb, text, bigint),
    customercard.name_haystack(text, text, text, text, text),
    customercard.related_contacts(bigint),
    customercard.contact_key_hits(bigint, bigint), customercard.visitor_tables(),
    customercard.channel_kinds(),
    customercard.duplicate_candidates(bigint),
    customercard.duplicate_groups(integer),
    customercard.duplicate_groups_of(bigint, integer),
    customercard.name_similarity(text, text),
    customercard.similar_name_contacts(bigint, text, integer),
    customercard.contact_log(bigint, text[], timestamptz, timestamptz, bigint)
TO customercard_reader;

-- manager: card work
GRANT EXECUTE ON FUNCTION
    customercard.require_account_id(),
    customercard.account_currency(),
    customercard.upsert_contact(jsonb),
    customercard.upsert_contact_ex(jsonb), customercard.upsert_contact_in(bigint, jsonb),
    customercard.upsert_lock(bigint, text[]), customercard.assert_upsert_account(bigint),
    customercard.log_event(bigint, text, jsonb), customercard.log_event_in(bigint, bigint, text, jsonb),
    customercard.upsert_error(text, text),
    customercard.expect_json_type(jsonb, text, text[]),
    customercard.upsert_keys(), customercard.upsert_check_shape(bigint, jsonb),
    customercard.upsert_read_phones(bigint, jsonb), customercard.upsert_read_emails(jsonb),
    customercard.upsert_read_channels(jsonb), customercard.upsert_check_values(bigint, jsonb),
    customercard.upsert_match(bigint, jsonb, jsonb, jsonb, jsonb), customercard.upsert_contact_row(bigint, bigint, jsonb),
    customercard.upsert_phones_emails(bigint, bigint, jsonb, jsonb), customercard.upsert_channels(bigint, bigint, jsonb),
    customercard.upsert_subscription(bigint, bigint, jsonb, bigint, bigint, text),
    customercard.upsert_tags_custom(bigint, bigint, jsonb)
TO customercard_manager;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA customercard TO customercard_manager;
-- (INSERT and UPDATE on every column but those the extension sets:
-- grant_writes() and system_set_columns() above)
-- the card's sections as card_sections() declares them; payouts (an
-- order's, no contact's), new tags, pairs judged different and webinars besides
SELECT customercard.grant_writes('customercard_manager', s.writes, ARRAY[('customercard.' || s.tbl)::regclass])
  FROM customercard.card_sections() s;
SELECT customercard.grant_writes('customercard_manager', '{INSERT,UPDATE,DELETE}', '{customercard.payouts}');
SELECT customercard.grant_writes('customercard_manager', '{INSERT}', '{customercard.tags, customercard.not_duplicates}');
-- webinars: managers set them up (a visit named by a webinar not yet known makes it)
SELECT customercard.grant_writes('customercard_manager', '{INSERT,UPDATE}', '{customercard.webinars}');
GRANT EXECUTE ON FUNCTION customercard.not_duplicates(bigint, bigint) TO customercard_manager;
-- the merge preview reads as the caller (row-level security applies)
GRANT EXECUTE ON FUNCTION
    customercard.merge_preview(bigint, bigint, text[]),
    customercard.merge_sections(), customercard.merge_fields(), customercard.status_rank(text),
    customercard.merged_contact(customercard.contacts, customercard.contacts, text[]),
    customercard.merge_check_live(customercard.contacts, text), customercard.merge_check_take(bigint, text[]),
    customercard.merge_primary_target(bigint, text, bigint, bigint, boolean), customercard.merge_primary_expr(text)
TO customercard_manager;

-- bulk actions: queue, run (bulk_run is a procedure running as its caller;
-- its batch function acts only in accounts the caller may act in), cancel
GRANT EXECUTE ON FUNCTION
    customercard.bulk_enqueue(text, jsonb, bigint[], jsonb, timestamptz),
    customercard.bulk_preview(text, jsonb, bigint[], jsonb),
    customercard.bulk_cancel(bigint),
    customercard.bulk_undo(bigint),
    customercard.bulk_run_batch(bigint, bigint, integer),
    customercard.bulk_claim(), customercard.bulk_batch_failed(bigint, bigint, text, text), customercard.bulk_max_attempts(),
    customercard.bulk_export_csv(bigint), customercard.bulk_actions(), customercard.bulk_settable_fields(),
    customercard.csv_field(text), customercard.bulk_lookup(bigint, jsonb, text, text, bigint, boolean),
    customercard.import_json(text, boolean, jsonb), customercard.import_csv(text, boolean, jsonb), customercard.import_xlsx(bytea, boolean, jsonb),
    customercard.import_check_settings(bigint, jsonb), customercard.import_upsert(jsonb, jsonb), customercard.import_viber_mark(bigint, text, text),
    customercard.import_enqueue(bytea, text, jsonb, timestamptz), customercard.import_report(bigint),
    customercard.confirm_payment(bigint), customercard.stop_recurring(bigint),
    customercard.export_rows(jsonb), customercard.export_rows_of(bigint, bigint[]),
    customercard.export_csv(jsonb, text[]), customercard.export_xlsx(jsonb, text[]), customercard.export_groups(text[]),
    customercard.export_header(jsonb, text[]), customercard.export_lines(bigint, bigint[], jsonb, text[])
TO customercard_manager;
GRANT EXECUTE ON PROCEDURE customercard.bulk_run(interval, integer) TO customercard_manager;

-- admin: the account's definitions and settings, role bindings
SELECT customercard.grant_writes('customercard_admin', '{INSERT,UPDATE,DELETE}', '{
    customercard.managers, customercard.tags, customercard.custom_fields, customercard.funnels,
    customercard.funnel_blocks, customercard.lgts, customercard.sales_plans, customercard.call_campaigns,
    customercard.groups, customercard.event_kinds, customercard.webinars}');
GRANT UPDATE (name, default_region, currency) ON customercard.accounts TO customercard_admin;
GRANT EXECUTE ON FUNCTION
    customercard.bind_role(regrole, bigint),
    customercard.unbind_role(regrole, bigint),
    customercard.register_event_kind(text, text),
    customercard.set_default_traffic_source(text, text),
    customercard.assert_account_admin(bigint),
    -- SECURITY DEFINER, acting in the caller's account only; their helpers
    -- (merge_apply, unmerge_apply, card_rewrite, ...) are granted to nobody
    customercard.merge(bigint, bigint, text[]),
    customercard.unmerge(bigint),
    customercard.forget_contact(bigint),
    customercard.schedule_bulk_runner(),
    customercard.bulk_prune(interval)
TO customercard_admin;
GRANT SET ON PARAMETER customercard.comment_max_length, customercard.import_max_unpacked TO customercard_admin;

-- app: creates accounts and may act in any of them
GRANT EXECUTE ON FUNCTION customercard.create_account(text, text, text) TO customercard_app;
