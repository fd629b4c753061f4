-- ===================================================================
-- 41_card_json.sql: the whole card in one call.
-- ===================================================================

-- Written here from the sections' card blocks (card_sections()), as
-- static SQL: each block is one query of the account's rows of the contact,
-- a list (jsonb_agg in its order, without the ids, the first limit rows),
-- an object (one) or a
-- {key: value} object (object); then the contact's relations, merges and
-- latest log events.  Its big statement is planned once per session: every
-- part of it is a lookup by key, so the generic plan is as good as a custom
-- one, and planning ~25 sub-queries at each call was most of its time.
CREATE FUNCTION customercard.generate_card_json() RETURNS void
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
SELECT customercard.generate_card_json();
COMMENT ON FUNCTION customercard.card_json(bigint) IS
    'The whole card of a contact (a merged contact''s id gives its survivor''s card): every section, the latest 100 log events and the log''s total';
