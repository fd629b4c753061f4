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
DO $generate$
DECLARE
    blocks text;
BEGIN
    SELECT string_agg(format('%L, %s', b ->> 'key',
             CASE WHEN (b ->> 'one')::boolean
                  THEN format('(SELECT to_jsonb(v) - ''account_id'' FROM customercard.%I v '
                              'WHERE v.account_id = acct AND v.contact_id = id)', b ->> 'from')
                  WHEN b ? 'object'
                  THEN format('coalesce((SELECT jsonb_object_agg(v.%I, v.%I) FROM customercard.%I v '
                              'WHERE v.account_id = acct AND v.contact_id = id), ''{}'')',
                              b -> 'object' ->> 0, b -> 'object' ->> 1, b ->> 'from')
                  ELSE format('coalesce((SELECT jsonb_agg(%s ORDER BY %s) FROM %s), ''[]'')',
                              CASE WHEN b ? 'columns'
                                   THEN 'jsonb_build_object(' || (SELECT string_agg(format('%L, v.%I', c, c), ', ' ORDER BY o)
                                                                    FROM jsonb_array_elements_text(b -> 'columns') WITH ORDINALITY x (c, o)) || ')'
                                   ELSE 'to_jsonb(v) - ''contact_id'' - ''account_id''' END,
                              b ->> 'order',
                              CASE WHEN b ? 'limit'
                                   THEN format('(SELECT * FROM customercard.%I v WHERE v.account_id = acct AND v.contact_id = id '
                                               'ORDER BY %s LIMIT %s) v', b ->> 'from', b ->> 'order', (b ->> 'limit')::integer)
                                   ELSE format('customercard.%I v WHERE v.account_id = acct AND v.contact_id = id', b ->> 'from') END) END),
             E',\n        ' ORDER BY s.ordinality, x.bo)
      INTO blocks
      FROM customercard.card_sections() WITH ORDINALITY s,
           jsonb_array_elements(s.card) WITH ORDINALITY x (b, bo);
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.card_json(contact_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $body$
DECLARE
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
        'merges', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.merged_at, v.merge_id)
                              FROM customercard.card_merges v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'log_total', (SELECT count(*) FROM customercard.action_log l WHERE l.account_id = acct AND l.contact_id = id),
        'log', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.at DESC, v.log_id DESC)
                           FROM (SELECT * FROM customercard.card_log v WHERE v.contact_id = id AND v.account_id = acct
                                  ORDER BY v.at DESC, v.log_id DESC LIMIT log_limit) v), '[]'))
      FROM customercard.contacts k WHERE k.account_id = acct AND k.contact_id = id);
END
$body$;
$f$, blocks);
END
$generate$;
COMMENT ON FUNCTION customercard.card_json(bigint) IS
    'The whole card of a contact (a merged contact''s id gives its survivor''s card): every section, the latest 100 log events and the log''s total';
