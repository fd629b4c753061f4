-- ===================================================================
-- 44_merge.sql: merging two contacts and undoing a merge (forgetting a
-- person is 45_forget.sql).
--
-- A merge moves every row of the absorbed contact to the survivor, table by
-- table (merge_sections below).  Rows that would collide (the same tag, the
-- same funnel subscription through the same channel, the same phone, ...)
-- are combined into the survivor's row and the absorbed one is removed.
-- Nothing is lost: the merge journal (merges.journal) holds the keys of the
-- moved rows, the images of removed rows, the survivor rows before and
-- after they were combined, which primary flags changed, and both contact
-- rows.  unmerge() reads it back: moved rows return, removed rows come back
-- as they were, combined rows get back each column that has not been edited
-- since; rows added to the survivor after the merge stay with it.
--
-- Comments and the action log are append-only for every role; a merge moves
-- them through the card rewrite switch (card_rewrite, immutable.c), which
-- also keeps the per-row log triggers quiet: a merge is one `merged` event on
-- each card, not a tag_removed/tag_added pair per row.
--
-- Locks: both contact rows FOR NO KEY UPDATE in id order, so two merges that
-- share a contact run one after the other, in either direction, and a
-- foreign key check (FOR KEY SHARE) elsewhere never waits on them.  A
-- deadlock with other work (a bulk job updating the same contacts) is
-- retried, so it never reaches the caller.
-- ===================================================================

-- The caller's account, when the caller may administer it (merge, unmerge
-- and forget_contact are admin work).
CREATE FUNCTION customercard.admin_account_id() RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
BEGIN
    PERFORM customercard.assert_account_admin(acct);
    RETURN acct;
END
$$;

