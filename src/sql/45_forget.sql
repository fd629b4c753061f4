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
-- merge journal, and in bulk jobs' failure reasons and export output.  The
-- person is the live card and every tombstone merged into it.  One `forgotten` event is logged, naming no personal data.
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
-- personal fields, images of their phones, e-mails, addresses and custom
-- values are dropped (an unmerge then has nothing of them to restore).
CREATE FUNCTION customercard.scrub_journal(journal jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nulls jsonb := (SELECT jsonb_object_agg(f, NULL) FROM unnest(customercard.personal_fields()) f);
    k text;
    t text;
BEGIN
    FOREACH k IN ARRAY ARRAY['survivor_before', 'survivor_after', 'absorbed_before'] LOOP
        IF journal ? k AND (journal -> k ->> 'contact_id')::bigint = ANY (ids) THEN
            journal := jsonb_set(journal, ARRAY[k], (journal -> k) || nulls);
        END IF;
    END LOOP;
    FOREACH t IN ARRAY ARRAY['phones', 'emails', 'addresses', 'custom_values'] LOOP
        FOREACH k IN ARRAY ARRAY['deleted', 'before', 'after'] LOOP
            IF journal -> 'sections' -> t ? k THEN
                journal := jsonb_set(journal, ARRAY['sections', t, k],
                    coalesce((SELECT jsonb_agg(e.value) FROM jsonb_array_elements(journal -> 'sections' -> t -> k) e
                               WHERE NOT (e.value ->> 'contact_id')::bigint = ANY (ids)), '[]'));
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

-- The work of forget_contact in one account: live is the person's live
-- card.  On Citus it runs on the node holding the account (a delegated
-- function, distribute_on_citus()), so that every statement is local there.
CREATE FUNCTION customercard.forget_apply(acct bigint, live bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
        SELECT unnest(ARRAY[c.name, c.first_name, c.last_name, c.middle_name, c.nickname, c.avatar_url, host(c.ip), c.note]) AS v
          FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[p.phone::text, p.raw]) FROM customercard.phones p WHERE p.account_id = acct AND p.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[e.email, e.raw]) FROM customercard.emails e WHERE e.account_id = acct AND e.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[h.external_id, h.username]) FROM customercard.channels h WHERE h.account_id = acct AND h.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[d.line, d.zip]) FROM customercard.addresses d WHERE d.account_id = acct AND d.contact_id = ANY (ids)
        UNION ALL SELECT v.value FROM customercard.custom_values v WHERE v.account_id = acct AND v.contact_id = ANY (ids)
    ) x WHERE length(v) >= 3;

    PERFORM customercard.card_rewrite(true);
    UPDATE customercard.contacts c
       SET name = NULL, first_name = NULL, last_name = NULL, middle_name = NULL, nickname = NULL, avatar_url = NULL,
           gender = NULL, gender_source = NULL, timezone = NULL, city = NULL, ip = NULL, note = NULL,
           forgotten_at = coalesce(c.forgotten_at, erased_at), updated_at = erased_at
     WHERE c.account_id = acct AND c.contact_id = ANY (ids);
    DELETE FROM customercard.phones t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    DELETE FROM customercard.emails t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    DELETE FROM customercard.addresses t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    DELETE FROM customercard.custom_values t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    UPDATE customercard.channels t SET external_id = 'forgotten-' || t.channel_id::text, username = NULL, updated_at = erased_at
     WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.external_id <> 'forgotten-' || t.channel_id::text;
    UPDATE customercard.comments t SET body = '(erased on request)', attachments = '{}'
     WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    UPDATE customercard.calls t SET recording_url = NULL
     WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.recording_url IS NOT NULL;
    UPDATE customercard.webinar_visits t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.page_visits t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.clicks t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.emails_sent t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.group_members t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;

    -- the log and its archive: details scrubbed once per row, changed rows written
    FOREACH tbl IN ARRAY ARRAY['action_log', 'action_log_archive'] LOOP
        EXECUTE format('UPDATE customercard.%1$I l SET details = x.scrubbed '
                       '  FROM (SELECT g.log_id, customercard.scrub_details(g.event, g.details, $3) AS scrubbed '
                       '          FROM customercard.%1$I g WHERE g.account_id = $1 AND g.contact_id = ANY ($2)) x '
                       ' WHERE l.account_id = $1 AND l.log_id = x.log_id AND l.details IS DISTINCT FROM x.scrubbed', tbl)
        USING acct, ids, coalesce(personal, '{}');
    END LOOP;
    UPDATE customercard.merges m SET journal = customercard.scrub_journal(m.journal, ids)
     WHERE m.account_id = acct AND (m.survivor_id = ANY (ids) OR m.absorbed_id = ANY (ids));
    -- bulk jobs: the person's failure reasons, and their records in export
    -- output (a record is "<contact_id>,...CRLF"; quoted line breaks are bare LF)
    UPDATE customercard.bulk_job_failures f SET reason = '(erased on request)'
     WHERE f.account_id = acct AND f.contact_id = ANY (ids);
    UPDATE customercard.bulk_job_output o SET data = customercard.csv_drop_records(o.data, ids)
     WHERE o.account_id = acct AND o.chunk > 0
       AND o.data ~ ('(^|\r\n)(' || array_to_string(ids, '|') || '),');

    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    VALUES (acct, live, 'forgotten', jsonb_build_object('contacts', cardinality(ids)));
    PERFORM customercard.card_rewrite(false);
END
$$;

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
