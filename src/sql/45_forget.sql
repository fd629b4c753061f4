-- ===================================================================
-- 45_forget.sql: erasing a person on request (GDPR / 152-FZ).
--
-- forget_contact() erases what identifies the person and keeps what the
-- business counts: orders, payments, sums, tasks, calls, subscriptions and
-- the number of log events stay, so reports do not change.  Erased: names,
-- avatar, IP, note, city, gender, time zone; phones, e-mails, addresses and
-- custom field values (rows deleted); channels' external ids and usernames;
-- comment texts and attachments; browser visitor ids; call recordings; in
-- the action log (and its archive), the old/new values of personal fields
-- and any value equal to one of the person's data; the same data inside the
-- merge journal, and in bulk jobs' failure reasons, export output and
-- undo journals.  Then every value of the person (3 to 200 characters, and
-- each phone in any written form) is erased from every other text, at any
-- depth: the person's remaining rows of every section (a task's title, a
-- page's address), their log details and merge journals; and each value
-- that names them alone (not a single word such as a first name) from the
-- account's shared places: bulk job filters and parameters, failure
-- reasons, stored exports, rows of imported files (a row still queued that
-- names them is refused, so running the import cannot bring them back) and
-- the import marks of their channels.  The person is the live card and
-- every tombstone merged into it.  One `forgotten` event is logged, naming
-- no personal data.
-- ===================================================================


-- A log event's details without personal data: the old and new values of
-- personal fields and custom fields, and any string equal (ignoring case)
-- to one of the person's values.
CREATE FUNCTION customercard.scrub_details(event text, details jsonb, personal text[]) RETURNS jsonb
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

-- A merge journal without the person's data: contact images lose their
-- personal fields; images of the person's rows of a section forget
-- deletes (phones, e-mails, ...) are dropped (an unmerge then has nothing
-- of them to restore), those of a section it erases lose their personal
-- columns.
CREATE FUNCTION customercard.scrub_journal(journal jsonb, ids bigint[]) RETURNS jsonb
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