CREATE FUNCTION customercard.card_rewrite(turn_on boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'card_rewrite' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.card_rewrite(boolean) IS
    'Internal to merge, unmerge and forget_contact: lets them move or scrub append-only rows without per-row log events; off again at the end of the (sub)transaction';

-- The object without its top-level null members (jsonb_strip_nulls would
-- also strip the null columns inside the row images, which must stay).
CREATE FUNCTION customercard.jsonb_drop_nulls(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(j) e WHERE jsonb_typeof(e.value) <> 'null'
$$;

-- Every table whose rows a merge moves: the card's sections but the
-- contacts themselves, with their keys and collision rules as
-- card_sections() declares them, then the log (card_not_sections() with a
-- merge_key).  test/tap/merge.sql checks that every table with a
-- contact_id column is listed here or in merge_unlisted().
CREATE FUNCTION customercard.merge_sections(OUT tbl text, OUT key text, OUT match text, OUT assign text,
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
CREATE FUNCTION customercard.merge_unlisted() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['contacts'] || ARRAY(SELECT n.tbl FROM customercard.card_not_sections() n WHERE n.merge_key IS NULL)
$$;

-- Written here from merge_sections(), as static SQL, so that their plans
-- are cached (a merge would otherwise plan dozens of statements anew):
--   merge_combines(acct, survivor, absorbed, take): in every table with a
--     match rule, the survivor's colliding rows take in the absorbed's
--     (assign) and the absorbed's are removed; returns per table the removed
--     rows and the survivor's rows before and after;
--   merge_moves(acct, survivor, absorbed): every remaining row of the
--     absorbed moves to the survivor; returns {table: [keys]};
--   unmerge_moves(acct, survivor, absorbed, sections) moves them back.
CREATE FUNCTION customercard.generate_merge_statements() RETURNS void
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
SELECT customercard.generate_merge_statements();

-- The single-valued fields of a contact, as merge_preview shows them and as
-- take_from_absorbed names them.
CREATE FUNCTION customercard.merge_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender',
                 'timezone', 'country', 'city', 'ip', 'note', 'manager_id']
$$;

-- blacklisted > unsubscribed > active > archived: the most restrictive
-- wish of the person wins; an archived card merged with a live one is live.
CREATE FUNCTION customercard.status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status WHEN 'blacklisted' THEN 3 WHEN 'unsubscribed' THEN 2 WHEN 'active' THEN 1 ELSE 0 END
$$;

-- The survivor's contact row as the merge leaves it.
CREATE FUNCTION customercard.merged_contact(s customercard.contacts, a customercard.contacts, take text[])
RETURNS customercard.contacts
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sj jsonb := to_jsonb(s);
    aj jsonb := to_jsonb(a);
    patch jsonb;
BEGIN
    SELECT coalesce(jsonb_object_agg(f, aj -> f), '{}') INTO patch
      FROM unnest(customercard.merge_fields()) f
     WHERE f = ANY (take) OR jsonb_typeof(sj -> f) = 'null' OR sj ->> f = '';
    IF patch ? 'gender' THEN
        patch := patch || jsonb_build_object('gender_source', aj -> 'gender_source');
    END IF;
    patch := patch || jsonb_build_object(
        'status', CASE WHEN 'status' = ANY (take)
                         OR customercard.status_rank(a.status) > customercard.status_rank(s.status)
                       THEN a.status ELSE s.status END,
        'points', s.points + a.points,
        'created_at', LEAST(s.created_at, a.created_at),
        'updated_at', now());
    RETURN jsonb_populate_record(s, patch);
END
$$;

-- The match expression of a section with primary rows (phones, emails),
-- from merge_sections(); an error for any other name.
CREATE FUNCTION customercard.merge_primary_expr(tbl text) RETURNS text
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

-- The primary phone / e-mail after a merge: the survivor's, unless it has
-- none or take_from_absorbed names 'phone' / 'email'.  Compared as text of
-- the section's match expression (E.164, or the e-mail key), which
-- merge_sections() holds: tbl must be a section with primary rows.
CREATE FUNCTION customercard.merge_primary_target(acct bigint, tbl text, s bigint, a bigint, prefer_absorbed boolean)
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

-- Make the row matching target the only primary among both contacts' rows
-- (before they move); returns which flags changed.
CREATE FUNCTION customercard.merge_set_primary(acct bigint, tbl text, s bigint, a bigint, target text)
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

-- Lock two contacts of the account in id order and return their rows.
CREATE FUNCTION customercard.lock_contact_pair(acct bigint, x bigint, y bigint,
                                               OUT xr customercard.contacts, OUT yr customercard.contacts)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r customercard.contacts;
BEGIN
    FOR r IN SELECT * FROM customercard.contacts c
              WHERE c.account_id = acct AND c.contact_id IN (x, y)
              ORDER BY c.contact_id FOR NO KEY UPDATE
    LOOP
        IF r.contact_id = x THEN xr := r; ELSE yr := r; END IF;
    END LOOP;
    IF xr.contact_id IS NULL OR yr.contact_id IS NULL THEN
        RAISE EXCEPTION 'contact % does not exist in account %', CASE WHEN xr.contact_id IS NULL THEN x ELSE y END, acct
            USING ERRCODE = 'undefined_object',
                  HINT = 'Check the contact id and the setting customercard.account_id; contacts of another account cannot be merged.';
    END IF;
END
$$;

-- A merge may only take live contacts: a tombstone's rows already moved.
CREATE FUNCTION customercard.merge_check_live(r customercard.contacts, role text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF r.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'contact % was merged into contact % and cannot be merged %', r.contact_id,
                        customercard.resolve_contact(r.contact_id), role
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('Merge with contact %s, the survivor, instead; or undo merge %s first.',
                                customercard.resolve_contact(r.contact_id),
                                (SELECT max(m.merge_id) FROM customercard.merges m
                                  WHERE m.account_id = r.account_id AND m.absorbed_id = r.contact_id AND m.undone_at IS NULL));
    END IF;
    IF r.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'contact % is deleted and cannot be merged %', r.contact_id, role
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Restore it first (UPDATE customercard.contacts SET deleted_at = NULL ...).';
    END IF;
END
$$;

CREATE FUNCTION customercard.merge_apply(acct bigint, survivor_id bigint, absorbed_id bigint, take text[])
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

-- Run body (a fixed call of this file) and retry it when it was chosen as a
-- deadlock victim: the other transaction has finished its work by then.
CREATE FUNCTION customercard.merge_retrying(body text, ids bigint[], take text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result bigint;
BEGIN
    FOR attempt IN 1 .. 5 LOOP
        BEGIN
            EXECUTE body INTO result USING ids, take;
            RETURN result;
        EXCEPTION WHEN deadlock_detected THEN
            IF attempt = 5 THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(random() * 0.02 * attempt);
        END;
    END LOOP;
    RETURN NULL;    -- not reached
END
$$;

CREATE FUNCTION customercard.merge_check_take(acct bigint, take text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    SELECT t INTO bad FROM unnest(take) t
     WHERE t IS NULL
        OR NOT (t = ANY (customercard.merge_fields() || ARRAY['status', 'phone', 'email'])
                OR (t LIKE 'custom:%' AND EXISTS (SELECT 1 FROM customercard.custom_fields f
                                                   WHERE f.account_id = acct AND 'custom:' || f.name = t)))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'take_from_absorbed names an unknown field: %', coalesce(quote_literal(bad), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name fields of customercard.merge_preview(): ' || array_to_string(customercard.merge_fields(), ', ')
                         || ', status, phone, email, or custom:<custom field name>.';
    END IF;
END
$$;

CREATE FUNCTION customercard.merge(survivor bigint, absorbed bigint, take_from_absorbed text[] DEFAULT '{}')
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

-- Put journaled images back on rows of owner: every column, or (afters
-- given) each column that still holds the value the merge gave it.
CREATE FUNCTION customercard.restore_rows(acct bigint, tbl text, key text, owner bigint, befores jsonb, afters jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cols text;
    rcols text;
BEGIN
    SELECT string_agg(format('%I', attname), ', ' ORDER BY attnum), string_agg(format('r.%I', attname), ', ' ORDER BY attnum)
      INTO cols, rcols
      FROM pg_attribute
     WHERE attrelid = format('customercard.%I', tbl)::regclass AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('account_id', 'contact_id') AND attname <> key;
    EXECUTE format($q$
        UPDATE customercard.%1$I x SET (%3$s) = (
            SELECT %4$s FROM jsonb_populate_record(x,
                (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(p.before) e
                  WHERE p.after IS NULL OR to_jsonb(x) -> e.key IS NOT DISTINCT FROM p.after -> e.key)) r)
          FROM (SELECT b.value AS before, f.value AS after
                  FROM jsonb_array_elements($3) b
                  LEFT JOIN jsonb_array_elements($4) f ON f.value -> %2$L = b.value -> %2$L) p
         WHERE x.account_id = $1 AND x.contact_id = $2 AND x.%2$I = (p.before ->> %2$L)::bigint
        $q$, tbl, key, cols, rcols)
    USING acct, owner, befores, coalesce(afters, '[]');
END
$$;

-- One table of an unmerge, from its journal entry j, after its moved rows
-- went back (unmerge_moves).
CREATE FUNCTION customercard.unmerge_section(acct bigint, tbl text, key text, s bigint, a bigint, j jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- primary flags the merge set: off again
    IF j -> 'primary' ? 'made' THEN
        EXECUTE format('UPDATE customercard.%1$I t SET is_primary = false '
                       ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND t.%2$I = ANY ($4)', tbl, key)
        USING acct, s, a, ARRAY(SELECT jsonb_array_elements_text(j -> 'primary' -> 'made')::bigint);
    END IF;
    -- rows the merge combined away come back as they were
    IF j ? 'deleted' THEN
        EXECUTE format('INSERT INTO customercard.%1$I SELECT * FROM jsonb_populate_recordset(NULL::customercard.%1$I, $1)', tbl)
        USING j -> 'deleted';
    END IF;
    -- the survivor's combined rows: each column not edited since goes back
    IF j ? 'before' THEN
        PERFORM customercard.restore_rows(acct, tbl, key, s, j -> 'before', j -> 'after');
    END IF;
    -- primary flags the merge cleared: on again, where the contact has no primary now
    IF j -> 'primary' ? 'cleared' THEN
        EXECUTE format('UPDATE customercard.%1$I t SET is_primary = true '
                       ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND t.%2$I = ANY ($4) '
                       '   AND NOT EXISTS (SELECT 1 FROM customercard.%1$I o '
                       '                    WHERE o.account_id = $1 AND o.contact_id = t.contact_id AND o.is_primary)', tbl, key)
        USING acct, s, a, ARRAY(SELECT jsonb_array_elements_text(j -> 'primary' -> 'cleared')::bigint);
    END IF;
END
$$;

CREATE FUNCTION customercard.unmerge_apply(acct bigint, mid bigint) RETURNS bigint
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
    -- a forgotten person stays forgotten: an unmerge would bring the
    -- absorbed contact back live, with nothing of the person left to split
    SELECT c.contact_id INTO later FROM customercard.contacts c
     WHERE c.account_id = acct AND c.contact_id IN (m.survivor_id, m.absorbed_id) AND c.forgotten_at IS NOT NULL
     ORDER BY c.contact_id LIMIT 1;
    IF later IS NOT NULL THEN
        RAISE EXCEPTION 'merge % cannot be undone: contact % was forgotten on request', mid, later
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'forget_contact erased both contacts of the merge for good; there is nothing to split.';
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

CREATE FUNCTION customercard.unmerge(merge_id bigint) RETURNS void
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

-- The three-column table of the reference products: each single-valued
-- field, the primary phone and e-mail, the lists, the custom fields, and
-- how many rows of each section the merged card will have (count:<table>).
CREATE FUNCTION customercard.merge_preview(survivor bigint, absorbed bigint, take_from_absorbed text[] DEFAULT '{}')
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