-- CSV records (CRLF-ended, starting with the contact id) without those of
-- some contacts; a fragment after a CRLF inside a quoted field (it does not
-- start with an id) goes with its record.
CREATE FUNCTION customercard.csv_drop_records(data text, ids bigint[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept text[] := '{}';
    dropping boolean := false;
    part text;
    id text;
BEGIN
    FOREACH part IN ARRAY string_to_array(data, E'\r\n') LOOP
        id := substring(part FROM '^([0-9]+),');
        IF id IS NOT NULL THEN
            dropping := id::bigint = ANY (ids);
        END IF;
        IF NOT dropping OR part = '' THEN
            kept := kept || part;
        END IF;
    END LOOP;
    RETURN array_to_string(kept, E'\r\n');
END
$$;

-- The forms of a phone (E.164 text) as people write it, as regular
-- expressions: its digits after a country code of 0 to 3 digits (at least
-- seven of them), any separators between them, no digit on either side --
-- "+7 912 555-44-33", "8 (912) 555 44 33" and "9125554433" all hold one.
CREATE FUNCTION customercard.phone_patterns(e164 text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT '(?<![0-9])' || array_to_string(regexp_split_to_array(substr(x.d, k + 1), ''), '[-\s.()/]*') || '(?![0-9])'
                   FROM (SELECT regexp_replace(e164, '[^0-9]', '', 'g') AS d) x, generate_series(0, 3) k
                  WHERE length(x.d) - k >= 7
                  ORDER BY k)
$$;

-- One regular expression (one group, matched ignoring case) of a person's
-- values: each value of 3 to 200 characters, escaped, and each form of each
-- phone; the longest first.  NULL when there is none.  Longer values
-- (a whole message) are found by equality (scrub_details) or erased with
-- their rows.
CREATE FUNCTION customercard.erasure_pattern(vals text[], phones text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '(' || string_agg(x.p, '|' ORDER BY length(x.p) DESC, x.p) || ')'
      FROM (SELECT regexp_replace(lower(v), '([.^$*+?()\[\]{}|\\-])', '\\\1', 'g') AS p
              FROM unnest(vals) v WHERE length(v) BETWEEN 3 AND 200
            UNION
            SELECT unnest(customercard.phone_patterns(ph)) FROM unnest(phones) ph) x
$$;

-- A text with every match of the pattern erased: "(erased)" for a match
-- of 8 characters or more, as many asterisks for a shorter one, so a text
-- never grows (a column's length check still holds).
CREATE FUNCTION customercard.scrub_text(t text, pat text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[];
    found text[];
    out text;
BEGIN
    IF t IS NULL OR pat IS NULL OR t !~* pat THEN
        RETURN t;
    END IF;
    parts := regexp_split_to_array(t, pat, 'i');
    found := ARRAY(SELECT m[1] FROM regexp_matches(t, pat, 'gi') m);
    out := parts[1];
    FOR i IN 1 .. cardinality(found) LOOP
        out := out || CASE WHEN length(found[i]) >= 8 THEN '(erased)' ELSE repeat('*', length(found[i])) END || parts[i + 1];
    END LOOP;
    RETURN out;
END
$$;

-- A JSON value with the pattern erased from every string at any depth (and
-- a number that matches it becomes the string "(erased)").  PL/pgSQL, as
-- the other scrub functions: never inlined, so Citus sees an IMMUTABLE
-- function in the UPDATEs that call them.
CREATE FUNCTION customercard.scrub_json(j jsonb, pat text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF j IS NULL OR pat IS NULL OR j::text !~* pat THEN
        RETURN j;
    END IF;
    CASE jsonb_typeof(j)
    WHEN 'string' THEN
        RETURN to_jsonb(customercard.scrub_text(j #>> '{}', pat));
    WHEN 'number' THEN
        RETURN '"(erased)"'::jsonb;
    WHEN 'object' THEN
        RETURN (SELECT jsonb_object_agg(e.key, customercard.scrub_json(e.value, pat)) FROM jsonb_each(j) e);
    WHEN 'array' THEN
        RETURN (SELECT jsonb_agg(customercard.scrub_json(e.value, pat) ORDER BY e.o) FROM jsonb_array_elements(j) WITH ORDINALITY e (value, o));
    ELSE
        RETURN j;
    END CASE;
END
$$;

-- A text array with the pattern erased from each element
CREATE FUNCTION customercard.scrub_array(a text[], pat text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF a IS NULL OR pat IS NULL THEN
        RETURN a;
    END IF;
    RETURN ARRAY(SELECT customercard.scrub_text(e.v, pat) FROM unnest(a) WITH ORDINALITY e (v, o) ORDER BY e.o);
END
$$;

-- The columns of a section's table that forget scrubs of the person's
-- values: every text, jsonb and text[] column but keys (in a primary,
-- foreign or unique key) and columns whose check enumerates or patterns
-- their values (a status, a currency): what is scrubbed only shrinks, so a
-- length check still holds.  Read from the catalog when forget_apply() is
-- generated, so a column added later is scrubbed from then on.
CREATE FUNCTION customercard.scrubbed_columns(tbl text, OUT col text, OUT kind text) RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attname::text, CASE a.atttypid WHEN 'jsonb'::regtype THEN 'json' WHEN 'text[]'::regtype THEN 'array' ELSE 'text' END
      FROM pg_attribute a
     WHERE a.attrelid = ('customercard.' || quote_ident(tbl))::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.atttypid IN ('text'::regtype, 'jsonb'::regtype, 'text[]'::regtype)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                        WHERE c.conrelid = a.attrelid AND a.attnum = ANY (c.conkey)
                          AND (c.contype IN ('p', 'f', 'u')
                               OR (c.contype = 'c' AND pg_get_constraintdef(c.oid) ~ '(= ANY|~|IN \()')))
     ORDER BY a.attnum
$$;

-- The work of forget_contact in one account: live is the person's live
-- card.  Written here from the sections' forget rules (card_sections()),
-- as static SQL: what to look for in the log (their scrub_values), then per
-- section delete its rows, or erase its personal columns (forget_set's
-- assignments over them; rows already so are left alone).  On Citus it
-- runs on the node holding the account (a delegated function,
-- distribute_on_citus()), so that every statement is local there.
CREATE FUNCTION customercard.generate_forget_apply() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
DECLARE
    harvest text;
    erase text;
    scrub text;
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
    -- the person's rows that remain: their values out of every other text
    SELECT string_agg(format('UPDATE customercard.%I t SET %s WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND (%s);',
                             s.tbl, c.sets, c.finds), E'\n        ' ORDER BY s.ordinality)
      INTO scrub
      FROM customercard.card_sections() WITH ORDINALITY s
      JOIN LATERAL (SELECT string_agg(format('%1$I = customercard.scrub_%2$s(t.%1$I, own)', x.col, x.kind), ', ') AS sets,
                           string_agg(format(CASE x.kind WHEN 'array' THEN 'customercard.scrub_array(t.%1$I, own) IS DISTINCT FROM t.%1$I'
                                             WHEN 'json' THEN 't.%1$I::text ~* own' ELSE 't.%1$I ~* own' END, x.col), ' OR ') AS finds
                      FROM customercard.scrubbed_columns(s.tbl) x) c ON c.sets IS NOT NULL
     WHERE s.forget <> 'delete';
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.forget_apply(acct bigint, live bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    ids bigint[];
    personal text[];
    phones text[];
    own text;           -- every value of the person, for their own rows
    anywhere text;      -- those that identify them alone, for the account's shared places
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
    SELECT array_agg(p.phone::text) INTO phones FROM customercard.phones p WHERE p.account_id = acct AND p.contact_id = ANY (ids);
    own := customercard.erasure_pattern(personal, phones);
    -- (a single word, a first name or a city, names nobody alone)
    anywhere := customercard.erasure_pattern(ARRAY(SELECT v FROM unnest(personal) v WHERE v !~ '^[[:alpha:]]+$'), phones);

    PERFORM customercard.card_rewrite(true);
    %s
    IF own IS NOT NULL THEN
        %s
    END IF;

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
    IF own IS NOT NULL THEN
        -- values nested at any depth, in free text (a task's title, a page's address)
        FOREACH tbl IN ARRAY ARRAY['action_log', 'action_log_archive'] LOOP
            EXECUTE format('UPDATE customercard.%%1$I l SET details = customercard.scrub_json(l.details, $3) '
                           ' WHERE l.account_id = $1 AND l.contact_id = ANY ($2) AND l.details::text ~* $3', tbl)
            USING acct, ids, own;
        END LOOP;
        UPDATE customercard.merges m SET journal = customercard.scrub_json(m.journal, own)
         WHERE m.account_id = acct AND (m.survivor_id = ANY (ids) OR m.absorbed_id = ANY (ids)) AND m.journal::text ~* own;
    END IF;
    IF anywhere IS NOT NULL THEN
        -- the account's shared places: jobs found by a search for them,
        -- failures and output naming them, import marks of their channels
        UPDATE customercard.bulk_jobs b
           SET filter = customercard.scrub_json(b.filter, anywhere), params = customercard.scrub_json(b.params, anywhere),
               error = customercard.scrub_text(b.error, anywhere)
         WHERE b.account_id = acct AND (b.filter::text ~* anywhere OR b.params::text ~* anywhere OR b.error ~* anywhere);
        UPDATE customercard.bulk_job_failures f SET reason = customercard.scrub_text(f.reason, anywhere)
         WHERE f.account_id = acct AND f.reason ~* anywhere;
        DELETE FROM customercard.import_marks m WHERE m.account_id = acct AND m.external_id ~* ('^' || anywhere || '$');
        -- rows of imported files: a row still queued that names them is
        -- refused (running the import cannot bring them back), the report
        -- saying so without the values; other rows lose the values
        UPDATE customercard.bulk_jobs b SET failed = b.failed + d.n
          FROM (SELECT r.job_id, count(*) AS n FROM customercard.bulk_job_rows r
                 WHERE r.account_id = acct AND r.status = 'queued' AND r.data::text ~* anywhere GROUP BY r.job_id) d
         WHERE b.account_id = acct AND b.job_id = d.job_id;
        UPDATE customercard.bulk_job_rows r
           SET status = 'rejected', reason = '(erased on request)', data = '{}', at = erased_at
         WHERE r.account_id = acct AND r.status = 'queued' AND r.data::text ~* anywhere;
        UPDATE customercard.bulk_job_rows r
           SET data = customercard.scrub_json(r.data, anywhere), reason = customercard.scrub_text(r.reason, anywhere)
         WHERE r.account_id = acct AND r.status <> 'queued' AND (r.data::text ~* anywhere OR r.reason ~* anywhere);
        UPDATE customercard.bulk_job_output o SET data = customercard.scrub_text(o.data, anywhere)
         WHERE o.account_id = acct AND o.data ~* anywhere;
    END IF;
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
$f$, harvest, erase, coalesce(scrub, 'NULL;'));
END
$generate$;
COMMENT ON FUNCTION customercard.generate_forget_apply() IS
    'Write forget_apply() from the sections'' forget rules; called by the install script and by regenerate()';
SELECT customercard.generate_forget_apply();

CREATE FUNCTION customercard.forget_contact(contact_id bigint) RETURNS void
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
